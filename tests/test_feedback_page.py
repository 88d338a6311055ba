"""The library report a learner reads inside nbgrader's feedback pages (what release_feedback
delivers to a JupyterHub student), and the exchange files release_feedback needs beside them.
The end-to-end exchange run is tests/test_exchange_e2e.py."""

from __future__ import annotations

import json

import pytest

from grader.checks.report import CaseReport, FunctionResult, LibraryReport, Outcome
from grader.course.feedback import _exchange_files, check_cells, insert_section
from grader.course.library_page import REPORT_MARKER, library_section_html
from grader.course.paths import ASSIGNMENT, CoursePaths


def report() -> LibraryReport:
    bad = CaseReport("hidden case 2 of 3", hidden=True, passed=False, outcome=Outcome.WRONG,
                     hint="check the stride <b>arithmetic</b>")
    good = CaseReport("pad1", hidden=False, passed=True, outcome=Outcome.PASSED)
    rep = LibraryReport(sandbox="bubblewrap")
    rep.functions = {
        "zeta_fn": FunctionResult("zeta_fn", 2.0, 2.0, [good]),
        "alpha_fn": FunctionResult("alpha_fn", 0.0, 3.0, [good, bad]),
        "mid_fn": FunctionResult("mid_fn", 1.0, 1.0, [good]),
    }
    return rep


def test_total_and_failed_first_passed_folded_in_notebook_order():
    html = library_section_html(report(), order=["mid_fn", "zeta_fn", "alpha_fn"],
                                where={"alpha_fn": "05_pooling"})
    assert html.startswith(f"<section class='{REPORT_MARKER}'><style>")
    head, folded = html.split("<details>")
    assert "3 / 6 points" in head and "1 of 3 functions to fix" in head
    assert "alpha_fn" in head and "(05_pooling)" in head and "zeta_fn" not in head
    assert "hint: check the stride &lt;b&gt;arithmetic&lt;/b&gt;" in head  # escaped
    assert folded.index("mid_fn") < folded.index("zeta_fn")  # notebook order, not a-z
    assert "Passed (2)" in folded and "alpha_fn" not in folded


def test_section_goes_right_after_the_body_tag():
    page = '<html><head></head><body class="jp-Notebook" data-x="1"><main>nb</main></body>'
    out = insert_section(page, "<section>S</section>")
    assert out == ('<html><head></head><body class="jp-Notebook" data-x="1">'
                   "<section>S</section><main>nb</main></body>")
    assert insert_section("no body", "S") == "Sno body"


@pytest.fixture
def course(tmp_path) -> CoursePaths:
    paths = CoursePaths(tmp_path / "course")
    paths.source.mkdir(parents=True)

    def nb(name, ids):
        cells = [{"cell_type": "code", "source": "", "metadata": {"nbgrader": {"grade_id": i}}}
                 for i in ids]
        (paths.source / name).write_text(json.dumps({"cells": cells}))

    nb("05_pooling.ipynb", ["check_max_b", "written_x", "check_max_a"])
    nb("00_history.ipynb", ["test_y", "check_perceptron"])
    nb("01_none.ipynb", ["test_z"])
    return paths


def test_check_cells_are_read_in_notebook_then_cell_order(course):
    assert check_cells(course) == {"00_history": ["perceptron"],
                                   "05_pooling": ["max_b", "max_a"]}


def test_exchange_files_are_rewritten_clean_and_bad_ones_dropped(course, tmp_path):
    sub = course.submitted / "alice" / ASSIGNMENT
    sub.mkdir(parents=True)
    (sub / "timestamp.txt").write_text("2026-11-30T10:15:42+01:00")
    (sub / "submission_secret.txt").write_text("ab" * 64 + "\n")
    out = tmp_path / "out"
    out.mkdir()
    _exchange_files(course, "alice", out)
    assert (out / "timestamp.txt").read_text() == "2026-11-30 09:15:42.000000 UTC"
    assert (out / "submission_secret.txt").read_text() == "ab" * 64

    (sub / "timestamp.txt").write_text("<script>")
    (sub / "submission_secret.txt").unlink()
    (sub / "submission_secret.txt").symlink_to(sub / "timestamp.txt")
    out2 = tmp_path / "out2"
    out2.mkdir()
    _exchange_files(course, "alice", out2)
    assert list(out2.iterdir()) == []
