"""The job fork server (:mod:`grader.course.job_server`) and the coordinator's use of it.

Fake jobs (a module written to a temporary folder, run as the server's entry) make the unit
tests fast: a forked job is a fresh process in a session of its own with the coordinator's
log, working directory, environment and exit code; a job over its budget is killed with its
process group; a dead, unclean or vanished server means the job is graded as ``python -I``
(once more from the start if the server took it down); a SIGKILLed coordinator leaves no
server and no job. One test starts the real server (the real imports, one thread, no file
open). The last test grades a class of two with ``--jobs 2`` with and without the server and
compares the gradebooks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader.course import job_runner
from grader.course.grade_job import JobSpec
from grader.course.job_runner import Budget, _run_job_process
from grader.course.job_server import DIE_WITH_PARENT, JobServer, ServerUnavailable

ROOT = Path(__file__).resolve().parents[1]

#: The fake job: ``main([mode, out])`` or, as a grading job, ``main([spec.json])``.
FAKE_JOB = '''
import json, os, subprocess, sys, time
STATE = []

def _report(out):
    fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
    info = {"pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0),
            "pgid": os.getpgid(0), "cwd": os.getcwd(), "env": dict(os.environ),
            "argv": sys.argv, "threads": len(os.listdir("/proc/self/task")),
            "fds": fds, "state": list(STATE)}
    STATE.append("dirty")
    with open(out, "w") as fh:
        json.dump(info, fh)

def main(argv):
    if argv[0].endswith(".job.json"):  # a grading job: spec from the coordinator
        spec = json.loads(open(argv[0]).read())
        folder = os.path.dirname(spec["result"])
        result = {"student": spec["student"], "scratch": spec["scratch"], "stage": "library",
                  "notebooks_ok": False, "library": None, "log": "", "dropped": [],
                  "error": "", "pid": os.getpid()}
        with open(spec["result"], "w") as fh:
            json.dump(result, fh)
        mode = open(os.path.join(folder, "mode")).read().strip()
        if mode == "hang":  # over budget, with a grandchild in its process group
            child = subprocess.Popen(["sleep", "120"])
            open(os.path.join(folder, f"grandchild-{os.getpid()}"), "w").write(str(child.pid))
            time.sleep(120)
        if mode == "slow":  # long enough for the test to kill the server under it
            open(os.path.join(folder, f"started-{os.getpid()}"), "w").write("")
            time.sleep(float(os.environ.get("FAKE_SLOW_S", "3")))
        result["stage"] = "done"
        result["notebooks_ok"] = True
        with open(spec["result"], "w") as fh:
            json.dump(result, fh)
        return 0
    mode, out = argv
    _report(out)
    print("to stdout", flush=True)
    print("to stderr", file=sys.stderr)
    if mode == "sleep":
        time.sleep(120)
    if mode == "raise":
        raise RuntimeError("the fake job broke")
    if mode == "exit":  # what a normal interpreter exit does must still happen
        import atexit, threading
        buffered = open(out + ".buffered", "w")
        buffered.write("kept")
        atexit.register(buffered.close)
        def late():
            time.sleep(0.3)
            open(out + ".thread", "w").write("joined")
        threading.Thread(target=late).start()
        raise SystemExit("a message")
    return 7
'''


@pytest.fixture
def fake(tmp_path) -> Path:
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / "fakejob.py").write_text(FAKE_JOB)
    (folder / "threaded.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), "
        "daemon=True).start()\n")
    return folder


def _server(tmp_path: Path, fake: Path, **kw) -> JobServer:
    kw = {"entry": "fakejob:main", "preload": (), "path": (str(fake),), **kw}
    return JobServer(tmp_path, job_runner.job_env(), ready_timeout_s=30, **kw)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait_gone(pids, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if all(_gone(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def _start(server: JobServer, argv, tmp_path: Path, name: str, env: dict | None = None):
    log = open(tmp_path / f"{name}.log", "wb")
    try:
        return server.start_job(argv, log, tmp_path, env or {"PATH": os.environ["PATH"],
                                                            "MARK": name})
    finally:
        log.close()


def test_each_job_is_a_fresh_fork_in_its_own_session_with_the_callers_io_env_and_exit(
        tmp_path, fake):
    with _server(tmp_path, fake) as server:
        jobs = [_start(server, ["report", str(tmp_path / f"r{i}.json")], tmp_path, f"j{i}")
                for i in range(2)]
        assert [job.wait(30) for job in jobs] == [7, 7]
        raised = _start(server, ["raise", str(tmp_path / "r2.json")], tmp_path, "j2")
        assert raised.wait(30) == 1
        server_pid = server.proc.pid
    first, second = (json.loads((tmp_path / f"r{i}.json").read_text()) for i in range(2))
    for i, info in enumerate((first, second)):
        assert info["ppid"] == server_pid
        assert info["sid"] == info["pgid"] == info["pid"]  # own session, own group
        assert info["cwd"] == str(tmp_path)
        assert info["env"] == {"PATH": os.environ["PATH"], "MARK": f"j{i}"}  # exactly ours
        assert info["argv"][3:] == ["report", str(tmp_path / f"r{i}.json")]
        assert info["threads"] == 1
        assert info["fds"][:3] == [0, 1, 2] and len(info["fds"]) <= 4  # + the listing's own
        assert info["state"] == []  # the first job's module state never reaches the second
        log = (tmp_path / f"j{i}.log").read_text()
        assert "to stdout" in log and "to stderr" in log
    assert first["pid"] != second["pid"]
    assert "RuntimeError: the fake job broke" in (tmp_path / "j2.log").read_text()
    assert _wait_gone([server_pid])


def test_a_forked_job_ends_as_an_interpreter_would(tmp_path, fake):
    """Non-daemon threads joined, atexit handlers run, ``SystemExit("text")`` is exit 1 with
    the text on stderr."""
    out = tmp_path / "e.json"
    with _server(tmp_path, fake) as server:
        assert _start(server, ["exit", str(out)], tmp_path, "e").wait(30) == 1
    assert (tmp_path / "e.json.thread").read_text() == "joined"
    assert (tmp_path / "e.json.buffered").read_text() == "kept"
    assert "a message" in (tmp_path / "e.log").read_text()


def _spec(tmp_path: Path, student: str, mode: str) -> JobSpec:
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "mode").write_text(mode)
    return JobSpec(str(tmp_path / "course"), student, str(run / "template.db"),
                   str(run / student), str(run / f"{student}.result.json"))


def _python_boot(fake: Path) -> str:
    """``job_runner._BOOT`` with the fake job in place of ``grade_job``."""
    return DIE_WITH_PARENT + (f"sys.path.insert(0, {str(fake)!r})\nimport fakejob\n"
                              "raise SystemExit(fakejob.main(sys.argv[3:]))")


def test_a_job_over_budget_is_killed_with_its_process_group(tmp_path, fake):
    with _server(tmp_path, fake) as server:
        start = time.monotonic()
        result = _run_job_process(_spec(tmp_path, "slowpoke", "hang"),
                                  Budget(library_s=1, notebooks_s=1, overhead_s=1), server)
        took = time.monotonic() - start
    assert result["launch"] == job_runner.LAUNCH_FORK
    assert "budget" in result["error"] and result["notebooks_ok"] is False
    assert took < 20
    grandchild = int(next((tmp_path / "run").glob("grandchild-*")).read_text())
    assert _wait_gone([result["pid"], grandchild])


def test_a_dead_or_unclean_server_means_the_job_runs_as_python_I(tmp_path, fake, monkeypatch):
    monkeypatch.setattr(job_runner, "_BOOT", _python_boot(fake))
    budget = Budget(library_s=30, notebooks_s=30, overhead_s=30)
    with _server(tmp_path, fake) as server:
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        result = _run_job_process(_spec(tmp_path, "a", "done"), budget, server)
    assert result["stage"] == "done" and not result["error"]
    assert result["launch"] == job_runner.LAUNCH_PYTHON and result["launch_fallback"]
    # A server that starts a thread before forking is refused before any job.
    with _server(tmp_path, fake, preload=("threaded",)) as server:
        with pytest.raises(ServerUnavailable, match="not usable"):
            _start(server, ["report", str(tmp_path / "x.json")], tmp_path, "x")
        result = _run_job_process(_spec(tmp_path, "b", "done"), budget, server)
    assert not (tmp_path / "x.json").exists()
    assert result["stage"] == "done" and result["launch"] == job_runner.LAUNCH_PYTHON


def test_a_job_the_server_dies_under_is_graded_again_from_the_start(tmp_path, fake,
                                                                     monkeypatch):
    monkeypatch.setattr(job_runner, "_BOOT", _python_boot(fake))
    monkeypatch.setenv("FAKE_SLOW_S", "1")
    run = tmp_path / "run"
    with _server(tmp_path, fake) as server:
        killed: list[int] = []

        def kill_server_once_the_job_runs() -> None:
            end = time.monotonic() + 30
            while time.monotonic() < end and not list(run.glob("started-*")):
                time.sleep(0.02)
            killed.append(int(next(run.glob("started-*")).name.split("-")[1]))
            os.kill(server.proc.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_server_once_the_job_runs)
        killer.start()
        result = _run_job_process(_spec(tmp_path, "c", "slow"),
                                  Budget(library_s=30, notebooks_s=30, overhead_s=30), server)
        killer.join()
    assert killed and _wait_gone(killed)  # the forked attempt died with its server
    assert result["stage"] == "done" and result["notebooks_ok"] and not result["error"]
    assert result["launch"] == job_runner.LAUNCH_PYTHON
    assert "died during the job" in result["launch_fallback"]
    assert result["pid"] != killed[0]


COORDINATOR = '''
import json, os, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from grader.course.job_server import JobServer
server = JobServer(Path({tmp!r}), dict(os.environ), entry="fakejob:main", preload=(),
                   path=({fake!r},))
with open({log!r}, "wb") as log:
    job = server.start_job(["sleep", {out!r}], log, {tmp!r}, dict(os.environ))
print(json.dumps({{"server": server.proc.pid, "job": job.pid}}), flush=True)
time.sleep(120)
'''


def test_a_sigkilled_coordinator_leaves_no_server_and_no_job(tmp_path, fake):
    script = COORDINATOR.format(root=str(ROOT), tmp=str(tmp_path), fake=str(fake),
                                log=str(tmp_path / "job.log"), out=str(tmp_path / "r.json"))
    coordinator = subprocess.Popen([sys.executable, "-I", "-c", script], stdout=subprocess.PIPE,
                                   text=True)
    try:
        pids = json.loads(coordinator.stdout.readline())
        assert not _gone(pids["server"]) and not _gone(pids["job"])
    finally:
        coordinator.kill()
        coordinator.wait()
    assert _wait_gone([pids["server"], pids["job"]])


def test_the_real_server_imports_the_job_once_and_stays_clean(tmp_path):
    """The grading job's own modules, one thread, nothing open; a job that fails (here: no
    spec file) reports its exit code and traceback as a ``python -I`` job would."""
    with JobServer(tmp_path, job_runner.job_env(), ready_timeout_s=120) as server:
        job = _start(server, [str(tmp_path / "missing.job.json")], tmp_path, "real",
                     env=job_runner.job_env())
        assert job.wait(60) == 1
        info = server.info
    assert info["ready"] and info["threads"] == 1 and info["modules"] > 1000, info
    assert "FileNotFoundError" in (tmp_path / "real.log").read_text()


def test_bad_entry_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="dotted name"):
        JobServer(tmp_path, {}, entry=":main")
    with pytest.raises(ValueError, match="dotted name"):
        JobServer(tmp_path, {}, preload=("a,b",))
