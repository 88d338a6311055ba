"""Autograde a class: nbgrader for the notebooks, the secure checker for the library.

For each student, a *job* (in a worker process when ``jobs > 1``) does the slow work in a
private scratch course directory, so nothing it runs can touch the real gradebook:

1. nbgrader ``autograde`` of the notebooks against a snapshot of the gradebook;
2. the secure checker on the submitted ``cs231n_lib`` (sandboxed worker, comparison in the
   trusted job process).

Only the coordinator writes the course's SQLite gradebook (nbgrader cannot grade in parallel:
its issue #174). It merges each job's notebook grades, overwrites the ``check_<function>``
grade cells with the secure scores (the in-kernel result could be faked), and reports where
the two disagree. Each student is merged in one step; re-running regrades and replaces, so an
interrupted run followed by a new one leaves a complete, consistent gradebook.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import sqlite3
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.course.release import ASSIGNMENT, CoursePaths, nbgrader_api

GRADE_ID_PREFIX = "check_"
LIBRARY_REPORT = "library_checks.json"
SCRATCH = ".autograde"
#: Scores closer than this are "the same" (floating point in nbgrader's sums).
SCORE_EPS = 1e-6


@dataclass
class StudentResult:
    """What the coordinator learned about one student."""

    student: str
    notebooks_ok: bool
    notebook_log: str = ""
    library: dict[str, Any] = field(default_factory=dict)
    disagreements: list[str] = field(default_factory=list)
    score: float = 0.0
    max_score: float = 0.0
    #: Points of written answers that wait for a human in formgrader.
    manual_pending: float = 0.0


def _snapshot_gradebook(paths: CoursePaths, dst: Path) -> None:
    """A consistent copy of the gradebook (sqlite backup, never a raw file copy)."""
    with sqlite3.connect(paths.gradebook) as src, sqlite3.connect(dst) as out:
        src.backup(out)


def _prepare_scratch(paths: CoursePaths, student: str, template_db: Path) -> CoursePaths:
    scratch = CoursePaths(paths.root / SCRATCH / student)
    if scratch.root.exists():
        shutil.rmtree(scratch.root)
    scratch.root.mkdir(parents=True)
    shutil.copy2(paths.config, scratch.config)
    shutil.copytree(paths.source, scratch.source)
    submission = paths.submitted / student / ASSIGNMENT
    shutil.copytree(submission, scratch.submitted / student / ASSIGNMENT)
    shutil.copy2(template_db, scratch.gradebook)
    return scratch


@contextlib.contextmanager
def _sandboxed_kernel(scratch: CoursePaths, require_sandbox: bool):
    """Point the scratch course's autograde at the bubblewrap kernel (or say loudly why not)."""
    from grader.sandbox.kernel import grading_config_lines, write_kernelspec
    from grader.sandbox.profile import UNAVAILABLE_LINE, sandbox_available

    if not sandbox_available():
        if require_sandbox:
            raise RuntimeError("bubblewrap is unavailable and --require-sandbox was given")
        print(f"WARNING {UNAVAILABLE_LINE}: notebook kernels run unsandboxed", flush=True)
        yield False
        return
    kernels = scratch.root / "kernels"
    write_kernelspec(scratch.root / "jupyter", kernels)
    with open(scratch.config, "a") as fh:
        fh.write(grading_config_lines(kernels))
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(scratch.root / "jupyter"), saved) if p
    )
    try:
        yield True
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved


def grade_job(course_root: str, student: str, template_db: str, require_sandbox: bool) -> dict:
    """Everything slow for one student; runs in a worker process. Returns plain data."""
    from grader.sandbox.library import grade_library

    paths = CoursePaths(Path(course_root))
    scratch = _prepare_scratch(paths, student, Path(template_db))
    with _sandboxed_kernel(scratch, require_sandbox) as kernel_sandboxed:
        try:
            api = nbgrader_api(scratch)
            result = api.autograde(ASSIGNMENT, student, force=True, create=True)
            ok, log = bool(result.get("success")), str(result.get("log", ""))
        except Exception as exc:  # nbgrader failing must not lose the library grade
            ok, log = False, f"{type(exc).__name__}: {exc}"
    library = grade_library(
        paths.submitted / student / ASSIGNMENT, require_sandbox=require_sandbox
    )
    return {
        "student": student,
        "scratch": str(scratch.root),
        "notebooks_ok": ok,
        "kernel_sandboxed": kernel_sandboxed,
        "log": log[-4000:],
        "library": library,
    }


def _grade_rows(gb, student: str) -> dict[str, dict[str, Any]]:
    """{notebook: {"grades": {cell: fields}, "comments": {cell: fields}, "flagged": bool}}."""
    from nbgrader.api import MissingEntry

    try:
        submission = gb.find_submission(ASSIGNMENT, student)
    except MissingEntry:
        return {}
    rows = {}
    for nb in submission.notebooks:
        rows[nb.name] = {
            "flagged": nb.flagged,
            "grades": {
                g.name: {
                    "auto_score": g.auto_score,
                    "manual_score": g.manual_score,
                    "extra_credit": g.extra_credit,
                    "needs_manual_grade": g.needs_manual_grade,
                }
                for g in nb.grades
            },
            "comments": {
                c.name: {"auto_comment": c.auto_comment, "manual_comment": c.manual_comment}
                for c in nb.comments
            },
        }
    return rows


def merge_job(paths: CoursePaths, job: dict) -> StudentResult:
    """Write one job's results into the course gradebook and autograded/ (coordinator only)."""
    from nbgrader.api import Gradebook, MissingEntry

    student = job["student"]
    scratch = CoursePaths(Path(job["scratch"]))
    with Gradebook(f"sqlite:///{scratch.gradebook}") as src:
        rows = _grade_rows(src, student)
    library = job["library"]
    result = StudentResult(student, job["notebooks_ok"] and bool(rows), job["log"], library)

    # autograded/ first: if we die between the two steps, the rerun redoes both.
    graded_src = scratch.autograded / student / ASSIGNMENT
    graded_dst = paths.autograded / student / ASSIGNMENT
    if graded_dst.exists():
        shutil.rmtree(graded_dst)
    graded_dst.parent.mkdir(parents=True, exist_ok=True)
    if graded_src.exists():
        shutil.copytree(graded_src, graded_dst)
    else:
        graded_dst.mkdir()
    (graded_dst / LIBRARY_REPORT).write_text(json.dumps(library, indent=2, sort_keys=True))

    with Gradebook(f"sqlite:///{paths.gradebook}") as gb, warnings.catch_warnings():
        # nbgrader's own add_submission trips SQLAlchemy's autoflush warnings; harmless.
        warnings.filterwarnings("ignore", module="nbgrader.api")
        warnings.filterwarnings("ignore", message=".*not in session.*")
        gb.update_or_create_student(student)
        try:
            gb.remove_submission(ASSIGNMENT, student)
        except MissingEntry:
            pass
        submission = gb.add_submission(ASSIGNMENT, student)
        functions = library.get("functions", {})
        for nb in submission.notebooks:
            nb_rows = rows.get(nb.name, {})
            nb.flagged = bool(nb_rows.get("flagged", False))
            for grade in nb.grades:
                fields = nb_rows.get("grades", {}).get(grade.name)
                if fields:
                    for key, value in fields.items():
                        setattr(grade, key, value)
                elif grade.cell.cell_type == "code" and not rows:
                    # The notebooks could not be graded (e.g. the kernel died): zero, visibly.
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = False
                name = grade.name.removeprefix(GRADE_ID_PREFIX)
                if grade.name.startswith(GRADE_ID_PREFIX) and name in functions:
                    secure = float(functions[name]["score"])
                    in_kernel = grade.auto_score
                    if in_kernel is not None and in_kernel > secure + SCORE_EPS:
                        result.disagreements.append(
                            f"{student}: {name}: notebook run says {in_kernel:g}, secure "
                            f"checker says {secure:g} (possible tampering)"
                        )
                    grade.auto_score = min(secure, grade.max_score)
                    grade.needs_manual_grade = False
            for comment in nb.comments:
                fields = nb_rows.get("comments", {}).get(comment.name)
                if fields:
                    for key, value in fields.items():
                        setattr(comment, key, value)
        gb.db.commit()
        submission = gb.find_submission(ASSIGNMENT, student)
        result.score, result.max_score = submission.score, submission.max_score
        result.manual_pending = sum(
            g.max_score for nb in submission.notebooks for g in nb.grades if g.needs_manual_grade
        )
    shutil.rmtree(scratch.root, ignore_errors=True)
    return result


def students_to_grade(paths: CoursePaths, only: list[str] | None = None) -> list[str]:
    found = sorted(p.name for p in paths.submitted.glob("*") if (p / ASSIGNMENT).is_dir())
    if only:
        missing = sorted(set(only) - set(found))
        if missing:
            raise ValueError(f"no submission in {paths.submitted} for {missing}")
        return [s for s in found if s in only]
    return found


def autograde(
    course_dir: Path | str,
    students: list[str] | None = None,
    jobs: int = 1,
    require_sandbox: bool = False,
    progress: bool = True,
) -> list[StudentResult]:
    """Grade ``students`` (default: everyone in submitted/) with ``jobs`` worker processes.

    Raises:
        ValueError: ``jobs`` < 1, no course directory, or an unknown student.
    """
    from tqdm.auto import tqdm

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    paths = CoursePaths(Path(course_dir).resolve())
    if not paths.config.exists() or not paths.gradebook.exists():
        raise ValueError(f"{paths.root} is not a released course (run `release` first)")
    todo = students_to_grade(paths, students)
    results: list[StudentResult] = []
    (paths.root / SCRATCH).mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=paths.root / SCRATCH) as tmp:
        template = Path(tmp) / "template.db"
        _snapshot_gradebook(paths, template)
        bar = tqdm(total=len(todo), desc="autograde", unit="student", disable=not progress)
        if jobs == 1:
            for student in todo:
                job = grade_job(str(paths.root), student, str(template), require_sandbox)
                results.append(merge_job(paths, job))
                bar.update()
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                futures = [
                    pool.submit(grade_job, str(paths.root), s, str(template), require_sandbox)
                    for s in todo
                ]
                for future in as_completed(futures):
                    results.append(merge_job(paths, future.result()))
                    bar.update()
        bar.close()
    return sorted(results, key=lambda r: r.student)
