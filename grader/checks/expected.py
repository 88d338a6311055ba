"""Expected outputs of the visible cases.

In the learner's kernel there is no reference implementation, so the release ships
``grader/data/visible_expected.npz``: for every visible case its outputs computed by the
instructor's reference, plus a digest of the case's inputs (a stale or mismatched file is
detected, never silently used). Hidden cases are never written there.

In the instructor tree (``cs231n_lib`` still holds its ``### BEGIN SOLUTION`` regions and sits
next to this ``grader/``) the values may instead be computed live from the reference.

For the families whose diagnosis asks "which known mistake matches" (:mod:`grader.checks.mistakes`)
the file also holds, for every visible case, each known mistake's outputs, computed on the
instructor's side with the mutant kernels (:func:`mistake_outputs`); a student copy has no
kernels, so it reads them from the file, and the trusted grader computes them live.

Build the file with ``python -m grader.checks.expected [path]`` (the release builder calls
:func:`write`).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from grader.checks import mistakes, registry
from grader.checks.cases import Case, recipe_digest
from grader.checks.stubs import BEGIN, has_solutions
from grader.harness.recipes import run_recipe

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_FILE = "visible_expected.npz"
DATA = Path(__file__).resolve().parent / "data" / EXPECTED_FILE
_SEP = "::"
_DIGEST = "__digest__"
_MISTAKE = "mistake"
#: Instructor-only module computing a known mistake's outputs (absent from a student copy).
MISTAKE_KERNELS = "grader.mutants.mistakes"

_cache: dict[str, tuple[str, dict[str, np.ndarray]]] = {}
_file: dict[str, np.ndarray] | None = None
_mistake_cache: dict[str, tuple[str, dict[str, dict[str, np.ndarray]]]] = {}
_kernels: list[Any] = []


def reference_available(module: str) -> bool:
    """True if ``module`` is the instructor's reference (solutions present, this repo's copy)."""
    try:
        mod = importlib.import_module(module)
        path = Path(mod.__file__ or "").resolve()
        if path.parent != ROOT / "cs231n_lib":
            return False
        text = path.read_text(encoding="utf-8")
        # a marker line, not a docstring that merely mentions the marker
        return has_solutions(text) and any(ln.strip() == BEGIN for ln in text.splitlines())
    except Exception:  # noqa: BLE001
        return False


def compute(case: Case) -> dict[str, np.ndarray]:
    """Run the case's recipe on the (reference) library importable here."""
    return run_recipe(case.recipe)


def visible_cases(names: list[str] | None = None) -> list[tuple[registry.CheckSpec, Case]]:
    specs = [registry.get(n) for n in (names or registry.names())]
    return [(spec, case) for spec in specs for case in spec.visible_cases()]


def write(path: Path | str | None = None, names: list[str] | None = None) -> Path:
    """Compute every visible case with the reference and store it (``allow_pickle=False``)."""
    arrays: dict[str, np.ndarray] = {}
    for spec, case in visible_cases(names):
        if not case.needs_reference:
            continue
        if not reference_available(spec.module):
            raise RuntimeError(f"{spec.module} is not the instructor's reference; cannot write")
        out = compute(case)
        for key in case.outputs:
            arrays[f"{case.name}{_SEP}{key}"] = out[key]
        arrays[f"{case.name}{_SEP}{_DIGEST}"] = np.array(recipe_digest(case.recipe))
        known = mistakes.mistakes_of(spec.family)
        if known and _live_kernels() is None:
            raise RuntimeError(f"{MISTAKE_KERNELS} is missing; cannot store the mistakes of "
                               f"{spec.name}")
        for mistake, outs in _compute_mistakes(case, known).items():
            for key, value in outs.items():
                arrays[_SEP.join((case.name, _MISTAKE, mistake, key))] = value
    path = Path(DATA if path is None else path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def write_expected(path: Path | str | None = None, names: list[str] | None = None) -> Path:
    """Alias of :func:`write` (the release builder's name for it)."""
    return write(path, names)


def _load_file(path: Path | None = None) -> dict[str, np.ndarray]:
    global _file
    if _file is None:
        _file = {}
        path = DATA if path is None else path
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                _file = {k: data[k] for k in data.files}
    return _file


def reset() -> None:
    """Forget cached values (tests, or after rebuilding the file)."""
    global _file
    _file = None
    _cache.clear()
    _mistake_cache.clear()


def _live_kernels() -> Any:
    """The instructor's mistake kernels module, or None (a student copy); imported once."""
    if not _kernels:
        try:
            _kernels.append(importlib.import_module(MISTAKE_KERNELS))
        except ModuleNotFoundError:
            _kernels.append(None)
    return _kernels[0]


def _compute_mistakes(case: Case, known: tuple) -> dict[str, dict[str, np.ndarray]]:
    live = _live_kernels()
    found: dict[str, dict[str, np.ndarray]] = {}
    if live is None:
        return found
    for mistake in known:
        try:
            outs = live.outputs(case, mistake)
        except Exception:  # noqa: BLE001 - a mistake that cannot run here matches nothing
            continue
        found[mistake.name] = {k: v for k, v in outs.items() if k in case.outputs}
    return found


def mistake_outputs(spec: registry.CheckSpec, case: Case) -> dict[str, dict[str, np.ndarray]]:
    """{mistake name: its outputs on ``case``} for the known mistakes of the spec's family.

    Read from the release file for a visible case; computed with the instructor's kernels
    where they exist (the trusted grader, the instructor tree); else empty (no diagnosis).
    """
    known = mistakes.mistakes_of(spec.family)
    if not known:
        return {}
    digest = recipe_digest(case.recipe)
    hit = _mistake_cache.get(case.name)
    if hit is not None and hit[0] == digest:
        return hit[1]
    stored = _load_file()
    found: dict[str, dict[str, np.ndarray]] = {}
    if not case.hidden and str(stored.get(f"{case.name}{_SEP}{_DIGEST}", "")) == digest:
        prefix = _SEP.join((case.name, _MISTAKE, ""))
        for key, value in stored.items():
            if key.startswith(prefix):
                mistake, _, out = key[len(prefix):].partition(_SEP)
                found.setdefault(mistake, {})[out] = value
    if not found:
        found = _compute_mistakes(case, known)
    _mistake_cache[case.name] = (digest, found)
    return found


def expected_for(spec: registry.CheckSpec, case: Case) -> dict[str, np.ndarray] | str:
    """The expected outputs of a visible case, or a string saying why they are unavailable."""
    digest = recipe_digest(case.recipe)
    hit = _cache.get(case.name)
    if hit is not None and hit[0] == digest:
        return hit[1]
    stored = _load_file()
    key = f"{case.name}{_SEP}{_DIGEST}"
    if key in stored:
        if str(stored[key]) != digest:
            return ("the stored expected values do not match this case's inputs (different "
                    "NumPy random streams?); rebuild them with `python -m grader.checks.expected`")
        values = {k: stored[f"{case.name}{_SEP}{k}"] for k in case.outputs}
        _cache[case.name] = (digest, values)
        return values
    if reference_available(spec.module):
        try:
            values = compute(case)
            values = {k: values[k] for k in case.outputs}
        except Exception as exc:  # noqa: BLE001 - a broken reference must not crash check()
            return f"the reference failed on {case.name}: {type(exc).__name__}: {exc}"
        _cache[case.name] = (digest, values)
        return values
    return (f"no expected values for {case.name}: {DATA.name} is missing from grader/data "
            "(ask your instructor for the release files)")


def prime(names: list[str] | None = None) -> int:
    """Compute/load the expected values of all visible cases now (before swapping libraries)."""
    count = 0
    for spec, case in visible_cases(names):
        if case.needs_reference and not isinstance(expected_for(spec, case), str):
            count += 1
    return count


if __name__ == "__main__":  # pragma: no cover
    target = write(sys.argv[1] if len(sys.argv) > 1 else None)
    print(f"wrote {target}")
