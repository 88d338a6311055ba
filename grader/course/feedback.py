"""Feedback for each student: nbgrader's feedback HTML made safe, the library verdicts inside it.

nbgrader's ``generate_feedback`` renders each autograded notebook; the course config runs
:class:`grader.course.feedback_filters.SafeFeedback` in it (hidden tests and their outputs
gone, the secure verdict in every ``check_<function>`` cell, the kernel's HTML and scripts
dropped). What is left in ``feedback/<student>/convnets/`` is then cut to an allow-list: one
HTML page per notebook of the assignment (nbgrader's exchange delivers exactly those) and
``library_checks.html``, the whole-library page (kept for the instructor: ``release_feedback``
never delivers a page that is not named after a submitted notebook). So that a JupyterHub
student sees the whole library too, its report (total, failed functions with their hints, the
passed ones folded) is put at the top of every notebook page that holds check cells.

``release_feedback`` also needs ``timestamp.txt`` and ``submission_secret.txt`` beside the
pages: they are rewritten from the submission's own (the time re-formatted after a strict
parse, the secret only if it is the hex token nbgrader's submit writes).

Each student is done on their own: a failure is recorded for that student and the others still
get their feedback.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grader.checks.registry import GRADE_ID_PREFIX
from grader.course.library_page import library_page_html, library_section_html
from grader.course.merge import load_report
from grader.course.paths import ASSIGNMENT, CoursePaths, nbgrader_api, open_course
from grader.course.timestamps import format_timestamp, read_timestamp
from grader.sandbox.files import read_regular_file, write_new_file

LIBRARY_FEEDBACK = "library_checks.html"
#: nbgrader's submit writes ``secrets.token_hex(64)``; anything else is not passed on.
SECRET = re.compile(r"^[0-9a-f]{16,256}$")
_BODY = re.compile(r"<body[^>]*>", re.I)


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


def check_cells(paths: CoursePaths) -> dict[str, list[str]]:
    """Notebook name (no suffix) -> the functions of its ``check_`` cells, in cell order,
    read from the instructor's source notebooks; notebooks in name order."""
    out: dict[str, list[str]] = {}
    for path in sorted(paths.source.glob("*.ipynb")):
        cells = json.loads(path.read_text()).get("cells", [])
        names = [str(c.get("metadata", {}).get("nbgrader", {}).get("grade_id", ""))
                 for c in cells]
        found = [n.removeprefix(GRADE_ID_PREFIX) for n in names if n.startswith(GRADE_ID_PREFIX)]
        if found:
            out[path.stem] = found
    return out


def insert_section(page: str, section: str) -> str:
    """``page`` with ``section`` right after its ``<body>`` tag (at the start if none)."""
    match = _BODY.search(page)
    at = match.end() if match else 0
    return page[:at] + section + page[at:]


def _exchange_files(paths: CoursePaths, student: str, out: Path) -> None:
    """``timestamp.txt`` and ``submission_secret.txt`` for release_feedback, when valid."""
    submitted = paths.submitted / student / ASSIGNMENT
    stamp, _ = read_timestamp(submitted)
    if stamp is not None:
        write_new_file(out / "timestamp.txt", format_timestamp(stamp).encode())
    data = read_regular_file(submitted / "submission_secret.txt", 512)
    secret = data.decode("ascii", "replace").strip() if data else ""
    if SECRET.match(secret):
        write_new_file(out / "submission_secret.txt", secret.encode())


#: The feedback page of a notebook (with check cells) that could not be graded.
NOT_GRADED_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
    "<h1>{title}</h1><p><b>This notebook was not graded</b>: the grading of your submission "
    "stopped before the notebooks were run (ask your instructor for the reason). The results "
    "of your library functions are above.</p></body></html>")


def feedback_one(paths: CoursePaths, api, student: str) -> Path:
    """Feedback of one student; raises with the reason if nbgrader could not make it."""
    out = paths.feedback / student / ASSIGNMENT
    if (paths.feedback / student).is_symlink():
        (paths.feedback / student).unlink()
    _remove(out)
    graded = paths.autograded / student / ASSIGNMENT
    notebooks_graded = graded.is_dir() and any(
        p.is_file() and not p.is_symlink() for p in graded.glob("*.ipynb"))
    if notebooks_graded:
        result = api.generate_feedback(ASSIGNMENT, student, force=True)
        if not result.get("success"):
            tail = [ln for ln in str(result.get("log", "")).splitlines() if ln.strip()][-3:]
            raise RuntimeError("nbgrader generate_feedback failed: " + " | ".join(tail))
    out.mkdir(parents=True, exist_ok=True)
    _allow_list(paths, out)
    _exchange_files(paths, student, out)
    report = load_report(paths, student)
    if report is None:
        raise RuntimeError(f"no library report for {student} (run autograde first)")
    cells = check_cells(paths)
    order = [name for names in cells.values() for name in names]
    where = {name: notebook for notebook, names in cells.items() for name in names}
    write_new_file(out / LIBRARY_FEEDBACK, library_page_html(report, order, where).encode())
    section = library_section_html(report, order, where)
    for notebook in cells:
        page = out / f"{notebook}.html"
        if not page.exists() and not page.is_symlink():
            # The run stopped before nbgrader graded this notebook (e.g. the notebooks ran
            # past their budget): the library results still reach the student, on the pages
            # release_feedback delivers.
            write_new_file(page, NOT_GRADED_PAGE.format(title=html.escape(notebook)).encode())
    for notebook in cells:
        page = out / f"{notebook}.html"
        if page.is_file() and not page.is_symlink():
            page.write_text(insert_section(page.read_text(encoding="utf-8"), section),
                            encoding="utf-8")
    return out


def feedback(course_dir: Path | str, students: list[str] | None = None,
             progress: bool = False) -> FeedbackRun:
    """Feedback for every graded student (or ``students``); ``progress``: a bar on stderr."""
    from tqdm.auto import tqdm

    paths = open_course(course_dir)
    api = nbgrader_api(paths)
    run = FeedbackRun()
    todo = students or graded_students(paths)
    for student in tqdm(todo, desc="feedback", unit="student", disable=not progress):
        try:
            run.written.append(feedback_one(paths, api, student))
        except Exception as exc:  # noqa: BLE001 - one student never stops the others
            run.failed[student] = f"{type(exc).__name__}: {exc}"
    return run
