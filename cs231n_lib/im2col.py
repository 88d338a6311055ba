"""im2col: a convolution as one matrix multiply.

Every receptive field (感受野) of the input is stretched into one *column* of a matrix
``X_col``; every filter is stretched into one *row* of ``W_row = w.reshape(F, -1)``. Then the
whole convolution is the single product ``W_row @ X_col``, which a BLAS library computes far
faster than loops.

Column layout used throughout this module (2-D, as in the lecture notes)::

    X_col.shape == (C*HH*WW, N*Ho*Wo)

    row    r = (c*HH + i)*WW + j      filter tap (channel c, filter row i, filter column j):
                                      the same order as w.reshape(F, -1), so row r of X_col
                                      meets column r of W_row;
    column k = (n*Ho + oh)*Wo + ow    image n, output position (oh, ow), row-major.

    X_col[r, k] = x_padded[n, c, oh*S + i*d, ow*S + j*d]

so for a single image the columns are simply the output positions in reading order. The
AlexNet example of the notes: a 227×227×3 image, 96 filters 11×11×3, stride 4 gives
``im2col(x[:1], 11, 11, stride=4).shape == (363, 3025)`` (363 = 11·11·3 taps, 3025 = 55·55
positions), ``W_row`` is 96 × 363, and ``W_row @ X_col`` (96 × 3025) reshapes to 96×55×55.

The price is memory: with overlapping windows each input value is copied into several
columns (:func:`im2col_duplication` counts how many).

``col2im`` is the adjoint of ``im2col``: it adds every column entry back onto the pixel it was
read from (overlaps add up), which is exactly what the backward pass needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cs231n_lib import _validate
from cs231n_lib._validate import (
    check_conv_cache,
    check_conv_inputs,
    check_dout,
    conv_output_shape,
    result_dtype,
)

_NOTEBOOK = "notebooks/04_im2col.ipynb"


def _field_geometry(
    x_shape: tuple[int, int, int, int],
    field_height: Any,
    field_width: Any,
    stride: Any,
    pad: Any,
    dilation: Any,
    what: str,
):
    """Validate im2col arguments by reusing the convolution checks (one filter of depth C).

    ``x_shape`` is an already validated ``(N, C, H, W)``.
    """
    fh = _validate.positive_int(field_height, "field_height")
    fw = _validate.positive_int(field_width, "field_width")
    geometry = conv_output_shape(
        x_shape,
        (1, x_shape[1], fh, fw),
        {"stride": stride, "pad": pad, "dilation": dilation},
        what=what,
    )
    return fh, fw, geometry


def im2col(
    x: np.ndarray,
    field_height: int,
    field_width: int,
    stride: int = 1,
    pad: int = 0,
    dilation: int = 1,
) -> np.ndarray:
    """Stretch every receptive field of ``x`` into a column.

    Args:
        x: input ``(N, C, H, W)``.
        field_height, field_width: filter size ``HH``, ``WW`` (pixels, before dilation).
        stride: ``S >= 1``.
        pad: zero padding ``P >= 0`` on every side.
        dilation: ``d >= 1`` (1 = ordinary filter).

    Returns:
        ``X_col`` ``(C*HH*WW, N*Ho*Wo)`` in ``x``'s floating dtype, laid out as described in
        the module docstring: row ``(c*HH + i)*WW + j``, column ``(n*Ho + oh)*Wo + ow``.

    Raises:
        ValueError: wrong rank or a configuration whose output size is not a whole number.
    """
    _validate.array(x, "x", 4, "(N, C, H, W)")
    HH, WW, (stride, pad, dilation, Ho, Wo) = _field_geometry(
        x.shape, field_height, field_width, stride, pad, dilation, "im2col"
    )
    dtype = result_dtype(x)
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dtype)
    xp[:, :, pad : pad + H, pad : pad + W] = x
    # cols[c, i, j, n, oh, ow] = xp[n, c, oh*S + i*d, ow*S + j*d]
    cols = np.empty((C, HH, WW, N, Ho, Wo), dtype=dtype)
    for i in range(HH):
        top = i * dilation
        for j in range(WW):
            left = j * dilation
            patch = xp[
                :,
                :,
                top : top + stride * (Ho - 1) + 1 : stride,
                left : left + stride * (Wo - 1) + 1 : stride,
            ]
            cols[:, i, j] = patch.transpose(1, 0, 2, 3)
    return cols.reshape(C * HH * WW, N * Ho * Wo)
    ### END SOLUTION


def col2im(
    cols: np.ndarray,
    x_shape: Sequence[int],
    field_height: int,
    field_width: int,
    stride: int = 1,
    pad: int = 0,
    dilation: int = 1,
) -> np.ndarray:
    """Add every column entry back onto the input pixel it came from (adjoint of im2col).

    Args:
        cols: ``(C*HH*WW, N*Ho*Wo)`` in the layout of :func:`im2col`.
        x_shape: shape ``(N, C, H, W)`` of the original input.
        field_height, field_width, stride, pad, dilation: as for :func:`im2col`.

    Returns:
        ``dx`` ``(N, C, H, W)`` in ``cols``' floating dtype: for every pixel, the sum of all
        column entries copied from it (entries that came from the zero padding are dropped).
        With ``cols`` the gradient of a loss with respect to ``X_col``, ``dx`` is the gradient
        with respect to ``x``.
    """
    _validate.array(cols, "cols", 2, "(C*HH*WW, N*Ho*Wo)")
    x_shape = _validate.shape(x_shape, "x_shape", 4, "(N, C, H, W)")
    HH, WW, (stride, pad, dilation, Ho, Wo) = _field_geometry(
        x_shape, field_height, field_width, stride, pad, dilation, "col2im"
    )
    N, C, H, W = x_shape
    expected = (C * HH * WW, N * Ho * Wo)
    if cols.shape != expected:
        raise ValueError(
            f"col2im: cols must have shape (C*HH*WW, N*Ho*Wo) = {expected} for x_shape "
            f"{x_shape}, got {cols.shape}"
        )
    dtype = result_dtype(cols)
    ### BEGIN SOLUTION
    c6 = cols.reshape(C, HH, WW, N, Ho, Wo)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dtype)
    for i in range(HH):
        top = i * dilation
        for j in range(WW):
            left = j * dilation
            dxp[
                :,
                :,
                top : top + stride * (Ho - 1) + 1 : stride,
                left : left + stride * (Wo - 1) + 1 : stride,
            ] += c6[:, i, j].transpose(1, 0, 2, 3)
    return dxp[:, :, pad : pad + H, pad : pad + W].copy()
    ### END SOLUTION


def conv_forward_im2col(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, Any]
) -> tuple[np.ndarray, tuple]:
    """Convolution forward pass as ``W_row @ X_col``.

    Args:
        x: input ``(N, C, H, W)``.
        w: filters ``(F, C, HH, WW)``.
        b: biases ``(F,)``.
        conv_param: ``{'stride': S, 'pad': P[, 'dilation': d]}``.

    Returns:
        ``out`` ``(N, F, Ho, Wo)`` (same values as ``conv_forward_naive``) and ``cache``
        ``(x, w, b, conv_param, x_cols)`` with ``x_cols = im2col(x, ...)``.
    """
    stride, pad, dilation, Ho, Wo = check_conv_inputs(x, w, b, conv_param)
    dtype = result_dtype(x, w, b)
    ### BEGIN SOLUTION
    N = x.shape[0]
    F, _, HH, WW = w.shape
    x_cols = im2col(x.astype(dtype, copy=False), HH, WW, stride, pad, dilation)
    w_row = w.reshape(F, -1).astype(dtype, copy=False)
    out = w_row @ x_cols + b.astype(dtype, copy=False)[:, None]  # (F, N*Ho*Wo)
    out = out.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3).copy()
    cache = (x, w, b, conv_param, x_cols)
    return out, cache
    ### END SOLUTION


def conv_backward_im2col(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convolution backward pass through the matrix product and col2im.

    Args:
        dout: upstream gradient ``(N, F, Ho, Wo)``.
        cache: ``(x, w, b, conv_param, x_cols)`` from :func:`conv_forward_im2col`.

    Returns:
        ``dx`` ``(N, C, H, W)``, ``dw`` ``(F, C, HH, WW)``, ``db`` ``(F,)``:
        with ``dout_row`` the ``(F, N*Ho*Wo)`` matrix of ``dout``,
        ``dw = dout_row @ X_col^T``, ``db = dout_row.sum(1)``,
        ``dx = col2im(W_row^T @ dout_row)``.
    """
    check_conv_cache(cache, what="conv_backward_im2col", extra=1)
    x, w, b, conv_param, x_cols = cache
    stride, pad, dilation, Ho, Wo = check_conv_inputs(x, w, b, conv_param)
    check_dout(dout, (x.shape[0], w.shape[0], Ho, Wo))
    dtype = result_dtype(x, w, b)
    ### BEGIN SOLUTION
    F, _, HH, WW = w.shape
    dout_row = dout.astype(dtype, copy=False).transpose(1, 0, 2, 3).reshape(F, -1)
    db = dout_row.sum(axis=1)
    dw = (dout_row @ x_cols.T).reshape(w.shape)
    w_row = w.reshape(F, -1).astype(dtype, copy=False)
    dx = col2im(w_row.T @ dout_row, x.shape, HH, WW, stride, pad, dilation)
    return dx, dw, db
    ### END SOLUTION


def im2col_duplication(
    x_shape: Sequence[int],
    field: int | tuple[int, int],
    stride: int = 1,
    pad: int = 0,
    dilation: int = 1,
) -> np.ndarray:
    """How many times each input value is copied into ``X_col`` (the memory cost of im2col).

    Args:
        x_shape: ``(N, C, H, W)`` (or just ``(H, W)``).
        field: filter size ``F`` (square) or ``(HH, WW)``.
        stride, pad, dilation: as for :func:`im2col`.

    Returns:
        ``counts`` ``(H, W)`` int64: ``counts[y, x]`` is the number of columns that contain
        pixel ``(y, x)`` (the same for every channel and image). Its sum times ``N*C`` plus the
        number of entries read from the padding equals ``X_col.size``; its mean is the
        duplication factor of the input.

    The count factorises over the two axes: pixel row ``y`` is read by output row ``oh`` and
    filter row ``i`` whenever ``oh*S + i*d - P == y``.
    """
    shape = _validate.shape(x_shape, "x_shape")
    if len(shape) not in (2, 4):
        raise ValueError(f"x_shape must be (N, C, H, W) or (H, W), got {shape}")
    H, W = shape[-2:]
    if isinstance(field, tuple):
        if len(field) != 2:
            raise ValueError(f"field must be an int or (HH, WW), got {field!r}")
        HH, WW = field
    else:
        HH = WW = field
    geometry = conv_output_shape(
        (1, 1, H, W),
        (1, 1, HH, WW),
        {"stride": stride, "pad": pad, "dilation": dilation},
        what="im2col_duplication",
    )

    def per_axis(size: int, k: int, out: int) -> np.ndarray:
        taps = (
            np.arange(out)[:, None] * geometry.stride
            + np.arange(k)[None, :] * geometry.dilation
            - geometry.pad
        ).ravel()
        taps = taps[(taps >= 0) & (taps < size)]
        return np.bincount(taps, minlength=size).astype(np.int64)

    return np.outer(per_axis(H, HH, geometry.Ho), per_axis(W, WW, geometry.Wo))
