"""The library report: what the secure checker found for one submission, as typed data.

:class:`LibraryReport` → one :class:`FunctionResult` per graded function → one
:class:`CaseReport` per case. It round-trips through JSON (``to_json`` / ``from_json``) so
that the grading job, the gradebook merge, the score table and the feedback page all read
the same structure. ``from_json`` is strict about types: the file is written by a trusted
process, but a report is never trusted to be well-formed.

Hidden cases carry no name, geometry, number or message (the submission saw those inputs
and controls its error text); they are labelled "hidden case k of n" and keep only the
verdict, the outcome and a hint class.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any


class Outcome(enum.StrEnum):
    """How one case ended."""

    PASSED = "passed"
    WRONG = "wrong"  # ran, returned arrays, not within tolerance
    ERROR = "error"  # raised an exception (or the wrong one)
    NOT_WRITTEN = "not_written"  # the stub's NotImplementedError
    DELEGATED = "delegated"  # called the course's provided implementation of itself
    COPIED = "copied"  # pasted a provided implementation (or a helper of it) into its module
    TIMEOUT = "timeout"
    CRASH = "crash"
    BAD_OUTPUT = "bad_output"  # not arrays of numbers, wrong names or sizes
    MEMORY = "memory"
    BUDGET = "budget"  # the submission's time budget ran out before this case

    @property
    def label(self) -> str:
        return {
            "passed": "passed", "wrong": "wrong values", "error": "raised an error",
            "not_written": "not written yet", "delegated": "calls the provided implementation",
            "copied": "copies the provided implementation",
            "timeout": "took too long", "crash": "crashed the worker",
            "bad_output": "returned something that is not arrays of numbers",
            "memory": "ran out of memory", "budget": "not run: time budget exhausted",
        }[self.value]


@dataclass
class CaseReport:
    """One case: ``label`` is public ("pad1", or "hidden case 2 of 5")."""

    label: str
    hidden: bool
    passed: bool
    outcome: Outcome
    hint: str = ""
    message: str = ""  # visible cases only
    note: str = ""  # visible cases only: the configuration in words
    max_error: float | None = None  # visible cases only
    tolerance: str = ""


@dataclass
class FunctionResult:
    """One graded function: points are all-or-nothing over its cases."""

    name: str
    score: float
    max_score: float
    cases: list[CaseReport] = field(default_factory=list)
    notebook: str = ""

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.cases)

    @property
    def total(self) -> int:
        return len(self.cases)

    @property
    def full_marks(self) -> bool:
        return self.score >= self.max_score

    def first_failure(self) -> CaseReport | None:
        return next((c for c in self.cases if not c.passed), None)


@dataclass
class LibraryReport:
    """Everything the secure checker says about one submission's ``cs231n_lib``."""

    sandbox: str
    seconds: float = 0.0
    functions: dict[str, FunctionResult] = field(default_factory=dict)
    error: str = ""  # why the library could not be graded at all (then every score is 0)
    sandboxed: bool = True

    @property
    def score(self) -> float:
        return sum(f.score for f in self.functions.values())

    @property
    def max_score(self) -> float:
        return sum(f.max_score for f in self.functions.values())

    def failed(self) -> list[str]:
        return [name for name, f in self.functions.items() if not f.full_marks]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LibraryReport:
        data = json.loads(text)
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> LibraryReport:
        if not isinstance(data, dict):
            raise ValueError("a library report is a JSON object")
        functions = {}
        for name, fn in dict(data.get("functions", {})).items():
            cases = [CaseReport(
                label=str(c["label"]), hidden=bool(c["hidden"]), passed=bool(c["passed"]),
                outcome=Outcome(c["outcome"]), hint=str(c.get("hint", "")),
                message=str(c.get("message", "")), note=str(c.get("note", "")),
                max_error=None if c.get("max_error") is None else float(c["max_error"]),
                tolerance=str(c.get("tolerance", "")),
            ) for c in fn.get("cases", [])]
            functions[str(name)] = FunctionResult(
                name=str(name), score=float(fn["score"]), max_score=float(fn["max_score"]),
                cases=cases, notebook=str(fn.get("notebook", "")))
        return cls(sandbox=str(data.get("sandbox", "")), seconds=float(data.get("seconds", 0)),
                   functions=functions, error=str(data.get("error", "")),
                   sandboxed=bool(data.get("sandboxed", True)))
