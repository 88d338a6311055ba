"""The fast NumPy convolution: numeric gradients, and agreement of naive, im2col and fast."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs231n_lib import conv_fast
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


# ------------------------------------------------------------------ both dx strategies


def _dx_both_ways(dout, cache):
    """dx by the flipped-filter convolution (stride 1 only) and by col2im, from one cache."""
    x, w, b, param, cols = cache
    S, P, d = param["stride"], param["pad"], param.get("dilation", 1)
    N, F, Ho, Wo = dout.shape
    d2 = np.ascontiguousarray(dout, dtype=cols.dtype).reshape(N, F, Ho * Wo)
    w_cast = w.astype(cols.dtype)
    col2im = conv_fast._dx_by_col2im(d2, w_cast, x.shape, S, P, d, Ho, Wo)
    flip = None
    if S == 1:
        flip = conv_fast._dx_by_flipped_filter(d2.reshape(dout.shape), w_cast, x.shape, P, d)
    return flip, col2im


@settings(max_examples=60, deadline=None)
@given(cfg=conv_configs(), seed=st.integers(0, 2**16), dtype=st.sampled_from(["f8", "f4"]))
def test_both_dx_strategies_agree_with_naive(cfg, seed, dtype):
    """Whatever the rule would pick, each dx strategy is right on its own (incl. dilation)."""
    x_shape, w_shape, param = cfg
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    ref_out, ref_cache = conv_forward_naive(x, w, b, param)
    dout = rng.standard_normal(ref_out.shape)
    ref_dx = conv_backward_naive(dout, ref_cache)[0]
    _, cache = conv_forward_fast(x.astype(dtype), w.astype(dtype), b.astype(dtype), param)
    tol = 1e-10 if dtype == "f8" else 1e-4
    for name, dx in zip(("flip", "col2im"), _dx_both_ways(dout.astype(dtype), cache), strict=True):
        if dx is None:  # the flipped-filter form is for stride 1 only
            assert param["stride"] != 1
            continue
        assert dx.dtype == np.dtype(dtype) and dx.shape == x_shape, name
        np.testing.assert_allclose(dx, ref_dx, rtol=tol, atol=tol * 10, err_msg=name)


@pytest.mark.parametrize(
    "stride, F, C, expected",
    [(1, 2, 3, "flip"), (1, 3, 3, "flip"), (1, 4, 3, "col2im"), (2, 2, 3, "col2im")],
)
def test_dx_strategy_rule(stride, F, C, expected):
    assert conv_fast._dx_strategy(stride, F, C) == expected


def test_float32_matches_torch_on_both_dx_paths(torch, rng):
    """float32 in, float32 out, within float32 rounding of torch's float64 result."""
    for w_shape, param in [
        ((16, 16, 3, 3), {"stride": 1, "pad": 1}),  # F <= C: flipped filter
        ((24, 8, 3, 3), {"stride": 1, "pad": 2, "dilation": 2}),  # F > C: col2im
        ((12, 8, 5, 5), {"stride": 2, "pad": 2}),  # stride 2: col2im
    ]:
        x = rng.standard_normal((4, w_shape[1], 17, 17))
        w = rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:]))
        b = rng.standard_normal(w_shape[0])
        x32, w32, b32 = x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)
        out, cache = conv_forward_fast(x32, w32, b32, param)
        dout32 = rng.standard_normal(out.shape).astype(np.float32)
        grads = conv_backward_fast(dout32, cache)
        tx, tw, tb = (
            torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x32, w32, b32)
        )
        t_out = torch.nn.functional.conv2d(
            tx,
            tw,
            tb,
            stride=param["stride"],
            padding=param["pad"],
            dilation=param.get("dilation", 1),
        )
        t_out.backward(torch.tensor(dout32.astype(np.float64)))
        expected = [t_out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()]
        for got, want, what in zip((out, *grads), expected, ("out", "dx", "dw", "db"), strict=True):
            assert got.dtype == np.float32, what
            scale = np.abs(want).max()
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale, err_msg=what)


# ------------------------------------------------------------------ kept buffers


def _big_case(rng, dtype=np.float64):
    """Large enough (columns > 1 MiB) for the buffers to be kept between calls."""
    x = rng.standard_normal((8, 8, 24, 24)).astype(dtype)
    w = rng.standard_normal((8, 8, 3, 3)).astype(dtype)
    b = rng.standard_normal(8).astype(dtype)
    return x, w, b, {"stride": 1, "pad": 1}


def test_columns_of_a_live_cache_are_never_overwritten(rng):
    x, w, b, param = _big_case(rng)
    out1, cache1 = conv_forward_fast(x, w, b, param)
    cols1, out1_copy = cache1[-1].copy(), out1.copy()
    assert cache1[-1].nbytes > conv_fast._POOL_MIN_BYTES
    out2, cache2 = conv_forward_fast(-2 * x, w, b, param)  # same shapes, other values
    assert not np.shares_memory(cache1[-1], cache2[-1])
    np.testing.assert_array_equal(cache1[-1], cols1)
    np.testing.assert_array_equal(out1, out1_copy)
    dout = rng.standard_normal(out1.shape)
    expected = conv_backward_naive(dout, conv_forward_naive(x, w, b, param)[1])
    for got, want in zip(conv_backward_fast(dout, cache1), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    # a view of the columns keeps them alive too
    view = cache2[-1][0]
    del cache2
    _, cache3 = conv_forward_fast(3 * x, w, b, param)
    assert not np.shares_memory(view, cache3[-1])


def test_columns_are_reused_once_no_cache_holds_them(rng):
    x, w, b, param = _big_case(rng)
    _, cache = conv_forward_fast(x, w, b, param)
    address = cache[-1].__array_interface__["data"][0]
    del cache
    _, cache = conv_forward_fast(2 * x, w, b, param)
    assert cache[-1].__array_interface__["data"][0] == address
    np.testing.assert_allclose(
        conv_forward_fast(2 * x, w, b, param)[0],
        conv_forward_naive(2 * x, w, b, param)[0],
        rtol=1e-10,
        atol=1e-10,
    )


def test_returned_arrays_are_not_reused(rng):
    """out, dx, dw, db belong to the caller: later calls never write into them."""
    for w_shape, param in [
        ((8, 8, 3, 3), {"stride": 1, "pad": 1}),  # flip
        ((16, 8, 3, 3), {"stride": 1, "pad": 1}),  # col2im, padded
        ((16, 8, 3, 3), {"stride": 1, "pad": 0}),
    ]:  # col2im, no pad
        x = rng.standard_normal((4, 8, 24, 24))
        w, b = rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
        out, cache = conv_forward_fast(x, w, b, param)
        dout = rng.standard_normal(out.shape)
        first = [a.copy() for a in (out, *conv_backward_fast(dout, cache))]
        kept = [out, *conv_backward_fast(dout, cache)]
        out2, cache2 = conv_forward_fast(x[::-1].copy(), w, b, param)
        conv_backward_fast(-dout, cache2)
        for a, a0 in zip(kept, first, strict=True):
            np.testing.assert_array_equal(a, a0)


def test_float32_stays_float32_in_every_buffer(rng):
    conv_fast._clear_pool()
    x, w, b, param = _big_case(rng, np.float32)
    for w_shape, p in [
        ((8, 8, 3, 3), param),
        ((16, 8, 3, 3), param),
        ((8, 8, 3, 3), {"stride": 3, "pad": 0}),
    ]:
        w = rng.standard_normal(w_shape).astype(np.float32)
        b = rng.standard_normal(w_shape[0]).astype(np.float32)
        out, cache = conv_forward_fast(x, w, b, p)
        grads = conv_backward_fast(rng.standard_normal(out.shape).astype(np.float32), cache)
        assert all(a.dtype == np.float32 for a in (out, cache[-1], *grads))
    kept = conv_fast._POOL.buffers
    assert kept and all(np.dtype(key[2]) == np.float32 for key in kept)
    assert all(buf.dtype == np.float32 for buf in kept.values())


def test_threads_do_not_share_buffers(rng):
    x, w, b, param = _big_case(rng)
    inputs = [(k + 1.0) * x for k in range(4)]
    expected = [conv_forward_naive(xi, w, b, param)[0] for xi in inputs]
    results: dict[int, list] = {}

    def work(k: int) -> None:
        results[k] = [conv_forward_fast(inputs[k], w, b, param)[0] for _ in range(5)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        for got in results[k]:
            np.testing.assert_allclose(got, expected[k], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("limit", [1, 60, 400])
@pytest.mark.parametrize(
    "x_shape, w_shape, param",
    [
        ((2, 3, 7, 7), (2, 3, 3, 3), {"stride": 1, "pad": 1}),  # H prime: blocks of 1 row
        ((2, 4, 12, 9), (3, 4, 3, 2), {"stride": 1, "pad": 2, "dilation": 2}),
        ((1, 2, 8, 8), (2, 2, 1, 1), {"stride": 1, "pad": 0}),
    ],
)
def test_flipped_filter_dx_in_row_blocks(monkeypatch, rng, limit, x_shape, w_shape, param):
    """The blocked layout of the flipped-filter dx (used on big shapes) on small ones."""
    monkeypatch.setattr(conv_fast, "_SMALL_GEMM", limit)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    out, cache = conv_forward_naive(x, w, b, param)
    dout = rng.standard_normal(out.shape)
    ref_dx = conv_backward_naive(dout, cache)[0]
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        dx = conv_fast._dx_by_flipped_filter(
            dout.astype(dtype), w.astype(dtype), x_shape, param["pad"], param.get("dilation", 1)
        )
        assert dx.dtype == dtype and dx.flags.c_contiguous
        np.testing.assert_allclose(dx, ref_dx, rtol=tol, atol=10 * tol)


def test_rows_per_block():
    assert conv_fast._rows_per_block(16, 64 * 576 * 16) == 1  # bench shape B
    assert conv_fast._rows_per_block(32, 3 * 288 * 32) == 32  # shape A: one block
    assert conv_fast._rows_per_block(12, conv_fast._SMALL_GEMM // 5) == 4  # divisor of 12
    assert conv_fast._rows_per_block(7, 10**9) == 1


def test_kept_buffers_are_bounded(monkeypatch, rng):
    conv_fast._clear_pool()
    monkeypatch.setattr(conv_fast, "_POOL_MAX_BYTES", 3 << 20)
    for n in (8, 9, 10, 11):  # four shapes, columns of > 1 MiB each
        x, w, b, param = _big_case(rng)
        conv_forward_fast(np.concatenate([x, x])[:n], w, b, param)
    kept = conv_fast._POOL.buffers
    assert 1 <= len(kept) and sum(a.nbytes for a in kept.values()) <= max(
        3 << 20, max(a.nbytes for a in kept.values())
    )
    conv_fast._clear_pool()
    assert not conv_fast._POOL.buffers


@pytest.mark.parametrize(
    "x_shape, HH, WW, stride, pad, dilation",
    [
        ((2, 3, 19, 19), 7, 7, 4, 0, 1),  # phases, kernel not a multiple of the stride
        ((1, 2, 9, 11), 2, 3, 3, 1, 1),  # kernel smaller than the stride
        ((2, 1, 12, 12), 4, 2, 2, 1, 1),  # kernel a multiple of the stride
        ((1, 2, 11, 11), 3, 3, 2, 1, 2),  # dilation: plain strided copy
        ((1, 2, 6, 6), 3, 3, 1, 1, 1),  # stride 1: plain strided copy
    ],
)
def test_gathered_windows_equal_the_strided_view(rng, x_shape, HH, WW, stride, pad, dilation):
    N, C, H, W = x_shape
    span_h, span_w = (HH - 1) * dilation + 1, (WW - 1) * dilation + 1
    Ho, Wo = (H + 2 * pad - span_h) // stride + 1, (W + 2 * pad - span_w) // stride + 1
    x = rng.standard_normal(x_shape)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    got = np.full((N, C, HH, WW, Ho, Wo), np.nan)
    conv_fast._gather_windows(xp, got, stride, dilation)
    want = conv_fast._windows(xp, HH, WW, stride, dilation, Ho, Wo)
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ Winograd F(2x2, 3x3)


@pytest.mark.parametrize(
    "dtype, x_shape, w_shape, stride, dilation, Ho, Wo, expected",
    [
        (np.float32, (64, 64, 16, 16), (64, 64, 3, 3), 1, 1, 16, 16, True),  # bench shape B
        (np.float32, (16, 48, 15, 15), (48, 48, 3, 3), 1, 1, 15, 15, True),  # 1024 tiles
        (np.float32, (15, 48, 15, 15), (48, 48, 3, 3), 1, 1, 15, 15, False),  # 960 tiles
        (np.float32, (64, 64, 16, 16), (47, 64, 3, 3), 1, 1, 16, 16, False),  # too few filters
        (np.float32, (64, 47, 16, 16), (64, 47, 3, 3), 1, 1, 16, 16, False),  # or channels
        (np.float64, (64, 64, 16, 16), (64, 64, 3, 3), 1, 1, 16, 16, False),  # float64: im2col
        (np.float32, (64, 64, 16, 16), (64, 64, 3, 3), 2, 1, 8, 8, False),  # stride 2
        (np.float32, (64, 64, 16, 16), (64, 64, 3, 3), 1, 2, 14, 14, False),  # dilation 2
        (np.float32, (64, 64, 16, 16), (64, 64, 5, 5), 1, 1, 14, 14, False),  # not 3x3
        (np.float32, (64, 64, 16, 16), (64, 64, 3, 1), 1, 1, 14, 16, False),
        (np.float32, (50, 3, 32, 32), (32, 3, 3, 3), 1, 1, 32, 32, False),  # bench shape A
    ],
)
def test_winograd_rule(dtype, x_shape, w_shape, stride, dilation, Ho, Wo, expected):
    rule = conv_fast._use_winograd(np.dtype(dtype), x_shape, w_shape, stride, dilation, Ho, Wo)
    assert rule is expected


def test_winograd_matrices_are_the_slice_adds():
    """The slice adds apply exactly B^T, A^T of F(2x2, 3x3), and their transposes."""
    d = np.random.default_rng(0).standard_normal((4, 5))
    out = np.empty((4, 5))
    conv_fast._bt_1d(*d, out)
    np.testing.assert_allclose(out, conv_fast._WINO_BT @ d)
    y = np.empty((2, 5))
    conv_fast._at_pair(*d, *y)
    np.testing.assert_allclose(y, conv_fast._WINO_AT @ d)
    four = np.empty((4, 5))
    conv_fast._a_four(*d[:2], four)
    np.testing.assert_allclose(four, conv_fast._WINO_AT.T @ d[:2])
    # _b_1d with no overlap (separate low and high entries) is B applied to v
    lo_e, lo_o, hi_e, hi_o = (np.zeros(5) for _ in range(4))
    conv_fast._b_1d(d, lo_e, lo_o, hi_e, hi_o, np.empty(5))
    np.testing.assert_allclose(np.stack([lo_e, lo_o, hi_e, hi_o]), conv_fast._WINO_BT.T @ d)


@settings(max_examples=60, deadline=None)
@given(
    N=st.integers(1, 3),
    C=st.integers(1, 4),
    F=st.integers(1, 4),
    H=st.integers(1, 9),
    W=st.integers(1, 9),
    pad=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_winograd_matches_naive_in_float64(N, C, F, H, W, pad, seed):
    """Every size, odd or even, square or not, N = 1, any padding: exact up to rounding."""
    Ho, Wo = H + 2 * pad - 2, W + 2 * pad - 2
    if Ho < 1 or Wo < 1:
        return
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, 3, 3))
    b = rng.standard_normal(F)
    param = {"stride": 1, "pad": pad}
    ref_out, ref_cache = conv_forward_naive(x, w, b, param)
    dout = rng.standard_normal(ref_out.shape)
    ref_dx, ref_dw, ref_db = conv_backward_naive(dout, ref_cache)
    out, V = conv_fast._winograd_forward(x, w, b, pad, Ho, Wo)
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-10)
    dx, dw, db = conv_fast._winograd_backward(dout, w, V, x.shape, pad)
    assert dx.shape == x.shape and dx.flags.c_contiguous and dw.shape == w.shape
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(db, ref_db, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "x_shape, F, pad",
    [
        ((2, 4, 8, 8), 5, 1),
        ((1, 3, 11, 9), 6, 1),  # N = 1, odd and non-square
        ((3, 5, 10, 13), 4, 0),  # no padding, odd output width
        ((2, 7, 9, 9), 3, 2),  # wide padding
        ((1, 2, 3, 3), 2, 0),  # a single output pixel
    ],
)
def test_winograd_in_float32_through_the_public_functions(monkeypatch, rng, x_shape, F, pad):
    """float32 in and out, within the float32 tolerances of the other paths (vs float64).

    The size thresholds are lowered so that small layers take the Winograd path.
    """
    monkeypatch.setattr(conv_fast, "_WINO_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv_fast, "_WINO_MIN_TILES", 1)
    C = x_shape[1]
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((F, C, 3, 3)) / np.sqrt(9 * C)
    b = rng.standard_normal(F)
    param = {"stride": 1, "pad": pad}
    ref_out, ref_cache = conv_forward_naive(x, w, b, param)
    dout = rng.standard_normal(ref_out.shape)
    ref = (ref_out, *conv_backward_naive(dout, ref_cache))
    x32, w32, b32 = (a.astype(np.float32) for a in (x, w, b))
    out, cache = conv_forward_fast(x32, w32, b32, param)
    assert cache[-1].shape[:2] == (16, C)  # the Winograd path's transformed input V
    got = (out, *conv_backward_fast(dout.astype(np.float32), cache))
    for g, want, what in zip(got, ref, ("out", "dx", "dw", "db"), strict=True):
        assert g.dtype == np.float32 and g.shape == want.shape, what
        scale = np.abs(want).max()
        np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-5 * scale, err_msg=what)


def test_winograd_transformed_input_of_a_live_cache_is_never_overwritten(rng):
    x = rng.standard_normal((16, 48, 16, 16)).astype(np.float32)  # 16 * 8 * 8 tiles
    w = (rng.standard_normal((48, 48, 3, 3)) / 20).astype(np.float32)
    b = np.zeros(48, np.float32)
    param = {"stride": 1, "pad": 1}
    out1, cache1 = conv_forward_fast(x, w, b, param)
    V1 = cache1[-1].copy()
    assert cache1[-1].shape[:2] == (16, 48)  # the Winograd path's transformed input
    assert cache1[-1].nbytes > conv_fast._POOL_MIN_BYTES  # a kept buffer
    out2, cache2 = conv_forward_fast(-x, w, b, param)
    assert not np.shares_memory(cache1[-1], cache2[-1])
    np.testing.assert_array_equal(cache1[-1], V1)
    dout = rng.standard_normal(out1.shape).astype(np.float32)
    dx1, dw1, _ = conv_backward_fast(dout, cache1)
    dx2, dw2, _ = conv_backward_fast(dout, cache2)
    kept = (dx1.copy(), dw1.copy())
    np.testing.assert_allclose(dw2, -dw1, rtol=1e-5, atol=1e-5)  # linear in x
    np.testing.assert_allclose(dx2, dx1, rtol=1e-6, atol=1e-6)  # dx does not depend on x
    conv_forward_fast(2 * x, w, b, param)  # later calls never write into returned arrays
    np.testing.assert_array_equal(dx1, kept[0])
    np.testing.assert_array_equal(dw1, kept[1])


def test_winograd_leaves_non_finite_inputs_to_im2col(rng):
    """An inf in x would become NaNs over a whole Winograd tile: such inputs take im2col,
    and a non-finite dout on the Winograd path gives non-finite gradients without warnings
    (a warning on stderr fails an nbgrader cell)."""
    x = rng.standard_normal((16, 48, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((48, 48, 3, 3)) / 20).astype(np.float32)
    b = np.zeros(48, np.float32)
    param = {"stride": 1, "pad": 1}
    bad = x.copy()
    bad[0, 0, 5, 5] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache = conv_forward_fast(bad, w, b, param)
        assert cache[-1].shape == (16, 48 * 9, 256)  # im2col's columns
        assert not np.isnan(out).any() and np.isinf(out).any()
        out, cache = conv_forward_fast(x, w, b, param)
        assert cache[-1].shape[:2] == (16, 48)  # Winograd
        dout = np.ones_like(out)
        dout[0, 0, 3, 3] = np.inf
        dx, dw, db = conv_backward_fast(dout, cache)
    assert not np.isfinite(dx).all() and not np.isfinite(dw).all() and np.isinf(db[0])


@pytest.mark.parametrize(
    "value, finite",
    [(np.nan, False), (np.inf, False), (-np.inf, False), (3e38, True), (-3e38, True)],
)
def test_all_finite(value, finite):
    x = np.ones((4, 5), np.float32)
    x[2, 3] = value
    x[0, 0] = -3e38  # max - min overflows float32, not the float64 difference
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert conv_fast._all_finite(np.ones(3), x) is finite
