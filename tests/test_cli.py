"""The command line: every subcommand exists, errors are one clear line, doctor reports."""

import subprocess
import sys
from pathlib import Path

import pytest

from grader.cli import build_parser, main

COMMANDS = ("release", "collect", "autograde", "feedback", "export", "demo", "student",
            "check", "doctor")


def test_every_command_is_there():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(COMMANDS) <= set(sub.choices)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["autograde", "--course", "{tmp}/nowhere"], "run `release` first"),
        (["feedback", "--course", "{tmp}/nowhere"], "run `release` first"),
        (["export", "--course", "{tmp}/nowhere", "--to", "{tmp}/g.csv"], "run `release` first"),
        (["collect", "--course", "{tmp}/nowhere", "{tmp}/a.zip"], "run `release` first"),
    ],
)
def test_misuse_is_one_clear_line_and_exit_2(tmp_path, capsys, argv, message):
    code = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_jobs_must_be_positive(tmp_path, capsys):
    assert main(["autograde", "--course", str(tmp_path), "--jobs", "0"]) == 2
    assert "jobs must be an integer >= 1" in capsys.readouterr().err


def test_student_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "mine.txt").write_text("work in progress")
    assert main(["student", "--out", str(tmp_path / "ws")]) == 2
    assert "use --force" in capsys.readouterr().err
    assert (tmp_path / "ws" / "mine.txt").read_text() == "work in progress"


def test_doctor_reports_versions_and_sandbox():
    out = subprocess.run([sys.executable, "-m", "grader", "doctor"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for needle in ("numpy", "nbgrader", "sandbox", "CIFAR-10", "speed probe"):
        assert needle in out.stdout


def test_instructor_command_without_instructor_modules_says_so(monkeypatch, capsys):
    """A student workspace ships only the check API; `doctor` there is one clear line."""
    monkeypatch.setitem(sys.modules, "grader.course.doctor", None)  # import now fails as it would
    assert main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert "needs the instructor's repository" in err and "grader.course.doctor" in err


def test_check_refuses_outside_a_workspace_and_in_the_instructor_tree(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 2
    assert "no cs231n_lib/" in capsys.readouterr().err
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert main(["check"]) == 2
    assert "instructor's repository" in capsys.readouterr().err


def test_score_table_fits_100_columns_and_verbose_shows_everything():
    from grader.checks.report import FunctionResult, LibraryReport
    from grader.course.merge import StudentResult
    from grader.course.score_table import WIDTH, score_lines

    lib = LibraryReport(sandbox="bubblewrap")
    for i in range(30):
        lib.functions[f"conv_fn_{i:02d}"] = FunctionResult(f"conv_fn_{i:02d}", 0.0, 2.0)
    r = StudentResult("s" * 40, True, library=lib, score=3.0, max_score=88.0,
                      late_penalty=1.5, problems=["library not graded: " + "x" * 300])
    worst = StudentResult("t" * 40, False, library=lib, manual_pending=8.0, late_penalty=1.5)
    short = score_lines([r, worst])
    assert all(len(line) <= WIDTH for line in short), [len(x) for x in short]
    assert "lost: conv_fn_00" in short[1] and "more)" in short[1] and "[late -1.5]" in short[1]
    assert "[+8 by hand]" in short[2]
    assert "--verbose" in short[-1]
    full = score_lines([r, worst], verbose=True)
    assert "conv_fn_29" in full[1] and "x" * 300 in full[-1]


def test_autograde_with_nothing_to_grade_says_so_and_fails(tmp_path, capsys):
    from grader.course.config_files import INSTRUCTOR_TEMPLATE

    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(INSTRUCTOR_TEMPLATE)
    (course / "gradebook.db").write_bytes(b"")
    code = main(["autograde", "--course", str(course), "--allow-unsandboxed"])
    err = capsys.readouterr().err
    assert code == 1 and "nothing to grade" in err, err


def test_verbose_is_accepted_by_every_command():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        assert any("--verbose" in a.option_strings for a in parser._actions), name
