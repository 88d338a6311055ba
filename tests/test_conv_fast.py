"""The fast NumPy convolution: numeric gradients, and agreement of naive, im2col and fast."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs231n_lib.conv_fast import _col2im_index, conv_backward_fast, conv_forward_fast
from cs231n_lib.conv_naive import conv_backward_naive, conv_forward_naive
from cs231n_lib.gradient_check import (
    GRAD_REL_TOL,
    layer_gradient_errors,
)
from cs231n_lib.im2col import conv_backward_im2col, conv_forward_im2col

IMPLEMENTATIONS = {
    "naive": (conv_forward_naive, conv_backward_naive),
    "im2col": (conv_forward_im2col, conv_backward_im2col),
    "fast": (conv_forward_fast, conv_backward_fast),
}


@st.composite
def conv_configs(draw):
    """A valid small convolution: sizes chosen so that the stride tiles the padded input."""
    N, C, F = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    HH, WW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    S, P, d = draw(st.integers(1, 3)), draw(st.integers(0, 2)), draw(st.integers(1, 2))
    Ho, Wo = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    span_h, span_w = (HH - 1) * d + 1, (WW - 1) * d + 1
    H, W = (Ho - 1) * S + span_h - 2 * P, (Wo - 1) * S + span_w - 2 * P
    while H < 1:  # too much padding for this output size: grow by whole strides
        H += S
    while W < 1:
        W += S
    return (N, C, H, W), (F, C, HH, WW), {"stride": S, "pad": P, "dilation": d}


@settings(max_examples=60, deadline=None)
@given(cfg=conv_configs(), seed=st.integers(0, 2**16))
def test_naive_im2col_fast_agree_forward_and_backward(cfg, seed):
    x_shape, w_shape, param = cfg
    rng = np.random.default_rng(seed)
    x, w, b = (
        rng.standard_normal(x_shape),
        rng.standard_normal(w_shape),
        rng.standard_normal(w_shape[0]),
    )
    ref_out, ref_cache = conv_forward_naive(x, w, b, param)
    dout = rng.standard_normal(ref_out.shape)
    ref_grads = conv_backward_naive(dout, ref_cache)
    for name in ("im2col", "fast"):
        forward, backward = IMPLEMENTATIONS[name]
        out, cache = forward(x, w, b, param)
        np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-10, err_msg=name)
        for g, ref, what in zip(backward(dout, cache), ref_grads, ("dx", "dw", "db"), strict=True):
            assert g.shape == ref.shape
            np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-10, err_msg=f"{name} {what}")


@settings(max_examples=25, deadline=None)
@given(cfg=conv_configs(), seed=st.integers(0, 2**16))
def test_float32_in_float32_out_for_every_implementation(cfg, seed):
    x_shape, w_shape, param = cfg
    rng = np.random.default_rng(seed)
    x64, w64, b64 = (
        rng.standard_normal(x_shape),
        rng.standard_normal(w_shape),
        rng.standard_normal(w_shape[0]),
    )
    x, w, b = x64.astype(np.float32), w64.astype(np.float32), b64.astype(np.float32)
    ref_out, ref_cache = conv_forward_fast(x64, w64, b64, param)
    dout64 = rng.standard_normal(ref_out.shape)
    ref_grads = conv_backward_fast(dout64, ref_cache)
    for name, (forward, backward) in IMPLEMENTATIONS.items():
        out, cache = forward(x, w, b, param)
        assert out.dtype == np.float32, name
        np.testing.assert_allclose(out, ref_out, rtol=1e-4, atol=1e-4, err_msg=name)
        grads = backward(dout64.astype(np.float32), cache)
        for g, ref in zip(grads, ref_grads, strict=True):
            assert g.dtype == np.float32, name
            np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize(
    "x_shape, w_shape, param",
    [
        # stride 1 with F <= C: dx by the flipped-filter convolution
        ((2, 3, 5, 5), (2, 3, 3, 3), {"stride": 1, "pad": 1}),
        ((1, 3, 7, 7), (3, 3, 3, 3), {"stride": 1, "pad": 3, "dilation": 2}),
        # F > C or stride > 1: dx by col2im scatter
        ((2, 2, 5, 5), (4, 2, 3, 3), {"stride": 1, "pad": 1}),
        ((2, 2, 7, 6), (2, 2, 3, 2), {"stride": 2, "pad": 0}),
        ((1, 2, 9, 9), (2, 2, 3, 3), {"stride": 2, "pad": 1, "dilation": 2}),
    ],
)
def test_backward_matches_numeric_gradient(rng, x_shape, w_shape, param):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    errors = layer_gradient_errors(conv_forward_fast, conv_backward_fast, x, w, b, param)
    assert max(errors.values()) < GRAD_REL_TOL, errors


def test_output_is_contiguous_nchw_and_input_untouched(rng):
    x = rng.standard_normal((2, 3, 6, 6))
    x_copy = x.copy()
    out, cache = conv_forward_fast(
        x, rng.standard_normal((4, 3, 3, 3)), np.zeros(4), {"stride": 1, "pad": 1}
    )
    assert out.shape == (2, 4, 6, 6) and out.flags.c_contiguous
    dx, _, _ = conv_backward_fast(np.ones_like(out), cache)
    assert dx.flags.c_contiguous
    np.testing.assert_array_equal(x, x_copy)


def test_col2im_index_is_cached_per_shape(rng):
    x = rng.standard_normal((1, 2, 7, 7))
    w = rng.standard_normal((3, 2, 3, 3))
    param = {"stride": 2, "pad": 0}
    _, cache = conv_forward_fast(x, w, np.zeros(3), param)
    conv_backward_fast(np.ones((1, 3, 3, 3)), cache)
    hits = _col2im_index.cache_info().hits
    conv_backward_fast(np.ones((1, 3, 3, 3)), cache)
    assert _col2im_index.cache_info().hits == hits + 1


def test_bad_input_names_the_rule(rng):
    x, w, b = rng.standard_normal((1, 3, 7, 7)), rng.standard_normal((2, 3, 3, 3)), np.zeros(2)
    with pytest.raises(ValueError, match=r"\(7 \+ 2\*0 - 3\)/3 \+ 1 = 2\.33 is not a whole number"):
        conv_forward_fast(x, w, b, {"stride": 3, "pad": 0})
    with pytest.raises(ValueError, match="channel mismatch"):
        conv_forward_fast(x, rng.standard_normal((2, 2, 3, 3)), b, {"stride": 1, "pad": 0})
    with pytest.raises(ValueError, match="unknown keys"):
        conv_forward_fast(x, w, b, {"stride": 1, "pad": 0, "groups": 1})
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        conv_forward_fast(x[0], w, b, {"stride": 1, "pad": 0})
    _, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 0})
    with pytest.raises(ValueError, match="cache"):
        conv_backward_fast(np.ones((1, 2, 5, 5)), cache[:4])
