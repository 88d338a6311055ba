"""The locally-connected layer (局部连接层 without 参数共享): a convolution with unshared weights.

Like a convolutional layer, every output neuron looks at one small window (its receptive
field) across the full input depth. Unlike a convolutional layer, the neurons at different
output positions do **not** share weights: output position ``(i, j)`` has its own bank of
``F`` filters. This makes sense when different parts of the image hold different things
(e.g. centred, aligned faces), and it costs ``Ho * Wo`` times more parameters.

Shapes:

* ``x``: ``(N, C, H, W)``.
* ``w``: ``(Ho, Wo, F, C, HH, WW)``: ``w[i, j]`` is the ``(F, C, HH, WW)`` filter bank used
  only at output position ``(i, j)``.
* ``b``: ``(Ho, Wo, F)``.
* ``lc_param``: ``{'stride': S, 'pad': P[, 'dilation': d]}`` exactly as ``conv_param``.
* ``out``: ``(N, F, Ho, Wo)`` with
  ``out[n, f, i, j] = sum(window(n, i, j) * w[i, j, f]) + b[i, j, f]``.

``Ho`` and ``Wo`` follow the convolution rule ``(H + 2P - ((HH - 1)*d + 1))/S + 1`` and must
be whole numbers, and they must agree with ``w.shape[:2]``. With every ``w[i, j]`` equal to
one filter bank the layer *is* a convolution (:func:`conv_to_locally_connected` builds such
weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cs231n_lib import _validate
from cs231n_lib._validate import (
    ConvGeometry,
    check_conv_cache,
    check_dout,
    conv_output_shape,
    result_dtype,
)

_NOTEBOOK = "notebooks/03_parameter_sharing.ipynb"

_WHAT = "locally-connected layer"


def _check_inputs(x: Any, w: Any, b: Any, lc_param: Any) -> ConvGeometry:
    """Validate the arguments of the locally-connected forward pass; return the geometry."""
    _validate.array(x, "x", 4, "(N, C, H, W)")
    _validate.array(w, "w", 6, "(Ho, Wo, F, C, HH, WW)")
    _validate.array(b, "b", 3, "(Ho, Wo, F)")
    geometry = conv_output_shape(x.shape, w.shape[2:], lc_param, what=_WHAT, param_name="lc_param")
    Ho, Wo = geometry.Ho, geometry.Wo
    if w.shape[:2] != (Ho, Wo):
        raise ValueError(
            f"{_WHAT}: w must hold one filter bank per output position, shape "
            f"(Ho, Wo, F, C, HH, WW) with (Ho, Wo) = ({Ho}, {Wo}) for this input, stride, pad "
            f"and filter size; got w.shape[:2] = {w.shape[:2]}"
        )
    F = w.shape[2]
    if b.shape != (Ho, Wo, F):
        raise ValueError(
            f"{_WHAT}: b must have shape (Ho, Wo, F) = {(Ho, Wo, F)}, one bias per output "
            f"neuron, got {b.shape}"
        )
    return geometry


def locally_connected_shapes(
    x_shape: Sequence[int],
    num_filters: int,
    field_height: int,
    field_width: int,
    lc_param: dict[str, Any],
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Weight and bias shapes of a locally-connected layer on inputs of shape ``x_shape``.

    Args:
        x_shape: ``(N, C, H, W)``.
        num_filters: ``F``, filters per output position.
        field_height, field_width: ``HH``, ``WW``.
        lc_param: ``{'stride', 'pad'[, 'dilation']}``.

    Returns:
        ``(w_shape, b_shape)`` = ``((Ho, Wo, F, C, HH, WW), (Ho, Wo, F))``.
    """
    F = _validate.positive_int(num_filters, "num_filters")
    HH = _validate.positive_int(field_height, "field_height")
    WW = _validate.positive_int(field_width, "field_width")
    x_shape = _validate.shape(x_shape, "x_shape", 4, "(N, C, H, W)")
    C = x_shape[1]
    g = conv_output_shape(x_shape, (F, C, HH, WW), lc_param, what=_WHAT, param_name="lc_param")
    return (g.Ho, g.Wo, F, C, HH, WW), (g.Ho, g.Wo, F)


def locally_connected_param_count(
    input_shape: Sequence[int],
    num_filters: int,
    field: int | tuple[int, int],
    stride: int = 1,
    pad: int = 0,
    dilation: int = 1,
    bias: bool = True,
) -> int:
    """Number of parameters (weights plus biases) of a locally-connected layer.

    Every one of the ``Ho * Wo * F`` output neurons has its own ``C*HH*WW`` weights and (with
    ``bias``) one bias. Compare a convolutional layer: ``F * (C*HH*WW + 1)`` in total.

    Args:
        input_shape: ``(C, H, W)`` or ``(N, C, H, W)`` (channels first, like the arrays).
        num_filters: ``F``.
        field: ``HH`` (square) or ``(HH, WW)``.
        stride, pad, dilation: as for a convolution.
        bias: count one bias per output neuron.

    Returns:
        ``Ho * Wo * F * (C*HH*WW + bias)``; e.g. AlexNet conv1 without sharing
        (3×227×227 input, 96 filters 11×11, stride 4) has 55·55·96·364 = 105,705,600.
    """
    shape = _validate.shape(input_shape, "input_shape")
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4:
        raise ValueError(f"input_shape must be (C, H, W) or (N, C, H, W), got {input_shape}")
    if isinstance(field, tuple):
        if len(field) != 2:
            raise ValueError(f"field must be an int or (HH, WW), got {field!r}")
        HH, WW = field
    else:
        HH = WW = field
    w_shape, _ = locally_connected_shapes(
        shape, num_filters, HH, WW, {"stride": stride, "pad": pad, "dilation": dilation}
    )
    Ho, Wo, F, C, HH, WW = w_shape
    return Ho * Wo * F * (C * HH * WW + int(bool(bias)))


def conv_to_locally_connected(
    w: np.ndarray, b: np.ndarray, out_height: int, out_width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Copy one convolution filter bank to every output position (shared -> unshared).

    Args:
        w: conv filters ``(F, C, HH, WW)``.
        b: conv biases ``(F,)``.
        out_height, out_width: ``Ho``, ``Wo`` of the layer.

    Returns:
        ``(w_lc, b_lc)`` of shapes ``(Ho, Wo, F, C, HH, WW)`` and ``(Ho, Wo, F)``; a
        locally-connected layer with these weights computes the same output as the
        convolution.
    """
    _validate.array(w, "w", 4, "(F, C, HH, WW)")
    _validate.array(b, "b", 1, "(F,)")
    if b.shape != (w.shape[0],):
        raise ValueError(f"b must have shape (F,) = ({w.shape[0]},), got {b.shape}")
    Ho = _validate.positive_int(out_height, "out_height")
    Wo = _validate.positive_int(out_width, "out_width")
    w_lc = np.broadcast_to(w, (Ho, Wo, *w.shape)).copy()
    b_lc = np.broadcast_to(b, (Ho, Wo, b.shape[0])).copy()
    return w_lc, b_lc


def locally_connected_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, lc_param: dict[str, Any]
) -> tuple[np.ndarray, tuple]:
    """Forward pass of a locally-connected layer.

    Args:
        x: input ``(N, C, H, W)``.
        w: ``(Ho, Wo, F, C, HH, WW)``, one filter bank per output position.
        b: ``(Ho, Wo, F)``.
        lc_param: ``{'stride': S, 'pad': P[, 'dilation': d]}``.

    Returns:
        ``out`` ``(N, F, Ho, Wo)`` in the inputs' floating dtype, with
        ``out[n, f, i, j] = sum(window(n, i, j) * w[i, j, f]) + b[i, j, f]``, the window
        starting at row ``i*S``, column ``j*S`` of the zero-padded input; ``cache``
        ``(x, w, b, lc_param)``.

    Raises:
        ValueError: bad ranks or shapes, or a non-whole output size (as for a convolution).
    """
    stride, pad, dilation, Ho, Wo = _check_inputs(x, w, b, lc_param)
    dtype = result_dtype(x, w, b)
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape[2:]
    span_h, span_w = (HH - 1) * dilation + 1, (WW - 1) * dilation + 1
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dtype)
    xp[:, :, pad : pad + H, pad : pad + W] = x
    out = np.empty((N, F, Ho, Wo), dtype=dtype)
    for i in range(Ho):
        rows = slice(i * stride, i * stride + span_h, dilation)
        for j in range(Wo):
            cols = slice(j * stride, j * stride + span_w, dilation)
            window = xp[:, :, rows, cols].reshape(N, -1)  # (N, C*HH*WW)
            out[:, :, i, j] = window @ w[i, j].reshape(F, -1).T + b[i, j]
    return out, (x, w, b, lc_param)
    ### END SOLUTION


def locally_connected_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of a locally-connected layer.

    Args:
        dout: upstream gradient ``(N, F, Ho, Wo)``.
        cache: ``(x, w, b, lc_param)`` from :func:`locally_connected_forward`.

    Returns:
        ``dx`` ``(N, C, H, W)``, ``dw`` ``(Ho, Wo, F, C, HH, WW)``, ``db`` ``(Ho, Wo, F)``.
        Each weight is used at one position only, so ``dw[i, j]`` sums over the images but
        not over positions (contrast the convolution, where it sums over both).
    """
    check_conv_cache(cache, what=_WHAT)
    x, w, b, lc_param = cache
    stride, pad, dilation, Ho, Wo = _check_inputs(x, w, b, lc_param)
    check_dout(dout, (x.shape[0], w.shape[2], Ho, Wo), what=_WHAT)
    dtype = result_dtype(x, w, b)
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape[2:]
    span_h, span_w = (HH - 1) * dilation + 1, (WW - 1) * dilation + 1
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dtype)
    xp[:, :, pad : pad + H, pad : pad + W] = x
    dxp = np.zeros_like(xp)
    dw = np.empty(w.shape, dtype=dtype)
    db = np.empty(b.shape, dtype=dtype)
    for i in range(Ho):
        rows = slice(i * stride, i * stride + span_h, dilation)
        for j in range(Wo):
            cols = slice(j * stride, j * stride + span_w, dilation)
            g = dout[:, :, i, j].astype(dtype, copy=False)  # (N, F)
            window = xp[:, :, rows, cols].reshape(N, -1)  # (N, C*HH*WW)
            dw[i, j] = (g.T @ window).reshape(F, C, HH, WW)
            db[i, j] = g.sum(axis=0)
            dxp[:, :, rows, cols] += (g @ w[i, j].reshape(F, -1)).reshape(N, C, HH, WW)
    dx = dxp[:, :, pad : pad + H, pad : pad + W].copy()
    return dx, dw, db
    ### END SOLUTION
