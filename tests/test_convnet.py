"""ThreeLayerConvNet: shapes, sanity checks, gradients, torch agreement, memory, overfitting."""

from pathlib import Path

import numpy as np
import pytest

from cs231n_lib.convnet import ThreeLayerConvNet
from cs231n_lib.gradient_check import GRAD_REL_TOL, eval_numerical_gradient, rel_error
from cs231n_lib.solver import Solver

LIB = Path(__file__).resolve().parents[1] / "cs231n_lib"


def tiny(**kw):
    args = dict(input_dim=(3, 6, 6), num_filters=3, filter_size=3, hidden_dim=7, num_classes=4,
                weight_scale=0.1, dtype=np.float64, seed=0)
    args.update(kw)
    return ThreeLayerConvNet(**args)


def test_parameter_shapes_follow_the_architecture():
    m = ThreeLayerConvNet(seed=0)
    shapes = {k: v.shape for k, v in m.params.items()}
    # CS231n defaults: 32 filters 7x7 over 3x32x32, pooled to 32x16x16 = 8192 inputs of FC.
    assert shapes == {"W1": (32, 3, 7, 7), "b1": (32,), "W2": (8192, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}
    assert all(v.dtype == np.float32 for v in m.params.values())
    assert np.all(m.params["b1"] == 0)
    assert m.params["W1"].std() == pytest.approx(1e-3, rel=0.05)


def test_seed_makes_initialisation_reproducible():
    a, b = tiny(seed=3), tiny(seed=3)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_initial_loss_is_log_of_the_number_of_classes(rng):
    m = ThreeLayerConvNet(input_dim=(3, 16, 16), num_filters=8, weight_scale=1e-3, seed=0)
    X = rng.standard_normal((20, 3, 16, 16)).astype(np.float32)
    loss, _ = m.loss(X, rng.integers(0, 10, 20))
    assert loss == pytest.approx(np.log(10), abs=1e-3)


def test_regularisation_adds_half_reg_times_squared_weights(rng):
    X = rng.standard_normal((2, 3, 6, 6))
    y = np.array([0, 3])
    plain, reg = tiny(), tiny(reg=0.7)
    extra = 0.5 * 0.7 * sum(np.sum(plain.params[k] ** 2) for k in ("W1", "W2", "W3"))
    assert reg.loss(X, y)[0] == pytest.approx(plain.loss(X, y)[0] + extra, rel=1e-12)


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_gradients_match_numeric(rng, reg):
    m = tiny(reg=reg)
    X = rng.standard_normal((2, 3, 6, 6))
    y = np.array([1, 3])
    _, grads = m.loss(X, y)
    assert set(grads) == set(m.params)
    for k, w in m.params.items():
        num = eval_numerical_gradient(lambda _: m.loss(X, y)[0], w)
        assert rel_error(grads[k], num) < GRAD_REL_TOL, k


def test_scores_without_labels_and_float32(rng):
    m = tiny(dtype=np.float32)
    X = rng.standard_normal((5, 3, 6, 6))  # float64 input is cast to the model's dtype
    scores = m.loss(X)
    assert scores.shape == (5, 4) and scores.dtype == np.float32
    loss, grads = m.loss(X, np.arange(5) % 4)
    assert isinstance(loss, float)
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.torch
def test_matches_torch(torch, rng):
    m = tiny(reg=0.2)
    X = rng.standard_normal((3, 3, 6, 6))
    y = np.array([0, 2, 3])
    loss, grads = m.loss(X, y)
    F = torch.nn.functional
    p = {k: torch.tensor(v, requires_grad=True) for k, v in m.params.items()}
    h = F.max_pool2d(F.relu(F.conv2d(torch.tensor(X), p["W1"], p["b1"], padding=1)), 2, 2)
    h = F.relu(h.reshape(3, -1) @ p["W2"] + p["b2"])
    scores = h @ p["W3"] + p["b3"]
    ref = F.cross_entropy(scores, torch.tensor(y)) + 0.1 * sum(
        (p[k] ** 2).sum() for k in ("W1", "W2", "W3")
    )
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-10)
    for k in m.params:
        assert rel_error(grads[k], p[k].grad.numpy()) < 1e-9, k


def test_memory_estimate_counts_activations_and_parameters():
    m = ThreeLayerConvNet(seed=0)  # float32, 3x32x32, 32 filters 7x7, hidden 100
    est = m.memory_estimate(64)
    n = 64
    activations = n * (3 * 32 * 32            # input
                       + 147 * 1024           # im2col columns: 3*7*7 rows x 32*32 positions
                       + 2 * 32 * 32 * 32     # conv output and ReLU output
                       + 32 * 16 * 16         # pooled
                       + 2 * 100 + 10)        # hidden affine, ReLU, scores
    params = 32 * 147 + 32 + 8192 * 100 + 100 + 100 * 10 + 10
    assert est["activations"] == activations
    assert est["params"] == params
    assert est["bytes_per_value"] == 4
    assert est["total_bytes"] == 4 * (2 * activations + 3 * params)
    assert ThreeLayerConvNet(dtype=np.float64, seed=0).memory_estimate(1)["bytes_per_value"] == 8


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filter_size": 4}, "filter_size must be odd"),
        ({"input_dim": (3, 7, 8)}, r"even H: output H \(7 \+ 2\*0 - 2\)/2 \+ 1 = 3.5"),
        ({"input_dim": (3, 32)}, "input_dim must be a \\(C, H, W\\)"),
        ({"num_classes": 1}, "num_classes must be >= 2"),
        ({"dtype": np.int32}, "float32 or float64"),
        ({"weight_scale": 0}, "weight_scale"),
        ({"reg": -1.0}, "reg must be"),
    ],
)
def test_constructor_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny(**kwargs)


def test_loss_validates_inputs():
    m = tiny()
    with pytest.raises(ValueError, match="built for input_dim"):
        m.loss(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match="0 <= y < num_classes = 4"):
        m.loss(np.zeros((2, 3, 6, 6)), np.array([0, 4]))
    with pytest.raises(ValueError, match="labels"):
        m.loss(np.zeros((2, 3, 6, 6)), np.array([0]))


def test_overfits_fifty_digits():
    from cs231n_lib.datasets import load_digits

    data = load_digits(seed=0)
    small = {"X_train": data["X_train"][:50], "y_train": data["y_train"][:50],
             "X_val": data["X_val"][:20], "y_val": data["y_val"][:20]}
    model = ThreeLayerConvNet(input_dim=(1, 8, 8), num_filters=8, filter_size=3, hidden_dim=50,
                              weight_scale=1e-2, seed=0)
    solver = Solver(model, small, optim_config={"learning_rate": 5e-3}, batch_size=10,
                    num_epochs=15, num_train_samples=None, verbose=False, progress=False, seed=0)
    solver.train()
    assert solver.train_acc_history[-1] >= 0.9
    assert solver.loss_history[-1] < solver.loss_history[0] / 4


def test_student_copy_of_loss_raises_not_implemented(rng):
    from grader.checks.stubs import strip_solutions

    ns: dict = {}
    exec(compile(strip_solutions((LIB / "convnet.py").read_text()), "convnet_stub", "exec"), ns)
    model = ns["ThreeLayerConvNet"](input_dim=(1, 4, 4), num_filters=2, filter_size=3,
                                    hidden_dim=3, num_classes=2, seed=0)
    assert set(model.params) == {"W1", "b1", "W2", "b2", "W3", "b3"}  # init is reference code
    with pytest.raises(NotImplementedError, match="loss: not written yet"):
        model.loss(np.zeros((1, 1, 4, 4)))


@pytest.mark.slow
def test_train_digits_reaches_95_percent_quickly(capsys):
    from cs231n_lib.train_digits import main, train

    acc = main(["--no-progress"])
    out = capsys.readouterr().out
    assert "(epoch 12 / 12) train acc:" in out and "test accuracy" in out
    assert acc >= 0.95
    result = train(pattern="INPUT -> [CONV -> RELU -> POOL]*2 -> FC -> RELU -> FC", seed=1,
                   progress=False, verbose=False)
    assert result["test_acc"] >= 0.95
    assert result["seconds"] < 60
