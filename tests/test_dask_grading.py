"""Nothing lost: a killed coordinator resumes, a killed Dask worker's submission is retried,
and a ``--scheduler local:2`` run writes the same gradebook as ``--jobs 1``.

One small class (reference, untouched release, one bug), graded three ways in one session:
1. ``cs231n-grader autograde --jobs 1`` as a process, SIGKILLed once it has merged a student;
   then ``--resume`` grades only the others (the journaled student is not graded again);
2. that gradebook is the ``--jobs 1`` reference;
3. ``scheduler="local:2"`` regrades the class while the test SIGKILLs one worker process (by
   its pid) that is running a grading job: every student is merged exactly once, and the
   gradebook equals the reference.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from grading_helpers import gradebook_grades

from grader.course import autograde as autograde_mod
from grader.course.autograde import autograde
from grader.course.collect import collect
from grader.course.dask_grading import parse_scheduler
from grader.course.demo import SampleStudent, make_sample_submission
from grader.course.release import build_release

ROOT = Path(__file__).resolve().parents[1]
CLASS = [
    SampleStudent("ref", "reference", "reference"),
    SampleStudent("stub", "untouched", "stubs", notebooks="release"),
    SampleStudent("mut", "one bug", "mutants", ("maxpool_grad_all_ties",)),
]
WAIT_S = 600


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append((int(entry.name), cmd))
    return found


def _grading_jobs_of(course: Path) -> list[int]:
    jobs = []
    for entry in Path("/proc").iterdir():
        try:
            cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "grade_job" in cmd and str(course) in cmd:
            jobs.append(int(entry.name))
    return jobs


@pytest.fixture(scope="module")
def course(tmp_path_factory, bwrap):
    root = tmp_path_factory.mktemp("dask")
    paths = build_release(root / "course")
    subs = [make_sample_submission(paths, who, root / "inbox" / who.student) for who in CLASS]
    assert all(r.ok for r in collect(paths, subs))
    return paths


def _count_merges(monkeypatch) -> dict[str, int]:
    merged: dict[str, int] = {}
    real = autograde_mod.merge_job

    def counting(paths, job):
        merged[job["student"]] = merged.get(job["student"], 0) + 1
        return real(paths, job)

    monkeypatch.setattr(autograde_mod, "merge_job", counting)
    return merged


def test_scheduler_argument_is_validated():
    assert parse_scheduler("local:2") == ("local", 2)
    assert parse_scheduler("tcp://10.0.0.5:8786") == ("address", "tcp://10.0.0.5:8786")
    for bad in ("local:0", "local:x", "10.0.0.5:8786", "tcp://"):
        with pytest.raises(ValueError, match="scheduler"):
            parse_scheduler(bad)


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_killed_coordinator_resumes_and_local2_with_a_killed_worker_equals_jobs1(
        course, monkeypatch):
    journal = course.private / "graded"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    coordinator = subprocess.Popen(
        [sys.executable, "-m", "grader", "autograde", "--course", str(course.root),
         "--jobs", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + WAIT_S
    try:
        while not list(journal.glob("*.json")):
            assert coordinator.poll() is None, "the coordinator ended before merging anyone"
            assert time.monotonic() < deadline, "no student merged in time"
            time.sleep(0.2)
    finally:
        os.kill(coordinator.pid, signal.SIGKILL)
        coordinator.wait()
    done_first = {p.stem: p.stat().st_mtime_ns for p in journal.glob("*.json")}
    assert 1 <= len(done_first) < len(CLASS)
    time.sleep(2)
    assert _grading_jobs_of(course.root) == [], "a grading job outlived its coordinator"

    merged = _count_merges(monkeypatch)
    results = {r.student: r for r in autograde(course.root, jobs=1, progress=False,
                                               resume=True)}
    assert set(results) == {w.student for w in CLASS}
    assert set(merged) == {w.student for w in CLASS} - set(done_first)  # not regraded
    assert {p.stem: p.stat().st_mtime_ns for p in journal.glob("*.json")
            if p.stem in done_first} == done_first
    assert all(r.notebooks_ok and not r.problems for r in results.values()), results
    reference = gradebook_grades(course.root)
    assert set(reference) == set(results) and all(reference.values())
    assert results["ref"].score > results["mut"].score > results["stub"].score == 0

    # --scheduler local:2 regrades everything; one worker is killed while it grades.
    merged.clear()
    killed: list[int] = []

    def kill_a_busy_worker() -> None:
        end = time.monotonic() + WAIT_S
        while time.monotonic() < end and not killed:
            for pid, cmd in _children(os.getpid()):
                if "spawn_main" in cmd and any("grade_job" in c for _, c in _children(pid)):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    dask_results = {r.student: r for r in autograde(course.root, progress=False,
                                                    scheduler="local:2")}
    killer.join(timeout=5)
    assert killed, "no worker was seen grading"
    assert merged == {w.student: 1 for w in CLASS}  # each merged exactly once
    assert all(r.notebooks_ok and not r.problems for r in dask_results.values()), dask_results
    assert {s: r.score for s, r in dask_results.items()} == {
        s: r.score for s, r in results.items()}
    assert gradebook_grades(course.root) == reference
    assert _grading_jobs_of(course.root) == []


def test_fingerprint_sees_every_byte_and_never_opens_a_fifo(tmp_path):
    from grader.course import journal
    from grader.course.paths import ASSIGNMENT, CoursePaths

    paths = CoursePaths(tmp_path)
    sub = paths.submitted / "s1" / ASSIGNMENT
    (sub / "cs231n_lib").mkdir(parents=True)
    (sub / "cs231n_lib" / "conv.py").write_text("x = 1\n")
    first = journal.fingerprint(paths, "s1", "course")
    os.mkfifo(sub / "pipe")  # would block a reader forever
    (sub / "link").symlink_to("/etc/passwd")
    (sub / os.fsdecode(b"bad\xffname")).write_bytes(b"")
    second = journal.fingerprint(paths, "s1", "course")
    assert second != first
    (sub / "cs231n_lib" / "conv.py").write_text("x = 2\n")
    assert journal.fingerprint(paths, "s1", "course") not in (first, second)
    assert journal.fingerprint(paths, "s1", "other course") != journal.fingerprint(
        paths, "s1", "course")
    with pytest.raises(ValueError, match="student"):
        journal.recorded(paths, "../x", "fp")


def test_journal_round_trips_a_result_with_its_timestamp(tmp_path):
    """The journal holds what the merge produced, submission time included (a datetime)."""
    from datetime import datetime

    from grader.course import journal
    from grader.course.merge import StudentResult
    from grader.course.paths import CoursePaths

    paths = CoursePaths(tmp_path)
    result = StudentResult("alice", True, score=3.0, max_score=5.0,
                           timestamp=datetime(2026, 12, 1, 10, 45, 42))
    journal.record(paths, result, "print-1")
    back = journal.recorded(paths, "alice", "print-1")
    assert back is not None and back.timestamp == result.timestamp and back.score == 3.0
    assert journal.recorded(paths, "alice", "print-2") is None


def test_kernels_that_outlive_their_job_are_killed(tmp_path):
    """A kernel in a session of its own (as jupyter_client starts it) is found by its private
    directory and killed; another job's process is left alone."""
    from grader.course.job_runner import kill_kernels

    root, other = tmp_path / "cs231n-k-mine", tmp_path / "cs231n-k-other"
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    mine = subprocess.Popen([*sleeper, f"{root}/k-1/conn/kernel.json"], start_new_session=True)
    theirs = subprocess.Popen([*sleeper, f"{other}/k-1/conn/kernel.json"],
                              start_new_session=True)
    try:
        for proc, folder in ((mine, root), (theirs, other)):  # exec'd: its argv is in /proc
            cmdline, deadline = Path(f"/proc/{proc.pid}/cmdline"), time.monotonic() + 10
            while str(folder).encode() not in cmdline.read_bytes():
                assert time.monotonic() < deadline, "the sleeper did not start"
                time.sleep(0.01)
        assert kill_kernels(str(root)) == 1
        assert mine.wait(timeout=10) == -signal.SIGKILL
        assert theirs.poll() is None
        assert kill_kernels("") == 0
    finally:
        for proc in (mine, theirs):
            proc.kill()
            proc.wait()
