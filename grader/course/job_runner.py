"""One grading job as a process: start it, watch its budget, stop it, read its result.

Used by the coordinator (:mod:`grader.course.autograde`, ``--jobs``) and by Dask workers
(:mod:`grader.course.dask_grading`, ``--scheduler``) alike: a submission is graded the same
way wherever it runs. The job itself is :mod:`grader.course.grade_job`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from grader.course.grade_job import JobSpec, spec_json

ROOT = Path(__file__).resolve().parents[2]
#: The job's first lines: die with the thread that started it (Linux ``PR_SET_PDEATHSIG``),
#: so a coordinator or Dask worker killed mid-run leaves no grading job behind; and stop at
#: once if that parent is already gone (argv: repository, parent pid, spec).
_BOOT = ("import ctypes, os, sys\n"
         "try:\n    ctypes.CDLL(None, use_errno=True).prctl(1, 9)\n"
         "except (OSError, AttributeError):\n    pass\n"
         "if os.getppid() != int(sys.argv[2]):\n    os._exit(3)\n"
         "sys.path.insert(0, sys.argv[1])\n"
         "from grader.course.grade_job import main\nraise SystemExit(main(sys.argv[3:]))")



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
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def _kill_group(proc: subprocess.Popen) -> None:
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


def _watch(proc: subprocess.Popen, result_path: Path, budget: Budget) -> str:
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


def _run_job_process(spec: JobSpec, budget: Budget) -> dict:
    """Start one job, wait for it within the budget, return its (possibly partial) result."""
    scratch = Path(spec.scratch)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    spec_path = scratch.with_suffix(".job.json")
    spec.kernel_root = tempfile.mkdtemp(prefix="cs231n-k-")  # short: Unix socket paths
    spec_path.write_text(spec_json(spec))
    log_path = scratch.with_suffix(".log")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    problem = ""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, str(ROOT), str(os.getpid()), str(spec_path)],
            cwd=scratch.parent, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True)
        with _RUNNING_LOCK:
            _RUNNING.add(proc)
        try:
            problem = _watch(proc, Path(spec.result), budget)
        finally:
            _kill_group(proc)
            with _RUNNING_LOCK:
                _RUNNING.discard(proc)
            kill_kernels(spec.kernel_root)
            shutil.rmtree(spec.kernel_root, ignore_errors=True)
    try:
        result = json.loads(Path(spec.result).read_text())
    except (OSError, ValueError):
        result = {"student": spec.student, "scratch": spec.scratch, "stage": "prepare",
                  "notebooks_ok": False, "library": None, "log": "", "dropped": [],
                  "kernel_sandboxed": False, "error": ""}
    if proc.returncode and not problem:
        tail = log_path.read_text(errors="replace")[-1500:] if log_path.exists() else ""
        problem = f"the grading job failed (exit {proc.returncode}) at stage " \
                  f"{result.get('stage')}: {tail.strip().splitlines()[-1:] or ''}"
    if problem:
        result["error"] = "; ".join(x for x in (result.get("error"), problem) if x)
        if result.get("stage") != "done":
            result["notebooks_ok"] = False
    return result
