"""Spatial batch norm: numeric gradients, PyTorch's BatchNorm2d, running averages, errors."""

from __future__ import annotations

import numpy as np
import pytest

from cs231n_lib.batchnorm import spatial_batchnorm_backward, spatial_batchnorm_forward
from cs231n_lib.gradient_check import GRAD_REL_TOL, eval_numerical_gradient_array, rel_error


def _inputs(rng, shape=(4, 3, 5, 6)):
    x = 3 * rng.standard_normal(shape) + 2
    gamma = rng.standard_normal(shape[1])
    beta = rng.standard_normal(shape[1])
    return x, gamma, beta


def test_train_mode_normalises_each_channel_over_n_h_w(rng):
    x, _, _ = _inputs(rng)
    C = x.shape[1]
    out, _ = spatial_batchnorm_forward(x, np.ones(C), np.zeros(C), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, atol=1e-4)  # eps = 1e-5


def test_running_averages_follow_the_cs231n_rule(rng):
    x, gamma, beta = _inputs(rng)
    bn = {"mode": "train", "momentum": 0.8}
    spatial_batchnorm_forward(x, gamma, beta, bn)
    # independent: the per-channel statistics written out with a loop
    mean = np.array([x[:, c].ravel().mean() for c in range(x.shape[1])])
    var = np.array([((x[:, c].ravel() - mean[c]) ** 2).mean() for c in range(x.shape[1])])
    np.testing.assert_allclose(bn["running_mean"], 0.8 * 0 + 0.2 * mean)
    np.testing.assert_allclose(bn["running_var"], 0.8 * 1 + 0.2 * var)
    x2 = x[::-1] * 0.5
    spatial_batchnorm_forward(x2, gamma, beta, bn)
    expected = 0.8 * (0.2 * mean) + 0.2 * x2.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(bn["running_mean"], expected)


def test_test_mode_uses_running_statistics(rng):
    x, gamma, beta = _inputs(rng)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    bn = {"mode": "test", "running_mean": rm.copy(), "running_var": rv.copy(), "eps": 1e-3}
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn)
    expected = (gamma[None, :, None, None] * (x - rm[None, :, None, None])
                / np.sqrt(rv[None, :, None, None] + 1e-3) + beta[None, :, None, None])
    np.testing.assert_allclose(out, expected)
    np.testing.assert_array_equal(bn["running_mean"], rm)  # test mode does not update
    one, _ = spatial_batchnorm_forward(x[:1], gamma, beta, bn)
    np.testing.assert_allclose(one, out[:1])  # an image's output ignores the rest of its batch


@pytest.mark.parametrize("mode", ["train", "test"])
def test_backward_matches_numeric_gradients(rng, mode):
    x, gamma, beta = _inputs(rng, (3, 2, 4, 3))
    bn = {"mode": "train"}
    spatial_batchnorm_forward(x, gamma, beta, bn)
    bn["mode"] = mode
    out, cache = spatial_batchnorm_forward(x, gamma, beta, dict(bn))
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)

    def f(x_=x, g_=gamma, b_=beta):
        return spatial_batchnorm_forward(x_, g_, b_, dict(bn))[0]

    assert rel_error(dx, eval_numerical_gradient_array(lambda v: f(x_=v), x, dout)) < GRAD_REL_TOL
    assert rel_error(dgamma, eval_numerical_gradient_array(lambda v: f(g_=v), gamma, dout)) \
        < GRAD_REL_TOL
    assert rel_error(dbeta, eval_numerical_gradient_array(lambda v: f(b_=v), beta, dout)) \
        < GRAD_REL_TOL


def test_float32_stays_float32(rng):
    x, gamma, beta = (a.astype(np.float32) for a in _inputs(rng))
    out, cache = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in spatial_batchnorm_backward(out, cache))


@pytest.mark.torch
def test_matches_torch_batchnorm2d_train_and_test(torch, rng):
    x, gamma, beta = _inputs(rng)
    N, C, H, W = x.shape
    momentum, eps = 0.9, 1e-5
    layer = torch.nn.BatchNorm2d(C, eps=eps, momentum=1 - momentum).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(gamma))
        layer.bias.copy_(torch.tensor(beta))
    bn = {"mode": "train", "momentum": momentum, "eps": eps}
    for step in range(3):
        xs = x * (step + 1) + step
        tx = torch.tensor(xs, requires_grad=True)
        layer.train()
        t_out = layer(tx)
        dout = rng.standard_normal(xs.shape)
        t_out.backward(torch.tensor(dout))
        out, cache = spatial_batchnorm_forward(xs, gamma, beta, bn)
        np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-10, atol=1e-10)
        dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(dgamma, layer.weight.grad.numpy(), rtol=1e-9)
        np.testing.assert_allclose(dbeta, layer.bias.grad.numpy(), rtol=1e-9)
        layer.weight.grad = layer.bias.grad = None
        np.testing.assert_allclose(bn["running_mean"], layer.running_mean.numpy(), rtol=1e-12)
    # torch keeps the unbiased variance (M / (M - 1)) in its running average; test mode
    # agrees once both use the same running statistics
    bn_t = {"mode": "test", "eps": eps, "running_mean": layer.running_mean.numpy().copy(),
            "running_var": layer.running_var.numpy().copy()}
    layer.eval()
    np.testing.assert_allclose(spatial_batchnorm_forward(x, gamma, beta, bn_t)[0],
                               layer(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"x": np.ones((2, 3, 4))}, "4 dimensions"),
        ({"gamma": np.ones(2)}, "one gamma per channel"),
        ({"bn_param": {"mode": "eval"}}, "'train' or 'test'"),
        ({"bn_param": {"mode": "train", "momentum": 1.0}}, "0 <= momentum < 1"),
        ({"bn_param": {"mode": "train", "eps": 0}}, "eps"),
        ({"bn_param": {"mode": "test"}}, "run at least one forward pass with mode 'train'"),
        ({"bn_param": {"mode": "train", "running_mean": np.zeros(3)}}, "both running_mean"),
        ({"bn_param": {"mode": "train", "rate": 1}}, "unknown keys"),
        ({"x": np.ones((1, 3, 1, 1))}, "N\\*H\\*W >= 2"),
    ],
)
def test_bad_arguments_name_the_rule(kwargs, match):
    args = {"x": np.ones((2, 3, 4, 4)), "gamma": np.ones(3), "beta": np.zeros(3),
            "bn_param": {"mode": "train"}}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        spatial_batchnorm_forward(**args)


def test_backward_rejects_a_foreign_cache_and_wrong_dout():
    out, cache = spatial_batchnorm_forward(np.arange(32.0).reshape(2, 1, 4, 4), np.ones(1),
                                           np.zeros(1), {"mode": "train"})
    with pytest.raises(ValueError, match="4-tuple"):
        spatial_batchnorm_backward(out, (1, 2))
    with pytest.raises(ValueError, match="dout has shape"):
        spatial_batchnorm_backward(out[:1], cache)
