"""Bring one graded job into the course (coordinator only): its notebook grades, the secure
library scores over the ``check_<function>`` grade cells, the graded notebooks, the report.

Two steps, each testable on its own:

* :func:`read_scratch_grades` reads what nbgrader's autograde wrote in the job's scratch
  gradebook (cell grades, comments, the submission's timestamp);
* :func:`apply_grades` writes one student's submission into the course gradebook: nbgrader's
  grades, then the secure scores (the in-kernel result could be faked, so a notebook run that
  claims more is reported as possible tampering), keeping what a human graded by hand in
  formgrader and the submission's real timestamp.

The timestamp is the one in ``submitted/<student>/convnets/timestamp.txt`` (the exchange's, or
the zip/LMS time written by collect), read by :mod:`grader.course.timestamps` — also when the
notebooks could not be run, so formgrader lists the student as graded and nbgrader's late
penalty (``LateSubmissionPlugin`` or ``AssignLatePenalties.plugin_class`` from the course
config, against the assignment's due date) applies to the secure score, not the in-kernel one.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from grader.checks.registry import GRADE_ID_PREFIX
from grader.checks.report import LibraryReport
from grader.course.paths import ASSIGNMENT, CoursePaths, course_config
from grader.course.timestamps import read_timestamp

#: Scores closer than this are "the same" (floating point in nbgrader's sums).
SCORE_EPS = 1e-6
MAX_GRADED_FILE = 20 << 20
MAX_GRADED_TOTAL = 100 << 20


@dataclass
class ScratchGrades:
    """What nbgrader's autograde of one student left in the scratch gradebook."""

    notebooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    timestamp: datetime | None = None

    @property
    def graded(self) -> bool:
        return bool(self.notebooks)


@dataclass
class StudentResult:
    """What the coordinator learned about one student."""

    student: str
    notebooks_ok: bool
    notebook_log: str = ""
    library: LibraryReport | None = None
    disagreements: list[str] = field(default_factory=list)
    score: float = 0.0
    max_score: float = 0.0
    #: Points of written answers that wait for a human in formgrader.
    manual_pending: float = 0.0
    #: Why this student could not be graded (fully or in part); empty when all went well.
    problems: list[str] = field(default_factory=list)
    #: When the student submitted (naive UTC), None if unknown; seconds past the due date.
    timestamp: datetime | None = None
    seconds_late: float = 0.0
    #: Points taken off by nbgrader's late-submission plugin (0 when on time).
    late_penalty: float = 0.0


def read_scratch_grades(gradebook: Path, student: str) -> ScratchGrades:
    """The grades of ``student`` in a scratch gradebook (empty if nbgrader wrote none)."""
    from nbgrader.api import Gradebook, MissingEntry

    if not gradebook.exists():
        return ScratchGrades()
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        try:
            submission = gb.find_submission(ASSIGNMENT, student)
        except MissingEntry:
            return ScratchGrades()
        out = ScratchGrades(timestamp=submission.timestamp)
        for nb in submission.notebooks:
            out.notebooks[nb.name] = {
                "flagged": nb.flagged,
                "grades": {g.name: {"auto_score": g.auto_score,
                                    "needs_manual_grade": g.needs_manual_grade}
                           for g in nb.grades},
                "comments": {c.name: {"auto_comment": c.auto_comment} for c in nb.comments},
            }
        return out


def _hand_grading(gb, student: str) -> dict[tuple[str, str], dict[str, Any]]:
    """What a human entered in formgrader for ``student`` (kept across a regrade)."""
    from nbgrader.api import MissingEntry

    kept: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        submission = gb.find_submission(ASSIGNMENT, student)
    except MissingEntry:
        return kept
    for nb in submission.notebooks:
        for grade in nb.grades:
            if grade.manual_score is not None or grade.extra_credit:
                kept[(nb.name, grade.name)] = {"manual_score": grade.manual_score,
                                               "extra_credit": grade.extra_credit}
        for comment in nb.comments:
            if comment.manual_comment:
                kept[(nb.name, "comment:" + comment.name)] = {
                    "manual_comment": comment.manual_comment}
    return kept


def secure_scores(library: LibraryReport | None,
                  exercises: dict[str, dict] | None) -> dict[str, tuple[bool, float, float]]:
    """Grade cell name -> ``(is_fraction, secure, claimable)``: the trusted score (points, or
    for an exercise the fraction 1 or 0 of the cell's points) and the most the kernel's own
    run may honestly claim (an exercise's kernel check sees only its visible probes; an
    exercise whose probe cell was interrupted could not be checked, so any claim stands
    unflagged, and still scores nothing)."""
    out: dict[str, tuple[bool, float, float]] = {}
    for name, fn in (library.functions if library is not None else {}).items():
        out[GRADE_ID_PREFIX + name] = (False, fn.score, fn.score)
    if exercises is not None:
        from grader.checks.exercises import EXERCISES

        for gid in EXERCISES:
            verdict = exercises.get(gid) if isinstance(exercises.get(gid), dict) else {}
            claimable = verdict.get("visible_passed") is True or verdict.get("interrupted") is True
            out[gid] = (True, float(verdict.get("passed") is True), float(claimable))
    return out


def submission_timestamp(paths: CoursePaths, student: str,
                         fallback: datetime | None = None) -> tuple[datetime | None, str]:
    """``(time, problem)`` of ``student``'s submission: its ``timestamp.txt`` when there is
    one (refused if malformed: then None and why), else ``fallback``."""
    folder = paths.submitted / student / ASSIGNMENT
    stamp, problem = read_timestamp(folder)
    if stamp is None and not problem:
        stamp = fallback
    return stamp, problem


def _late_penalties(paths: CoursePaths, student: str, submission) -> float:
    """Set each notebook's ``late_submission_penalty`` as nbgrader's autograde would
    (course-configured plugin, clamped to [0, notebook score]); return their sum."""
    from nbgrader.preprocessors import AssignLatePenalties

    late = submission.total_seconds_late
    for nb in submission.notebooks:
        nb.late_submission_penalty = None
    if not late or late <= 0:
        return 0.0
    assigner = AssignLatePenalties(config=course_config(paths))
    assigner.init_plugin()
    total = 0.0
    for nb in submission.notebooks:
        penalty = assigner.plugin_inst.late_submission_penalty(student, nb.score, late)
        if penalty is not None:
            penalty = min(max(float(penalty), 0.0), nb.score)
            nb.late_submission_penalty = penalty
            total += penalty
    return total


def apply_grades(paths: CoursePaths, student: str, grades: ScratchGrades,
                 library: LibraryReport | None, timestamp: datetime | None,
                 exercises: dict[str, dict] | None = None) -> StudentResult:
    """Write ``student``'s submission into the course gradebook in one transaction.

    ``timestamp`` (naive UTC) overrides the submission's ``timestamp.txt``; without either,
    nbgrader's scratch value is used. A malformed ``timestamp.txt`` is reported in
    ``problems`` (the submission is then recorded without a time). ``exercises`` (exercise
    grade id -> the grading job's verdict on the probed values, as
    :meth:`grader.checks.exercises.ExerciseResult.as_dict`) overrules nbgrader's in-kernel
    verdict on those cells, as the library scores overrule the ``check_<function>`` cells.
    """
    from nbgrader.api import Gradebook, MissingEntry

    if not isinstance(student, str) or not student:
        raise ValueError(f"student must be a non-empty id, got {student!r}")
    if timestamp is not None and not isinstance(timestamp, datetime):
        raise TypeError(f"timestamp must be a datetime or None, got {type(timestamp).__name__}")
    result = StudentResult(student, grades.graded, library=library)
    if timestamp is None:
        timestamp, problem = submission_timestamp(paths, student, grades.timestamp)
        if problem:
            result.problems.append(problem)
    trusted = secure_scores(library, exercises)
    with Gradebook(f"sqlite:///{paths.gradebook}") as gb, warnings.catch_warnings():
        # nbgrader's own add_submission trips SQLAlchemy's autoflush warnings; harmless.
        warnings.filterwarnings("ignore", module="nbgrader.api")
        warnings.filterwarnings("ignore", message=".*not in session.*")
        gb.update_or_create_student(student)
        kept = _hand_grading(gb, student)
        try:
            gb.remove_submission(ASSIGNMENT, student)
        except MissingEntry:
            pass
        submission = gb.add_submission(ASSIGNMENT, student, timestamp=timestamp)
        for nb in submission.notebooks:
            rows = grades.notebooks.get(nb.name, {})
            nb.flagged = bool(rows.get("flagged", False))
            for grade in nb.grades:
                fields = rows.get("grades", {}).get(grade.name)
                if fields:
                    grade.auto_score = fields["auto_score"]
                    grade.needs_manual_grade = fields["needs_manual_grade"]
                elif grade.cell.cell_type == "code" and not grades.graded:
                    # The notebooks could not be graded (e.g. the kernel died): zero, visibly.
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = False
                hand = kept.get((nb.name, grade.name))
                if hand:
                    grade.manual_score = hand["manual_score"]
                    grade.extra_credit = hand["extra_credit"]
                    if hand["manual_score"] is not None:
                        grade.needs_manual_grade = False
                if grade.name in trusted:
                    fraction, secure, claimable = trusted[grade.name]
                    if fraction:
                        secure, claimable = secure * grade.max_score, claimable * grade.max_score
                    in_kernel = grade.auto_score
                    name = grade.name.removeprefix(GRADE_ID_PREFIX)
                    if in_kernel is not None and in_kernel > claimable + SCORE_EPS:
                        result.disagreements.append(
                            f"{student}: {name}: notebook run says {in_kernel:g}, secure "
                            f"checker says {secure:g} (possible tampering)")
                    grade.auto_score = min(secure, grade.max_score)
                    grade.needs_manual_grade = False
            for comment in nb.comments:
                fields = rows.get("comments", {}).get(comment.name)
                if fields:
                    comment.auto_comment = fields["auto_comment"]
                hand = kept.get((nb.name, "comment:" + comment.name))
                if hand:
                    comment.manual_comment = hand["manual_comment"]
        gb.db.commit()
        submission = gb.find_submission(ASSIGNMENT, student)
        result.late_penalty = _late_penalties(paths, student, submission)
        gb.db.commit()
        result.timestamp = submission.timestamp
        result.seconds_late = float(submission.total_seconds_late or 0.0)
        result.score, result.max_score = submission.score, submission.max_score
        result.manual_pending = sum(
            g.max_score for nb in submission.notebooks for g in nb.grades if g.needs_manual_grade)
    return result


def copy_graded_notebooks(paths: CoursePaths, scratch: CoursePaths, student: str,
                          allowed: set[str]) -> list[str]:
    """Replace ``autograded/<student>/`` by the job's, through the allow-list; return what
    was dropped. Only files nbgrader writes for the assignment are taken (regular files)."""
    from grader.sandbox.files import copy_allowed

    src = scratch.autograded / student / ASSIGNMENT
    dst = paths.autograded / student / ASSIGNMENT
    if dst.exists() or dst.is_symlink():
        shutil.rmtree(dst) if dst.is_dir() and not dst.is_symlink() else dst.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not src.is_dir() or src.is_symlink():
        dst.mkdir()
        return []
    report = copy_allowed(src, dst, lambda rel: rel.as_posix() in allowed,
                          max_file=MAX_GRADED_FILE, max_total=MAX_GRADED_TOTAL)
    return report.dropped_lines()


def save_report(paths: CoursePaths, student: str, library: LibraryReport) -> Path:
    """The library report of ``student``, instructor-only (never under autograded/)."""
    paths.reports.mkdir(parents=True, exist_ok=True)
    out = paths.reports / f"{student}.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(library.to_json())
    tmp.replace(out)
    return out


def save_exercises(paths: CoursePaths, student: str, exercises: dict[str, dict]) -> Path:
    """The trusted exercise verdicts of ``student`` (grade id -> passed, lines), for feedback."""
    paths.reports.mkdir(parents=True, exist_ok=True)
    out = paths.reports / f"{student}.exercises.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(exercises))
    tmp.replace(out)
    return out


def load_report(paths: CoursePaths, student: str) -> LibraryReport | None:
    path = paths.reports / f"{student}.json"
    if not path.is_file():
        return None
    return LibraryReport.from_json(path.read_text())
