"""One student's grading, in a process of its own (``python -I``, a trusted working directory).

The coordinator (:mod:`grader.course.autograde`) starts one such process per submission and
kills it when the submission's wall-clock budget runs out, so no submission can hold the
class up. The job works only in a private scratch course:

1. the submission is copied in through the allow-list of the assignment's files
   (:func:`grader.sandbox.files.copy_allowed`: regular files only, no link, no FIFO);
2. the secure checker grades its ``cs231n_lib`` (sandboxed workers, comparison here) and the
   result is written at once, so that a notebook run that overruns costs only the notebooks;
3. nbgrader autogrades the notebooks against a snapshot of the gradebook, every kernel in
   its own sandbox (:mod:`grader.sandbox.kernel`), and the exercise cells' values are probed
   and judged here (:mod:`grader.course.exercise_probes`), not in the kernel.

The job's result is a JSON file; the coordinator alone writes the course's gradebook.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
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


def run_job(spec: JobSpec) -> dict:
    """Grade one student; the result file is rewritten after each stage."""
    from grader.course.release import student_edited_modules
    from grader.sandbox.library import grade_library
    from grader.sandbox.profile import sandbox_available
    from grader.sandbox.runner import SandboxUnavailable

    paths = CoursePaths(Path(spec.course_root))
    result_path = Path(spec.result)
    result: dict = {"student": spec.student, "scratch": spec.scratch, "stage": "prepare",
                    "notebooks_ok": False, "log": "", "dropped": [], "library": None,
                    "kernel_sandboxed": False, "error": ""}
    scratch, result["dropped"] = prepare_scratch(paths, spec)
    submission = scratch.submitted / spec.student / ASSIGNMENT

    result["stage"] = "library"
    write_json_atomic(result_path, result)
    learner = {PurePosixPath(p).name for p in student_edited_modules()}
    start = time.monotonic()
    try:
        library = grade_library(submission, provided_lib=paths.release / "cs231n_lib",
                                learner_files=learner,
                                require_sandbox=not spec.allow_unsandboxed,
                                budget_s=spec.library_budget_s)
    except SandboxUnavailable as exc:
        result["error"] = f"the sandbox broke during grading: {exc}"
        write_json_atomic(result_path, result)
        return result
    result["library"] = json.loads(library.to_json())
    result["library_seconds"] = round(time.monotonic() - start, 3)

    result["stage"] = "notebooks"
    write_json_atomic(result_path, result)
    sandboxed = sandbox_available()
    if not sandboxed and not spec.allow_unsandboxed:
        result["error"] = "the sandbox broke during grading: notebooks not run"
        write_json_atomic(result_path, result)
        return result
    if sandboxed:
        _sandboxed_kernel(scratch, spec.kernel_root)
    probes = _exercise_probes(scratch)
    result["kernel_sandboxed"] = sandboxed
    if spec.fast:
        from grader.course.fast_autograde import config_lines
        with open(scratch.config, "a") as fh:
            fh.write(config_lines(paths.source))
    if sandboxed:
        from grader.sandbox import prewarm
        with open(scratch.config, "a") as fh:
            fh.write(prewarm.config_lines([p.stem for p in paths.source.glob("*.ipynb")]))
    os.environ[JOB_ENV] = "1"
    start = time.monotonic()
    try:
        api = nbgrader_api(scratch)
        graded = api.autograde(ASSIGNMENT, spec.student, force=True, create=True)
        result["notebooks_ok"] = bool(graded.get("success"))
        result["log"] = str(graded.get("log", ""))[-4000:]
    except Exception as exc:  # nbgrader failing must not lose the library grade
        result["log"] = f"{type(exc).__name__}: {exc}"
    finally:
        if sandboxed:
            from grader.sandbox.prewarm import discard_spare
            discard_spare()
    result["notebook_seconds"] = round(time.monotonic() - start, 3)
    from grader.course.exercise_probes import judge_probes

    result["exercises"] = {gid: r.as_dict() for gid, r in judge_probes(probes).items()}
    result["stage"] = "done"
    write_json_atomic(result_path, result)
    return result


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
