"""The student release runs top to bottom before a learner has written anything.

Every notebook of the release executes with nbclient from the release folder (so the
stubbed ``cs231n_lib`` is the one imported). Errors may come only from graded test cells
(``AssertionError`` from ``grade()``, or the stub's ``NotImplementedError`` / a name an
unanswered exercise did not define) and from nbgrader's own solution stubs; every other
cell, explorer and figure must run, and the check cells must say "not written yet".
"""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

from grader.checks import registry
from grader.course.release import build_release

pytestmark = [pytest.mark.slow, pytest.mark.notebooks, pytest.mark.xdist_group("student_nb")]

COURSE = (
    "00_history", "01_fc_vs_conv", "02_local_connectivity", "03_parameter_sharing",
    "04_im2col", "05_pooling", "06_fc_to_conv", "07_architectures", "08_training",
    "09_modern_blocks",
)
GRADE_CELL_ERRORS = {"AssertionError", "NotImplementedError", "NameError"}
SOLUTION_CELL_ERRORS = {"NotImplementedError"}


# Session scope: xdist may interleave modules on a worker, which would rebuild it.
@pytest.fixture(scope="session")
def release(tmp_path_factory):
    return build_release(tmp_path_factory.mktemp("student") / "course").release


@pytest.mark.parametrize("name", COURSE)
def test_student_notebook_runs_to_the_end(release, name):
    nb = nbformat.read(release / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(release)}},
    )
    client.execute()
    unexpected, said_not_written = [], False
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        for out in cell.outputs:
            text = "".join(out.get("text", "")) if out.output_type == "stream" else ""
            said_not_written |= "not written yet" in text
            if out.output_type != "error":
                continue
            if meta.get("grade") and not meta.get("solution"):
                allowed = GRADE_CELL_ERRORS
            elif meta.get("solution"):
                allowed = SOLUTION_CELL_ERRORS
            else:
                allowed = set()
            if out.ename not in allowed:
                unexpected.append(f"cell {index}: {out.ename}: {out.evalue}\n{cell.source[:200]}")
    assert not unexpected, "\n\n".join(unexpected)
    # Notebooks without a library exercise of their own (01, 07) run no stub: they use only
    # exercises of earlier notebooks (tests/test_notebooks.py walks that order).
    if any(Path(registry.get(fn).notebook).stem == name for fn in registry.names()):
        assert said_not_written, "no check cell told the learner what is not written yet"
