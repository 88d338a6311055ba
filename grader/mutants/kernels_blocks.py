"""Notebook 09's blocks as a learner might write them, each with switchable mistakes.

Like ``kernels.py``: appended verbatim to a copy of a ``cs231n_lib`` module to build a mutant
submission (then a binding rebinds the graded name), and imported as a module by the trusted
side (:mod:`grader.mutants.mistakes`) to compute each known mistake's outputs on a case. It
imports only NumPy (and the provided fast convolution, inside the residual kernels), defines
only ``_mkb_*`` names and has no ``from __future__`` import. With every switch at its default
each function is correct (the tests check that).

The forward kernels take every switch, also those of the backward, and keep them in the
cache, so one set of switches (a :class:`grader.checks.blocks.Mistake`) describes a mistake
for both the forward-only and the forward-backward recipes.
"""

import numpy as _mkb_np


def _mkb_dtype(x):
    dt = _mkb_np.asarray(x).dtype
    return dt if dt.kind == "f" else _mkb_np.dtype(_mkb_np.float64)


def _mkb_bn_forward(x, gamma, beta, bn_param, axes="nhw", update="ok", test_stats="running",
                    bwd="ok"):
    """Spatial batch norm (CS231n signature) unless a switch is set.

    axes: "nhw" (right), "n" (vanilla batch norm: per (c, h, w)), "hw" (per image).
    update: "ok", "none" (running averages never updated), "swapped" (momentum weights the
        new value: PyTorch's convention with CS231n's 0.9).
    test_stats: "running" (right) or "batch" (test mode normalises with the batch's own).
    bwd: "ok", "no_stats" (train-mode dx ignores the paths through mean and variance) or
        "always_stats" (test-mode dx also takes those paths, as if the statistics moved).
    """
    dtype = _mkb_dtype(x)
    xf = _mkb_np.asarray(x).astype(dtype)
    N, C, H, W = xf.shape
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    red = {"nhw": (0, 2, 3), "n": (0,), "hw": (2, 3)}[axes]
    if mode == "train" or test_stats == "batch":
        mean = xf.mean(axis=red, keepdims=True)
        var = xf.var(axis=red, keepdims=True)
    else:
        mean = bn_param["running_mean"].reshape(1, C, 1, 1)
        var = bn_param["running_var"].reshape(1, C, 1, 1)
    if mode == "train":
        if axes == "n":  # kept with the shape the learner computed: (C, H, W)
            m_c, v_c = mean[0], var[0]
        else:  # per channel (for "hw": the mean over the images of per-image statistics)
            m_c, v_c = mean.reshape(-1, C).mean(axis=0), var.reshape(-1, C).mean(axis=0)
        rm = bn_param.get("running_mean", _mkb_np.zeros(C, dtype=dtype))
        rv = bn_param.get("running_var", _mkb_np.ones(C, dtype=dtype))
        if update == "ok":
            bn_param["running_mean"] = momentum * rm + (1 - momentum) * m_c
            bn_param["running_var"] = momentum * rv + (1 - momentum) * v_c
        elif update == "swapped":
            bn_param["running_mean"] = (1 - momentum) * rm + momentum * m_c
            bn_param["running_var"] = (1 - momentum) * rv + momentum * v_c
        else:
            bn_param["running_mean"], bn_param["running_var"] = rm, rv
    inv_std = 1.0 / _mkb_np.sqrt(var + eps)
    x_hat = (xf - mean) * inv_std
    out = gamma.reshape(1, C, 1, 1) * x_hat + beta.reshape(1, C, 1, 1)
    stats_fixed = mode == "test" and test_stats == "running"
    fixed = (stats_fixed and bwd != "always_stats") or bwd == "no_stats"
    cache = (x_hat, gamma, inv_std, fixed, red)
    return out.astype(dtype), cache


def _mkb_bn_backward(dout, cache):
    x_hat, gamma, inv_std, fixed, red = cache
    C = x_hat.shape[1]
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3))
    dx_hat = dout * gamma.reshape(1, C, 1, 1)
    if fixed:
        dx = dx_hat * inv_std
    else:
        dx = inv_std * (dx_hat - dx_hat.mean(axis=red, keepdims=True)
                        - x_hat * (dx_hat * x_hat).mean(axis=red, keepdims=True))
    dt = x_hat.dtype
    return dx.astype(dt), dgamma.astype(dt), dbeta.astype(dt)


def _mkb_residual_forward(x, params, bn_params, stride=1, skip=True, skip_after_relu=False,
                          shortcut="ok", bwd="ok"):
    """The basic block (conv-BN-ReLU-conv-BN + shortcut, ReLU) unless a switch is set.

    skip_after_relu: out = relu(main) + shortcut instead of relu(main + shortcut).
    shortcut: "ok" or "subsample" (projection only when the depth changes; on a stride
        change the identity is subsampled x[:, :, ::S, ::S] and Wp is never used).
    bwd: "ok" or "no_shortcut" (dx forgets the shortcut's gradient).
    """
    from cs231n_lib.conv_fast import conv_forward_fast as _cf

    p = params
    F = p["W1"].shape[0]
    C = x.shape[1]
    zeros = _mkb_np.zeros(F, dtype=p["W1"].dtype)
    h, c1 = _cf(x, p["W1"], zeros, {"stride": stride, "pad": 1})
    h, b1 = _mkb_bn_forward(h, p["gamma1"], p["beta1"], bn_params["bn1"])
    m1 = h > 0
    h = h * m1
    h, c2 = _cf(h, p["W2"], zeros, {"stride": 1, "pad": 1})
    h, b2 = _mkb_bn_forward(h, p["gamma2"], p["beta2"], bn_params["bn2"])
    proj = None
    s = None
    if skip:
        if "Wp" in p and (shortcut == "ok" or C != F):
            s, cp = _cf(x, p["Wp"], zeros, {"stride": stride, "pad": 0})
            s, bp = _mkb_bn_forward(s, p["gammap"], p["betap"], bn_params["bnp"])
            proj = (cp, bp)
        else:
            s = x[:, :, ::stride, ::stride]
    if skip and not skip_after_relu:
        h = h + s
    m2 = h > 0
    out = h * m2
    if skip and skip_after_relu:
        out = out + s
    cache = (c1, b1, m1, c2, b2, m2, proj, skip, stride, skip_after_relu, bwd, x.shape)
    return out, cache


def _mkb_residual_backward(dout, cache):
    from cs231n_lib.conv_fast import conv_backward_fast as _cb

    c1, b1, m1, c2, b2, m2, proj, skip, stride, after, bwd, x_shape = cache
    grads = {}
    dh = dout * m2
    dshort = dout if after else dh
    d, grads["gamma2"], grads["beta2"] = _mkb_bn_backward(dh, b2)
    d, grads["W2"], _ = _cb(d, c2)
    d = d * m1
    d, grads["gamma1"], grads["beta1"] = _mkb_bn_backward(d, b1)
    dx, grads["W1"], _ = _cb(d, c1)
    if skip and bwd == "ok":
        if proj is not None:
            ds, grads["gammap"], grads["betap"] = _mkb_bn_backward(dshort, proj[1])
            ds, grads["Wp"], _ = _cb(ds, proj[0])
            dx = dx + ds
        else:
            full = _mkb_np.zeros(x_shape, dtype=dx.dtype)
            full[:, :, ::stride, ::stride] = dshort
            dx = dx + full
    elif skip and proj is not None:  # the projection's weights still get their gradients
        ds, grads["gammap"], grads["betap"] = _mkb_bn_backward(dshort, proj[1])
        _, grads["Wp"], _ = _cb(ds, proj[0])
    return dx, grads


def _mkb_gap_forward(x, reduce="mean", divide=True):
    """Global average pooling; reduce="sum" forgets to divide by H*W in the forward,
    divide=False in the backward."""
    dtype = _mkb_dtype(x)
    xf = _mkb_np.asarray(x).astype(dtype)
    out = xf.sum(axis=(2, 3)) if reduce == "sum" else xf.mean(axis=(2, 3))
    return out.astype(dtype), (x.shape, divide)


def _mkb_gap_backward(dout, cache):
    (N, C, H, W), divide = cache
    g = dout[:, :, None, None] / (H * W if divide else 1)
    return _mkb_np.ascontiguousarray(_mkb_np.broadcast_to(g, (N, C, H, W)), dtype=dout.dtype)
