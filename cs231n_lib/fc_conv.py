"""Fully connected (全连接层) <-> convolutional layers: the same computation, two weight layouts.

* **Any FC layer is a conv layer.** An affine layer reading a ``(C, H, W)`` volume computes
  ``K`` dot products of the whole flattened volume with ``K`` weight vectors. A conv layer with
  ``K`` filters of size ``(C, H, W)``, stride 1 and no padding does exactly the same and
  outputs a ``1 x 1 x K`` map: :func:`fc_to_conv` reshapes the weights, :func:`conv_to_fc`
  undoes it. Applied to a *larger* input, the converted net slides over it and gives a map
  of scores, one per crop, in a single pass, sharing all the computation the crops have in
  common (VGG: 7x7x512 -> FC 4096 becomes a 7x7 conv; a 384x384 image then gives a 6x6 score
  map instead of 36 separate 224x224 evaluations).
* **Any conv layer is an FC layer** whose weight matrix is sparse (each output sees only its
  receptive field, 感受野) and tied (the same filter weights repeat at every position,
  参数共享): :func:`sparse_conv_matrix` builds that matrix.

Conventions (CS231n assignment 2):

* Affine layer: ``out = x.reshape(N, D) @ w + b`` with ``w`` ``(D, K)``, ``b`` ``(K,)``; an
  image ``(C, H, W)`` flattens in C, H, W order (C slowest), ``D = C * H * W``.
* Convolution (cross-correlation, no filter flip): ``out[n, k, i, j] = sum_{c,p,q}
  x[n, c, i*S - P + p*d, j*S - P + q*d] * w[k, c, p, q] + b[k]`` with filters ``(K, C, HH, WW)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cs231n_lib import _validate
from cs231n_lib._validate import conv_output_shape

_NOTEBOOK = "notebooks/06_fc_to_conv.ipynb"


def _input_shape(input_shape: Any) -> tuple[int, int, int]:
    if not isinstance(input_shape, Sequence) or isinstance(input_shape, str):
        raise ValueError(f"input_shape must be a tuple (C, H, W), got {input_shape!r}")
    if len(input_shape) != 3:
        raise ValueError(
            f"input_shape must have 3 entries (C, H, W), got {tuple(input_shape)} "
            f"({len(input_shape)} entries)"
        )
    c, h, w = (
        _validate.positive_int(v, f"input_shape[{i}] ({name})")
        for i, (v, name) in enumerate(zip(input_shape, "CHW", strict=True))
    )
    return c, h, w


def fc_to_conv(
    w: np.ndarray, b: np.ndarray, input_shape: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Rewrite an affine layer on a ``(C, H, W)`` volume as a bank of ``K`` conv filters.

    Args:
        w: ``(D, K)`` affine weights, ``D = C * H * W`` (rows in C, H, W order).
        b: ``(K,)`` affine biases.
        input_shape: ``(C, H, W)`` of the volume the affine layer reads.

    Returns:
        ``w_conv``: ``(K, C, H, W)`` filters, ``w_conv[k, c, i, j] = w[(c*H + i)*W + j, k]``;
        ``b_conv``: ``(K,)``. Both are new arrays in the dtypes of ``w`` and ``b``. A
        convolution with stride 1 and pad 0 over an ``(N, C, H, W)`` input then gives
        ``(N, K, 1, 1)`` equal to the affine scores ``(N, K)``; over a larger input it gives
        one score vector per ``H x W`` crop.

    Raises:
        ValueError: wrong ranks, ``b`` not ``(K,)``, or ``D != C * H * W``.
    """
    _validate.array(w, "w", 2, "(D, K)")
    _validate.array(b, "b", 1, "(K,)")
    C, H, W = _input_shape(input_shape)
    D, K = w.shape
    if D != C * H * W:
        raise ValueError(
            f"fc_to_conv: w has D = {D} rows but input_shape (C, H, W) = ({C}, {H}, {W}) "
            f"flattens to C*H*W = {C * H * W}; one weight per input value is needed"
        )
    if b.shape != (K,):
        raise ValueError(f"fc_to_conv: b must have shape (K,) = ({K},), got {b.shape}")
    ### BEGIN SOLUTION
    # Column k of w is filter k, laid out as the flattened (C, H, W) volume it multiplies.
    w_conv = w.T.reshape(K, C, H, W).copy()
    return w_conv, b.copy()
    ### END SOLUTION


def conv_to_fc(
    w_conv: np.ndarray, b_conv: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Inverse of :func:`fc_to_conv`: filters that cover their whole input -> affine layer.

    Valid for a convolution with stride 1 and pad 0 whose input is exactly ``(C, H, W)``
    (the output is ``1 x 1 x K``).

    Args:
        w_conv: ``(K, C, H, W)`` filters.
        b_conv: ``(K,)`` biases.

    Returns:
        ``w``: ``(D, K)`` with ``D = C * H * W``; ``b``: ``(K,)``; ``input_shape``:
        ``(C, H, W)``.
    """
    _validate.array(w_conv, "w_conv", 4, "(K, C, H, W)")
    _validate.array(b_conv, "b_conv", 1, "(K,)")
    K, C, H, W = w_conv.shape
    if b_conv.shape != (K,):
        raise ValueError(
            f"conv_to_fc: b_conv must have shape (K,) = ({K},), one bias per filter, "
            f"got {b_conv.shape}"
        )
    w = w_conv.reshape(K, C * H * W).T.copy()  # a new C-ordered array
    return w, b_conv.copy(), (C, H, W)


def sparse_conv_matrix(
    w: np.ndarray, input_shape: Sequence[int], conv_param: dict[str, int]
) -> np.ndarray:
    """The dense ``(out_size, in_size)`` matrix of a conv layer on one ``(C, H, W)`` image.

    ``W_dense @ x.ravel()`` equals the convolution of ``x`` (no bias) flattened in
    ``(F, Ho, Wo)`` order, where ``x.ravel()`` is in ``(C, H, W)`` order. So a conv layer is
    an FC layer with ``out_size = F * Ho * Wo`` outputs and ``in_size = C * H * W`` inputs
    whose matrix is sparse (row ``(f, i, j)`` has at most ``C * HH * WW`` nonzeros: the
    receptive field) and tied (every row of filter ``f`` reuses ``w[f]``). Zero-padded taps
    read zeros and simply have no entry. For the CS231n affine layer
    (``x @ w_fc + b_fc``) use ``w_fc = W_dense.T`` and ``b_fc = np.repeat(b, Ho * Wo)``.

    Args:
        w: ``(F, C, HH, WW)`` filters.
        input_shape: ``(C, H, W)`` of one input image.
        conv_param: ``{'stride', 'pad'[, 'dilation']}``, as for the conv layers.

    Returns:
        ``(F * Ho * Wo, C * H * W)`` array in the dtype of ``w``. Its size grows as the product
        of input and output sizes: meant for small examples.
    """
    _validate.array(w, "w", 4, "(F, C, HH, WW)")
    C, H, W = _input_shape(input_shape)
    F, _, HH, WW = w.shape
    S, P, d, Ho, Wo = conv_output_shape(
        (1, C, H, W), w.shape, conv_param, what="sparse_conv_matrix"
    )
    # Broadcast over (f, i, j, c, p, q): output pixel (i, j) of filter f reads input pixel
    # (i*S - P + p*d, j*S - P + q*d) of channel c with weight w[f, c, p, q].
    f = np.arange(F)[:, None, None, None, None, None]
    i = np.arange(Ho)[None, :, None, None, None, None]
    j = np.arange(Wo)[None, None, :, None, None, None]
    c = np.arange(C)[None, None, None, :, None, None]
    p = np.arange(HH)[None, None, None, None, :, None]
    q = np.arange(WW)[None, None, None, None, None, :]
    row = i * S - P + p * d
    col = j * S - P + q * d
    inside = (row >= 0) & (row < H) & (col >= 0) & (col < W)
    shape = (F, Ho, Wo, C, HH, WW)
    out_index = np.broadcast_to((f * Ho + i) * Wo + j, shape)
    in_index = np.broadcast_to((c * H + row) * W + col, shape)
    weights = np.broadcast_to(w[:, None, None], shape)
    mask = np.broadcast_to(inside, shape)
    dense = np.zeros((F * Ho * Wo, C * H * W), dtype=w.dtype)
    # Distinct taps of one output read distinct input pixels, so no entry is written twice.
    dense[out_index[mask], in_index[mask]] = weights[mask]
    return dense
