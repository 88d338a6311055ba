"""Notebook exercises (the ``test_*`` grade cells), judged on values rather than in the kernel.

A learner's kernel is not trusted: an input transformer registered from ``cs231n_lib`` can turn
any ``assert`` into ``pass``. So an exercise is data: a list of :class:`Probe` s, each an
expression evaluated in the learner's namespace (``valid_strides(7, 3)``) and a predicate the
*trusted* grader applies to the value that comes back (JSON, never pickle).

* In the notebook, ``check_exercise("test_valid_strides", globals())`` evaluates and judges the
  visible probes in the kernel, for the learner (advisory, like nbgrader's visible asserts).
* Under ``cs231n-grader autograde`` a probe cell is inserted after each exercise cell
  (:mod:`grader.course.exercise_probes`); it prints the values of the visible *and* hidden probes
  (``grader/course/hidden_exercises.py``, instructor only); the grading job decodes them with
  caps and judges them here, and that verdict, not the kernel's, goes into the gradebook.

Shipped to students (visible probes only). Imports: NumPy and the standard library; the
predicates that need a reference computation import ``cs231n_lib`` lazily.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Start of the one stdout line a probe cell prints.
MARKER = "cs231n-exercise-values:"
#: Caps on what is decoded from a kernel (hostile): characters of the line, array elements,
#: sequence items, string length, nesting depth.
MAX_LINE = 1 << 20
MAX_ELEMENTS = 100_000
MAX_ITEMS = 10_000
MAX_STRING = 1_000
MAX_DEPTH = 8
_ARRAY_KINDS = {"b": bool, "i": np.int64, "u": np.int64, "f": np.float64}


@dataclass(frozen=True)
class Raised:
    """A probe whose expression raised: the first built-in exception class in its MRO."""

    type_name: str


@dataclass(frozen=True)
class Probe:
    """One value an exercise checks.

    ``expr`` is evaluated in the learner's namespace, with ``_ex`` bound to this module (for
    input builders such as :func:`fold_inputs`); ``test`` is the trusted predicate on the
    decoded value; ``message`` says what a failure means (visible probes only).
    """

    expr: str
    test: Callable[[Any], bool]
    message: str = ""


@dataclass
class ExerciseResult:
    """The verdict on one exercise: passed, and one line per failed probe."""

    grade_id: str
    passed: bool
    lines: list[str] = field(default_factory=list)
    #: The visible probes alone pass (what the learner's own check in the kernel can see).
    visible_passed: bool = False
    #: The probe cell stopped with an error (a cell timeout interrupts it): no values, and no
    #: ground to call a passing exercise cell tampering.
    interrupted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"grade_id": self.grade_id, "passed": self.passed, "lines": list(self.lines),
                "visible_passed": self.visible_passed, "interrupted": self.interrupted}


# ------------------------------------------------------------------------------------------
# values as data (kernel -> trusted side)
# ------------------------------------------------------------------------------------------

def _builtin_exception(exc: BaseException) -> str:
    for klass in type(exc).__mro__:
        if klass.__module__ == "builtins":
            return klass.__name__
    return "Exception"


def encode(value: Any, depth: int = 0) -> Any:
    """A JSON-able form of ``value`` (runs in the kernel). Unknown objects become their type."""
    if depth > MAX_DEPTH:
        return {"__type__": "too deep"}
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else {"__float__": repr(v)}
    if isinstance(value, str):
        return value[:MAX_STRING]
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _ARRAY_KINDS or value.size > MAX_ELEMENTS:
            return {"__type__": f"ndarray {value.dtype} {value.shape}"}
        flat = value.astype(_ARRAY_KINDS[value.dtype.kind]).ravel().tolist()
        flat = [x if not isinstance(x, float) or math.isfinite(x) else repr(x) for x in flat]
        return {"__ndarray__": flat, "shape": list(value.shape), "kind": value.dtype.kind}
    if isinstance(value, (list, tuple)):
        return [encode(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
    return {"__type__": type(value).__name__[:100]}


def decode(data: Any, depth: int = 0) -> Any:
    """The value :func:`encode` described (runs in the trusted grader; ``data`` is hostile).

    Raises ``ValueError`` on anything :func:`encode` cannot have produced.
    """
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if data is None or isinstance(data, (bool, int, float)):
        return data
    if isinstance(data, str):
        if len(data) > MAX_STRING:
            raise ValueError("string too long")
        return data
    if isinstance(data, list):
        if len(data) > MAX_ITEMS:
            raise ValueError("too many items")
        return [decode(v, depth + 1) for v in data]
    if isinstance(data, dict):
        if set(data) == {"__raised__"} and isinstance(data["__raised__"], str):
            return Raised(data["__raised__"][:100])
        if set(data) == {"__float__"} and data["__float__"] in ("nan", "inf", "-inf"):
            return float(data["__float__"])
        if set(data) == {"__type__"} and isinstance(data["__type__"], str):
            return {"__type__": data["__type__"][:100]}
        if set(data) == {"__ndarray__", "shape", "kind"}:
            return _decode_array(data)
    raise ValueError("not a value the probe can have sent")


def _decode_array(data: dict) -> np.ndarray:
    flat, shape, kind = data["__ndarray__"], data["shape"], data["kind"]
    if kind not in _ARRAY_KINDS or not isinstance(flat, list) or len(flat) > MAX_ELEMENTS:
        raise ValueError("bad array")
    if not isinstance(shape, list) or len(shape) > 8 or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_ELEMENTS
            for s in shape):
        raise ValueError("bad array shape")
    if math.prod(shape) != len(flat):
        raise ValueError("array shape does not match its values")
    if not all(isinstance(x, (int, float)) or x in ("nan", "inf", "-inf") for x in flat):
        raise ValueError("bad array element")
    values = [float(x) if isinstance(x, str) else x for x in flat]
    return np.asarray(values, dtype=_ARRAY_KINDS[kind]).reshape(shape)


def evaluate(exprs: Sequence[str], namespace: Mapping[str, Any]) -> list[Any]:
    """Encoded values of ``exprs`` in ``namespace`` (a copy: the learner's globals are kept)."""
    import sys

    scope = dict(namespace)
    scope["_ex"] = sys.modules[__name__]
    out = []
    for expr in exprs:
        try:
            out.append(encode(eval(expr, scope)))  # noqa: S307 - the learner's own kernel
        except BaseException as exc:  # a probe of unwritten or wrong code still reports
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            out.append({"__raised__": _builtin_exception(exc)})
    return out


def emit(grade_id: str, exprs: Sequence[str], namespace: Mapping[str, Any]) -> None:
    """Print the probe line for ``grade_id`` (called by the inserted probe cell)."""
    print(MARKER + json.dumps({"grade_id": grade_id, "values": evaluate(exprs, namespace)}))


def parse_line(text: str) -> tuple[str, list[Any]]:
    """``(grade_id, decoded values)`` from one probe cell's stdout (hostile).

    Exactly one marker line is accepted; raises ``ValueError`` otherwise.
    """
    lines = [ln for ln in str(text).splitlines() if ln.startswith(MARKER)]
    if len(lines) != 1:
        raise ValueError(f"expected one line of values, found {len(lines)}")
    line = lines[0][len(MARKER):]
    if len(line) > MAX_LINE:
        raise ValueError("the values are too large")
    data = json.loads(line)
    if not (isinstance(data, dict) and set(data) == {"grade_id", "values"}
            and isinstance(data["grade_id"], str) and isinstance(data["values"], list)):
        raise ValueError("malformed values")
    return data["grade_id"], [decode(v) for v in data["values"]]


# ------------------------------------------------------------------------------------------
# judging (trusted side; also the learner's advisory check)
# ------------------------------------------------------------------------------------------

def _holds(probe: Probe, value: Any) -> bool:
    try:
        return bool(probe.test(value))
    except Exception:  # a value of the wrong type simply fails the predicate
        return False


def _describe(value: Any) -> str:
    if isinstance(value, Raised):
        if value.type_name == "NotImplementedError":
            return "raised NotImplementedError (not written yet)"
        return f"raised {value.type_name}"
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 80 else text[:77] + "..."


def judge(grade_id: str, visible: Sequence[Probe], hidden: Sequence[Probe],
          values: Sequence[Any] | None) -> ExerciseResult:
    """Judge decoded ``values`` (visible probes first, then hidden) of one exercise.

    Hidden probes are reported as "hidden check k of n" only: no expression, no value.
    ``values`` of the wrong length (or ``None``: no values came back) fail every probe.
    """
    probes = list(visible) + list(hidden)
    if values is None or len(values) != len(probes):
        return ExerciseResult(grade_id, False, ["the exercise's values could not be read "
                                                "(did its cell run?)"])
    lines, visible_failed = [], False
    for k, (probe, value) in enumerate(zip(probes, values, strict=True)):
        if _holds(probe, value):
            continue
        if k < len(visible):
            visible_failed = True
            why = probe.message or "unexpected value"
            lines.append(f"{probe.expr} gave {_describe(value)}: {why}")
        else:
            lines.append(f"hidden check {k - len(visible) + 1} of {len(hidden)} failed")
    return ExerciseResult(grade_id, not lines, lines, visible_passed=not visible_failed)


def check_exercise(grade_id: str, namespace: Mapping[str, Any]) -> None:
    """The learner's check of an exercise's visible probes (in the notebook).

    Prints one line per probe; raises ``AssertionError`` naming the first failure.
    """
    if grade_id not in EXERCISES:
        raise ValueError(f"unknown exercise {grade_id!r}; known: {sorted(EXERCISES)}")
    probes = EXERCISES[grade_id]
    values = [decode(v) for v in evaluate([p.expr for p in probes], namespace)]
    result = judge(grade_id, probes, (), values)
    if not result.passed:
        raise AssertionError(f"{grade_id}: " + result.lines[0]
                             + (f" (and {len(result.lines) - 1} more)"
                                if len(result.lines) > 1 else ""))
    print(f"{grade_id}: the {len(probes)} visible checks pass")


# ------------------------------------------------------------------------------------------
# helpers the probes and predicates share
# ------------------------------------------------------------------------------------------

AND_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)


def and_margins(value: Any) -> np.ndarray:
    """``X @ w + b`` of the four AND inputs for ``value = (w, b)``."""
    w, b = value
    w = np.asarray(w, dtype=float)
    if w.shape != (2,):
        raise ValueError("w must hold two weights")
    return AND_INPUTS @ w + float(b)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def raised(value: Any, type_name: str) -> bool:
    return isinstance(value, Raised) and value.type_name == type_name


def fold_inputs(seed: int) -> tuple[np.ndarray, ...]:
    """``(x, w, b, gamma, beta, mean, var)`` of a batch-norm folding case (float64)."""
    r = np.random.default_rng(seed)
    x = r.standard_normal((2, 3, 6, 6))
    w = r.standard_normal((4, 3, 3, 3))
    b = r.standard_normal(4)
    gamma, beta, mean = r.standard_normal(4), r.standard_normal(4), r.standard_normal(4)
    var = r.random(4) + 0.1
    return x, w, b, gamma, beta, mean, var


def fold_probe(seed: int) -> str:
    return f"fold_batchnorm(*_ex.fold_inputs({seed})[1:], 1e-5)"


def folds_correctly(seed: int) -> Callable[[Any], bool]:
    """Predicate: the folded ``(w, b)`` make conv equal conv followed by test-mode BN."""

    def test(value: Any) -> bool:
        from cs231n_lib.conv_fast import conv_forward_fast

        x, w, b, gamma, beta, mean, var = fold_inputs(seed)
        w2, b2 = (np.asarray(v, dtype=float) for v in value)
        if w2.shape != w.shape or b2.shape != b.shape:
            return False
        conv = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})[0]
        s = (1, 4, 1, 1)
        expected = (gamma.reshape(s) * (conv - mean.reshape(s)) / np.sqrt(var.reshape(s) + 1e-5)
                    + beta.reshape(s))
        got = conv_forward_fast(x, w2, b2, {"stride": 1, "pad": 1})[0]
        return bool(np.allclose(got, expected))

    return test


def random_labels(seed: int, classes: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(seed)
    return r.integers(0, classes, n), r.integers(0, classes, n)


def counts_pairs(seed: int, classes: int, n: int) -> Callable[[Any], bool]:
    """Predicate: a ``classes x classes`` confusion matrix of :func:`random_labels`."""

    def test(value: Any) -> bool:
        t, p = random_labels(seed, classes, n)
        expected = np.zeros((classes, classes), dtype=np.int64)
        np.add.at(expected, (t, p), 1)
        return bool(np.array_equal(np.asarray(value), expected))

    return test


def _kept_fraction(v: Any) -> bool:
    from cs231n_lib import arithmetic

    return v == 0.25 and v == float(arithmetic.pool_kept_fraction(224, 2, 2))


#: The visible probes of every exercise, by grade id (the cell's points live in its metadata).
EXERCISES: dict[str, tuple[Probe, ...]] = {
    "test_and_weights": (
        Probe("(w_and, b_and)", lambda v: (and_margins(v) > 0).astype(int).tolist() == [0, 0, 0, 1],
              "the perceptron must give [0, 0, 0, 1] on (0,0), (0,1), (1,0), (1,1)"),
    ),
    "test_counts": (
        Probe("int(fc_64)", lambda v: v == 64 * 64 * 3,
              "one weight per input value: height x width x depth"),
    ),
    "test_valid_strides": (
        Probe("valid_strides(7, 3)", lambda v: v == [1, 2, 4], "strides 1, 2 and 4 fit"),
        Probe("3 in valid_strides(7, 3)", lambda v: v is False, "stride 3 gives 2.33 positions"),
    ),
    "test_sharing_ratio": (
        Probe("sharing_ratio", lambda v: is_number(v) and abs(v - 55 * 55) <= 1e-8 * 55 * 55,
              "sharing saves one copy of the filters per position"),
    ),
    "test_vgg_xcol": (
        Probe("tuple(vgg_xcol)", lambda v: v == [3 * 3 * 64, 224 * 224],
              "one column per output position, one row per filter weight"),
    ),
    "test_pooled_fraction": (
        Probe("pooled_fraction(2, 2)", _kept_fraction,
              "2x2 windows with stride 2 keep one value in four"),
        Probe("pooled_side(224, [(2, 2)] * 5)", lambda v: v == 7,
              "VGG-16 pools a 224 input five times down to 7"),
    ),
    "test_score_map_side": (
        Probe("score_map_side(384)", lambda v: v == 6,
              "384 gives a 12x12 feature map and a 6x6 score map"),
        Probe("score_map_side(224)", lambda v: v == 1, "the training size gives one score vector"),
    ),
    "test_max_pools": (
        Probe("max_pools(224)", lambda v: v == 5, "224 -> 112 -> 56 -> 28 -> 14 -> 7"),
        Probe("max_pools(32)", lambda v: v == 5, "32 -> 16 -> 8 -> 4 -> 2 -> 1"),
    ),
    "test_confusion_matrix": (
        Probe("confusion_matrix(_ex.np.array([0, 1, 1, 2]), _ex.np.array([0, 2, 1, 2]), 3)",
              lambda v: np.array_equal(np.asarray(v), [[1, 0, 0], [0, 1, 1], [0, 0, 1]]),
              "rows are true classes, columns predictions"),
    ),
    "test_fold_batchnorm": (
        Probe(fold_probe(0), folds_correctly(0),
              "conv with the folded w, b must equal conv then test-mode BN"),
    ),
}
