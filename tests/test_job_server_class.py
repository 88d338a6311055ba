"""A class graded with the job fork server gets exactly the gradebook of the ``python -I``
jobs: two students (reference, one bug), ``--jobs 2``, once with the server (every job
forked by it, no fallback) and once without (:data:`grader.course.job_runner.FORK_SERVER`
off), each in a course of its own so that neither run can pass by leaving the other's
grades in place.
"""

from __future__ import annotations

import pytest
from grading_helpers import assert_same_results, gradebook_grades

from grader.course import autograde as autograde_mod
from grader.course import job_runner
from grader.course.autograde import autograde
from grader.course.collect import collect
from grader.course.demo import SampleStudent, make_sample_submission
from grader.course.release import build_release

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("job_server")]

CLASS = [
    SampleStudent("ref", "reference", "reference"),
    SampleStudent("mut", "one bug", "mutants", ("maxpool_grad_all_ties",)),
]


def _graded(root, monkeypatch, forked: bool):
    monkeypatch.setattr(job_runner, "FORK_SERVER", forked)
    launches: dict[str, str] = {}
    real = job_runner._run_job_process

    def recording(spec, budget, server=None):
        result = real(spec, budget, server)
        launches[spec.student] = result.get("launch", "") + result.get("launch_fallback", "")
        return result

    monkeypatch.setattr(autograde_mod, "_run_job_process", recording)
    name = "forked" if forked else "python"
    paths = build_release(root / name)
    subs = [make_sample_submission(paths, who, root / f"inbox-{name}" / who.student)
            for who in CLASS]
    assert all(r.ok for r in collect(paths, subs))
    results = {r.student: r for r in autograde(paths.root, jobs=2, progress=False)}
    return paths, results, launches


def test_the_fork_server_grades_a_class_exactly_as_python_I_jobs(tmp_path_factory, bwrap,
                                                                  monkeypatch):
    root = tmp_path_factory.mktemp("job_server")
    forked_paths, forked, forked_launch = _graded(root, monkeypatch, True)
    plain_paths, plain, plain_launch = _graded(root, monkeypatch, False)
    assert forked_launch == {w.student: job_runner.LAUNCH_FORK for w in CLASS}
    assert plain_launch == {w.student: job_runner.LAUNCH_PYTHON for w in CLASS}
    for results in (forked, plain):
        assert all(r.notebooks_ok and not r.problems for r in results.values()), results
        assert results["ref"].score > results["mut"].score > 0
    grades = gradebook_grades(forked_paths.root)
    assert set(grades) == {w.student for w in CLASS} and all(grades.values())
    assert grades == gradebook_grades(plain_paths.root)
    assert_same_results(forked, plain)
