"""Feedback for each student: nbgrader's feedback HTML made safe, the library verdicts inside it.

nbgrader's ``generate_feedback`` renders each autograded notebook; the course config runs
:class:`grader.course.feedback_filters.SafeFeedback` in it (hidden tests and their outputs
gone, the secure verdict in every ``check_<function>`` cell, the kernel's HTML and scripts
dropped). What is left in ``feedback/<student>/convnets/`` is then cut to an allow-list: one
HTML page per notebook of the assignment (nbgrader's exchange delivers exactly those) and
``library_checks.html``, the whole-library page. Each student is done on their own: a
failure is recorded for that student and the others still get their feedback.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grader.checks import registry
from grader.course.library_page import library_page_html
from grader.course.merge import load_report
from grader.course.paths import ASSIGNMENT, CoursePaths, nbgrader_api, open_course
from grader.sandbox.files import write_new_file

LIBRARY_FEEDBACK = "library_checks.html"


@dataclass
class FeedbackRun:
    """What :func:`feedback` wrote, and for whom it failed (with the reason)."""

    written: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def __iter__(self):  # the folders written, in student order
        return iter(self.written)


def graded_students(paths: CoursePaths) -> list[str]:
    return sorted(p.parent.name for p in paths.autograded.glob(f"*/{ASSIGNMENT}")
                  if p.is_dir() and not p.is_symlink() and not p.parent.is_symlink())


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _allow_list(paths: CoursePaths, out: Path) -> None:
    """Keep only ``<notebook>.html`` for the assignment's notebooks in ``out``."""
    pages = {Path(name).with_suffix(".html").name for name in paths.assignment_files()
             if name.endswith(".ipynb")}
    for entry in list(out.iterdir()):
        if entry.name not in pages or entry.is_symlink() or not entry.is_file():
            _remove(entry)


def feedback_one(paths: CoursePaths, api, student: str) -> Path:
    """Feedback of one student; raises with the reason if nbgrader could not make it."""
    out = paths.feedback / student / ASSIGNMENT
    if (paths.feedback / student).is_symlink():
        (paths.feedback / student).unlink()
    _remove(out)
    result = api.generate_feedback(ASSIGNMENT, student, force=True)
    if not result.get("success"):
        tail = [line for line in str(result.get("log", "")).splitlines() if line.strip()][-3:]
        raise RuntimeError("nbgrader generate_feedback failed: " + " | ".join(tail))
    out.mkdir(parents=True, exist_ok=True)
    _allow_list(paths, out)
    report = load_report(paths, student)
    if report is not None:
        order = registry.names()
        write_new_file(out / LIBRARY_FEEDBACK, library_page_html(report, order).encode())
    return out


def feedback(course_dir: Path | str, students: list[str] | None = None) -> FeedbackRun:
    """Feedback for every graded student (or ``students``)."""
    paths = open_course(course_dir)
    api = nbgrader_api(paths)
    run = FeedbackRun()
    for student in students or graded_students(paths):
        try:
            run.written.append(feedback_one(paths, api, student))
        except Exception as exc:  # noqa: BLE001 - one student never stops the others
            run.failed[student] = f"{type(exc).__name__}: {exc}"
    return run
