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

:func:`conv_output_shape` and :func:`check_conv_inputs` are the one place where convolution
arguments are validated; ``im2col``, ``conv_fast`` and ``locally_connected`` reuse them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from cs231n_lib import _validate

_NOTEBOOK = "notebooks/03_parameter_sharing.ipynb"

#: Keys of ``conv_param``: required, and optional with their defaults.
CONV_REQUIRED = ("stride", "pad")
CONV_OPTIONAL: dict[str, Any] = {"dilation": 1}


class ConvGeometry(NamedTuple):
    """Validated hyperparameters and output size of a convolution (all in pixels)."""

    stride: int
    pad: int
    dilation: int
    Ho: int
    Wo: int


def conv_output_shape(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    conv_param: Mapping[str, Any],
    *,
    what: str = "convolution",
    param_name: str = "conv_param",
) -> ConvGeometry:
    """Validate a convolution's shapes and hyperparameters; return its geometry.

    Args:
        x_shape: input shape ``(N, C, H, W)``.
        w_shape: filter shape ``(F, C, HH, WW)``.
        conv_param: ``{'stride', 'pad'[, 'dilation']}``; unknown keys are rejected.
        what: name of the layer in error messages.
        param_name: name of the parameter dict in error messages.

    Returns:
        ``ConvGeometry(stride, pad, dilation, Ho, Wo)``; unpacks as a 5-tuple.

    Raises:
        ValueError: wrong rank, channel mismatch, bad or unknown parameters, a filter larger
            than the padded input, or an output size that is not a whole number (the message
            shows the computation, e.g. ``(7 + 2*0 - 3)/3 + 1 = 2.33 is not a whole number``).
    """
    x_shape = _validate.shape(x_shape, "x.shape")
    w_shape = _validate.shape(w_shape, "w.shape")
    if len(x_shape) != 4:
        raise ValueError(f"{what}: x must have 4 dimensions (N, C, H, W), got shape {x_shape}")
    if len(w_shape) != 4:
        raise ValueError(f"{what}: w must have 4 dimensions (F, C, HH, WW), got shape {w_shape}")
    if x_shape[1] != w_shape[1]:
        raise ValueError(
            f"{what}: channel mismatch: x has C={x_shape[1]} channels (shape {x_shape}) but "
            f"the filters expect C={w_shape[1]} (w shape {w_shape}); a filter spans the full "
            f"depth of its input"
        )
    p = _validate.params(conv_param, param_name, CONV_REQUIRED, CONV_OPTIONAL)
    stride = _validate.positive_int(p["stride"], f"{param_name}['stride']")
    pad = _validate.nonnegative_int(p["pad"], f"{param_name}['pad']")
    dilation = _validate.positive_int(p["dilation"], f"{param_name}['dilation']")
    Ho = _validate.output_length(
        x_shape[2], w_shape[2], stride, pad, dilation, what=what, axis="height"
    )
    Wo = _validate.output_length(
        x_shape[3], w_shape[3], stride, pad, dilation, what=what, axis="width"
    )
    return ConvGeometry(stride, pad, dilation, Ho, Wo)


def check_conv_inputs(
    x: Any, w: Any, b: Any, conv_param: Any, *, what: str = "convolution"
) -> ConvGeometry:
    """Validate the arguments of a convolution forward pass (arrays, ranks, bias, params).

    Returns the same :class:`ConvGeometry` as :func:`conv_output_shape`.
    """
    _validate.array(x, "x", 4, "(N, C, H, W)")
    _validate.array(w, "w", 4, "(F, C, HH, WW)")
    _validate.array(b, "b", 1, "(F,)")
    geometry = conv_output_shape(x.shape, w.shape, conv_param, what=what)
    if b.shape != (w.shape[0],):
        raise ValueError(
            f"{what}: b must have shape (F,) = ({w.shape[0]},), one bias per filter, got {b.shape}"
        )
    return geometry


def check_conv_cache(cache: Any, what: str = "convolution", extra: int = 0) -> None:
    """Check that ``cache`` is the ``(x, w, b, conv_param, ...)`` tuple a forward returned."""
    if not isinstance(cache, tuple) or len(cache) != 4 + extra:
        raise ValueError(
            f"{what}: cache must be the tuple returned by the forward pass "
            f"({4 + extra} items), got {type(cache).__name__}"
        )


def check_dout(dout: Any, expected: tuple[int, ...], what: str = "convolution") -> None:
    """Check that the upstream gradient has the forward output's shape ``(N, F, Ho, Wo)``."""
    _validate.array(dout, "dout", 4, "(N, F, Ho, Wo)")
    if dout.shape != tuple(expected):
        raise ValueError(
            f"{what}: dout must have the forward output's shape (N, F, Ho, Wo) = "
            f"{tuple(expected)}, got {dout.shape}"
        )


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    """Floating dtype of a layer's output: the inputs' common float type (ints -> float64)."""
    dtype = np.result_type(*arrays)
    if dtype.kind != "f":
        dtype = np.result_type(dtype, np.float64)
    return dtype


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
