"""``make demo``: the whole instructor pipeline on a sample class, on embedded data only.

1. trains the small ConvNet on the bundled digits (the library works end to end);
2. builds the nbgrader course and the student release;
3. makes a sample class: the reference solution, an untouched release, two students with
   realistic bugs from the mutant catalogue, and a cheater who patches the check API in
   their kernel;
4. collects (one submission as a zip), autogrades, writes feedback and ``grades.csv``;
5. prints the score table and checks that it tells the expected story.
"""

from __future__ import annotations

import shutil
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.course.release import ASSIGNMENT, CoursePaths, build_release

#: Functions the cheater fakes (their in-kernel grade cells pass, the secure checker says no).
CHEATED = ("conv_forward_naive", "conv_backward_naive")

CHEAT_CODE = '''

# --- what a cheating student appends --------------------------------------------------
# Patch the check API in the notebook kernel so every grade cell passes, and make numpy's
# comparisons always succeed. Stock nbgrader would give full marks for this.
def _cheat():
    import sys

    import numpy

    numpy.allclose = lambda *a, **k: True
    always = lambda *a, **k: None  # noqa: E731
    for name in ("grader.checks.visible", "__main__"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "grade"):
            module.grade = always


_cheat()


def conv_forward_naive(x, w, b, conv_param):
    import numpy
    return numpy.zeros((x.shape[0], w.shape[0], 1, 1)), None


def conv_backward_naive(dout, cache):
    return None, None, None
'''


@dataclass(frozen=True)
class SampleStudent:
    student: str
    story: str
    library: str  # "reference", "stubs", "mutants", "cheater"
    mutants: tuple[str, ...] = ()
    notebooks: str = "answered"  # "answered" (instructor answers) or "release" (stubs)


def sample_class() -> list[SampleStudent]:
    from grader.mutants import MUTANTS

    names = {m.name for m in MUTANTS}

    def pick(*wanted: str) -> tuple[str, ...]:
        chosen = tuple(n for n in wanted if n in names)
        return chosen or tuple(sorted(names))[:1]

    return [
        SampleStudent("ada", "the reference solution: full marks", "reference"),
        SampleStudent("bo", "the untouched release: zero", "stubs", notebooks="release"),
        SampleStudent(
            "chen",
            "conv ignores padding, im2col's col2im overwrites instead of adding",
            "mutants",
            pick("conv_no_padding", "col2im_assigns"),
        ),
        SampleStudent(
            "dana",
            "max-pool gradient to every tied maximum",
            "mutants",
            pick("maxpool_grad_all_ties"),
        ),
        SampleStudent("eve", "patches the check API in the kernel: caught", "cheater"),
    ]


def make_sample_submission(paths: CoursePaths, who: SampleStudent, dst: Path) -> Path:
    """A submission directory as a student would hand it in."""
    from grader.mutants import make_reference_submission, make_stub_submission, make_submission

    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(paths.release, dst)
    if who.notebooks == "answered":
        for notebook in paths.source.glob("*.ipynb"):
            shutil.copy2(notebook, dst / notebook.name)
    if who.library == "reference":
        make_reference_submission(dst)
    elif who.library == "stubs":
        make_stub_submission(dst)
    elif who.library == "mutants":
        make_submission(dst, list(who.mutants))
    elif who.library == "cheater":
        make_reference_submission(dst)
        module = dst / "cs231n_lib" / "conv_naive.py"
        module.write_text(module.read_text() + CHEAT_CODE)
    else:
        raise ValueError(f"unknown sample library kind {who.library!r}")
    return dst


def _zip_dir(src: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, Path(ASSIGNMENT) / path.relative_to(src))
    return archive


def _train_digits() -> None:
    from cs231n_lib import train_digits

    print("== 1. the library: ThreeLayerConvNet on the bundled digits", flush=True)
    train_digits.main(["--no-progress"])


def run_demo(course: Path, jobs: int = 2) -> int:
    """Run every step; return 0 when the score table tells the expected story."""
    from grader.course.autograde import autograde
    from grader.course.collect import collect
    from grader.course.export import export
    from grader.course.feedback import feedback
    from grader.course.score_table import print_score_table
    from grader.sandbox.profile import UNAVAILABLE_LINE, sandbox_available

    start = time.perf_counter()
    _train_digits()
    print("\n== 2. release: nbgrader course + student release", flush=True)
    paths = build_release(course)
    print(f"   {paths.release}")

    print("\n== 3. a sample class", flush=True)
    inbox = paths.root / "demo_inbox"
    inbox.mkdir(exist_ok=True)
    class_ = sample_class()
    sources = []
    for who in class_:
        sub = make_sample_submission(paths, who, inbox / who.student)
        if who.student == "bo":  # one arrives as a zip, like an LMS download
            sources.append(_zip_dir(sub, inbox / f"{who.student}.zip"))
            shutil.rmtree(sub)
        else:
            sources.append(sub)
        print(f"   {who.student:<6} {who.story}" + (f" {list(who.mutants)}" if who.mutants else ""))

    print("\n== 4. collect, autograde, feedback, export", flush=True)
    for result in collect(paths, sources):
        print(f"   collect {result.student}: {'ok' if result.ok else result.error}")
    graded_at = time.perf_counter()
    unsandboxed = not sandbox_available()
    if unsandboxed:
        print(f"\n   !!! {UNAVAILABLE_LINE}: this demo grades its own sample class anyway "
              "(--allow-unsandboxed); never grade real students like this !!!\n", flush=True)
    results = autograde(paths.root, jobs=jobs, allow_unsandboxed=unsandboxed)
    graded_s = time.perf_counter() - graded_at
    feedback(paths.root)
    csv_path = export(paths.root, paths.root / "grades.csv")
    print(f"   grades: {csv_path}\n   feedback: {paths.feedback}")

    print("\n== 5. scores", flush=True)
    print_score_table(results)
    by = {r.student: r for r in results}
    checks = {
        "reference gets every automatic point": abs(
            by["ada"].score + by["ada"].manual_pending - by["ada"].max_score
        ) < 1e-6,
        "untouched release gets zero": by["bo"].score == 0,
        "buggy students get partial credit": all(
            0 < by[s].score < by[s].max_score for s in ("chen", "dana")
        ),
        "cheater is caught": any("possible tampering" in d for d in by["eve"].disagreements)
        and all(by["eve"].library.functions[f].score == 0 for f in CHEATED),
    }
    print()
    for what, ok in checks.items():
        print(f"   [{'ok' if ok else 'FAILED'}] {what}")
    total = time.perf_counter() - start
    print(
        f"\n   autograde: {graded_s:.1f} s for {len(results)} students with --jobs {jobs} "
        f"({graded_s / max(1, len(results)):.1f} s per submission); demo total {total:.1f} s"
    )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(run_demo(Path("course")))
