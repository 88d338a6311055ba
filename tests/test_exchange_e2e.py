"""The exchange workflow end to end, as an instructor and two students run it (one course run):

``cs231n-grader release --course-id --exchange`` -> ``nbgrader release_assignment`` -> two
students (own HOME, Jupyter dirs and config; same OS user, ``--student``) ``fetch_assignment``
and ``submit`` -> ``nbgrader collect`` -> ``cs231n-grader autograde`` -> ``feedback`` ->
``nbgrader release_feedback`` -> students ``fetch_feedback``. What a student fetches must hold
the library verdicts and hints (the whole report too), no hidden test text; the gradebook must
hold the exchange's submission times, and formgrader must list both students as graded.
The students hand in the release's notebooks (their cells stop at the stubs: a short run) with
a reference and a one-bug library. Measured here: ~7 min with answered notebooks on the shared
2 cores, the step times are printed (``-s``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from grading_helpers import assert_fetched_feedback, assert_no_secret_text

from grader.course.demo import SampleStudent, make_sample_submission
from grader.course.paths import ASSIGNMENT, CoursePaths, nbgrader_api
from grader.course.timestamps import parse_timestamp

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("exchange")]

COURSE_ID = "cs231n-e2e"
MUTANT = "maxpool_grad_all_ties"
STUDENTS = [SampleStudent("alice", "reference", "reference", notebooks="release"),
            SampleStudent("bob", "one bug", "mutants", (MUTANT,), notebooks="release")]
TIMES: dict[str, float] = {}


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHONPATH"))}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
               JUPYTER_DATA_DIR=str(home / ".local/share/jupyter"),
               JUPYTER_RUNTIME_DIR=str(home / ".local/share/jupyter/runtime"),
               PATH=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]))
    return env


def _run(step: str, argv: list[str], cwd: Path, home: Path, timeout: float = 300) -> str:
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=_env(home), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    TIMES[step] = round(time.monotonic() - start, 1)
    assert proc.returncode == 0, f"{step}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def nbgrader(step, args, cwd, home):
    return _run(step, [sys.executable, "-m", "nbgrader", *args], cwd, home)


def grader(step, args, cwd, home):
    return _run(step, [sys.executable, "-m", "grader", *args], cwd, home, timeout=900)


@pytest.fixture(scope="session")
def classroom(tmp_path_factory, bwrap):
    root = tmp_path_factory.mktemp("exchange")
    course, exchange, teacher = root / "course", root / "exchange", root / "teacher-home"
    exchange.mkdir(mode=0o777)
    exchange.chmod(0o777)
    teacher.mkdir()
    grader("release", ["release", "--course", str(course), "--course-id", COURSE_ID,
                       "--exchange", str(exchange)], root, teacher)
    paths = CoursePaths(course)
    nbgrader("release_assignment", ["release_assignment", ASSIGNMENT], course, teacher)
    homes = {}
    for who in STUDENTS:
        home = root / f"home-{who.student}"
        home.mkdir()
        (home / "nbgrader_config.py").write_text(
            f"c = get_config()\nc.CourseDirectory.course_id = {COURSE_ID!r}\n"
            f"c.Exchange.root = {str(exchange)!r}\n")
        nbgrader(f"fetch_assignment {who.student}",
                 ["fetch_assignment", ASSIGNMENT, "--student", who.student], home, home)
        fetched = home / ASSIGNMENT
        assert (fetched / "00_history.ipynb").is_file()
        work = root / f"work-{who.student}"
        make_sample_submission(paths, who, work)
        shutil.copytree(work, fetched, dirs_exist_ok=True)
        nbgrader(f"submit {who.student}", ["submit", ASSIGNMENT, "--student", who.student],
                 home, home)
        homes[who.student] = home
    nbgrader("collect", ["collect", ASSIGNMENT], course, teacher)
    autograde = grader("autograde", ["autograde", "--course", str(course), "--jobs", "2"],
                       root, teacher)
    feedback = grader("feedback", ["feedback", "--course", str(course)], root, teacher)
    nbgrader("release_feedback", ["release_feedback", ASSIGNMENT], course, teacher)
    for who in STUDENTS:
        nbgrader(f"fetch_feedback {who.student}",
                 ["fetch_feedback", ASSIGNMENT, "--student", who.student],
                 homes[who.student], homes[who.student])
    print("\nexchange e2e step times (s):", json.dumps(TIMES))
    return {"paths": paths, "homes": homes, "autograde": autograde, "feedback": feedback}


def _fetched(home: Path) -> dict[str, str]:
    pages = sorted((home / ASSIGNMENT / "feedback").glob("*/*.html"))
    return {p.name: p.read_text(errors="replace") for p in pages}


def test_students_fetch_the_library_verdicts_and_the_whole_report(classroom):
    homes = classroom["homes"]
    assert_fetched_feedback(_fetched(homes["alice"]), _fetched(homes["bob"]))


def test_no_hidden_test_text_reaches_a_student(classroom):
    assert_no_secret_text({who: _fetched(home) for who, home in classroom["homes"].items()})


def test_gradebook_holds_the_exchange_times_and_formgrader_lists_both_graded(classroom):
    from nbgrader.api import Gradebook

    paths = classroom["paths"]
    with Gradebook(f"sqlite:///{paths.gradebook}") as gb:
        for who in ("alice", "bob"):
            text = (paths.submitted / who / ASSIGNMENT / "timestamp.txt").read_text()
            assert gb.find_submission(ASSIGNMENT, who).timestamp == parse_timestamp(text)
    api = nbgrader_api(paths)
    listed = {s["student"]: s for s in api.get_submissions(ASSIGNMENT)}
    assert listed["alice"]["autograded"] and listed["bob"]["autograded"]
    assert listed["alice"]["score"] > listed["bob"]["score"] > 0  # the library points
    assert "PROBLEM" not in classroom["autograde"], classroom["autograde"]
