"""The grading job's result file while the library checks and the notebooks run side by side.

The coordinator applies a stage's budget by the ``stage`` it reads in the result file
(:mod:`grader.course.job_runner`), so the stage must read ``library`` for as long as the
library checks run, whichever of the two finishes first.
"""

from __future__ import annotations

import json
import threading

from grader.course.grade_job import _Result


def _stage(path) -> str:
    return json.loads(path.read_text())["stage"]


def _fresh(tmp_path) -> _Result:
    out = _Result(tmp_path / "result.json", {"stage": "prepare", "library": None, "error": ""})
    out.update(stage="library")
    return out


def test_notebooks_first_then_library_moves_to_notebooks_only_when_the_library_is_done(
        tmp_path):
    out = _fresh(tmp_path)
    out.notebooks_started()
    assert _stage(out.path) == "library"
    out.update(notebooks_ok=True)  # the notebooks may even finish first
    assert _stage(out.path) == "library"
    out.library_done(library={"functions": {}})
    assert _stage(out.path) == "notebooks"
    assert json.loads(out.path.read_text())["library"] == {"functions": {}}


def test_library_first_then_notebooks_waits_for_the_notebooks_to_start(tmp_path):
    out = _fresh(tmp_path)
    out.library_done(library={"functions": {}})
    assert _stage(out.path) == "library"
    out.notebooks_started()
    assert _stage(out.path) == "notebooks"


def test_a_finished_job_is_never_moved_back(tmp_path):
    out = _fresh(tmp_path)
    out.notebooks_started()
    out.update(stage="done")
    out.library_done(library={})
    assert _stage(out.path) == "done"


def test_concurrent_writers_leave_a_complete_file(tmp_path):
    out = _fresh(tmp_path)

    def write(key: str) -> None:
        for i in range(200):
            out.update(**{key: i})

    threads = [threading.Thread(target=write, args=(k,)) for k in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    data = json.loads(out.path.read_text())
    assert data["a"] == 199 and data["b"] == 199
