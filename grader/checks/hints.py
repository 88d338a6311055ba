"""Hints: what a wrong result's shape or values say about the bug (shipped to students).

Formula-based shape hints (what the output-size formula gives with the padding, the stride or
the dilation left out), family diagnoses that need no implementation of the graded function
(a scale factor, a missing regularisation term, a transposed weight), and generic patterns
(all zeros, sign flipped, shifted by a pixel). Mistakes recognised by their outputs are in
:mod:`grader.checks.mistakes`. Used by :mod:`grader.checks.compare` only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from grader.checks.cases import Case

# ------------------------------------------------------------------------------------------
# small trusted helpers (never the learner's code)
# ------------------------------------------------------------------------------------------


def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    if a.shape != b.shape:
        return False
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def conv_input(case: Case):
    x, w, b, cp = case.recipe["args"]
    return (np.asarray(x, np.float64), np.asarray(w, np.float64), np.asarray(b, np.float64),
            int(cp["stride"]), int(cp["pad"]), int(cp.get("dilation", 1)))


# ------------------------------------------------------------------------------------------
# shape diagnosis
# ------------------------------------------------------------------------------------------


def _ol(size: int, field: int, stride: int, pad: int, dil: int) -> float:
    return (size + 2 * pad - ((field - 1) * dil + 1)) / stride + 1


def _conv_shape_hint(case: Case, name: str, got: tuple, exp: tuple) -> str:
    p = case.params
    H, W, HH, WW = p["H"], p["W"], p["HH"], p["WW"]
    S, P, d = p["stride"], p["pad"], p.get("dilation", 1)
    if name in ("dx", "x") and len(got) == 4 and got[2:] == (H + 2 * P, W + 2 * P):
        return (f"{name} has the padded size {got[2:]}: strip the padding, keep "
                f"[{P}:{P}+H, {P}:{P}+W]")
    if name == "db" and len(got) == 2:
        return "db has one row per image: sum dout over the images N as well as H and W"
    if name == "dw" and len(got) == 6 and len(exp) == 4:
        return "dw keeps one filter gradient per position: a shared weight sums them"
    if name == "dw" and len(got) == 4 and len(exp) == 6:
        return ("dw is summed over positions: a locally-connected layer has its own weights "
                "at every output position, keep them apart")
    if len(got) != 4 or len(exp) != 4 or name not in ("out", "dout"):
        if name == "cols" and got == exp[::-1]:
            return "columns and rows swapped: X_col is (C*HH*WW, N*Ho*Wo)"
        if name == "cols" and len(got) == 2:
            for text, pad, stride in (("did you pad? without padding", 0, S),
                                      ("stride not applied? with stride 1", P, 1)):
                ho, wo = _ol(H, HH, stride, pad, d), _ol(W, WW, stride, pad, d)
                if got[1] == p["N"] * int(ho) * int(wo) and (pad, stride) != (P, S):
                    return (f"{text} there are N*Ho*Wo = {got[1]} columns; the right count "
                            f"is {exp[1]}")
        return ""
    alts = [
        ("did you pad? without padding the formula gives", 0, S, d),
        ("stride not applied? with stride 1 the formula gives", P, 1, d),
        ("dilation ignored? with an ordinary filter the formula gives", P, S, 1),
        ("dilation convention: dilation=1 is an ordinary filter with taps d apart (d-1 gaps), "
         "spanning (F-1)*d+1; with d gaps the formula gives", P, S, d + 1),
        ("padding applied on one side only? with P on one side the formula gives", 0, S, d),
    ]
    for text, pad, stride, dil in alts:
        if (pad, stride, dil) == (P, S, d):
            continue
        ho = _ol(H, HH, stride, pad, dil)
        wo = _ol(W, WW, stride, pad, dil)
        if text.startswith("padding applied on one side"):
            ho, wo = (H + P - (HH - 1) * d - 1) / S + 1, (W + P - (WW - 1) * d - 1) / S + 1
        if (int(ho), int(wo)) == got[2:] or (np.floor(ho), np.floor(wo)) == got[2:]:
            return (f"{text} {got[2:]}; the right size is (H + 2P - ((F-1)*d+1))/S + 1 "
                    f"= {exp[2:]}")
    if got[2:] == (exp[2] + 1, exp[3] + 1) or got[2:] == (exp[2] - 1, exp[3] - 1):
        return "off by one in the output size: Ho = (H + 2P - F_eff)/S + 1"
    if got[1] != exp[1]:
        return f"axis 1 should be {exp[1]} (filters F / channels C); check the layout NCHW"
    return "the output size is (H + 2P - ((F-1)*d+1))/S + 1 per axis"


def _pool_shape_hint(case: Case, name: str, got: tuple, exp: tuple) -> str:
    p = case.params
    if name == "out" and len(got) == 4 and got[2:] == (p["H"] - p["ph"] + 1,
                                                        p["W"] - p["pw"] + 1):
        return "stride not applied: Ho = (H - pool_height)/stride + 1"
    if name == "out" and len(got) == 4 and got[2:] == (p["H"] // p["ph"], p["W"] // p["pw"]):
        return "output size computed with the pool size as stride: use pool_param['stride']"
    return "pooling keeps N and C; Ho = (H - pool_height)/stride + 1"


def shape_hint(family: str, case: Case, name: str, got: tuple, exp: tuple) -> str:
    try:
        if family in ("conv_forward", "conv_backward", "lc_forward", "lc_backward", "im2col",
                      "col2im"):
            return _conv_shape_hint(case, name, got, exp)
        if family.startswith(("max_", "avg_")):
            return _pool_shape_hint(case, name, got, exp)
        if family == "fc_to_conv" and name == "w_conv" and sorted(got) == sorted(exp):
            return "w_conv axes in the wrong order: (M, C, H, W), one conv filter per FC unit"
        if family == "fc_to_conv" and name == "b_conv":
            return "b_conv is one bias per conv filter: shape (M,)"
        if family == "affine_backward" and name == "dx":
            return "dx must have x's shape: reshape dout @ w.T back to x.shape"
        if family == "affine_backward" and name == "dw" and got == exp[::-1]:
            return "dw transposed: dw = x.reshape(N, -1).T @ dout, shape (D, M)"
        if family == "perceptron_update":
            return "w keeps its shape (D,), b is a number"
        if got == exp[::-1] and len(got) == 2:
            return "transposed: rows and columns swapped"
    except Exception:  # noqa: BLE001 - a diagnosis must never break the comparison
        return ""
    return ""


# ------------------------------------------------------------------------------------------
# value diagnosis: family hypotheses
# ------------------------------------------------------------------------------------------


def _diag_lc(case: Case, got: dict, exp: dict) -> str:
    _, _, b, _ = case.recipe["args"]
    if "out" in got and "dx" not in got:
        nob = exp["out"] - np.asarray(b, np.float64).transpose(2, 0, 1)[None]
        if close(got["out"], nob):
            return "missing bias: add b[i, j, f] at output position (i, j)"
        return ""
    dout = np.asarray(case.recipe["dout"], np.float64)
    if "dw" in got and got["dw"].shape == exp["dw"].shape:
        summed = np.broadcast_to(exp["dw"].sum(axis=(0, 1)), exp["dw"].shape)
        if close(got["dw"], summed):
            return ("dw summed over positions: each position (i, j) has its own weights; "
                    "dw[i, j] collects only the windows at (i, j)")
    if "db" in got and got["db"].shape == exp["db"].shape:
        for k in (0, -1):
            if close(got["db"], dout[k].transpose(1, 2, 0)):
                return "db not summed over N: db[i, j, f] = sum over images of dout[:, f, i, j]"
    return ""


def _diag_avg_backward(case: Case, got: dict, exp: dict) -> str:
    return _scale_hint(got["dx"], exp["dx"], case, avg=True)


def _diag_pool_forward(case: Case, got: dict, exp: dict) -> str:
    return _scale_hint(got["out"], exp["out"], case, avg=True)


def _scale_hint(g: np.ndarray, e: np.ndarray, case: Case, avg: bool = False) -> str:
    mask = np.abs(e) > 1e-9
    if not mask.any() or g.shape != e.shape:
        return ""
    ratio = g[mask] / e[mask]
    k = float(np.median(ratio))
    if not np.all(np.isfinite(ratio)) or not np.allclose(ratio, k, rtol=1e-6, atol=1e-9):
        return ""
    if abs(k - 1) < 1e-9:
        return ""
    if avg:  # a pooling case: args are (x, pool_param)
        pp = case.recipe["args"][1]
        n = pp["pool_height"] * pp["pool_width"]
        return (f"off by a factor {k:.4g}: you divide by {n / k:.4g} instead of "
                f"pool_height*pool_width = {n}")
    return f"every value is off by the same factor {k:.4g}: a missing or extra scale"


def _diag_output_size(case: Case, got: dict, exp: dict) -> str:
    p = case.params
    W, F, S, P, d = p["W"], p["F"], p["S"], p["P"], p.get("d", 1)
    g = float(np.asarray(got["size"]).ravel()[0])
    alts = [
        ((W + P - ((F - 1) * d + 1)) / S + 1, "padding counted once: the input grows by 2P"),
        ((W + 2 * P - F) / S + 1, "dilation ignored: a dilated filter spans (F-1)*d + 1"),
        ((W + 2 * P - ((F - 1) * (d + 1) + 1)) / S + 1,
         "dilation convention: dilation=1 is an ordinary filter, span (F-1)*d + 1"),
        ((W + 2 * P - ((F - 1) * d + 1)) / S, "missing the +1 in (W + 2P - F)/S + 1"),
        ((W + 2 * P - F * d) / S + 1, "dilated span is (F-1)*d + 1, not F*d"),
        (W + 2 * P - ((F - 1) * d + 1) + 1, "stride ignored: divide by S"),
    ]
    for value, hint in alts:
        if abs(value - g) < 1e-9:
            return hint
    return "output size is (W + 2P - ((F-1)*dilation + 1))/S + 1"


def _diag_convnet(case: Case, got: dict, exp: dict) -> str:
    """Where the learner's loss departs (the known mistakes are matched before this)."""
    bad = [k for k in exp if k in got and got[k].shape == exp[k].shape
           and not close(got[k], exp[k])]
    if "scores" in bad or "loss" in bad:
        return ("scores differ: check the layer order conv - relu - 2x2 max pool - affine - "
                "relu - affine (no relu on the scores) and the 'same' padding (F-1)/2")
    if bad and all(k in ("grads.W1", "grads.b1") for k in bad):
        return "only the conv layer's gradients differ: check the conv-relu-pool backward"
    if bad:
        return f"gradients differ for {', '.join(bad)}: backpropagate layer by layer"
    return ""


FAMILY_DIAGNOSES: dict[str, Callable[[Case, dict, dict], str]] = {
    "lc_forward": _diag_lc,
    "lc_backward": _diag_lc,
    "max_forward": _diag_pool_forward,
    "avg_forward": _diag_pool_forward,
    "avg_backward": _diag_avg_backward,
    "conv_output_size": _diag_output_size,
    "convnet": _diag_convnet,
}


# ------------------------------------------------------------------------------------------
# generic patterns
# ------------------------------------------------------------------------------------------


def generic_hint(g: np.ndarray, e: np.ndarray, case: Case) -> str:
    if g.shape != e.shape:
        return ""
    g = g.astype(np.float64)
    e = e.astype(np.float64)
    if np.all(g == 0) and np.any(e != 0):
        return "all zeros: nothing was written into the result"
    if close(g, -e):
        return "sign flipped"
    if g.ndim >= 2:
        for axis in (-1, -2):
            n = g.shape[axis]
            if n < 3:
                continue
            for sh in (1, -1):
                a = np.take(g, range(1, n) if sh == 1 else range(0, n - 1), axis=axis)
                b = np.take(e, range(0, n - 1) if sh == 1 else range(1, n), axis=axis)
                if close(a, b) and not close(g, e):
                    where = "right/down" if sh == 1 else "left/up"
                    return f"shifted by one pixel ({where}) along axis {axis % g.ndim}: " \
                           "check the padding offset and the window start i*stride"
        if g.shape[-1] == g.shape[-2] and close(g, np.swapaxes(e, -1, -2)):
            return "height and width swapped"
    scale = _scale_hint(g, e, case)
    if scale:
        return scale
    if g.size > 1 and close(np.sort(g.ravel()), np.sort(e.ravel())):
        return ("the right numbers in the wrong places: check the order of reshape/transpose "
                "(axes are N, C/F, H, W)")
    if g.ndim == 4 and g.shape[0] > 1 and close(g[:1], e[:1]):
        return "only the first image is right: loop over every image n"
    if g.ndim == 4 and min(g.shape[2:]) > 2:
        inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
        if close(g[inner], e[inner]):
            return "only the border is wrong: check the zero padding"
    return ""
