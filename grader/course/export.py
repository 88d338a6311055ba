"""Grades out of nbgrader's gradebook, one CSV row per student.

``total`` is nbgrader's submission score (what formgrader's pages show), ``late_penalty`` the
sum of nbgrader's per-notebook late penalties, ``final = total - late_penalty`` and ``percent``
of ``final``. ``timestamp`` is the submission time in UTC (empty when unknown).
"""

from __future__ import annotations

import csv
from pathlib import Path

from grader.course.paths import ASSIGNMENT, open_course

#: Columns after the per-notebook ones.
TAIL_COLUMNS = ["total", "late_penalty", "final", "max_score", "percent", "timestamp", "status"]


def export_columns(notebooks: list[str]) -> list[str]:
    """The CSV header for ``notebooks`` (sorted names)."""
    return ["student_id", *notebooks, *TAIL_COLUMNS]


def _notebook_names(gb) -> list[str]:
    return sorted(nb.name for nb in gb.find_assignment(ASSIGNMENT).notebooks)


def export_rows(course_dir: Path | str) -> list[dict[str, object]]:
    """One row per student (keys: :func:`export_columns`), sorted by student id."""
    from nbgrader.api import Gradebook, MissingEntry

    paths = open_course(course_dir)
    rows = []
    with Gradebook(f"sqlite:///{paths.gradebook}") as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        notebooks = _notebook_names(gb)
        for student in sorted(gb.students, key=lambda s: s.id):
            row: dict[str, object] = {"student_id": student.id}
            try:
                submission = gb.find_submission(ASSIGNMENT, student.id)
            except MissingEntry:
                row.update({name: 0.0 for name in notebooks})
                row.update(total=0.0, late_penalty=0.0, final=0.0,
                           max_score=assignment.max_score, percent=0.0, timestamp="",
                           status="missing")
                rows.append(row)
                continue
            by_name = {nb.name: nb for nb in submission.notebooks}
            for name in notebooks:
                row[name] = round(by_name[name].score, 2)
            penalty = float(submission.late_submission_penalty or 0.0)
            final = submission.score - penalty
            row["total"] = round(submission.score, 2)
            row["late_penalty"] = round(penalty, 2)
            row["final"] = round(final, 2)
            row["max_score"] = round(submission.max_score, 2)
            row["percent"] = round(100 * final / submission.max_score, 1)
            stamp = submission.timestamp
            row["timestamp"] = stamp.strftime("%Y-%m-%d %H:%M:%S") if stamp else ""
            row["status"] = "needs manual grading" if submission.needs_manual_grade else "graded"
            rows.append(row)
    return rows


def check_target(to: Path | str) -> Path:
    """``to`` as a writable CSV path, or ``ValueError`` naming what is wrong with it."""
    to = Path(to)
    if to.is_dir():
        raise ValueError(f"--to {to} is a directory: give a file name such as {to / 'grades.csv'}")
    parent = to.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--to {to}: {parent} is not a directory")
    import os

    if not os.access(parent, os.W_OK) or (to.exists() and not os.access(to, os.W_OK)):
        raise ValueError(f"--to {to}: not writable (permission denied)")
    return to


def export(course_dir: Path | str, to: Path | str) -> Path:
    """Write the grades CSV (see :func:`write_export`); return its path."""
    return write_export(course_dir, to)[0]


def write_export(course_dir: Path | str, to: Path | str) -> tuple[Path, int]:
    """Write the grades CSV (header only when nobody is in the gradebook);
    return ``(path, rows written)``.

    Raises:
        ValueError: no released course, or ``to`` a directory / not writable.
    """
    from nbgrader.api import Gradebook

    to = check_target(to)
    rows = export_rows(course_dir)
    with Gradebook(f"sqlite:///{open_course(course_dir).gradebook}") as gb:
        columns = export_columns(_notebook_names(gb))
    try:
        to.parent.mkdir(parents=True, exist_ok=True)
        with open(to, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise ValueError(f"--to {to}: cannot write ({exc.strerror or exc})") from exc
    return to, len(rows)
