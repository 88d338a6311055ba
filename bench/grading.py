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

#: Issue 12's targets: --jobs 2 over --jobs 1 on 2 cores, seconds per submission with
#: --jobs 1, and how far below the bare nbclient execution of the same notebooks.
SPEEDUP_LIMIT = 1.8
PER_SUBMISSION_LIMIT_S = 6.0
BELOW_BARE_LIMIT = 3.0


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


def _stock_course(paths: CoursePaths, dst: Path) -> Path:
    """A copy of the course whose config lets stock ``nbgrader autograde`` run (the refusal
    hook removed): a timing baseline only, never a way to grade (it grades the library in
    the student's own kernel, unsandboxed)."""
    shutil.copytree(paths.root, dst, symlinks=True,
                    ignore=shutil.ignore_patterns(".grader", "autograded", "feedback"))
    hook = "c.Autograde.pre_convert_hook = _only_cs231n_grader"
    # The refusal sits in one of the course's config files (grader.course.config_files).
    configs = [p for p in CoursePaths(dst).config_files() if hook in p.read_text()]
    if not configs:
        raise RuntimeError("the course config has no stock-autograde refusal hook to remove")
    for config in configs:
        config.write_text(config.read_text().replace(
            hook, "# (bench) stock autograde allowed in this copy"))
    return dst


def _stock_autograde(course: Path, students: list[str]) -> float:
    """Seconds for stock ``nbgrader autograde`` of ``students``, one process (as nbgrader)."""
    code = ("import sys, time\n"
            "from pathlib import Path\n"
            "from grader.course.paths import CoursePaths, nbgrader_api\n"
            "api = nbgrader_api(CoursePaths(Path(sys.argv[1])))\n"
            "start = time.perf_counter()\n"
            "for s in sys.argv[2:]:\n"
            f"    r = api.autograde({ASSIGNMENT!r}, s, force=True, create=True)\n"
            "    assert r['success'], r.get('error') or r.get('log')\n"
            "print(time.perf_counter() - start)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(course), *students], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"stock nbgrader autograde failed:\n{proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def _profile(paths: CoursePaths, student: str) -> dict[str, dict[str, float]]:
    """Where one submission's seconds go: the job's own stage timings, fast and full."""
    from grader.course.autograde import _snapshot_gradebook
    from grader.course.grade_job import JobSpec
    from grader.course.job_runner import Budget, _run_job_process

    out = {}
    with tempfile.TemporaryDirectory(dir=paths.root, prefix="bench-profile-") as tmp:
        template = Path(tmp) / "template.db"
        _snapshot_gradebook(paths, template)
        for fast in (True, False):
            key = "fast" if fast else "full"
            spec = JobSpec(str(paths.root), student, str(template), str(Path(tmp) / key),
                           str(Path(tmp) / f"{key}.json"), fast=fast)
            start = time.perf_counter()
            job = _run_job_process(spec, Budget())
            total = time.perf_counter() - start
            lib, nbs = job.get("library_seconds", 0.0), job.get("notebook_seconds", 0.0)
            out[key] = {"total": total, "library": lib, "notebooks": nbs,
                        "job_start_and_scratch": total - lib - nbs}
    return out


#: The modes of one round, in this order (--jobs 2 before --jobs 1: a warm cache favours the
#: baseline); ``full`` is --jobs 1 with the demo-only cells run (the cost before issue 12).
MODES = ("jobs2", "local2", "jobs1", "full", "stock")


def _round(paths: CoursePaths, stock: Path, students: list[str], log) -> dict[str, Any]:
    times: dict[str, float] = {}
    scores: dict[str, dict[str, float]] = {}
    for mode in MODES:
        log(f"  grading: {mode} ({len(students)} submissions) ...")
        start = time.perf_counter()
        if mode == "stock":
            times[mode] = _stock_autograde(stock, students)
            continue
        kwargs = {"jobs1": {"jobs": 1}, "jobs2": {"jobs": 2}, "full": {"jobs": 1, "fast": False},
                  "local2": {"scheduler": "local:2"}}[mode]
        results = autograde(paths.root, progress=False, **kwargs)
        times[mode] = time.perf_counter() - start
        scores[mode] = {r.student: r.score for r in results}
        log(f"    {mode}: {times[mode] / len(students):.1f} s per submission")
    return {"seconds": times, "scores": scores}


def run(*, class_size: int = 20, repeats: int = 3, log=print) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        log(f"  grading: release + a class of {class_size} in {tmp} ...")
        paths = build_release(tmp / "course")
        students, first_copy = _make_class(paths, class_size)
        stock = _stock_course(paths, tmp / "stock")

        log(f"  grading: bare nbclient on {len(first_copy)} distinct submissions ...")
        bare = {}
        for sample, student in first_copy.items():
            submission = paths.submitted / student / ASSIGNMENT
            bare[sample] = _bare_execute(submission, CELL_TIMEOUT_S)
            log(f"    bare {sample}: {bare[sample]['seconds']:.1f} s")
        bare_mean = statistics.mean(b["seconds"] for b in bare.values())

        log("  grading: profile of one submission (the reference), fast and full ...")
        profile = _profile(paths, first_copy.get("ada", students[0]))
        rounds = [_round(paths, stock, students, log) for _ in range(repeats)]
        n = len(students)
        runs = {m: statistics.median(r["seconds"][m] for r in rounds) for m in MODES}
        per_sub = {k: v / n for k, v in runs.items()}
        speedup = runs["jobs1"] / runs["jobs2"]
        ratios = {
            "jobs1_over_jobs2": speedup,
            "jobs1_over_local2": runs["jobs1"] / runs["local2"],
            "jobs1_over_bare": per_sub["jobs1"] / bare_mean,
            "jobs2_over_bare": per_sub["jobs2"] / bare_mean,
            "bare_over_jobs1": bare_mean / per_sub["jobs1"],
            "full_over_jobs1": runs["full"] / runs["jobs1"],
            "stock_over_jobs1": runs["stock"] / runs["jobs1"],
        }
        targets = [
            Target(f"grading speed-up --jobs 2 vs --jobs 1 (class of {n})", "grading",
                   speedup, ">=", SPEEDUP_LIMIT),
            Target("seconds per submission, --jobs 1", "grading", per_sub["jobs1"], "<=",
                   PER_SUBMISSION_LIMIT_S),
            Target("bare nbclient / --jobs 1, per submission", "grading",
                   ratios["bare_over_jobs1"], ">=", BELOW_BARE_LIMIT),
        ]
        graded = [r["scores"][m] for r in rounds for m in r["scores"]]
        return {
            "status": "ok",
            "class_size": n,
            "repeats": repeats,
            "seconds_total": runs,
            "seconds_per_submission": {**per_sub, "bare": bare_mean},
            "rounds": [r["seconds"] for r in rounds],
            "profile_one_submission": profile,
            "bare": bare,
            "ratios": ratios,
            "scores_agree": all(g == graded[0] for g in graded),
            "targets": [t.as_dict() for t in targets],
            "notes": [
                "wall clock; medians over the rounds; bare = nbclient on one copy of each "
                "sample student's submission (no nbgrader, no sandbox, no secure checks)",
                "full = --jobs 1 with the demo-only cells run; stock = nbgrader autograde "
                "unsandboxed, library graded in the kernel (a baseline, not a grader)",
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
