"""Argument checks shared by every public function.

Each check raises ``ValueError`` with a message that names the rule broken, so a learner
sees *why* an input is wrong instead of an ``IndexError`` from deep inside a loop.
These helpers sit outside the solution regions: the student release keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np


def _fmt(value: float) -> str:
    """Print a ratio the way the notes do: 2.33, 5, 54.25."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text


def positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int if it is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, Integral | np.integer):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value}")
    return int(value)


def nonnegative_int(value: Any, name: str) -> int:
    """Return ``value`` as an int if it is a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, Integral | np.integer):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer (>= 0), got {value}")
    return int(value)


def positive_real(value: Any, name: str) -> float:
    """Return ``value`` as a float if it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def effective_size(field: int, dilation: int = 1) -> int:
    """Span of a dilated filter: (F - 1) * d + 1. ``dilation=1`` is an ordinary filter."""
    return (field - 1) * dilation + 1


def output_length(
    size: int,
    field: int,
    stride: int = 1,
    pad: int = 0,
    dilation: int = 1,
    *,
    what: str = "convolution",
    axis: str = "width",
) -> int:
    """Validated output length along one axis: (W + 2P - F_eff) / S + 1.

    Args:
        size: input length W (pixels).
        field: filter length F (pixels, before dilation).
        stride: S >= 1.
        pad: zero padding P >= 0, per side.
        dilation: d >= 1 (1 = ordinary filter); the filter spans (F - 1) * d + 1 pixels.
        what, axis: named in the error message.

    Returns:
        The output length, a whole number >= 1.

    Raises:
        ValueError: if a size is not a positive integer, the filter does not fit in the
            padded input, or (W + 2P - F_eff) / S + 1 is not a whole number. Nothing is
            silently floored.
    """
    size = positive_int(size, f"input {axis}")
    field = positive_int(field, f"filter {axis}")
    stride = positive_int(stride, "stride")
    pad = nonnegative_int(pad, "pad")
    dilation = positive_int(dilation, "dilation")
    span = effective_size(field, dilation)
    padded = size + 2 * pad
    if span > padded:
        detail = f" (dilated: ({field} - 1)*{dilation} + 1 = {span})" if dilation > 1 else ""
        raise ValueError(
            f"{what}: filter {axis} {span}{detail} is larger than the padded input "
            f"{axis} {size} + 2*{pad} = {padded}"
        )
    steps = padded - span
    if steps % stride:
        raise ValueError(
            f"{what}: output {axis} ({size} + 2*{pad} - {span})/{stride} + 1 = "
            f"{_fmt(steps / stride + 1)} is not a whole number; "
            f"this stride does not tile the input (change stride, pad or filter size)"
        )
    return steps // stride + 1


def array(
    x: Any,
    name: str,
    ndim: int | None = None,
    layout: str | None = None,
) -> np.ndarray:
    """Check that ``x`` is a real, finite-shaped ndarray of rank ``ndim``.

    ``layout`` (for example ``"(N, C, H, W)"``) is quoted in the error message.
    """
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        shape_hint = f" {layout}" if layout else ""
        raise ValueError(f"{name} must have {ndim} dimensions{shape_hint}, got shape {x.shape}")
    if x.dtype.kind not in "fiu" or x.dtype == bool:
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {x.shape}")
    return x


def same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}")


def params(
    mapping: Any, name: str, required: tuple[str, ...], optional: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Check a CS231n parameter dict (e.g. ``conv_param``): required keys, no unknown keys."""
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{name} must be a dict, got {type(mapping).__name__}")
    optional = dict(optional or {})
    missing = [k for k in required if k not in mapping]
    if missing:
        raise ValueError(f"{name} is missing {missing}; it needs keys {list(required)}")
    unknown = sorted(set(mapping) - set(required) - set(optional))
    if unknown:
        allowed = list(required) + list(optional)
        raise ValueError(f"{name} has unknown keys {unknown}; allowed keys are {allowed}")
    out = dict(optional)
    out.update(mapping)
    return out


def shape(value: Any, name: str, ndim: int | None = None, layout: str | None = None) -> tuple:
    """Check a shape: a tuple/list of positive integers (of length ``ndim`` if given)."""
    if isinstance(value, str) or not isinstance(value, tuple | list | np.ndarray):
        raise ValueError(f"{name} must be a tuple of positive integers, got {value!r}")
    dims = tuple(positive_int(v, f"{name}[{i}]") for i, v in enumerate(value))
    if ndim is not None and len(dims) != ndim:
        hint = f" {layout}" if layout else ""
        raise ValueError(f"{name} must have {ndim} entries{hint}, got {tuple(value)}")
    return dims


def sequence(value: Any, name: str) -> list:
    """Check that ``value`` is a list or tuple (not a string, not None) and return a list."""
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise ValueError(f"{name} must be a list or tuple, got {type(value).__name__}")
    return list(value)


def path(value: Any, name: str) -> Any:
    """Check that ``value`` is a filesystem path (str or os.PathLike)."""
    import os

    if not isinstance(value, str | os.PathLike):
        raise ValueError(f"{name} must be a path (str or os.PathLike), got {value!r}")
    return value
