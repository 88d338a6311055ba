"""Notebook 09's checks: expected values against PyTorch, mistakes recognised from the outputs
the trusted side computed, hints for what a learner's block raises."""

from __future__ import annotations

import numpy as np
import pytest

from grader.checks import blocks, expected, mistakes, registry, visible
from grader.mutants import make_reference_submission, make_submission, swapped_library

BN_CASES = [c for c in registry.get("spatial_batchnorm_forward").all_cases()
            if c.params.get("dtype") != "float32"]


@pytest.mark.torch
@pytest.mark.parametrize("case", BN_CASES, ids=lambda c: c.name.split("/", 1)[1])
def test_batchnorm_case_values_agree_with_torch(torch, case):
    """The reference's expected values, against BatchNorm2d (momentum 1 - ours; torch keeps
    the unbiased variance in its running average, converted back here)."""
    x, gamma, beta, bn = case.recipe["args"]
    N, C, H, W = x.shape
    m = bn["momentum"]
    layer = torch.nn.BatchNorm2d(C, eps=bn["eps"], momentum=1 - m).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(gamma))
        layer.bias.copy_(torch.tensor(beta))
        if "running_mean" in bn:
            layer.running_mean.copy_(torch.tensor(bn["running_mean"]))
            layer.running_var.copy_(torch.tensor(bn["running_var"]))
    layer.train(bn["mode"] == "train")
    with torch.no_grad():
        t_out = layer(torch.tensor(x)).numpy()
    got = expected.compute(case)
    np.testing.assert_allclose(got["out"], t_out, rtol=1e-9, atol=1e-10)
    if bn["mode"] == "train":
        biased = x.var(axis=(0, 2, 3))
        M = N * H * W
        want_var = layer.running_var.numpy() - (1 - m) * biased / (M - 1)
        np.testing.assert_allclose(got["running_mean"], layer.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(got["running_var"], want_var, rtol=1e-10, atol=1e-12)
    else:  # test mode leaves the running averages as they were
        np.testing.assert_array_equal(got["running_mean"], bn["running_mean"])


def test_every_family_has_builders_mistakes_and_graded_functions():
    families = {spec.family for spec in registry.SPECS.values()}
    assert set(blocks.FAMILIES) <= families
    assert set(blocks.FAMILIES) <= {m.family for m in mistakes.MISTAKES}
    names = [m.name for m in mistakes.MISTAKES]
    assert len(names) == len(set(names))
    total = sum(registry.points(n) for n, s in registry.SPECS.items()
                if s.family in blocks.FAMILIES)
    assert total == 3 + 3 + 3 + 4 + 1 + 1
    assert registry.total_points() == 59 + total  # the first edition's 59, plus notebook 09


def test_a_mistake_that_is_right_on_a_case_is_no_evidence(tmp_path):
    """Skipping the mean/variance paths is harmless in test mode: that case passes, the
    training cases fail with the hint."""
    expected.prime(["spatial_batchnorm_backward"])
    make_submission(tmp_path, ["bn_backward_no_stat_paths"])
    with swapped_library(tmp_path):
        report = visible.run("spatial_batchnorm_backward")
    by_label = {r.case.split("/", 2)[2]: r for _, r in report.results}
    assert by_label["test_mode"].passed
    assert not by_label["train"].passed and "mean and variance" in by_label["train"].hint


def test_running_mean_of_the_wrong_shape_names_the_axes():
    spec = registry.get("spatial_batchnorm_forward")
    case = spec.fixed_cases()[0]
    exp = expected.compute(case)
    got = {**exp, "running_mean": np.zeros((3, 3, 3))}
    from grader.checks.compare import compare

    res = compare(spec, case, got, exp)
    assert not res.passed and "wrong axes" in res.hint and "(C,)" in res.hint


def test_a_block_that_always_adds_x_is_told_about_the_projection(tmp_path):
    """Written as a learner would (not a kernel): the identity added even when the shapes
    differ raises a broadcast error; the hint names the projection."""
    expected.prime(["residual_block_forward"])
    make_reference_submission(tmp_path)
    path = tmp_path / "cs231n_lib" / "residual.py"
    path.write_text(path.read_text() + '''

def residual_block_forward(x, params, bn_params, stride=1, skip=True):
    p = params
    zeros = np.zeros(p["W1"].shape[0])
    h, _ = conv_forward_fast(x, p["W1"], zeros, {"stride": stride, "pad": 1})
    h, _ = spatial_batchnorm_forward(h, p["gamma1"], p["beta1"], bn_params["bn1"])
    h = np.maximum(h, 0)
    h, _ = conv_forward_fast(h, p["W2"], zeros, {"stride": 1, "pad": 1})
    h, _ = spatial_batchnorm_forward(h, p["gamma2"], p["beta2"], bn_params["bn2"])
    if skip:
        h = h + x
    return np.maximum(h, 0), None
''')
    with swapped_library(tmp_path):
        report = visible.run("residual_block_forward")
    failed = {r.case.split("/", 2)[2]: r for r in report.failures()}
    assert "projection_depth" in failed and "identity" not in [*failed]
    assert "projection missing" in failed["projection_depth"].hint
