"""Grades out of nbgrader's gradebook, one CSV row per student."""

from __future__ import annotations

import csv
from pathlib import Path

from grader.course.paths import ASSIGNMENT, open_course


def export_rows(course_dir: Path | str) -> list[dict[str, object]]:
    """One row per student: per-notebook scores, total, max, percent."""
    from nbgrader.api import Gradebook, MissingEntry

    paths = open_course(course_dir)
    rows = []
    with Gradebook(f"sqlite:///{paths.gradebook}") as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        notebooks = sorted(nb.name for nb in assignment.notebooks)
        for student in sorted(gb.students, key=lambda s: s.id):
            row: dict[str, object] = {"student_id": student.id}
            try:
                submission = gb.find_submission(ASSIGNMENT, student.id)
            except MissingEntry:
                row.update({name: 0.0 for name in notebooks})
                row.update(total=0.0, max_score=assignment.max_score, percent=0.0)
                row["status"] = "missing"
                rows.append(row)
                continue
            by_name = {nb.name: nb for nb in submission.notebooks}
            for name in notebooks:
                row[name] = round(by_name[name].score, 2)
            row["total"] = round(submission.score, 2)
            row["max_score"] = round(submission.max_score, 2)
            row["percent"] = round(100 * submission.score / submission.max_score, 1)
            row["status"] = "needs manual grading" if submission.needs_manual_grade else "graded"
            rows.append(row)
    return rows


def export(course_dir: Path | str, to: Path | str) -> Path:
    rows = export_rows(course_dir)
    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    with open(to, "w", newline="") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return to
