"""What known mistakes would output, computed from a case's inputs: instructor only.

These NumPy helpers (a loop convolution, im2col, pooling windows, ...) used to live in the
shipped ``grader/checks/compare.py``, where a learner could call a correct convolution. Here
they run on the trusted side only: :func:`outputs` gives one named mistake of
:data:`grader.checks.mistakes.MISTAKES` on one case; the release stores the results for the
visible cases and the trusted grader computes them for the hidden ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cs231n_lib._validate import output_length
from grader.checks.cases import Case, conv_shape, recipe_digest
from grader.mutants import kernels


def _conv_input(case: Case):
    x, w, b, cp = case.recipe["args"]
    return (np.asarray(x, np.float64), np.asarray(w, np.float64), np.asarray(b, np.float64),
            int(cp["stride"]), int(cp["pad"]), int(cp.get("dilation", 1)))


def _pad(x: np.ndarray, p: int) -> np.ndarray:
    return np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p, p), (p, p)))


def _conv(x, w, b, stride, pad, dil=1, Ho=None, Wo=None, *, flip=False, xpad=None):
    """Cross-correlation (the conv layer) of ``x`` with ``w``; optional flip / forced size."""
    xp = _pad(x, pad) if xpad is None else xpad
    w = np.asarray(w, dtype=np.float64)
    if flip:
        w = w[:, :, ::-1, ::-1]
    F, C, HH, WW = w.shape
    if Ho is None:
        Ho = (xp.shape[2] - (HH - 1) * dil - 1) // stride + 1
        Wo = (xp.shape[3] - (WW - 1) * dil - 1) // stride + 1
    if (Ho - 1) * stride + (HH - 1) * dil >= xp.shape[2] or (
            (Wo - 1) * stride + (WW - 1) * dil >= xp.shape[3]) or Ho < 1 or Wo < 1:
        return None
    out = np.zeros((x.shape[0], F, Ho, Wo))
    for i in range(HH):
        for j in range(WW):
            patch = xp[:, :, i * dil: i * dil + (Ho - 1) * stride + 1: stride,
                       j * dil: j * dil + (Wo - 1) * stride + 1: stride]
            out += np.einsum("nchw,fc->nfhw", patch, w[:, :, i, j])
    if b is not None:
        out += np.asarray(b, dtype=np.float64)[None, :, None, None]
    return out


def _conv_backward_alts(case: Case) -> dict[str, dict[str, np.ndarray]]:
    """dx/dw/db of typical wrong backward passes: the mutant kernel's loop with its switches,
    and the db slips (one line each)."""
    x, w, b, S, P, d = _conv_input(case)
    dout = np.asarray(case.recipe["dout"], np.float64)
    cache = (x, w, b, {"stride": S, "pad": P, "dilation": d})

    def grads(**switches: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return kernels._mk_conv_backward(dout, cache, **switches)

    return {
        "dx_flip": {"dx": grads(dx_mode="flip")[0]},
        "dx_assign": {"dx": grads(dx_mode="assign")[0]},
        "dw_assign": {"dw": grads(dw_mode="assign")[1]},
        "dw_last_n": {"dw": grads(dw_mode="last_image")[1]},
        "db_first": {"db": dout[0].sum(axis=(1, 2))},
        "db_last": {"db": dout[-1].sum(axis=(1, 2))},
        "db_mean": {"db": dout.sum(axis=(0, 2, 3)) / len(dout)},
        "db_zero": {"db": np.zeros(w.shape[0])},
    }


def _im2col_alt(x, HH, WW, S, P, d, order="cij", col="nhw"):
    xp = _pad(np.asarray(x, np.float64), P)
    N, C = xp.shape[:2]
    Ho = output_length(xp.shape[2], HH, S, 0, d)
    Wo = output_length(xp.shape[3], WW, S, 0, d)
    t = np.empty((C, HH, WW, N, Ho, Wo))
    for i in range(HH):
        for j in range(WW):
            t[:, i, j] = xp[:, :, i * d: i * d + (Ho - 1) * S + 1: S,
                            j * d: j * d + (Wo - 1) * S + 1: S].transpose(1, 0, 2, 3)
    rows = {"cij": (0, 1, 2), "ijc": (1, 2, 0), "cji": (0, 2, 1)}[order]
    cols = {"nhw": (3, 4, 5), "hwn": (4, 5, 3)}[col]
    return t.transpose(*rows, *cols).reshape(C * HH * WW, N * Ho * Wo)


def _pool_alts(case: Case, mode: str) -> dict[str, np.ndarray]:
    """dx of each pooling-backward slip, from the mutant kernels (one window loop for both)."""
    if "dout" not in case.recipe:
        return {}
    x, pp = case.recipe["args"]
    cache = (np.asarray(x, np.float64), pp)
    dout = np.asarray(case.recipe["dout"], np.float64)
    if mode == "max":
        switches = {"all_ties": {"rule": "all"}, "split": {"rule": "split"},
                    "first_elem": {"rule": "elem0"}, "last_max": {"rule": "last"},
                    "assign": {"assign": True}}
        return {k: kernels._mk_max_pool_backward(dout, cache, **sw) for k, sw in switches.items()}
    switches = {"assign": {"assign": True}, "no_divide": {"count": "none"}}
    return {k: kernels._mk_avg_pool_backward(dout, cache, **sw) for k, sw in switches.items()}


# ------------------------------------------------------------------------------------------
# per family: {mistake name: outputs} on one case
# ------------------------------------------------------------------------------------------


def _conv_forward(case: Case) -> dict[str, dict[str, np.ndarray]]:
    """At the right output size (the stub computes Ho, Wo): what each slip gives."""
    x, w, b, S, P, d = _conv_input(case)
    _, _, Ho, Wo = conv_shape(case.params)
    tries: dict[str, Callable[[], np.ndarray | None]] = {
        "alt_conv_flipped": lambda: _conv(x, w, b, S, P, d, flip=True),
        "alt_conv_no_bias": lambda: _conv(x, w, None, S, P, d),
        "alt_conv_stride_one": lambda: _conv(x, w, b, 1, P, d, Ho, Wo),
        "alt_conv_stride_plus_one": lambda: _conv(x, w, b, S + 1, P, d, Ho, Wo),
        "alt_conv_dilation_ignored": lambda: _conv(x, w, b, S, P, 1, Ho, Wo),
        "alt_conv_dilation_gap": lambda: _conv(x, w, b, S, P, d + 1, Ho, Wo,
                                               xpad=_pad(x, P + 2)[:, :, 2:, 2:]),
        "alt_conv_pad_one_side": lambda: _conv(x, w, b, S, 0, d, Ho, Wo,
                                               xpad=_pad(x, P)[:, :, P:, P:]),
        "alt_conv_pad_top_left": lambda: _conv(x, w, b, S, 0, d, Ho, Wo,
                                               xpad=_pad(x, 2 * P)[:, :, :-2 * P, :-2 * P]),
        "alt_conv_filter_transposed": lambda: _conv(x, w.transpose(0, 1, 3, 2), b, S, P, d),
        "alt_conv_bias_reversed": lambda: _conv(x, w, b[::-1].copy(), S, P, d),
    }
    if S > 1:
        tries["alt_conv_stride_minus_one"] = lambda: _conv(x, w, b, S - 1, P, d, Ho, Wo)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, make in tries.items():
        try:
            alt = make()
        except Exception:  # noqa: BLE001 - a slip that cannot happen on this geometry
            continue
        if alt is not None:
            out[name] = {"out": alt}
    return out


def _conv_backward(case: Case) -> dict[str, dict[str, np.ndarray]]:
    return {f"alt_conv_{k}": v for k, v in _conv_backward_alts(case).items()}


def _lc_forward(case: Case) -> dict[str, dict[str, np.ndarray]]:
    x, w, b, cp = case.recipe["args"]
    Ho, Wo = w.shape[:2]
    shared = _conv(np.asarray(x, np.float64), w[0, 0], b[0, 0], int(cp["stride"]),
                   int(cp["pad"]), 1, Ho, Wo)
    return {} if shared is None else {"alt_lc_shared": {"out": shared}}


def _im2col(case: Case) -> dict[str, dict[str, np.ndarray]]:
    x, HH, WW, S, P, d = case.recipe["args"]
    return {f"alt_im2col_{order}_{col}": {"cols": _im2col_alt(x, HH, WW, S, P, d, order, col)}
            for order, col in (("ijc", "nhw"), ("cji", "nhw"), ("cij", "hwn"))}


def _col2im(case: Case) -> dict[str, dict[str, np.ndarray]]:
    cols, x_shape, HH, WW, S, P, d = case.recipe["args"]
    N, C, H, W = x_shape
    Ho, Wo = output_length(H, HH, S, P, d), output_length(W, WW, S, P, d)
    c6 = np.asarray(cols, np.float64).reshape(C, HH, WW, N, Ho, Wo)
    xp = np.zeros((N, C, H + 2 * P, W + 2 * P))
    for n in range(N):
        for oh in range(Ho):
            for ow in range(Wo):
                for i in range(HH):
                    for j in range(WW):
                        xp[n, :, oh * S + i * d, ow * S + j * d] = c6[:, i, j, n, oh, ow]
    return {"alt_col2im_assign": {"x": xp[:, :, P:P + H, P:P + W]}}


def _pool_backward(mode: str) -> Callable[[Case], dict[str, dict[str, np.ndarray]]]:
    def alts(case: Case) -> dict[str, dict[str, np.ndarray]]:
        return {f"alt_{mode}pool_{k}": {"dx": v} for k, v in _pool_alts(case, mode).items()}

    return alts


def _pool_forward(mode: str) -> Callable[[Case], dict[str, dict[str, np.ndarray]]]:
    def alts(case: Case) -> dict[str, dict[str, np.ndarray]]:
        x, pp = case.recipe["args"]
        x = np.asarray(x, np.float64)
        HH, WW, S = pp["pool_height"], pp["pool_width"], pp["stride"]
        Ho = output_length(x.shape[2], HH, S)
        Wo = output_length(x.shape[3], WW, S)
        win = np.lib.stride_tricks.sliding_window_view(x, (HH, WW), axis=(2, 3))
        own, other = ("max", "mean") if mode == "max" else ("mean", "max")
        ws = win[:, :, ::S, ::S][:, :, :Ho, :Wo]
        out = {f"alt_{mode}pool_other_kind": {"out": getattr(ws, other)(axis=(-1, -2))},
               f"alt_{mode}pool_sum": {"out": ws.sum(axis=(-1, -2))}}
        if S > 1:
            out[f"alt_{mode}pool_stride_one"] = {
                "out": getattr(win[:, :, :Ho, :Wo], own)(axis=(-1, -2))}
        return out

    return alts


FAMILIES: dict[str, Callable[[Case], dict[str, dict[str, np.ndarray]]]] = {
    "conv_forward": _conv_forward,
    "conv_backward": _conv_backward,
    "lc_forward": _lc_forward,
    "im2col": _im2col,
    "col2im": _col2im,
    "max_backward": _pool_backward("max"),
    "avg_backward": _pool_backward("avg"),
    "max_forward": _pool_forward("max"),
    "avg_forward": _pool_forward("avg"),
}
_cache: dict[str, tuple[str, dict[str, dict[str, np.ndarray]]]] = {}


def outputs(case: Case, family: str, name: str) -> dict[str, np.ndarray]:
    """Outputs of mistake ``name`` of ``family`` on ``case`` (KeyError: not on this case)."""
    digest = recipe_digest(case.recipe)
    key = f"{family}:{case.name}"
    hit = _cache.get(key)
    if hit is None or hit[0] != digest:
        hit = (digest, FAMILIES[family](case))
        _cache[key] = hit
    return hit[1][name]
