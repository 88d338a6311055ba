"""Where one submission's grading seconds go (``python -m bench.profile_job``; minutes).

Builds a course in a temporary directory, collects the sample reference and untouched
submissions, and runs each one's grading job (:func:`grader.course.grade_job.run_job`, the
sandbox on) in a fresh ``python -I`` process whose functions are wrapped with timers: the
library checks (sandbox starts, reference computations, per function), nbgrader's steps per
notebook (sanitize, kernel start in bubblewrap, each cell: setup/imports, graded cells, probe
cells, the rest) and the job's own start-up. Wall clock; prints a table and writes JSON to
``bench/results/profile_job.json``. Instrumentation only: nothing here changes a grade.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Started as ``python -I -c _BOOT ROOT SPEC OUT``: the grading job with timers around it.
_BOOT = """
import sys, time
t_boot = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from bench.profile_job import instrument, dump
timings = instrument()
timings['imports'] = time.perf_counter() - t_boot
import json
from grader.course.grade_job import JobSpec, run_job
from pathlib import Path
spec = JobSpec(**json.loads(Path(sys.argv[2]).read_text()))
t = time.perf_counter()
run_job(spec)
timings['run_job'] = time.perf_counter() - t
dump(timings, sys.argv[3])
"""


def _wrap(owner: Any, name: str, record) -> None:
    """Replace ``owner.name`` (sync or async) by a version reporting its duration."""
    import inspect

    original = getattr(owner, name)
    if inspect.iscoroutinefunction(original):
        async def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                record(args, kwargs, time.perf_counter() - start)
    else:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                record(args, kwargs, time.perf_counter() - start)
    setattr(owner, name, timed)


def _cell_kind(cell: Any) -> str:
    from grader.course.exercise_probes import PROBE_KEY

    meta = cell.get("metadata", {})
    if meta.get(PROBE_KEY):
        return "probe"
    nb = meta.get("nbgrader", {})
    if nb.get("grade_id") == "setup":
        return "setup cell (imports)"
    if nb.get("grade") or nb.get("solution"):
        return "graded:" + str(nb.get("grade_id", ""))
    if not cell.get("source", "").strip():
        return "empty (demo-only skipped)"
    return "other"


def instrument() -> dict:
    """Wrap the grading job's steps with timers; returns the dict they fill."""
    import nbclient
    from nbgrader.converters.autograde import Autograde

    import grader.harness.recipes as recipes
    import grader.sandbox.library as library
    import grader.sandbox.runner as runner

    t: dict = {"notebooks": defaultdict(lambda: defaultdict(float)),
               "functions": {}, "library": defaultdict(float)}
    current = {"notebook": "?"}

    def on_convert(args, kwargs, dt):
        t["notebooks"][Path(args[1]).stem]["nbgrader total"] += dt

    def on_kernel(args, kwargs, dt):
        t["notebooks"][current["notebook"]]["kernel start (bwrap)"] += dt

    def on_client(args, kwargs, dt):
        t["notebooks"][current["notebook"]]["kernel ready (client)"] += dt

    def on_cell(args, kwargs, dt):
        cell = args[1]
        t["notebooks"][current["notebook"]][_cell_kind(cell)] += dt

    original_convert = Autograde.convert_single_notebook

    def convert(self, filename):
        current["notebook"] = Path(filename).stem
        return original_convert(self, filename)

    Autograde.convert_single_notebook = convert
    _wrap(Autograde, "convert_single_notebook", on_convert)
    # nbclient's sync methods wrap the async ones at class creation: time the sync names.
    _wrap(nbclient.NotebookClient, "start_new_kernel", on_kernel)
    _wrap(nbclient.NotebookClient, "start_new_kernel_client", on_client)
    _wrap(nbclient.NotebookClient, "execute_cell", on_cell)
    from nbgrader.preprocessors import Execute

    def on_execute(args, kwargs, dt):
        t["notebooks"][current["notebook"]]["Execute total"] += dt

    _wrap(Execute, "preprocess", on_execute)

    def on_function(args, kwargs, dt):
        t["functions"][args[0].name] = dt

    def on_start(args, kwargs, dt):  # a worker: a fork of the zygote (its first: + the zygote)
        t["library"]["worker starts"] += dt
        t["library"]["worker start count"] += 1

    def on_sandbox(args, kwargs, dt):  # bubblewrap + Python + NumPy: the zygote
        t["library"]["sandbox starts"] += dt
        t["library"]["sandbox start count"] += 1

    def on_reference(args, kwargs, dt):
        t["library"]["reference computations"] += dt

    def on_lib(args, kwargs, dt):
        t["library"]["grade_library total"] += dt

    def on_copies(args, kwargs, dt):
        t["library"]["copy finder"] += dt

    def on_compose(args, kwargs, dt):
        t["library"]["compose libraries"] += dt

    _wrap(library, "_grade_function", on_function)
    _wrap(runner.SecureRunner, "_start", on_start)
    _wrap(runner.SecureRunner, "_launch_sandbox", on_sandbox)
    _wrap(recipes, "run_recipe", on_reference)
    _wrap(library, "grade_library", on_lib)
    _wrap(library, "find_copies", on_copies)
    _wrap(library, "compose_library", on_compose)
    import grader.course.grade_job as grade_job

    def on_prepare(args, kwargs, dt):
        t["prepare scratch"] = dt

    _wrap(grade_job, "prepare_scratch", on_prepare)
    # grade_job imports grade_library inside run_job, from the module: the wrapper applies.
    return t


def dump(timings: dict, out: str) -> None:
    Path(out).write_text(json.dumps(timings, default=dict))


def profile(student: str, paths, template: Path, tmp: Path) -> dict:
    from grader.course.grade_job import JobSpec, spec_json

    spec = JobSpec(str(paths.root), student, str(template), str(tmp / student),
                   str(tmp / f"{student}.json"), kernel_root=tempfile.mkdtemp(prefix="cs231n-k-"))
    spec_path = tmp / f"{student}.spec.json"
    spec_path.write_text(spec_json(spec))
    out = tmp / f"{student}.timings.json"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-I", "-c", _BOOT, str(ROOT), str(spec_path), str(out)],
                          cwd=tmp, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    (tmp.parent / f"profile-{student}.stderr").write_text(proc.stderr)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    timings = json.loads(out.read_text())
    timings["wall"] = wall
    result = json.loads(Path(spec.result).read_text())
    timings["score_inputs"] = {"notebooks_ok": result["notebooks_ok"],
                               "library_seconds": result.get("library_seconds"),
                               "notebook_seconds": result.get("notebook_seconds")}
    return timings


def report(student: str, t: dict) -> str:
    lines = [f"== {student}: wall {t['wall']:.1f} s (process start + imports "
             f"{t['imports']:.1f}, prepare scratch {t.get('prepare scratch', 0):.1f}, "
             f"library {t['library'].get('grade_library total', 0):.1f}, notebooks "
             f"{t['score_inputs']['notebook_seconds']})"]
    lib = t["library"]
    lines.append("   library: " + ", ".join(f"{k} {v:.2f}" for k, v in lib.items()))
    slow = sorted(t["functions"].items(), key=lambda kv: -kv[1])
    lines.append("   per function (s): " + ", ".join(f"{k} {v:.2f}" for k, v in slow))
    totals: dict[str, float] = defaultdict(float)
    for nb, parts in sorted(t["notebooks"].items()):
        totals_nb = ", ".join(f"{k} {v:.2f}" for k, v in sorted(parts.items(),
                                                                  key=lambda kv: -kv[1]))
        lines.append(f"   {nb}: {totals_nb}")
        for k, v in parts.items():
            totals[k.split(":")[0]] += v
    lines.append("   notebooks, summed: " + ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(totals.items(), key=lambda kv: -kv[1])))
    return "\n".join(lines)


def main(students: tuple[str, ...] = ("ada", "bo")) -> dict:
    from grader.course.autograde import _snapshot_gradebook
    from grader.course.collect import collect
    from grader.course.demo import make_sample_submission, sample_class
    from grader.course.release import build_release

    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="profile-job-") as tmp_name:
        tmp = Path(tmp_name)
        paths = build_release(tmp / "course")
        who = [s for s in sample_class() if s.student in students]
        subs = [make_sample_submission(paths, s, tmp / "inbox" / s.student) for s in who]
        assert all(r.ok for r in collect(paths, subs))
        template = tmp / "template.db"
        _snapshot_gradebook(paths, template)
        for student in students:
            out[student] = profile(student, paths, template, tmp)
            print(report(student, out[student]), flush=True)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "profile_job.json").write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ("ada", "bo"))
