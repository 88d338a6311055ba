"""Loop-free kernels of the small families, each with switchable mistakes: the output size, the
perceptron, FC -> conv, and the layers of notebook 08 (affine, ReLU, softmax).

Like ``kernels.py`` (see its docstring) this file is appended verbatim to a copy of a
``cs231n_lib`` module to build a mutant submission: it imports only NumPy, defines only
``_mk_*`` names, and every function is correct with its switches at their defaults.
"""

import numpy as _mk_np


def _mk_conv_output_size(W, F, S=1, P=0, dilation=1, mode="ok"):
    span = (F - 1) * dilation + 1
    if mode == "no_dilation":
        span = F
    elif mode == "dilation_gap":
        span = (F - 1) * (dilation + 1) + 1
    pad = P if mode == "one_pad" else 2 * P
    steps = W + pad - span
    if mode != "floor" and steps % S:
        raise ValueError(f"({W} + 2*{P} - {span})/{S} + 1 is not a whole number")
    return steps // S + 1


def _mk_predict(w, b, X, mode="ok"):
    s = X @ w + (0 if mode == "no_bias" else b)
    if mode == "pm1":
        return _mk_np.where(s > 0, 1, -1)
    return (s > 0).astype(_mk_np.int64)


def _mk_update(w, b, x, d, lr, mode="ok"):
    y = 1 if float(x @ w) + b > 0 else 0
    err = d - y
    if mode == "always":
        err = 1 if d == 1 else -1
    if mode == "sign":
        err = -err
    w_new = w + lr * err * x
    b_new = b if mode == "no_bias" else b + lr * err
    return w_new.astype(_mk_np.float64), float(b_new)


def _mk_fc_to_conv(w, b, input_shape, mode="ok"):
    C, H, W = input_shape
    K = w.shape[1]
    if mode == "no_transpose":
        return w.reshape(K, C, H, W).copy(), b.copy()
    if mode == "hwc":
        return w.T.reshape(K, H, W, C).transpose(0, 3, 1, 2).copy(), b.copy()
    return w.T.reshape(K, C, H, W).copy(), b.copy()


def _mk_affine_forward(x, w, b, bwd="ok"):
    """``bwd``: the mistake of the backward pass, carried in the cache."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b, bwd)


def _mk_affine_backward(dout, cache, mode=None):
    x, w, b, bwd = cache
    mode = mode or bwd
    x2 = x.reshape(x.shape[0], -1)
    dx = dout @ w.T
    if mode != "dx_flat":
        dx = dx.reshape(x.shape)
    db = dout[0].copy() if mode == "db_first" else dout.sum(axis=0)
    return dx, x2.T @ dout, db


def _mk_relu_forward(x, bwd="ok"):
    """``bwd``: the mistake of the backward pass, carried in the cache."""
    return _mk_np.maximum(x, 0), (x, bwd)


def _mk_relu_backward(dout, cache, mode=None):
    x, bwd = cache
    mode = mode or bwd
    if mode == "ge":
        return dout * (x >= 0)
    if mode == "dout_mask":
        return dout * (dout > 0)
    return dout * (x > 0)


def _mk_softmax_loss(x, y, mode="ok"):
    N = x.shape[0]
    z = x if mode == "no_shift" else x - x.max(axis=1, keepdims=True)
    logp = z - _mk_np.log(_mk_np.exp(z).sum(axis=1, keepdims=True))  # no log(0) on big scores
    loss = -logp[_mk_np.arange(N), y].sum()
    dx = _mk_np.exp(logp)
    dx[_mk_np.arange(N), y] -= 1
    if mode != "no_mean":
        loss, dx = loss / N, dx / N
    return float(loss), dx
