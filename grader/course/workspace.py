"""A self-study workspace: the student release, ready for JupyterLab, outside any course dir."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from grader.course.release import build_release

WORKSPACE_README = """\
# CS231n convolutional networks: your workspace

1. `jupyter lab` here, open `00_history.ipynb`, and work through the notebooks in order.
2. Each notebook names the `cs231n_lib/*.py` functions to write. Until you write one, calling
   it raises `NotImplementedError` that tells you which notebook explains it.
3. `python -m grader check` prints a PASS/FAIL table of every visible check, with the
   measured error, the tolerance and a hint for each failure;
   `python -m grader check conv_forward_naive` checks one function.
"""


def make_student_workspace(out: Path, *, force: bool = False) -> Path:
    """Build the student release in a scratch course dir and copy it to ``out``.

    Raises:
        ValueError: ``out`` exists and is not empty (pass ``force=True`` to replace it).
    """
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ValueError(f"{out} exists and is not empty; use --force to replace it")
        shutil.rmtree(out)
    with tempfile.TemporaryDirectory(prefix="cs231n-course-") as scratch:
        paths = build_release(Path(scratch) / "course")
        shutil.copytree(paths.release, out, dirs_exist_ok=True)
    (out / "README.md").write_text(WORKSPACE_README)
    return out
