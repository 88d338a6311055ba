"""One student's grading, in a process of its own (``python -I``, a trusted working directory).

The coordinator (:mod:`grader.course.autograde`) starts one such process per submission and
kills it when the submission's wall-clock budget runs out, so no submission can hold the
class up. The job works only in a private scratch course:

1. the submission is copied in through the allow-list of the assignment's files
   (:func:`grader.sandbox.files.copy_allowed`: regular files only, no link, no FIFO);
2. the secure checker grades its ``cs231n_lib`` (sandboxed workers, comparison here) in a
   thread of its own, and its result is written the moment it is known, so that a notebook
   run that overruns costs only the notebooks;
3. meanwhile, in the main thread, nbgrader autogrades the notebooks against a snapshot of the
   gradebook, every kernel in its own sandbox (:mod:`grader.sandbox.kernel`), and the exercise
   cells' values are probed and judged here (:mod:`grader.course.exercise_probes`), not in the
   kernel.

The two share nothing but the scratch course's read-only submission copy: the library checks
compose their own libraries from it and the kernels get copies of their own. Running them side
by side puts a 2-core machine's second core to work while a kernel starts or a worker forks.
The result's ``stage`` reads ``library`` as long as the library checks run (so the
coordinator's budget for them applies, and a notebook budget never cuts them short), then
``notebooks`` while only the notebooks are left, then ``done``.

The job's result is a JSON file; the coordinator alone writes the course's gradebook.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from grader.course.paths import ASSIGNMENT, EXCHANGE_FILES, JOB_ENV, CoursePaths, nbgrader_api

#: Caps on what is taken of a submission.
MAX_FILE_BYTES = 20 << 20
MAX_TOTAL_BYTES = 100 << 20


@dataclass
class JobSpec:
    """Everything a job needs, as plain data (written to JSON by the coordinator)."""

    course_root: str
    student: str
    template_db: str
    scratch: str
    result: str
    allow_unsandboxed: bool = False
    library_budget_s: float = 180.0
    #: Short private directory for the kernels' sockets (a Unix socket path holds <= 107
    #: bytes, so it cannot live in a deep course folder). Made and removed by the coordinator.
    kernel_root: str = ""
    #: Skip the instructor's ``demo-only`` cells (:mod:`grader.course.fast_autograde`).
    fast: bool = True


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def prepare_scratch(paths: CoursePaths, spec: JobSpec) -> tuple[CoursePaths, list[str]]:
    """A private course: config, source, the gradebook snapshot and the allow-listed
    submission. Returns the scratch paths and what was dropped from the submission."""
    from grader.sandbox.files import copy_allowed

    scratch = CoursePaths(Path(spec.scratch))
    if scratch.root.exists():
        shutil.rmtree(scratch.root)
    scratch.root.mkdir(parents=True, mode=0o700)
    for config in paths.config_files():
        shutil.copy2(config, scratch.root / config.name)
    shutil.copytree(paths.source, scratch.source, symlinks=True)  # the instructor's own tree
    allowed = paths.assignment_files() | EXCHANGE_FILES
    report = copy_allowed(paths.submitted / spec.student / ASSIGNMENT,
                          scratch.submitted / spec.student / ASSIGNMENT,
                          lambda rel: rel.as_posix() in allowed,
                          max_file=MAX_FILE_BYTES, max_total=MAX_TOTAL_BYTES)
    shutil.copy2(spec.template_db, scratch.gradebook)
    shipped = paths.shipped_files()  # the release's own files come back with the exchange
    report.dropped = [(rel, why) for rel, why in report.dropped if rel not in shipped]
    return scratch, report.dropped_lines()


def _sandboxed_kernel(scratch: CoursePaths, kernel_root: str) -> None:
    """Point the scratch course's autograde at the bubblewrap kernel."""
    from grader.sandbox.kernel import grading_config_lines, write_kernelspec

    kernels = Path(kernel_root) if kernel_root else scratch.root / "kernels"
    write_kernelspec(scratch.root / "jupyter", kernels)
    with open(scratch.config, "a") as fh:
        fh.write(grading_config_lines(kernels))
    os.environ["JUPYTER_PATH"] = str(scratch.root / "jupyter")


def _exercise_probes(scratch: CoursePaths) -> Path:
    """Have the scratch autograde probe the exercises; return where the values land."""
    from grader.course.exercise_probes import autograde_preprocessor_lines

    out = scratch.private / "probes"
    with open(scratch.config, "a") as fh:
        fh.write(autograde_preprocessor_lines(out))
    return out


class _Result:
    """The job's result dict, rewritten atomically after each change (two threads write it).

    ``stage`` moves from ``library`` to ``notebooks`` only once the library checks are done
    *and* the notebooks have started (both decided under one lock, so the coordinator never
    applies the notebooks' budget to library checks still running, nor the reverse).
    """

    def __init__(self, path: Path, data: dict) -> None:
        self.path, self.data = path, data
        self._lock = threading.Lock()
        self._library_done = False
        self._notebooks_started = False

    def update(self, **changes: object) -> None:
        with self._lock:
            self.data.update(changes)
            write_json_atomic(self.path, self.data)

    def library_done(self, **changes: object) -> None:
        with self._lock:
            self._library_done = True
            self.data.update(changes)
            if self._notebooks_started and self.data["stage"] == "library":
                self.data["stage"] = "notebooks"
            write_json_atomic(self.path, self.data)

    def notebooks_started(self) -> None:
        with self._lock:
            self._notebooks_started = True
            if self._library_done and self.data["stage"] == "library":
                self.data["stage"] = "notebooks"
                write_json_atomic(self.path, self.data)


def _library_stage(spec: JobSpec, paths: CoursePaths, submission: Path, out: _Result) -> None:
    """Grade the library and record it at once (a thread of the job).

    A sandbox that broke is recorded and ends the job on the spot: nothing of it will be
    merged, so the notebooks need not finish. A failure of the grader itself is recorded
    and ends the job with status 1, as an uncaught error did when the stages ran in turn.
    """
    from grader.course.release import student_edited_modules
    from grader.sandbox.library import grade_library
    from grader.sandbox.runner import SandboxUnavailable

    learner = {PurePosixPath(p).name for p in student_edited_modules()}
    start = time.monotonic()
    try:
        library = grade_library(submission, provided_lib=paths.release / "cs231n_lib",
                                learner_files=learner,
                                require_sandbox=not spec.allow_unsandboxed,
                                budget_s=spec.library_budget_s)
    except SandboxUnavailable as exc:
        out.update(error=f"the sandbox broke during grading: {exc}")
        _end_job(0)
    except BaseException as exc:  # noqa: BLE001 - never lost in a thread
        traceback.print_exc()
        out.update(error=f"the library checks failed: {type(exc).__name__}: {exc}")
        _end_job(1)
    else:
        out.library_done(library=json.loads(library.to_json()),
                         library_seconds=round(time.monotonic() - start, 3))


def _end_job(status: int) -> None:
    """Stop the whole job process now (its kernels are killed by the coordinator)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _configure_notebooks(spec: JobSpec, paths: CoursePaths, scratch: CoursePaths,
                         sandboxed: bool) -> Path:
    """The scratch course's autograde config: sandboxed kernels (and the next one started
    early), exercise probes, demo-only cells. Returns where the exercise probes land."""
    if sandboxed:
        _sandboxed_kernel(scratch, spec.kernel_root)
    probes = _exercise_probes(scratch)
    if spec.fast:
        from grader.course.fast_autograde import config_lines
        with open(scratch.config, "a") as fh:
            fh.write(config_lines(paths.source))
    if sandboxed:
        from grader.sandbox import prewarm
        with open(scratch.config, "a") as fh:
            fh.write(prewarm.config_lines([p.stem for p in paths.source.glob("*.ipynb")]))
    return probes


def run_job(spec: JobSpec) -> dict:
    """Grade one student; the result file is rewritten after each change."""
    from grader.sandbox.profile import sandbox_available

    paths = CoursePaths(Path(spec.course_root))
    out = _Result(Path(spec.result), {
        "student": spec.student, "scratch": spec.scratch, "stage": "prepare",
        "notebooks_ok": False, "log": "", "dropped": [], "library": None,
        "kernel_sandboxed": False, "error": ""})
    scratch, dropped = prepare_scratch(paths, spec)
    submission = scratch.submitted / spec.student / ASSIGNMENT
    sandboxed = sandbox_available()
    runs_notebooks = sandboxed or spec.allow_unsandboxed
    # The notebooks' configuration and environment are set before the library thread
    # starts: no thread changes os.environ while the other one starts processes.
    probes = _configure_notebooks(spec, paths, scratch, sandboxed) if runs_notebooks else None
    os.environ[JOB_ENV] = "1"
    out.update(stage="library", dropped=dropped, kernel_sandboxed=sandboxed)
    library = threading.Thread(target=_library_stage, name="library-checks",
                               args=(spec, paths, submission, out))
    library.start()
    try:
        if runs_notebooks:
            _notebook_stage(spec, scratch, out, sandboxed)
    finally:
        library.join()
    if not runs_notebooks:
        out.update(error="the sandbox broke during grading: notebooks not run")
        return out.data
    from grader.course.exercise_probes import judge_probes

    assert probes is not None
    out.update(exercises={gid: r.as_dict() for gid, r in judge_probes(probes).items()},
               stage="done")
    return out.data


def _notebook_stage(spec: JobSpec, scratch: CoursePaths, out: _Result, sandboxed: bool) -> None:
    """nbgrader's autograde of the scratch course, in the main thread (bubblewrap's
    ``--die-with-parent`` follows the thread that started a kernel)."""
    out.notebooks_started()
    start = time.monotonic()
    changes: dict = {}
    try:
        api = nbgrader_api(scratch)
        graded = api.autograde(ASSIGNMENT, spec.student, force=True, create=True)
        changes["notebooks_ok"] = bool(graded.get("success"))
        changes["log"] = str(graded.get("log", ""))[-4000:]
    except Exception as exc:  # nbgrader failing must not lose the library grade
        changes["log"] = f"{type(exc).__name__}: {exc}"
    finally:
        if sandboxed:
            from grader.sandbox.kernel_fork import stop_fork_servers
            from grader.sandbox.prewarm import discard_spare
            discard_spare()
            stop_fork_servers()
    changes["notebook_seconds"] = round(time.monotonic() - start, 3)
    out.update(**changes)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: grader.course.grade_job SPEC.json", file=sys.stderr)
        return 2
    spec = JobSpec(**json.loads(Path(argv[0]).read_text()))
    run_job(spec)
    return 0


def spec_json(spec: JobSpec) -> str:
    return json.dumps(asdict(spec))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
