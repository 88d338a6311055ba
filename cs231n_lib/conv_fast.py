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

* float32 3x3 stride-1 layers with many channels (the rule is :func:`_use_winograd`) go
  through Winograd's F(2x2, 3x3) instead (see the section "Winograd" below): 2.25x fewer
  multiplies, which on such layers more than pays for its additions. Same signatures; its
  cache holds the transformed input ``V`` ``(16, C, tiles)`` where the others hold ``cols``.

Everything runs in the inputs' floating dtype: float32 stays float32 throughout.
Supports stride, zero padding and dilation.
"""

from __future__ import annotations

import math
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
        ``(N, C*HH*WW, Ho*Wo)`` column array (a view; ``cols[n]`` is image ``n``'s columns),
        or on the Winograd path (:func:`_use_winograd`) the transformed input tiles
        ``(16, C, tiles)``.
    """
    stride, pad, dilation, Ho, Wo = check_conv_inputs(x, w, b, conv_param)
    dtype = result_dtype(x, w, b)
    # Non-finite inputs stay on im2col: Winograd's cancellations would turn an inf into NaNs
    # (and warnings) over its whole output tile.
    if _use_winograd(dtype, x.shape, w.shape, stride, dilation, Ho, Wo) and _all_finite(x, w):
        out, V = _winograd_forward(
            x.astype(dtype, copy=False),
            w.astype(dtype, copy=False),
            b.astype(dtype, copy=False),
            pad,
            Ho,
            Wo,
        )
        return out, (x, w, b, conv_param, V)
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
    if cols.shape != (N, C * HH * WW, Ho * Wo):  # not columns: the Winograd path's V
        dout = np.asarray(dout, dtype=dtype)
        with np.errstate(invalid="ignore", over="ignore"):  # silent like im2col's BLAS on inf
            return _winograd_backward(dout, w.astype(dtype, copy=False), cols, x.shape, pad)
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


# ------------------------------------------------------------------------------ Winograd
#
# Why: on a 3x3, stride-1 layer the im2col product multiplies every input pixel by each of
# the 9 filter taps. Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2015) computes
# each 2x2 block of outputs from a 4x4 block ("tile") of input with 16 multiplies per
# (filter, channel) pair instead of 36: 2.25x fewer. The price is a few additions before and
# after (the transforms below) and a slightly larger float32 rounding error. In matrix form,
# for one tile ``d`` (4x4) and one filter ``g`` (3x3):
#
#     y = A^T [ (G g G^T) * (B^T d B) ] A          (``*`` elementwise; y is 2x2)
#
# Summed over the input channels, the elementwise product becomes, for each of the 16
# positions ``k`` of the 4x4 transformed tile, one matrix product
# ``M[k] (F, tiles) = U[k] (F, C) @ V[k] (C, tiles)``, where ``U = G g G^T`` are the
# transformed filters and ``V = B^T d B`` the transformed input tiles.

#: ``B^T``, ``G``, ``A^T`` of F(2x2, 3x3); the transforms below apply them as slice adds.
_WINO_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_WINO_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
_WINO_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)

#: Smallest channel count (C and F) and number of tiles (N * ceil(Ho/2) * ceil(Wo/2)) for
#: which Winograd beat im2col here (fwd+bwd, float32, one thread): 0.6-0.9x the time from
#: 48-64 channels and 1024 tiles up; at 32 channels or fewer, or a few hundred tiles, the
#: 16 products are too small for BLAS to run fast and the transforms cost more than the
#: multiplies they save (1.0-3.6x the im2col time).
_WINO_MIN_CHANNELS = 48
_WINO_MIN_TILES = 1024
#: Bytes of scratch per chunk of the transforms (measured best at 1-2 MiB on shape B).
_WINO_CHUNK = 1 << 21


def _use_winograd(
    dtype: np.dtype, x_shape: tuple, w_shape: tuple, stride: int, dilation: int, Ho: int, Wo: int
) -> bool:
    """The dispatch rule: Winograd F(2x2, 3x3) for float32 3x3 stride-1 layers, big enough.

    That is: float32, a 3x3 filter, stride 1, no dilation, at least
    :data:`_WINO_MIN_CHANNELS` input channels and filters, and at least
    :data:`_WINO_MIN_TILES` 2x2 output tiles. float64 stays on im2col (already faster than
    PyTorch there, and bit-closer to the naive loops); so do small layers.
    """
    F, C, HH, WW = w_shape
    tiles = x_shape[0] * -(-Ho // 2) * -(-Wo // 2)
    return (
        np.dtype(dtype) == np.float32
        and (HH, WW) == (3, 3)
        and stride == 1
        and dilation == 1
        and min(F, C) >= _WINO_MIN_CHANNELS
        and tiles >= _WINO_MIN_TILES
    )


def _all_finite(*arrays: np.ndarray) -> bool:
    """No NaN or inf in any of ``arrays`` (max and min propagate both; a sixth of a sum's cost)."""
    return all(math.isfinite(float(a.max()) - float(a.min())) for a in arrays)


def _tile_grid(Ho: int, Wo: int) -> tuple[int, int]:
    """``(rows, cols)`` of the tile grid (2x2 outputs per tile), plus one spare column.

    The spare (never valid) column of tiles lets the column transforms run as a few
    operations on whole flat arrays: every tile's right neighbour is then the next entry,
    also at the end of a row, at the price of 1/cols more columns in the products.
    """
    return -(-Ho // 2), -(-Wo // 2) + 1


def _winograd_filters(w: np.ndarray) -> np.ndarray:
    """``U = G g G^T`` for every (filter, channel): ``(16, F, C)``, row ``k = 4*xi + nu``.

    Two plain matrix products over all filters at once (a batched ``G @ w @ G.T`` of
    ``F * C`` tiny matrices took 3-4x longer).
    """
    F, C = w.shape[:2]
    G = _WINO_G.astype(w.dtype)
    t = (w.reshape(F * C * 3, 3) @ G.T).reshape(F * C, 3, 4)  # sum_j g[., i, j] G[nu, j]
    u = G @ t.transpose(1, 0, 2).reshape(3, F * C * 4)  # sum_i G[xi, i] t[., i, nu]
    return np.ascontiguousarray(u.reshape(4, F * C, 4).transpose(0, 2, 1)).reshape(16, F, C)


def _winograd_filter_grad(dU: np.ndarray) -> np.ndarray:
    """``dw = G^T dU G`` ``(F, C, 3, 3)`` from ``dU`` ``(16, F, C)``: the transpose of the above."""
    _, F, C = dU.shape
    G = _WINO_G.astype(dU.dtype)
    t = (G.T @ dU.reshape(4, 4 * F * C)).reshape(3, 4, F * C)  # sum_xi G[xi, i] dU[xi, nu]
    t = t.transpose(0, 2, 1).reshape(3 * F * C, 4) @ G  # sum_nu ... G[nu, j]
    return np.ascontiguousarray(t.reshape(3, F, C, 3).transpose(1, 2, 0, 3))


def _bt_1d(d0, d1, d2, d3, out: np.ndarray) -> None:
    """``B^T`` of F(2x2, 3x3) along one axis, for all tiles at once: ``out[0..3]``.

    ``d0 .. d3`` are the tiles' four entries along that axis (arrays of out[0]'s shape):
    ``v0 = d0 - d2, v1 = d1 + d2, v2 = d2 - d1, v3 = d1 - d3``.
    """
    np.subtract(d0, d2, out=out[0])
    np.add(d1, d2, out=out[1])
    np.subtract(d2, d1, out=out[2])
    np.subtract(d1, d3, out=out[3])


def _b_1d(v: np.ndarray, e_lo, o_lo, e_hi, o_hi, scratch: np.ndarray) -> None:
    """The transpose of :func:`_bt_1d`: tile gradients ``v[0..3]`` back to the entries.

    ``dd0 = v0, dd1 = v1 - v2 + v3, dd2 = v1 + v2 - v0, dd3 = -v3``. ``e_lo, o_lo`` are the
    tiles' entries 0, 1 and ``e_hi, o_hi`` their entries 2, 3, which are entries 0, 1 of the
    next tile along the axis (overlapping views of one array): ``dd0, dd1`` are written,
    ``dd2, dd3`` added on top (the overlap-add). The caller zeroes what only ``*_hi`` reach.
    """
    v0, v1, v2, v3 = v
    np.copyto(e_lo, v0)
    np.add(v1, v2, out=scratch)
    scratch -= v0
    e_hi += scratch
    np.subtract(v1, v2, out=o_lo)
    o_lo += v3
    o_hi -= v3


def _phase_slices(pad: int, H: int, W: int):
    """Where the input sits in the four phases of the zero-padded image.

    Yields ``(a, b, rows_x, cols_x, rows_p, cols_p)``: phase ``(a, b)`` (padded row parity
    ``a``, column parity ``b``) holds ``x[..., rows_x, cols_x]`` at ``[..., rows_p, cols_p]``.
    """
    for a in (0, 1):  # padded row 2i + a holds input row 2i + a - pad
        h0 = (a - pad) % 2
        i0, nh = (h0 + pad) // 2, len(range(h0, H, 2))
        for b in (0, 1):
            w0 = (b - pad) % 2
            j0, nw = (w0 + pad) // 2, len(range(w0, W, 2))
            yield (
                a,
                b,
                slice(h0, None, 2),
                slice(w0, None, 2),
                slice(i0, i0 + nh),
                slice(j0, j0 + nw),
            )


def _chunks(n: int, bytes_each: int) -> list[slice]:
    """``range(n)`` in slices whose scratch (``bytes_each`` per item) fits :data:`_WINO_CHUNK`.

    The transforms are a dozen passes over arrays of tens of MB: done a few channels at a
    time, their intermediate arrays stay in the CPU cache instead of going out to memory
    (measured 1.3-1.4x faster on shape B of ``make bench``).
    """
    step = max(1, _WINO_CHUNK // max(1, bytes_each))
    return [slice(i, min(n, i + step)) for i in range(0, n, step)]


def _winograd_input(x: np.ndarray, pad: int, rows: int, cols: int) -> np.ndarray:
    """``V = B^T d B`` for every 4x4 input tile: ``(16, C, T)``, tiles ``T = (rows, N, cols)``.

    Tile ``(i, j)`` of image ``n`` reads padded rows ``2i .. 2i+3`` and columns ``2j .. 2j+3``.
    The zero-padded input is split into its four phases (padded row parity ``a``, column
    parity ``b``), each laid out ``(C, rows + 1, N, cols)`` like the tiles: a tile's rows
    0..3 are then phase rows ``i, i, i + 1, i + 1`` of parities ``0, 1, 0, 1`` (one block of
    ``N * cols`` further on for ``i + 1``), its columns likewise (the next entry for
    ``j + 1``), and ``B^T`` on each side is four additions of whole arrays (:func:`_bt_1d`).
    Channels come first, so that ``V[k]`` is one ``(C, T)`` matrix; the image index sits
    inside the row index, so only the columns need a spare tile (it holds finite junk, never
    used for a valid output). A few channels at a time (:func:`_chunks`).
    """
    N, C, H, W = x.shape
    dtype = x.dtype
    block = N * cols  # one row of tiles (or of a phase), all images
    Q = rows * block  # tiles per channel, the spare column included
    V = _buffer("wino_V", (4, 4, C, Q), dtype)
    parts = _chunks(C, 12 * Q * dtype.itemsize)
    step = parts[0].stop
    canvas = _buffer("wino_canvas", (2, 2, step, Q + block), dtype)
    by_rows = _buffer("wino_rows", (2, 4, step * Q + 1), dtype)  # + 1: shifted column reads
    for part in parts:
        cc = part.stop - part.start
        phases = canvas[:, :, :cc]
        phases.fill(0)
        for a, b, rx, cx, rp, cp in _phase_slices(pad, H, W):
            phase = phases[a, b].reshape(cc, rows + 1, N, cols)
            phase[:, rp, :, cp] = x[:, part, rx, cx].transpose(1, 2, 0, 3)
        rows_out = by_rows[:, :, : cc * Q + 1]
        rows_out[:, :, -1] = 0  # read only as the last tile's right neighbour (a spare tile)
        for b in (0, 1):  # rows: tile row i reads phase rows i and i + 1
            E, O = phases[0, b], phases[1, b]
            out = rows_out[b, :, :-1].reshape(4, cc, Q)
            _bt_1d(E[:, :Q], O[:, :Q], E[:, block:], O[:, block:], out)
        for r in range(4):  # columns: tile q's right neighbour is entry q + 1 (flat)
            e, o = rows_out[0, r], rows_out[1, r]
            _bt_1d(e[:-1], o[:-1], e[1:], o[1:], V[r, :, part].reshape(4, cc * Q))
    return V.reshape(16, C, Q)


def _winograd_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int, Ho: int, Wo: int
) -> tuple[np.ndarray, np.ndarray]:
    """``out`` ``(N, F, Ho, Wo)`` of a 3x3 stride-1 convolution, and ``V`` for the backward."""
    N = x.shape[0]
    F = w.shape[0]
    dtype = x.dtype
    rows, cols = _tile_grid(Ho, Wo)
    V = _winograd_input(x, pad, rows, cols)
    T = V.shape[2]
    M = np.matmul(_winograd_filters(w), V, out=_buffer("wino_M", (16, F, T), dtype))
    M[5] += b[:, None]  # m[1, 1] reaches each of the 2x2 outputs with weight 1: the bias
    out = np.empty((N, F, Ho, Wo), dtype=dtype)
    parts = _chunks(F, 12 * T * dtype.itemsize)
    half = _buffer("wino_half", (4, 2, parts[0].stop * T), dtype)
    y = _buffer("wino_y", (2, 2, parts[0].stop * T), dtype)
    for part in parts:  # a few filters at a time
        n = (part.stop - part.start) * T
        m = M[:, part].reshape(4, 4, n)
        # A^T along the columns, then along the rows: y0 = m0 + m1 + m2, y1 = m1 - m2 - m3.
        for xi in range(4):
            _at_pair(*m[xi], half[xi, 0, :n], half[xi, 1, :n])
        for bb in range(2):
            _at_pair(*half[:, bb, :n], y[0, bb, :n], y[1, bb, :n])
        for a in range(2):  # output row 2i + a, column 2j + bb
            for bb in range(2):
                plane = y[a, bb, :n].reshape(-1, rows, N, cols).transpose(2, 0, 1, 3)
                h, w_ = len(range(a, Ho, 2)), len(range(bb, Wo, 2))
                out[:, part, a::2, bb::2] = plane[:, :, :h, :w_]
    return out, V


def _at_pair(m0, m1, m2, m3, y0, y1) -> None:
    """``A^T`` of F(2, 3) on four arrays: ``y0 = m0 + m1 + m2``, ``y1 = m1 - m2 - m3``."""
    np.add(m0, m1, out=y0)
    y0 += m2
    np.subtract(m1, m2, out=y1)
    y1 -= m3


def _a_four(y0, y1, out) -> None:
    """``A`` of F(2, 3), the transpose of :func:`_at_pair`: ``y0, y0 + y1, y0 - y1, -y1``."""
    np.copyto(out[0], y0)
    np.add(y0, y1, out=out[1])
    np.subtract(y0, y1, out=out[2])
    np.negative(y1, out=out[3])


def _winograd_backward(
    dout: np.ndarray, w: np.ndarray, V: np.ndarray, x_shape: tuple, pad: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dx``, ``dw``, ``db`` of :func:`_winograd_forward`: the same transforms, transposed.

    The forward is linear in ``U`` and in ``V``, so with ``dM = A dY A^T`` (each tile's
    output gradient, 2x2 -> 4x4): ``dU[k] = dM[k] @ V[k]^T`` (one product over all tiles,
    then ``dw = G^T dU G``) and ``dV[k] = U[k]^T @ dM[k]``, which ``B dV B^T`` and an
    overlap-add of the 4x4 tiles turn into ``dx``. ``dM`` is exactly zero on the spare
    tiles, so their junk in ``V`` adds nothing anywhere.
    """
    N, C, H, W = x_shape
    F = w.shape[0]
    _, _, Ho, Wo = dout.shape
    dtype = V.dtype
    rows, cols = _tile_grid(Ho, Wo)
    T = V.shape[2]
    # dM = A dY A^T, a few filters at a time; dY in its four phases (output row 2i + a,
    # column 2j + bb), zero on the spare tiles.
    dM = _buffer("wino_dM", (4, 4, F, T), dtype)
    parts = _chunks(F, 12 * T * dtype.itemsize)
    dy = _buffer("wino_dy", (2, 2, parts[0].stop, rows, N, cols), dtype)
    half = _buffer("wino_dhalf", (2, 4, parts[0].stop * T), dtype)
    for part in parts:
        cc = part.stop - part.start
        n = cc * T
        phases = dy[:, :, :cc]
        phases.fill(0)
        for a in range(2):
            for bb in range(2):
                src = dout[:, part, a::2, bb::2].transpose(1, 2, 0, 3)
                phases[a, bb, :, : src.shape[1], :, : src.shape[3]] = src
        flat = phases.reshape(2, 2, n)
        for a in range(2):
            _a_four(flat[a, 0], flat[a, 1], half[a, :, :n])
        for nu in range(4):
            _a_four(half[0, nu, :n], half[1, nu, :n], dM[:, nu, part].reshape(4, n))
    dM = dM.reshape(16, F, T)
    # dw: one (F, T) @ (T, C) product per k, then dw = G^T dU G.
    dw = _winograd_filter_grad(np.matmul(dM, V.transpose(0, 2, 1)))
    db = dM[5].sum(axis=1)  # the bias was added to m[1, 1] of every tile
    # dV = U^T dM, one (C, F) @ (F, T) product per k.
    UT = np.ascontiguousarray(_winograd_filters(w).transpose(0, 2, 1))  # (16, C, F)
    dV = np.matmul(UT, dM, out=_buffer("wino_dV", (16, C, T), dtype))
    dx = _winograd_input_adjoint(dV.reshape(4, 4, C, T), x_shape, pad, rows, cols)
    return dx, dw, db


def _winograd_input_adjoint(
    dV: np.ndarray, x_shape: tuple, pad: int, rows: int, cols: int
) -> np.ndarray:
    """``dx`` from ``dV`` ``(4, 4, C, T)``: the transpose of :func:`_winograd_input`.

    Its steps undone in reverse order with :func:`_b_1d` (columns, then rows), a few
    channels at a time, then the four phases cropped back into ``(N, C, H, W)``.
    """
    N, C, H, W = x_shape
    dtype = dV.dtype
    block = N * cols
    Q = rows * block
    dx = np.empty((N, C, H, W), dtype=dtype)
    parts = _chunks(C, 13 * Q * dtype.itemsize)
    step = parts[0].stop
    scratch = _buffer("wino_scratch", (step * Q,), dtype)
    by_rows = _buffer("wino_drows", (2, 4, step * Q + 1), dtype)
    canvas = _buffer("wino_dcanvas", (2, 2, step, Q + block), dtype)
    for part in parts:
        cc = part.stop - part.start
        rows_in = by_rows[:, :, : cc * Q + 1]
        rows_in[:, :, -1] = 0  # reached only by the last tile's right neighbour
        for r in range(4):
            e, o = rows_in[0, r], rows_in[1, r]
            _b_1d(
                dV[r, :, part].reshape(4, cc * Q), e[:-1], o[:-1], e[1:], o[1:], scratch[: cc * Q]
            )
        phases = canvas[:, :, :cc]
        for b in (0, 1):
            E, O = phases[0, b], phases[1, b]
            E[:, Q:] = 0  # the last phase row: reached only from the tile row above
            O[:, Q:] = 0
            v = rows_in[b, :, :-1].reshape(4, cc, Q)
            _b_1d(
                v, E[:, :Q], O[:, :Q], E[:, block:], O[:, block:], scratch[: cc * Q].reshape(cc, Q)
            )
        for a, b, rx, cx, rp, cp in _phase_slices(pad, H, W):
            phase = phases[a, b].reshape(cc, rows + 1, N, cols)
            dx[:, part, rx, cx] = phase[:, rp, :, cp].transpose(2, 0, 1, 3)
    return dx
