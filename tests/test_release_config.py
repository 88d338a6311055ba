"""``release`` keeps the instructor's nbgrader_config.py, takes --course-id / --exchange, and
refuses an instructor setting that would switch off a trust rule (grader.course.config_files).

The config files are read back with traitlets' own loader, as nbgrader does."""

from __future__ import annotations

import pytest

from grader.course.config_files import GRADER_CONFIG, INCLUDE_LINE
from grader.course.paths import CoursePaths, course_config
from grader.course.release import write_config


@pytest.fixture
def paths(tmp_path) -> CoursePaths:
    return CoursePaths(tmp_path / "Fall 2026 convnets")


def test_first_release_creates_both_files_and_the_id_defaults_to_the_folder(paths):
    final = write_config(paths)
    assert final == {"course_id": "Fall-2026-convnets"}
    assert INCLUDE_LINE in paths.config.read_text()
    config = course_config(paths)
    assert config.CourseDirectory.course_id == "Fall-2026-convnets"
    assert "convnets" in config.Autograde.exclude_overwriting
    assert {paths.config, paths.root / GRADER_CONFIG} <= set(paths.config_files())


def test_instructor_settings_survive_a_rerun_and_win(paths, tmp_path):
    write_config(paths, course_id="cs231n-f26", exchange=tmp_path / "exchange")
    with open(paths.config, "a") as fh:
        fh.write('c.LateSubmissionPlugin.penalty_method = "zero"\nc.Execute.timeout = 300\n')
    mine = paths.config.read_text()
    final = write_config(paths)  # no flags: the last release's id and exchange are kept
    assert paths.config.read_text() == mine
    config = course_config(paths)
    assert config.CourseDirectory.course_id == "cs231n-f26"
    assert config.Exchange.root == str((tmp_path / "exchange").resolve())
    assert config.LateSubmissionPlugin.penalty_method == "zero"
    assert config.Execute.timeout == 300  # the instructor's value beats ours (120)
    assert final == {"course_id": "cs231n-f26", "exchange": str((tmp_path / "exchange").resolve())}


def test_an_existing_quickstart_config_is_kept_byte_for_byte_after_the_include(paths):
    paths.root.mkdir(parents=True)
    theirs = ('c = get_config()\nc.CourseDirectory.course_id = "physics-101"\n'
              'c.Exchange.root = "/srv/exchange"\n')
    paths.config.write_text(theirs)
    final = write_config(paths)
    text = paths.config.read_text()
    assert text.startswith(INCLUDE_LINE) and text.endswith(theirs)
    assert (paths.root / "nbgrader_config.py.orig").read_text() == theirs
    assert final == {"course_id": "physics-101", "exchange": "/srv/exchange"}
    write_config(paths)
    assert paths.config.read_text() == text  # included once, not twice


def test_a_course_id_flag_that_contradicts_the_instructors_file_is_refused(paths):
    paths.root.mkdir(parents=True)
    paths.config.write_text('c = get_config()\nc.CourseDirectory.course_id = "physics-101"\n')
    with pytest.raises(ValueError, match="physics-101"):
        write_config(paths, course_id="cs231n")


@pytest.mark.parametrize("line, setting", [
    ('c.Autograde.exclude_overwriting = {}', "exclude_overwriting"),
    ('c.Autograde.pre_convert_hook = None', "pre_convert_hook"),
    ('c.HTMLExporter.sanitize_html = False', "sanitize_html"),
    ('c.GenerateFeedback.preprocessors = ["nbgrader.preprocessors.GetGrades"]', "preprocessors"),
])
def test_instructor_lines_that_switch_off_a_trust_rule_are_refused_by_name(paths, line, setting):
    write_config(paths)
    with open(paths.config, "a") as fh:
        fh.write(line + "\n")
    with pytest.raises(ValueError, match=setting):
        write_config(paths)


def test_the_old_one_file_config_is_replaced_and_kept_as_orig(paths):
    paths.root.mkdir(parents=True)
    old = ('"""nbgrader config of the CS231n convnets course '
           '(written by grader.course.release)."""\n')
    paths.config.write_text(old + "c = get_config()\nc.Autograde.exclude_overwriting = {}\n")
    write_config(paths)
    assert INCLUDE_LINE in paths.config.read_text()
    assert (paths.root / "nbgrader_config.py.orig").read_text().startswith(old)


@pytest.mark.parametrize("bad", ["", "a b", "../up", "x" * 65, "-lead"])
def test_bad_course_ids_are_one_clear_line(paths, bad, capsys):
    from grader.cli import main

    assert main(["release", "--course", str(paths.root), f"--course-id={bad}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "course id" in err[0], err
    assert not paths.config.exists()


def test_an_exchange_that_is_a_file_is_refused(paths, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        write_config(paths, exchange=tmp_path / "file")
