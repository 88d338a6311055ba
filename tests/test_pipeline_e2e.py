"""End to end with the real nbgrader and a real SQLite gradebook.

One small class goes through release → collect → autograde (2 jobs, sandboxed kernels) →
feedback → export: the reference gets every automatic point, the untouched release gets
zero, a mutant loses exactly the points of the functions it breaks, a cheater who patches
the check API in its kernel gets nothing for what it faked (and is reported), the feedback
shows no hidden test, and an interrupted run followed by a new one leaves a consistent
gradebook.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from grading_helpers import secret_texts

from grader.checks import registry
from grader.course import autograde as autograde_mod
from grader.course.autograde import autograde
from grader.course.collect import collect
from grader.course.demo import CHEATED, SampleStudent, make_sample_submission
from grader.course.export import export
from grader.course.feedback import feedback
from grader.course.library_page import REPORT_MARKER, VERDICT_MARKER
from grader.course.release import ASSIGNMENT, build_release
from grader.mutants import by_name

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]

MUTANT = "maxpool_grad_all_ties"
CLASS = [
    SampleStudent("ref", "reference", "reference"),
    SampleStudent("stub", "untouched", "stubs", notebooks="release"),
    SampleStudent("mut", "one bug", "mutants", (MUTANT,)),
    SampleStudent("eve", "cheater", "cheater"),
]


# Session scope: xdist may interleave modules on a worker, which would rebuild it.
@pytest.fixture(scope="session")
def graded(tmp_path_factory, bwrap):
    root = tmp_path_factory.mktemp("e2e")
    paths = build_release(root / "course")
    inbox = root / "inbox"
    subs = [make_sample_submission(paths, who, inbox / who.student) for who in CLASS]
    assert all(r.ok for r in collect(paths, subs))
    results = {r.student: r for r in autograde(paths.root, jobs=2, progress=False)}
    return paths, results


def _lost(result) -> set[str]:
    return set(result.library.failed())


def test_reference_gets_every_automatic_point(graded):
    _, results = graded
    ref = results["ref"]
    assert ref.notebooks_ok, ref.notebook_log
    assert _lost(ref) == set()
    assert ref.score == pytest.approx(ref.max_score - ref.manual_pending)
    assert ref.manual_pending > 0  # written answers wait for the instructor
    assert not ref.disagreements
    assert "bubblewrap" in ref.library.sandbox


def test_untouched_release_gets_zero(graded):
    _, results = graded
    assert results["stub"].score == 0
    assert _lost(results["stub"]) == set(registry.names())


def test_mutant_loses_exactly_its_functions(graded):
    _, results = graded
    mut, ref = results["mut"], results["ref"]
    lost = _lost(mut)
    assert lost == set(by_name(MUTANT).checks)
    assert ref.score - mut.score == pytest.approx(sum(registry.points(n) for n in lost))


def test_cheater_scores_nothing_for_what_it_faked_and_is_reported(graded):
    paths, results = graded
    eve = results["eve"]
    assert _lost(eve) == set(CHEATED)
    for name in CHEATED:
        assert any(name in line and "possible tampering" in line for line in eve.disagreements)
    # the gradebook holds the secure score, not the faked in-kernel one
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{paths.gradebook}") as gb:
        for name in CHEATED:
            grade = gb.find_grade(registry.get(name).grade_id, "03_parameter_sharing",
                                  ASSIGNMENT, "eve")
            assert grade.score == 0


def test_feedback_has_no_hidden_tests_and_carries_library_report(graded):
    paths, _ = graded
    written = feedback(paths.root)
    assert {p.parent.name for p in written} == {w.student for w in CLASS}
    hidden_sources = secret_texts()
    assert hidden_sources, "the course has hidden tests to protect"
    for html in (paths.feedback / "ref" / ASSIGNMENT).glob("*.html"):
        text = html.read_text()
        for line in hidden_sources:
            assert line not in text, (html.name, line)
    page = (paths.feedback / "mut" / ASSIGNMENT / "library_checks.html").read_text()
    to_fix = page.split("To fix")[1].split("Passed (")[0]
    assert "max_pool_backward_naive" in to_fix
    # the verdict reaches the student inside the notebook page nbgrader delivers
    pooling = (paths.feedback / "mut" / ASSIGNMENT / "05_pooling.html").read_text()
    assert VERDICT_MARKER in pooling and "max_pool_backward_naive" in pooling
    assert sorted(p.name for p in (paths.feedback / "mut" / ASSIGNMENT).iterdir()) == sorted(
        [Path(n).with_suffix(".html").name for n in paths.assignment_files()
         if n.endswith(".ipynb")] + ["library_checks.html", "timestamp.txt"])
    # the whole-library report reaches a JupyterHub student at the top of the notebook pages
    history = (paths.feedback / "mut" / ASSIGNMENT / "00_history.html").read_text()
    top = history.split(REPORT_MARKER, 1)[1].split("Passed (")[0]
    assert "To fix" in top and "max_pool_backward_naive" in top


def test_export_has_one_row_per_student(graded, tmp_path):
    paths, results = graded
    out = export(paths.root, tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(out.open())}
    assert set(rows) == set(results)
    for student, result in results.items():
        assert float(rows[student]["total"]) == pytest.approx(result.score, abs=0.01)
        notebook_sum = sum(float(v) for k, v in rows[student].items() if k[:2].isdigit())
        assert notebook_sum == pytest.approx(result.score, abs=0.05)


def test_interrupted_run_then_rerun_is_consistent(graded, monkeypatch):
    """Kill the coordinator after it merged one student; a new run restores everything."""
    paths, results = graded
    before = {s: r.score for s, r in results.items()}
    real_merge = autograde_mod.merge_job
    calls = {"n": 0}

    def dying_merge(p, job):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as if the instructor pressed Ctrl-C mid-run
        return real_merge(p, job)

    monkeypatch.setattr(autograde_mod, "merge_job", dying_merge)
    with pytest.raises(KeyboardInterrupt):
        autograde(paths.root, students=["mut", "ref"], jobs=2, progress=False)
    monkeypatch.setattr(autograde_mod, "merge_job", real_merge)
    again = {r.student: r.score for r in autograde(paths.root, students=["mut", "ref"],
                                                   jobs=2, progress=False)}
    assert again == {s: before[s] for s in ("mut", "ref")}
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{paths.gradebook}") as gb:
        assert {s.id for s in gb.students} == set(before)
        for student, score in before.items():
            assert gb.find_submission(ASSIGNMENT, student).score == pytest.approx(score)
