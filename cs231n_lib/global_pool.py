"""Global average pooling (全局平均池化): one number per channel, the mean of its whole map.

ResNet and GoogLeNet end with it instead of large fully connected layers: an ``(N, C, H, W)``
volume becomes ``(N, C)`` features with no parameters, whatever ``H`` and ``W`` are, and a
single FC layer turns them into class scores.
"""

from __future__ import annotations

import numpy as np

from cs231n_lib import _validate

_NOTEBOOK = "notebooks/09_modern_blocks.ipynb"

__all__ = ["global_avg_pool_forward", "global_avg_pool_backward"]


def global_avg_pool_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Average each channel over its ``H x W`` plane.

    Args:
        x: input ``(N, C, H, W)``.

    Returns:
        out: ``(N, C)``, ``out[n, c] = mean(x[n, c])``, in the floating dtype of ``x``.
        cache: ``(x.shape,)`` for :func:`global_avg_pool_backward`.
    """
    _validate.array(x, "x", ndim=4, layout="(N, C, H, W)")
    dtype = _validate.result_dtype(x)
    ### BEGIN SOLUTION
    out = x.astype(dtype, copy=False).mean(axis=(2, 3))
    return out.astype(dtype, copy=False), (x.shape,)
    ### END SOLUTION


def global_avg_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward of :func:`global_avg_pool_forward`.

    Args:
        dout: upstream gradient ``(N, C)``.
        cache: ``(x_shape,)`` from the forward pass.

    Returns:
        dx: ``(N, C, H, W)``; every pixel of a map receives ``dout[n, c] / (H * W)``.
    """
    shape = cache[0] if isinstance(cache, tuple) and len(cache) == 1 else None
    if not (isinstance(shape, tuple) and len(shape) == 4
            and all(isinstance(n, int | np.integer) and n > 0 for n in shape)):
        raise ValueError("global_avg_pool_backward: cache must be the (x_shape,) of the forward, "
                         "x_shape four positive integers (N, C, H, W)")
    N, C, H, W = cache[0]
    _validate.array(dout, "dout", ndim=2, layout="(N, C)")
    if dout.shape != (N, C):
        raise ValueError(
            f"global_avg_pool_backward: dout has shape {dout.shape}, expected (N, C) = {(N, C)}"
        )
    ### BEGIN SOLUTION
    dtype = _validate.result_dtype(dout)
    dx = np.broadcast_to(dout[:, :, None, None] / (H * W), (N, C, H, W))
    return np.ascontiguousarray(dx, dtype=dtype)
    ### END SOLUTION
