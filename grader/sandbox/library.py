"""Grade one submission's ``cs231n_lib`` without ever importing it in this process.

For every spec of the registry, each case (visible and hidden) is run twice: the reference
in this trusted process (:func:`grader.harness.recipes.run_recipe` on the instructor's library) and
the submission in the sandboxed worker (:class:`grader.sandbox.runner.SecureRunner`); then
:func:`grader.checks.compare.compare` judges, here. A function earns its points when every case
passes — the same rule as its notebook grade cell, so the two can be compared.

The report is plain JSON-able data. For hidden cases it keeps only the verdict and the
hint: the submission saw those inputs and controls its error text, so echoing its messages
back would let it smuggle hidden inputs out through the feedback.
"""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
_SAFE_TYPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


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
def _reference(spec_name: str, case_name: str) -> dict[str, np.ndarray] | None:
    """Reference outputs of one case (cached: every student gets the same cases)."""
    from grader.checks import registry
    from grader.harness.recipes import run_recipe

    spec = registry.get(spec_name)
    for case in spec.all_cases():
        if case.name == case_name:
            return run_recipe(case.recipe) if case.needs_reference else None
    raise KeyError(case_name)


def _case_entry(case, result, hidden: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": case.name,
        "passed": bool(result.passed),
        "max_error": None if result.max_error is None else float(result.max_error),
        "tolerance": str(result.tolerance),
        "hint": result.hint or "",
    }
    if hidden:
        entry["message"] = "" if result.passed else "hidden case failed"
    else:
        entry["message"] = result.message
        entry["note"] = case.note
    return entry


def grade_library(
    submission_dir: Path | str,
    *,
    require_sandbox: bool = False,
    names: list[str] | None = None,
    timeout_s: float = 20.0,
) -> dict[str, Any]:
    """Score every graded function of the submission at ``submission_dir/cs231n_lib``.

    Returns:
        ``{"sandbox": str, "seconds": float, "functions": {name: {"score", "max",
        "passed", "total", "cases": [...]}}}``. A submission that cannot even start
        (no ``cs231n_lib``) scores zero everywhere; nothing raises for a hostile submission.

    Raises:
        RuntimeError: the reference library is not this repository's (see
            :func:`_check_reference`), or ``require_sandbox`` and no sandbox.
    """
    from grader.checks import registry
    from grader.checks.compare import all_passed_points, compare, got_from_run
    from grader.sandbox.runner import SecureRunner

    _check_reference()
    start = time.perf_counter()
    report: dict[str, Any] = {"functions": {}}
    wanted = names or registry.names()
    with SecureRunner(
        Path(submission_dir), require_sandbox=require_sandbox, timeout_s=timeout_s
    ) as runner:
        report["sandbox"] = runner.status
        for name in wanted:
            spec = registry.get(name)
            entries, results = [], []
            for case in spec.all_cases():
                hidden = case.group == "hidden"
                expected = _reference(spec.name, case.name)
                got = got_from_run(runner.run(case.recipe))
                if hidden and isinstance(got, Exception):
                    type_name = getattr(got, "type_name", "Exception")
                    safe = type_name if _SAFE_TYPE.match(type_name) else "Exception"
                    got = type(got)(safe, "")
                result = compare(spec, case, got, expected)
                results.append(result)
                entries.append(_case_entry(case, result, hidden))
            report["functions"][name] = {
                "score": float(all_passed_points(spec, results)),
                "max": float(spec.points),
                "passed": sum(r.passed for r in results),
                "total": len(results),
                "cases": entries,
            }
    report["seconds"] = round(time.perf_counter() - start, 3)
    return report
