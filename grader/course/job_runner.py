"""One grading job as a process: start it, watch its budget, stop it, read its result.

Used by the coordinator (:mod:`grader.course.autograde`, ``--jobs``) and by Dask workers
(:mod:`grader.course.dask_grading`, ``--scheduler``) alike: a submission is graded the same
way wherever it runs. The job itself is :mod:`grader.course.grade_job`.

How a job starts. Under ``--jobs N`` the coordinator starts one job fork server for the run
(:func:`local_job_server`, :mod:`grader.course.job_server`): a trusted ``python -I`` process
that has imported nbgrader, nbconvert, jupyter_client, SQLAlchemy, NumPy and the grader once
and forks a fresh child per job, so a job no longer pays those seconds. The child is in the
same situation as a job started as ``python -I -c _BOOT`` (the other way, still used on Dask
workers and whenever the server is not there): a session of its own (killed by process
group, its kernels by their private folder, :func:`kill_kernels`), a death signal chain back
to the coordinator, the same argv, environment, working directory, log file, exit code and
time budget (counted from the fork). If the server is broken, dies, or does not answer, the
job is graded the ``python -I`` way instead, and a job the server took down with it is
graded again that way from the start; both are logged (``grader.course.job_runner``) and
named in the result's ``launch`` field, never charged to the student.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from grader.course.grade_job import JobSpec, spec_json
from grader.course.job_server import DIE_WITH_PARENT, ROOT, ForkedJob, JobServer, ServerUnavailable

_LOG = logging.getLogger(__name__)
#: The ``python -I`` job: die with the thread that started it (Linux ``PR_SET_PDEATHSIG``),
#: so a coordinator or Dask worker killed mid-run leaves no grading job behind; and stop at
#: once if that parent is already gone (argv: repository, parent pid, spec).
_BOOT = DIE_WITH_PARENT + (
    "from grader.course.grade_job import main\nraise SystemExit(main(sys.argv[3:]))")
#: ``False``: no job fork server, every job is a fresh ``python -I`` (the fallback path).
FORK_SERVER = True
#: ``launch`` values of a job's result.
LAUNCH_FORK, LAUNCH_PYTHON = "fork server", "python -I"


@dataclass(frozen=True)
class Budget:
    """Wall-clock seconds one submission may take: library checks, then notebooks."""

    library_s: float = 180.0
    notebooks_s: float = 900.0
    #: Start-up of the job process, the scratch course, the first imports.
    overhead_s: float = 60.0

    @property
    def total_s(self) -> float:
        return self.library_s + self.notebooks_s + self.overhead_s



#: Job processes still running (killed when the coordinator stops, however it stops: they run
#: in sessions of their own, so a Ctrl-C in the terminal does not reach them).
_RUNNING: set[subprocess.Popen | ForkedJob] = set()
_RUNNING_LOCK = threading.Lock()


def _kill_group(proc: subprocess.Popen | ForkedJob) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def kill_kernels(kernel_root: str) -> int:
    """Kill the job's notebook kernels that outlived it; return how many.

    jupyter_client starts each kernel in a session of its own, so killing the job's process
    group does not reach them. Each kernel's command line names its private directory under
    ``kernel_root`` (a fresh ``mkdtemp`` of this job), so only this job's kernels match.
    """
    if not kernel_root or len(kernel_root) < 8:
        return 0
    needle = os.fsencode(kernel_root.rstrip("/") + "/")
    killed = 0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError):
            continue
    return killed


def _stage(result_path: Path) -> str:
    try:
        return str(json.loads(result_path.read_text()).get("stage", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _watch(proc: subprocess.Popen | ForkedJob, result_path: Path, budget: Budget) -> str:
    """Wait for the job; stop it when a stage overruns its budget. Returns the reason."""
    start = time.monotonic()
    stage, stage_start = "prepare", start
    limits = {"prepare": budget.overhead_s, "library": budget.library_s + budget.overhead_s,
              "notebooks": budget.notebooks_s}
    while True:
        try:
            proc.wait(timeout=0.5)
            return ""
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        current = _stage(result_path) or stage
        if current != stage:
            stage, stage_start = current, now
        if now - stage_start > limits.get(stage, budget.overhead_s):
            what = {"notebooks": f"the notebooks ran past their budget of "
                                 f"{budget.notebooks_s:g} s",
                    "library": f"the library checks ran past their budget of "
                               f"{budget.library_s:g} s"}.get(stage, "grading did not start")
            return f"{what}: grading of this submission stopped"
        if now - start > budget.total_s:
            return f"over the time budget of {budget.total_s:g} s per submission"


def job_env() -> dict[str, str]:
    """The environment of a grading job (both launches): the caller's, without
    ``PYTHONPATH`` (the job is isolated), without writing bytecode."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    return env


@contextlib.contextmanager
def local_job_server(workdir: Path, budget: Budget) -> Iterator[JobServer | None]:
    """A job fork server for the jobs of one run in ``workdir`` (a trusted folder), or
    ``None`` when :data:`FORK_SERVER` is off or the server cannot be started (logged: the
    jobs then start as ``python -I``). Enter it in the thread that iterates the jobs: the
    server dies with that thread."""
    if not FORK_SERVER:
        yield None
        return
    try:
        server = JobServer(workdir, job_env(), ready_timeout_s=budget.overhead_s)
    except (OSError, subprocess.SubprocessError) as exc:
        _LOG.warning("the job fork server did not start (%s): every job starts as python -I",
                     exc)
        yield None
        return
    try:
        yield server
    finally:
        server.close()


def _job_problem(proc: subprocess.Popen | ForkedJob, result: dict, log_path: Path) -> str:
    if not proc.returncode:
        return ""
    tail = log_path.read_text(errors="replace")[-1500:] if log_path.exists() else ""
    return f"the grading job failed (exit {proc.returncode}) at stage " \
           f"{result.get('stage')}: {tail.strip().splitlines()[-1:] or ''}"


def _run_once(spec: JobSpec, budget: Budget,
              launch: Callable[[Path, object, dict], subprocess.Popen | ForkedJob]) -> dict:
    """Start one job with ``launch(spec_path, log_file, env)``, wait for it within the
    budget, return its (possibly partial) result.

    Raises:
        ServerUnavailable: the fork server could not start the job, or died under it before
            the job was stopped for its budget (the job is gone: the caller grades again).
    """
    scratch = Path(spec.scratch)
    spec_path = scratch.with_suffix(".job.json")
    spec.kernel_root = tempfile.mkdtemp(prefix="cs231n-k-")  # short: Unix socket paths
    spec_path.write_text(spec_json(spec))
    Path(spec.result).unlink(missing_ok=True)  # an earlier attempt's stage must not count
    log_path = scratch.with_suffix(".log")
    problem = ""
    proc = None
    try:
        with open(log_path, "wb") as log:
            proc = launch(spec_path, log, job_env())
            with _RUNNING_LOCK:
                _RUNNING.add(proc)
            try:
                problem = _watch(proc, Path(spec.result), budget)
            finally:
                _kill_group(proc)
                with _RUNNING_LOCK:
                    _RUNNING.discard(proc)
    finally:
        if isinstance(proc, ForkedJob) and proc.lost:  # its group may hold what it started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        kill_kernels(spec.kernel_root)
        shutil.rmtree(spec.kernel_root, ignore_errors=True)
    if isinstance(proc, ForkedJob) and proc.lost and not problem:
        raise ServerUnavailable(f"the job fork server died during the job (pid {proc.pid})")
    try:
        result = json.loads(Path(spec.result).read_text())
    except (OSError, ValueError):
        result = {"student": spec.student, "scratch": spec.scratch, "stage": "prepare",
                  "notebooks_ok": False, "library": None, "log": "", "dropped": [],
                  "kernel_sandboxed": False, "error": ""}
    problem = problem or _job_problem(proc, result, log_path)
    if problem:
        result["error"] = "; ".join(x for x in (result.get("error"), problem) if x)
        if result.get("stage") != "done":
            result["notebooks_ok"] = False
    return result


def _run_job_process(spec: JobSpec, budget: Budget, server: JobServer | None = None) -> dict:
    """Grade one submission in a job of its own: forked by ``server`` when there is one
    that works, else (or when it fails) a fresh ``python -I`` process. The result's
    ``launch`` says which; a fallback also logs why."""
    scratch = Path(spec.scratch)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    fallback = ""
    if server is not None:
        def fork(spec_path: Path, log, env: dict) -> ForkedJob:
            return server.start_job([str(spec_path)], log, scratch.parent, env)
        try:
            return _run_once(spec, budget, fork) | {"launch": LAUNCH_FORK}
        except ServerUnavailable as exc:
            fallback = str(exc)
            _LOG.warning("grading %s as python -I: %s", spec.student, fallback)

    def popen(spec_path: Path, log, env: dict) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, str(ROOT), str(os.getpid()), str(spec_path)],
            cwd=scratch.parent, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True)

    result = _run_once(spec, budget, popen) | {"launch": LAUNCH_PYTHON}
    if fallback:
        result["launch_fallback"] = fallback
    return result
