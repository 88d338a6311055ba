"""The fast NumPy convolution: batched im2col + matrix multiply (library code, not a stub).

Same signatures and results as :mod:`cs231n_lib.conv_naive`, typically hundreds of times
faster. The layout is chosen for speed (each choice measured with ``make bench``, one
thread, against PyTorch CPU and against the bare matrix products in the same process):

* the padded input is built by slice assignment into a kept zero-bordered buffer;
* the windows are copied contiguously into batched columns ``cols`` of shape
  ``(N, C*HH*WW, Ho*Wo)``: row ``(c*HH + i)*WW + j`` of image ``n`` holds filter tap
  ``(c, i, j)``, column ``oh*Wo + ow`` holds output position ``(oh, ow)``, so the rows match
  ``w.reshape(F, -1)``. Below them sits one row of ones, and the bias is the last column of
  the weights, so ``out = [w | b] @ [cols; 1]`` is one batched matrix multiply that adds the
  bias too, its result ``(N, F, Ho*Wo)`` already NCHW;
* backward: ``db`` sums ``dout``; ``dw = sum_n dout[n] @ cols[n]^T`` (one batched matmul in
  the orientation OpenBLAS runs faster for the dtype, then a sum over images); ``dx`` in
  one of two ways, whichever moves less memory:

  - general case: ``dcols = w^T @ dout``, then col2im scatters ``dcols`` back to the pixels
    with ``np.add.at`` on a flat per-image index cached per shape (``functools.lru_cache``;
    in float32 as well: no float64 detour as with ``np.bincount``);
  - stride 1 with ``F <= C``: ``dx`` is itself a convolution of the zero-extended ``dout``
    with the spatially flipped filters, channels swapped (the 2-D version of
    :func:`cs231n_lib.conv_naive.conv1d_backward_via_flip`): a window copy plus one batched
    matmul, no scatter. The windows are laid out in blocks of image rows small enough for
    OpenBLAS's small-matrix path (no packing).

* big arrays (the columns, the padded input, the backward's scratch) are kept between calls
  instead of being allocated afresh: a fresh ``np.empty`` of tens of MB is a new ``mmap``
  whose pages fault in and are zeroed on first write, which measured as long as the copy
  itself. A kept buffer is handed out again only when nothing else refers to it, so the
  columns of a cache that is still alive are never overwritten; returned arrays (``out``,
  ``dx``, ``dw``, ``db``) are always new. Buffers are per thread.

Everything runs in the inputs' floating dtype: float32 stays float32 throughout.
Supports stride, zero padding and dilation.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cs231n_lib import _validate
from cs231n_lib._validate import check_conv_cache, check_conv_inputs, check_dout, result_dtype

__all__ = ["conv_forward_fast", "conv_backward_fast"]


# ------------------------------------------------------------------------------ workspace
#
# A large ``np.empty`` (tens of MB: the columns of a CIFAR batch) is a fresh ``mmap`` each
# call, so the first write to it page-faults and the kernel zeroes every page: measured
# 5-10 ms per call on shape B of ``make bench``, as much as the copy itself. Big buffers
# are therefore kept between calls, one per (role, shape, dtype), and handed out again
# only when nothing outside the pool still refers to them: the columns stored in a cache
# that is still alive (or any view of them) are never overwritten.


class _Pool(threading.local):
    """Per-thread buffers (two threads never share one)."""

    def __init__(self) -> None:
        self.buffers: OrderedDict[tuple, np.ndarray] = OrderedDict()


_POOL = _Pool()
_POOL_MIN_BYTES = 1 << 20  # smaller arrays come from malloc's heap cheaply
_POOL_MAX_BUFFERS = 16  # least recently used beyond these limits are dropped
_POOL_MAX_BYTES = 1 << 29  # 512 MiB


def _holders(buffers: OrderedDict, key: tuple) -> int:
    buf = buffers[key]
    return sys.getrefcount(buf)


def _calibrate() -> int:
    """References to a pooled buffer that nothing else holds (pool + this code path)."""
    probe: OrderedDict[tuple, np.ndarray] = OrderedDict({(): np.empty(1)})
    return _holders(probe, ())


_FREE = _calibrate()


def _buffer(role: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` and ``dtype``, reused between calls when free."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < _POOL_MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    buffers = _POOL.buffers
    key = (role, tuple(shape), dtype.str)
    if key in buffers and _holders(buffers, key) <= _FREE:
        buffers.move_to_end(key)
        return buffers[key]
    buf = np.empty(shape, dtype=dtype)
    buffers[key] = buf  # a buffer still held elsewhere stays with its holder only
    buffers.move_to_end(key)
    while len(buffers) > 1 and (
        len(buffers) > _POOL_MAX_BUFFERS
        or sum(b.nbytes for b in buffers.values()) > _POOL_MAX_BYTES
    ):
        buffers.popitem(last=False)
    return buf


def _clear_pool() -> None:
    """Drop every kept buffer of this thread (tests; memory-tight callers)."""
    _POOL.buffers.clear()


# ------------------------------------------------------------------------------ helpers


def _padded(x: np.ndarray, pad: int, dtype: np.dtype) -> np.ndarray:
    """``x`` zero-padded on the two spatial axes, by slice assignment into a kept buffer.

    Only for reading inside one call (the buffer is reused by the next one).
    """
    if pad == 0:
        return np.ascontiguousarray(x, dtype=dtype)
    N, C, H, W = x.shape
    xp = _buffer("padded", (N, C, H + 2 * pad, W + 2 * pad), dtype)
    xp[:, :, :pad] = 0
    xp[:, :, pad + H :] = 0
    xp[:, :, pad : pad + H, :pad] = 0
    xp[:, :, pad : pad + H, pad + W :] = 0
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


def _gather_windows(xp: np.ndarray, cols: np.ndarray, stride: int, dilation: int) -> None:
    """Copy the windows of ``xp`` into ``cols`` ``(N, C, HH, WW, Ho, Wo)`` (a writable view).

    With a stride ``s > 1`` (and no dilation) the image is first split into its ``s * s``
    phases ``xp[:, :, a::s, b::s]``: tap ``(i, j)`` of every window then lies in phase
    ``(i % s, j % s)`` at offset ``(i // s, j // s)``, so each block of taps is a plain slice
    whose rows are contiguous, instead of a copy that steps ``s`` elements at a time
    (measured 1.4-1.5x faster on shape C of the bench, 11x11 stride 4).
    """
    N, C, HH, WW, Ho, Wo = cols.shape
    s = stride
    if s == 1 or dilation != 1:
        np.copyto(cols, _windows(xp, HH, WW, s, dilation, Ho, Wo))
        return
    Hp, Wp = xp.shape[2:]
    # Entries past the image edge stay unset: no window ever reads them.
    phases = _buffer("phases", (N, C, s, s, -(-Hp // s), -(-Wp // s)), xp.dtype)
    for a in range(s):
        for b in range(s):
            part = xp[:, :, a::s, b::s]
            phases[:, :, a, b, : part.shape[2], : part.shape[3]] = part
    for qi in range(-(-HH // s)):
        na = min(s, HH - qi * s)
        for qj in range(-(-WW // s)):
            nb = min(s, WW - qj * s)
            cols[:, :, qi * s : qi * s + na, qj * s : qj * s + nb] = phases[
                :, :, :na, :nb, qi : qi + Ho, qj : qj + Wo
            ]


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
        ``(N, C*HH*WW, Ho*Wo)`` column array (a view; ``cols[n]`` is image ``n``'s columns).
    """
    stride, pad, dilation, Ho, Wo = check_conv_inputs(x, w, b, conv_param)
    dtype = result_dtype(x, w, b)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    R, P = C * HH * WW, Ho * Wo
    xp = _padded(x, pad, dtype)
    # Columns plus one row of ones: the bias is the last column of the weights, so the one
    # matrix product adds it (no second pass over ``out``).
    cols_1 = _buffer("cols", (N, R + 1, P), dtype)
    cols = cols_1[:, :R]
    _gather_windows(xp, cols.reshape(N, C, HH, WW, Ho, Wo), stride, dilation)
    cols_1[:, R] = 1
    w_1 = np.empty((F, R + 1), dtype=dtype)
    w_1[:, :R] = w.reshape(F, R)
    w_1[:, R] = b
    out = np.matmul(w_1, cols_1).reshape(N, F, Ho, Wo)
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
    dw = _dw(d2, cols).reshape(w.shape)
    w_cast = w.astype(dtype, copy=False)
    if _dx_strategy(stride, F, C) == "flip":
        dx = _dx_by_flipped_filter(d2.reshape(N, F, Ho, Wo), w_cast, x.shape, pad, dilation)
    else:
        dx = _dx_by_col2im(d2, w_cast, x.shape, stride, pad, dilation, Ho, Wo)
    return dx, dw, db


def _dx_strategy(stride: int, F: int, C: int) -> str:
    """``'flip'`` (gather + matmul) for stride 1 with ``F <= C``, else ``'col2im'`` (scatter)."""
    return "flip" if stride == 1 and F <= C else "col2im"


def _dw(d2: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``dw = sum_n dout[n] @ cols[n]^T`` as ``(F, C*HH*WW)``: one batched product, one sum.

    The same product in the orientation OpenBLAS runs faster for the dtype (measured with
    ``make bench``: ``cols @ dout^T`` in float32, ``dout @ cols^T`` in float64).
    """
    N, F, P = d2.shape
    R = cols.shape[1]
    if d2.dtype == np.float32:
        per_image = np.matmul(cols, d2.transpose(0, 2, 1), out=_buffer("dw", (N, R, F), d2.dtype))
        return np.ascontiguousarray(per_image.sum(axis=0).T)
    per_image = np.matmul(d2, cols.transpose(0, 2, 1), out=_buffer("dw", (N, F, R), d2.dtype))
    return per_image.sum(axis=0)


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
    dcols = _buffer("dcols", (N, C * HH * WW, Ho * Wo), d2.dtype)
    np.matmul(w.reshape(F, -1).T, d2, out=dcols)
    dcols = dcols.reshape(N, -1)  # (N, C*HH*WW*Ho*Wo)
    index = _col2im_index(C, Hp, Wp, HH, WW, stride, dilation, Ho, Wo)
    if pad == 0:
        dxp = np.zeros((N, C * Hp * Wp), dtype=d2.dtype)  # returned as it is
    else:
        dxp = _buffer("dx_padded", (N, C * Hp * Wp), d2.dtype)
        dxp.fill(0)
    for n in range(N):
        np.add.at(dxp[n], index, dcols[n])
    if pad == 0:
        return dxp.reshape(N, C, H, W)
    return dxp.reshape(N, C, Hp, Wp)[:, :, pad : pad + H, pad : pad + W].copy()


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
    ext = _buffer("dout_extended", (N, F, H + span_h - 1, W + span_w - 1), dout.dtype)
    ext.fill(0)
    top, left = span_h - 1 - pad, span_w - 1 - pad  # where dout[.., 0, 0] lands (may be < 0)
    r0, c0 = max(0, -top), max(0, -left)
    r1, c1 = min(Ho, H + span_h - 1 - top), min(Wo, W + span_w - 1 - left)
    if r1 > r0 and c1 > c0:
        ext[:, :, top + r0 : top + r1, left + c0 : left + c1] = dout[:, :, r0:r1, c0:c1]
    # Windows in blocks of image rows, each block one small contiguous matrix
    # (F*HH*WW, rows*W): OpenBLAS multiplies matrices of at most _SMALL_GEMM multiply-adds
    # without packing them first, which measured 1.1-1.3x faster here (shape B of the bench).
    K = F * HH * WW
    rows = _rows_per_block(H, C * K * W)
    nb = H // rows
    sn, sf, sh, sw = ext.strides
    windows = as_strided(
        ext,
        shape=(N, nb, F, HH, WW, rows, W),
        strides=(sn, sh * rows, sf, sh * dilation, sw * dilation, sh, sw),
        writeable=False,
    )
    cols = _buffer("dout_cols", (N, nb, F, HH, WW, rows, W), dout.dtype)
    np.copyto(cols, windows)
    w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, K)
    if nb == 1:
        return np.matmul(w_flip, cols.reshape(N, K, H * W)).reshape(N, C, H, W)
    blocks = _buffer("dx_blocks", (N, nb, C, rows * W), dout.dtype)
    np.matmul(w_flip, cols.reshape(N, nb, K, rows * W), out=blocks)
    dx = np.empty((N, C, H, W), dtype=dout.dtype)
    np.copyto(dx.reshape(N, C, nb, rows * W), blocks.transpose(0, 2, 1, 3))
    return dx


#: Multiply-adds up to which OpenBLAS (0.3.x, x86-64) runs a GEMM on its small-matrix path.
_SMALL_GEMM = 1_000_000


def _rows_per_block(H: int, macs_per_row: int) -> int:
    """Largest divisor of ``H`` whose block of rows stays within :data:`_SMALL_GEMM`."""
    rows = max(1, min(H, _SMALL_GEMM // max(1, macs_per_row)))
    while H % rows:
        rows -= 1
    return rows
