"""Grade one submission's ``cs231n_lib`` without ever importing it in this process.

For every check spec, each case (visible and hidden) runs twice: the reference in this trusted
process (:func:`grader.harness.recipes.run_recipe` on the instructor's library) and the
submission in a sandboxed worker (:class:`grader.sandbox.runner.SecureRunner`); then
:func:`grader.checks.compare.compare` judges, here. A function earns its points when every
case passes — the same rule as its notebook grade cell, so the two can be compared.

Each function is graded by a fresh worker over a library put together for it
(:func:`compose_library`; all of a submission's compositions are made up front, one per set
of provided twins, and under
bubblewrap one sandbox holds them and forks each function's worker, which sees its own
composition only: :mod:`grader.harness.zygote`): the submission's own files only where the
learner writes code, the release's files everywhere else (a submission cannot bring a
"provided" module of its own), and the provided implementations of the same computation
(the fast convolution for the naive one, ...: ``registry.PROVIDED_TWINS``) replaced by
tripwires. A function that calls
one scores 0 and is told why: a point means the function was written. So does one that pastes
such an implementation into its own module (:mod:`grader.sandbox.copies`).

The submission as a whole has a wall-clock budget; functions not reached in time score 0
with the outcome ``budget``. Hidden cases are reported without name, geometry, number or
submission text (:mod:`grader.checks.report`).
"""

from __future__ import annotations

import ast
import functools
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from grader.checks.report import CaseReport, FunctionResult, LibraryReport, Outcome
from grader.sandbox.copies import Copy, find_copies
from grader.sandbox.files import read_regular_file, write_new_file

ROOT = Path(__file__).resolve().parents[2]
#: Exception raised by a tripwire; its name is what the trusted side recognises.
TRIPWIRE_ERROR = "ProvidedImplementationCalled"
MAX_MODULE_BYTES = 1 << 20
_SAFE_TYPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
_KIND_OUTCOME = {"NotImplementedError": Outcome.NOT_WRITTEN, TRIPWIRE_ERROR: Outcome.DELEGATED,
                 "Timeout": Outcome.TIMEOUT, "Crash": Outcome.CRASH,
                 "MemoryError": Outcome.MEMORY, "RecipeError": Outcome.BAD_OUTPUT}


def _check_reference() -> None:
    """Refuse to grade against anything but this repository's reference library."""
    import cs231n_lib

    where = Path(cs231n_lib.__file__).resolve().parent
    if where != ROOT / "cs231n_lib":
        raise RuntimeError(
            f"the reference library resolves to {where}, not {ROOT / 'cs231n_lib'}: run the "
            "grader from outside any submission or workspace directory"
        )


@functools.lru_cache(maxsize=4096)
def _reference(spec_name: str, case_index: int, hidden: bool) -> dict[str, np.ndarray] | None:
    """Reference outputs of one case (cached: every student gets the same cases)."""
    from grader.checks import registry
    from grader.harness.recipes import run_recipe

    spec = registry.get(spec_name)
    case = (spec.hidden_cases() if hidden else spec.visible_cases())[case_index]
    return run_recipe(case.recipe) if case.needs_reference else None


# --------------------------------------------------------------------------- composition


def tripwire_source(module: str, provided: str, graded: str, names: list[str] | None = None,
                    ) -> str:
    """The text of a stand-in for ``cs231n_lib.<module>`` while ``graded`` is being graded.

    With ``names`` the provided module is kept and only those functions are replaced;
    otherwise every top-level function and class of the module becomes a tripwire.
    """
    head = (f'"""Stands in for cs231n_lib.{module} while grading {graded}."""\n\n\n'
            f"class {TRIPWIRE_ERROR}(Exception):\n    pass\n\n\n"
            "def _tripwire(name):\n"
            "    def tripwire(*args, **kwargs):\n"
            f"        raise {TRIPWIRE_ERROR}(name)\n"
            "    return tripwire\n\n\n")
    if names is not None:
        body = "".join(f"{n} = _tripwire({n!r})\n" for n in names)
        return provided + "\n\n# --- tripwires (grading) ---\n" + head + body
    tree = ast.parse(provided)
    defined = [node.name for node in tree.body
               if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    return head + "".join(f"{n} = _tripwire({n!r})\n" for n in defined)


def compose_library(submission_lib: Path, provided_lib: Path, learner_files: set[str],
                    twins: tuple[str, ...], graded: str, dst: Path) -> Path:
    """``dst/cs231n_lib``: learner files from the submission, the rest from the release.

    ``twins`` names provided modules (``"conv_fast"``) or functions (``"_validate.x"``)
    that become tripwires. A learner file the submission lacks (or that is not a regular
    file under the size cap) is taken from the release: the stub, which scores nothing.
    """
    out = dst / "cs231n_lib"
    out.mkdir(parents=True, mode=0o755)
    whole = {t for t in twins if "." not in t}
    parts: dict[str, list[str]] = {}
    for twin in twins:
        if "." in twin:
            module, name = twin.split(".", 1)
            parts.setdefault(module, []).append(name)
    for path in sorted(provided_lib.glob("*.py")):
        source = path.read_bytes()
        if path.name in learner_files:
            theirs = read_regular_file(submission_lib / path.name, MAX_MODULE_BYTES)
            source = theirs if theirs is not None else source
        module = path.stem
        if module in whole:
            source = tripwire_source(module, source.decode(), graded).encode()
        elif module in parts:
            source = tripwire_source(module, source.decode(), graded, parts[module]).encode()
        write_new_file(out / path.name, source)
    return dst


# --------------------------------------------------------------------------- verdicts


def _outcome(result, got, case) -> Outcome:
    if result.passed:
        return Outcome.PASSED
    type_name = getattr(got, "type_name", None)
    if type_name is None:
        return Outcome.WRONG
    if case.expect_error and type_name == case.expect_error:
        return Outcome.PASSED
    return _KIND_OUTCOME.get(type_name, Outcome.ERROR)


def hint_class(outcome: Outcome, hint: str) -> str:
    """What a hidden case may say: a hint without any number in it, or the outcome's label."""
    if hint and not re.search(r"\d", hint) and len(hint) <= 200:
        return hint
    return "" if outcome is Outcome.PASSED else f"on a hidden configuration: {outcome.label}"


def _delegation_message(spec) -> str:
    return (f"{spec.name} calls the course's provided implementation of the same computation "
            f"({', '.join(spec.provided_twins)}): a point means the function was written, so "
            f"this function scores 0")


def _grade_function(spec, runner, budget_end: float, timeout_s: float) -> FunctionResult:
    from grader.checks.compare import compare, got_from_run

    visible, hidden = spec.visible_cases(), spec.hidden_cases()
    cases: list[CaseReport] = []
    all_passed = True
    for group, is_hidden in ((visible, False), (hidden, True)):
        for index, case in enumerate(group):
            left = budget_end - time.monotonic()
            if left <= 0.5:
                outcome = Outcome.BUDGET
                cases.append(CaseReport(
                    f"hidden case {index + 1} of {len(group)}" if is_hidden else case.label,
                    is_hidden, False, outcome, hint=outcome.label))
                all_passed = False
                continue
            got = got_from_run(runner.run(case.recipe, timeout_s=min(timeout_s, left)))
            if is_hidden and isinstance(got, Exception):
                type_name = getattr(got, "type_name", "Exception")
                safe = type_name if _SAFE_TYPE.match(type_name) else "Exception"
                got = type(got)(safe, "")
            result = compare(spec, case, got, _reference(spec.name, index, is_hidden))
            outcome = _outcome(result, got, case)
            passed = outcome is Outcome.PASSED
            all_passed &= passed
            hint = _delegation_message(spec) if outcome is Outcome.DELEGATED else result.hint
            if is_hidden:
                cases.append(CaseReport(f"hidden case {index + 1} of {len(group)}", True,
                                        passed, outcome, hint=hint_class(outcome, hint),
                                        tolerance=str(result.tolerance)))
            else:
                cases.append(CaseReport(
                    case.label, False, passed, outcome, hint=hint,
                    message=result.message, note=case.note,
                    max_error=None if result.max_error is None else float(result.max_error),
                    tolerance=str(result.tolerance)))
    return FunctionResult(spec.name, float(spec.points) if all_passed else 0.0,
                          float(spec.points), cases, notebook=spec.notebook)


def _copied(spec, copy: Copy) -> FunctionResult:
    hint = (f"{spec.name} copies the course's provided code ({copy.source}, "
            f"{copy.ratio:.0%} alike once names are ignored): a point means the function was "
            "written, so this function scores 0")
    return FunctionResult(spec.name, 0.0, float(spec.points),
                          [CaseReport("provided code copied", False, False, Outcome.COPIED,
                                      hint=hint)], notebook=spec.notebook)


def _shipped_sources() -> list[Path]:
    """The grader code a release ships (a student can read and paste it)."""
    from grader.course.release import SHIPPED_PACKAGES

    return [p for pkg in SHIPPED_PACKAGES for p in sorted((ROOT / "grader" / pkg).glob("*.py"))]


@functools.lru_cache(maxsize=1)
def _default_provided() -> tuple[Path, frozenset[str]]:
    """A student-release ``cs231n_lib`` made from the reference (stubs where the learner
    writes code) and the names of those learner files: what a course's release holds."""
    from grader.checks import stubs

    out = Path(tempfile.mkdtemp(prefix="cs231n-provided-")) / "cs231n_lib"
    out.mkdir()
    learner = set()
    for path in sorted((ROOT / "cs231n_lib").glob("*.py")):
        text = path.read_text()
        if stubs.has_solutions(text):
            learner.add(path.name)
            text = stubs.strip_solutions(text, str(path))
        (out / path.name).write_text(text)
    return out, frozenset(learner)


def grade_library(
    submission_dir: Path | str,
    *,
    provided_lib: Path | None = None,
    learner_files: set[str] | None = None,
    require_sandbox: bool = True,
    names: list[str] | None = None,
    timeout_s: float = 20.0,
    budget_s: float = 180.0,
) -> LibraryReport:
    """Score every graded function of the submission at ``submission_dir/cs231n_lib``.

    Args:
        provided_lib: the release's ``cs231n_lib`` (trusted: stubs and provided modules);
            default: one made from the reference library.
        learner_files: file names (``"conv_naive.py"``) the learner writes code in; default:
            the reference's files with solution regions.
        timeout_s: wall clock per call; ``budget_s``: wall clock for the whole library.

    Nothing raises for a hostile submission: a submission that cannot even start scores
    zero everywhere, with the reason.

    Raises:
        RuntimeError: the reference library is not this repository's.
        SandboxUnavailable: ``require_sandbox`` and bubblewrap is missing or broken.
    """
    from grader.checks import registry
    from grader.sandbox.runner import SecureRunner

    _check_reference()
    if provided_lib is None or learner_files is None:
        default_lib, default_learner = _default_provided()
        provided_lib = default_lib if provided_lib is None else provided_lib
        learner_files = set(default_learner) if learner_files is None else learner_files
    start = time.monotonic()
    budget_end = start + budget_s
    submission_lib = Path(submission_dir) / "cs231n_lib"
    report = LibraryReport(sandbox="")
    wanted = names or registry.names()
    copies = find_copies(submission_lib, Path(provided_lib), learner_files,
                         {n: registry.get(n).module for n in wanted}, _shipped_sources())
    graded = [name for name in wanted if name not in copies]
    for name in wanted:
        if name in copies:
            report.functions[name] = _copied(registry.get(name), copies[name])
    with tempfile.TemporaryDirectory(prefix="cs231n-compositions-") as tmp:
        Path(tmp).chmod(0o755)
        # Every composition up front (the zygote holds them all), one per set of provided
        # twins: functions with the same twins see the same files (read-only, and each
        # function still gets a fresh worker of its own).
        sharing: dict[tuple[str, ...], list[str]] = {}
        for name in graded:
            sharing.setdefault(tuple(registry.get(name).provided_twins), []).append(name)
        libraries, composition = {}, {}
        for twins, names in sharing.items():
            key = names[0]
            compose_library(submission_lib, Path(provided_lib), learner_files, twins,
                            ", ".join(names), Path(tmp) / key)
            libraries[key] = Path(tmp) / key / "cs231n_lib"
            composition.update(dict.fromkeys(names, key))
        if libraries:
            with SecureRunner(Path(tmp), require_sandbox=require_sandbox, timeout_s=timeout_s,
                              libraries=libraries) as runner:
                report.sandbox = runner.status
                report.sandboxed = runner.sandboxed
                for name in graded:
                    runner.select(composition[name])  # a fresh worker, this function's library
                    report.functions[name] = _grade_function(registry.get(name), runner,
                                                             budget_end, timeout_s)
    report.functions = {name: report.functions[name] for name in wanted}
    report.seconds = round(time.monotonic() - start, 3)
    return report
