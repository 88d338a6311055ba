"""The loop convolution: syllabus demo, numeric gradients, validation, the 1-D flip identity."""

from __future__ import annotations

import numpy as np
import pytest

from cs231n_lib.conv_naive import (
    conv1d_backward_via_flip,
    conv1d_forward,
    conv1d_weight_grad,
    conv_backward_naive,
    conv_forward_naive,
    conv_output_shape,
)
from cs231n_lib.gradient_check import (
    GRAD_REL_TOL,
    eval_numerical_gradient_array,
    layer_gradient_errors,
    rel_error,
)

# ---------------------------------------------------------------- the syllabus conv demo


def test_conv_demo_shape_and_every_output_is_window_dot_filter_plus_bias(rng):
    # Notes' demo: input 5x5x3, K=2 filters 3x3, S=2, P=1 -> 3x3x2.
    x = rng.integers(-2, 3, size=(1, 3, 5, 5)).astype(np.float64)
    w = rng.integers(-1, 2, size=(2, 3, 3, 3)).astype(np.float64)
    b = np.array([1.0, 0.0])
    out, _ = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    assert out.shape == (1, 2, 3, 3)
    padded = np.pad(x[0], ((0, 0), (1, 1), (1, 1)))  # 3 x 7 x 7
    for f in range(2):
        for i in range(3):
            for j in range(3):
                window = padded[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]
                expected = float(np.dot(window.ravel(), w[f].ravel())) + b[f]
                assert out[0, f, i, j] == pytest.approx(expected)


def test_dilated_filter_reads_every_dth_pixel(rng):
    x = rng.standard_normal((1, 1, 7, 7))
    w = rng.standard_normal((1, 1, 2, 2))
    out, _ = conv_forward_naive(x, w, np.zeros(1), {"stride": 1, "pad": 0, "dilation": 3})
    assert out.shape == (1, 1, 4, 4)  # effective size (2 - 1)*3 + 1 = 4; 7 - 4 + 1 = 4
    taps = x[0, 0, 1::3, 2::3][:2, :2]  # window at (1, 2): rows 1, 4; cols 2, 5
    assert out[0, 0, 1, 2] == pytest.approx(np.sum(taps * w[0, 0]))


# ---------------------------------------------------------------- output size rule


@pytest.mark.parametrize(
    "size, field, stride, pad, dilation, expected",
    [
        (7, 3, 1, 0, 1, 5),
        (7, 3, 2, 0, 1, 3),
        (7, 3, 1, 1, 1, 7),
        (32, 5, 1, 2, 1, 32),
        (227, 11, 4, 0, 1, 55),
        (9, 3, 1, 0, 2, 5),  # span (3-1)*2+1 = 5
    ],
)
def test_conv_output_shape_follows_the_formula(size, field, stride, pad, dilation, expected):
    g = conv_output_shape(
        (1, 3, size, size),
        (4, 3, field, field),
        {"stride": stride, "pad": pad, "dilation": dilation},
    )
    span = (field - 1) * dilation + 1
    assert (size + 2 * pad - span) / stride + 1 == expected  # the notes' formula, by hand
    assert (g.Ho, g.Wo) == (expected, expected)
    assert tuple(g) == (stride, pad, dilation, expected, expected)


def test_alexnet_224_erratum_is_rejected():
    with pytest.raises(ValueError, match="54.25"):
        conv_output_shape((1, 3, 224, 224), (96, 3, 11, 11), {"stride": 4, "pad": 0})


# ---------------------------------------------------------------- bad input


def _args(rng, x_shape=(1, 3, 7, 7), w_shape=(2, 3, 3, 3), b_shape=(2,)):
    return rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(b_shape)


def test_stride_that_does_not_tile_names_the_rule(rng):
    x, w, b = _args(rng)
    with pytest.raises(ValueError, match=r"\(7 \+ 2\*0 - 3\)/3 \+ 1 = 2\.33 is not a whole number"):
        conv_forward_naive(x, w, b, {"stride": 3, "pad": 0})


@pytest.mark.parametrize(
    "x_shape, w_shape, b_shape, param, rule",
    [
        ((1, 4, 7, 7), (2, 3, 3, 3), (2,), {"stride": 1, "pad": 0}, "channel mismatch"),
        ((3, 7, 7), (2, 3, 3, 3), (2,), {"stride": 1, "pad": 0}, r"x must have 4 dimensions"),
        ((1, 3, 7, 7), (3, 3, 3), (2,), {"stride": 1, "pad": 0}, r"w must have 4 dimensions"),
        ((1, 3, 7, 7), (2, 3, 3, 3), (3,), {"stride": 1, "pad": 0}, r"one bias per filter"),
        ((1, 3, 7, 7), (2, 3, 3, 3), (2,), {"stride": 1, "pad": 0, "padding": 1}, "unknown keys"),
        ((1, 3, 7, 7), (2, 3, 3, 3), (2,), {"stride": 1}, "missing"),
        ((1, 3, 7, 7), (2, 3, 3, 3), (2,), {"stride": 0, "pad": 0}, "positive integer"),
        ((1, 3, 7, 7), (2, 3, 3, 3), (2,), {"stride": 1, "pad": -1}, "non-negative"),
        ((1, 3, 7, 7), (2, 3, 3, 3), (2,), {"stride": 1.5, "pad": 0}, "positive integer"),
        ((1, 3, 2, 2), (2, 3, 3, 3), (2,), {"stride": 1, "pad": 0}, "larger than the padded"),
        ((1, 3, 7, 7), (2, 3, 3, 3), (2,), {"stride": 1, "pad": 0, "dilation": 4}, "dilated"),
    ],
)
def test_bad_input_names_the_rule(rng, x_shape, w_shape, b_shape, param, rule):
    x, w, b = _args(rng, x_shape, w_shape, b_shape)
    with pytest.raises(ValueError, match=rule):
        conv_forward_naive(x, w, b, param)


def test_backward_rejects_wrong_dout_shape(rng):
    x, w, b = _args(rng)
    _, cache = conv_forward_naive(x, w, b, {"stride": 1, "pad": 0})
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape"):
        conv_backward_naive(np.zeros((1, 2, 7, 7)), cache)
    with pytest.raises(ValueError, match="cache"):
        conv_backward_naive(np.zeros((1, 2, 5, 5)), cache[:3])


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    "x_shape, w_shape, param",
    [
        ((2, 3, 5, 5), (3, 3, 3, 3), {"stride": 1, "pad": 1}),
        ((2, 2, 7, 6), (2, 2, 3, 2), {"stride": 2, "pad": 0}),
        ((1, 2, 7, 7), (2, 2, 3, 3), {"stride": 1, "pad": 1, "dilation": 2}),
        ((1, 2, 5, 5), (2, 2, 1, 1), {"stride": 2, "pad": 0}),
    ],
)
def test_backward_matches_numeric_gradient(rng, x_shape, w_shape, param):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    errors = layer_gradient_errors(conv_forward_naive, conv_backward_naive, x, w, b, param)
    assert max(errors.values()) < GRAD_REL_TOL, errors


def test_shared_weight_gradient_is_sum_over_positions(rng):
    # A 1x1 filter on one channel: out = w*x + b everywhere, so dw = sum(dout * x).
    x = rng.standard_normal((2, 1, 4, 4))
    out, cache = conv_forward_naive(x, np.array([[[[0.5]]]]), np.zeros(1), {"stride": 1, "pad": 0})
    dout = rng.standard_normal(out.shape)
    _, dw, db = conv_backward_naive(dout, cache)
    assert dw[0, 0, 0, 0] == pytest.approx(np.sum(dout * x))
    assert db[0] == pytest.approx(dout.sum())


def test_float32_stays_float32(rng):
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    out, cache = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    grads = conv_backward_naive(np.ones_like(out), cache)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


# ---------------------------------------------------------------- 1-D: backward = flipped filter


def test_conv1d_forward_is_cross_correlation(rng):
    x, w = rng.standard_normal(9), rng.standard_normal(3)
    np.testing.assert_allclose(conv1d_forward(x, w), np.correlate(x, w, mode="valid"))


def test_conv1d_backward_is_convolution_with_flipped_filter(rng):
    x, w = rng.standard_normal(9), rng.standard_normal(3)
    dout = rng.standard_normal(7)
    dx = conv1d_backward_via_flip(dout, w)
    # numpy's convolve is a true convolution (it flips its second argument): full mode.
    np.testing.assert_allclose(dx, np.convolve(dout, w, mode="full"))
    # chain rule written out: x[m] feeds y[m - k] through w[k]
    by_hand = np.zeros(9)
    for i in range(7):
        for k in range(3):
            by_hand[i + k] += dout[i] * w[k]
    np.testing.assert_allclose(dx, by_hand)
    numeric = eval_numerical_gradient_array(lambda v: conv1d_forward(v, w), x, dout)
    assert rel_error(dx, numeric) < GRAD_REL_TOL
    # and the flipped filter is essential: without flipping the answer is wrong
    assert not np.allclose(dx, np.convolve(dout, w[::-1], mode="full"))


def test_conv1d_weight_grad(rng):
    x, w = rng.standard_normal(9), rng.standard_normal(3)
    dout = rng.standard_normal(7)
    numeric = eval_numerical_gradient_array(lambda v: conv1d_forward(x, v), w, dout)
    assert rel_error(conv1d_weight_grad(x, dout), numeric) < GRAD_REL_TOL


def test_conv1d_rejects_filter_longer_than_signal(rng):
    with pytest.raises(ValueError, match="larger than"):
        conv1d_forward(rng.standard_normal(3), rng.standard_normal(4))
