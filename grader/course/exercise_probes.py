"""Exercise probes in nbgrader's autograde pipeline (trusted; used by the grading job only).

:class:`InsertExerciseProbes` (before ``Execute``) puts a probe cell after every exercise cell
(``test_*`` grade cells of :data:`grader.checks.exercises.EXERCISES`): it prints the values of
the exercise's visible and hidden probes as one JSON line. :class:`ExtractExerciseProbes`
(right after ``Execute``) reads that line from the cell's own outputs, removes the probe cell
(no hidden expression reaches the graded notebook or the feedback) and writes the raw line
(and the name of the error that stopped the cell, if one did: a cell timeout interrupts it)
to ``out_dir``. :func:`judge_probes` then decodes (with caps) and judges every exercise in the
trusted process: the kernel's own verdict on an exercise cell counts for nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_code_cell
from traitlets import Bool, Unicode

from grader.checks.exercises import EXERCISES, MARKER, ExerciseResult, judge, parse_line

#: Metadata key of an inserted probe cell (its value: the exercise's grade id).
PROBE_KEY = "cs231n_probe"
#: Characters of a probe cell's stdout kept (hostile output).
MAX_PROBE_OUTPUT = 2 << 20
#: Characters of a probe cell's error name kept.
MAX_ERROR_NAME = 80


def hidden_probes() -> dict[str, tuple]:
    """The instructor's hidden probes (empty where ``hidden_exercises`` is absent)."""
    try:
        from grader.course.hidden_exercises import HIDDEN
    except ImportError:
        return {}
    return HIDDEN


def hidden_texts() -> list[str]:
    """The hidden probe expressions that must never reach a student (those that only name a
    notebook variable, or repeat a visible probe, tell nothing)."""
    visible = {p.expr for probes in EXERCISES.values() for p in probes}
    return [p.expr for probes in hidden_probes().values() for p in probes
            if p.expr not in visible and not p.expr.isidentifier()]


def probe_names(grade_id: str) -> set[str]:
    """The notebook names an exercise's probes read (visible and hidden)."""
    import ast

    exprs = [p.expr for p in EXERCISES[grade_id]]
    exprs += [p.expr for p in hidden_probes().get(grade_id, ())]
    return {n.id for e in exprs for n in ast.walk(ast.parse(e, mode="eval"))
            if isinstance(n, ast.Name)} - {"_ex"}


def probe_source(grade_id: str) -> str:
    """The probe cell's code: every expression of the exercise, visible then hidden."""
    exprs = [p.expr for p in EXERCISES[grade_id]]
    exprs += [p.expr for p in hidden_probes().get(grade_id, ())]
    return ("__import__('grader.checks.exercises', fromlist=['emit']).emit(\n"
            f"    {grade_id!r}, {exprs!r}, globals())")


def _grade_id(cell: Any) -> str:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    gid = meta.get("grade_id", "")
    return gid if meta.get("grade") and gid in EXERCISES else ""


class InsertExerciseProbes(Preprocessor):
    """Insert a probe cell after each exercise cell (before ``Execute``)."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            gid = _grade_id(cell) if cell.cell_type == "code" else ""
            if gid:
                probe = new_code_cell(probe_source(gid))
                probe.metadata[PROBE_KEY] = gid
                cells.append(probe)
        nb.cells = cells
        return nb, resources


class ExtractExerciseProbes(Preprocessor):
    """Take each probe cell's stdout (and error name), remove the cell, write them to
    ``out_dir`` as ``{grade id: {"stdout": text, "error": name or ""}}``."""

    enabled = Bool(True).tag(config=True)
    out_dir = Unicode("", help="Directory of the per-notebook probe files").tag(config=True)

    def preprocess(self, nb, resources):
        found: dict[str, dict[str, str]] = {}
        kept = []
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get(PROBE_KEY)
            if not isinstance(gid, str) or gid not in EXERCISES:
                kept.append(cell)
                continue
            outputs = cell.get("outputs", [])
            text = "".join(str(out.get("text", "")) for out in outputs
                           if out.get("output_type") == "stream"
                           and out.get("name") == "stdout")
            errors = [str(out.get("ename", "error")) for out in outputs
                      if out.get("output_type") == "error"]
            found[gid] = {"stdout": text[:MAX_PROBE_OUTPUT],
                          "error": errors[0][:MAX_ERROR_NAME] if errors else ""}
        nb.cells = kept
        if self.out_dir:
            name = resources.get("unique_key") or "notebook"
            out = Path(self.out_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{Path(str(name)).name}.json").write_text(json.dumps(found))
        return nb, resources


def _judge_one(gid: str, text: str, error: str = "") -> ExerciseResult:
    hidden = hidden_probes().get(gid, ())
    values = None
    try:
        sent, values = parse_line(text)
        if sent != gid:
            values = None
    except (ValueError, RecursionError):
        values = None
    if values is None and error:
        # The probe cell was stopped (a cell timeout interrupts it): the exercise cannot be
        # judged, so it scores nothing, but a passing exercise cell is not called tampering.
        return ExerciseResult(gid, False, [f"the check of this exercise was stopped ({error}): "
                                           "does its code finish within the cell time limit?"],
                              interrupted=True)
    return judge(gid, EXERCISES[gid], hidden, values)


def judge_probes(out_dir: Path) -> dict[str, ExerciseResult]:
    """The trusted verdict on every exercise whose probe cell ran (files of ``out_dir``)."""
    results: dict[str, ExerciseResult] = {}
    if not out_dir.is_dir():
        return results
    for path in sorted(out_dir.glob("*.json")):
        try:
            found = json.loads(path.read_text())
        except ValueError:
            continue
        if not isinstance(found, dict):
            continue
        for gid, entry in found.items():
            if gid in EXERCISES and isinstance(entry, dict):
                text, error = entry.get("stdout"), entry.get("error")
                results[gid] = _judge_one(gid, text if isinstance(text, str) else "",
                                          error if isinstance(error, str) else "")
    return results


def autograde_preprocessors() -> list:
    """nbgrader's autograde pipeline with the probes around its ``Execute``."""
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import Execute

    pipeline = list(Autograde.class_traits()["autograde_preprocessors"].default())
    at = pipeline.index(Execute)
    return [*pipeline[:at], InsertExerciseProbes, Execute, ExtractExerciseProbes,
            *pipeline[at + 1:]]


def autograde_preprocessor_lines(out_dir: Path) -> str:
    """Config lines that put the probes around nbgrader's ``Execute``."""
    return (
        "\n# Exercise probes (grader.course.exercise_probes)\n"
        "from grader.course.exercise_probes import autograde_preprocessors as _probed\n"
        "c.Autograde.autograde_preprocessors = _probed()\n"
        f"c.ExtractExerciseProbes.out_dir = {str(out_dir)!r}\n"
    )


__all__ = ["MARKER", "PROBE_KEY", "ExtractExerciseProbes", "InsertExerciseProbes",
           "autograde_preprocessor_lines", "hidden_texts", "judge_probes", "probe_source"]
