"""Numeric gradient helpers: correct, non-destructive, precise on small entries."""

import numpy as np
import pytest

from cs231n_lib.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)


def test_scalar_gradient_matches_analytic(rng):
    x = rng.standard_normal((3, 4))
    before = x.copy()
    grad = eval_numerical_gradient(lambda a: float(np.sum(a**3)), x)
    assert rel_error(grad, 3 * x**2) < 1e-8
    np.testing.assert_array_equal(x, before)  # perturbed in place, then restored


def test_array_gradient_keeps_small_entries_precise(rng):
    """Large outputs next to a tiny derivative: the difference must come before the sum."""
    x = rng.standard_normal(6)
    df = np.ones(6)

    def f(a):  # five large outputs, and one output whose slope is 1e-6
        return np.concatenate([1e3 * a[:5] + 1e3, [1e-6 * a[5]]])

    grad = eval_numerical_gradient_array(f, x, df)
    assert rel_error(grad, np.array([1e3] * 5 + [1e-6])) < 1e-6


def test_rel_error_and_bad_input():
    assert rel_error(np.ones(3), np.ones(3)) == 0
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="floating-point"):
        eval_numerical_gradient(lambda a: 0.0, np.ones(3, dtype=int))
    with pytest.raises(ValueError, match="df has shape"):
        eval_numerical_gradient_array(lambda a: a, np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="h must be"):
        eval_numerical_gradient(lambda a: 0.0, np.ones(3), h=0)


def test_layer_gradient_errors_flags_a_wrong_backward(rng):
    from cs231n_lib.conv_fast import conv_backward_fast, conv_forward_fast
    from cs231n_lib.gradient_check import GRAD_REL_TOL, layer_gradient_errors

    x = rng.standard_normal((2, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    param = {"stride": 1, "pad": 1}
    good = layer_gradient_errors(conv_forward_fast, conv_backward_fast, x, w, b, param)
    assert max(good.values()) < GRAD_REL_TOL

    def db_of_first_image(dout, cache):  # a classic bug: db not summed over the batch
        dx, dw, _ = conv_backward_fast(dout, cache)
        return dx, dw, dout[0].sum(axis=(1, 2))

    bad = layer_gradient_errors(conv_forward_fast, db_of_first_image, x, w, b, param)
    assert bad["db"] > 1e-2 and bad["dx"] < GRAD_REL_TOL
