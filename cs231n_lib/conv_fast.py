"""The fast NumPy convolution: batched im2col + matrix multiply (library code, not a stub).

Same signatures and results as :mod:`cs231n_lib.conv_naive`, typically hundreds of times
faster. The layout is chosen for speed (see ``FIELD-NOTES.md``):

* the padded input is built by slice assignment into a preallocated zero array;
* the windows are copied contiguously into batched columns ``cols`` of shape
  ``(N, C*HH*WW, Ho*Wo)``: row ``(c*HH + i)*WW + j`` of image ``n`` holds filter tap
  ``(c, i, j)``, column ``oh*Wo + ow`` holds output position ``(oh, ow)``, so the rows match
  ``w.reshape(F, -1)``;
* ``out = w.reshape(F, -1) @ cols`` is one batched matrix multiply whose result
  ``(N, F, Ho*Wo)`` is already NCHW;
* backward: ``dw = (dout @ cols^T).sum(0)``, ``dcols = w^T @ dout``, and col2im scatters
  ``dcols`` back with one ``np.add.at`` (or ``np.bincount``) on a flat index cached per shape.

Supports stride, zero padding and dilation, float32 and float64 (the inputs' dtype is kept).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cs231n_lib.conv_naive import check_conv_cache, check_conv_inputs, check_dout, result_dtype

__all__ = ["conv_forward_fast", "conv_backward_fast"]


def _pad(x: np.ndarray, pad: int, dtype: np.dtype) -> np.ndarray:
    """Zero-pad the two spatial axes by slice assignment (no ``np.pad``)."""
    if pad == 0:
        return np.ascontiguousarray(x, dtype=dtype)
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dtype)
    xp[:, :, pad : pad + H, pad : pad + W] = x
    return xp


def _windows(xp: np.ndarray, HH: int, WW: int, stride: int, dilation: int, Ho: int, Wo: int):
    """Read-only 6-D view ``(N, C, HH, WW, Ho, Wo)`` of the windows of a contiguous ``xp``."""
    sn, sc, sh, sw = xp.strides
    return as_strided(
        xp,
        shape=(xp.shape[0], xp.shape[1], HH, WW, Ho, Wo),
        strides=(sn, sc, sh * dilation, sw * dilation, sh * stride, sw * stride),
        writeable=False,
    )


@lru_cache(maxsize=64)
def _col2im_index(
    C: int, Hp: int, Wp: int, HH: int, WW: int, stride: int, dilation: int, Ho: int, Wo: int
) -> np.ndarray:
    """Flat index into one padded image ``(C, Hp, Wp)`` for every entry of its columns.

    Shape ``(C*HH*WW*Ho*Wo,)`` in the column order ``(c, i, j, oh, ow)``. Cached per shape.
    """
    c = np.arange(C).reshape(C, 1, 1, 1, 1) * (Hp * Wp)
    rows = (np.arange(HH).reshape(1, HH, 1, 1, 1) * dilation
            + np.arange(Ho).reshape(1, 1, 1, Ho, 1) * stride)
    cols = (np.arange(WW).reshape(1, 1, WW, 1, 1) * dilation
            + np.arange(Wo).reshape(1, 1, 1, 1, Wo) * stride)
    index = (c + rows * Wp + cols).astype(np.intp).ravel()
    index.setflags(write=False)
    return index


def conv_forward_fast(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, Any]
) -> tuple[np.ndarray, tuple]:
    """Fast forward pass of a convolutional layer.

    Args:
        x: input ``(N, C, H, W)``.
        w: filters ``(F, C, HH, WW)``.
        b: biases ``(F,)``.
        conv_param: ``{'stride': S, 'pad': P[, 'dilation': d]}``.

    Returns:
        ``out`` ``(N, F, Ho, Wo)`` in the inputs' floating dtype (equal to
        :func:`~cs231n_lib.conv_naive.conv_forward_naive` up to rounding) and ``cache``
        ``(x, w, b, conv_param, cols)`` for :func:`conv_backward_fast`, where ``cols`` is the
        ``(N, C*HH*WW, Ho*Wo)`` column array.
    """
    stride, pad, dilation, Ho, Wo = check_conv_inputs(x, w, b, conv_param)
    dtype = result_dtype(x, w, b)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = _pad(x, pad, dtype)
    cols = np.empty((N, C, HH, WW, Ho, Wo), dtype=dtype)
    np.copyto(cols, _windows(xp, HH, WW, stride, dilation, Ho, Wo))
    cols = cols.reshape(N, C * HH * WW, Ho * Wo)
    w_row = w.reshape(F, -1).astype(dtype, copy=False)
    out = np.matmul(w_row, cols)
    out += b.astype(dtype, copy=False).reshape(1, F, 1)
    out = out.reshape(N, F, Ho, Wo)
    return out, (x, w, b, conv_param, cols)


def conv_backward_fast(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fast backward pass of a convolutional layer.

    Args:
        dout: upstream gradient ``(N, F, Ho, Wo)``.
        cache: ``(x, w, b, conv_param, cols)`` from :func:`conv_forward_fast`.

    Returns:
        ``dx`` ``(N, C, H, W)``, ``dw`` ``(F, C, HH, WW)``, ``db`` ``(F,)`` in the forward's
        floating dtype.
    """
    check_conv_cache(cache, extra=1)
    x, w, b, conv_param, cols = cache
    stride, pad, dilation, Ho, Wo = check_conv_inputs(x, w, b, conv_param)
    check_dout(dout, (x.shape[0], w.shape[0], Ho, Wo))
    dtype = cols.dtype
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    d2 = np.ascontiguousarray(dout, dtype=dtype).reshape(N, F, Ho * Wo)
    db = d2.sum(axis=(0, 2))
    dw = np.matmul(d2, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    w_row = w.reshape(F, -1).astype(dtype, copy=False)
    dcols = np.matmul(w_row.T, d2)  # (N, C*HH*WW, Ho*Wo)
    Hp, Wp = H + 2 * pad, W + 2 * pad
    index = _col2im_index(C, Hp, Wp, HH, WW, stride, dilation, Ho, Wo)
    dxp = np.zeros((N, C * Hp * Wp), dtype=dtype)
    np.add.at(dxp, (slice(None), index), dcols.reshape(N, -1))
    dxp = dxp.reshape(N, C, Hp, Wp)
    dx = dxp[:, :, pad : pad + H, pad : pad + W]
    if pad:
        dx = np.ascontiguousarray(dx)
    return dx, dw, db
