"""The check registry: one table, valid cases, hidden cases kept apart, expected-value files."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

from grader.checks import compare, expected, registry
from grader.checks.cases import recipe_digest
from grader.harness.recipes import run_recipe
from grader.mutants import alternatives

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "cs231n_lib"


def _solution_functions() -> set[str]:
    """Names of the functions/classes of cs231n_lib whose bodies hold a solution region."""
    found: set[str] = set()
    for path in LIB.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                body = lines[node.lineno - 1: node.end_lineno]
                if isinstance(node, ast.FunctionDef) and any(
                        ln.strip() == "### BEGIN SOLUTION" for ln in body):
                    found.add(node.name)
                if isinstance(node, ast.ClassDef) and any(
                        ln.strip() == "### BEGIN SOLUTION" for ln in body):
                    found.add(node.name)
    return found


def _run(spec, case):
    try:
        return run_recipe(case.recipe)
    except Exception as exc:  # noqa: BLE001
        return exc


def test_table_has_points_tolerance_and_notebook_for_every_spec():
    assert len(registry.SPECS) >= 17
    for name, spec in registry.SPECS.items():
        assert spec.name == name
        assert spec.points > 0
        assert spec.grade_id == f"check_{name}"
        assert registry.points(name) == spec.points
        assert spec.notebook.startswith("notebooks/") and spec.notebook.endswith(".ipynb")
        assert spec.kind in ("call", "forward_backward", "method")
        assert str(spec.tolerance)
    assert str(registry.Tolerance(1e-7, 1e-9)) == "atol 1e-09 + rtol 1e-07*|expected|"
    assert str(registry.EXACT) == "exact"
    table = registry.tolerance_table()
    assert all(name in table for name in registry.SPECS)
    assert registry.total_points() == sum(s.points for s in registry.SPECS.values())


def test_every_learner_function_is_graded():
    """Each function with a solution region has a spec (methods: their class)."""
    graded = set(registry.SPECS)
    missing = {f for f in _solution_functions() - graded - registry.NOT_YET_GRADED
               if f != "loss"}
    assert not missing, f"solution regions without a check spec: {sorted(missing)}"
    assert "ThreeLayerConvNet" in graded
    assert not registry.NOT_YET_GRADED & graded  # the list shrinks as specs are written


def test_spec_notebook_is_the_one_its_stub_names():
    """registry.NOTEBOOKS must agree with each module's ``_NOTEBOOK`` (used by the stubs)."""
    for spec in registry.SPECS.values():
        module = importlib.import_module(spec.module)
        assert spec.notebook == module._NOTEBOOK, spec.name


def test_unknown_name_lists_known_checks():
    with pytest.raises(KeyError, match="known checks: .*conv_forward_naive"):
        registry.get("conv_forwrd_naive")


def test_cases_are_deterministic_and_uniquely_named():
    for spec in registry.SPECS.values():
        a, b = spec.visible_cases(), spec.visible_cases()
        assert [c.name for c in a] == [c.name for c in b]
        assert [recipe_digest(c.recipe) for c in a] == [recipe_digest(c.recipe) for c in b]
        names = [c.name for c in spec.all_cases()]
        assert len(names) == len(set(names)), spec.name
        assert len(spec.fixed_cases()) >= 2
        for case in a:
            assert case.recipe["kind"] == spec.kind
            assert case.recipe["module"] == spec.module


def test_reference_passes_every_visible_and_hidden_case():
    """Every case runs on the reference: no exception, expected errors raised, properties
    hold, outputs present and finite. Values (and shapes, dtypes) are compared with themselves
    here (the reference *is* the expected); independent oracles check them elsewhere."""
    assert registry.hidden_available()
    failures = []
    n = 0
    for spec in registry.SPECS.values():
        hidden = spec.hidden_cases()
        assert hidden, f"{spec.name} has no hidden case"
        for case in spec.all_cases():
            got = _run(spec, case)
            exp = got if isinstance(got, dict) else None
            res = compare.compare(spec, case, got, exp)
            n += 1
            if not res.passed:
                failures.append(res.line())
    assert not failures, "\n".join(failures)
    assert n > 150


def test_expected_error_cases_raise_on_the_reference():
    spec = registry.get("conv_output_size")
    errors = [c for c in spec.all_cases() if c.expect_error]
    assert len(errors) >= 3
    for case in errors:
        with pytest.raises(ValueError, match="not a whole number"):
            run_recipe(case.recipe)


def test_reference_conv_agrees_with_an_independent_oracle():
    """The graded reference and the trusted tap-loop convolution are written differently."""
    for name in ("conv_forward_naive", "conv_forward_im2col"):
        spec = registry.get(name)
        for case in spec.all_cases():
            x, w, b, cp = case.recipe["args"]
            oracle = alternatives._conv(x, w, b, cp["stride"], cp["pad"], cp.get("dilation", 1))
            got = run_recipe(case.recipe)["out"]
            np.testing.assert_allclose(got, oracle, rtol=1e-4 if got.dtype == np.float32
                                       else 1e-10, atol=1e-5, err_msg=case.name)


def test_registry_works_without_hidden_cases(monkeypatch):
    """The student release deletes grader/course/hidden_cases.py."""
    monkeypatch.setattr(registry, "_HIDDEN", [None])
    assert not registry.hidden_available()
    for spec in registry.SPECS.values():
        assert spec.hidden_cases() == []
        assert spec.visible_cases()


def _shipped_text() -> str:
    files = [ROOT / "grader" / f for f in ("registry.py", "cases.py", "compare.py",
                                           "visible.py", "expected.py", "recipes.py",
                                           "__init__.py")]
    files += sorted(LIB.glob("*.py"))
    return "\n".join(p.read_text(encoding="utf-8") for p in files if p.exists())


def test_hidden_cases_are_not_derivable_from_shipped_files():
    from grader.course import hidden_cases

    shipped = _shipped_text().replace("_", "")
    assert hidden_cases._SALT.replace("_", "") not in shipped
    seeds = {int(p["seed"]) for cases in hidden_cases.HIDDEN.values() for _, p in cases
             if "seed" in p}
    for seed in seeds:
        assert not re.search(rf"\b{seed}\b", shipped), seed
    visible_digests = {recipe_digest(c.recipe) for s in registry.SPECS.values()
                       for c in s.visible_cases()}
    for spec in registry.SPECS.values():
        for case in spec.hidden_cases():
            assert case.group.startswith("hidden")
            assert recipe_digest(case.recipe) not in visible_digests, case.name
            hidden_seed = hidden_cases.random_seed(spec.name)
            assert hidden_seed != registry.visible_seed(spec.name)


def test_expected_file_round_trip_and_staleness(tmp_path, monkeypatch):
    path = tmp_path / "visible_expected.npz"
    names = ["conv_forward_naive", "max_pool_backward_naive", "conv_output_size"]
    expected.write(path, names)
    with np.load(path, allow_pickle=False) as data:
        keys = data.files
    assert keys and all("/hidden" not in k for k in keys)
    monkeypatch.setattr(expected, "DATA", path)
    monkeypatch.setattr(expected, "reference_available", lambda module: False)
    expected.reset()
    try:
        spec = registry.get("conv_forward_naive")
        case = spec.visible_cases()[0]
        values = expected.expected_for(spec, case)
        assert isinstance(values, dict)
        np.testing.assert_array_equal(values["out"], run_recipe(case.recipe)["out"])
        # a case whose inputs changed is refused, not silently compared
        stale = spec.build(case.name, {**case.params, "seed": case.params["seed"] + 1})
        assert "do not match" in expected.expected_for(spec, stale)
        # a function missing from the file, with no reference around
        other = registry.get("fc_to_conv")
        assert "missing" in expected.expected_for(other, other.visible_cases()[0])
    finally:
        expected.reset()
