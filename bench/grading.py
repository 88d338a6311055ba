"""Grading throughput: a class of 20 with ``--jobs 1`` and ``--jobs 2``, vs bare nbclient.

Only with ``python -m bench --grading`` (minutes). The class is the demo's sample students
(:func:`grader.course.demo.sample_class`: reference, untouched release, two with bugs, a cheater)
repeated to the class size, collected into a fresh course in a temporary directory. Wall
clock here (the work runs in kernels and worker processes, not in this process).

* ``jobs1`` / ``jobs2``: :func:`grader.course.autograde.autograde` of the whole class;
* ``bare``: the same submitted notebooks executed with nbclient (no nbgrader, no secure
  checker, no gradebook, no sandbox; one BLAS thread like the graded kernels), one distinct
  submission per sample student. The class repeats the
  sample students equally often, so the mean over them is the class mean per submission.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import ROOT, Target
from grader.course.autograde import autograde
from grader.course.collect import collect
from grader.course.demo import make_sample_submission, sample_class
from grader.course.release import ASSIGNMENT, CELL_TIMEOUT_S, CoursePaths, build_release

SPEEDUP_LIMIT = 1.6


def _make_class(paths: CoursePaths, size: int) -> tuple[list[str], dict[str, str]]:
    """Collect ``size`` submissions cycling through the sample students.

    Returns the student ids and, per sample student, the id of its first copy.
    """
    inbox = paths.root / "bench_inbox"
    inbox.mkdir(exist_ok=True)
    samples = sample_class()
    sources, first_copy = [], {}
    for i in range(size):
        who = samples[i % len(samples)]
        copy = dataclasses.replace(who, student=f"{who.student}{i:02d}")
        sources.append(make_sample_submission(paths, copy, inbox / copy.student))
        first_copy.setdefault(who.student, copy.student)
    results = collect(paths, sources)
    bad = [f"{r.student}: {r.error}" for r in results if not getattr(r, "ok", True)]
    if bad:
        raise RuntimeError("collect rejected sample submissions: " + "; ".join(bad))
    return [r.student for r in results], first_copy


#: The graded kernels run with one BLAS/OpenMP thread (grader.sandbox.kernel); so do the bare.
KERNEL_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def _kernel_env() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in KERNEL_ENV}
    os.environ.update(KERNEL_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _bare_execute_here(submission: Path, timeout: int) -> dict[str, Any]:
    """Execute every notebook of a copy of ``submission`` with nbclient; errors allowed."""
    import nbformat
    from nbclient import NotebookClient
    from traitlets.config import Config

    per_notebook: dict[str, float] = {}
    errors = 0
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as tmp, _kernel_env():
        work = Path(tmp) / "work"
        shutil.copytree(submission, work)
        # ipc sockets, like the graded kernels (grader.sandbox.kernel): with TCP, kernels of
        # other jobs on the machine can race for the same ports and a client then waits
        # out the full timeout on a kernel that never got its request.
        config = Config()
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(Path(tmp) / "kernel-ipc")
        for nb_path in sorted(work.glob("*.ipynb")):
            nb = nbformat.read(nb_path, as_version=4)
            client = NotebookClient(
                nb,
                config=config,
                timeout=timeout,
                kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
                allow_errors=True,
                resources={"metadata": {"path": str(work)}},
            )
            start = time.perf_counter()
            client.execute()
            per_notebook[nb_path.name] = time.perf_counter() - start
            errors += sum(
                out.get("output_type") == "error"
                for cell in nb.cells
                for out in cell.get("outputs", [])
            )
    slow = [name for name, s in per_notebook.items() if s > 0.8 * timeout]
    return {
        "seconds": sum(per_notebook.values()),
        "notebooks": per_notebook,
        "error_outputs": errors,
        # A notebook near the cell timeout is a stall, not execution: the ratio is suspect.
        "near_timeout": slow,
    }


def _bare_execute(submission: Path, timeout: int) -> dict[str, Any]:
    """:func:`_bare_execute_here` in a fresh interpreter.

    Keeps whatever state nbgrader (release, collect) left in this process away from the
    baseline, like nbgrader's own worker processes.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "bench.grading", "--bare", str(submission), str(timeout)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout * 20,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bare execution of {submission} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(*, class_size: int = 20, log=print) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        log(f"  grading: release + a class of {class_size} in {tmp} ...")
        paths = build_release(tmp / "course")
        students, first_copy = _make_class(paths, class_size)

        log(f"  grading: bare nbclient on {len(first_copy)} distinct submissions ...")
        bare = {}
        for sample, student in first_copy.items():
            submission = paths.submitted / student / ASSIGNMENT
            bare[sample] = _bare_execute(submission, CELL_TIMEOUT_S)
            log(f"    bare {sample}: {bare[sample]['seconds']:.1f} s")
        bare_mean = statistics.mean(b["seconds"] for b in bare.values())

        runs: dict[str, float] = {}
        scores: dict[str, dict[str, float]] = {}
        # --jobs 2 first, then --jobs 1: any warm file cache favours --jobs 1, the baseline.
        for jobs in (2, 1):
            log(f"  grading: autograde --jobs {jobs} ({class_size} submissions) ...")
            start = time.perf_counter()
            results = autograde(paths.root, jobs=jobs, progress=False)
            runs[f"jobs{jobs}"] = time.perf_counter() - start
            scores[f"jobs{jobs}"] = {r.student: r.score for r in results}
        n = len(students)
        per_sub = {k: v / n for k, v in runs.items()}
        speedup = runs["jobs1"] / runs["jobs2"]
        ratios = {
            "jobs1_over_jobs2": speedup,
            "jobs1_over_bare": per_sub["jobs1"] / bare_mean,
            "jobs2_over_bare": per_sub["jobs2"] / bare_mean,
        }
        targets = [
            Target(
                f"grading speed-up --jobs 2 vs --jobs 1 (class of {n})",
                "grading",
                speedup,
                ">=",
                SPEEDUP_LIMIT,
            )
        ]
        return {
            "status": "ok",
            "class_size": n,
            "seconds_total": runs,
            "seconds_per_submission": {**per_sub, "bare": bare_mean},
            "bare": bare,
            "ratios": ratios,
            "scores_agree": scores["jobs1"] == scores["jobs2"],
            "targets": [t.as_dict() for t in targets],
            "notes": [
                "wall clock; bare = nbclient on one copy of each sample student's submission",
                "ratios measured in this process, one run each (minutes per run)",
            ],
        }
    except Exception as exc:  # report the failure in the table instead of losing the others
        return {
            "status": "failed",
            "reason": f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=6),
            "targets": [],
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":  # python -m bench.grading --bare SUBMISSION TIMEOUT
    if len(sys.argv) != 4 or sys.argv[1] != "--bare":
        raise SystemExit("usage: python -m bench.grading --bare SUBMISSION_DIR TIMEOUT_S")
    print(json.dumps(_bare_execute_here(Path(sys.argv[2]), int(sys.argv[3]))))
