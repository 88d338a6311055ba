"""Skipping the demo-only cells changes no grade: the demo class graded with and without it.

The sample class of ``make demo`` (reference, untouched release, a bug, a cheater) is
collected into two courses and graded once with ``fast=True`` and once with ``fast=False``;
every grade in nbgrader's gradebook, every secure library score, every disagreement (the
cheater's tampering report) and every total must be the same.
"""

from __future__ import annotations

import pytest
from grading_helpers import assert_same_results, gradebook_grades

from grader.course.autograde import autograde
from grader.course.collect import collect
from grader.course.demo import CHEATED, SampleStudent, make_sample_submission
from grader.course.fast_autograde import NOTE
from grader.course.release import build_release

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fast_autograde")]

CLASS = [
    SampleStudent("ref", "reference", "reference"),
    SampleStudent("stub", "untouched", "stubs", notebooks="release"),
    SampleStudent("mut", "two bugs", "mutants", ("conv_no_padding", "maxpool_grad_all_ties")),
    SampleStudent("eve", "cheater", "cheater"),
]


def _graded(root, fast: bool):
    paths = build_release(root / ("fast" if fast else "full"))
    subs = [make_sample_submission(paths, who, root / f"inbox-{fast}" / who.student)
            for who in CLASS]
    assert all(r.ok for r in collect(paths, subs))
    results = {r.student: r for r in autograde(paths.root, jobs=2, progress=False, fast=fast)}
    return paths, results


def test_grades_are_identical_with_and_without_skipping(tmp_path_factory, bwrap):
    root = tmp_path_factory.mktemp("fast")
    fast_paths, fast = _graded(root, True)
    full_paths, full = _graded(root, False)
    for results in (fast, full):
        assert all(r.notebooks_ok for r in results.values()), results
        assert results["ref"].score > results["mut"].score > results["stub"].score == 0
        assert any("possible tampering" in d for d in results["eve"].disagreements)
        assert all(results["eve"].library.functions[f].score == 0 for f in CHEATED)
    assert gradebook_grades(fast_paths.root) == gradebook_grades(full_paths.root)
    assert_same_results(fast, full)
    # The skipping happened: the graded notebook carries the note, the full run does not.
    note = NOTE.strip()
    fast_nb = (fast_paths.autograded / "ref").rglob("08_training.ipynb")
    full_nb = (full_paths.autograded / "ref").rglob("08_training.ipynb")
    assert note in next(fast_nb).read_text()
    assert note not in next(full_nb).read_text()
