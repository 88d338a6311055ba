"""Loop implementations a learner might write, each with switchable mistakes.

This file is appended verbatim to a copy of a ``cs231n_lib`` module to build a mutant
submission, followed by a few lines that rebind the graded name (see ``catalogue.py``). So it
must stand alone: it imports only NumPy, defines only ``_mk_*`` names (never shadowing the
reference module's own), and has no ``from __future__`` import. With every switch at its
default each function is correct (the tests check that), so a mutant differs from the
reference by its one named mistake.
"""

import numpy as _mk_np


def _mk_span(field, dilation):
    return (field - 1) * dilation + 1


def _mk_pad(x, top, bottom, dtype):
    N, C, H, W = x.shape
    xp = _mk_np.zeros((N, C, H + top + bottom, W + top + bottom), dtype=dtype)
    xp[:, :, top:top + H, top:top + W] = x
    return xp


def _mk_dtype(*arrays):
    dt = _mk_np.result_type(*arrays)
    return dt if dt.kind == "f" else _mk_np.dtype(_mk_np.float64)


def _mk_conv_forward(x, w, b, conv_param, flip=False, bias=True, pad_mode="both",
                     size_plus_one=True, stride_mode="ok", dil_mode="ok", bias_order=False):
    """A correct loop convolution unless one of the switches is set."""
    S, P = conv_param["stride"], conv_param["pad"]
    d = conv_param.get("dilation", 1)
    dtype = _mk_dtype(x, w, b)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    step = {"ok": d, "gap": d + 1, "ignore": 1}[dil_mode]
    sh, sw = _mk_span(HH, step), _mk_span(WW, step)
    if pad_mode == "none":
        xp, P_used = _mk_pad(x, 0, 0, dtype), 0
    elif pad_mode == "top_left":
        xp, P_used = _mk_pad(x, 2 * P, 0, dtype), P
    else:
        xp, P_used = _mk_pad(x, P, P, dtype), P
    S_out = 1 if stride_mode == "one" else S
    Ho = (H + 2 * P_used - sh) // S_out + (1 if size_plus_one else 0)
    Wo = (W + 2 * P_used - sw) // S_out + (1 if size_plus_one else 0)
    ww = w[:, :, ::-1, ::-1] if flip else w
    bb = b[::-1] if bias_order else b
    out = _mk_np.zeros((N, F, Ho, Wo), dtype=dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    top, left = i * S_out, j * S_out
                    win = xp[n, :, top:top + sh:step, left:left + sw:step]
                    out[n, f, i, j] = _mk_np.sum(win * ww[f]) + (bb[f] if bias else 0)
    return out, (x, w, b, conv_param)


def _mk_conv_backward(dout, cache, db_mode="ok", dw_mode="ok", dx_mode="ok"):
    x, w, b, conv_param = cache[:4]
    S, P = conv_param["stride"], conv_param["pad"]
    d = conv_param.get("dilation", 1)
    dtype = _mk_dtype(x, w, b)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    sh, sw = _mk_span(HH, d), _mk_span(WW, d)
    xp = _mk_pad(x, P, P, dtype)
    dxp = _mk_np.zeros_like(xp)
    dw = _mk_np.zeros(w.shape, dtype=dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    rs = slice(i * S, i * S + sh, d)
                    cs = slice(j * S, j * S + sw, d)
                    g = dout[n, f, i, j]
                    if dx_mode == "flip":
                        dxp[n, :, rs, cs] += g * w[f, :, ::-1, ::-1]
                    elif dx_mode == "assign":
                        dxp[n, :, rs, cs] = g * w[f]
                    else:
                        dxp[n, :, rs, cs] += g * w[f]
                    if dw_mode == "assign":
                        dw[f] = g * xp[n, :, rs, cs]
                    elif dw_mode == "last_image":
                        if n == N - 1:
                            dw[f] += g * xp[n, :, rs, cs]
                    else:
                        dw[f] += g * xp[n, :, rs, cs]
    if db_mode == "first_image":
        db = dout[0].sum(axis=(1, 2)).astype(dtype)
    elif db_mode == "per_image":
        db = dout.sum(axis=(2, 3)).astype(dtype)
    else:
        db = dout.sum(axis=(0, 2, 3)).astype(dtype)
    dx = dxp if dx_mode == "nostrip" else dxp[:, :, P:P + H, P:P + W].copy()
    return dx, dw, db


def _mk_lc_forward(x, w, b, lc_param, shared=False, bias=True):
    S, P = lc_param["stride"], lc_param["pad"]
    dtype = _mk_dtype(x, w, b)
    N = x.shape[0]
    Ho, Wo, F, C, HH, WW = w.shape
    xp = _mk_pad(x, P, P, dtype)
    out = _mk_np.zeros((N, F, Ho, Wo), dtype=dtype)
    for i in range(Ho):
        for j in range(Wo):
            wij = w[0, 0] if shared else w[i, j]
            bij = b[0, 0] if shared else b[i, j]
            win = xp[:, :, i * S:i * S + HH, j * S:j * S + WW].reshape(N, -1)
            out[:, :, i, j] = win @ wij.reshape(F, -1).T + (bij if bias else 0)
    return out, (x, w, b, lc_param)


def _mk_lc_backward(dout, cache, dw_sum=False, db_first=False):
    x, w, b, lc_param = cache
    S, P = lc_param["stride"], lc_param["pad"]
    dtype = _mk_dtype(x, w, b)
    N, C, H, W = x.shape
    Ho, Wo, F, _, HH, WW = w.shape
    xp = _mk_pad(x, P, P, dtype)
    dxp = _mk_np.zeros_like(xp)
    dw = _mk_np.zeros(w.shape, dtype=dtype)
    db = _mk_np.zeros(b.shape, dtype=dtype)
    for i in range(Ho):
        for j in range(Wo):
            g = dout[:, :, i, j]
            win = xp[:, :, i * S:i * S + HH, j * S:j * S + WW].reshape(N, -1)
            dw[i, j] = (g.T @ win).reshape(F, C, HH, WW)
            db[i, j] = g[0] if db_first else g.sum(axis=0)
            dxp[:, :, i * S:i * S + HH, j * S:j * S + WW] += (
                g @ w[i, j].reshape(F, -1)).reshape(N, C, HH, WW)
    if dw_sum:
        dw = _mk_np.broadcast_to(dw.sum(axis=(0, 1)), w.shape).copy()
    return dxp[:, :, P:P + H, P:P + W].copy(), dw, db


def _mk_im2col(x, field_height, field_width, stride=1, pad=0, dilation=1, order="cij",
               use_pad=True):
    HH, WW, S, d = field_height, field_width, stride, dilation
    P = pad if use_pad else 0
    dtype = _mk_dtype(x)
    N, C, H, W = x.shape
    xp = _mk_pad(x, P, P, dtype)
    Ho = (H + 2 * P - _mk_span(HH, d)) // S + 1
    Wo = (W + 2 * P - _mk_span(WW, d)) // S + 1
    cols = _mk_np.zeros((C * HH * WW, N * Ho * Wo), dtype=dtype)
    for n in range(N):
        for oh in range(Ho):
            for ow in range(Wo):
                k = (n * Ho + oh) * Wo + ow
                win = xp[n, :, oh * S:oh * S + _mk_span(HH, d):d,
                         ow * S:ow * S + _mk_span(WW, d):d]
                if order == "ijc":
                    win = win.transpose(1, 2, 0)
                cols[:, k] = win.reshape(-1)
    return cols


def _mk_col2im(cols, x_shape, field_height, field_width, stride=1, pad=0, dilation=1,
               assign=False, strip=True):
    HH, WW, S, P, d = field_height, field_width, stride, pad, dilation
    N, C, H, W = x_shape
    Ho = (H + 2 * P - _mk_span(HH, d)) // S + 1
    Wo = (W + 2 * P - _mk_span(WW, d)) // S + 1
    xp = _mk_np.zeros((N, C, H + 2 * P, W + 2 * P), dtype=_mk_dtype(cols))
    for n in range(N):
        for oh in range(Ho):
            for ow in range(Wo):
                k = (n * Ho + oh) * Wo + ow
                patch = cols[:, k].reshape(C, HH, WW)
                rs = slice(oh * S, oh * S + _mk_span(HH, d), d)
                cs = slice(ow * S, ow * S + _mk_span(WW, d), d)
                if assign:
                    xp[n, :, rs, cs] = patch
                else:
                    xp[n, :, rs, cs] += patch
    return xp[:, :, P:P + H, P:P + W].copy() if strip else xp


def _mk_conv_forward_im2col(x, w, b, conv_param, bad_reshape=False):
    S, P = conv_param["stride"], conv_param["pad"]
    d = conv_param.get("dilation", 1)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho = (H + 2 * P - _mk_span(HH, d)) // S + 1
    Wo = (W + 2 * P - _mk_span(WW, d)) // S + 1
    cols = _mk_im2col(x, HH, WW, S, P, d)
    out = w.reshape(F, -1) @ cols + b[:, None]
    if bad_reshape:
        out = out.reshape(N, F, Ho, Wo)
    else:
        out = out.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3).copy()
    return out, (x, w, b, conv_param, cols)


def _mk_conv_backward_im2col(dout, cache, db_first=False, dw_order=False):
    x, w, b, conv_param, cols = cache
    S, P = conv_param["stride"], conv_param["pad"]
    d = conv_param.get("dilation", 1)
    F, C, HH, WW = w.shape
    dout_row = dout.transpose(1, 0, 2, 3).reshape(F, -1)
    db = dout[0].sum(axis=(1, 2)) if db_first else dout_row.sum(axis=1)
    dw = dout_row @ cols.T
    if dw_order:
        dw = dw.reshape(F, HH, WW, C).transpose(0, 3, 1, 2).copy()
    else:
        dw = dw.reshape(w.shape)
    dx = _mk_col2im(w.reshape(F, -1).T @ dout_row, x.shape, HH, WW, S, P, d)
    return dx, dw, db


def _mk_pool_forward(x, pool_param, kind="max", stride_mode="ok", count="ok"):
    HH, WW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    S_used = 1 if stride_mode == "one" else S
    Ho, Wo = (H - HH) // S_used + 1, (W - WW) // S_used + 1
    out = _mk_np.zeros((N, C, Ho, Wo), dtype=_mk_dtype(x))
    div = {"ok": HH * WW, "height": HH, "none": 1}[count]
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    win = x[n, c, i * S_used:i * S_used + HH, j * S_used:j * S_used + WW]
                    out[n, c, i, j] = win.max() if kind == "max" else win.sum() / div
    return out, (x, pool_param)


def _mk_max_pool_backward(dout, cache, rule="first", assign=False):
    x, pool_param = cache
    HH, WW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, Ho, Wo = dout.shape
    dx = _mk_np.zeros(x.shape, dtype=_mk_dtype(x))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    r, s = i * S, j * S
                    win = x[n, c, r:r + HH, s:s + WW]
                    g = dout[n, c, i, j]
                    if rule in ("all", "split"):  # every tied maximum; or shares of g
                        ties = win == win.max()
                        share = ties.sum() if rule == "split" else 1
                        dx[n, c, r:r + HH, s:s + WW] += g * ties / share
                        continue
                    if rule == "elem0":
                        a, bb = 0, 0
                    elif rule == "last":
                        flat = _mk_np.flatnonzero(win.ravel() == win.max())
                        a, bb = divmod(int(flat[-1]), WW)
                    else:
                        a, bb = divmod(int(_mk_np.argmax(win)), WW)
                    if assign:
                        dx[n, c, r + a, s + bb] = g
                    else:
                        dx[n, c, r + a, s + bb] += g
    return dx


def _mk_avg_pool_backward(dout, cache, count="ok", assign=False):
    x, pool_param = cache
    HH, WW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, Ho, Wo = dout.shape
    div = {"ok": HH * WW, "none": 1, "stride": S * S}[count]
    dx = _mk_np.zeros(x.shape, dtype=_mk_dtype(x))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    sl = (n, c, slice(i * S, i * S + HH), slice(j * S, j * S + WW))
                    if assign:
                        dx[sl] = dout[n, c, i, j] / div
                    else:
                        dx[sl] += dout[n, c, i, j] / div
    return dx


def _mk_convnet_loss(model, X, y=None, relu_scores=False, reg_mode="ok"):
    """ThreeLayerConvNet.loss, vectorised, with optional mistakes."""
    p = model.params
    W1, b1, W2, b2, W3, b3 = (p[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    F, C, HH, WW = W1.shape
    pad = (HH - 1) // 2
    X = X.astype(model.dtype, copy=False)
    conv, _ = _mk_conv_forward_im2col(X, W1, b1, {"stride": 1, "pad": pad})
    r1 = _mk_np.maximum(conv, 0)
    N, _, H, W = r1.shape
    win = r1.reshape(N, F, H // 2, 2, W // 2, 2)
    pooled = win.max(axis=(3, 5))
    flat = pooled.reshape(N, -1)
    h = flat @ W2 + b2
    r2 = _mk_np.maximum(h, 0)
    scores = r2 @ W3 + b3
    if relu_scores:
        scores = _mk_np.maximum(scores, 0)
    if y is None:
        return scores
    shifted = scores - scores.max(axis=1, keepdims=True)
    logp = shifted - _mk_np.log(_mk_np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -logp[_mk_np.arange(N), y].mean()
    dscores = _mk_np.exp(logp)
    dscores[_mk_np.arange(N), y] -= 1
    dscores /= N
    if relu_scores:
        dscores = dscores * (scores > 0)
    reg = 0.0 if reg_mode == "none" else model.reg
    half = 1.0 if reg_mode == "no_half" else 0.5
    loss += half * reg * sum(float(_mk_np.sum(Wk * Wk)) for Wk in (W1, W2, W3))
    grads = {"W3": r2.T @ dscores, "b3": dscores.sum(axis=0)}
    dh = (dscores @ W3.T) * (h > 0)
    grads["W2"] = flat.T @ dh
    grads["b2"] = dh.sum(axis=0)
    dpooled = (dh @ W2.T).reshape(pooled.shape)
    # route to the first maximum of each 2x2 window (row-major)
    w4 = win.transpose(0, 1, 2, 4, 3, 5).reshape(N, F, H // 2, W // 2, 4)
    arg = w4.argmax(axis=-1)
    d4 = _mk_np.zeros_like(w4)
    _mk_np.put_along_axis(d4, arg[..., None], dpooled[..., None], axis=-1)
    dr1 = d4.reshape(N, F, H // 2, W // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(r1.shape)
    dconv = dr1 * (conv > 0)
    _, grads["W1"], grads["b1"] = _mk_conv_backward_im2col(
        dconv, (X, W1, b1, {"stride": 1, "pad": pad},
                _mk_im2col(X, HH, WW, 1, pad, 1)))
    if reg_mode != "no_grad":
        for k, Wk in (("W1", W1), ("W2", W2), ("W3", W3)):
            grads[k] = grads[k] + reg * Wk
    return loss, grads
