"""LMS bulk downloads -> one student each (grader.course.lms), and the Canvas gradebook CSV.

The formats are modelled on the LMSes' public documentation and source:

* Canvas: the Canvas Instructor Guide, "How do I download all student submissions for an
  assignment?" (``submissions.zip``; files named ``<name>_<user id>_<submission id>_<file>``,
  ``LATE`` after the name for late ones, ``-1`` suffixes on resubmitted files), and "How do I
  import grades in the Gradebook?" (CSV columns ``Student, ID, SIS User ID, SIS Login ID,
  Section``, one column per assignment, optional "Points Possible" row; rows matched on ``ID``).
* Moodle: mod/assign "Download all submissions" and its feedback-file import test
  (mod/assign/feedback/file importziplib tests: ``StudentName_StudentID_PluginType_Plugin_File``,
  e.g. ``Student Name_<id>_assignsubmission_file_My_cool_filename.txt``; "download as folders"
  puts ``<name>_<id>_assignsubmission_file/`` folders in the zip).
"""

from __future__ import annotations

import csv
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from test_collect import HONEST, NOTEBOOK, make_zip

from grader.cli import main
from grader.course.config_files import INSTRUCTOR_TEMPLATE
from grader.course.lms import load_roster, parse_name
from grader.course.paths import ASSIGNMENT, CoursePaths


@pytest.fixture
def course(tmp_path: Path) -> CoursePaths:
    paths = CoursePaths(tmp_path / "course")
    repo = Path(__file__).resolve().parents[1]
    names = [p.name for p in (repo / "notebooks").glob("[0-9][0-9]_*.ipynb")]
    names += [f"cs231n_lib/{p.name}" for p in (repo / "cs231n_lib").glob("*.py")]
    for name in names:
        (paths.release / name).parent.mkdir(parents=True, exist_ok=True)
        (paths.release / name).write_bytes(b"")
    paths.config.write_text(INSTRUCTOR_TEMPLATE)
    return paths


def submission_bytes(tmp_path: Path, marker: str) -> bytes:
    files = {k.format(who="x"): v for k, v in HONEST.items()}
    files["x/convnets/cs231n_lib/conv_naive.py"] = f"# {marker}\n".encode()
    return make_zip(tmp_path / f"tmp-{marker}.zip", files).read_bytes()


def bulk(path: Path, members: dict[str, tuple[bytes, tuple]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, (data, when) in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return path


@pytest.mark.parametrize("kind, name, student, late, attempt", [
    ("canvas", "smithalice_12345_67890_convnets.zip", "12345", False, 0),
    ("canvas", "smithalice_LATE_12345_67891_convnets-1.zip", "12345", True, 1),
    ("moodle", "Alice Smith_4242_assignsubmission_file_convnets.zip", "4242", False, 0),
    ("moodle", "Alice Smith_4242_assignsubmission_file/convnets.zip", "4242", False, 0),
    ("plain", "alice.zip", "alice", False, 0),
])
def test_names_map_to_one_student(kind, name, student, late, attempt):
    sub = parse_name(kind, name)
    assert (sub.student, sub.late, sub.attempt) == (student, late, attempt)


@pytest.mark.parametrize("kind, name", [
    ("canvas", "convnets.zip"), ("canvas", "smith_alice_x_1_convnets.zip"),
    ("moodle", "alice_convnets.zip"), ("plain", "../alice.zip"), ("plain", "a b.zip"),
])
def test_names_outside_the_pattern_are_refused_saying_the_pattern(kind, name):
    with pytest.raises(ValueError, match="submission"):
        parse_name(kind, name)


def test_canvas_bulk_zip_keeps_the_latest_per_student_with_late_flag_and_time(
        course, tmp_path, capsys):
    outer = bulk(tmp_path / "submissions.zip", {
        "smithalice_12345_67890_convnets.zip": (submission_bytes(tmp_path, "a-first"),
                                                (2026, 11, 28, 10, 0, 0)),
        "smithalice_LATE_12345_67899_convnets-1.zip": (submission_bytes(tmp_path, "a-second"),
                                                       (2026, 12, 1, 9, 30, 0)),
        "jonesbob_777_67000_convnets.zip": (submission_bytes(tmp_path, "b"),
                                            (2026, 11, 29, 8, 0, 0)),
        "smithalice_12345_67895_convnets.zip": (submission_bytes(tmp_path, "a-middle"),
                                                (2026, 11, 30, 10, 0, 0)),
    })
    code = main(["collect", "--course", str(course.root), "--lms", "canvas", str(outer)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert sorted(p.name for p in course.submitted.iterdir()) == ["12345", "777"]  # not 3, not 1
    lib = course.submitted / "12345" / ASSIGNMENT / "cs231n_lib" / "conv_naive.py"
    assert lib.read_text() == "# a-second\n"
    stamp = (course.submitted / "12345" / ASSIGNMENT / "timestamp.txt").read_text()
    assert stamp == "2026-12-01 09:30:00.000000 UTC"
    assert "superseded: smithalice_12345_67890_convnets.zip" in out and "LATE" in out
    assert "superseded: smithalice_12345_67895_convnets.zip" in out  # a chain: both named
    assert out.count("superseded:") == 2
    roster = load_roster(course)
    assert roster["12345"]["late"] is True and roster["12345"]["display_name"] == "smithalice"


def test_canvas_members_given_one_by_one_are_taken_the_same_way(course, tmp_path):
    first = tmp_path / "smithalice_12345_67890_convnets.zip"
    first.write_bytes(submission_bytes(tmp_path, "old"))
    second = tmp_path / "smithalice_12345_67990_convnets-1.zip"
    second.write_bytes(submission_bytes(tmp_path, "new"))
    import os
    os.utime(first, (1_700_000_000, 1_700_000_000))
    os.utime(second, (1_700_000_100, 1_700_000_100))
    assert main(["collect", "--course", str(course.root), "--lms", "canvas",
                 str(second), str(first)]) == 0
    lib = course.submitted / "12345" / ASSIGNMENT / "cs231n_lib" / "conv_naive.py"
    assert lib.read_text() == "# new\n"


def test_moodle_folders_download_and_a_foreign_member_is_named(course, tmp_path, capsys):
    outer = bulk(tmp_path / "moodle.zip", {
        "Alice Smith_4242_assignsubmission_file/convnets.zip":
            (submission_bytes(tmp_path, "m"), (2026, 11, 30, 12, 0, 0)),
        "notes.zip": (make_zip(tmp_path / "n.zip", {"x.txt": b"x"}).read_bytes(),
                      (2026, 11, 30, 12, 0, 0)),
    })
    code = main(["collect", "--course", str(course.root), "--lms", "moodle", str(outer)])
    out = capsys.readouterr().out
    assert code == 1  # one member was not a submission: said, the other still taken
    assert (course.submitted / "4242" / ASSIGNMENT / "00_history.ipynb").read_bytes() == NOTEBOOK
    assert "notes.zip" in out and "not a Moodle submission name" in out


def test_a_missing_lms_file_is_one_line(course, tmp_path, capsys):
    assert main(["collect", "--course", str(course.root), "--lms", "plain",
                 str(tmp_path / "gone.zip")]) == 1
    assert "no such file" in capsys.readouterr().out


@pytest.mark.slow  # builds a release (~7 s)
def test_export_for_canvas_has_its_columns_ids_and_final_scores(tmp_path):
    from nbgrader.api import Gradebook

    from grader.course.lms import CANVAS_COLUMNS, save_roster
    from grader.course.release import build_release

    paths = build_release(tmp_path / "course")
    with Gradebook(f"sqlite:///{paths.gradebook}") as gb:
        gb.add_student("12345")
        gb.add_student("777")
        gb.add_submission(ASSIGNMENT, "12345", timestamp=datetime(2026, 12, 1))
    save_roster(paths, {"12345": {"display_name": "=smithalice"}})
    out = tmp_path / "canvas.csv"
    assert main(["export", "--course", str(paths.root), "--to", str(out), "--lms", "canvas",
                 "--canvas-column", "convnets (98765)"]) == 0
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == [*CANVAS_COLUMNS, "convnets (98765)"]
    assert rows[1][0].strip() == "Points Possible" and float(rows[1][-1]) > 0
    by_id = {r[1]: r for r in rows[2:]}
    assert set(by_id) == {"12345", "777"}
    assert by_id["12345"][0] == "'=smithalice"  # no spreadsheet formula from an LMS name
    assert float(by_id["777"][-1]) == 0.0
