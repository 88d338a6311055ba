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

import contextlib
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from grader.checks.registry import get as get_check
from grader.checks.registry import names as check_names
from grader.checks.report import FunctionResult, LibraryReport
from grader.course.grade_job import JobSpec
from grader.course.job_runner import (
    _RUNNING,
    _RUNNING_LOCK,
    Budget,
    _kill_group,
    _run_job_process,
    local_job_server,
)
from grader.course.merge import (
    ScratchGrades,
    StudentResult,
    apply_grades,
    copy_graded_notebooks,
    read_scratch_grades,
    save_exercises,
    save_report,
)
from grader.course.paths import ASSIGNMENT, EXCHANGE_FILES, CoursePaths, open_course


class SandboxRequired(RuntimeError):
    """bubblewrap is missing or broken and the instructor did not allow grading without it.

    ``results`` holds the students graded before the sandbox broke (they are in the
    gradebook) and the others, marked as not graded.
    """

    def __init__(self, message: str, results: list[StudentResult] | None = None) -> None:
        super().__init__(message)
        self.results = results or []


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
    allowed = paths.assignment_files() | EXCHANGE_FILES | {
        p.relative_to(paths.source).as_posix() for p in paths.source.rglob("*")
        if p.is_file() and p.suffix != ".ipynb"}
    dropped = copy_graded_notebooks(paths, scratch, student, allowed)
    save_report(paths, student, library)
    logs = paths.private / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{student}.log").write_text(str(job.get("log", "")) + "\n" + str(job.get("error", "")))
    exercises = None
    if job.get("stage") == "done" and isinstance(job.get("exercises"), dict):
        exercises = {str(gid): r for gid, r in job["exercises"].items() if isinstance(r, dict)}
        save_exercises(paths, student, job["exercises"])
    result = apply_grades(paths, student, grades, library, grades.timestamp, exercises)
    result.notebooks_ok = bool(job.get("notebooks_ok")) and grades.graded
    result.notebook_log = str(job.get("log", ""))
    if job.get("dropped"):
        problems.append("dropped from the submission: " + "; ".join(job["dropped"]))
    if dropped:
        problems.append("dropped from the graded notebooks: " + "; ".join(dropped))
    result.problems = problems + result.problems  # apply_grades: e.g. a refused timestamp
    return result


def _sandbox_broke(job: dict, allow_unsandboxed: bool) -> bool:
    """The job says the sandbox failed under it (or its library ran without one)."""
    if allow_unsandboxed:
        return False
    library = job.get("library")
    return "sandbox broke" in str(job.get("error") or "") or (
        isinstance(library, dict) and library.get("sandboxed") is False)


def _failed(student: str, why: str) -> StudentResult:
    return StudentResult(student, False, problems=[why])


def _local_results(specs: dict[str, JobSpec], jobs: int, budget: Budget,
                   stop: threading.Event) -> Iterator[tuple[str, dict | BaseException]]:
    """Grade ``specs`` here, ``jobs`` at a time; yield ``(student, job result or error)`` as
    they finish. Once ``stop`` is set no new job starts (the running ones finish). The jobs
    are forked by one job server of this run when it works (:func:`local_job_server`)."""
    workdir = Path(next(iter(specs.values())).scratch).parent if specs else None
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(local_job_server(workdir, budget)) if workdir else None
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            pending: dict[Future, str] = {}
            queue = list(specs)
            while queue or pending:
                while queue and len(pending) < jobs and not stop.is_set():
                    student = queue.pop(0)
                    pending[pool.submit(_run_job_process, specs[student], budget,
                                        server)] = student
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    student = pending.pop(future)
                    try:
                        yield student, future.result()
                    except Exception as exc:  # noqa: BLE001 - one student never stops the class
                        yield student, exc
        finally:
            with _RUNNING_LOCK:
                running = list(_RUNNING)
            for proc in running:  # interrupted (Ctrl-C, an error): no job outlives us
                _kill_group(proc)
            pool.shutdown(wait=True, cancel_futures=True)


def autograde(
    course_dir: Path | str,
    students: list[str] | None = None,
    jobs: int = 1,
    allow_unsandboxed: bool = False,
    progress: bool = True,
    budget: Budget | None = None,
    fast: bool = True,
    scheduler: str | None = None,
    resume: bool = False,
) -> list[StudentResult]:
    """Grade ``students`` (default: everyone in submitted/), ``jobs`` at a time.

    ``fast`` skips the notebooks' ``demo-only`` cells (:mod:`grader.course.fast_autograde`);
    grades are the same either way. ``scheduler`` (``"local:N"`` or ``"tcp://HOST:PORT"``)
    grades on Dask workers instead of ``jobs`` local processes
    (:mod:`grader.course.dask_grading`). ``resume`` skips the students a previous run already
    merged with the same submission, course and grader (:mod:`grader.course.journal`).

    Raises:
        ValueError: ``jobs`` < 1, a malformed ``scheduler``, no course directory, or an
            unknown student.
        SandboxRequired: no working sandbox and not ``allow_unsandboxed``, before anything
            is graded; or the sandbox broke mid-run (students already merged stay graded).
    """
    from tqdm.auto import tqdm

    from grader.course import journal

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    if scheduler is not None:
        from grader.course.dask_grading import parse_scheduler

        parse_scheduler(scheduler)
    budget = Budget() if budget is None else budget
    paths = open_course(course_dir)
    if not paths.gradebook.exists():
        raise ValueError(f"{paths.root} is not a released course (run `release` first)")
    todo = students_to_grade(paths, students)
    status = check_sandbox(allow_unsandboxed)
    if not status.startswith("bubblewrap") and progress:
        print(f"WARNING {status}", flush=True)
    course_print = journal.course_fingerprint(paths, {"fast": fast,
                                                      "allow_unsandboxed": allow_unsandboxed})
    prints = {s: journal.fingerprint(paths, s, course_print) for s in todo}
    results: list[StudentResult] = []
    if resume:
        for student in list(todo):
            earlier = journal.recorded(paths, student, prints[student])
            if earlier is not None:
                results.append(earlier)
                todo.remove(student)
    paths.private.mkdir(exist_ok=True)
    scratch_root = paths.private / "scratch"
    scratch_root.mkdir(exist_ok=True, mode=0o700)
    broken = ""
    stop = threading.Event()
    seen: set[str] = set()
    with tempfile.TemporaryDirectory(dir=scratch_root, prefix="run-") as tmp:
        template = Path(tmp) / "template.db"
        _snapshot_gradebook(paths, template)
        bar = tqdm(total=len(todo), desc="autograde", unit="student", disable=not progress)
        specs = {student: JobSpec(str(paths.root), student, str(template),
                                  str(Path(tmp) / student),
                                  str(Path(tmp) / f"{student}.result.json"), allow_unsandboxed,
                                  budget.library_s, fast=fast) for student in todo}
        if scheduler is None:
            stream = _local_results(specs, jobs, budget, stop)
        else:
            from grader.course.dask_grading import dask_results

            stream = dask_results(scheduler, specs, budget, stop)
        with contextlib.closing(stream):
            for student, job in stream:
                if student in seen:  # never merge a student twice
                    continue
                seen.add(student)
                try:
                    if isinstance(job, BaseException):
                        raise job
                    if _sandbox_broke(job, allow_unsandboxed):
                        # Not the student's doing: nothing of this job is merged, so the
                        # gradebook keeps what the student had; the run stops.
                        broken = f"the sandbox stopped working while grading {student}"
                        stop.set()
                        result = _failed(student, "not graded, grades unchanged: " + (
                            str(job.get("error") or "") or "the library ran unsandboxed"))
                    else:
                        result = merge_job(paths, job)
                        if not job.get("error"):  # a job that failed is tried again
                            journal.record(paths, result, prints[student])
                except Exception as exc:  # noqa: BLE001 - one student never stops the class
                    result = _failed(student, f"could not be merged: "
                                              f"{type(exc).__name__}: {exc}")
                results.append(result)
                bar.update()
        queue = [s for s in todo if s not in seen]
        for student in queue:
            results.append(_failed(student, f"not graded: {broken or 'the run stopped'}"))
        bar.close()
    results.sort(key=lambda r: r.student)
    if broken:
        missed = len(queue) + 1  # the student it broke under is not graded either
        raise SandboxRequired(f"{broken}; {missed} student{'s' * (missed != 1)} not graded "
                              "(rerun after fixing bubblewrap: graded students keep their "
                              "grades)", results)
    return results
