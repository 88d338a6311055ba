"""A real JupyterHub classroom, end to end (one course run, two students, one instructor).

Three system accounts made here (``useradd``, as root), a JupyterHub from this venv with
``configurable-http-proxy`` from npm and the ``LocalProcessSpawner`` (each server runs as its
user), a shared nbgrader exchange (mode 0777, nbgrader sets the modes inside), all on
127.0.0.1, bounded in time, stopped by pid and the accounts deleted at the end.

- instructor (a shell on the hub host, as the instructor account): ``cs231n-grader release``,
  ``nbgrader release_assignment``;
- each student, through the proxy with the student's hub token: the single-user server's
  nbgrader endpoints ``POST /assignments/fetch``, the Contents API to hand in a library
  (reference / one bug), ``POST /assignments/submit``;
- instructor: ``nbgrader collect``, ``cs231n-grader autograde``, ``cs231n-grader feedback``,
  ``nbgrader release_feedback``;
- each student: ``POST /assignments/fetch_feedback``, then reads the pages over the Contents
  API;
- then a browser (Chromium) logs in to the hub: a student's feedback page and the
  instructor's formgrader Manage Submissions page, screenshots in ``test-artifacts/``.

The students hand in the release's notebooks (cells stop at the stubs: a short run). Step
times per student are printed (``-s``).
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from urllib.parse import quote  # nbgrader's feedback folders are named "2026-… UTC"

import pytest
from conftest import IN_CI, ROOT, require
from grading_helpers import assert_fetched_feedback, assert_no_secret_text
from hub_helpers import (
    HubError,
    SystemUser,
    blocking_directories,
    create_user,
    delete_user,
    find_proxy,
    start_hub,
    stop_hub,
    traversable,
)

from grader.course.demo import SampleStudent, make_sample_submission
from grader.course.library_page import REPORT_MARKER
from grader.course.paths import ASSIGNMENT, CoursePaths
from grader.course.timestamps import parse_timestamp

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("jupyterhub")]

COURSE_ID = "cs231n-hub"
MUTANT = "maxpool_grad_all_ties"
INSTRUCTOR = "cs231n-teach"
STUDENTS = [SampleStudent("cs231n-alice", "reference", "reference", notebooks="release"),
            SampleStudent("cs231n-bob", "one bug", "mutants", (MUTANT,), notebooks="release")]
ARTIFACTS = ROOT / "test-artifacts"
#: step -> {who: seconds}
TIMES: dict[str, dict[str, float]] = {}


class Timer:
    def __init__(self, step: str, who: str):
        self.step, self.who = step, who

    def __enter__(self):
        self.start = time.monotonic()

    def __exit__(self, *exc):
        TIMES.setdefault(self.step, {})[self.who] = round(time.monotonic() - self.start, 1)


def _as(user: SystemUser, step: str, argv: list[str], cwd: Path, timeout: float = 900) -> str:
    with Timer(step, user.name):
        proc = user.run(argv, cwd, timeout)
    assert proc.returncode == 0, f"{step}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _nbgrader(user, step, args, cwd):
    return _as(user, step, [sys.executable, "-m", "nbgrader", *args], cwd, timeout=300)


def _grader(user, step, args, cwd):
    return _as(user, step, [sys.executable, "-m", "grader", *args], cwd)


def _write_as(user: SystemUser, path: Path, text: str) -> None:
    path.write_text(text)
    os.chown(path, user.uid, user.gid)


class Student:
    """A student at a browser tab: every call goes through the proxy with their token."""

    def __init__(self, hub, name: str, token: str):
        self.hub, self.name, self.token = hub, name, token
        self.made: set[str] = set()  # directories already created over the Contents API

    def call(self, method: str, path: str, **kw) -> object:
        status, out = self.hub.request(method, f"/user/{self.name}{path}", self.token, **kw)
        if not 200 <= status < 300:
            raise HubError(f"{self.name}: {method} {path}: {status} {out}\n"
                           f"{self.hub.log_tail()}")
        return out

    def action(self, action: str) -> object:
        """nbgrader's assignment-list endpoint (what the Assignments tab's buttons post)."""
        return self.call("POST", f"/assignments/{action}",
                         form={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})

    def listing(self) -> list[dict]:
        out = self.call("GET", "/assignments?" + urllib.parse.urlencode(
            {"course_id": COURSE_ID}))
        assert out["success"], out
        return [a for a in out["value"] if a["assignment_id"] == ASSIGNMENT]

    def put_file(self, rel: str, data: bytes) -> None:
        """Upload one file with the Contents API (parents first), as the file browser does."""
        parts = rel.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in self.made:
                self.call("PUT", "/api/contents/" + quote(parent), body={"type": "directory"})
                self.made.add(parent)
        self.call("PUT", "/api/contents/" + quote(rel),
                  body={"type": "file", "format": "base64",
                        "content": base64.b64encode(data).decode()})

    def get_dir(self, rel: str) -> list[dict]:
        return self.call("GET", "/api/contents/" + quote(rel))["content"]

    def get_text(self, rel: str) -> str:
        return self.call("GET", f"/api/contents/{quote(rel)}?format=text&type=file")["content"]


def _hand_in(student: Student, paths: CoursePaths, who: SampleStudent, work: Path) -> int:
    """Upload every file of the sample submission that differs from the release."""
    make_sample_submission(paths, who, work)
    changed = 0
    for path in sorted(work.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(work).as_posix()
        released = paths.release / rel
        if released.is_file() and released.read_bytes() == path.read_bytes():
            continue
        student.put_file(f"{ASSIGNMENT}/{rel}", path.read_bytes())
        changed += 1
    return changed


def _fetched_pages(student: Student) -> dict[str, str]:
    """The feedback pages the student fetched (``<assignment>/feedback/<time>/*.html``)."""
    pages = {}
    for stamp in student.get_dir(f"{ASSIGNMENT}/feedback"):
        for entry in student.get_dir(stamp["path"]):
            if entry["name"].endswith(".html"):
                pages[entry["name"]] = student.get_text(entry["path"])
    return pages


@pytest.fixture(scope="module")
def classroom(bwrap):
    require(os.geteuid() == 0, "root (the JupyterHub test creates system users and spawns "
                               "their servers)")
    require(shutil.which("useradd") is not None, "useradd (Debian's passwd package)")
    require(importlib.util.find_spec("jupyterhub") is not None,
            "jupyterhub (pip install -e .[dev])")
    blocked = blocking_directories(sys.executable, sys.prefix, str(ROOT))
    # Under CI (a throw-away machine) the test opens them for traversal while it runs; on a
    # laptop it does not touch the machine's permissions, and skips.
    closed = blocked[0] if blocked else ""
    require(not blocked or IN_CI, f"an interpreter other users can run ({closed} is closed to "
                                  "them; e.g. a venv made from Debian's /usr/bin/python3.11)")
    proxy = find_proxy()
    require(proxy is not None, "configurable-http-proxy (npm install --prefix .cache/npm "
                               "configurable-http-proxy; .ci/run does it)")
    opened = contextlib.ExitStack()
    opened.enter_context(traversable(blocked))
    # Not pytest's tmp dir: it is mode 0700, and the accounts must reach their homes.
    run = Path(tempfile.mkdtemp(prefix="cs231n-hub-"))
    run.chmod(0o755)
    names = [INSTRUCTOR] + [w.student for w in STUDENTS]
    hub = None
    try:
        exchange, homes = run / "exchange", run / "home"
        exchange.mkdir()
        exchange.chmod(0o777)  # nbgrader's docs: the exchange root is writable by everyone
        homes.mkdir()
        homes.chmod(0o755)
        teach = create_user(INSTRUCTOR, homes / INSTRUCTOR)
        accounts = {w.student: create_user(w.student, homes / w.student) for w in STUDENTS}
        course = teach.home / "course"
        _grader(teach, "release", ["release", "--course", str(course), "--course-id",
                                   COURSE_ID, "--exchange", str(exchange)], teach.home)
        _nbgrader(teach, "release_assignment", ["release_assignment", ASSIGNMENT], course)
        paths = CoursePaths(course)
        # formgrader in the instructor's server finds the course from the home's config
        _write_as(teach, teach.home / "nbgrader_config.py",
                  f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\n"
                  f"c.CourseDirectory.course_id = {COURSE_ID!r}\n")
        for account in accounts.values():
            _write_as(account, account.home / "nbgrader_config.py",
                      f"c = get_config()\nc.CourseDirectory.course_id = {COURSE_ID!r}\n"
                      f"c.Exchange.root = {str(exchange)!r}\n")

        hub_dir = run / "hub"
        hub_dir.mkdir(mode=0o700)  # the service token lives in its config
        with Timer("hub start", "hub"):
            hub = start_hub(hub_dir, proxy, names)
        students = {}
        for who in STUDENTS:
            name = who.student
            with Timer("server start", name):
                hub.start_server(name)
            student = Student(hub, name, hub.user_token(name))
            with Timer("fetch", name):
                student.action("fetch")
            assert "fetched" in [a["status"] for a in student.listing()], student.listing()
            with Timer("hand in (Contents API)", name):
                changed = _hand_in(student, paths, who, run / f"work-{name}")
            assert changed > 0
            with Timer("submit", name):
                out = student.action("submit")
            assert isinstance(out, dict) and out.get("success"), out
            students[name] = student

        _nbgrader(teach, "collect", ["collect", ASSIGNMENT], course)
        autograde = _grader(teach, "autograde", ["autograde", "--course", str(course),
                                                 "--jobs", "2"], teach.home)
        _grader(teach, "feedback", ["feedback", "--course", str(course)], teach.home)
        _nbgrader(teach, "release_feedback", ["release_feedback", ASSIGNMENT], course)
        pages = {}
        for name, student in students.items():
            with Timer("fetch_feedback", name):
                student.action("fetch_feedback")
            pages[name] = _fetched_pages(student)
        print("\njupyterhub e2e step times (s):", json.dumps(TIMES))
        yield {"hub": hub, "paths": paths, "pages": pages, "autograde": autograde,
               "teach": teach, "students": students}
    finally:
        if hub is not None:
            stop_hub(hub)
            if hub.process.returncode not in (0, None, -15, 143):
                print(f"hub exit {hub.process.returncode}:\n{hub.log_tail()}")
        for name in names:
            delete_user(name)
        shutil.rmtree(run, ignore_errors=True)
        opened.close()


def _expected_library(student: str) -> float:
    """Library points computed from the check table and the mutant's list, not the run."""
    from grader.checks import registry
    from grader.mutants import by_name

    lost = set(by_name(MUTANT).checks) if student == "cs231n-bob" else set()
    return float(sum(registry.points(n) for n in registry.names() if n not in lost))


def test_students_fetch_the_library_verdicts_through_their_servers(classroom):
    pages = classroom["pages"]
    assert_fetched_feedback(pages["cs231n-alice"], pages["cs231n-bob"])


def test_no_hidden_test_text_reaches_a_hub_student(classroom):
    assert_no_secret_text(classroom["pages"])


def test_gradebook_holds_exchange_times_and_the_expected_library_points(classroom):
    from nbgrader.api import Gradebook

    from grader.checks import registry

    paths = classroom["paths"]
    with Gradebook(f"sqlite:///{paths.gradebook}") as gb:
        for who in classroom["students"]:
            text = (paths.submitted / who / ASSIGNMENT / "timestamp.txt").read_text()
            assert gb.find_submission(ASSIGNMENT, who).timestamp == parse_timestamp(text)
            library = sum(
                gb.find_grade(spec.grade_id, Path(spec.notebook).stem, ASSIGNMENT, who).score
                for spec in map(registry.get, registry.names()))
            assert library == pytest.approx(_expected_library(who)), who
    assert _expected_library("cs231n-alice") == registry.total_points()
    assert "PROBLEM" not in classroom["autograde"], classroom["autograde"]


def _login(pw, chromium, profile: Path, hub, user: str, next_path: str):
    from browser_helpers import CHROMIUM_ARGS

    context = pw.chromium.launch_persistent_context(
        str(profile), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000})
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{hub.base_url}/hub/login?next={urllib.parse.quote(next_path)}")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password)
    page.click("#login_submit")
    page.wait_for_url(f"**{next_path}*")
    return context, page


@pytest.mark.browser
def test_browser_shows_the_feedback_and_formgrader_scores(classroom, chromium, tmp_path):
    """The pages a student and the instructor open, rendered in Chromium, show the scores."""
    require(importlib.util.find_spec("playwright") is not None,
            "playwright (pip install playwright; the browser is Debian's chromium)")
    from nbgrader.api import Gradebook
    from playwright.sync_api import expect, sync_playwright

    from grader.checks import registry

    hub, paths = classroom["hub"], classroom["paths"]
    bob = "cs231n-bob"
    stamp = classroom["students"][bob].get_dir(f"{ASSIGNMENT}/feedback")[0]["name"]
    feedback_path = f"/user/{bob}/files/{ASSIGNMENT}/feedback/{quote(stamp)}/00_history.html"
    with Timer("server start", INSTRUCTOR):
        hub.start_server(INSTRUCTOR)
    manage_path = f"/user/{INSTRUCTOR}/formgrader/manage_submissions/{ASSIGNMENT}"
    with Gradebook(f"sqlite:///{paths.gradebook}") as gb:
        scores = {s: gb.find_submission(ASSIGNMENT, s).score for s in classroom["students"]}
        max_score = gb.find_assignment(ASSIGNMENT).max_score
    from browser_helpers import screenshot

    expect.set_options(timeout=60_000)  # formgrader fills its table from its API, on 2 cores
    shots = []
    with sync_playwright() as pw:
        # (a) the student's feedback page: the library report with its total and what to fix
        context, page = _login(pw, chromium, tmp_path / "profile-bob", hub, bob,
                               feedback_path)
        try:
            report = page.locator(f"section.{REPORT_MARKER}").first
            expect(report).to_contain_text(
                f"Library checks (cs231n_lib): {_expected_library(bob):g} / "
                f"{registry.total_points():g} points", use_inner_text=True)
            expect(report).to_contain_text("To fix (1)", use_inner_text=True)
            expect(report).to_contain_text("max_pool_backward_naive", use_inner_text=True)
            expect(report.locator(".hint").first).to_be_visible()
        finally:
            shots.append(screenshot(page, ARTIFACTS, "hub-feedback-page"))
            context.close()
        # (b) formgrader's Manage Submissions: both students graded, each with their score
        context, page = _login(pw, chromium, tmp_path / "profile-teach", hub, INSTRUCTOR,
                               manage_path)
        try:
            for student, score in scores.items():
                row = page.locator("tr").filter(has=page.locator(
                    "td.student-id", has_text=student))
                expect(row).to_have_count(1)
                expect(row.locator("td.score")).to_have_text(
                    f"{round(score, 2):g} / {round(max_score, 2):g}")
                expect(row.locator("td.status")).not_to_contain_text("needs autograding")
                expect(row.locator("td.timestamp")).not_to_have_text("None")
        finally:
            shots.append(screenshot(page, ARTIFACTS, "hub-formgrader-manage-submissions"))
            context.close()
    assert scores["cs231n-alice"] > scores[bob] > 0
    assert all(shots), shots
    print("\nscreenshots:", *shots)
    print("\njupyterhub e2e step times (s):", json.dumps(TIMES))
