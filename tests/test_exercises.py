"""Notebook exercises judged on probed values: encoding, hostile decoding, judging, the probe
preprocessors, and the notebooks' exercise cells."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader.checks import exercises as E
from grader.course import exercise_probes as P
from grader.course.hidden_exercises import HIDDEN


def _run_probe(grade_id: str, namespace: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(P.probe_source(grade_id), namespace)  # noqa: S102 - test namespace
    return out.getvalue()


def _valid_strides(W, F, P=0):
    span = W + 2 * P - F
    return [s for s in range(1, span + 1) if span % s == 0]


@pytest.mark.parametrize("value", [
    3, 2.5, True, None, "text", [1, [2, 3]], (4, 5), np.float32(1.5), np.int64(7),
    np.arange(6).reshape(2, 3), np.array([[True, False]]), np.linspace(0, 1, 5),
])
def test_values_round_trip(value):
    back = E.decode(json.loads(json.dumps(E.encode(value))))
    if isinstance(value, np.ndarray):
        assert isinstance(back, np.ndarray) and back.shape == value.shape
        assert np.array_equal(back, value)
    elif isinstance(value, tuple):
        assert back == list(value)
    else:
        assert back == value and type(back) is type(value.item() if hasattr(value, "item")
                                                    else value)


def test_non_finite_and_unknown_values():
    assert np.isnan(E.decode(E.encode(float("nan"))))
    assert E.decode(E.encode(np.array([np.inf])))[0] == np.inf
    assert E.decode(E.encode(object())) == {"__type__": "object"}
    assert E.decode(E.encode(np.zeros(3, dtype=complex)))["__type__"].startswith("ndarray")


@pytest.mark.parametrize("data", [
    {"__ndarray__": [1, 2, 3], "shape": [2, 2], "kind": "f"},      # shape lies
    {"__ndarray__": [1], "shape": [1], "kind": "O"},              # object dtype
    {"__ndarray__": ["x"], "shape": [1], "kind": "f"},            # not a number
    {"__ndarray__": [1], "shape": [-1], "kind": "f"},
    {"__ndarray__": [1], "shape": [True], "kind": "f"},
    {"__raised__": 3},
    {"anything": 1},
    "x" * (E.MAX_STRING + 1),
    [0] * (E.MAX_ITEMS + 1),
])
def test_decode_rejects_what_encode_cannot_send(data):
    with pytest.raises(ValueError):
        E.decode(data)


def test_decode_rejects_deep_nesting():
    data: list = []
    for _ in range(E.MAX_DEPTH + 3):
        data = [data]
    with pytest.raises(ValueError, match="deep"):
        E.decode(data)


@pytest.mark.parametrize("text", [
    "", "no marker here",
    E.MARKER + "{not json",
    E.MARKER + json.dumps({"grade_id": "test_counts"}),
    E.MARKER + json.dumps({"grade_id": 1, "values": []}),
    E.MARKER + "[]\n" + E.MARKER + "[]",                          # two lines: ambiguous
])
def test_parse_line_refuses_malformed_output(text):
    with pytest.raises(ValueError):
        E.parse_line(text)


def test_judge_reports_visible_by_expression_and_hidden_by_number_only():
    visible = (E.Probe("f(1)", lambda v: v == 1, "one in, one out"),)
    hidden = (E.Probe("f(secret_geometry_17)", lambda v: v == 2),
              E.Probe("f(3)", lambda v: v == 3))
    result = E.judge("test_x", visible, hidden, [0, 2, E.Raised("NotImplementedError")])
    assert not result.passed
    assert result.lines[0] == "f(1) gave 0: one in, one out"
    assert result.lines[1:] == ["hidden check 2 of 2 failed"]
    assert "secret_geometry_17" not in " ".join(result.lines)
    assert E.judge("test_x", visible, hidden, [1, 2, 3]).passed
    # a wrong number of values (a kernel that tampered with the probe) fails everything
    assert not E.judge("test_x", visible, hidden, [1, 2]).passed
    assert not E.judge("test_x", visible, hidden, None).passed


def test_a_predicate_that_raises_fails_quietly():
    probe = E.Probe("x", lambda v: v["key"] > 0)
    assert not E.judge("t", (probe,), (), [[1, 2]]).passed


def test_every_exercise_has_hidden_probes_and_nothing_hidden_ships():
    assert set(HIDDEN) <= set(E.EXERCISES)
    shipped = open(E.__file__).read()
    for text in P.hidden_texts():
        if text not in {p.expr for probes in E.EXERCISES.values() for p in probes}:
            assert text not in shipped, text


def test_probe_cell_of_a_correct_answer_passes_and_of_a_stub_fails():
    ns = {"valid_strides": _valid_strides}
    result = P._judge_one("test_valid_strides", _run_probe("test_valid_strides", ns))
    assert result.passed, result.lines

    def stub(*args):
        raise NotImplementedError("valid_strides: not written yet")

    result = P._judge_one("test_valid_strides", _run_probe("test_valid_strides",
                                                           {"valid_strides": stub}))
    assert not result.passed
    assert "not written yet" in result.lines[0]


def test_a_kernel_that_fakes_the_visible_answers_still_fails_the_hidden_ones():
    """Hard-coding what the notebook shows is not the work."""
    ns = {"valid_strides": lambda W, F, P=0: [1, 2, 4]}
    result = P._judge_one("test_valid_strides", _run_probe("test_valid_strides", ns))
    assert not result.passed and all(line.startswith("hidden check") for line in result.lines)


def test_values_sent_for_another_exercise_are_not_taken():
    text = _run_probe("test_valid_strides", {"valid_strides": _valid_strides})
    assert not P._judge_one("test_counts", text).passed


def test_check_exercise_in_the_notebook(capsys):
    E.check_exercise("test_valid_strides", {"valid_strides": _valid_strides})
    assert "visible checks pass" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"strides 1, 2 and 4 fit \(and 1 more\)"):
        E.check_exercise("test_valid_strides", {"valid_strides": lambda W, F, P=0: [1, 2, 3, 4]})
    with pytest.raises(ValueError, match="unknown exercise"):
        E.check_exercise("test_nope", {})


def test_preprocessors_insert_then_remove_the_probe_cells(tmp_path):
    nb = nbformat.v4.new_notebook()
    test_cell = nbformat.v4.new_code_cell('check_exercise("test_counts", globals())')
    test_cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test_counts", "points": 1,
                                      "solution": False, "locked": True, "schema_version": 3}
    nb.cells = [nbformat.v4.new_code_cell("fc_64 = 64 * 64 * 3"), test_cell]
    nb, _ = P.InsertExerciseProbes().preprocess(nb, {})
    assert [c.metadata.get(P.PROBE_KEY) for c in nb.cells] == [None, None, "test_counts"]
    probe = nb.cells[2]
    probe.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                            text=_run_probe("test_counts", {"fc_64": 12288,
                                                                            "conv_16": 448}))]
    nb, _ = P.ExtractExerciseProbes(out_dir=str(tmp_path)).preprocess(
        nb, {"unique_key": "01_fc_vs_conv"})
    assert len(nb.cells) == 2 and all(P.PROBE_KEY not in c.metadata for c in nb.cells)
    assert "conv_16" not in json.dumps(nb)
    results = P.judge_probes(tmp_path)
    assert results["test_counts"].passed


def test_judge_probes_survives_hostile_files(tmp_path):
    (tmp_path / "a.json").write_text("{broken")
    (tmp_path / "b.json").write_text("[1, 2]")
    (tmp_path / "c.json").write_text(json.dumps({
        "test_counts": {"stdout": E.MARKER + "[" * 100000, "error": ""},
        "test_max_pools": "a string, not an entry", "test_vgg_xcol": {"stdout": 7, "error": 1},
        "not_an_exercise": {"stdout": "x"}}))
    results = P.judge_probes(tmp_path)
    assert set(results) == {"test_counts", "test_vgg_xcol"}
    assert not any(r.passed or r.interrupted for r in results.values())


def _probe_notebook(outputs: list) -> nbformat.NotebookNode:
    test_cell = nbformat.v4.new_code_cell('check_exercise("test_counts", globals())')
    test_cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test_counts", "points": 1,
                                      "solution": False, "locked": True, "schema_version": 3}
    nb = nbformat.v4.new_notebook()
    nb.cells = [test_cell]
    nb, _ = P.InsertExerciseProbes().preprocess(nb, {})
    nb.cells[1].outputs = outputs
    return nb


def test_an_interrupted_probe_scores_nothing_and_is_not_called_tampering(tmp_path):
    """A cell timeout interrupts the probe cell (nbgrader's Execute interrupts, the kernel
    answers KeyboardInterrupt): no values, so no points, but no ground to flag a passing
    exercise cell as tampering. A probe cell that printed nothing and raised nothing is."""
    from grader.course.merge import secure_scores

    interrupted = _probe_notebook([nbformat.v4.new_output(
        "error", ename="KeyboardInterrupt", evalue="", traceback=[])])
    P.ExtractExerciseProbes(out_dir=str(tmp_path / "a")).preprocess(interrupted, {})
    result = P.judge_probes(tmp_path / "a")["test_counts"]
    assert (result.passed, result.interrupted) == (False, True)
    assert "KeyboardInterrupt" in result.lines[0]
    assert secure_scores(None, {"test_counts": result.as_dict()})["test_counts"] == (
        True, 0.0, 1.0)

    silent = _probe_notebook([])
    P.ExtractExerciseProbes(out_dir=str(tmp_path / "b")).preprocess(silent, {})
    result = P.judge_probes(tmp_path / "b")["test_counts"]
    assert (result.passed, result.interrupted) == (False, False)
    assert secure_scores(None, {"test_counts": result.as_dict()})["test_counts"] == (
        True, 0.0, 0.0)


NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exercise_cells_call_their_check(path):
    """Every ``test_*`` grade cell is an exercise of the table, and calls its check only."""
    seen = set()
    for cell in nbformat.read(path, as_version=4).cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if gid.startswith("test_"):
            assert gid in E.EXERCISES, gid
            assert f'check_exercise("{gid}", globals())' in cell.source
            assert "### BEGIN HIDDEN TESTS" not in cell.source
            seen.add(gid)
    assert seen, f"{path.name} has an exercise cell"


def test_secure_scores_of_exercises():
    """Exercise cells: full points or none from the trusted verdict; the kernel may claim the
    points only when the visible probes pass (its check cannot see the hidden ones)."""
    from grader.course.merge import secure_scores

    verdicts = {"test_counts": {"passed": True, "visible_passed": True},
                "test_max_pools": {"passed": False, "visible_passed": True},
                "test_valid_strides": {"passed": False, "visible_passed": False},
                "test_vgg_xcol": "not a verdict"}
    trusted = secure_scores(None, verdicts)
    assert set(trusted) == set(E.EXERCISES)
    assert trusted["test_counts"] == (True, 1.0, 1.0)
    assert trusted["test_max_pools"] == (True, 0.0, 1.0)
    assert trusted["test_valid_strides"] == (True, 0.0, 0.0)
    assert trusted["test_vgg_xcol"] == trusted["test_and_weights"] == (True, 0.0, 0.0)
    assert secure_scores(None, None) == {}
