"""Demo-only cells: declared once by the notebooks' tags, skipped under autograde, safely.

Fast tests here (static rules, the preprocessors on a toy notebook); the slow proof that the
demo class gets the same grades with and without skipping is in test_fast_autograde_class.py.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.course.fast_autograde import (
    DEMO_TAG,
    NOTE,
    RestoreDemoCells,
    SkipDemoCells,
    demo_digests,
    demo_violations,
    source_digest,
    wrap_execute,
)

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _demo(source: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"tags": [DEMO_TAG]})


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_that_runs_needs_a_demo_cell(notebook):
    assert demo_violations(notebook) == []


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_declares_demo_cells_and_no_graded_one(notebook):
    nb = nbformat.read(notebook, 4)
    tagged = [c for c in nb.cells if DEMO_TAG in c.metadata.get("tags", [])]
    assert tagged, f"{notebook.name} declares no demo-only cell"
    assert not [c for c in tagged if c.metadata.get("nbgrader") or c.cell_type != "code"]


def test_the_expensive_demonstrations_are_declared():
    """The training run, the naive-vs-fast timings and the widgets are the cost (issue 12)."""
    nb = nbformat.read(NOTEBOOKS[8], 4)  # 08_training
    tagged = [c.source for c in nb.cells if DEMO_TAG in c.metadata.get("tags", [])]
    assert any("Solver(" in s and "train()" in s for s in tagged)
    widgets = [c for path in NOTEBOOKS for c in nbformat.read(path, 4).cells
               if "interact" in c.source and "ipywidgets" in c.source]
    assert widgets and all(DEMO_TAG in c.metadata.get("tags", []) for c in widgets)


def test_violations_name_the_cell_and_the_name(tmp_path):
    nb = new_notebook(cells=[
        new_code_cell("import numpy as np"),
        _demo("trained = np.ones(3)\nstats = {}"),
        new_code_cell("print(trained.sum())"),
        _demo("stats['x'] = 1"),
        new_code_cell("def f():\n    return stats"),
        new_code_cell("trained = 2"),  # rebinds it: later reads are fine
        new_code_cell("x = 1", metadata={"tags": [DEMO_TAG], "nbgrader": {"grade": True}}),
        new_code_cell("print(trained)"),
    ])
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    problems = demo_violations(path)
    assert problems == ["cell 2 reads 'trained', bound by demo-only cell 1",
                        "cell 4 reads 'stats', bound by demo-only cell 3",
                        "cell 6 is graded (nbgrader metadata) but tagged demo-only"]


def test_wrap_execute_puts_skip_before_and_restore_after_execute():
    pps = ["a.Sanitize", "nbgrader.preprocessors.Execute", "b.Save"]
    wrapped = wrap_execute(pps)
    assert wrapped[0] == "a.Sanitize" and wrapped[2] == pps[1] and wrapped[-1] == "b.Save"
    assert wrapped[1].endswith("SkipDemoCells") and wrapped[3].endswith("RestoreDemoCells")
    with pytest.raises(ValueError, match="exactly one"):
        wrap_execute(["a.Sanitize"])


def test_only_the_instructors_demo_cells_are_skipped(tmp_path):
    """The submission's own tags count for nothing: only the source's digests do."""
    source = new_notebook(cells=[_demo("print('demo')"), new_code_cell("print('graded')")])
    (tmp_path / "src").mkdir()
    nbformat.write(source, tmp_path / "src" / "n.ipynb")
    digests = demo_digests(tmp_path / "src")
    assert digests == [source_digest("print('demo')")]

    submitted = new_notebook(cells=[
        new_code_cell("print('demo')"),                  # untagged copy: still skipped
        _demo("print('graded')"),                        # student's tag: ignored
        _demo("print('demo')  # edited"),                # edited demo cell: runs
        new_code_cell("print('demo')", metadata={"nbgrader": {"grade": True}}),  # graded: runs
    ])
    resources: dict = {}
    nb, resources = SkipDemoCells(digests=digests).preprocess(submitted, resources)
    assert [c.source for c in nb.cells] == [
        "", "print('graded')", "print('demo')  # edited", "print('demo')"]
    nb, resources = RestoreDemoCells().preprocess(nb, resources)
    assert nb.cells[0].source == "print('demo')"
    assert nb.cells[0].outputs[0]["text"] == NOTE
    assert all(not c.get("outputs") for c in nb.cells[1:])
    assert SkipDemoCells().enabled and RestoreDemoCells().enabled  # nbconvert's default: off


def test_arguments_are_validated(tmp_path):
    with pytest.raises(TypeError, match="str"):
        source_digest(b"x")
    with pytest.raises(ValueError, match="not a directory"):
        demo_digests(tmp_path / "missing")
