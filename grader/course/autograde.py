"""Autograde a class: nbgrader for the notebooks, the secure checker for the library.

The coordinator (this module) never runs student code and never works in a folder a
student's code has touched. For each student it starts a grading job
(:mod:`grader.course.grade_job`) as a separate ``python -I`` process in a private scratch
course, ``jobs`` at a time, and kills a job whose wall-clock budget runs out. It alone writes
the course's SQLite gradebook (nbgrader cannot grade in parallel: its issue #174), merging
each job as it ends (:mod:`grader.course.merge`). One student's failure — a job that
crashed, overran or left something unreadable — is recorded for that student, with the
reason, and the run goes on.

Without a working bubblewrap grading stops before it starts (``--allow-unsandboxed`` grades
anyway, loudly); a sandbox that breaks mid-run stops the students not yet started.
Re-running regrades and replaces, so an interrupted run followed by a new one leaves a
complete, consistent gradebook.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from grader.checks.registry import get as get_check
from grader.checks.registry import names as check_names
from grader.checks.report import FunctionResult, LibraryReport
from grader.course.grade_job import JobSpec, spec_json
from grader.course.merge import (
    ScratchGrades,
    StudentResult,
    apply_grades,
    copy_graded_notebooks,
    read_scratch_grades,
    save_report,
)
from grader.course.paths import ASSIGNMENT, CoursePaths, open_course

ROOT = Path(__file__).resolve().parents[2]
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from grader.course.grade_job import main; raise SystemExit(main(sys.argv[2:]))")


class SandboxRequired(RuntimeError):
    """bubblewrap is missing or broken and the instructor did not allow grading without it.

    ``results`` holds the students graded before the sandbox broke (they are in the
    gradebook) and the others, marked as not graded.
    """

    def __init__(self, message: str, results: list[StudentResult] | None = None) -> None:
        super().__init__(message)
        self.results = results or []


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


def _snapshot_gradebook(paths: CoursePaths, dst: Path) -> None:
    """A consistent copy of the gradebook (sqlite backup, never a raw file copy)."""
    with sqlite3.connect(paths.gradebook) as src, sqlite3.connect(dst) as out:
        src.backup(out)


def students_to_grade(paths: CoursePaths, only: list[str] | None = None) -> list[str]:
    found = sorted(p.name for p in paths.submitted.glob("*")
                   if not p.is_symlink() and (p / ASSIGNMENT).is_dir()
                   and not (p / ASSIGNMENT).is_symlink())
    if only:
        missing = sorted(set(only) - set(found))
        if missing:
            raise ValueError(f"no submission in {paths.submitted} for {missing}")
        return [s for s in found if s in only]
    return found


def check_sandbox(allow_unsandboxed: bool) -> str:
    """The sandbox's status line; raises :class:`SandboxRequired` when it does not work."""
    from grader.sandbox.profile import UNAVAILABLE_LINE, find_bwrap, probe_bwrap

    works, why = probe_bwrap(find_bwrap())
    if works:
        return why
    if not allow_unsandboxed:
        raise SandboxRequired(
            f"refusing to grade untrusted code without the sandbox: {why}. Install "
            "bubblewrap (apt-get install bubblewrap), or pass --allow-unsandboxed to grade "
            "with rlimits only (student code could then read this machine's files)")
    return f"{UNAVAILABLE_LINE} ({why}): --allow-unsandboxed was given"


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
            [sys.executable, "-I", "-c", _BOOT, str(ROOT), str(spec_path)],
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


def merge_job(paths: CoursePaths, job: dict) -> StudentResult:
    """Write one job's results into the course (gradebook, autograded/, report)."""
    student = job["student"]
    scratch = CoursePaths(Path(job["scratch"]))
    problems = [p for p in [job.get("error", "")] if p]
    library = None
    if job.get("library") is not None:
        library = LibraryReport.from_dict(job["library"])
    else:
        library = LibraryReport(sandbox="not graded", sandboxed=False,
                                error=job.get("error") or "the library was not graded")
        problems.append("library not graded: every library function scores 0")
    for name in check_names():  # a function the job never reached scores 0, visibly
        if name not in library.functions:
            library.functions[name] = FunctionResult(name, 0.0, float(get_check(name).points))
    grades = read_scratch_grades(scratch.gradebook, student) if (
        job.get("stage") == "done") else ScratchGrades()
    allowed = paths.assignment_files() | {"timestamp.txt"} | {
        p.relative_to(paths.source).as_posix() for p in paths.source.rglob("*")
        if p.is_file() and p.suffix != ".ipynb"}
    dropped = copy_graded_notebooks(paths, scratch, student, allowed)
    save_report(paths, student, library)
    logs = paths.private / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{student}.log").write_text(str(job.get("log", "")) + "\n" + str(job.get("error", "")))
    result = apply_grades(paths, student, grades, library, grades.timestamp)
    result.notebooks_ok = bool(job.get("notebooks_ok")) and grades.graded
    result.notebook_log = str(job.get("log", ""))
    if job.get("dropped"):
        problems.append("dropped from the submission: " + "; ".join(job["dropped"]))
    if dropped:
        problems.append("dropped from the graded notebooks: " + "; ".join(dropped))
    result.problems = problems
    return result


def _failed(student: str, why: str) -> StudentResult:
    return StudentResult(student, False, problems=[why])


def autograde(
    course_dir: Path | str,
    students: list[str] | None = None,
    jobs: int = 1,
    allow_unsandboxed: bool = False,
    progress: bool = True,
    budget: Budget = Budget(),
    fast: bool = True,
) -> list[StudentResult]:
    """Grade ``students`` (default: everyone in submitted/), ``jobs`` at a time.

    ``fast`` skips the notebooks' ``demo-only`` cells (:mod:`grader.course.fast_autograde`);
    grades are the same either way.

    Raises:
        ValueError: ``jobs`` < 1, no course directory, or an unknown student.
        SandboxRequired: no working sandbox and not ``allow_unsandboxed``, before anything
            is graded; or the sandbox broke mid-run (students already merged stay graded).
    """
    from tqdm.auto import tqdm

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    paths = open_course(course_dir)
    if not paths.gradebook.exists():
        raise ValueError(f"{paths.root} is not a released course (run `release` first)")
    todo = students_to_grade(paths, students)
    status = check_sandbox(allow_unsandboxed)
    if not status.startswith("bubblewrap") and progress:
        print(f"WARNING {status}", flush=True)
    results: list[StudentResult] = []
    paths.private.mkdir(exist_ok=True)
    scratch_root = paths.private / "scratch"
    scratch_root.mkdir(exist_ok=True, mode=0o700)
    broken = ""
    with tempfile.TemporaryDirectory(dir=scratch_root, prefix="run-") as tmp:
        template = Path(tmp) / "template.db"
        _snapshot_gradebook(paths, template)
        bar = tqdm(total=len(todo), desc="autograde", unit="student", disable=not progress)

        def spec_for(student: str) -> JobSpec:
            return JobSpec(str(paths.root), student, str(template), str(Path(tmp) / student),
                           str(Path(tmp) / f"{student}.result.json"), allow_unsandboxed,
                           budget.library_s, fast=fast)

        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            pending: dict[Future, str] = {}
            queue = list(todo)
            while queue or pending:
                while queue and len(pending) < jobs and not broken:
                    student = queue.pop(0)
                    pending[pool.submit(_run_job_process, spec_for(student), budget)] = student
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    student = pending.pop(future)
                    try:
                        job = future.result()
                        result = merge_job(paths, job)
                        sandbox_broke = (not allow_unsandboxed) and (
                            "sandbox broke" in job.get("error", "")
                            or (result.library is not None and not result.library.sandboxed
                                and job.get("library") is not None))
                        if sandbox_broke:
                            broken = f"the sandbox stopped working while grading {student}"
                    except Exception as exc:  # noqa: BLE001 - one student never stops the class
                        result = _failed(student, f"could not be merged: "
                                                  f"{type(exc).__name__}: {exc}")
                    results.append(result)
                    bar.update()
            for student in queue:
                results.append(_failed(student, f"not graded: {broken}"))
        finally:
            with _RUNNING_LOCK:
                running = list(_RUNNING)
            for proc in running:  # interrupted (Ctrl-C, an error): no job outlives us
                _kill_group(proc)
            pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    results.sort(key=lambda r: r.student)
    if broken:
        raise SandboxRequired(f"{broken}; {len(queue)} students not graded (rerun after "
                              "fixing bubblewrap: graded students keep their grades)", results)
    return results
