"""Locally-connected (unshared-weights) layer: gradients, equivalence with conv, parameter count."""

from __future__ import annotations

import numpy as np
import pytest

from cs231n_lib.conv_naive import conv_backward_naive, conv_forward_naive
from cs231n_lib.gradient_check import (
    GRAD_REL_TOL,
    layer_gradient_errors,
)
from cs231n_lib.locally_connected import (
    conv_to_locally_connected,
    locally_connected_backward,
    locally_connected_forward,
    locally_connected_param_count,
    locally_connected_shapes,
)


def _layer(rng, x_shape, F, HH, WW, param):
    w_shape, b_shape = locally_connected_shapes(x_shape, F, HH, WW, param)
    return rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(b_shape)


def test_shapes():
    w_shape, b_shape = locally_connected_shapes((2, 3, 7, 7), 4, 3, 3, {"stride": 2, "pad": 0})
    assert w_shape == (3, 3, 4, 3, 3, 3)
    assert b_shape == (3, 3, 4)


def test_each_output_uses_its_own_filter_bank(rng):
    param = {"stride": 2, "pad": 1}
    x, w, b = _layer(rng, (2, 2, 5, 5), 3, 3, 3, param)
    out, _ = locally_connected_forward(x, w, b, param)
    assert out.shape == (2, 3, 3, 3)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for n, f, i, j in [(0, 0, 0, 0), (1, 2, 2, 1), (0, 1, 1, 2)]:
        window = xp[n, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]
        assert out[n, f, i, j] == pytest.approx(np.sum(window * w[i, j, f]) + b[i, j, f])


@pytest.mark.parametrize(
    "x_shape, F, HH, WW, param",
    [
        ((2, 2, 5, 5), 3, 3, 3, {"stride": 1, "pad": 1}),
        ((2, 2, 7, 6), 2, 3, 2, {"stride": 2, "pad": 0}),
        ((1, 2, 7, 7), 2, 2, 2, {"stride": 1, "pad": 0, "dilation": 2}),
    ],
)
def test_backward_matches_numeric_gradient(rng, x_shape, F, HH, WW, param):
    x, w, b = _layer(rng, x_shape, F, HH, WW, param)
    errors = layer_gradient_errors(
        locally_connected_forward, locally_connected_backward, x, w, b, param
    )
    assert max(errors.values()) < GRAD_REL_TOL, errors


@pytest.mark.parametrize("param", [{"stride": 1, "pad": 1}, {"stride": 2, "pad": 0, "dilation": 2}])
def test_equal_weights_at_every_position_is_a_convolution(rng, param):
    x = rng.standard_normal((2, 3, 7, 7))
    w = rng.standard_normal((4, 3, 2, 2))
    b = rng.standard_normal(4)
    conv_out, conv_cache = conv_forward_naive(x, w, b, param)
    Ho, Wo = conv_out.shape[2:]
    w_lc, b_lc = conv_to_locally_connected(w, b, Ho, Wo)
    lc_out, lc_cache = locally_connected_forward(x, w_lc, b_lc, param)
    np.testing.assert_allclose(lc_out, conv_out, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(conv_out.shape)
    cdx, cdw, cdb = conv_backward_naive(dout, conv_cache)
    ldx, ldw, ldb = locally_connected_backward(dout, lc_cache)
    np.testing.assert_allclose(ldx, cdx, rtol=1e-12, atol=1e-12)
    # parameter sharing: the shared weight's gradient is the sum over positions
    np.testing.assert_allclose(ldw.sum(axis=(0, 1)), cdw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ldb.sum(axis=(0, 1)), cdb, rtol=1e-12, atol=1e-12)


def test_alexnet_conv1_without_sharing_has_105_million_parameters():
    # The notes' figures: 55*55*96 = 290,400 neurons, each with 11*11*3 = 363 weights and one
    # bias, 105,705,600 parameters (34,944 with sharing).
    expected = 105_705_600
    assert locally_connected_param_count((3, 227, 227), 96, 11, stride=4) == expected
    assert locally_connected_param_count((1, 3, 227, 227), 96, (11, 11), stride=4) == expected
    assert locally_connected_param_count((3, 227, 227), 96, 11, 4, bias=False) == 290_400 * 363


@pytest.mark.parametrize(
    "w_shape, b_shape, param, rule",
    [
        ((3, 3, 2, 3, 3, 3), (3, 3, 2), {"stride": 3, "pad": 0}, r"2\.33 is not a whole number"),
        ((4, 4, 2, 3, 3, 3), (4, 4, 2), {"stride": 2, "pad": 0}, "one filter bank per output"),
        ((3, 3, 2, 3, 3, 3), (3, 3, 3), {"stride": 2, "pad": 0}, "one bias per output"),
        ((3, 3, 2, 4, 3, 3), (3, 3, 2), {"stride": 2, "pad": 0}, "channel mismatch"),
        ((2, 3, 3, 3), (3, 3, 2), {"stride": 2, "pad": 0}, "w must have 6 dimensions"),
        ((3, 3, 2, 3, 3, 3), (3, 3, 2), {"stride": 2, "pad": 0, "x": 1}, "lc_param has unknown"),
    ],
)
def test_bad_input_names_the_rule(rng, w_shape, b_shape, param, rule):
    x = rng.standard_normal((1, 3, 7, 7))
    with pytest.raises(ValueError, match=rule):
        locally_connected_forward(
            x, rng.standard_normal(w_shape), rng.standard_normal(b_shape), param
        )


def test_float32_stays_float32(rng):
    param = {"stride": 1, "pad": 0}
    x, w, b = (a.astype(np.float32) for a in _layer(rng, (1, 2, 4, 4), 2, 3, 3, param))
    out, cache = locally_connected_forward(x, w, b, param)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in locally_connected_backward(np.ones_like(out), cache))
