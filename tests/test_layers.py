"""Affine, ReLU, softmax / SVM losses and the sandwich layers of layer_utils."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cs231n_lib.gradient_check import (
    GRAD_REL_TOL,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from cs231n_lib.layer_utils import (
    affine_relu_backward,
    affine_relu_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)
from cs231n_lib.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    svm_loss,
)

LIB = Path(__file__).resolve().parents[1] / "cs231n_lib"


def away_from_zero(rng, shape, gap=0.1):
    """Random values with |x| >= gap, so ReLU kinks are not straddled by the numeric step."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + gap, x - gap)


# ------------------------------------------------------------------ affine


def test_affine_forward_matches_explicit_sum(rng):
    x = rng.standard_normal((3, 2, 3, 4))
    w = rng.standard_normal((24, 5))
    b = rng.standard_normal(5)
    out, _ = affine_forward(x, w, b)
    expected = np.zeros((3, 5))
    for n in range(3):
        for m in range(5):
            expected[n, m] = b[m] + sum(
                x[n, c, i, j] * w[c * 12 + i * 4 + j, m]
                for c in range(2)
                for i in range(3)
                for j in range(4)
            )
    assert out.shape == (3, 5)
    assert rel_error(out, expected) < 1e-12


def test_affine_backward_numeric(rng):
    x = rng.standard_normal((4, 2, 3))
    w = rng.standard_normal((6, 5))
    b = rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    dx_num = eval_numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)
    assert rel_error(dx, dx_num) < GRAD_REL_TOL
    assert rel_error(dw, dw_num) < GRAD_REL_TOL
    assert rel_error(db, db_num) < GRAD_REL_TOL


def test_affine_keeps_float32(rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    b = np.zeros(4, np.float32)
    out, cache = affine_forward(x, w, b)
    assert out.dtype == np.float32
    dx, dw, db = affine_backward(np.ones((2, 4), np.float32), cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float32


@pytest.mark.parametrize(
    "xs, ws, bs, match",
    [
        ((2, 3, 4), (13, 5), (5,), "flattens to D = 12"),
        ((2, 12), (12, 5), (4,), "b has 4 entries"),
        ((2, 12), (12,), (5,), "w must have 2 dimensions"),
    ],
)
def test_affine_rejects_bad_shapes(xs, ws, bs, match):
    with pytest.raises(ValueError, match=match):
        affine_forward(np.ones(xs), np.ones(ws), np.ones(bs))


def test_affine_backward_rejects_wrong_dout(rng):
    _, cache = affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="expected \\(N, M\\)"):
        affine_backward(np.ones((2, 5)), cache)
    with pytest.raises(ValueError, match="cache"):
        affine_backward(np.ones((2, 4)), None)


# ------------------------------------------------------------------ relu


def test_relu_forward_backward(rng):
    x = away_from_zero(rng, (3, 4, 5))
    out, cache = relu_forward(x)
    assert np.array_equal(out, np.where(x > 0, x, 0.0))
    dout = rng.standard_normal(x.shape)
    dx = relu_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: relu_forward(v)[0], x, dout)
    assert rel_error(dx, dx_num) < GRAD_REL_TOL
    assert relu_forward(x.astype(np.float32))[0].dtype == np.float32


def test_relu_gradient_at_zero_is_zero():
    dx = relu_backward(np.ones(3), relu_forward(np.array([-1.0, 0.0, 1.0]))[1])
    assert dx.tolist() == [0.0, 0.0, 1.0]


def test_relu_backward_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        relu_backward(np.ones(3), np.ones(4))


# ------------------------------------------------------------------ losses


def softmax_reference(x, y):
    """Cross-entropy written directly from the definition (fine for moderate scores)."""
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(y)), y]))


def test_softmax_loss_value_and_gradient(rng):
    x = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    loss, dx = softmax_loss(x, y)
    assert loss == pytest.approx(softmax_reference(x, y), rel=1e-12)
    dx_num = eval_numerical_gradient(lambda v: softmax_loss(v, y)[0], x)
    assert rel_error(dx, dx_num) < GRAD_REL_TOL


def test_softmax_loss_of_tiny_scores_is_log_c(rng):
    x = 1e-3 * rng.standard_normal((50, 10))
    loss, _ = softmax_loss(x, rng.integers(0, 10, 50))
    assert loss == pytest.approx(np.log(10), abs=1e-2)


def test_softmax_loss_is_stable_for_huge_scores():
    x = np.array([[1000.0, 0.0, -1000.0], [5e4, 5e4, 0.0]])
    loss, dx = softmax_loss(x, np.array([1, 0]))
    # row 0: -log softmax = 1000 (+ log(1 + e^-1000 + e^-2000) ~ 0); row 1: log 2
    assert loss == pytest.approx((1000 + np.log(2)) / 2, rel=1e-12)
    assert np.all(np.isfinite(dx))


@pytest.mark.torch
def test_softmax_loss_matches_torch(torch, rng):
    x = rng.standard_normal((7, 5))
    y = rng.integers(0, 5, 7)
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(y))
    lt.backward()
    loss, dx = softmax_loss(x, y)
    assert loss == pytest.approx(lt.item(), rel=1e-12)
    assert rel_error(dx, xt.grad.numpy()) < 1e-10


def test_svm_loss_hand_example():
    # scores of the CS231n notes' example: cat 3.2, car 5.1, frog -1.7; correct class cat.
    x = np.array([[3.2, 5.1, -1.7]])
    loss, dx = svm_loss(x, np.array([0]))
    assert loss == pytest.approx(2.9)  # max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1)
    assert dx.tolist() == [[-1.0, 1.0, 0.0]]


def test_svm_loss_gradient(rng):
    x = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    _, dx = svm_loss(x, y)
    dx_num = eval_numerical_gradient(lambda v: svm_loss(v, y)[0], x)
    assert rel_error(dx, dx_num) < GRAD_REL_TOL


@pytest.mark.torch
def test_svm_loss_matches_torch(torch, rng):
    x = rng.standard_normal((5, 6))
    y = rng.integers(0, 6, 5)
    # multi_margin_loss averages over the C classes as well: multiply by C.
    ref = 6 * torch.nn.functional.multi_margin_loss(torch.tensor(x), torch.tensor(y)).item()
    assert svm_loss(x, y)[0] == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("loss_fn", [softmax_loss, svm_loss])
@pytest.mark.parametrize(
    "x, y, match",
    [
        (np.zeros((3, 4)), np.array([0, 1, 4]), "label 4 is out of range"),
        (np.zeros((3, 4)), np.array([0, -1, 2]), "label -1 is out of range"),
        (np.zeros((3, 4)), np.array([0, 1]), "N must match"),
        (np.zeros((3, 4)), np.array([0.0, 1.0, 2.0]), "integer class labels"),
        (np.zeros(4), np.array([0]), "2 dimensions"),
        (np.array([[np.nan, 0.0]]), np.array([0]), "NaN"),
    ],
)
def test_losses_validate(loss_fn, x, y, match):
    with pytest.raises(ValueError, match=match):
        loss_fn(x, y)


def test_softmax_keeps_float32(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    loss, dx = softmax_loss(x, np.array([0, 1, 2]))
    assert isinstance(loss, float) and dx.dtype == np.float32


# ------------------------------------------------------------------ layer_utils


def test_affine_relu_gradients(rng):
    x = rng.standard_normal((3, 2, 2))
    w = rng.standard_normal((4, 5))
    b = away_from_zero(rng, 5, 0.5)
    dout = rng.standard_normal((3, 5))
    out, cache = affine_relu_forward(x, w, b)
    assert np.all(out >= 0)
    dx, dw, db = affine_relu_backward(dout, cache)
    for got, arg in ((dx, x), (dw, w), (db, b)):
        num = eval_numerical_gradient_array(lambda _: affine_relu_forward(x, w, b)[0], arg, dout)
        assert rel_error(got, num) < GRAD_REL_TOL


CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def test_conv_relu_gradients(rng):
    x = rng.standard_normal((2, 2, 3, 3))
    w = rng.standard_normal((2, 2, 3, 3))
    b = rng.standard_normal(2)
    out, cache = conv_relu_forward(x, w, b, CONV)
    assert out.shape == (2, 2, 3, 3)
    dout = rng.standard_normal(out.shape)
    grads = conv_relu_backward(dout, cache)
    for got, arg in zip(grads, (x, w, b), strict=True):
        num = eval_numerical_gradient_array(lambda _: conv_relu_forward(x, w, b, CONV)[0], arg,
                                            dout)
        assert rel_error(got, num) < GRAD_REL_TOL


def test_conv_relu_pool_gradients(rng):
    x = rng.standard_normal((2, 3, 4, 4))
    w = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(2)
    out, cache = conv_relu_pool_forward(x, w, b, CONV, POOL)
    assert out.shape == (2, 2, 2, 2)
    dout = rng.standard_normal(out.shape)
    grads = conv_relu_pool_backward(dout, cache)

    def f(_):
        return conv_relu_pool_forward(x, w, b, CONV, POOL)[0]

    for got, arg in zip(grads, (x, w, b), strict=True):
        assert rel_error(got, eval_numerical_gradient_array(f, arg, dout)) < GRAD_REL_TOL


def test_sandwich_backward_rejects_foreign_cache():
    with pytest.raises(ValueError, match="cache"):
        conv_relu_pool_backward(np.ones((1, 1, 1, 1)), ("x",))


# ------------------------------------------------------------------ stubs


def test_student_copy_of_layers_raises_not_implemented():
    from grader.checks.stubs import strip_solutions

    ns: dict = {}
    exec(compile(strip_solutions((LIB / "layers.py").read_text()), "layers_stub", "exec"), ns)
    with pytest.raises(NotImplementedError, match="affine_forward: not written yet.*08_training"):
        ns["affine_forward"](np.ones((2, 3)), np.ones((3, 4)), np.ones(4))
    with pytest.raises(ValueError, match="out of range"):  # validation survives
        ns["softmax_loss"](np.zeros((1, 3)), np.array([3]))
    with pytest.raises(NotImplementedError, match="softmax_loss"):
        ns["softmax_loss"](np.zeros((1, 3)), np.array([2]))


# ------------------------------------------------------------------ properties

SCORES = arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(2, 6)),
                elements=st.floats(-50, 50))


@settings(max_examples=40, deadline=None)
@given(x=SCORES, shift=st.floats(-1e3, 1e3), data=st.data())
def test_softmax_loss_properties(x, shift, data):
    n, c = x.shape
    y = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    loss, dx = softmax_loss(x, y)
    shifted, dxs = softmax_loss(x + shift, y)  # adding a constant to a row changes nothing
    assert loss >= 0 and shifted == pytest.approx(loss, rel=1e-9, abs=1e-9)
    assert np.allclose(dx, dxs, atol=1e-9)
    assert np.allclose(dx.sum(axis=1), 0, atol=1e-12)  # probabilities minus a one-hot
    svm, dsvm = svm_loss(x, y)
    assert svm >= 0 and np.allclose(dsvm.sum(axis=1), 0)
