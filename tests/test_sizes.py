"""Output sizes (cs231n_lib.sizes): conv and pool lengths, padding, dilation, windows, im2col."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs231n_lib import sizes

# ---------------------------------------------------------------------------------------------
# Output size
# ---------------------------------------------------------------------------------------------


def _windows(W: int, F: int, S: int, P: int, d: int) -> tuple[int, bool]:
    """Brute force: slide the (dilated) filter over the padded input; count the placements
    and whether the last one ends exactly at the right edge (the stride tiles the input)."""
    padded = W + 2 * P
    taps = [k * d for k in range(F)]
    starts = []
    start = 0
    while start + taps[-1] < padded:
        starts.append(start)
        start += S
    tiles = bool(starts) and starts[-1] + taps[-1] == padded - 1
    return len(starts), tiles


@pytest.mark.parametrize(
    "W, F, S, P, expected",
    [(7, 3, 1, 0, 5), (7, 3, 2, 0, 3), (7, 3, 1, 1, 7), (32, 5, 1, 2, 32), (32, 5, 1, 0, 28),
     (227, 11, 4, 0, 55), (5, 3, 2, 1, 3), (224, 2, 2, 0, 112)],
)
def test_conv_output_size_examples(W, F, S, P, expected):
    assert sizes.conv_output_size(W, F, S, P) == expected


@pytest.mark.parametrize("W, F, S, ratio", [(7, 3, 3, "2.33"), (224, 11, 4, "54.25")])
def test_non_whole_output_is_rejected_not_floored(W, F, S, ratio):
    with pytest.raises(ValueError, match=rf"= {ratio} is not a whole number"):
        sizes.conv_output_size(W, F, S)


@settings(max_examples=200, deadline=None)
@given(W=st.integers(1, 40), F=st.integers(1, 7), S=st.integers(1, 5), P=st.integers(0, 3),
       d=st.integers(1, 3))
def test_conv_output_size_matches_brute_force(W, F, S, P, d):
    span = (F - 1) * d + 1
    count, tiles = _windows(W, F, S, P, d)
    if span > W + 2 * P:
        with pytest.raises(ValueError, match="larger than the padded input"):
            sizes.conv_output_size(W, F, S, P, d)
    elif tiles:
        assert sizes.conv_output_size(W, F, S, P, d) == count
    else:
        with pytest.raises(ValueError, match="not a whole number"):
            sizes.conv_output_size(W, F, S, P, d)


@pytest.mark.parametrize(
    "args, rule",
    [((0, 3), "positive"), ((7, 3, 0), "positive"), ((7, 3, 1, -1), "non-negative"),
     ((7.0, 3), "integer"), ((7, 3, 1, 0, 0), "dilation"), ((3, 5), "larger")],
)
def test_conv_output_size_validation(args, rule):
    with pytest.raises(ValueError, match=rule):
        sizes.conv_output_size(*args)


def test_pool_output_size_and_kept_fraction():
    assert sizes.pool_output_size(224, 2, 2) == 112
    assert sizes.pool_output_size(55, 3, 2) == 27  # AlexNet's overlapping pooling
    with pytest.raises(ValueError, match="pooling"):
        sizes.pool_output_size(7, 2, 2)
    assert sizes.pool_kept_fraction(224) == Fraction(1, 4)
    assert sizes.pool_kept_fraction(32, 4, 4) == Fraction(1, 16)


@settings(max_examples=50, deadline=None)
@given(F=st.integers(1, 6).map(lambda k: 2 * k - 1), d=st.integers(1, 3), W=st.integers(13, 50))
def test_same_padding_keeps_size(F, d, W):
    P = sizes.same_padding(F, d)
    assert sizes.conv_output_size(W, F, 1, P, d) == W


def test_same_padding_values_and_even_filters():
    assert [sizes.same_padding(F) for F in (1, 3, 5, 7)] == [0, 1, 2, 3]
    assert sizes.same_padding(3, dilation=2) == 2
    with pytest.raises(ValueError, match="odd"):
        sizes.same_padding(4)
    assert sizes.effective_filter_size(3, 2) == 5 and sizes.effective_filter_size(3) == 3


# ---------------------------------------------------------------------------------------------
# Downsampling, sliding windows, im2col shapes
# ---------------------------------------------------------------------------------------------


def test_downsampling_and_sliding_windows():
    assert sizes.fc_to_conv_output(12, 7) == 6
    assert sizes.sliding_window_positions(384, 224, 32) == 6
    assert sizes.downsampling_factor(5) == 32
    assert [sizes.halvings(n) for n in (224, 32, 384, 512, 7)] == [5, 5, 7, 9, 0]
    with pytest.raises(ValueError, match="sliding window"):
        sizes.sliding_window_positions(384, 224, 50)


def test_im2col_shapes_and_duplication_by_brute_force():
    s = sizes.im2col_shapes((227, 227, 3), 11, 96, S=4)
    assert (s.x_col, s.w_row, s.product, s.output) == (
        (363, 3025), (96, 363), (96, 3025), (55, 55, 96))
    # Small case: build the index matrix and count how often each pixel is copied.
    H, F, S = 7, 3, 2
    small = sizes.im2col_shapes((H, H, 2), F, 4, S=S)
    idx = np.arange(H * H * 2).reshape(H, H, 2)
    cols = [idx[i:i + F, j:j + F, :].ravel() for i in range(0, H - F + 1, S)
            for j in range(0, H - F + 1, S)]
    copies = np.bincount(np.concatenate(cols), minlength=idx.size)
    assert small.x_col == (F * F * 2, len(cols))
    assert small.duplication == Fraction(int(copies.sum()), idx.size)


def test_im2col_shapes_validation():
    with pytest.raises(ValueError, match="K must be a positive integer"):
        sizes.im2col_shapes((227, 227, 3), 11, 0, S=4)
