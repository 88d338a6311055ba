"""How long a grading job takes to start: ``python -I`` versus the job fork server.

``python -m bench.job_start [ROUNDS]`` (about a minute). Each round launches one job each
way, interleaved, exactly as :mod:`grader.course.job_runner` launches them (the same boot
code, environment, session, log file), with this module's :func:`main` as the job's entry:
it imports what a grading job imports (:data:`grader.course.job_server.PRELOAD`) and
records the wall-clock instant it got there. Reported per launch (seconds, median and range
over the rounds): launch -> job ready (Python started, modules imported) and launch -> exit
seen by the coordinator; plus the server's own one-time start. Wall clock; the JSON goes to
``bench/results/job_start.json``. Nothing here grades anything.

``python -m bench.job_start --class N [REPEATS]`` (minutes) grades the first N students of
the sample class with ``autograde --jobs 1``, with the fork server off and on in turn
(REPEATS rounds, default 1), and reports each run's wall clock, CPU time (this process and
the processes it waited for) and that the gradebooks agree; JSON in
``bench/results/job_start_class.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_ENTRY = "bench.job_start:main"


def main(argv: list[str]) -> int:
    """The job: import the grading job's modules, write ``time.time()`` to ``argv[0]``."""
    from grader.course.job_server import PRELOAD

    for name in PRELOAD:
        importlib.import_module(name)
    Path(argv[0]).write_text(repr(time.time()))
    return 0


def _python_i(tmp: Path, out: Path) -> float:
    from grader.course.job_runner import job_env
    from grader.course.job_server import DIE_WITH_PARENT

    boot = DIE_WITH_PARENT + ("from bench.job_start import main\n"
                              "raise SystemExit(main(sys.argv[3:]))")
    with open(tmp / "python.log", "wb") as log:
        start = time.time()
        proc = subprocess.Popen([sys.executable, "-I", "-c", boot, str(ROOT), str(os.getpid()),
                                 str(out)], cwd=tmp, env=job_env(), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
        if proc.wait(120):
            raise RuntimeError((tmp / "python.log").read_text()[-2000:])
    return start


def _forked(server, tmp: Path, out: Path) -> float:
    from grader.course.job_runner import job_env

    with open(tmp / "forked.log", "wb") as log:
        start = time.time()
        job = server.start_job([str(out)], log, tmp, job_env())
        if job.wait(120):
            raise RuntimeError((tmp / "forked.log").read_text()[-2000:])
    return start


def measure(rounds: int = 5) -> dict:
    from grader.course.job_runner import job_env
    from grader.course.job_server import JobServer

    out: dict = {"python -I": {"ready": [], "exit": []}, "fork server": {"ready": [], "exit": []}}
    with tempfile.TemporaryDirectory(prefix="job-start-") as name:
        tmp = Path(name)
        start = time.time()
        with JobServer(tmp, job_env(), ready_timeout_s=300, entry=_ENTRY) as server:
            first = tmp / "first"
            _forked(server, tmp, first)  # waits for the server's imports
            out["server start (once)"] = time.time() - start
            out["server"] = server.info
            for i in range(rounds):
                for how in ("python -I", "fork server"):
                    mark = tmp / f"{how[0]}{i}"
                    began = (_python_i(tmp, mark) if how == "python -I"
                             else _forked(server, tmp, mark))
                    ended = time.time()
                    out[how]["ready"].append(float(mark.read_text()) - began)
                    out[how]["exit"].append(ended - began)
    return out


def report(out: dict) -> str:
    lines = [f"job server start, once per run: {out['server start (once)']:.2f} s "
             f"(imports {out['server'].get('seconds')} s, {out['server'].get('modules')} "
             "modules)"]
    for how in ("python -I", "fork server"):
        for what in ("ready", "exit"):
            xs = out[how][what]
            lines.append(f"{how:12s} launch -> {what:5s}: median {statistics.median(xs):.3f} s "
                         f"(range {min(xs):.3f}-{max(xs):.3f}, {len(xs)} rounds)")
    ratio = statistics.median(out["python -I"]["ready"]) / statistics.median(
        out["fork server"]["ready"])
    lines.append(f"python -I / fork server, launch -> ready: {ratio:.0f}x")
    return "\n".join(lines)


def _cpu_seconds() -> float:
    """CPU seconds of this process and of every process it has waited for, with theirs (the
    jobs, the job server, the sandboxed workers and kernels they waited for): less
    sensitive than wall clock to other work on the machine."""
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def class_wall(size: int, repeats: int = 1) -> dict:
    """Wall clock and CPU time of ``autograde --jobs 1`` on ``size`` sample students, job
    server off / on."""
    from grader.course import job_runner
    from grader.course.autograde import autograde
    from grader.course.collect import collect
    from grader.course.demo import make_sample_submission, sample_class
    from grader.course.release import build_release

    sys.path.insert(0, str(ROOT / "tests"))
    from grading_helpers import gradebook_grades

    out: dict = {"size": size, "python -I": [], "fork server": [], "same gradebook": [],
                 "cpu python -I": [], "cpu fork server": [], "load": []}
    with tempfile.TemporaryDirectory(prefix="job-start-class-") as name:
        tmp = Path(name)
        paths = build_release(tmp / "course")
        who = sample_class()[:size]
        subs = [make_sample_submission(paths, s, tmp / "inbox" / s.student) for s in who]
        assert all(r.ok for r in collect(paths, subs))
        for _ in range(repeats):
            grades = {}
            for how, on in (("python -I", False), ("fork server", True)):
                job_runner.FORK_SERVER = on
                start, cpu = time.perf_counter(), _cpu_seconds()
                results = autograde(paths.root, jobs=1, progress=False)
                out[how].append(round(time.perf_counter() - start, 2))
                out[f"cpu {how}"].append(round(_cpu_seconds() - cpu, 2))
                out["load"].append(os.getloadavg()[0])
                assert all(r.notebooks_ok for r in results), results
                grades[how] = gradebook_grades(paths.root)
                print(f"{how}: {out[how][-1]:.1f} s wall, {out[f'cpu {how}'][-1]:.1f} s CPU, "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
            out["same gradebook"].append(grades["python -I"] == grades["fork server"])
    job_runner.FORK_SERVER = True
    return out


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.job_start",
                                description="A grading job's start: python -I vs the job "
                                            "fork server (see the module docstring).")
    p.add_argument("rounds", nargs="?", type=_positive, default=None,
                   help="launches each way (default 5); with --class: rounds (default 1)")
    p.add_argument("--class", dest="class_size", type=_positive, default=None, metavar="N",
                   help="grade the first N sample students with the server off and on")
    return p


if __name__ == "__main__":
    args = _parser().parse_args()
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    if args.class_size is not None:
        walls = class_wall(args.class_size, args.rounds or 1)
        print(json.dumps(walls))
        (results / "job_start_class.json").write_text(json.dumps(walls, indent=1))
    else:
        result = measure(args.rounds or 5)
        print(report(result))
        (results / "job_start.json").write_text(json.dumps(result, indent=1))
