"""The release builder: a standard nbgrader course whose student release gives nothing away."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from grader.checks import registry
from grader.checks.stubs import BEGIN
from grader.course import hidden_cases
from grader.course.paths import ASSIGNMENT
from grader.course.release import (
    SHIPPED_FILES,
    SHIPPED_PACKAGES,
    build_release,
    leaks,
    library_check_points,
    solution_lines,
    student_edited_modules,
    write_notebook_with_points,
)

pytestmark = pytest.mark.xdist_group("release")


# Session scope: xdist may interleave modules on a worker, which would rebuild it.
@pytest.fixture(scope="session")
def course(tmp_path_factory):
    return build_release(tmp_path_factory.mktemp("course") / "course")


def test_course_is_a_standard_nbgrader_layout(course):
    assert course.config.exists() and course.gradebook.exists()
    notebooks = sorted(p.name for p in course.release.glob("*.ipynb"))
    assert notebooks == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert (course.release / "cs231n_lib" / "conv_naive.py").exists()
    assert (course.release / "grader" / "checks" / "data" / "visible_expected.npz").exists()


def test_every_learner_module_is_excluded_from_overwriting(course):
    """nbgrader #940: a module missing here is graded from the instructor's copy."""
    text = (course.root / "cs231n_grader_config.py").read_text()
    edited = student_edited_modules()
    assert "cs231n_lib/conv_naive.py" in edited and "cs231n_lib/pooling.py" in edited
    for rel in edited:
        assert repr(rel) in text
    for path in (course.release / "cs231n_lib").glob("*.py"):
        source = (ROOT / "cs231n_lib" / path.name).read_text()
        if any(line.strip() == BEGIN for line in source.splitlines()):
            assert f"cs231n_lib/{path.name}" in edited


def test_release_holds_no_solution_and_no_hidden_case(course):
    assert leaks(course.release, course.source) == []
    shipped = course.release / "grader"
    assert {p.name for p in shipped.iterdir() if p.name != "__pycache__"} == {
        *SHIPPED_FILES, *SHIPPED_PACKAGES}
    for package in ("course", "sandbox", "mutants"):
        assert not (shipped / package).exists(), package
    # no solution line of any module survives
    for path in (ROOT / "cs231n_lib").glob("*.py"):
        released = (course.release / "cs231n_lib" / path.name).read_text()
        shown = {line.strip() for line in released.splitlines()}
        assert not solution_lines(path.read_text()) & shown, path.name
    # the hidden salt and seeds appear nowhere in the release
    seeds = {params["seed"] for cases in hidden_cases.HIDDEN.values()
             for _, params in cases if "seed" in params}
    assert seeds, "hidden_cases.HIDDEN has seeded cases to protect"
    secrets = [hidden_cases._SALT, *(f"{seed}" for seed in seeds), *(f"{seed:_}" for seed in seeds)]
    blob = "".join(
        p.read_text(errors="replace") for p in course.release.rglob("*") if p.is_file()
        and p.suffix in {".py", ".ipynb"}
    )
    for secret in secrets:
        assert secret not in blob, secret


def test_release_notebooks_have_no_solutions_or_hidden_tests(course):
    for nb_path in course.release.glob("*.ipynb"):
        nb = json.loads(nb_path.read_text())
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            assert "### BEGIN SOLUTION" not in src, nb_path.name
            assert "### BEGIN HIDDEN TESTS" not in src, nb_path.name


def test_stub_raises_not_implemented_naming_the_notebook(course):
    code = (
        "import numpy as np\n"
        "from cs231n_lib.conv_naive import conv_forward_naive\n"
        "x = np.zeros((1, 1, 5, 5)); w = np.zeros((1, 1, 3, 3)); b = np.zeros(1)\n"
        "try:\n"
        "    conv_forward_naive(x, w, b, {'stride': 1, 'pad': 0})\n"
        "except NotImplementedError as exc:\n"
        "    print('STUB', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=course.release, capture_output=True,
                         text=True, timeout=60)
    assert "STUB conv_forward_naive: not written yet; see 03_parameter_sharing" in out.stdout


def test_check_command_works_in_the_release(course):
    out = subprocess.run([sys.executable, "-m", "grader", "check", "conv_output_size"],
                         cwd=course.release, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr  # a stub fails its checks ...
    assert "not written yet" in out.stdout  # ... and says why
    assert "hidden" not in out.stdout.lower()  # the release has no hidden cases to run


def test_rebuilding_is_safe(course):
    again = build_release(course.root)
    assert leaks(again.release, again.source) == []


def test_leak_check_catches_a_planted_solution(course, tmp_path):
    import shutil

    fake = tmp_path / "release"
    shutil.copytree(course.release, fake)
    target = fake / "cs231n_lib" / "conv_naive.py"
    reference = (course.source / "cs231n_lib" / "conv_naive.py").read_text()
    target.write_text(reference)
    (fake / "grader" / "course").mkdir()
    (fake / "grader" / "course" / "hidden_cases.py").write_text("HIDDEN = {}\n")
    problems = leaks(fake, course.source)
    assert any("conv_naive.py: still contains" in p for p in problems)
    assert any("conv_naive.py: solution line" in p for p in problems)
    assert any("hidden_cases.py" in p for p in problems)



def test_check_command_checks_the_workspace_library_not_the_installed_one(course, tmp_path):
    """The installed `cs231n-grader` (the instructor's package) run in a learner's folder
    checks that folder's library: a flipped-kernel convolution fails."""
    import shutil

    from grader.mutants import make_submission

    work = tmp_path / "work"
    shutil.copytree(course.release, work)
    make_submission(work, ["conv_kernel_flipped"])
    script = Path(sys.executable).parent / "cs231n-grader"
    out = subprocess.run([str(script), "check", "conv_forward_naive"], cwd=work,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"checking the library in {work / 'cs231n_lib'}" in out.stdout
    assert "FAIL" in out.stdout


# ------------------------------------------------------------------ points from the registry


def test_released_check_points_are_the_registry_table(course):
    """nbgrader's gradebook holds, for every check_<function> cell, TABLE's points (the stored
    notebooks carry none for these cells: the release writes them)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        cells = {cell.name: cell.max_score
                 for notebook in gradebook.find_assignment(ASSIGNMENT).notebooks
                 for cell in notebook.grade_cells}
    checks = {name: score for name, score in cells.items()
              if name.startswith(registry.GRADE_ID_PREFIX)}
    assert checks == {registry.get(fn).grade_id: float(spec[2])
                      for fn, spec in registry.TABLE.items()}
    # exercise and written cells keep their own metadata's points
    stored = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta["grade_id"].startswith(registry.GRADE_ID_PREFIX):
                stored[meta["grade_id"]] = float(meta["points"])
    assert stored and {k: v for k, v in cells.items() if k in stored} == stored


def test_changing_the_table_changes_the_released_points(monkeypatch, tmp_path):
    """Edit TABLE (and rebuild the specs from it, as an import would): the notebook the release
    writes into source/ carries the new points; nothing else needs editing."""
    name = "conv_forward_naive"
    module, family, points, tol = registry.TABLE[name]
    monkeypatch.setitem(registry.TABLE, name, (module, family, points + 7, tol))
    monkeypatch.setattr(registry, "SPECS", registry._make_specs())
    notebook = ROOT / registry.get(name).notebook
    write_notebook_with_points(notebook, tmp_path / notebook.name)
    released = {cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"].get("points")
                for cell in nbformat.read(tmp_path / notebook.name, as_version=4).cells
                if cell.metadata.get("nbgrader", {}).get("grade")}
    assert released[f"check_{name}"] == points + 7
    assert released["check_conv_backward_naive"] == registry.TABLE["conv_backward_naive"][2]


def test_a_check_cell_of_an_unknown_function_is_refused():
    meta = {"nbgrader": {"grade": True, "grade_id": "check_no_such_function"}}
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell('grade("no_such_function")', metadata=meta)])
    with pytest.raises(KeyError, match="no_such_function"):
        library_check_points(nb)
