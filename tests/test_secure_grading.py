"""Grading a whole library out of process: reference full, stubs zero, mutants lose exactly
their own function, and hidden-case feedback carries no submission-controlled text."""

from __future__ import annotations

import pytest

from grader.checks import registry
from grader.mutants import (
    by_name,
    make_reference_submission,
    make_stub_submission,
    make_submission,
)
from grader.sandbox.library import grade_library


def _lost(report) -> set[str]:
    return set(report.failed())


@pytest.fixture(scope="module")
def reference_report(tmp_path_factory):
    return grade_library(make_reference_submission(tmp_path_factory.mktemp("ref")))


def test_reference_gets_every_point(reference_report, bwrap):
    assert _lost(reference_report) == set()
    assert reference_report.score == registry.total_points()
    assert "bubblewrap" in reference_report.sandbox
    # hidden cases were graded too, not only the visible ones
    for name, fn in reference_report.functions.items():
        assert any(c.hidden for c in fn.cases), name


def test_stub_release_gets_nothing(tmp_path):
    report = grade_library(make_stub_submission(tmp_path))
    assert _lost(report) == set(registry.names())
    visible = [c for f in report.functions.values() for c in f.cases if not c.hidden]
    assert any("not written yet" in c.message for c in visible)


@pytest.mark.parametrize(
    "mutant", ["conv_no_padding", "maxpool_grad_all_ties", "col2im_assigns", "update_on_correct",
               "res_projection_missing_on_stride"]
)
def test_mutant_loses_only_its_function(tmp_path, mutant):
    report = grade_library(make_submission(tmp_path, mutant))
    m = by_name(mutant)
    assert set(m.checks) <= _lost(report)
    # nothing outside the mutated module loses points (honest functions still score)
    assert all(registry.get(n).module.endswith("." + m.module) for n in _lost(report)), (
        _lost(report)
    )


def test_hidden_case_messages_carry_no_submission_text(tmp_path):
    lib = make_reference_submission(tmp_path) / "cs231n_lib" / "conv_naive.py"
    lib.write_text(lib.read_text() + '''

def conv_forward_naive(x, w, b, conv_param):
    raise ValueError("LEAK " + repr(x.ravel()[:4].tolist()) + repr(conv_param))
''')
    report = grade_library(tmp_path, names=["conv_forward_naive"])
    cases = report.functions["conv_forward_naive"].cases
    hidden = [c for c in cases if c.hidden]
    visible = [c for c in cases if not c.hidden]
    assert hidden and not any(c.passed for c in hidden)
    assert all("LEAK" not in str(c) for c in hidden)
    # hidden cases are named by number only: no geometry, no configuration
    assert [c.label for c in hidden] == [f"hidden case {k} of {len(hidden)}"
                                         for k in range(1, len(hidden) + 1)]
    assert all(not c.message and not c.note and c.max_error is None for c in hidden)
    assert any("LEAK" in c.message for c in visible)  # visible inputs are public anyway


def test_a_report_survives_its_json_round_trip(reference_report):
    from grader.checks.report import LibraryReport

    again = LibraryReport.from_json(reference_report.to_json())
    assert again == reference_report


def test_a_broken_learner_file_costs_only_its_own_functions(tmp_path):
    """A syntax error in conv_naive.py zeroes conv_naive's functions and nothing else: other
    modules take their validation from ``_validate``, never from a learner file."""
    sub = make_reference_submission(tmp_path)
    (sub / "cs231n_lib" / "conv_naive.py").write_text("def conv_forward_naive(:\n")
    report = grade_library(sub)
    lost = _lost(report)
    assert {"conv_forward_naive", "conv_backward_naive"} <= lost
    assert all(registry.get(n).module == "cs231n_lib.conv_naive" for n in lost), lost


def test_a_function_cannot_reach_another_functions_composition_or_worker(tmp_path, bwrap):
    """The escaper of tests/adversarial/class/ (its appended attacks), graded in one zygote:
    conv_forward_naive cannot read the real conv_fast.py of the other compositions (found,
    it would pass), and what perceptron_predict plants, patches and strikes costs only it
    (and conv_backward_naive, whose recipe runs the wrong forward first)."""
    from pathlib import Path

    attack = Path(__file__).resolve().parent / "adversarial" / "class" / "escaper" / "append"
    sub = make_reference_submission(tmp_path)
    for path in sorted(attack.rglob("*.py")):
        target = sub / path.relative_to(attack)
        target.write_text(target.read_text() + path.read_text())
    names = ["perceptron_predict", "perceptron_update", "conv_forward_naive",
             "conv_backward_naive", "conv_forward_im2col", "max_pool_forward_naive",
             "affine_forward", "relu_forward"]
    report = grade_library(sub, names=names)
    assert report.sandboxed
    assert _lost(report) == {"perceptron_predict", "conv_forward_naive", "conv_backward_naive"}
    for name in ("perceptron_predict", "conv_forward_naive"):
        outcomes = {c.outcome.value for c in report.functions[name].cases}
        assert "wrong" in outcomes, (name, outcomes)
