"""The notebook's check API: ``check("conv_forward_naive")`` in a check cell.

Runs the visible cases (fixed + seeded random) in the learner's kernel against
``cs231n_lib`` and prints one line per case: PASS with the measured error and the tolerance,
or FAIL with what is wrong and a hint. :func:`check` never raises; :func:`grade` (for
nbgrader's autograded cells, ``grade_id = "check_<function>"``) raises ``AssertionError``
with one line, the hint first, when a case fails. Neither writes to stderr (nbgrader scores a
cell that does as 0), and anything the learner's code prints is captured and cut short.

Points here are informational: the points that count come from the secure grader, which runs
the same registry (plus hidden cases) outside the learner's process.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from grader.checks import expected as _expected
from grader.checks import registry
from grader.checks.compare import CaseResult, compare
from grader.checks.registry import GRADE_ID_PREFIX, points  # noqa: F401 - re-exported API
from grader.harness.recipes import run_recipe

MAX_CAPTURED = 2_000  # characters of the learner's own printing shown per check


class _Capped(io.TextIOBase):
    """A text sink that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int = MAX_CAPTURED) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def text(self) -> str:
        out = "".join(self.parts)
        if self.dropped:
            out += f"\n... ({self.dropped} more characters of output not shown)"
        return out


@dataclass
class Report:
    """Results of one :func:`check` call."""

    results: list[tuple[str, CaseResult]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    captured: str = ""

    @property
    def passed(self) -> bool:
        return not self.errors and bool(self.results) and all(r.passed for _, r in self.results)

    def __bool__(self) -> bool:
        return self.passed

    def failures(self) -> list[CaseResult]:
        return [r for _, r in self.results if not r.passed]

    def passed_names(self) -> list[str]:
        return [n for n in self.names
                if all(r.passed for s, r in self.results if s == n)
                and any(s == n for s, _ in self.results)]

    def score(self) -> int:
        """Informational: points of the functions whose every visible case passes."""
        return sum(registry.points(n) for n in self.passed_names())

    def _of(self, name: str) -> list[CaseResult]:
        return [r for n, r in self.results if n == name]

    def headline(self, name: str) -> str:
        """One line for one function, the hint first: what nbgrader's Validate shows."""
        results = self._of(name)
        failed = [r for r in results if not r.passed]
        if not results:
            return f"{name}: no cases ran" + (f" ({self.errors[0]})" if self.errors else "")
        if not failed:
            return f"{name}: all {len(results)} visible cases passed"
        first = failed[0]
        if all(r.message.startswith("not written yet") for r in results):
            return f"{name}: not written yet - {first.hint or first.message}"
        hint = next((r.hint for r in failed if r.hint), "")
        where = first.case.split("/", 1)[-1]
        lead = f"hint: {hint}" if hint else f"{where}: {first.message}"
        return f"{name}: {lead} ({len(failed)} of {len(results)} cases failed, first {where})"

    def text(self) -> str:
        """The check cell's report: per function a header, its headline, then the cases."""
        lines = list(self.errors)
        for name in dict.fromkeys(n for n, _ in self.results):
            results = self._of(name)
            spec = registry.get(name)
            lines.append(f"== {name} ({spec.points} points, tolerance {spec.tolerance})")
            failed = [r for r in results if not r.passed]
            if failed:
                lines.append("FAIL " + self.headline(name))
            if failed and all(r.message.startswith("not written yet") for r in results):
                lines.append(f"     (all {len(results)} cases stop at its NotImplementedError)")
                continue
            told = next((r.hint for r in failed if r.hint), "")
            repeated, last_message = 0, None
            for res in results:
                if not res.passed and res.message == last_message:
                    repeated += 1
                    continue
                last_message = None if res.passed else res.message
                line = res.line()
                if told and not res.passed:  # the headline already gave this hint
                    line = line.replace(f"\n     hint: {told}", "")
                lines.append(line)
            if repeated:
                lines.append(f"     ... and {repeated} more cases failed the same way")
        if self.results:
            n_ok = sum(r.passed for _, r in self.results)
            lines.append(f"{n_ok}/{len(self.results)} cases passed"
                         + (" - all good!" if self.passed else ""))
        if self.captured:
            lines.append("output printed by your code (shortened):\n" + self.captured)
        return "\n".join(lines)

    def __repr__(self) -> str:
        n_ok = sum(r.passed for _, r in self.results)
        return f"<Report {n_ok}/{len(self.results)} passed, {len(self.errors)} errors>"

    def _ipython_display_(self) -> None:
        """A check cell already printed its table; a notebook shows nothing more."""


def _run_case(spec: registry.CheckSpec, case, sink: _Capped) -> CaseResult:
    if case.needs_reference:
        exp = _expected.expected_for(spec, case)
        if isinstance(exp, str):
            return CaseResult(case.name, False, None, spec.tolerance_for(case), exp,
                              note=case.note)
    else:
        exp = None
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = run_recipe(case.recipe)
    except KeyboardInterrupt:
        raise  # the learner stopped a runaway loop
    except BaseException as exc:  # noqa: BLE001 - learner code may raise anything, sys.exit too
        got = exc
    return compare(spec, case, got, exp)


_T0 = time.time()
_SEEN: dict[str, tuple[int, tuple[str, float, int]]] = {}


def _stamp(mod) -> tuple[str, float, int]:
    try:
        path = Path(mod.__file__)
        st = path.stat()
        return str(path), st.st_mtime, st.st_size
    except Exception:  # noqa: BLE001
        return "", 0.0, 0


def _reload(module: str) -> str | None:
    """Import ``module``, re-importing it when its file changed (the learner edited it).

    A module object seen for the first time is re-imported only if its file was modified
    after this checker was loaded. Returns an error text if the module fails to import.
    """
    try:
        mod = sys.modules.get(module)
        if mod is None:
            mod = importlib.import_module(module)
        else:
            seen = _SEEN.get(module)
            stamp = _stamp(mod)
            if seen is None or seen[0] != id(mod):
                stale = stamp[1] > _T0
            else:
                stale = seen[1] != stamp
            if stale:
                mod = importlib.reload(mod)
        _SEEN[module] = (id(mod), _stamp(mod))
    except Exception as exc:  # noqa: BLE001
        _SEEN.pop(module, None)
        return f"{module} failed to import: {type(exc).__name__}: {str(exc)[:400]}"
    return None


def run(name: str | None = None, *, reload: bool = True) -> Report:
    """Run the visible cases of ``name`` (all checks if None) and return the report."""
    report = Report()
    if name is None:
        names = registry.names()
    elif name in registry.SPECS:
        names = [name]
    else:
        report.errors.append(f"no check named {name!r}. Known checks: "
                             + ", ".join(registry.names()))
        return report
    report.names = names
    sink = _Capped()
    for n in names:
        spec = registry.get(n)
        problem = _reload(spec.module) if reload else None
        for case in spec.visible_cases():
            if problem:
                res = CaseResult(case.name, False, None, spec.tolerance_for(case), problem,
                                 hint="fix the error in the module so that it imports")
            else:
                try:
                    res = _run_case(spec, case, sink)
                except Exception as exc:  # noqa: BLE001 - belt and braces
                    res = CaseResult(case.name, False, None, spec.tolerance_for(case),
                                     f"checker error: {type(exc).__name__}: {exc}")
            report.results.append((n, res))
    report.captured = sink.text()
    return report


def check(name: str | None = None, *, quiet: bool = False, reload: bool = True) -> Report:
    """Check ``name`` (or every graded function) on the visible cases; print the table.

    Never raises: any problem, the learner's or the checker's, becomes a FAIL line.
    """
    try:
        report = run(name, reload=reload)
    except Exception as exc:  # noqa: BLE001
        report = Report(errors=[f"checker error: {type(exc).__name__}: {exc}"])
    if not quiet:
        try:
            print(report.text())
        except Exception:  # noqa: BLE001
            pass
    return report


def grade(name: str, *, reload: bool = True) -> None:
    """For an autograded cell: one line, no table (the check cell above prints it).

    Prints the verdict when every visible case passes; otherwise raises ``AssertionError``
    with one short line, the hint first (nbgrader's Validate shows only the start of it).
    """
    try:
        report = run(name, reload=reload)
    except Exception as exc:  # noqa: BLE001
        report = Report(errors=[f"checker error: {type(exc).__name__}: {exc}"])
    if report.passed:
        print(report.headline(name))
        return
    raise AssertionError(report.headline(name) if report.results else
                         f"{name}: " + "; ".join(report.errors or ["failed"]))
