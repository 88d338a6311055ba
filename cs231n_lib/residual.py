"""The residual basic block (残差块) of ResNet-18/34, forward and backward.

Main path: 3x3 conv (stride ``S``, pad 1, no bias) -> spatial batch norm -> ReLU -> 3x3 conv
(stride 1, pad 1, no bias) -> spatial batch norm. Shortcut (跳跃连接, skip connection): the
input itself (identity) when the block keeps the shape, or a 1x1 conv with stride ``S`` (no
bias) followed by batch norm (a projection) when the stride or the depth changes. The block
adds the two and applies a final ReLU::

    out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))

``skip=False`` gives the *plain* block with the same layers and no shortcut, for comparing a
deep plain network with its residual twin at equal depth.

Parameters (a dict): ``W1`` ``(F, C, 3, 3)``, ``gamma1``, ``beta1`` ``(F,)``, ``W2``
``(F, F, 3, 3)``, ``gamma2``, ``beta2`` ``(F,)``, and for a projection ``Wp`` ``(F, C, 1, 1)``,
``gammap``, ``betap`` ``(F,)``. Batch-norm settings: ``bn_params = {'bn1': {...}, 'bn2':
{...}[, 'bnp': {...}]}``, each a ``bn_param`` of :mod:`cs231n_lib.batchnorm`.

The library never floors an output size: with stride 2 the input side must be odd
(``(H + 2 - 3)/2 + 1`` whole), where PyTorch would round ``(8 - 1)/2 + 1 = 4.5`` down to 4.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cs231n_lib import _validate
from cs231n_lib.batchnorm import spatial_batchnorm_backward, spatial_batchnorm_forward
from cs231n_lib.conv_fast import conv_backward_fast, conv_forward_fast

_NOTEBOOK = "notebooks/09_modern_blocks.ipynb"

__all__ = [
    "needs_projection",
    "init_residual_block",
    "residual_block_forward",
    "residual_block_backward",
]

_MAIN = ("W1", "gamma1", "beta1", "W2", "gamma2", "beta2")
_PROJ = ("Wp", "gammap", "betap")


def needs_projection(C_in: int, C_out: int, stride: int = 1) -> bool:
    """True when the identity cannot be added: the stride or the depth changes."""
    C_in = _validate.positive_int(C_in, "C_in")
    C_out = _validate.positive_int(C_out, "C_out")
    stride = _validate.positive_int(stride, "stride")
    return stride != 1 or C_in != C_out


def init_residual_block(
    C_in: int,
    C_out: int,
    stride: int = 1,
    skip: bool = True,
    rng: np.random.Generator | None = None,
    dtype: Any = np.float64,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """He-initialised parameters (``gamma = 1``, ``beta = 0``) and fresh ``bn_params``.

    A projection is created exactly when :func:`needs_projection` says so (and ``skip``).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    F = _validate.positive_int(C_out, "C_out")
    C = _validate.positive_int(C_in, "C_in")
    params: dict[str, np.ndarray] = {
        "W1": rng.standard_normal((F, C, 3, 3)) * np.sqrt(2.0 / (C * 9)),
        "gamma1": np.ones(F), "beta1": np.zeros(F),
        "W2": rng.standard_normal((F, F, 3, 3)) * np.sqrt(2.0 / (F * 9)),
        "gamma2": np.ones(F), "beta2": np.zeros(F),
    }
    bn_params: dict[str, dict[str, Any]] = {"bn1": {"mode": "train"}, "bn2": {"mode": "train"}}
    if skip and needs_projection(C, F, stride):
        params.update({"Wp": rng.standard_normal((F, C, 1, 1)) * np.sqrt(2.0 / C),
                       "gammap": np.ones(F), "betap": np.zeros(F)})
        bn_params["bnp"] = {"mode": "train"}
    return {k: v.astype(dtype) for k, v in params.items()}, bn_params


def _check_block(
    x: Any, params: Any, bn_params: Any, stride: Any, skip: bool
) -> tuple[int, int, bool]:
    """Validate the block's arguments; return (F, stride, projection)."""
    _validate.array(x, "x", ndim=4, layout="(N, C, H, W)")
    N, C, H, W = x.shape
    stride = _validate.positive_int(stride, "stride")
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict, got {type(params).__name__}")
    missing = [k for k in _MAIN if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; a residual block needs {list(_MAIN)}")
    W1 = _validate.array(params["W1"], "params['W1']", ndim=4, layout="(F, C, 3, 3)")
    F = W1.shape[0]
    expected = {
        "W1": (F, C, 3, 3), "W2": (F, F, 3, 3),
        "gamma1": (F,), "beta1": (F,), "gamma2": (F,), "beta2": (F,),
    }
    has_proj = [k in params for k in _PROJ]
    if any(has_proj) and not all(has_proj):
        raise ValueError(f"params holds only part of the projection; it needs all of {list(_PROJ)}")
    projection = all(has_proj)
    if projection and not skip:
        raise ValueError("a plain block (skip=False) has no shortcut, so no projection "
                         f"parameters {list(_PROJ)}")
    if skip and not projection and (stride != 1 or F != C):
        raise ValueError(
            f"the identity shortcut adds x {(C, H, W)} to the main path's output, so it needs "
            f"stride 1 and depth C = F; here stride = {stride}, C = {C}, F = {F}: give a 1x1 "
            f"projection ({', '.join(_PROJ)})"
        )
    if projection:
        expected.update({"Wp": (F, C, 1, 1), "gammap": (F,), "betap": (F,)})
    unknown = sorted(set(params) - set(expected))
    if unknown:
        raise ValueError(f"params has unknown keys {unknown}; expected {sorted(expected)}")
    for key, shape in expected.items():
        value = _validate.array(params[key], f"params[{key!r}]")
        if value.shape != shape:
            raise ValueError(f"params[{key!r}] has shape {value.shape}, expected {shape}")
    for axis, size in (("height", H), ("width", W)):
        _validate.output_length(size, 3, stride, 1, what="residual block 3x3 conv", axis=axis)
    if not isinstance(bn_params, dict):
        raise ValueError(f"bn_params must be a dict, got {type(bn_params).__name__}")
    need = ["bn1", "bn2"] + (["bnp"] if projection else [])
    missing = [k for k in need if k not in bn_params]
    if missing:
        raise ValueError(f"bn_params is missing {missing}; this block needs {need}")
    return F, stride, projection


def residual_block_forward(
    x: np.ndarray,
    params: dict[str, np.ndarray],
    bn_params: dict[str, dict[str, Any]],
    stride: int = 1,
    skip: bool = True,
) -> tuple[np.ndarray, tuple]:
    """Forward pass of a residual basic block (or its plain twin with ``skip=False``).

    Args:
        x: input ``(N, C, H, W)``.
        params: see the module docstring; ``W1`` ``(F, C, 3, 3)`` sets the output depth F.
        bn_params: ``{'bn1', 'bn2'[, 'bnp']}`` batch-norm settings (mode, eps, momentum); the
            running averages are updated in them in training mode.
        stride: stride of the first 3x3 conv and of the projection.
        skip: False for a plain block (no shortcut).

    Returns:
        out: ``(N, F, H', W')`` with ``H' = (H - 1)/stride + 1``.
        cache: for :func:`residual_block_backward`.

    Raises:
        ValueError: wrong shapes, missing parameters or batch-norm settings, an identity
            shortcut whose shapes cannot be added (stride or depth changes without a
            projection), or a stride that does not tile the input.
    """
    F, stride, projection = _check_block(x, params, bn_params, stride, skip)
    ### BEGIN SOLUTION
    p = params
    zeros = np.zeros(F, dtype=p["W1"].dtype)
    h, c_conv1 = conv_forward_fast(x, p["W1"], zeros, {"stride": stride, "pad": 1})
    h, c_bn1 = spatial_batchnorm_forward(h, p["gamma1"], p["beta1"], bn_params["bn1"])
    mask1 = h > 0
    h = h * mask1
    h, c_conv2 = conv_forward_fast(h, p["W2"], zeros, {"stride": 1, "pad": 1})
    h, c_bn2 = spatial_batchnorm_forward(h, p["gamma2"], p["beta2"], bn_params["bn2"])
    c_proj = None
    if skip and projection:
        s, c_convp = conv_forward_fast(x, p["Wp"], zeros, {"stride": stride, "pad": 0})
        s, c_bnp = spatial_batchnorm_forward(s, p["gammap"], p["betap"], bn_params["bnp"])
        c_proj = (c_convp, c_bnp)
        h = h + s
    elif skip:
        h = h + x
    mask2 = h > 0
    out = h * mask2
    cache = (c_conv1, c_bn1, mask1, c_conv2, c_bn2, mask2, c_proj, skip)
    return out, cache
    ### END SOLUTION


def residual_block_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Backward pass of :func:`residual_block_forward`.

    Args:
        dout: upstream gradient, shape of the forward's ``out``.
        cache: from the forward pass.

    Returns:
        dx ``(N, C, H, W)`` (main path plus shortcut), and ``grads``: one array per key of
        the forward's ``params``, of the same shape.
    """
    if not isinstance(cache, tuple) or len(cache) != 8:
        raise ValueError("residual_block_backward: cache must be the 8-tuple returned by "
                         "residual_block_forward")
    mask2 = cache[5]
    _validate.array(dout, "dout", ndim=4, layout="(N, F, H', W')")
    if dout.shape != mask2.shape:
        raise ValueError(f"residual_block_backward: dout has shape {dout.shape}, expected "
                         f"{mask2.shape} (the forward's output)")
    ### BEGIN SOLUTION
    c_conv1, c_bn1, mask1, c_conv2, c_bn2, mask2, c_proj, skip = cache
    grads: dict[str, np.ndarray] = {}
    dh = dout * mask2
    dshort = dh
    d, grads["gamma2"], grads["beta2"] = spatial_batchnorm_backward(dh, c_bn2)
    d, grads["W2"], _ = conv_backward_fast(d, c_conv2)
    d = d * mask1
    d, grads["gamma1"], grads["beta1"] = spatial_batchnorm_backward(d, c_bn1)
    dx, grads["W1"], _ = conv_backward_fast(d, c_conv1)
    if c_proj is not None:
        c_convp, c_bnp = c_proj
        ds, grads["gammap"], grads["betap"] = spatial_batchnorm_backward(dshort, c_bnp)
        ds, grads["Wp"], _ = conv_backward_fast(ds, c_convp)
        dx = dx + ds
    elif skip:
        dx = dx + dshort
    return dx, grads
    ### END SOLUTION
