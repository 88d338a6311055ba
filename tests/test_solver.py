"""Update rules (hand-computed steps, torch) and the Solver's training loop."""

import numpy as np
import pytest

from cs231n_lib.optim import adam, sgd, sgd_momentum
from cs231n_lib.solver import Solver

W = np.array([1.0, -2.0, 0.5])
DW = np.array([0.5, -1.0, 0.0])


def test_sgd_single_step():
    next_w, cfg = sgd(W, DW, {"learning_rate": 0.1})
    assert next_w.tolist() == pytest.approx([0.95, -1.9, 0.5])
    assert cfg["learning_rate"] == 0.1
    assert sgd(W, DW)[1]["learning_rate"] == 1e-2  # default


def test_sgd_momentum_two_steps():
    cfg = {"learning_rate": 0.1, "momentum": 0.5}
    w1, cfg = sgd_momentum(W, DW, cfg)
    # v1 = -0.1*dw = [-0.05, 0.1, 0]
    assert cfg["velocity"].tolist() == pytest.approx([-0.05, 0.1, 0.0])
    assert w1.tolist() == pytest.approx([0.95, -1.9, 0.5])
    w2, cfg = sgd_momentum(w1, DW, cfg)
    # v2 = 0.5*v1 - 0.1*dw = [-0.075, 0.15, 0]
    assert w2.tolist() == pytest.approx([0.875, -1.75, 0.5])


def test_adam_two_steps_by_hand():
    lr, eps = 0.1, 1e-8
    cfg = {"learning_rate": lr, "epsilon": eps}
    w1, cfg = adam(W, DW, cfg)
    # step 1: m = 0.1 dw, v = 0.001 dw^2; bias-corrected m_hat = dw, v_hat = dw^2,
    # so the step is lr * dw / (|dw| + eps): lr times the sign where dw != 0.
    assert cfg["t"] == 1
    assert w1.tolist() == pytest.approx([0.9, -1.9, 0.5], abs=1e-7)
    dw2 = np.array([1.0, 1.0, 2.0])
    w2, cfg = adam(w1, dw2, cfg)
    m = 0.9 * 0.1 * DW + 0.1 * dw2
    v = 0.999 * 0.001 * DW**2 + 0.001 * dw2**2
    expected = w1 - lr * (m / (1 - 0.81)) / (np.sqrt(v / (1 - 0.999**2)) + eps)
    assert w2 == pytest.approx(expected, rel=1e-12)
    assert cfg["t"] == 2


@pytest.mark.torch
def test_adam_matches_torch(torch, rng):
    w0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(5)]
    p = torch.tensor(w0.copy(), requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.01, betas=(0.8, 0.99), eps=1e-8)
    w, cfg = w0, {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99}
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
        w, cfg = adam(w, g, cfg)
    assert np.allclose(w, p.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_momentum_matches_torch(torch, rng):
    w0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(4)]
    p = torch.tensor(w0.copy(), requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    w, cfg = w0, {"learning_rate": 0.1, "momentum": 0.9}
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
        w, cfg = sgd_momentum(w, g, cfg)
    # torch's v = mu v + g, w -= lr v is the same update as v = mu v - lr g, w += v.
    assert np.allclose(w, p.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("rule", [sgd, sgd_momentum, adam])
def test_rules_keep_dtype_and_leave_config_alone(rule):
    w = W.astype(np.float32)
    config = {"learning_rate": 0.1}
    next_w, cfg = rule(w, DW.astype(np.float32), config)
    assert next_w.dtype == np.float32
    assert config == {"learning_rate": 0.1}
    assert cfg is not config


@pytest.mark.parametrize(
    "rule, w, dw, config, match",
    [
        (sgd, W, DW[:2], None, "shape"),
        (sgd, W, DW, {"lr": 0.1}, "unknown keys \\['lr'\\]"),
        (sgd, W, DW, {"learning_rate": -1}, "learning_rate"),
        (sgd_momentum, W, DW, {"momentum": 1.0}, "momentum must satisfy"),
        (adam, W, DW, {"beta2": 1.5}, "beta2 must satisfy"),
        (sgd, np.array([1, 2, 3]), DW, None, "floating-point"),
    ],
)
def test_rules_validate(rule, w, dw, config, match):
    with pytest.raises(ValueError, match=match):
        rule(w, dw, config)


# ------------------------------------------------------------------ Solver


class Softmax:
    """A linear softmax classifier with the CS231n model API (small and exact)."""

    def __init__(self, d, c, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": 1e-3 * rng.standard_normal((d, c)), "b": np.zeros(c)}

    def loss(self, X, y=None):
        X2 = X.reshape(len(X), -1)
        scores = X2 @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        z = scores - scores.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(p[np.arange(len(y)), y]))
        p[np.arange(len(y)), y] -= 1
        p /= len(y)
        return loss, {"W": X2.T @ p, "b": p.sum(axis=0)}


def blobs(rng, n=200, d=4, c=3):
    centres = 3 * rng.standard_normal((c, d))
    y = np.arange(n) % c
    X = centres[y] + rng.standard_normal((n, d))
    return {"X_train": X[:150], "y_train": y[:150], "X_val": X[150:], "y_val": y[150:]}


def test_solver_learns_and_keeps_histories(rng):
    data = blobs(rng)
    model = Softmax(4, 3)
    calls = []
    solver = Solver(model, data, update_rule="sgd_momentum",
                    optim_config={"learning_rate": 0.1}, lr_decay=0.5, batch_size=25,
                    num_epochs=4, verbose=False, progress=False, seed=0,
                    callback=lambda s: calls.append(s.epoch))
    assert solver.train() is solver
    assert len(solver.loss_history) == 4 * 150 // 25
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 4
    assert calls == [1, 2, 3, 4]
    assert solver.loss_history[-1] < solver.loss_history[0]
    assert solver.best_val_acc == max(solver.val_acc_history) >= 0.9
    # learning rate decayed once per epoch; the model ends with the best parameters
    assert solver.optim_configs["W"]["learning_rate"] == pytest.approx(0.1 * 0.5**4)
    assert all(np.array_equal(model.params[k], solver.best_params[k]) for k in model.params)
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == solver.best_val_acc


def test_solver_seed_makes_runs_identical(rng):
    data = blobs(rng)
    runs = []
    for _ in range(2):
        s = Solver(Softmax(4, 3), data, batch_size=30, num_epochs=2, verbose=False,
                   progress=False, seed=5)
        s.train()
        runs.append(s.loss_history)
    assert runs[0] == runs[1]


def test_solver_prints_and_shows_progress(rng, capsys):
    s = Solver(Softmax(4, 3), blobs(rng), batch_size=50, num_epochs=1, print_every=1,
               verbose=True, progress=True, seed=0)
    s.train()
    out, err = capsys.readouterr()
    assert "(iteration 1 / 3) loss:" in out and "(epoch 1 / 1) train acc:" in out
    assert "3/3" in err  # tqdm's bar on stderr


def test_solver_stops_on_a_diverging_loss(rng):
    class Broken(Softmax):
        def loss(self, X, y=None):
            out = super().loss(X, y)
            return out if y is None else (float("nan"), out[1])

    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        Solver(Broken(4, 3), blobs(rng), verbose=False, progress=False).train()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"update_rule": "rmsprop"}, "update_rule must be one of"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr_decay": 1.5}, "lr_decay must satisfy"),
        ({"num_epochs": 2.5}, "num_epochs"),
    ],
)
def test_solver_validates_arguments(rng, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Solver(Softmax(4, 3), blobs(rng), **kwargs)


def test_solver_validates_data(rng):
    data = blobs(rng)
    with pytest.raises(ValueError, match="missing \\['X_val'\\]"):
        Solver(Softmax(4, 3), {k: v for k, v in data.items() if k != "X_val"})
    bad = dict(data, y_train=data["y_train"][:-1])
    with pytest.raises(ValueError, match="150 examples but y_train has 149"):
        Solver(Softmax(4, 3), bad)
    with pytest.raises(ValueError, match="integer labels"):
        Solver(Softmax(4, 3), dict(data, y_val=data["y_val"].astype(float)))
    with pytest.raises(ValueError, match="model must have"):
        Solver(object(), data)
