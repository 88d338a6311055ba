"""Compare a result with the reference and say what is wrong with it.

:func:`compare` is used by both the in-kernel checker (:mod:`grader.checks.visible`) and the trusted
secure grader. It never raises and never imports learner code: the alternative results it
matches against ("what would the output be with the kernel flipped?") are computed by the
small NumPy helpers of this module from the case's own inputs.

Order of checks: exception / stub, expected error, missing output, shape (with what the
formula gives), dtype, NaN/inf, values (measured error against the tolerance, first differing
index), then the pattern diagnosis (family-specific hypotheses, then generic patterns).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.checks import blocks, mistakes
from grader.checks import expected as _expected
from grader.checks.cases import Case
from grader.checks.registry import PROPERTY_TOL

MAX_MESSAGE = 600


class SubmissionError(Exception):
    """An exception raised by learner code in another process, rebuilt from its type name.

    The secure grader can pass ``SubmissionError(type_name, message)`` as ``got``.
    """

    def __init__(self, type_name: str, message: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name


def got_from_run(result: Any) -> dict[str, np.ndarray] | SubmissionError:
    """Adapt a secure runner's result (``ok``, ``outputs``, ``kind``, ``error``) for compare.

    The worker reports an exception as ``"TypeName: message"``; timeouts, crashes, memory
    and bad outputs become a :class:`SubmissionError` named after their kind.
    """
    if getattr(result, "ok", False) and isinstance(getattr(result, "outputs", None), dict):
        return result.outputs
    kind = str(getattr(result, "kind", "crash"))
    error = str(getattr(result, "error", "") or "")
    if kind == "exception":
        head, sep, rest = error.partition(": ")
        if sep and head.isidentifier():
            return SubmissionError(head, rest)
        return SubmissionError("Exception", error)
    names = {"timeout": "Timeout", "crash": "Crash", "memory": "MemoryError",
             "bad_output": "RecipeError"}
    return SubmissionError(names.get(kind, kind), error)


def all_passed_points(spec: Any, results: list[CaseResult]) -> int:
    """Points of ``spec`` for these results: all of them if every case passed, else 0.

    The same rule as the notebook's grade cell (:func:`grader.checks.visible.grade` raises on any
    failure), so the in-kernel and the secure scores can be compared.
    """
    return spec.points if results and all(r.passed for r in results) else 0


@dataclass
class CaseResult:
    case: str
    passed: bool
    max_error: float | None
    tolerance: Any
    message: str
    hint: str = ""
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (pipeline reports, gradebook comments)."""
        return {"name": self.case, "passed": bool(self.passed), "max_error": self.max_error,
                "tolerance": str(self.tolerance), "message": self.message, "hint": self.hint,
                "note": self.note}

    def line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        err = "" if self.max_error is None else f"max error {self.max_error:.2e}, "
        text = f"{status} {self.case}: {err}tolerance {self.tolerance}"
        if self.message:
            text += f"\n     {self.message}"
        if self.hint:
            text += f"\n     hint: {self.hint}"
        if self.note and not self.passed:
            text += f"\n     case: {self.note}"
        return text


def _short(text: str, limit: int = MAX_MESSAGE) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 20] + " ... (truncated)"


def _type_name(exc: BaseException) -> str:
    return getattr(exc, "type_name", None) or type(exc).__name__


# ------------------------------------------------------------------------------------------
# small trusted helpers (never the learner's code)
# ------------------------------------------------------------------------------------------


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    if a.shape != b.shape:
        return False
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def _conv_input(case: Case):
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


def _shape_hint(family: str, case: Case, name: str, got: tuple, exp: tuple) -> str:
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
        if _close(got["out"], nob):
            return "missing bias: add b[i, j, f] at output position (i, j)"
        return ""
    dout = np.asarray(case.recipe["dout"], np.float64)
    if "dw" in got and got["dw"].shape == exp["dw"].shape:
        summed = np.broadcast_to(exp["dw"].sum(axis=(0, 1)), exp["dw"].shape)
        if _close(got["dw"], summed):
            return ("dw summed over positions: each position (i, j) has its own weights; "
                    "dw[i, j] collects only the windows at (i, j)")
    if "db" in got and got["db"].shape == exp["db"].shape:
        for k in (0, -1):
            if _close(got["db"], dout[k].transpose(1, 2, 0)):
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


def _diag_predict(case: Case, got: dict, exp: dict) -> str:
    w, b, X = (np.asarray(a, np.float64) for a in case.recipe["args"])
    g = np.asarray(got["y"], np.float64)
    s = X @ w + b
    if set(np.unique(g)) <= {-1.0, 1.0} and np.array_equal(g, np.where(s > 0, 1.0, -1.0)):
        return "outputs are -1/+1: Rosenblatt's perceptron outputs 1 if w.x + b > 0, else 0"
    if np.array_equal(g, (X @ w > 0).astype(float)):
        return "bias missing: the threshold applies to w.x + b"
    if np.array_equal(g, (s <= 0).astype(float)) or np.array_equal(g, (s < 0).astype(float)):
        return "outputs inverted: 1 when w.x + b > 0"
    return ""


def _diag_update(case: Case, got: dict, exp: dict) -> str:
    w, b, x, d, lr = case.recipe["args"]
    w = np.asarray(w, np.float64)
    x = np.asarray(x, np.float64)
    y = case.params.get("y")
    gw = np.asarray(got.get("w", np.nan), np.float64)
    gb = float(np.asarray(got.get("b", np.nan)).ravel()[0])
    if not case.params.get("wrong"):
        return ("weights changed on a correctly classified point: the update is "
                "lr*(d - y)*x, zero when the prediction y equals the target d")
    step = lr * (d - y)
    if _close(gw, w - step * x) and abs(gb - (b - step)) < 1e-9:
        return "wrong sign: w += lr*(d - y)*x and b += lr*(d - y)"
    if _close(gw, w + step * x) and abs(gb - b) < 1e-9:
        return "bias not updated: b += lr*(d - y) too"
    if _close(gw, w + (d - y) * x):
        return "learning rate ignored: w += lr*(d - y)*x"
    return ""


def _diag_fc(case: Case, got: dict, exp: dict) -> str:
    w, b, (C, H, W) = case.recipe["args"]
    w = np.asarray(w, np.float64)
    M = w.shape[1]
    g = got.get("w_conv")
    if g is None or g.shape != (M, C, H, W):
        return ""
    if _close(g, w.reshape(M, C, H, W)):
        return ("FC weights not transposed: w is (D, M) with x.reshape(N, -1) @ w, so filter m "
                "is column m: w.T.reshape(M, C, H, W)")
    if _close(g, w.T.reshape(M, H, W, C).transpose(0, 3, 1, 2)):
        return ("wrong reshape order: the FC input is x.reshape(N, -1) of an (N, C, H, W) "
                "array, so the flat index is (c*H + h)*W + w: reshape to (M, C, H, W)")
    return ""


def _diag_convnet(case: Case, got: dict, exp: dict) -> str:
    params = case.recipe["params"]
    reg = float(case.recipe["init"].get("reg", 0.0))
    wsq = sum(float(np.sum(np.asarray(params[k]) ** 2)) for k in ("W1", "W2", "W3"))
    if "loss" in got and "loss" in exp and reg > 0:
        diff = float(got["loss"] - exp["loss"])
        for factor, hint in ((-0.5, "regularisation missing from the loss: add "
                                    "0.5*reg*sum(W**2) for W1, W2, W3"),
                             (0.5, "regularisation counted twice or without the 0.5: the loss "
                                   "adds 0.5*reg*sum(W**2)")):
            if abs(diff - factor * reg * wsq) < 1e-6 * max(1.0, abs(diff)):
                return hint
        for k in ("W1", "W2", "W3"):
            key = f"grads.{k}"
            if key in got and _close(got[key], exp[key] - reg * np.asarray(params[k])):
                return f"regularisation gradient missing: grads['{k}'] += reg * {k}"
    bad = [k for k in exp if k in got and got[k].shape == exp[k].shape
           and not _close(got[k], exp[k])]
    if "scores" in bad or "loss" in bad:
        return ("scores differ: check the layer order conv - relu - 2x2 max pool - affine - "
                "relu - affine (no relu on the scores) and the 'same' padding (F-1)/2")
    if bad and all(k in ("grads.W1", "grads.b1") for k in bad):
        return "only the conv layer's gradients differ: check the conv-relu-pool backward"
    if bad:
        return f"gradients differ for {', '.join(bad)}: backpropagate layer by layer"
    return ""


def _diag_affine_backward(case: Case, got: dict, exp: dict) -> str:
    dout = np.asarray(case.recipe["dout"], np.float64)
    if "db" in got and got["db"].shape == exp["db"].shape:
        for k in (0, -1):
            if _close(got["db"], dout[k]):
                return "db not summed over N: db = dout.sum(axis=0)"
    return ""


def _diag_relu_backward(case: Case, got: dict, exp: dict) -> str:
    x = np.asarray(case.recipe["args"][0], np.float64)
    dout = np.asarray(case.recipe["dout"], np.float64)
    if _close(got["dx"], dout * (x >= 0)):
        return "gradient passed where x == 0: use x > 0 (the subgradient at 0 is taken as 0)"
    if _close(got["dx"], dout * (dout > 0)):
        return "mask taken from dout: the ReLU passes dout where its forward input x > 0"
    return ""


def _diag_softmax(case: Case, got: dict, exp: dict) -> str:
    N = np.asarray(case.recipe["args"][0]).shape[0]
    for key in ("loss", "dx"):
        if key in got and N > 1 and _close(got[key], exp[key] * N):
            return f"{key} is {N} times too large: average over the N examples (divide by N)"
    return ""


FAMILY_DIAGNOSES: dict[str, Callable[[Case, dict, dict], str]] = {
    "lc_forward": _diag_lc,
    "lc_backward": _diag_lc,
    "max_forward": _diag_pool_forward,
    "avg_forward": _diag_pool_forward,
    "avg_backward": _diag_avg_backward,
    "conv_output_size": _diag_output_size,
    "perceptron_predict": _diag_predict,
    "perceptron_update": _diag_update,
    "fc_to_conv": _diag_fc,
    "convnet": _diag_convnet,
    "affine_backward": _diag_affine_backward,
    "relu_backward": _diag_relu_backward,
    "softmax_loss": _diag_softmax,
}


# ------------------------------------------------------------------------------------------
# generic patterns
# ------------------------------------------------------------------------------------------


def _generic_hint(g: np.ndarray, e: np.ndarray, case: Case) -> str:
    if g.shape != e.shape:
        return ""
    g = g.astype(np.float64)
    e = e.astype(np.float64)
    if np.all(g == 0) and np.any(e != 0):
        return "all zeros: nothing was written into the result"
    if _close(g, -e):
        return "sign flipped"
    if g.ndim >= 2:
        for axis in (-1, -2):
            n = g.shape[axis]
            if n < 3:
                continue
            for sh in (1, -1):
                a = np.take(g, range(1, n) if sh == 1 else range(0, n - 1), axis=axis)
                b = np.take(e, range(0, n - 1) if sh == 1 else range(1, n), axis=axis)
                if _close(a, b) and not _close(g, e):
                    where = "right/down" if sh == 1 else "left/up"
                    return f"shifted by one pixel ({where}) along axis {axis % g.ndim}: " \
                           "check the padding offset and the window start i*stride"
        if g.shape[-1] == g.shape[-2] and _close(g, np.swapaxes(e, -1, -2)):
            return "height and width swapped"
    scale = _scale_hint(g, e, case)
    if scale:
        return scale
    if g.size > 1 and _close(np.sort(g.ravel()), np.sort(e.ravel())):
        return ("the right numbers in the wrong places: check the order of reshape/transpose "
                "(axes are N, C/F, H, W)")
    if g.ndim == 4 and g.shape[0] > 1 and _close(g[:1], e[:1]):
        return "only the first image is right: loop over every image n"
    if g.ndim == 4 and min(g.shape[2:]) > 2:
        inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
        if _close(g[inner], e[inner]):
            return "only the border is wrong: check the zero padding"
    return ""


# ------------------------------------------------------------------------------------------
# properties (no reference needed)
# ------------------------------------------------------------------------------------------


def _prop_conv_adjoint(case: Case, got: dict) -> tuple[bool, float, str, str]:
    """A conv layer is linear in x and in w: <dx, x> = <dw, w> = <dout, out - b>; db = sum dout."""
    x, w, b, _, _, _ = _conv_input(case)
    dout = np.asarray(case.recipe["dout"], np.float64)
    for k in ("dx", "dw", "db", "out"):
        if k not in got:
            return False, float("nan"), f"missing output {k}", ""
    out = got["out"].astype(np.float64)
    if out.shape != dout.shape:
        return False, float("nan"), f"out shape {out.shape}, expected {dout.shape}", ""
    target = float(np.sum(dout * (out - b[None, :, None, None])))
    scale = max(1.0, abs(target))
    checks = [
        ("sum(dx * x)", got["dx"], x,
         "dx is not the adjoint of the forward pass (dx = sum over windows of dout * w)"),
        ("sum(dw * w)", got["dw"], w,
         "dw is not consistent with the forward pass: sum every window's contribution"),
    ]
    worst = 0.0
    for what, g, ref, hint in checks:
        if g.shape != ref.shape:
            return False, float("nan"), f"{what}: shape {g.shape}, expected {ref.shape}", hint
        val = float(np.sum(g.astype(np.float64) * ref))
        err = abs(val - target) / scale
        worst = max(worst, err)
        if err > PROPERTY_TOL:
            return (False, err, f"adjoint identity fails: {what} = {val:.6g} but "
                                f"sum(dout * (out - b)) = {target:.6g}", hint)
    db_ref = dout.sum(axis=(0, 2, 3))
    if got["db"].shape != db_ref.shape or not _close(got["db"], db_ref):
        return False, worst, "db must equal dout summed over N, H and W", \
            "db not summed over N, H, W"
    return True, worst, "adjoint identities hold", ""


PROPERTIES: dict[str, Callable[[Case, dict], tuple[bool, float, str, str]]] = {
    "conv_adjoint": _prop_conv_adjoint,
}


# ------------------------------------------------------------------------------------------
# the comparison
# ------------------------------------------------------------------------------------------


def _exception_result(spec: Any, case: Case, exc: BaseException, tol: Any) -> CaseResult:
    tname = _type_name(exc)
    text = _short(str(exc))
    if case.expect_error and tname == case.expect_error:
        return CaseResult(case.name, True, None, tol, f"raised {tname} as it should: {text}",
                          note=case.note)
    if tname == "NotImplementedError":
        stub = text.split(":", 1)[0].strip() if ": not written yet" in text else spec.name
        needs = "" if stub in (spec.name, "loss") else f" first ({spec.name} calls it)"
        see = text.rsplit("; see ", 1)[1] if "; see " in text else spec.notebook.rsplit("/", 1)[-1]
        return CaseResult(case.name, False, None, tol,
                          f"not written yet: {stub} raises NotImplementedError",
                          hint=f"write the body of {stub}{needs}; see {_short(see, 80)}",
                          note=case.note)
    hint = mistakes.exception_hint(spec.family, tname, text, case.params)
    if hint:
        pass
    elif tname == "Timeout":
        hint = "too slow or an endless loop: the naive loops run well under a second here"
    elif tname == "MemoryError":
        hint = "too much memory: allocate only the arrays the docstring asks for"
    elif tname == "IndexError":
        hint = "an index ran past an array: check the loop bounds and the output size"
    elif tname == "ValueError" and "broadcast" in text:
        hint = "shapes do not line up: check window slicing (stride, dilation, padding)"
    elif tname == "RecipeError":
        hint = "return the values the docstring asks for (arrays, in the right tuple)"
    elif tname == "ValueError":
        hint = "a valid configuration was rejected, or a shape check failed"
    where = ""
    tb = getattr(exc, "__traceback__", None)
    if tb is not None:
        frames = traceback.extract_tb(tb)
        if frames:
            last = frames[-1]
            where = f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
    return CaseResult(case.name, False, None, tol, f"raised {tname}: {text}{where}", hint=hint,
                      note=case.note)


def compare(
    spec: Any,
    case: Case,
    got: dict[str, np.ndarray] | BaseException,
    expected: dict[str, np.ndarray] | None,
) -> CaseResult:
    """Compare ``got`` (outputs or the exception raised) with ``expected``; never raises."""
    tol = spec.tolerance_for(case)
    try:
        return _compare(spec, case, got, expected, tol)
    except Exception as exc:  # noqa: BLE001 - never raise into a check cell or the grader
        return CaseResult(case.name, False, None, tol,
                          f"could not compare the result ({type(exc).__name__}: "
                          f"{_short(str(exc), 200)})", note=case.note)


def _compare(spec, case, got, expected, tol) -> CaseResult:
    if isinstance(got, BaseException):
        return _exception_result(spec, case, got, tol)
    if not isinstance(got, dict):
        return CaseResult(case.name, False, None, tol,
                          f"result must be a dict of arrays, got {type(got).__name__}")
    if case.expect_error:
        shown = {k: np.asarray(v).tolist() for k, v in list(got.items())[:2]}
        hint = ("never floor silently: raise ValueError when (W + 2P - F_eff)/S + 1 is not a "
                "whole number") if spec.family == "conv_output_size" else ""
        return CaseResult(case.name, False, None, tol,
                          f"should raise {case.expect_error} ({case.note}), returned "
                          f"{_short(str(shown), 200)}", hint=hint, note=case.note)
    if case.prop:
        ok, err, msg, hint = PROPERTIES[case.prop](case, got)
        return CaseResult(case.name, ok, err, f"{PROPERTY_TOL:.0e} (relative)", msg,
                          "" if ok else hint, note=case.note)
    if expected is None:
        return CaseResult(case.name, False, None, tol, "no expected values for this case")
    worst = 0.0
    for name in case.outputs:
        if name not in got:
            return CaseResult(case.name, False, None, tol,
                              f"missing output {name!r} (got {sorted(got)})", note=case.note)
        g = np.asarray(got[name])
        e = np.asarray(expected[name])
        if g.shape != e.shape:
            if spec.family in blocks.FAMILIES:
                hint = (_mistake_hint(spec, case, got, expected)
                        or blocks.shape_hint(case, name, g.shape, e.shape))
            else:
                hint = _shape_hint(spec.family, case, name, g.shape, e.shape)
            return CaseResult(case.name, False, None, tol,
                              f"{name} shape {g.shape}, expected {e.shape}", hint=hint,
                              note=case.note)
        if e.dtype.kind == "f" and g.dtype != e.dtype:
            return CaseResult(case.name, False, None, tol,
                              f"{name} dtype {g.dtype}, expected {e.dtype}",
                              hint="keep the input's floating dtype (float32 in, float32 out)",
                              note=case.note)
        gf = g.astype(np.float64)
        ef = e.astype(np.float64)
        if not np.all(np.isfinite(gf)):
            bad = np.argwhere(~np.isfinite(gf))
            first = tuple(int(i) for i in bad[0]) if bad.size else ()
            hint = "a division by zero or an uninitialised array (np.empty)?"
            if spec.family == "softmax_loss":
                hint = ("exp overflowed: subtract each row's maximum from the scores before "
                        "np.exp (it does not change the softmax)")
            return CaseResult(case.name, False, None, tol,
                              f"{name} holds {len(bad)} NaN/inf values, first at index {first}",
                              hint=hint, note=case.note)
        diff = np.abs(gf - ef)
        err = float(diff.max()) if diff.size else 0.0
        worst = max(worst, err)
        bad = diff > tol.atol + tol.rtol * np.abs(ef)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            msg = (f"{name} differs at {int(bad.sum())} of {bad.size} entries; first at index "
                   f"{idx}: got {gf[idx]:.6g}, expected {ef[idx]:.6g}")
            hint = (_mistake_hint(spec, case, got, expected)
                    or _diagnose(spec.family, case, got, expected, name))
            return CaseResult(case.name, False, err, tol, msg, hint=hint, note=case.note)
    return CaseResult(case.name, True, worst, tol, "", note=case.note)


def _mistake_hint(spec: Any, case: Case, got: dict, expected: dict) -> str:
    """Hint of the known mistake (computed on the trusted side) that ``got`` reproduces."""
    try:
        if not mistakes.mistakes_of(spec.family):
            return ""
        outputs = _expected.mistake_outputs(spec, case)
        return mistakes.match_mistake(case.outputs, got, expected, outputs, spec.family)
    except Exception:  # noqa: BLE001 - a diagnosis must never break the comparison
        return ""


def _diagnose(family: str, case: Case, got: dict, expected: dict, name: str) -> str:
    gotf = {k: np.asarray(v, dtype=np.float64) for k, v in got.items()}
    expf = {k: np.asarray(v, dtype=np.float64) for k, v in expected.items()}
    try:
        hint = FAMILY_DIAGNOSES[family](case, gotf, expf)
    except Exception:  # noqa: BLE001
        hint = ""
    if hint:
        return hint
    try:
        return _generic_hint(gotf[name], expf[name], case)
    except Exception:  # noqa: BLE001
        return ""
