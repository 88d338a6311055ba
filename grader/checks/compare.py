"""Compare a result with the reference and say what is wrong with it.

:func:`compare` is used by both the in-kernel checker (:mod:`grader.checks.visible`) and the
trusted secure grader. It never raises, never imports learner code and holds no
implementation of a graded function: "which known mistake matches" compares the result with
the mistakes' outputs computed on the trusted side (:mod:`grader.checks.mistakes`, stored in
the release for the visible cases); :mod:`grader.checks.hints` adds the formula-based shape
hints and the generic patterns.

Order of checks: exception / stub, expected error, missing output, shape (with what the
formula gives), dtype, NaN/inf, values (measured error against the tolerance, first differing
index), then the diagnosis (known mistakes, family hints, generic patterns).
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
from grader.checks.hints import (
    FAMILY_DIAGNOSES,
    close,
    conv_input,
    generic_hint,
    shape_hint,
)
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
# properties (no reference needed)
# ------------------------------------------------------------------------------------------


def _prop_conv_adjoint(case: Case, got: dict) -> tuple[bool, float, str, str]:
    """A conv layer is linear in x and in w: <dx, x> = <dw, w> = <dout, out - b>; db = sum dout."""
    x, w, b, _, _, _ = conv_input(case)
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
    if got["db"].shape != db_ref.shape or not close(got["db"], db_ref):
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
            hint = _mistake_hint(spec, case, got, expected) or (
                blocks.shape_hint(case, name, g.shape, e.shape) if spec.family in blocks.FAMILIES
                else shape_hint(spec.family, case, name, g.shape, e.shape))
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
            hint = (_mistake_hint(spec, case, got, expected)
                    or "a division by zero or an uninitialised array (np.empty)?")
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
        return generic_hint(gotf[name], expf[name], case)
    except Exception:  # noqa: BLE001
        return ""
