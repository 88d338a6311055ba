"""Merging one student into the course gradebook: the real timestamp (also when the notebooks
failed), nbgrader's late penalty on the secure score, hand grades that survive a regrade, and
formgrader's view (nbgrader's own ``NbGraderAPI``, what its pages call) equal to ``export``."""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest

from grader.checks.registry import GRADE_ID_PREFIX
from grader.checks.report import FunctionResult, LibraryReport
from grader.course.export import export_rows
from grader.course.merge import ScratchGrades, apply_grades
from grader.course.paths import ASSIGNMENT, CoursePaths, nbgrader_api

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("merge")]

STAMP_TEXT = "2026-11-30 09:15:42.250000 UTC"
STAMP = datetime(2026, 11, 30, 9, 15, 42, 250000)


@pytest.fixture(scope="session")
def released(tmp_path_factory) -> CoursePaths:
    from grader.course.release import build_release

    return build_release(tmp_path_factory.mktemp("merge") / "course")


@pytest.fixture
def course(released, tmp_path) -> CoursePaths:
    """A fresh copy of the released course's config and gradebook (no submissions)."""
    paths = CoursePaths(tmp_path / "course")
    paths.root.mkdir()
    for config in released.config_files():
        shutil.copy2(config, paths.root / config.name)
    shutil.copy2(released.gradebook, paths.gradebook)
    shutil.copytree(released.release, paths.release)
    return paths


def submit(paths: CoursePaths, student: str, stamp_text: str | bytes | None) -> None:
    folder = paths.submitted / student / ASSIGNMENT
    folder.mkdir(parents=True)
    if isinstance(stamp_text, str):
        (folder / "timestamp.txt").write_text(stamp_text)
    elif isinstance(stamp_text, bytes):
        (folder / "timestamp.txt").write_bytes(stamp_text)
    (paths.autograded / student / ASSIGNMENT).mkdir(parents=True)


def library_with(score: float) -> LibraryReport:
    """A report giving ``check_perceptron_predict`` (1 point) ``score``."""
    report = LibraryReport(sandbox="test", sandboxed=True)
    report.functions["perceptron_predict"] = FunctionResult("perceptron_predict", score, 1.0)
    return report


def submission_of(paths: CoursePaths, student: str):
    from nbgrader.api import Gradebook

    gb = Gradebook(f"sqlite:///{paths.gradebook}")
    return gb, gb.find_submission(ASSIGNMENT, student)


def test_failed_notebooks_still_get_the_exchange_timestamp_and_count_as_graded(course):
    submit(course, "alice", STAMP_TEXT)
    result = apply_grades(course, "alice", ScratchGrades(), library_with(1.0), None)
    assert result.timestamp == STAMP and result.problems == []
    gb, sub = submission_of(course, "alice")
    with gb:
        assert sub.timestamp == STAMP
    api = nbgrader_api(course)
    assert "alice" in api.get_autograded_students(ASSIGNMENT)
    page = api.get_submission(ASSIGNMENT, "alice")  # what Manage Submissions shows
    assert page["autograded"] is True and page["score"] == pytest.approx(1.0)


@pytest.mark.parametrize("text, why", [
    ("yesterday at noon", "not a timestamp"),
    ("2026-02-30 10:00:00 UTC", "impossible date"),
    ("1970-01-01 00:00:00 UTC", "outside"),
    ("2026-11-30 09:15:42+23:00", "beyond"),
    (b"\xff\xfe2026", "not UTF-8"),
    ("2026-11-30 09:15:42 UTC" + " " * 400, "regular file of at most"),
])
def test_hostile_timestamp_is_refused_with_the_reason_not_a_crash(course, text, why):
    submit(course, "mallory", text)
    result = apply_grades(course, "mallory", ScratchGrades(), library_with(0.0), None)
    assert result.timestamp is None
    assert any(why in p for p in result.problems), result.problems


def test_timestamp_symlink_is_not_followed(course, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(STAMP_TEXT)
    submit(course, "mallory", None)
    (course.submitted / "mallory" / ASSIGNMENT / "timestamp.txt").symlink_to(secret)
    result = apply_grades(course, "mallory", ScratchGrades(), library_with(0.0), None)
    assert result.timestamp is None and "not a regular file" in result.problems[0]


def test_offset_timestamps_are_stored_in_utc(course):
    submit(course, "bob", "2026-11-30T10:15:42.25+01:00")
    result = apply_grades(course, "bob", ScratchGrades(), library_with(0.0), None)
    assert result.timestamp == STAMP


def test_late_penalty_of_the_course_config_applies_to_the_secure_score(course):
    from nbgrader.api import Gradebook

    with open(course.config, "a") as fh:
        fh.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    with Gradebook(f"sqlite:///{course.gradebook}") as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=datetime(2026, 11, 30, 9, 0))
    submit(course, "late", STAMP_TEXT)  # 15 min 42.25 s after the due date
    submit(course, "early", "2026-11-29 09:00:00 UTC")
    late = apply_grades(course, "late", ScratchGrades(), library_with(1.0), None)
    early = apply_grades(course, "early", ScratchGrades(), library_with(1.0), None)
    assert late.seconds_late == pytest.approx(942.25) and early.seconds_late == 0
    # "zero": a late notebook's whole score is the penalty (only 00_history scored here)
    assert late.late_penalty == pytest.approx(1.0) and early.late_penalty == 0.0
    rows = {r["student_id"]: r for r in export_rows(course.root)}
    assert rows["late"]["late_penalty"] == pytest.approx(1.0)
    assert rows["late"]["final"] == pytest.approx(0.0)
    assert rows["early"]["final"] == pytest.approx(1.0)
    assert rows["late"]["timestamp"] == "2026-11-30 09:15:42"


def _hand_grade(paths: CoursePaths, student: str, cell: str, score: float) -> None:
    """What formgrader does when a human saves a score (nbgrader's ``Grade`` row)."""
    gb, sub = submission_of(paths, student)
    with gb:
        grade = gb.find_grade(cell, "00_history", ASSIGNMENT, student)
        grade.manual_score = score
        grade.needs_manual_grade = False
        comment = gb.find_comment(cell, "00_history", ASSIGNMENT, student)
        comment.manual_comment = "good point about the feature"
        gb.db.commit()


def test_a_hand_graded_written_answer_stays_graded_after_a_regrade(course):
    submit(course, "carol", STAMP_TEXT)
    first = apply_grades(course, "carol", ScratchGrades(), library_with(1.0), None)
    assert first.manual_pending > 0  # written answers wait for a human
    _hand_grade(course, "carol", "written_xor_feature", 1.5)
    again = apply_grades(course, "carol", ScratchGrades(), library_with(0.5), None)
    gb, sub = submission_of(course, "carol")
    with gb:
        grade = gb.find_grade("written_xor_feature", "00_history", ASSIGNMENT, "carol")
        assert grade.manual_score == 1.5 and grade.needs_manual_grade is False
        comment = gb.find_comment("written_xor_feature", "00_history", ASSIGNMENT, "carol")
        assert comment.manual_comment == "good point about the feature"
        secure = gb.find_grade(f"{GRADE_ID_PREFIX}perceptron_predict", "00_history",
                               ASSIGNMENT, "carol")
        assert secure.score == 0.5  # the regrade's secure score, not the first one
    assert again.manual_pending == pytest.approx(first.manual_pending - 2.0)
    assert again.score == pytest.approx(2.0)  # 1.5 by hand + 0.5 secure


def test_formgrader_pages_show_the_totals_export_writes(course):
    submit(course, "alice", STAMP_TEXT)
    submit(course, "carol", "2026-11-29 08:00:00 UTC")
    apply_grades(course, "alice", ScratchGrades(), library_with(1.0), None)
    apply_grades(course, "carol", ScratchGrades(), library_with(0.0), None)
    _hand_grade(course, "carol", "written_xor_feature", 2.0)
    rows = {r["student_id"]: r for r in export_rows(course.root)}
    api = nbgrader_api(course)
    for sub in api.get_submissions(ASSIGNMENT):  # Manage Submissions
        row = rows[sub["student"]]
        assert sub["autograded"] is True
        assert sub["score"] == pytest.approx(row["total"])
        assert sub["max_score"] == pytest.approx(row["max_score"])
    notebook_rows = api.get_notebook_submissions(ASSIGNMENT, "00_history")
    for nb in notebook_rows:  # the per-notebook page
        assert nb["score"] == pytest.approx(rows[nb["student"]]["00_history"])
    assert rows["carol"]["total"] == pytest.approx(2.0)
    assert rows["alice"]["total"] == pytest.approx(1.0)


def test_export_with_nobody_writes_the_header_and_says_so(course, tmp_path, capsys):
    import argparse
    import csv

    from grader.course.commands import cmd_export

    out = tmp_path / "out" / "grades.csv"
    assert cmd_export(argparse.Namespace(course=course.root, to=out)) == 0
    header = next(csv.reader(out.open()))
    assert header[0] == "student_id" and "00_history" in header and header[-1] == "status"
    assert len(out.read_text().splitlines()) == 1
    assert "no student in the gradebook" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["dir", "file-as-parent"])
def test_export_to_a_bad_path_is_one_line_and_exit_2(course, tmp_path, capsys, where):
    from grader.cli import main

    target = tmp_path if where == "dir" else tmp_path / "plain" / "grades.csv"
    if where != "dir":
        (tmp_path / "plain").write_text("not a folder")
    assert main(["export", "--course", str(course.root), "--to", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cs231n-grader export: --to"), err


def test_feedback_reaches_a_student_whose_notebooks_were_never_graded(course, released):
    """The run stopped before nbgrader wrote any graded notebook (e.g. the notebooks overran
    their budget): the student still gets a page per notebook with check cells, holding the
    library results (what release_feedback delivers), and feedback does not fail."""
    from grader.course.feedback import check_cells, feedback
    from grader.course.library_page import VERDICT_MARKER
    from grader.course.merge import save_report

    shutil.copytree(released.source, course.source)  # where the check cells are listed
    assert check_cells(course)
    submit(course, "overran", STAMP_TEXT)
    apply_grades(course, "overran", ScratchGrades(), library_with(1.0), None)
    save_report(course, "overran", library_with(1.0))
    run = feedback(course.root, ["overran"])
    assert run.failed == {}, run.failed
    folder = course.feedback / "overran" / ASSIGNMENT
    pages = {p.name for p in folder.glob("*.html")}
    assert pages >= {f"{nb}.html" for nb in check_cells(course)} | {"library_checks.html"}
    page = (folder / f"{next(iter(check_cells(course)))}.html").read_text()
    assert VERDICT_MARKER in page and "This notebook was not graded" in page
