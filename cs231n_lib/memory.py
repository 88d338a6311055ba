"""Memory: bytes for activations and parameters, and how to print them.

Bytes = count x 4 (float32) or x 8 (float64). Parameters usually need 3 copies (values,
gradients, optimizer cache); activations 1 copy forward, 2 with their gradients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cs231n_lib import _validate

if TYPE_CHECKING:
    from cs231n_lib.analysis import Analysis

_DTYPE_BYTES = {"float16": 2, "float32": 4, "float64": 8}


def _bytes_per_value(dtype_bytes: int | str) -> int:
    if isinstance(dtype_bytes, str):
        if dtype_bytes not in _DTYPE_BYTES:
            raise ValueError(f"dtype must be one of {list(_DTYPE_BYTES)}, got {dtype_bytes!r}")
        return _DTYPE_BYTES[dtype_bytes]
    return _validate.positive_int(dtype_bytes, "dtype_bytes")


def activation_memory(
    activations: int | Analysis, dtype_bytes: int | str = 4, with_gradients: bool = False
) -> int:
    """Bytes for activations of one image: ``count * dtype_bytes`` (x2 with gradients).

    ``activations`` is a count or an :class:`Analysis` (its ``total_activations``).
    """
    count = getattr(activations, "total_activations", activations)
    count = _validate.nonnegative_int(count, "activations")
    return count * _bytes_per_value(dtype_bytes) * (2 if with_gradients else 1)


def parameter_memory(params: int | Analysis, dtype_bytes: int | str = 4, copies: int = 3) -> int:
    """Bytes for parameters: ``count * dtype_bytes * copies`` (values, gradients, optimizer
    cache = 3 copies for momentum / Adam's one cache; use ``copies=1`` for inference)."""
    count = getattr(params, "total_params", params)
    count = _validate.nonnegative_int(count, "params")
    return count * _bytes_per_value(dtype_bytes) * _validate.positive_int(copies, "copies")


def format_bytes(n: int) -> str:
    """``'77.07 MB (73.50 MiB)'``: decimal megabytes and binary mebibytes side by side."""
    n = _validate.nonnegative_int(n, "bytes")
    return f"{n / 1e6:.2f} MB ({n / 2**20:.2f} MiB)"
