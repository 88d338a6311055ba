"""Argument checks shared by every public function.

Each check raises ``ValueError`` with a message that names the rule broken, so a learner
sees *why* an input is wrong instead of an ``IndexError`` from deep inside a loop.
These helpers sit outside the solution regions: the student release keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, NamedTuple

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


# ------------------------------------------------------------------------------------------
# Convolution geometry (shared by every convolution module)
# ------------------------------------------------------------------------------------------

#: Keys of ``conv_param``: required, and optional with their defaults.
CONV_REQUIRED = ("stride", "pad")
CONV_OPTIONAL: dict[str, Any] = {"dilation": 1}


class ConvGeometry(NamedTuple):
    """Validated hyperparameters and output size of a convolution (all in pixels)."""

    stride: int
    pad: int
    dilation: int
    Ho: int
    Wo: int


def conv_output_shape(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    conv_param: Mapping[str, Any],
    *,
    what: str = "convolution",
    param_name: str = "conv_param",
) -> ConvGeometry:
    """Validate a convolution's shapes and hyperparameters; return its geometry.

    Args:
        x_shape: input shape ``(N, C, H, W)``.
        w_shape: filter shape ``(F, C, HH, WW)``.
        conv_param: ``{'stride', 'pad'[, 'dilation']}``; unknown keys are rejected.
        what: name of the layer in error messages.
        param_name: name of the parameter dict in error messages.

    Returns:
        ``ConvGeometry(stride, pad, dilation, Ho, Wo)``; unpacks as a 5-tuple.

    Raises:
        ValueError: wrong rank, channel mismatch, bad or unknown parameters, a filter larger
            than the padded input, or an output size that is not a whole number (the message
            shows the computation, e.g. ``(7 + 2*0 - 3)/3 + 1 = 2.33 is not a whole number``).
    """
    x_shape = shape(x_shape, "x.shape")
    w_shape = shape(w_shape, "w.shape")
    if len(x_shape) != 4:
        raise ValueError(f"{what}: x must have 4 dimensions (N, C, H, W), got shape {x_shape}")
    if len(w_shape) != 4:
        raise ValueError(f"{what}: w must have 4 dimensions (F, C, HH, WW), got shape {w_shape}")
    if x_shape[1] != w_shape[1]:
        raise ValueError(
            f"{what}: channel mismatch: x has C={x_shape[1]} channels (shape {x_shape}) but "
            f"the filters expect C={w_shape[1]} (w shape {w_shape}); a filter spans the full "
            f"depth of its input"
        )
    p = params(conv_param, param_name, CONV_REQUIRED, CONV_OPTIONAL)
    stride = positive_int(p["stride"], f"{param_name}['stride']")
    pad = nonnegative_int(p["pad"], f"{param_name}['pad']")
    dilation = positive_int(p["dilation"], f"{param_name}['dilation']")
    Ho = output_length(
        x_shape[2], w_shape[2], stride, pad, dilation, what=what, axis="height"
    )
    Wo = output_length(
        x_shape[3], w_shape[3], stride, pad, dilation, what=what, axis="width"
    )
    return ConvGeometry(stride, pad, dilation, Ho, Wo)


def check_conv_inputs(
    x: Any, w: Any, b: Any, conv_param: Any, *, what: str = "convolution"
) -> ConvGeometry:
    """Validate the arguments of a convolution forward pass (arrays, ranks, bias, params).

    Returns the same :class:`ConvGeometry` as :func:`conv_output_shape`.
    """
    array(x, "x", 4, "(N, C, H, W)")
    array(w, "w", 4, "(F, C, HH, WW)")
    array(b, "b", 1, "(F,)")
    geometry = conv_output_shape(x.shape, w.shape, conv_param, what=what)
    if b.shape != (w.shape[0],):
        raise ValueError(
            f"{what}: b must have shape (F,) = ({w.shape[0]},), one bias per filter, got {b.shape}"
        )
    return geometry


def check_conv_cache(cache: Any, what: str = "convolution", extra: int = 0) -> None:
    """Check that ``cache`` is the ``(x, w, b, conv_param, ...)`` tuple a forward returned."""
    if not isinstance(cache, tuple) or len(cache) != 4 + extra:
        raise ValueError(
            f"{what}: cache must be the tuple returned by the forward pass "
            f"({4 + extra} items), got {type(cache).__name__}"
        )


def check_dout(dout: Any, expected: tuple[int, ...], what: str = "convolution") -> None:
    """Check that the upstream gradient has the forward output's shape ``(N, F, Ho, Wo)``."""
    array(dout, "dout", 4, "(N, F, Ho, Wo)")
    if dout.shape != tuple(expected):
        raise ValueError(
            f"{what}: dout must have the forward output's shape (N, F, Ho, Wo) = "
            f"{tuple(expected)}, got {dout.shape}"
        )


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    """Floating dtype of a layer's output: the inputs' common float type (ints -> float64)."""
    dtype = np.result_type(*arrays)
    if dtype.kind != "f":
        dtype = np.result_type(dtype, np.float64)
    return dtype


# ------------------------------------------------------------------------------------------
# Pooling geometry (shared by the naive and the fast pooling)
# ------------------------------------------------------------------------------------------

#: Keys of ``pool_param`` (all required; pooling takes no padding).
POOL_REQUIRED = ("pool_height", "pool_width", "stride")


class PoolGeometry(NamedTuple):
    """Validated pooling hyperparameters and output size (all in pixels)."""

    pool_height: int
    pool_width: int
    stride: int
    Ho: int
    Wo: int


def pool_output_shape(
    x_shape: tuple[int, ...], pool_param: Any, *, what: str = "pooling"
) -> PoolGeometry:
    """Validate a pooling configuration for input shape ``(N, C, H, W)``; return its geometry.

    Raises:
        ValueError: wrong rank, missing/unknown keys, a window larger than the input, or an
            output size that is not a whole number (the message shows the computation).
    """
    x_shape = shape(x_shape, "x.shape")
    if len(x_shape) != 4:
        raise ValueError(f"{what}: x must have 4 dimensions (N, C, H, W), got shape {x_shape}")
    p = params(pool_param, "pool_param", POOL_REQUIRED)
    hh = positive_int(p["pool_height"], "pool_param['pool_height']")
    ww = positive_int(p["pool_width"], "pool_param['pool_width']")
    s = positive_int(p["stride"], "pool_param['stride']")
    ho = output_length(x_shape[2], hh, s, 0, 1, what=what, axis="height")
    wo = output_length(x_shape[3], ww, s, 0, 1, what=what, axis="width")
    return PoolGeometry(hh, ww, s, ho, wo)


def check_pool_forward(x: Any, pool_param: Any, what: str) -> tuple[np.ndarray, PoolGeometry]:
    array(x, "x", 4, "(N, C, H, W)")
    geometry = pool_output_shape(x.shape, pool_param, what=what)
    return x.astype(result_dtype(x), copy=False), geometry


def check_pool_backward(
    dout: Any, cache: Any, size: int, what: str
) -> tuple[np.ndarray, tuple[Any, ...], PoolGeometry]:
    """Validate ``dout`` against a cache whose first two items are ``(x, pool_param)``."""
    if not isinstance(cache, tuple) or len(cache) != size:
        raise ValueError(
            f"{what}: cache must be the {size}-tuple returned by the matching forward pass, "
            f"got {type(cache).__name__}"
            + (f" of length {len(cache)}" if isinstance(cache, tuple) else "")
        )
    x, pool_param = cache[0], cache[1]
    array(x, "cache x", 4, "(N, C, H, W)")
    geometry = pool_output_shape(x.shape, pool_param, what=what)
    array(dout, "dout", 4, "(N, C, Ho, Wo)")
    expected = (x.shape[0], x.shape[1], geometry.Ho, geometry.Wo)
    if dout.shape != expected:
        raise ValueError(
            f"{what}: dout must have the shape of the forward output (N, C, Ho, Wo) = "
            f"{expected}, got {dout.shape}"
        )
    return dout.astype(x.dtype, copy=False), cache, geometry
