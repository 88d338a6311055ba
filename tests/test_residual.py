"""Residual basic block, global average pooling, ResNet parameter counts, the builder's
RES / PLAIN / BN / GAP tokens: numeric gradients, a PyTorch oracle, published figures."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from cs231n_lib import architectures as arch
from cs231n_lib.arithmetic import Input, analyze
from cs231n_lib.global_pool import global_avg_pool_backward, global_avg_pool_forward
from cs231n_lib.gradient_check import (
    GRAD_REL_TOL,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from cs231n_lib.net_builder import build_network
from cs231n_lib.residual import (
    init_residual_block,
    needs_projection,
    residual_block_backward,
    residual_block_forward,
)

BLOCKS = [(4, 4, 1, True), (3, 5, 1, True), (3, 4, 2, True), (3, 4, 1, False)]


@pytest.mark.parametrize("C, F, S, skip", BLOCKS, ids=["identity", "depth", "stride", "plain"])
def test_block_backward_matches_numeric_gradients(rng, C, F, S, skip):
    x = rng.standard_normal((3, C, 7, 7))
    params, bn = init_residual_block(C, F, S, skip=skip, rng=rng)
    assert ("Wp" in params) == (skip and needs_projection(C, F, S))
    out, cache = residual_block_forward(x, params, copy.deepcopy(bn), S, skip=skip)
    assert out.shape == (3, F, (7 - 1) // S + 1, (7 - 1) // S + 1)
    dout = rng.standard_normal(out.shape)
    dx, grads = residual_block_backward(dout, cache)
    assert set(grads) == set(params)

    def f(x_=x, **over):
        p = {**params, **over}
        return residual_block_forward(x_, p, copy.deepcopy(bn), S, skip=skip)[0]

    assert rel_error(dx, eval_numerical_gradient_array(lambda v: f(x_=v), x, dout)) < GRAD_REL_TOL
    for key in params:
        num = eval_numerical_gradient_array(lambda v, k=key: f(**{k: v}), params[key].copy(), dout)
        assert rel_error(grads[key], num) < GRAD_REL_TOL, key


def test_identity_block_adds_its_input(rng):
    """With the main path's last BN scale at 0 the block is relu(x + beta2)."""
    x = rng.standard_normal((2, 4, 5, 5))
    params, bn = init_residual_block(4, 4, rng=rng)
    params["gamma2"][:] = 0
    out, _ = residual_block_forward(x, params, bn)
    np.testing.assert_allclose(out, np.maximum(0, x))


@pytest.mark.torch
@pytest.mark.parametrize("C, F, S", [(4, 4, 1), (3, 6, 2)], ids=["identity", "projection"])
def test_block_matches_torch(torch, rng, C, F, S):
    nn = torch.nn
    x = rng.standard_normal((2, C, 7, 7))
    params, bn = init_residual_block(C, F, S, rng=rng)
    for key in ("gamma1", "beta1", "gamma2", "beta2", "gammap", "betap"):
        if key in params:
            params[key] = rng.standard_normal(F)

    def conv(w, stride, pad):
        c = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride, pad, bias=False).double()
        with torch.no_grad():
            c.weight.copy_(torch.tensor(w))
        return c

    def norm(g, b):
        n = nn.BatchNorm2d(F, eps=1e-5, momentum=0.1).double()
        with torch.no_grad():
            n.weight.copy_(torch.tensor(g))
            n.bias.copy_(torch.tensor(b))
        return n

    main = nn.Sequential(conv(params["W1"], S, 1), norm(params["gamma1"], params["beta1"]),
                         nn.ReLU(), conv(params["W2"], 1, 1),
                         norm(params["gamma2"], params["beta2"]))
    short = (nn.Sequential(conv(params["Wp"], S, 0), norm(params["gammap"], params["betap"]))
             if "Wp" in params else nn.Identity())
    tx = torch.tensor(x, requires_grad=True)
    t_out = torch.relu(main(tx) + short(tx))
    dout = rng.standard_normal(t_out.shape)
    t_out.backward(torch.tensor(dout))

    out, cache = residual_block_forward(x, params, bn, S)
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-9, atol=1e-10)
    dx, grads = residual_block_backward(dout, cache)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-8, atol=1e-10)
    torch_grads = {"W1": main[0].weight, "gamma1": main[1].weight, "beta1": main[1].bias,
                   "W2": main[3].weight, "gamma2": main[4].weight, "beta2": main[4].bias}
    if "Wp" in params:
        torch_grads.update({"Wp": short[0].weight, "gammap": short[1].weight,
                            "betap": short[1].bias})
    for key, tensor in torch_grads.items():
        np.testing.assert_allclose(grads[key], tensor.grad.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=key)
    np.testing.assert_allclose(bn["bn1"]["running_mean"], main[1].running_mean.numpy())
    # test mode: both use running statistics (set torch's to ours: torch's variance is unbiased)
    for name, layer in (("bn1", main[1]), ("bn2", main[4])):
        with torch.no_grad():
            layer.running_var.copy_(torch.tensor(bn[name]["running_var"]))
        bn[name]["mode"] = "test"
    if "Wp" in params:
        with torch.no_grad():
            short[1].running_var.copy_(torch.tensor(bn["bnp"]["running_var"]))
        bn["bnp"]["mode"] = "test"
    main.eval()
    short.eval()
    t_test = torch.relu(main(torch.tensor(x)) + short(torch.tensor(x))).detach().numpy()
    np.testing.assert_allclose(residual_block_forward(x, params, bn, S)[0], t_test,
                               rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda p, bn: p.pop("Wp"), "part of the projection"),
        (lambda p, bn: [p.pop(k) for k in ("Wp", "gammap", "betap")], "give a 1x1 projection"),
        (lambda p, bn: p.update(W2=np.ones((4, 3, 3, 3))), r"params\['W2'\] has shape"),
        (lambda p, bn: bn.pop("bnp"), "bn_params is missing"),
        (lambda p, bn: p.update(extra=np.ones(1)), "unknown keys"),
    ],
    ids=["partial projection", "identity impossible", "W2 shape", "bn missing", "unknown"],
)
def test_block_errors_name_the_rule(rng, change, match):
    params, bn = init_residual_block(3, 4, 2, rng=rng)
    change(params, bn)
    with pytest.raises(ValueError, match=match):
        residual_block_forward(rng.standard_normal((2, 3, 7, 7)), params, bn, 2)


def test_stride_that_does_not_tile_is_rejected(rng):
    params, bn = init_residual_block(3, 4, 2, rng=rng)
    with pytest.raises(ValueError, match="4.5 is not a whole number"):
        residual_block_forward(rng.standard_normal((1, 3, 8, 8)), params, bn, 2)


def test_plain_block_rejects_a_projection(rng):
    params, bn = init_residual_block(3, 4, 1, rng=rng)
    with pytest.raises(ValueError, match="plain block"):
        residual_block_forward(rng.standard_normal((1, 3, 5, 5)), params, bn, skip=False)


def test_global_avg_pool(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    out, cache = global_avg_pool_forward(x)
    np.testing.assert_allclose(out, [[x[n, c].sum() / 20 for c in range(3)] for n in range(2)])
    dout = rng.standard_normal(out.shape)
    dx = global_avg_pool_backward(dout, cache)
    num = eval_numerical_gradient_array(lambda v: global_avg_pool_forward(v)[0], x, dout)
    assert rel_error(dx, num) < GRAD_REL_TOL
    assert global_avg_pool_forward(x.astype(np.float32))[0].dtype == np.float32
    with pytest.raises(ValueError, match="4 dimensions"):
        global_avg_pool_forward(x[0])
    with pytest.raises(ValueError, match="expected \\(N, C\\)"):
        global_avg_pool_backward(dout[:1], cache)


@pytest.mark.torch
def test_global_avg_pool_matches_torch(torch, rng):
    x = rng.standard_normal((2, 3, 4, 5))
    t = torch.nn.functional.adaptive_avg_pool2d(torch.tensor(x), 1).flatten(1).numpy()
    np.testing.assert_allclose(global_avg_pool_forward(x)[0], t)


# ------------------------------------------------------------------ parameter counts


@pytest.mark.parametrize(
    "name, published",
    [("resnet18", 11_689_512), ("resnet34", 21_797_672), ("resnet50", 25_557_032)],
)
def test_resnet_parameter_counts(name, published):
    """torchvision's model cards (BN scales and shifts counted, running stats not)."""
    assert arch.table(name).total_params == published
    assert arch.PUBLISHED[f"{name}_params"] == published


def test_basic_block_count_by_hand():
    # 3x3x64x64 twice + two BNs of 64 (scale and shift)
    block = analyze([Input(56, 56, 64), arch.BasicBlock(64)])
    assert block.total_params == 2 * 3 * 3 * 64 * 64 + 2 * 2 * 64
    proj = analyze([Input(56, 56, 64), arch.BasicBlock(128, S=2, project=True)])
    assert proj.total_params == 3 * 3 * 64 * 128 + 3 * 3 * 128 * 128 + 64 * 128 + 3 * 2 * 128
    assert proj.output_shape == (28, 28, 128)


def test_basic_block_identity_needs_equal_shapes():
    with pytest.raises(ValueError, match="use project=True"):
        analyze([Input(56, 56, 64), arch.BasicBlock(128)])


# ------------------------------------------------------------------ the builder


def test_builder_res_net_gradients():
    net = build_network("INPUT -> CONV -> BN -> RELU -> RES -> POOL -> RES -> GAP -> FC",
                        input_dim=(1, 6, 6), num_classes=3, num_filters=[3, 3, 4],
                        dtype=np.float64, seed=0)
    assert any(k.endswith("_Wp") for k in net.params)  # depth 3 -> 4 needs a projection
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 1, 6, 6)), np.array([0, 1, 2, 1])
    loss, grads = net.loss(X, y)
    assert set(grads) == set(net.params)
    for key in net.params:
        num = eval_numerical_gradient(lambda _: net.loss(X, y)[0], net.params[key])
        if np.abs(num).max() < 1e-9 and np.abs(grads[key]).max() < 1e-9:
            continue  # a bias right before batch norm: the mean subtraction cancels it
        assert rel_error(num, grads[key]) < 1e-6, key
    assert net.loss(X).shape == (4, 3)
    bn_layer = next(layer for layer in net.layers if layer.kind == "BN")
    assert bn_layer.config["mode"] == "test" and "running_mean" in bn_layer.config


def test_builder_plain_twin_has_the_same_depth_and_no_projection():
    kw = {"input_dim": (1, 8, 8), "num_filters": 4, "seed": 0}
    res = build_network("INPUT -> CONV -> [RES]*3 -> GAP -> FC", **kw)
    plain = build_network("INPUT -> CONV -> [PLAIN]*3 -> GAP -> FC", **kw)
    assert sum(v.size for v in res.params.values()) == sum(v.size for v in plain.params.values())
    assert [r["out_shape"] for r in res.layer_table()] == \
        [r["out_shape"] for r in plain.layer_table()]


def test_builder_keeps_its_old_parameter_names():
    net = build_network("INPUT -> [CONV -> RELU -> POOL]*2 -> FC -> RELU -> FC",
                        input_dim=(1, 8, 8), seed=0)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"]


@pytest.mark.parametrize(
    "pattern, match",
    [
        ("INPUT -> FC -> RES -> FC", "RES cannot follow an FC or GAP"),
        ("INPUT -> CONV -> GAP -> BN -> FC", "BN cannot follow an FC or GAP"),
        ("INPUT -> RESX -> FC", "unknown"),
    ],
)
def test_builder_rejects_misplaced_blocks(pattern, match):
    with pytest.raises(ValueError, match=match):
        build_network(pattern, input_dim=(1, 8, 8))
