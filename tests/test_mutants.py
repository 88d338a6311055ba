"""The mutant catalogue: every mutant is caught and gets the hint written for it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from grader.checks import expected, registry, visible
from grader.checks.stubs import has_solutions
from grader.mutants import (
    MUTANTS,
    by_name,
    make_reference_submission,
    make_stub_submission,
    make_submission,
    mutant_source,
    swapped_library,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Run each mutant's target checks on a submission tree holding only that mutant."""
    expected.prime()
    results = {}
    for mutant in MUTANTS:
        tree = tmp_path_factory.mktemp(mutant.name)
        make_submission(tree, [mutant.name])
        with swapped_library(tree):
            reports = [visible.run(name) for name in mutant.checks]
        results[mutant.name] = [r for rep in reports for r in rep.failures()]
    return results


def test_catalogue_is_large_and_well_formed():
    assert len(MUTANTS) >= 30
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names))
    for m in MUTANTS:
        assert (ROOT / "cs231n_lib" / f"{m.module}.py").exists(), m.name
        for check in m.checks:
            assert registry.get(check).module == f"cs231n_lib.{m.module}", m.name
        assert m.hint and m.description
        compile(mutant_source(m), f"{m.name}.py", "exec")
    covered = {c for m in MUTANTS for c in m.checks}
    assert len(covered) >= 15


def test_every_mutant_fails_at_least_one_case(outcomes):
    survivors = [name for name, fails in outcomes.items() if not fails]
    assert not survivors, f"mutants not caught: {survivors}"


def test_every_mutant_gets_the_hint_written_for_it(outcomes):
    misses = []
    for m in MUTANTS:
        hints = [r.hint.lower() for r in outcomes[m.name]]
        if not any(m.hint.lower() in h for h in hints):
            misses.append(f"{m.name}: wanted {m.hint!r}, got {sorted(set(hints))[:3]}")
    assert not misses, "hint misses:\n" + "\n".join(misses)


def test_mutants_of_the_switched_families_are_their_mistakes():
    """Where the kernels commit a family's mistakes by switches (perceptron, FC -> conv, the
    layers, ThreeLayerConvNet, notebook 09), each mutant is one Mistake of the catalogue:
    same name, the Mistake's whole hint, and no hand-written mutant beside them."""
    from grader.checks.mistakes import MISTAKES
    from grader.mutants.mistakes import CONVNET_FAMILY, FAMILY_KERNELS

    switched = set(FAMILY_KERNELS) | {CONVNET_FAMILY}
    families = {spec: registry.get(spec).family for m in MUTANTS for spec in m.checks}
    by_mistake = {m.name: m for m in MISTAKES}
    covered = set()
    for mutant in MUTANTS:
        family = families[mutant.checks[0]]
        if family not in switched:
            continue
        mistake = by_mistake.get(mutant.name)
        assert mistake is not None, f"{mutant.name}: a {family} mutant with no Mistake entry"
        assert (mistake.family, mistake.hint) == (family, mutant.hint), mutant.name
        covered.add(family)
    assert covered >= {"perceptron_predict", "perceptron_update", "fc_to_conv",
                       "affine_backward", "relu_backward", "softmax_loss", "convnet"}


def test_mutant_kernels_are_correct_with_default_switches(tmp_path):
    """A mutant must differ from the reference by its named mistake only."""
    from grader.mutants.catalogue import Mutant, _fn

    expected.prime()  # reference values first: another test may have reset the cache

    def ok(name, module, checks, functions):
        """The graded ``functions`` rebound to their ``_mk_*`` kernel, every switch default."""
        binding = "".join(_fn(f, "*a, **k", f"{kernel}(*a, **k)") for f, kernel in functions)
        return Mutant(name, module, checks, binding, "-")

    correct = [
        ok("ok_conv", "conv_naive", ("conv_forward_naive", "conv_backward_naive"),
           [("conv_forward_naive", "_mk_conv_forward"),
            ("conv_backward_naive", "_mk_conv_backward")]),
        ok("ok_lc", "locally_connected",
           ("locally_connected_forward", "locally_connected_backward"),
           [("locally_connected_forward", "_mk_lc_forward"),
            ("locally_connected_backward", "_mk_lc_backward")]),
        Mutant("ok_pool", "pooling", ("max_pool_forward_naive", "max_pool_backward_naive",
                                      "avg_pool_forward_naive", "avg_pool_backward_naive"),
               _fn("max_pool_forward_naive", "x, p", "_mk_pool_forward(x, p)")
               + _fn("max_pool_backward_naive", "dout, cache",
                     "_mk_max_pool_backward(dout, cache)")
               + _fn("avg_pool_forward_naive", "x, p", "_mk_pool_forward(x, p, kind='avg')")
               + _fn("avg_pool_backward_naive", "dout, cache",
                     "_mk_avg_pool_backward(dout, cache)"), "-"),
        ok("ok_im2col", "im2col", ("im2col", "col2im", "conv_forward_im2col",
                                   "conv_backward_im2col"),
           [("im2col", "_mk_im2col"), ("col2im", "_mk_col2im"),
            ("conv_forward_im2col", "_mk_conv_forward_im2col"),
            ("conv_backward_im2col", "_mk_conv_backward_im2col")]),
        ok("ok_sizes", "sizes", ("conv_output_size",),
           [("conv_output_size", "_mk_conv_output_size")]),
        ok("ok_perceptron", "perceptron", ("perceptron_predict", "perceptron_update"),
           [("perceptron_predict", "_mk_predict"), ("perceptron_update", "_mk_update")]),
        ok("ok_fc", "fc_conv", ("fc_to_conv",), [("fc_to_conv", "_mk_fc_to_conv")]),
        ok("ok_layers", "layers", ("affine_forward", "affine_backward", "relu_forward",
                                   "relu_backward", "softmax_loss"),
           [("affine_forward", "_mk_affine_forward"),
            ("affine_backward", "_mk_affine_backward"),
            ("relu_forward", "_mk_relu_forward"), ("relu_backward", "_mk_relu_backward"),
            ("softmax_loss", "_mk_softmax_loss")]),
        Mutant("ok_net", "convnet", ("ThreeLayerConvNet",),
               "\n\ndef _ok(self, X, y=None):\n    return _mk_convnet_loss(self, X, y)\n\n\n"
               "ThreeLayerConvNet.loss = _ok\n", "-"),
        *(Mutant(f"ok_{module}", module, checks, "".join(
            _fn(f, "*a, **k", f"{kernel}(*a, **k)") for f, kernel in functions), "-",
            kernels="kernels_blocks.py")
          for module, checks, functions in (
            ("batchnorm", ("spatial_batchnorm_forward", "spatial_batchnorm_backward"),
             [("spatial_batchnorm_forward", "_mkb_bn_forward"),
              ("spatial_batchnorm_backward", "_mkb_bn_backward")]),
            ("residual", ("residual_block_forward", "residual_block_backward"),
             [("residual_block_forward", "_mkb_residual_forward"),
              ("residual_block_backward", "_mkb_residual_backward")]),
            ("global_pool", ("global_avg_pool_forward", "global_avg_pool_backward"),
             [("global_avg_pool_forward", "_mkb_gap_forward"),
              ("global_avg_pool_backward", "_mkb_gap_backward")]))),
    ]
    # every kernel's graded function is covered, so "correct by default" is checked for all
    assert {c for m in correct for c in m.checks} >= {c for m in MUTANTS for c in m.checks}
    for m in correct:
        tree = tmp_path / m.name
        make_reference_submission(tree)
        path = tree / "cs231n_lib" / f"{m.module}.py"
        path.write_text(mutant_source(m, path.read_text()))
        with swapped_library(tree):
            for check in m.checks:
                report = visible.run(check)
                assert report.passed, report.text()


def test_submission_trees(tmp_path):
    ref = make_reference_submission(tmp_path / "ref") / "cs231n_lib"
    assert (ref / "conv_naive.py").read_text() == (ROOT / "cs231n_lib/conv_naive.py").read_text()
    stub = make_stub_submission(tmp_path / "stub") / "cs231n_lib"
    for p in stub.glob("*.py"):  # (a docstring may mention the marker; a line may not be one)
        assert not any(ln.strip() == "### BEGIN SOLUTION" for ln in p.read_text().splitlines())
    assert has_solutions((ref / "conv_naive.py").read_text())
    assert "not written yet" in (stub / "conv_naive.py").read_text()
    two = make_submission(tmp_path / "two", ["conv_kernel_flipped", "conv_dx_flipped",
                                             "maxpool_grad_all_ties"]) / "cs231n_lib"
    text = (two / "conv_naive.py").read_text()
    assert "MUTANT(S): conv_kernel_flipped, conv_dx_flipped" in text
    assert "maxpool_grad_all_ties" in (two / "pooling.py").read_text()
    assert (two / "sizes.py").read_text() == (ROOT / "cs231n_lib/sizes.py").read_text()
    with pytest.raises(KeyError, match="no mutant"):
        by_name("nope")


def test_swapped_library_restores_modules(tmp_path):
    import cs231n_lib.conv_naive as original

    make_submission(tmp_path, ["conv_no_bias"])
    path_before = list(sys.path)
    with swapped_library(tmp_path):
        import cs231n_lib.conv_naive as swapped

        assert swapped is not original
        assert str(tmp_path) in swapped.__file__
    import cs231n_lib.conv_naive as after

    assert after is original and sys.modules["cs231n_lib.conv_naive"] is original
    assert sys.path == path_before


def test_every_known_mistake_is_a_mutant_with_its_own_hint():
    """One catalogue: each Mistake of grader.checks.blocks is a mutant carrying its hint, and
    the release's shipped check package holds the mistakes' names and hints, not their code."""
    from grader.checks.mistakes import MISTAKES

    for mistake in MISTAKES:
        if mistake.name.startswith("alt_"):  # recognised from outputs only, no mutant of its own
            continue
        mutant = by_name(mistake.name)
        assert mistake.hint.lower().startswith(mutant.hint.lower()), mistake.name
    import ast

    for shipped in ("blocks.py", "mistakes.py"):
        tree = ast.parse((ROOT / "grader/checks" / shipped).read_text())
        calls = {n.func.attr for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
        assert not calls & {"mean", "var", "sqrt", "sum"}, f"{shipped} computes statistics"


def test_block_mistakes_are_diagnosed_from_stored_outputs_without_the_kernels(tmp_path):
    """A student copy has no grader/mutants: the release file's mistake outputs must suffice."""
    expected.reset()
    path = expected.write(tmp_path / "visible_expected.npz", ["spatial_batchnorm_forward"])
    spec = registry.get("spatial_batchnorm_forward")
    case = spec.fixed_cases()[1]  # train_update: running averages given
    saved_kernels, saved_data = list(expected._kernels), expected.DATA
    try:
        expected.reset()
        expected._kernels[:] = [None]  # as in a student copy
        expected.DATA = path
        stored = expected.mistake_outputs(spec, case)
        assert "bn_running_not_updated" in stored
        assert set(stored["bn_momentum_swapped"]) == {"out", "running_mean", "running_var"}
        hidden = spec.hidden_cases()[0]
        assert expected.mistake_outputs(spec, hidden) == {}  # never stored, not computable
    finally:
        expected._kernels[:] = saved_kernels
        expected.DATA = saved_data
        expected.reset()


def test_a_student_copy_gets_the_hints_from_the_release_file_alone(tmp_path):
    """No grader/mutants in a student copy: the stored mistake outputs give the same hints."""
    picks = ["conv_kernel_flipped", "conv_no_padding", "maxpool_grad_all_ties",
             "im2col_rows_hwc", "col2im_assigns", "conv_dx_flipped", "bn_running_not_updated",
             "res_skip_after_relu"]
    names = sorted({c for p in picks for c in by_name(p).checks})
    expected.reset()
    path = expected.write(tmp_path / "visible_expected.npz", names)
    saved_kernels, saved_data = list(expected._kernels), expected.DATA
    try:
        expected.reset()
        expected._kernels[:] = [None]  # as in a student copy: nothing computed live
        expected.DATA = path
        for pick in picks:
            mutant = by_name(pick)
            tree = tmp_path / pick
            make_submission(tree, [pick])
            with swapped_library(tree):
                hints = [r.hint.lower() for c in mutant.checks for r in visible.run(c).failures()]
            assert any(mutant.hint.lower() in h for h in hints), (pick, hints[:3])
    finally:
        expected._kernels[:] = saved_kernels
        expected.DATA = saved_data
        expected.reset()


def test_every_mutant_fails_a_hidden_case_in_the_trusted_comparison(tmp_path):
    """The secure grader's path: expected from the reference run here, got from the submission.

    (The sandbox itself is tested with the secure runner; this checks the cases and the
    comparison catch every mutant on hidden inputs too.)
    """
    from grader.checks.compare import compare
    from grader.harness.recipes import run_recipe

    def run(case):
        try:
            return run_recipe(case.recipe)
        except Exception as exc:  # noqa: BLE001
            return exc

    hidden = {name: registry.get(name).hidden_cases() for name in registry.SPECS}
    reference = {c.name: run(c) for cases in hidden.values() for c in cases}
    survivors = []
    for mutant in MUTANTS:
        tree = tmp_path / mutant.name
        make_submission(tree, [mutant.name])
        failed = 0
        with swapped_library(tree):
            for name in mutant.checks:
                spec = registry.get(name)
                for case in hidden[name]:
                    exp = reference[case.name]
                    res = compare(spec, case, run(case), exp if isinstance(exp, dict) else None)
                    failed += not res.passed
        if not failed:
            survivors.append(mutant.name)
    assert not survivors, f"mutants passing every hidden case: {survivors}"
