"""Spatial batch normalisation (批量归一化) for convolutional volumes, CS231n signatures.

For an input ``x`` of shape ``(N, C, H, W)`` every channel ``c`` is normalised with the mean
and variance of its ``N * H * W`` values in the minibatch, then scaled and shifted by learned
``gamma[c]`` and ``beta[c]``::

    mu_c  = mean over n, h, w of x[n, c, h, w]
    var_c = mean over n, h, w of (x[n, c, h, w] - mu_c) ** 2      (biased: divides by N*H*W)
    out   = gamma_c * (x - mu_c) / sqrt(var_c + eps) + beta_c

``bn_param`` is the CS231n dict ``{'mode': 'train' | 'test', 'eps': 1e-5, 'momentum': 0.9}``.
In training mode the function also updates the running averages it stores in ``bn_param``::

    running_mean = momentum * running_mean + (1 - momentum) * mu
    running_var  = momentum * running_var  + (1 - momentum) * var

They start at 0 (mean) and 1 (variance) the first time training mode sees ``bn_param``.
Test mode normalises with those running averages instead of the batch's statistics, so one
image's output does not depend on the other images of its batch. The running averages are
estimated during training, not learned by gradient descent; only ``gamma`` and ``beta`` are.

PyTorch's ``BatchNorm2d(momentum=m)`` weights the *new* value by ``m`` (so CS231n's 0.9 is
PyTorch's 0.1) and stores the unbiased variance ``var * M / (M - 1)`` with ``M = N*H*W`` in
its running average; the normalisation itself uses the biased variance in both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cs231n_lib import _validate

_NOTEBOOK = "notebooks/09_modern_blocks.ipynb"

__all__ = ["spatial_batchnorm_forward", "spatial_batchnorm_backward", "check_bn_param"]

_MODES = ("train", "test")


def check_bn_param(bn_param: Any, C: int) -> dict[str, Any]:
    """Validate ``bn_param`` in place-compatible form and return its settings.

    Returns a dict with ``mode``, ``eps``, ``momentum`` and, when ``bn_param`` holds them,
    ``running_mean`` / ``running_var`` (each of shape ``(C,)``).

    Raises:
        ValueError: not a dict, a missing or unknown ``mode``, ``eps <= 0``, a momentum outside
            ``[0, 1)``, or running statistics of the wrong shape / a negative running variance.
    """
    if not isinstance(bn_param, dict):
        raise ValueError(f"bn_param must be a dict, got {type(bn_param).__name__}")
    allowed = {"mode", "eps", "momentum", "running_mean", "running_var"}
    unknown = sorted(set(bn_param) - allowed)
    if unknown:
        raise ValueError(f"bn_param has unknown keys {unknown}; allowed keys are {sorted(allowed)}")
    mode = bn_param.get("mode")
    if mode not in _MODES:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    eps = _validate.positive_real(bn_param.get("eps", 1e-5), "bn_param['eps']")
    momentum = bn_param.get("momentum", 0.9)
    if isinstance(momentum, bool) or not isinstance(momentum, int | float | np.floating):
        raise ValueError(f"bn_param['momentum'] must be a number, got {momentum!r}")
    if not 0 <= momentum < 1:
        raise ValueError(
            f"bn_param['momentum'] must satisfy 0 <= momentum < 1 (the weight kept by the "
            f"running average), got {momentum}"
        )
    out: dict[str, Any] = {"mode": mode, "eps": eps, "momentum": float(momentum)}
    has = [k in bn_param for k in ("running_mean", "running_var")]
    if any(has) and not all(has):
        raise ValueError("bn_param must hold both running_mean and running_var, or neither")
    if all(has):
        for key in ("running_mean", "running_var"):
            value = _validate.array(bn_param[key], f"bn_param[{key!r}]", ndim=1, layout="(C,)")
            if value.shape[0] != C:
                raise ValueError(
                    f"bn_param[{key!r}] has {value.shape[0]} entries but x has C = {C} channels"
                )
            out[key] = value
        if np.any(out["running_var"] < 0):
            raise ValueError("bn_param['running_var'] holds a negative variance")
    elif mode == "test":
        raise ValueError(
            "test mode normalises with bn_param['running_mean'] and ['running_var'], which "
            "training mode estimates; run at least one forward pass with mode 'train' first"
        )
    return out


def _check_x_gamma_beta(x: Any, gamma: Any, beta: Any) -> None:
    _validate.array(x, "x", ndim=4, layout="(N, C, H, W)")
    C = x.shape[1]
    for name, v in (("gamma", gamma), ("beta", beta)):
        _validate.array(v, name, ndim=1, layout="(C,)")
        if v.shape[0] != C:
            raise ValueError(
                f"{name} has {v.shape[0]} entries but x has C = {C} channels; "
                f"batch norm learns one {name} per channel"
            )


def spatial_batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]
) -> tuple[np.ndarray, tuple]:
    """Forward pass of spatial batch normalisation.

    Args:
        x: input ``(N, C, H, W)``.
        gamma: scale ``(C,)``.
        beta: shift ``(C,)``.
        bn_param: ``{'mode': 'train' | 'test', 'eps': 1e-5, 'momentum': 0.9}``; training mode
            adds or updates ``running_mean`` and ``running_var`` (each ``(C,)``) in it.

    Returns:
        out: ``(N, C, H, W)`` in the floating dtype of ``x`` (float64 for integer input).
        cache: ``(x_hat, gamma, inv_std, mode)`` for :func:`spatial_batchnorm_backward`, where
            ``x_hat = (x - mean) * inv_std`` ``(N, C, H, W)`` and ``inv_std`` ``(C,)``.

    Raises:
        ValueError: ``x`` not 4-D, ``gamma`` / ``beta`` not one per channel, a bad
            ``bn_param`` (see :func:`check_bn_param`), or fewer than 2 values per channel in
            training mode (the variance of one value is 0: nothing to normalise).
    """
    _check_x_gamma_beta(x, gamma, beta)
    N, C, H, W = x.shape
    cfg = check_bn_param(bn_param, C)
    if cfg["mode"] == "train" and N * H * W < 2:
        raise ValueError(
            f"training mode needs N*H*W >= 2 values per channel to estimate a variance, "
            f"got N*H*W = {N * H * W}"
        )
    dtype = _validate.result_dtype(x)
    ### BEGIN SOLUTION
    xf = x.astype(dtype, copy=False)
    eps, momentum = cfg["eps"], cfg["momentum"]
    if cfg["mode"] == "train":
        mean = xf.mean(axis=(0, 2, 3))
        var = xf.var(axis=(0, 2, 3))
        running_mean = cfg.get("running_mean", np.zeros(C, dtype=dtype))
        running_var = cfg.get("running_var", np.ones(C, dtype=dtype))
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = cfg["running_mean"], cfg["running_var"]
    inv_std = (1.0 / np.sqrt(var + eps)).astype(dtype)
    x_hat = (xf - mean.reshape(1, C, 1, 1)) * inv_std.reshape(1, C, 1, 1)
    out = gamma.reshape(1, C, 1, 1) * x_hat + beta.reshape(1, C, 1, 1)
    cache = (x_hat, gamma, inv_std, cfg["mode"])
    return out.astype(dtype, copy=False), cache
    ### END SOLUTION


def spatial_batchnorm_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of spatial batch normalisation.

    Args:
        dout: upstream gradient ``(N, C, H, W)``.
        cache: from :func:`spatial_batchnorm_forward`.

    Returns:
        dx ``(N, C, H, W)``, dgamma ``(C,)``, dbeta ``(C,)``. In training mode ``dx`` includes
        the paths through the batch mean and variance (every value of a channel moves its
        statistics); in test mode the statistics are constants and ``dx = dout * gamma *
        inv_std``.

    Raises:
        ValueError: a cache that is not the forward's, or ``dout`` of another shape.
    """
    if not isinstance(cache, tuple) or len(cache) != 4:
        raise ValueError(
            "spatial_batchnorm_backward: cache must be the 4-tuple returned by "
            f"spatial_batchnorm_forward, got {type(cache).__name__}"
        )
    x_hat, gamma, inv_std, mode = cache
    _validate.array(dout, "dout", ndim=4, layout="(N, C, H, W)")
    if dout.shape != x_hat.shape:
        raise ValueError(
            f"spatial_batchnorm_backward: dout has shape {dout.shape} but the forward's output "
            f"had shape {x_hat.shape}"
        )
    ### BEGIN SOLUTION
    C = x_hat.shape[1]
    axes = (0, 2, 3)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    dx_hat = dout * gamma.reshape(1, C, 1, 1)
    scale = inv_std.reshape(1, C, 1, 1)
    if mode == "test":
        dx = dx_hat * scale
    else:
        # d/dx of (x - mean) / std with mean and std depending on every value of the channel:
        # dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))
        dx = scale * (
            dx_hat
            - dx_hat.mean(axis=axes, keepdims=True)
            - x_hat * (dx_hat * x_hat).mean(axis=axes, keepdims=True)
        )
    dtype = x_hat.dtype
    return dx.astype(dtype, copy=False), dgamma.astype(dtype), dbeta.astype(dtype)
    ### END SOLUTION
