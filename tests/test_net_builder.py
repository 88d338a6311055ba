"""Pattern string -> trainable network."""

import numpy as np
import pytest

from cs231n_lib.gradient_check import GRAD_REL_TOL, eval_numerical_gradient, rel_error
from cs231n_lib.net_builder import build_network
from cs231n_lib.solver import Solver

DEEP = "INPUT -> [[CONV -> RELU]*2 -> POOL]*3 -> [FC -> RELU]*2 -> FC"


def test_deep_pattern_shapes_and_parameter_counts():
    net = build_network(DEEP, input_dim=(3, 32, 32), num_classes=10, num_filters=16,
                        hidden_dim=100, seed=0)
    rows = net.layer_table()
    assert rows[0]["out_shape"] == (3, 32, 32)
    assert [r["out_shape"] for r in rows if r["layer"].startswith("POOL")] == [
        (16, 16, 16), (16, 8, 8), (16, 4, 4)]
    assert rows[-1]["out_shape"] == (10,)
    # 3x3 convs: (3*9 + 1)*16 then five of (16*9 + 1)*16; FCs 256->100->100->10.
    expected = 28 * 16 + 5 * 145 * 16 + (256 * 100 + 100) + (100 * 100 + 100) + (100 * 10 + 10)
    assert sum(r["params"] for r in rows) == expected
    assert sum(v.size for v in net.params.values()) == expected
    assert sorted(net.params) == sorted([f"W{i}" for i in range(1, 10)]
                                        + [f"b{i}" for i in range(1, 10)])
    text = net.describe()
    assert "POOL 2x2/2" in text and "CONV 3x3/1 pad 1" in text and f"{expected:,}" in text


def test_linear_classifier_and_per_layer_sizes():
    lin = build_network("INPUT -> FC", input_dim=(1, 4, 4), num_classes=3, seed=0)
    assert {k: v.shape for k, v in lin.params.items()} == {"W1": (16, 3), "b1": (3,)}
    net = build_network("INPUT -> CONV -> RELU -> CONV -> RELU -> FC -> RELU -> FC -> SOFTMAX",
                        input_dim=(2, 4, 4), num_classes=3, num_filters=[5, 6], hidden_dim=[7],
                        filter_size=5, seed=0)
    assert net.params["W1"].shape == (5, 2, 5, 5)
    assert net.params["W2"].shape == (6, 5, 5, 5)
    assert net.params["W3"].shape == (6 * 16, 7)
    assert net.params["W4"].shape == (7, 3)


def test_default_initialisation_is_he(rng):
    net = build_network("INPUT -> CONV -> RELU -> FC", input_dim=(8, 16, 16), num_filters=64,
                        seed=0)
    assert net.params["W1"].std() == pytest.approx(np.sqrt(2 / 72), rel=0.05)
    fixed = build_network("INPUT -> CONV -> RELU -> FC", input_dim=(8, 16, 16), num_filters=64,
                          weight_scale=1e-3, seed=0)
    assert fixed.params["W1"].std() == pytest.approx(1e-3, rel=0.05)


def test_gradients_match_numeric(rng):
    net = build_network("INPUT -> [CONV -> RELU -> POOL]*2 -> FC -> RELU -> FC",
                        input_dim=(2, 4, 4), num_classes=3, num_filters=[2, 3], hidden_dim=5,
                        reg=0.05, dtype=np.float64, seed=1)
    X = rng.standard_normal((3, 2, 4, 4))
    y = np.array([0, 2, 1])
    loss, grads = net.loss(X, y)
    assert set(grads) == set(net.params)
    for k, w in net.params.items():
        num = eval_numerical_gradient(lambda _: net.loss(X, y)[0], w)
        assert rel_error(grads[k], num) < GRAD_REL_TOL, k


@pytest.mark.torch
def test_matches_torch(torch, rng):
    net = build_network("INPUT -> CONV -> RELU -> POOL -> FC", input_dim=(2, 4, 4),
                        num_classes=3, num_filters=3, reg=0.1, dtype=np.float64, seed=0)
    X = rng.standard_normal((4, 2, 4, 4))
    y = np.array([0, 1, 2, 1])
    loss, grads = net.loss(X, y)
    F = torch.nn.functional
    p = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    h = F.max_pool2d(F.relu(F.conv2d(torch.tensor(X), p["W1"], p["b1"], padding=1)), 2)
    scores = h.reshape(4, -1) @ p["W2"] + p["b2"]
    ref = F.cross_entropy(scores, torch.tensor(y)) + 0.05 * ((p["W1"] ** 2).sum()
                                                             + (p["W2"] ** 2).sum())
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-10)
    for k in net.params:
        assert rel_error(grads[k], p[k].grad.numpy()) < 1e-9


def test_solver_trains_a_built_network(rng):
    # two separable classes: bright top half vs bright bottom half
    X = 0.1 * rng.standard_normal((60, 1, 4, 4))
    y = np.arange(60) % 2
    X[y == 0, :, :2] += 1
    X[y == 1, :, 2:] += 1
    data = {"X_train": X[:40], "y_train": y[:40], "X_val": X[40:], "y_val": y[40:]}
    net = build_network("INPUT -> CONV -> RELU -> POOL -> FC", input_dim=(1, 4, 4),
                        num_classes=2, num_filters=4, seed=0)
    solver = Solver(net, data, optim_config={"learning_rate": 1e-2}, batch_size=10,
                    num_epochs=5, verbose=False, progress=False, seed=0)
    solver.train()
    assert solver.best_val_acc >= 0.95, solver.val_acc_history


def test_memory_estimate():
    net = build_network("INPUT -> CONV -> RELU -> POOL -> FC", input_dim=(3, 8, 8),
                        num_classes=10, num_filters=4, seed=0)
    est = net.memory_estimate(2)
    acts = 2 * (3 * 64 + 27 * 64 + 4 * 64 + 4 * 64 + 4 * 16 + 10)
    params = 4 * 28 + 64 * 10 + 10
    assert (est["activations"], est["params"]) == (acts, params)
    assert est["total_bytes"] == 4 * (2 * acts + 3 * params)


@pytest.mark.parametrize(
    "pattern, match",
    [
        ("CONV -> RELU -> FC", "must start with INPUT"),
        ("INPUT -> CONV -> RELU", "must end with FC"),
        ("INPUT -> [CONV -> POOL]*4 -> FC", "below 1 pixel"),
        ("INPUT -> FC -> CONV -> FC", "CONV cannot follow an FC"),
        ("INPUT -> DROPOUT -> FC", "supports only"),
        ("INPUT -> FC -> INPUT -> FC", "INPUT may appear only once"),
        ("INPUT -> SOFTMAX -> FC", "SOFTMAX may appear only at the end"),
        ("INPUT -> [CONV -> RELU", "bracket|\\["),
    ],
)
def test_bad_patterns_are_rejected(pattern, match):
    with pytest.raises(ValueError, match=match):
        build_network(pattern, input_dim=(1, 8, 8), num_classes=2)


def test_pool_of_an_odd_map_is_rejected():
    rule = r"height \(3 \+ 2\*0 - 2\)/2 \+ 1 = 1.5 is not a whole number"
    with pytest.raises(ValueError, match=rule):
        build_network("INPUT -> POOL -> POOL -> POOL -> FC", input_dim=(1, 12, 12))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filter_size": 2}, "filter_size must be odd"),
        ({"num_filters": [4]}, "num_filters lists 1 values but the pattern has 2 CONV"),
        ({"hidden_dim": [4, 4]}, "hidden_dim lists 2 values"),
        ({"num_classes": 1}, "num_classes must be >= 2"),
        ({"dtype": "int64"}, "float32 or float64"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_network("INPUT -> CONV -> CONV -> FC -> FC", input_dim=(1, 8, 8), **kwargs)


def test_loss_validates_input():
    net = build_network("INPUT -> FC", input_dim=(1, 4, 4), num_classes=2)
    with pytest.raises(ValueError, match="built for input_dim"):
        net.loss(np.zeros((1, 1, 8, 8)))
