"""The notebook check API and the comparison/diagnosis it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.checks import compare, expected, registry, visible
from grader.mutants import make_stub_submission, make_submission, swapped_library

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _primed():
    expected.prime()  # reference values computed before any library swap


def _tree_with(tmp_path: Path, module: str, extra: str) -> Path:
    make_submission(tmp_path, [])
    path = tmp_path / "cs231n_lib" / f"{module}.py"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")
    return tmp_path


def test_reference_passes_and_prints_error_and_tolerance(capsys):
    report = visible.check("conv_forward_naive", reload=False)
    out = capsys.readouterr()
    assert report.passed and report.score() == registry.points("conv_forward_naive")
    assert "PASS conv_forward_naive/fixed/pad1: max error" in out.out
    assert f"tolerance {registry.get('conv_forward_naive').tolerance}" in out.out
    assert out.err == ""


def test_check_all_passes_on_the_reference(capsys):
    report = visible.check(reload=False)
    assert report.passed, report.text()
    assert set(report.passed_names()) == set(registry.SPECS)
    assert "cases passed - all good!" in capsys.readouterr().out


def test_unknown_name_lists_known_names(capsys):
    report = visible.check("conv_foward_naive")
    assert not report.passed
    out = capsys.readouterr().out
    assert "no check named 'conv_foward_naive'" in out and "conv_forward_naive" in out
    with pytest.raises(AssertionError, match="no check named"):
        visible.grade("conv_foward_naive")


def test_grade_passes_quietly_and_fails_with_the_diagnosis(tmp_path, capsys):
    visible.grade("max_pool_backward_naive", reload=False)
    make_submission(tmp_path, ["maxpool_grad_all_ties"])
    with swapped_library(tmp_path):
        with pytest.raises(AssertionError, match="every tied maximum"):
            visible.grade("max_pool_backward_naive")
    assert capsys.readouterr().err == ""


def test_grade_ids_and_points_exposed_for_the_pipeline():
    assert visible.GRADE_ID_PREFIX == "check_"
    assert visible.points("conv_backward_naive") == registry.get("conv_backward_naive").points


def test_every_stub_fails_with_not_written_yet(tmp_path):
    make_stub_submission(tmp_path)
    with swapped_library(tmp_path):
        report = visible.check(quiet=True)
    assert report.results
    for _name, res in report.results:
        assert not res.passed, res.case
        assert "not written yet" in res.message, res.line()
    assert report.score() == 0
    text = report.text()
    for name in registry.SPECS:  # one explanation per function, the hint first, said once
        block = text.split(f"== {name} (", 1)[1].split("\n== ", 1)[0]
        assert block.count("not written yet") == 1, block
        assert block.splitlines()[1].startswith(f"FAIL {name}: not written yet - write the body")
        assert "NotImplementedError" in block


def test_grade_cell_says_one_short_line_hint_first(tmp_path, capsys):
    """nbgrader's Validate shows the start of the AssertionError: the hint must lead, once."""
    make_stub_submission(tmp_path / "stub")
    with swapped_library(tmp_path / "stub"):
        with pytest.raises(AssertionError) as stub:
            visible.grade("spatial_batchnorm_forward")
    text = str(stub.value)
    assert text.startswith("spatial_batchnorm_forward: not written yet - write the body of "
                           "spatial_batchnorm_forward; see 09_modern_blocks.ipynb")
    assert text.count("not written yet") == 1 and len(text) < 200
    make_submission(tmp_path / "flip", ["conv_kernel_flipped"])
    with swapped_library(tmp_path / "flip"):
        with pytest.raises(AssertionError) as flip:
            visible.grade("conv_forward_naive")
    assert str(flip.value).startswith("conv_forward_naive: hint: the kernel is flipped")
    assert "\n" not in str(flip.value)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # no second table: the check cell printed it
    visible.grade("conv_forward_naive", reload=False)
    assert capsys.readouterr().out.strip() == "conv_forward_naive: all 8 visible cases passed"


def test_no_padding_written_from_the_stub_is_told_to_pad_on_every_failing_case(tmp_path):
    """Issue 13: the learner keeps the stub's Ho, Wo and forgets to pad; some cases raise a
    broadcast error, stride2_pad1 returns wrong numbers: each gets "did you pad?"."""
    expected.prime(["conv_forward_naive"])
    make_submission(tmp_path, ["conv_no_padding"])
    with swapped_library(tmp_path):
        report = visible.run("conv_forward_naive")
    failed = {r.case.split("/", 2)[2]: r for r in report.failures()}
    assert "stride2_pad1" in failed and "plain" not in failed  # pad 0 is right
    assert any("broadcast" in r.message for r in failed.values())
    assert all(r.hint.startswith("did you pad?") for r in failed.values()), [
        (k, r.hint) for k, r in failed.items()]


def test_check_never_raises_on_broken_code(tmp_path, capsys):
    extra = (
        "def conv_forward_naive(x, w, b, conv_param):\n"
        "    print('x' * 1_000_000)\n"
        "    import sys; sys.stderr.write('noise' * 1000)\n"
        "    return 'not an array', None\n\n"
        "def conv_backward_naive(dout, cache):\n"
        "    raise KeyError('boom')\n"
    )
    _tree_with(tmp_path, "conv_naive", extra)
    with swapped_library(tmp_path):
        fwd = visible.check("conv_forward_naive")
        bwd = visible.check("conv_backward_naive")
    out = capsys.readouterr()
    assert not fwd.passed and not bwd.passed
    assert "expected a numpy array" in fwd.text()
    assert "raised KeyError: 'boom'" in bwd.text()
    assert len(out.out) < 20_000 and "more characters of output not shown" in out.out
    assert out.err == ""


def test_module_that_fails_to_import(tmp_path):
    _tree_with(tmp_path, "pooling", "def broken(:\n")
    with swapped_library(tmp_path):
        report = visible.check("max_pool_forward_naive", quiet=True)
    assert not report.passed
    assert "failed to import: SyntaxError" in report.failures()[0].message


def test_nan_and_dtype_are_reported(tmp_path):
    extra = (
        "def avg_pool_forward_naive(x, pool_param):\n"
        "    out, cache = _ref_avg(x, pool_param)\n"
        "    return out.astype(np.float64) * np.nan, cache\n"
    )
    make_submission(tmp_path, [])
    path = tmp_path / "cs231n_lib" / "pooling.py"
    path.write_text(path.read_text() + "\n_ref_avg = avg_pool_forward_naive\n" + extra)
    with swapped_library(tmp_path):
        report = visible.check("avg_pool_forward_naive", quiet=True)
    messages = " ".join(r.message for r in report.failures())
    assert "NaN/inf" in messages


def test_compare_shape_message_names_the_formula():
    spec = registry.get("conv_forward_naive")
    case = next(c for c in spec.fixed_cases() if c.name.endswith("/pad1"))
    exp = {"out": np.zeros((2, 3, 5, 5))}
    res = compare.compare(spec, case, {"out": np.zeros((2, 3, 3, 3))}, exp)
    assert not res.passed
    assert res.message == "out shape (2, 3, 3, 3), expected (2, 3, 5, 5)"
    assert res.hint.startswith("did you pad?")


def test_compare_dtype_first_index_and_exceptions():
    spec = registry.get("conv_forward_naive")
    case = next(c for c in spec.fixed_cases() if c.params.get("dtype") == "float32")
    e = np.ones((2, 2, 6, 6), dtype=np.float32)
    res = compare.compare(spec, case, {"out": e.astype(np.float64)}, {"out": e})
    assert "dtype float64, expected float32" in res.message
    g = e.copy()
    g[1, 0, 2, 3] = 5
    res = compare.compare(spec, case, {"out": g}, {"out": e})
    assert "first at index (1, 0, 2, 3)" in res.message and res.max_error == pytest.approx(4)
    assert res.tolerance == registry.F32  # float32 tolerance from the one table
    res = compare.compare(spec, case, compare.SubmissionError("ZeroDivisionError", "x"), None)
    assert not res.passed and "raised ZeroDivisionError" in res.message
    res = compare.compare(spec, case, {"other": e}, {"out": e})
    assert "missing output 'out'" in res.message


def test_compare_never_raises_on_garbage():
    spec = registry.get("max_pool_backward_naive")
    case = spec.fixed_cases()[0]
    for got in ({"dx": np.array("text")}, 42, {"dx": np.zeros((1,))}):
        res = compare.compare(spec, case, got, {"dx": np.zeros((2, 3, 4, 4))})
        assert not res.passed


def test_check_in_a_fresh_interpreter_on_a_mutant_tree(tmp_path):
    """The learner's situation: a separate kernel whose cs231n_lib is the submission."""
    make_submission(tmp_path, ["conv_kernel_flipped"])
    data = tmp_path / "exp.npz"
    expected.write(data, ["conv_forward_naive"])
    code = (
        "from grader.checks import expected, visible\n"
        f"expected.DATA = __import__('pathlib').Path({str(data)!r})\n"
        "r = visible.check('conv_forward_naive')\n"
        "import cs231n_lib; print('LIB', cs231n_lib.__file__)\n"
        "print('PASSED', r.passed)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"LIB {tmp_path}" in proc.stdout
    assert "PASSED False" in proc.stdout
    assert "hint: the kernel is flipped" in proc.stdout
    assert proc.stderr == ""


def test_secure_runner_results_are_adapted_for_compare():
    from types import SimpleNamespace as NS

    spec = registry.get("conv_output_size")
    bad = next(c for c in spec.fixed_cases() if c.expect_error)
    run = NS(ok=False, outputs=None, kind="exception", error="ValueError: 2.33 is not whole")
    assert compare.compare(spec, bad, compare.got_from_run(run), None).passed
    stub = NS(ok=False, outputs=None, kind="exception",
              error="NotImplementedError: conv_output_size: not written yet; see nb")
    res = compare.compare(spec, spec.fixed_cases()[0], compare.got_from_run(stub), {})
    assert "not written yet" in res.message
    timeout = NS(ok=False, outputs=None, kind="timeout", error="took 10 s")
    res = compare.compare(spec, spec.fixed_cases()[0], compare.got_from_run(timeout), {})
    assert "raised Timeout" in res.message and "endless loop" in res.hint
    ok = NS(ok=True, outputs={"size": np.array(5)}, kind="ok", error=None)
    res = compare.compare(spec, spec.fixed_cases()[0], compare.got_from_run(ok),
                          {"size": np.array(5)})
    assert res.passed
    assert res.as_dict()["name"] == res.case and res.as_dict()["tolerance"] == "exact"
    assert compare.all_passed_points(spec, [res]) == spec.points
    assert compare.all_passed_points(spec, [res, compare.CaseResult("x", False, None, "", "")]) == 0


def test_check_picks_up_an_edited_module(tmp_path):
    """A learner edits the file between two check() calls in one kernel."""
    import time

    from grader.mutants import by_name, mutant_source

    make_submission(tmp_path, [])
    with swapped_library(tmp_path):
        assert visible.check("fc_to_conv", quiet=True).passed
        path = tmp_path / "cs231n_lib" / "fc_conv.py"
        time.sleep(0.01)
        path.write_text(mutant_source(by_name("fc_to_conv_not_transposed"), path.read_text()))
        report = visible.check("fc_to_conv", quiet=True)
    assert not report.passed
    assert "not transposed" in report.failures()[0].hint
