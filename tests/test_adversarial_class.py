"""A hostile class graded through the real CLI: every attack on the workflow around the sandbox.

One course, one ``collect`` + ``autograde`` + ``feedback`` run of the whole class (the attacks
of ``tests/adversarial/class/``, an honest student and an untouched release), then assertions:
no attack earns more than an untouched release for what it faked, honest functions of the same
submission still score, the others are graded normally, nothing outside the course's scratch
space changed, and nothing a student receives holds hidden text. Stock ``nbgrader autograde``
refuses to grade the course.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from grading_helpers import breaking_bwrap, secret_texts

from grader.checks import registry
from grader.course.demo import SampleStudent, make_sample_submission
from grader.course.library_page import VERDICT_MARKER
from grader.course.paths import EXCHANGE_FILES
from grader.course.release import ROOT, solution_lines

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.xdist_group("e2e")]

ATTACKS = ROOT / "tests" / "adversarial" / "class"
NOTEBOOK_BUDGET_S = 15
DELEGATED = ("conv_forward_naive", "max_pool_forward_naive", "conv_output_size")
#: Their recipe runs the submission's own forward first, which delegates: they fail with it.
WITH_DELEGATED_FORWARD = ("conv_backward_naive", "max_pool_backward_naive")
#: The saboteur's conv_naive.py does not parse; its other sabotaged functions write on the
#: worker's result pipe (garbage, a terabyte header, a wrong frame under the real nonce).
UNPARSED = ("conv_forward_naive", "conv_backward_naive")
FORGED = ("perceptron_predict", "perceptron_update", "fc_to_conv")
#: The escaper's attacks on the fork server: leave things behind for the next function's
#: worker and strike the zygote (perceptron_predict); borrow the real conv_fast from another
#: function's composition (conv_forward_naive). Each returns a wrong answer unless it worked;
#: conv_backward_naive's recipe runs that wrong forward first (one case compares through it).
ESCAPED = ("perceptron_predict", "conv_forward_naive")
ESCAPED_WITH_FORWARD = ("conv_backward_naive",)


def cli(*args: str, cwd: Path | None = None, timeout: float = 1500) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd or ROOT)


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "!r}", repr(value))
    return text


def _first_cell(notebook: Path, source: str) -> None:
    nb = json.loads(notebook.read_text())
    cell = {"cell_type": "code", "execution_count": None, "id": "student-added-cell",
            "metadata": {}, "outputs": [], "source": source}
    nb["cells"].insert(1, cell)
    notebook.write_text(json.dumps(nb))


def build_submission(paths, name: str, dst: Path, values: dict[str, str]) -> Path:
    attack = ATTACKS / name
    base = (attack / "base").read_text().strip()
    who = SampleStudent(name, name, "reference" if base == "reference" else "stubs",
                        notebooks="answered" if base == "reference" else "release")
    make_sample_submission(paths, who, dst)
    for path in sorted((attack / "overlay").rglob("*")) if (attack / "overlay").exists() else []:
        if path.is_file():
            target = dst / path.relative_to(attack / "overlay")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_fill(path.read_text(), values))
    if (attack / "paste").exists():  # a provided module's text pasted into a learner module
        for line in (attack / "paste").read_text().splitlines():
            target, source = line.split()
            text = (ROOT / "cs231n_lib" / f"{source}.py").read_text()
            text = "\n".join(ln for ln in text.splitlines() if "__future__" not in ln)
            learner = dst / "cs231n_lib" / f"{target}.py"
            learner.write_text(learner.read_text() + "\n\n" + text + "\n")
    for path in sorted((attack / "append").rglob("*")) if (attack / "append").exists() else []:
        if path.is_file():
            target = dst / path.relative_to(attack / "append")
            target.write_text(target.read_text() + _fill(path.read_text(), values))
    if (attack / "first_cell.py").exists():
        _first_cell(dst / "00_history.ipynb",
                    _fill((attack / "first_cell.py").read_text(), values))
    return dst


def _tree_state(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="session")
def hostile_class(tmp_path_factory, bwrap):
    base = tmp_path_factory.mktemp("hostile")
    marker = base / "HOST_MARKER"
    release = cli("release", "--course", str(base / "course"))
    assert release.returncode == 0, release.stderr
    from grader.course.paths import CoursePaths

    paths = CoursePaths(base / "course")
    inbox = base / "inbox"
    names = sorted(p.name for p in ATTACKS.iterdir() if p.is_dir())
    values = {"HOST_MARKER": str(marker), "COURSE_GRADEBOOK": str(paths.gradebook),
              "REPO_GRADER": str(ROOT / "grader"),
              "CLASSMATE": str(paths.submitted / "honest" / "convnets")}
    subs = [build_submission(paths, name, inbox / name, values) for name in names]
    repo_before = _tree_state(ROOT / "grader") | _tree_state(ROOT / "cs231n_lib")
    collected = cli("collect", "--course", str(paths.root), *map(str, subs))
    # As an exchange collect would leave them: files collect never saw.
    for name in names:
        planted = ATTACKS / name / "planted"
        for path in sorted(planted.rglob("*")) if planted.exists() else []:
            if path.is_file():
                target = paths.submitted / name / "convnets" / path.relative_to(planted)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(_fill(path.read_text(), values))
    everyone_else = [a for n in names if n != "sleeper" for a in ("--student", n)]
    graded = cli("autograde", "--course", str(paths.root), "--jobs", "2", *everyone_else)
    # The sleeper alone, on a short budget (its cell would otherwise hold the run for minutes).
    slept = cli("autograde", "--course", str(paths.root), "--student", "sleeper",
                "--notebook-budget", str(NOTEBOOK_BUDGET_S))
    feedback = cli("feedback", "--course", str(paths.root))
    scores_before_stock = _scores(paths)
    stock = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "convnets",
                            "--student", "honest", "--force"], cwd=paths.root,
                           capture_output=True, text=True, timeout=300)
    repo_after = _tree_state(ROOT / "grader") | _tree_state(ROOT / "cs231n_lib")
    return {"paths": paths, "collect": collected, "autograde": graded, "slept": slept,
            "feedback": feedback, "scores_before_stock": scores_before_stock,
            "stock": stock, "marker": marker, "names": names,
            "repo_changed": sorted(k for k in repo_before.keys() | repo_after.keys()
                                   if repo_before.get(k) != repo_after.get(k))}


def _scores(paths) -> dict[str, dict[str, float]]:
    """{student: {grade cell: score}} straight from the course gradebook."""
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{paths.gradebook}") as gb:
        for student in gb.students:
            sub = gb.find_submission("convnets", student.id)
            out[student.id] = {g.name: g.score for nb in sub.notebooks for g in nb.grades}
            out[student.id]["__total__"] = sub.score
    return out


def test_every_student_is_graded_and_the_cli_says_what_went_wrong(hostile_class):
    h = hostile_class
    assert h["collect"].returncode == 0, h["collect"].stdout + h["collect"].stderr
    assert "not part of the assignment, not taken: grader/" in h["collect"].stdout
    scores = _scores(h["paths"])
    assert set(scores) == set(h["names"]), (scores.keys(), h["autograde"].stdout)
    out = h["autograde"].stdout
    logs = h["paths"].private / "logs"
    assert "[notebooks not graded]" not in out.split("PROBLEM")[0], (
        out, (logs / "honest.log").read_text()[-3000:])
    assert "PROBLEM rootkit: dropped from the submission: grader/" in out, out
    slept = h["slept"].stdout
    assert "PROBLEM sleeper: the notebooks ran past their budget" in slept, slept
    assert h["slept"].returncode == 1
    assert h["feedback"].returncode == 0, h["feedback"].stderr  # nobody lost their feedback


def test_nothing_outside_the_scratch_space_changed(hostile_class):
    h = hostile_class
    assert not h["marker"].exists(), h["marker"].read_text()
    assert h["repo_changed"] == []
    submitted = h["paths"].submitted
    for name in h["names"]:  # what the kernel planted never reached a trusted folder
        for folder in (submitted / name, h["paths"].autograded / name,
                       h["paths"].feedback / name):
            for path in folder.rglob("*"):
                assert not path.is_symlink(), path
                assert path.is_dir() or path.is_file(), path


def test_hostile_students_get_no_more_than_an_untouched_release(hostile_class):
    scores = _scores(hostile_class["paths"])
    baseline = scores["untouched"]
    for name in ("rootkit", "planter", "flooder", "transformer", "paster"):
        for cell, score in scores[name].items():
            assert score <= baseline.get(cell, 0) + 1e-9, (name, cell, score)


def _only_these_lost(hostile_class, student: str, lost: tuple[str, ...]) -> None:
    """``student`` scores 0 on the functions ``lost`` (which the honest student passes) and
    exactly what the honest student scores on every other function."""
    scores = _scores(hostile_class["paths"])
    honest, attacker = scores["honest"], scores[student]
    for name in registry.names():
        cell = registry.get(name).grade_id
        if name in lost:
            assert attacker[cell] == 0, name
            assert honest[cell] == registry.points(name), name
        else:
            assert attacker[cell] == honest[cell], name


def test_delegating_functions_score_zero_the_rest_still_scores(hostile_class):
    _only_these_lost(hostile_class, "delegator", DELEGATED + WITH_DELEGATED_FORWARD)
    report = json.loads((hostile_class["paths"].reports / "delegator.json").read_text())
    for name in DELEGATED:
        outcomes = {c["outcome"] for c in report["functions"][name]["cases"]}
        assert "delegated" in outcomes, (name, outcomes)


def test_a_broken_file_and_forged_frames_cost_only_their_own_functions(hostile_class):
    _only_these_lost(hostile_class, "saboteur", UNPARSED + FORGED)
    report = json.loads((hostile_class["paths"].reports / "saboteur.json").read_text())
    for name in UNPARSED:
        case = report["functions"][name]["cases"][0]
        assert "SyntaxError" in case["message"] + case["hint"], (name, case)
    for name in FORGED:
        assert not any(c["passed"] for c in report["functions"][name]["cases"]), name


def test_a_forked_worker_cannot_reach_the_next_one_the_zygote_or_another_composition(
        hostile_class):
    _only_these_lost(hostile_class, "escaper", ESCAPED + ESCAPED_WITH_FORWARD)
    report = json.loads((hostile_class["paths"].reports / "escaper.json").read_text())
    assert report["sandboxed"] is True
    for name in ESCAPED:  # a wrong answer, not a crash: the worker was not harmed either
        outcomes = {c["outcome"] for c in report["functions"][name]["cases"]}
        assert "wrong" in outcomes and "budget" not in outcomes, (name, outcomes)


def test_exercises_are_judged_outside_the_kernel(hostile_class):
    """A kernel that turns every exercise cell into ``pass`` and fakes the probe gets nothing
    for the exercises (and is reported); the honest student's answers get every point."""
    from grader.checks.exercises import EXERCISES

    h = hostile_class
    scores = _scores(h["paths"])
    for gid in EXERCISES:
        assert scores["transformer"][gid] == 0, gid
        assert scores["honest"][gid] > 0, gid
    assert "transformer: test_" in h["autograde"].stdout, h["autograde"].stdout
    assert "possible tampering" in h["autograde"].stdout
    page = (h["paths"].feedback / "transformer" / "convnets" / "02_local_connectivity.html")
    assert "exercise: failed" in page.read_text()


def test_pasted_provided_code_scores_zero_and_says_why(hostile_class):
    scores = _scores(hostile_class["paths"])
    assert scores["paster"]["check_conv_forward_naive"] == 0
    report = json.loads((hostile_class["paths"].reports / "paster.json").read_text())
    cases = report["functions"]["conv_forward_naive"]["cases"]
    assert [c["outcome"] for c in cases] == ["copied"]
    assert "conv_fast.conv_forward_fast" in cases[0]["hint"]


def test_an_overrunning_submission_keeps_its_library_points(hostile_class):
    scores = _scores(hostile_class["paths"])
    library = {registry.get(n).grade_id for n in registry.names()}
    for cell in library:  # the reference library, graded before the notebooks overran
        assert scores["sleeper"][cell] == scores["honest"][cell], cell


def _solution_texts() -> list[str]:
    return [line for path in (ROOT / "cs231n_lib").glob("*.py")
            for line in solution_lines(path.read_text())]


def test_what_students_receive_holds_no_hidden_text_and_no_kernel_markup(hostile_class):
    paths = hostile_class["paths"]
    secrets = secret_texts()
    assert len(secrets) > 40
    pages = {Path(n).with_suffix(".html").name for n in paths.assignment_files()
             if n.endswith(".ipynb")} | {"library_checks.html"} | set(EXCHANGE_FILES)
    solutions = _solution_texts()
    for name in hostile_class["names"]:
        folder = paths.feedback / name / "convnets"
        assert {p.name for p in folder.iterdir()} <= pages, name
        stub_based = (ATTACKS / name / "base").read_text().strip() == "stubs"
        for page in folder.iterdir():
            text = page.read_text(errors="replace")
            for secret in secrets + (solutions if stub_based else []):
                assert secret not in text, (name, page.name, secret)
            # the cell's source is shown (escaped); its rendered markup and script are not
            assert "<script>window.PWNED" not in text and "<b onclick" not in text
            assert "FLOODER-HTML</b>" not in text
    flooded = (paths.feedback / "flooder" / "convnets" / "00_history.html").read_text()
    assert len(flooded) < 2_000_000  # the 3 MB print was capped
    for name in ("honest", "sleeper"):  # the sleeper's notebooks overran: its library did not
        page = paths.feedback / name / "convnets" / "03_parameter_sharing.html"
        assert VERDICT_MARKER in page.read_text(), name


def test_stock_nbgrader_autograde_refuses_and_changes_nothing(hostile_class):
    h = hostile_class
    assert h["stock"].returncode != 0
    assert "cs231n-grader autograde" in h["stock"].stdout + h["stock"].stderr
    assert _scores(h["paths"]) == h["scores_before_stock"]


def test_grading_refuses_without_the_sandbox(hostile_class, tmp_path):
    """No bubblewrap on PATH: autograde stops before grading anyone (and says how to opt out)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    env = {**os.environ, "PATH": f"{fake_bin}:/nonexistent"}
    python = shutil.which("python3", path=os.path.dirname(sys.executable)) or sys.executable
    proc = subprocess.run([python, "-m", "grader", "autograde", "--course",
                           str(hostile_class["paths"].root), "--student", "honest"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--allow-unsandboxed" in proc.stderr


def test_a_sandbox_that_breaks_mid_run_stops_grading_and_loses_no_grade(hostile_class, bwrap,
                                                                          tmp_path):
    """bubblewrap passes the start-of-run check, then cannot start a worker: autograde stops,
    says why, and the gradebook keeps every grade it had (no student scored on a sandbox that
    failed, none zeroed)."""
    paths = hostile_class["paths"]
    before = _scores(paths)
    wrapper = breaking_bwrap(tmp_path / "bin", bwrap)
    env = {**os.environ, "PATH": f"{wrapper.parent}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "grader", "autograde", "--course",
                           str(paths.root), "--student", "untouched"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "sandbox stopped working while grading untouched" in out, out
    assert "not graded, grades unchanged: the sandbox broke during grading" in out, out
    assert "1 student not graded" in out, out
    assert _scores(paths) == before
