"""Pooling: naive vs fast, numeric gradients, the first-maximum tie rule, validation, sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cs231n_lib import pooling
from cs231n_lib.gradient_check import GRAD_REL_TOL, eval_numerical_gradient_array, rel_error

KINDS = ("max", "avg", "l2")
IMPLS = ("naive", "fast")


def fns(kind: str, impl: str):
    return (
        getattr(pooling, f"{kind}_pool_forward_{impl}"),
        getattr(pooling, f"{kind}_pool_backward_{impl}"),
    )


def pp(hh: int, ww: int, s: int) -> dict[str, int]:
    return {"pool_height": hh, "pool_width": ww, "stride": s}


def distinct_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values at least 0.01 apart: no ties, and h = 1e-5 never changes an argmax."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.01 - n * 0.005).reshape(shape).astype(np.float64)


# ------------------------------------------------------------------------------------------
# Independent oracles: windows gathered by explicit index arithmetic, reduced in Python.
# ------------------------------------------------------------------------------------------


def windows(x: np.ndarray, hh: int, ww: int, s: int):
    """Yield (n, c, i, j, list of ((row, col), value)) in row-major order inside a window."""
    n_, c_, h, w = x.shape
    for n in range(n_):
        for c in range(c_):
            for i in range((h - hh) // s + 1):
                for j in range((w - ww) // s + 1):
                    cells = [
                        ((i * s + a, j * s + b), float(x[n, c, i * s + a, j * s + b]))
                        for a in range(hh)
                        for b in range(ww)
                    ]
                    yield n, c, i, j, cells


def oracle(kind: str, x: np.ndarray, dout: np.ndarray, hh: int, ww: int, s: int):
    out = np.zeros(dout.shape)
    dx = np.zeros(x.shape)
    for n, c, i, j, cells in windows(x, hh, ww, s):
        values = [v for _, v in cells]
        g = float(dout[n, c, i, j])
        if kind == "max":
            best = max(values)
            out[n, c, i, j] = best
            first = next(pos for pos, v in cells if v == best)
            dx[(n, c) + first] += g
        elif kind == "avg":
            out[n, c, i, j] = sum(values) / len(values)
            for pos, _ in cells:
                dx[(n, c) + pos] += g / len(values)
        else:
            norm = sum(v * v for v in values) ** 0.5
            out[n, c, i, j] = norm
            for pos, v in cells:
                dx[(n, c) + pos] += g * v / norm if norm > 0 else 0.0
    return out, dx


# ------------------------------------------------------------------------------------------
# Naive and fast agree with the oracle and with each other
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("geometry", [(2, 2, 2), (3, 3, 2), (2, 3, 1), (1, 2, 3)])
def test_matches_oracle_with_ties(kind, impl, geometry, rng):
    hh, ww, s = geometry
    h, w = (3 - 1) * s + hh, (2 - 1) * s + ww
    x = np.maximum(rng.integers(-2, 3, size=(2, 3, h, w)), 0).astype(np.float64)  # ReLU-like
    forward, backward = fns(kind, impl)
    out, cache = forward(x, pp(hh, ww, s))
    dout = rng.standard_normal(out.shape)
    want_out, want_dx = oracle(kind, x, dout, hh, ww, s)
    np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(backward(dout, cache), want_dx, rtol=1e-12, atol=1e-12)


@st.composite
def pooling_cases(draw):
    hh = draw(st.integers(1, 4))
    ww = draw(st.integers(1, 4))
    s = draw(st.integers(1, 4))
    ho = draw(st.integers(1, 4))
    wo = draw(st.integers(1, 4))
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 3))
    shape = (n, c, (ho - 1) * s + hh, (wo - 1) * s + ww)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    ties = draw(st.booleans())
    return shape, pp(hh, ww, s), dtype, seed, ties


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=pooling_cases(), kind=st.sampled_from(KINDS))
def test_naive_and_fast_agree(case, kind):
    shape, param, dtype, seed, ties = case
    rng = np.random.default_rng(seed)
    if ties:
        x = np.maximum(rng.integers(-3, 3, size=shape), 0).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    out_n, cache_n = fns(kind, "naive")[0](x, param)
    out_f, cache_f = fns(kind, "fast")[0](x, param)
    assert out_n.dtype == out_f.dtype == dtype
    assert out_f.shape == out_n.shape
    dout = rng.standard_normal(out_n.shape).astype(dtype)
    dx_n = fns(kind, "naive")[1](dout, cache_n)
    dx_f = fns(kind, "fast")[1](dout, cache_f)
    assert dx_n.dtype == dx_f.dtype == dtype and dx_f.shape == shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    if kind == "max":  # selection only: exact, ties included
        np.testing.assert_array_equal(out_f, out_n)
        np.testing.assert_allclose(dx_f, dx_n, rtol=tol, atol=tol)
    else:
        np.testing.assert_allclose(out_f, out_n, rtol=tol, atol=tol)
        np.testing.assert_allclose(dx_f, dx_n, rtol=tol, atol=tol)


# ------------------------------------------------------------------------------------------
# Numeric gradients (float64)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("geometry", [(2, 2, 2), (3, 3, 2), (3, 2, 1)])
def test_numeric_gradient(kind, impl, geometry, rng):
    hh, ww, s = geometry
    shape = (2, 2, 2 * s + hh, 2 * s + ww)
    # max: distinct values, so no window has a tie and no nudge of 1e-5 moves an argmax.
    x = distinct_values(rng, shape) if kind == "max" else rng.standard_normal(shape)
    forward, backward = fns(kind, impl)
    param = pp(hh, ww, s)
    out, cache = forward(x, param)
    dout = rng.standard_normal(out.shape)
    dx_num = eval_numerical_gradient_array(lambda v: forward(v, param)[0], x, dout)
    assert rel_error(backward(dout, cache), dx_num) < GRAD_REL_TOL


# ------------------------------------------------------------------------------------------
# The tie rule: one position per window, the first maximum in row-major order
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
def test_equal_window_sends_all_gradient_to_first_element(impl):
    forward, backward = fns("max", impl)
    x = np.full((1, 1, 2, 2), 3.0)
    out, cache = forward(x, pp(2, 2, 2))
    dx = backward(np.array([[[[5.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[5.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("impl", IMPLS)
def test_first_maximum_is_row_major(impl):
    # Ties at (0, 2) and (1, 0): row-major order puts (0, 2) first (column-major would not).
    x = np.array([[1.0, 0.0, 7.0], [7.0, 2.0, 7.0], [0.0, 0.0, 0.0]])[None, None]
    forward, backward = fns("max", impl)
    out, cache = forward(x, pp(3, 3, 1))
    assert pooling.pool_switches(x, pp(3, 3, 1))[0, 0, 0, 0] == 2  # k = a*WW + b = 0*3 + 2
    dx = backward(np.ones_like(out), cache)
    want = np.zeros((3, 3))
    want[0, 2] = 1.0
    np.testing.assert_array_equal(dx[0, 0], want)


@pytest.mark.parametrize("impl", IMPLS)
def test_after_relu_gradient_is_neither_split_nor_copied(impl, rng):
    z = rng.standard_normal((4, 3, 8, 8))
    x = np.maximum(z, 0)  # ReLU: many windows are all zeros, others tie at 0
    x[:, :, :2, :2] = 0.0  # at least one all-zero window per channel
    forward, backward = fns("max", impl)
    out, cache = forward(x, pp(2, 2, 2))
    dout = rng.uniform(1, 2, size=out.shape)  # positive: nothing cancels
    dx = backward(dout, cache)
    blocks = dx.reshape(4, 3, 4, 2, 4, 2).transpose(0, 1, 2, 4, 3, 5).reshape(4, 3, 4, 4, 4)
    # Exactly one receiver per window, carrying the whole gradient (not split, not copied).
    assert np.all(np.count_nonzero(blocks, axis=-1) == 1)
    np.testing.assert_array_equal(blocks.sum(-1), dout)
    assert np.isclose(dx.sum(), dout.sum())
    # The receiver is the first maximum in row-major order.
    xb = x.reshape(4, 3, 4, 2, 4, 2).transpose(0, 1, 2, 4, 3, 5).reshape(4, 3, 4, 4, 4)
    first_max = (xb == xb.max(-1, keepdims=True)).argmax(-1)
    np.testing.assert_array_equal(np.abs(blocks).argmax(-1), first_max)
    assert np.all(dx[:, :, 0, 0] == dout[:, :, 0, 0])  # all-zero window: top-left element


@pytest.mark.parametrize("impl", IMPLS)
def test_overlapping_windows_accumulate(impl):
    # F=3, S=2 on 5x5: four windows all contain the centre (2, 2), the global maximum.
    x = -np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    x[0, 0, 2, 2] = 100.0
    forward, backward = fns("max", impl)
    out, cache = forward(x, pp(3, 3, 2))
    assert out.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 100.0))
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = backward(dout, cache)
    want = np.zeros((5, 5))
    want[2, 2] = 10.0
    np.testing.assert_array_equal(dx[0, 0], want)


def test_pool_switches_locate_the_maximum(rng):
    x = distinct_values(rng, (2, 3, 7, 9))
    param = pp(3, 3, 2)
    k = pooling.pool_switches(x, param)
    out, _ = pooling.max_pool_forward_fast(x, param)
    assert k.shape == out.shape and k.dtype == np.int64
    n, c, i, j = np.indices(k.shape)
    rows, cols = i * 2 + k // 3, j * 2 + k % 3
    np.testing.assert_array_equal(x[n, c, rows, cols], out)


# ------------------------------------------------------------------------------------------
# Dtypes, sizes, the fraction kept
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", IMPLS)
def test_float32_stays_float32_and_ints_become_float64(kind, impl, rng):
    forward, backward = fns(kind, impl)
    x32 = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    out, cache = forward(x32, pp(2, 2, 2))
    assert out.dtype == np.float32
    assert backward(np.ones(out.shape), cache).dtype == np.float32
    out_i, _ = forward(np.arange(16).reshape(1, 1, 4, 4), pp(2, 2, 2))
    assert out_i.dtype == np.float64


def test_224_by_224_by_64_becomes_112_by_112_by_64():
    x = np.zeros((1, 64, 224, 224), dtype=np.float32)
    out, _ = pooling.max_pool_forward_fast(x, pp(2, 2, 2))
    assert out.shape == (1, 64, 112, 112)  # depth unchanged
    assert pooling.pool_output_shape(x.shape, pp(2, 2, 2))[3:] == (112, 112)


def test_two_by_two_stride_two_keeps_a_quarter(rng):
    x = rng.standard_normal((2, 8, 32, 32))
    out, _ = pooling.max_pool_forward_fast(x, pp(2, 2, 2))
    assert out.size / x.size == 0.25  # 75% of activations discarded
    assert out.shape[1] == x.shape[1]


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------


FORWARDS = [fns(kind, impl)[0] for kind in KINDS for impl in IMPLS] + [pooling.pool_switches]


@pytest.mark.parametrize("forward", FORWARDS)
@pytest.mark.parametrize(
    "x_shape, param, message",
    [
        ((1, 1, 7, 7), pp(3, 3, 3), r"\(7 \+ 2\*0 - 3\)/3 \+ 1 = 2.33 is not a whole number"),
        ((1, 1, 4, 5), pp(2, 2, 2), r"output width \(5 \+ 2\*0 - 2\)/2 \+ 1 = 2.5"),
        ((1, 1, 2, 2), pp(3, 3, 1), r"filter height 3 is larger than the padded input"),
        ((1, 1, 4, 4), {"pool_height": 2, "pool_width": 2}, r"missing \['stride'\]"),
        ((1, 1, 4, 4), {**pp(2, 2, 2), "pad": 1}, r"unknown keys \['pad'\]"),
        ((1, 1, 4, 4), pp(2, 2, 0), r"stride'\] must be a positive integer"),
        ((1, 1, 4, 4), pp(2.0, 2, 2), r"pool_height'\] must be a positive integer"),
        ((1, 4, 4), pp(2, 2, 2), r"x must have 4 dimensions \(N, C, H, W\)"),
    ],
)
def test_bad_forward_input_names_the_rule(forward, x_shape, param, message):
    with pytest.raises(ValueError, match=message):
        forward(np.zeros(x_shape), param)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", IMPLS)
def test_bad_backward_input_names_the_rule(kind, impl):
    forward, backward = fns(kind, impl)
    _, cache = forward(np.zeros((1, 2, 4, 4)), pp(2, 2, 2))
    with pytest.raises(ValueError, match=r"dout must have the shape .* \(1, 2, 2, 2\)"):
        backward(np.zeros((1, 2, 3, 3)), cache)
    with pytest.raises(ValueError, match="cache must be the"):
        backward(np.zeros((1, 2, 2, 2)), cache[:1])
    with pytest.raises(ValueError, match="must be a numpy array"):
        backward([[1.0]], cache)


# ------------------------------------------------------------------------------------------
# The student release: stubs raise after validation; the fast library code keeps working
# ------------------------------------------------------------------------------------------


def test_student_stubs_validate_then_raise_and_fast_paths_survive():
    from pathlib import Path

    from grader.checks.stubs import has_solutions, strip_solutions

    source = Path(pooling.__file__).read_text()
    stubbed = strip_solutions(source, "pooling.py")
    assert not has_solutions(stubbed)
    ns: dict = {"__name__": "pooling_student"}
    exec(compile(stubbed, "pooling_student.py", "exec"), ns)
    x = np.zeros((1, 1, 4, 4))
    for name in ("max_pool_forward_naive", "avg_pool_forward_naive"):
        with pytest.raises(NotImplementedError, match=f"{name}: .*05_pooling"):
            ns[name](x, pp(2, 2, 2))
        with pytest.raises(ValueError, match="not a whole number"):
            ns[name](np.zeros((1, 1, 5, 5)), pp(2, 2, 2))
    for name in ("max_pool_backward_naive", "avg_pool_backward_naive"):
        with pytest.raises(NotImplementedError, match=name):
            ns[name](np.zeros((1, 1, 2, 2)), (x, pp(2, 2, 2)))
    for kind in KINDS:
        out, cache = ns[f"{kind}_pool_forward_fast"](x, pp(2, 2, 2))
        ns[f"{kind}_pool_backward_fast"](out, cache)
    ns["l2_pool_backward_naive"](*ns["l2_pool_forward_naive"](x, pp(2, 2, 2)))
