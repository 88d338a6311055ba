"""The fast NumPy convolution: batched im2col + matrix multiply (library code, not a stub).

Same signatures and results as :mod:`cs231n_lib.conv_naive`, typically hundreds of times
faster. The layout is chosen for speed (each choice measured with ``make bench``):

* the padded input is built by slice assignment into a preallocated zero array;
* the windows are copied contiguously into batched columns ``cols`` of shape
  ``(N, C*HH*WW, Ho*Wo)``: row ``(c*HH + i)*WW + j`` of image ``n`` holds filter tap
  ``(c, i, j)``, column ``oh*Wo + ow`` holds output position ``(oh, ow)``, so the rows match
  ``w.reshape(F, -1)``;
* ``out = w.reshape(F, -1) @ cols`` is one batched matrix multiply whose result
  ``(N, F, Ho*Wo)`` is already NCHW;
* backward: ``db`` sums ``dout``; ``dw = (dout @ cols^T).sum(0)`` (batched matmul, then a sum
  over images); ``dx`` in one of two ways, whichever moves less memory:

  - general case: ``dcols = w^T @ dout``, then col2im scatters ``dcols`` back to the pixels
    with ``np.add.at`` on a flat per-image index cached per shape (``functools.lru_cache``);
  - stride 1 with ``F <= C``: ``dx`` is itself a convolution of the zero-extended ``dout``
    with the spatially flipped filters, channels swapped (the 2-D version of
    :func:`cs231n_lib.conv_naive.conv1d_backward_via_flip`): a window copy plus one batched
    matmul, no scatter.

Supports stride, zero padding and dilation, float32 and float64 (the inputs' dtype is kept).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cs231n_lib import _validate
from cs231n_lib._validate import check_conv_cache, check_conv_inputs, check_dout, result_dtype

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


@lru_cache(maxsize=16)
def _col2im_index(
    C: int, Hp: int, Wp: int, HH: int, WW: int, stride: int, dilation: int, Ho: int, Wo: int
) -> np.ndarray:
    """Flat index into one padded image ``(C, Hp, Wp)`` for every entry of its columns.

    Shape ``(C*HH*WW*Ho*Wo,)`` in the column order ``(c, i, j, oh, ow)``. Cached per shape.
    """
    c = np.arange(C).reshape(C, 1, 1, 1, 1) * (Hp * Wp)
    rows = (
        np.arange(HH).reshape(1, HH, 1, 1, 1) * dilation
        + np.arange(Ho).reshape(1, 1, 1, Ho, 1) * stride
    )
    cols = (
        np.arange(WW).reshape(1, 1, WW, 1, 1) * dilation
        + np.arange(Wo).reshape(1, 1, 1, 1, Wo) * stride
    )
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


def conv_backward_fast(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    w_cast = w.astype(dtype, copy=False)
    if stride == 1 and F <= C:
        # Gather + matmul: cheaper than a scatter when there are no more filters than channels.
        dx = _dx_by_flipped_filter(d2.reshape(N, F, Ho, Wo), w_cast, x.shape, pad, dilation)
    else:
        dx = _dx_by_col2im(d2, w_cast, x.shape, stride, pad, dilation, Ho, Wo)
    return dx, dw, db


def _dx_by_col2im(
    d2: np.ndarray,
    w: np.ndarray,
    x_shape: tuple,
    stride: int,
    pad: int,
    dilation: int,
    Ho: int,
    Wo: int,
) -> np.ndarray:
    """``dx`` as ``col2im(w^T @ dout)``: scatter-add every column entry back to its pixel."""
    N, C, H, W = x_shape
    F, _, HH, WW = w.shape
    Hp, Wp = H + 2 * pad, W + 2 * pad
    dcols = np.matmul(w.reshape(F, -1).T, d2).reshape(N, -1)  # (N, C*HH*WW*Ho*Wo)
    index = _col2im_index(C, Hp, Wp, HH, WW, stride, dilation, Ho, Wo)
    dxp = np.zeros((N, C * Hp * Wp), dtype=d2.dtype)
    for n in range(N):
        np.add.at(dxp[n], index, dcols[n])
    dx = dxp.reshape(N, C, Hp, Wp)[:, :, pad : pad + H, pad : pad + W]
    return np.ascontiguousarray(dx)


def _dx_by_flipped_filter(
    dout: np.ndarray, w: np.ndarray, x_shape: tuple, pad: int, dilation: int
) -> np.ndarray:
    """``dx`` for stride 1 as a convolution of ``dout`` with the flipped, transposed filters.

    ``dx[n, c, y, x] = sum_{f, i, j} dout[n, f, y + pad - i*d, x + pad - j*d] * w[f, c, i, j]``:
    a 'full' correlation of ``dout`` (zero-extended by ``span - 1`` on each side) with
    ``w[:, :, ::-1, ::-1]``, channels ``F`` in and ``C`` out, cropped by ``pad``. A gather
    (contiguous window copy) plus one batched matmul; no scatter-add.
    """
    N, C, H, W = x_shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    span_h, span_w = _validate.effective_size(HH, dilation), _validate.effective_size(WW, dilation)
    # Zero-extended dout; only rows/cols [pad, pad + H + span - 1) are ever read.
    ext = np.zeros((N, F, H + span_h - 1, W + span_w - 1), dtype=dout.dtype)
    top, left = span_h - 1 - pad, span_w - 1 - pad  # where dout[.., 0, 0] lands (may be < 0)
    r0, c0 = max(0, -top), max(0, -left)
    r1, c1 = min(Ho, H + span_h - 1 - top), min(Wo, W + span_w - 1 - left)
    if r1 > r0 and c1 > c0:
        ext[:, :, top + r0 : top + r1, left + c0 : left + c1] = dout[:, :, r0:r1, c0:c1]
    cols = np.empty((N, F, HH, WW, H, W), dtype=dout.dtype)
    np.copyto(cols, _windows(ext, HH, WW, 1, dilation, H, W))
    w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, -1)
    dx = np.matmul(w_flip, cols.reshape(N, F * HH * WW, H * W))
    return dx.reshape(N, C, H, W)
