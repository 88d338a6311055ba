"""Helpers shared by the grading tests (no fixtures)."""

from __future__ import annotations

from pathlib import Path

from grader.course.release import ASSIGNMENT


def gradebook_grades(course: Path) -> dict:
    """Every grade of every student, as nbgrader's gradebook holds it."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(ASSIGNMENT):
            out[sub.student.id] = sorted(
                (nb.name, g.name, g.auto_score, g.manual_score, g.needs_manual_grade)
                for nb in sub.notebooks for g in nb.grades)
    return out


def secret_texts() -> list[str]:
    """What no student may receive: the exercises' hidden probe expressions and the hidden
    library cases' labels (the notebooks hold no hidden-test blocks any more)."""
    from grader.course.exercise_probes import hidden_texts
    from grader.course.hidden_cases import HIDDEN

    return hidden_texts() + [label for cases in HIDDEN.values() for label, _ in cases
                             if len(label) > 5]


def breaking_bwrap(folder: Path, real: str) -> Path:
    """A bubblewrap that passes the start-of-run probe, then refuses to start any worker (as
    a machine out of namespaces, or a bwrap broken mid-run, would)."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "bwrap"
    wrapper.write_text('#!/bin/sh\ncase "$*" in *grader/harness/worker.py*)\n'
                       '  echo "bwrap: Creating new namespace failed" >&2; exit 1;;\nesac\n'
                       f'exec {real} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper
