"""The convolutional layer written with explicit loops (卷积层, naive version).

A convolutional layer slides ``F`` filters (卷积核) of shape ``(C, HH, WW)`` over a zero-padded
(零填充) input with stride (步长) ``S``. Every output value is the dot product of one filter with
one window of the input plus that filter's bias; the same filter is used at every position
(parameter sharing, 参数共享), so the gradient of a shared weight is the *sum* of its
contributions over all positions and all images.

Shapes (CS231n assignment-2 conventions):

* ``x``: ``(N, C, H, W)`` images (NCHW), any real dtype.
* ``w``: ``(F, C, HH, WW)`` filters.
* ``b``: ``(F,)`` biases.
* ``conv_param``: ``{'stride': S, 'pad': P}`` plus optional ``'dilation': d`` (default 1, an
  ordinary filter; a dilated filter (空洞卷积) spans ``(HH - 1) * d + 1`` rows).
* ``out``: ``(N, F, Ho, Wo)`` with ``Ho = (H + 2P - ((HH - 1) * d + 1)) / S + 1`` (likewise
  ``Wo``). A configuration for which this is not a whole number is rejected, never floored.

Strictly, what deep-learning libraries call "convolution" is cross-correlation: the filter is
not flipped. The 1-D helpers at the end of this module show why the distinction matters in the
backward pass: the gradient with respect to the input is a *true* convolution, i.e. a
cross-correlation with the flipped filter.

:func:`cs231n_lib._validate.conv_output_shape` and :func:`~cs231n_lib._validate.check_conv_inputs`
are the one place where convolution arguments are validated; every convolution module imports
them from ``_validate`` (never from another learner file).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cs231n_lib import _validate

# The shared convolution checks live in _validate (so a broken learner file never breaks
# another module); they are re-exported here for the notebooks.
from cs231n_lib._validate import (  # noqa: F401
    CONV_OPTIONAL,
    CONV_REQUIRED,
    ConvGeometry,
    check_conv_cache,
    check_conv_inputs,
    check_dout,
    conv_output_shape,
    result_dtype,
)

_NOTEBOOK = "notebooks/03_parameter_sharing.ipynb"

def conv_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, Any]
) -> tuple[np.ndarray, tuple]:
    """Forward pass of a convolutional layer, with explicit loops.

    Args:
        x: input ``(N, C, H, W)``.
        w: filters ``(F, C, HH, WW)``.
        b: biases ``(F,)``.
        conv_param: ``{'stride': S, 'pad': P[, 'dilation': d]}``; ``P`` zeros are added on
            every side of the height and width axes; ``d = 1`` is an ordinary filter.

    Returns:
        ``out``: ``(N, F, Ho, Wo)`` in the inputs' floating dtype, where
        ``out[n, f, i, j] = sum(window(n, i, j) * w[f]) + b[f]`` and the window starts at row
        ``i*S``, column ``j*S`` of the padded input, taking every ``d``-th pixel.
        ``cache``: ``(x, w, b, conv_param)`` for :func:`conv_backward_naive`.

    Raises:
        ValueError: see :func:`conv_output_shape`.
    """
    stride, pad, dilation, Ho, Wo = check_conv_inputs(x, w, b, conv_param)
    dtype = result_dtype(x, w, b)
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    span_h = (HH - 1) * dilation + 1
    span_w = (WW - 1) * dilation + 1
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dtype)
    xp[:, :, pad : pad + H, pad : pad + W] = x
    out = np.empty((N, F, Ho, Wo), dtype=dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                top = i * stride
                for j in range(Wo):
                    left = j * stride
                    rows = slice(top, top + span_h, dilation)
                    cols = slice(left, left + span_w, dilation)
                    window = xp[n, :, rows, cols]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    cache = (x, w, b, conv_param)
    return out, cache
    ### END SOLUTION


def conv_backward_naive(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of a convolutional layer, with explicit loops.

    Args:
        dout: upstream gradient ``(N, F, Ho, Wo)``.
        cache: ``(x, w, b, conv_param)`` from :func:`conv_forward_naive`.

    Returns:
        ``dx`` ``(N, C, H, W)``, ``dw`` ``(F, C, HH, WW)``, ``db`` ``(F,)``, in the forward's
        floating dtype. Because the filters are shared, ``dw[f]`` sums the contribution of
        every window of every image, and ``db[f]`` sums ``dout[:, f]`` over images and
        positions.
    """
    check_conv_cache(cache)
    x, w, b, conv_param = cache
    stride, pad, dilation, Ho, Wo = check_conv_inputs(x, w, b, conv_param)
    check_dout(dout, (x.shape[0], w.shape[0], Ho, Wo))
    dtype = result_dtype(x, w, b)
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    span_h = (HH - 1) * dilation + 1
    span_w = (WW - 1) * dilation + 1
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dtype)
    xp[:, :, pad : pad + H, pad : pad + W] = x
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape, dtype=dtype)
    db = np.zeros(F, dtype=dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                top = i * stride
                for j in range(Wo):
                    left = j * stride
                    rows = slice(top, top + span_h, dilation)
                    cols = slice(left, left + span_w, dilation)
                    g = dout[n, f, i, j]
                    dxp[n, :, rows, cols] += g * w[f]
                    dw[f] += g * xp[n, :, rows, cols]
                    db[f] += g
    dx = dxp[:, :, pad : pad + H, pad : pad + W].copy()
    return dx, dw, db
    ### END SOLUTION


# --------------------------------------------------------------------------------------------
# 1-D demonstration: the backward pass of a convolution is a convolution with the flipped filter
# --------------------------------------------------------------------------------------------


def _check_1d(a: Any, name: str) -> np.ndarray:
    _validate.array(a, name, 1, "(L,)")
    return a


def conv1d_forward(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """'Valid' 1-D cross-correlation, stride 1, no padding: what a conv layer computes.

    Args:
        x: signal ``(L,)``.
        w: filter ``(K,)`` with ``K <= L``.

    Returns:
        ``y`` ``(L - K + 1,)`` with ``y[i] = sum_k x[i + k] * w[k]`` (the filter is *not*
        flipped).
    """
    _check_1d(x, "x")
    _check_1d(w, "w")
    length = _validate.output_length(x.shape[0], w.shape[0], what="conv1d", axis="length")
    dtype = result_dtype(x, w)
    y = np.zeros(length, dtype=dtype)
    for k in range(w.shape[0]):
        y += w[k] * x[k : k + length]
    return y


def conv1d_backward_via_flip(dout: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Gradient of :func:`conv1d_forward` with respect to ``x``, as a convolution.

    ``x[m]`` feeds ``y[m - k]`` through weight ``w[k]``, so
    ``dx[m] = sum_k dout[m - k] * w[k]``: a *full* (zero-padded by ``K - 1`` on each side)
    cross-correlation of ``dout`` with the filter reversed, ``w[::-1]``. That is, the backward
    pass of a convolution layer is again a convolution, with the flipped filter.

    Args:
        dout: upstream gradient ``(L - K + 1,)``.
        w: the forward filter ``(K,)``.

    Returns:
        ``dx`` ``(L,)``.
    """
    _check_1d(dout, "dout")
    _check_1d(w, "w")
    K = w.shape[0]
    padded = np.zeros(dout.shape[0] + 2 * (K - 1), dtype=result_dtype(dout, w))
    padded[K - 1 : K - 1 + dout.shape[0]] = dout
    return conv1d_forward(padded, w[::-1].copy())


def conv1d_weight_grad(x: np.ndarray, dout: np.ndarray) -> np.ndarray:
    """Gradient of :func:`conv1d_forward` with respect to ``w``: ``dw[k] = sum_i dout[i] x[i+k]``.

    This is again a 'valid' cross-correlation, of the input with the upstream gradient
    (the shared weight collects the sum over all positions).

    Args:
        x: the forward input ``(L,)``.
        dout: upstream gradient ``(L - K + 1,)``.

    Returns:
        ``dw`` ``(K,)`` with ``K = L - len(dout) + 1``.
    """
    _check_1d(x, "x")
    _check_1d(dout, "dout")
    return conv1d_forward(x, dout)
