"""Rosenblatt's perceptron and Widrow-Hoff's Adaline."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs231n_lib.perceptron import (
    adaline_train,
    linearly_separable_toy,
    perceptron_predict,
    perceptron_update,
    train_perceptron,
    xor_toy,
)


def test_predict_thresholds_strictly_above_zero():
    w = np.array([1.0, -1.0])
    X = np.array([[2.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    y = perceptron_predict(w, 0.0, X)
    assert y.tolist() == [1, 0, 0]  # w.x + b = 1, 0, -1: only > 0 fires
    assert perceptron_predict(w, 0.5, X).tolist() == [1, 1, 0]
    assert set(np.unique(y)) <= {0, 1}


@settings(max_examples=50, deadline=None)
@given(w=st.lists(st.floats(-5, 5), min_size=3, max_size=3),
       x=st.lists(st.floats(-5, 5), min_size=3, max_size=3),
       b=st.floats(-5, 5), lr=st.floats(0.01, 2.0))
def test_update_follows_rosenblatts_rule(w, x, b, lr):
    w, x = np.array(w), np.array(x)
    y = 1 if sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b > 0 else 0
    for d in (0, 1):
        w_new, b_new = perceptron_update(w, b, x, d, lr)
        # w_i(t+1) = w_i(t) + alpha (d - y) x_i, written out component by component.
        expected = [wi + lr * (d - y) * xi for wi, xi in zip(w, x, strict=True)]
        np.testing.assert_allclose(w_new, expected, rtol=1e-12, atol=1e-12)
        assert b_new == pytest.approx(b + lr * (d - y))


def test_update_does_nothing_on_a_correct_prediction():
    w = np.array([1.0, 2.0])
    x = np.array([1.0, 1.0])  # w.x = 3 > 0 -> y = 1
    w_new, b_new = perceptron_update(w, 0.0, x, 1, lr=0.7)
    np.testing.assert_array_equal(w_new, w)
    assert b_new == 0.0
    assert w_new is not w  # a new array: the caller's weights are never mutated


def test_update_keeps_float32():
    w_new, _ = perceptron_update(np.zeros(2, np.float32), 0.0, np.ones(2, np.float32), 1, 1.0)
    assert w_new.dtype == np.float32


@pytest.mark.parametrize(
    "args, rule",
    [((np.zeros(2), 0.0, np.zeros(3), 1, 1.0), "shape"),
     ((np.zeros(2), 0.0, np.zeros(2), 2, 1.0), "0 or 1"),
     ((np.zeros(2), 0.0, np.zeros(2), 1, 0.0), "lr"),
     ((np.zeros(2), "b", np.zeros(2), 1, 1.0), "b must be"),
     (([0.0, 0.0], 0.0, np.zeros(2), 1, 1.0), "numpy array")],
)
def test_update_validation(args, rule):
    with pytest.raises(ValueError, match=rule):
        perceptron_update(*args)


def test_predict_validation():
    with pytest.raises(ValueError, match="features"):
        perceptron_predict(np.zeros(2), 0.0, np.zeros((4, 3)))


@pytest.mark.parametrize("seed", range(5))
def test_converges_on_linearly_separable_data(seed):
    X, d = linearly_separable_toy(np.random.default_rng(seed))
    w, b, history = train_perceptron(X, d, lr=1.0, max_epochs=100)
    assert history.converged
    assert history.errors[-1] == 0
    assert history.epochs_to_converge == history.epochs
    assert (perceptron_predict(w, b, X) == d).all()


def test_toy_set_is_separable_by_construction():
    X, d = linearly_separable_toy(np.random.default_rng(0), n=200, margin=0.5)
    s = X.sum(axis=1) / np.sqrt(2.0)  # signed distance to the line x1 + x2 = 0
    assert (s[d == 1] >= 0.5).all() and (s[d == 0] <= -0.5).all()
    assert set(d.tolist()) == {0, 1}


def test_never_converges_on_xor():
    """XOR is not linearly separable: w1*x1 + w2*x2 + b > 0 would need b <= 0 (for (0,0)),
    w1 + b > 0 and w2 + b > 0 (for (1,0), (0,1)), hence w1 + w2 + 2b > 0, so
    w1 + w2 + b > -b >= 0 and (1,1) would fire too. Every pass over the four points therefore
    misclassifies at least one of them: no epoch is ever error-free."""
    X, d = xor_toy()
    _, _, history = train_perceptron(X, d, lr=1.0, max_epochs=200)
    assert not history.converged and history.epochs_to_converge is None
    assert history.epochs == 200
    assert min(history.errors) >= 1


def test_no_line_separates_xor_on_a_grid():
    """A brute-force check of the argument above over a grid of lines."""
    X, d = xor_toy()
    grid = np.linspace(-3, 3, 25)
    for w1, w2, b in itertools.product(grid, grid, grid):
        y = perceptron_predict(np.array([w1, w2]), float(b), X)
        assert (y != d).any()


def test_adaline_learns_a_linear_map_and_its_error_falls():
    rng = np.random.default_rng(1)
    X, d = linearly_separable_toy(rng, n=60)
    target = 2.0 * d - 1.0
    w, b, mse = adaline_train(X, target, lr=0.01, epochs=40)
    assert mse[-1] < mse[0]
    assert ((X @ w + b > 0).astype(int) == d).all()
    # LMS is SGD on (d - s)^2 / 2; on a noiseless linear target it recovers the map.
    w_true = np.array([0.5, -1.5])
    Z = rng.normal(size=(100, 2))
    w_fit, b_fit, _ = adaline_train(Z, Z @ w_true + 0.25, lr=0.05, epochs=60)
    np.testing.assert_allclose(w_fit, w_true, atol=1e-6)
    assert b_fit == pytest.approx(0.25, abs=1e-6)


def test_train_validation():
    X, d = xor_toy()
    with pytest.raises(ValueError, match="0 or 1"):
        train_perceptron(X, d * 2)
    with pytest.raises(ValueError, match="targets"):
        train_perceptron(X, d[:3])
    with pytest.raises(ValueError, match="Generator"):
        linearly_separable_toy(0)
