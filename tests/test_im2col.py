"""im2col / col2im layout, the AlexNet 363 x 3025 figure, duplication counts, gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs231n_lib.conv_naive import conv_forward_naive
from cs231n_lib.gradient_check import (
    GRAD_REL_TOL,
    layer_gradient_errors,
)
from cs231n_lib.im2col import (
    col2im,
    conv_backward_im2col,
    conv_forward_im2col,
    im2col,
    im2col_duplication,
)


def test_alexnet_conv1_x_col_is_363_by_3025(rng):
    x = rng.standard_normal((1, 3, 227, 227))
    w = rng.standard_normal((96, 3, 11, 11))
    x_col = im2col(x, 11, 11, stride=4)
    w_row = w.reshape(96, -1)
    assert x_col.shape == (11 * 11 * 3, 55 * 55) == (363, 3025)
    assert w_row.shape == (96, 363)
    product = w_row @ x_col
    assert product.shape == (96, 3025)
    out = product.reshape(96, 55, 55)
    # spot-check output neurons against an explicit window . filter
    for f, i, j in [(0, 0, 0), (17, 54, 3), (95, 27, 54)]:
        window = x[0, :, 4 * i : 4 * i + 11, 4 * j : 4 * j + 11]
        assert out[f, i, j] == pytest.approx(np.sum(window * w[f]))


def test_column_layout_is_as_documented(rng):
    N, C, H, W, HH, WW, S, P, d = 2, 3, 9, 9, 2, 3, 2, 1, 2
    x = rng.standard_normal((N, C, H, W))
    cols = im2col(x, HH, WW, stride=S, pad=P, dilation=d)
    Ho = (H + 2 * P - ((HH - 1) * d + 1)) // S + 1
    Wo = (W + 2 * P - ((WW - 1) * d + 1)) // S + 1
    assert cols.shape == (C * HH * WW, N * Ho * Wo)
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    for c, i, j, n, oh, ow in [
        (0, 0, 0, 0, 0, 0),
        (2, 1, 2, 1, Ho - 1, Wo - 1),
        (1, 1, 0, 0, 2, 1),
    ]:
        r = (c * HH + i) * WW + j
        k = (n * Ho + oh) * Wo + ow
        assert cols[r, k] == xp[n, c, oh * S + i * d, ow * S + j * d]


@st.composite
def field_configs(draw):
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    HH, WW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    S, P, d = draw(st.integers(1, 3)), draw(st.integers(0, 2)), draw(st.integers(1, 2))
    Ho, Wo = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H = max(1, (Ho - 1) * S + (HH - 1) * d + 1 - 2 * P)
    W = max(1, (Wo - 1) * S + (WW - 1) * d + 1 - 2 * P)
    # round H, W up to the next size the stride tiles exactly
    span_h, span_w = (HH - 1) * d + 1, (WW - 1) * d + 1
    while (H + 2 * P - span_h) % S or H + 2 * P < span_h:
        H += 1
    while (W + 2 * P - span_w) % S or W + 2 * P < span_w:
        W += 1
    return (N, C, H, W), HH, WW, S, P, d


@settings(max_examples=40, deadline=None)
@given(cfg=field_configs(), seed=st.integers(0, 2**16))
def test_col2im_is_the_adjoint_of_im2col(cfg, seed):
    x_shape, HH, WW, S, P, d = cfg
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    cols = im2col(x, HH, WW, S, P, d)
    y = rng.standard_normal(cols.shape)
    # <im2col(x), y> == <x, col2im(y)>: the definition of the adjoint
    assert np.vdot(cols, y) == pytest.approx(np.vdot(x, col2im(y, x_shape, HH, WW, S, P, d)))


def test_duplication_counts_match_counting_im2col_entries():
    x_shape, field, S, P = (1, 1, 9, 11), 3, 2, 1
    ids = np.arange(1, 9 * 11 + 1, dtype=np.float64).reshape(x_shape)  # 0 marks padding
    cols = im2col(ids, field, field, stride=S, pad=P)
    seen = np.bincount(cols.astype(np.int64).ravel(), minlength=9 * 11 + 1)[1:]
    counts = im2col_duplication(x_shape, field, S, P)
    np.testing.assert_array_equal(counts, seen.reshape(9, 11))


def test_duplication_alexnet_and_simple_cases():
    counts = im2col_duplication((1, 3, 227, 227), 11, stride=4)
    # every column holds 363 values and there are 3025 of them; 3 channels share the counts
    assert counts.sum() * 3 == 363 * 3025
    assert counts.max() == 9  # ceil(11/4) = 3 windows overlap per axis
    assert counts.min() == 1
    assert (im2col_duplication((5, 6), (1, 2), stride=1) == [[1, 2, 2, 2, 2, 1]] * 5).all()
    assert (im2col_duplication((6, 6), 2, stride=2) == 1).all()  # no overlap, no copies
    c3 = im2col_duplication((1, 1, 6, 6), 3, stride=1, pad=1)
    assert c3[1:-1, 1:-1].min() == 9 and c3[0, 0] == 4 and c3[0, 2] == 6


def test_im2col_rejects_non_tiling_stride(rng):
    with pytest.raises(ValueError, match=r"2\.33 is not a whole number"):
        im2col(rng.standard_normal((1, 3, 7, 7)), 3, 3, stride=3)


def test_col2im_rejects_wrong_column_shape():
    with pytest.raises(ValueError, match=r"cols must have shape \(C\*HH\*WW, N\*Ho\*Wo\)"):
        col2im(np.zeros((27, 24)), (1, 3, 7, 7), 3, 3)


@pytest.mark.parametrize("x_shape", [None, 7, "1377", (3, 7, 7), (1, 0, 7, 7)])
def test_col2im_rejects_a_bad_x_shape_with_value_error(x_shape):
    with pytest.raises(ValueError, match="x_shape"):
        col2im(np.zeros((27, 25)), x_shape, 3, 3)


@pytest.mark.parametrize(
    "x_shape, w_shape, param",
    [
        ((2, 3, 5, 5), (3, 3, 3, 3), {"stride": 1, "pad": 1}),
        ((2, 2, 7, 6), (2, 2, 3, 2), {"stride": 2, "pad": 0}),
        ((1, 2, 7, 7), (2, 2, 3, 3), {"stride": 2, "pad": 2, "dilation": 2}),
    ],
)
def test_im2col_conv_matches_naive_and_numeric_gradient(rng, x_shape, w_shape, param):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    out, cache = conv_forward_im2col(x, w, b, param)
    np.testing.assert_allclose(out, conv_forward_naive(x, w, b, param)[0], rtol=1e-12, atol=1e-12)
    errors = layer_gradient_errors(conv_forward_im2col, conv_backward_im2col, x, w, b, param)
    assert max(errors.values()) < GRAD_REL_TOL, errors


def test_float32_stays_float32(rng):
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    assert im2col(x, 3, 3, pad=1).dtype == np.float32
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    out, cache = conv_forward_im2col(x, w, np.zeros(2, np.float32), {"stride": 1, "pad": 1})
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv_backward_im2col(np.ones_like(out), cache))
