"""Sandwich layers: common stacks of layers as one forward and one backward.

Each forward returns ``(out, cache)`` where ``cache`` holds the caches of the stacked layers;
each backward applies the layers' backwards in reverse order. The convolution and pooling
are the fast NumPy versions (:mod:`cs231n_lib.conv_fast`, :mod:`cs231n_lib.pooling`), exactly
as in the CS231n assignments.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cs231n_lib import _validate
from cs231n_lib.conv_fast import conv_backward_fast, conv_forward_fast
from cs231n_lib.layers import affine_backward, affine_forward, relu_backward, relu_forward
from cs231n_lib.pooling_fast import max_pool_backward_fast, max_pool_forward_fast

__all__ = [
    "affine_relu_forward",
    "affine_relu_backward",
    "conv_relu_forward",
    "conv_relu_backward",
    "conv_relu_pool_forward",
    "conv_relu_pool_backward",
]


def _unpack(cache: Any, name: str, length: int) -> tuple:
    if not isinstance(cache, tuple) or len(cache) != length:
        raise ValueError(
            f"{name}: cache must be the tuple of {length} caches returned by the forward pass"
        )
    return cache


def affine_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, tuple]:
    """Affine then ReLU.

    Args:
        x: (N, d_1, ..., d_k); w: (D, M) with D = d_1 * ... * d_k; b: (M,).

    Returns:
        out: (N, M); cache: (affine cache, relu cache).
    """
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of :func:`affine_relu_forward`: returns dx (shape of x), dw (D, M), db (M,)."""
    fc_cache, relu_cache = _unpack(cache, "affine_relu_backward", 2)
    _validate.array(dout, "dout")
    da = relu_backward(dout, relu_cache)
    return affine_backward(da, fc_cache)


def conv_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict
) -> tuple[np.ndarray, tuple]:
    """Convolution then ReLU.

    Args:
        x: images (N, C, H, W); w: filters (F, C, HH, WW); b: (F,);
        conv_param: ``{'stride', 'pad'[, 'dilation']}``.

    Returns:
        out: (N, F, H', W') with H' = (H + 2P - HH)/S + 1 (likewise W'); cache.
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of :func:`conv_relu_forward`: dx (N, C, H, W), dw (F, C, HH, WW), db (F,)."""
    conv_cache, relu_cache = _unpack(cache, "conv_relu_backward", 2)
    _validate.array(dout, "dout", ndim=4, layout="(N, F, H', W')")
    da = relu_backward(dout, relu_cache)
    return conv_backward_fast(da, conv_cache)


def conv_relu_pool_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict, pool_param: dict
) -> tuple[np.ndarray, tuple]:
    """Convolution, ReLU, then max pooling.

    Args:
        x: images (N, C, H, W); w: filters (F, C, HH, WW); b: (F,);
        conv_param: ``{'stride', 'pad'[, 'dilation']}``;
        pool_param: ``{'pool_height', 'pool_width', 'stride'}``.

    Returns:
        out: (N, F, H'', W''), the pooled activation maps; cache.
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of :func:`conv_relu_pool_forward`: dx, dw, db shaped like x, w, b."""
    conv_cache, relu_cache, pool_cache = _unpack(cache, "conv_relu_pool_backward", 3)
    _validate.array(dout, "dout", ndim=4, layout="(N, F, H'', W'')")
    ds = max_pool_backward_fast(dout, pool_cache)
    da = relu_backward(ds, relu_cache)
    return conv_backward_fast(da, conv_cache)
