"""FC <-> conv conversion, the sliding-window score map, and a conv layer as a sparse FC matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from cs231n_lib import fc_conv
from cs231n_lib.fc_conv import conv_to_fc, fc_to_conv, sparse_conv_matrix


def conv_oracle(x, w, b=None, stride=1, pad=0, dilation=1):
    """Cross-correlation written independently of the library: window view + einsum."""
    F, C, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    span_h, span_w = (HH - 1) * dilation + 1, (WW - 1) * dilation + 1
    win = sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    win = win[:, :, ::stride, ::stride, ::dilation, ::dilation]  # (N, C, Ho, Wo, HH, WW)
    out = np.einsum("ncijpq,fcpq->nfij", win, w)
    return out if b is None else out + b[None, :, None, None]


def affine(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b


@pytest.mark.parametrize(
    "shape, K", [((2, 3, 3), 4), ((3, 2, 4), 5), ((1, 1, 1), 1), ((5, 7, 7), 3)]
)
def test_fc_to_conv_gives_the_affine_scores(shape, K, rng):
    C, H, W = shape
    x = rng.standard_normal((4, C, H, W))
    w = rng.standard_normal((C * H * W, K))
    b = rng.standard_normal(K)
    w_conv, b_conv = fc_to_conv(w, b, shape)
    assert w_conv.shape == (K, C, H, W) and b_conv.shape == (K,)
    out = conv_oracle(x, w_conv, b_conv)
    assert out.shape == (4, K, 1, 1)  # a 1 x 1 x K map per image
    np.testing.assert_allclose(out[:, :, 0, 0], affine(x, w, b), rtol=1e-12, atol=1e-12)
    # Filter k, pixel (c, i, j) is row (c*H + i)*W + j of column k: C, H, W flattening order.
    k, c, i, j = K - 1, C - 1, H - 1, 0
    assert w_conv[k, c, i, j] == w[(c * H + i) * W + j, k]


@pytest.mark.torch
def test_fc_to_conv_against_torch_conv2d(torch, rng):
    C, H, W, K = 3, 4, 5, 6
    x = rng.standard_normal((2, C, H, W))
    w, b = rng.standard_normal((C * H * W, K)), rng.standard_normal(K)
    w_conv, b_conv = fc_to_conv(w, b, (C, H, W))
    out = torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(w_conv), torch.tensor(b_conv), stride=1, padding=0
    ).numpy()
    np.testing.assert_allclose(out[:, :, 0, 0], affine(x, w, b), rtol=1e-12, atol=1e-12)


def test_round_trips_and_no_aliasing(rng):
    w, b = rng.standard_normal((2 * 3 * 4, 5)), rng.standard_normal(5)
    w_conv, b_conv = fc_to_conv(w, b, [2, 3, 4])  # a list works too (the grader sends one)
    w2, b2, shape = conv_to_fc(w_conv, b_conv)
    assert shape == (2, 3, 4)
    np.testing.assert_array_equal(w2, w)
    np.testing.assert_array_equal(b2, b)
    w_conv2, b_conv2 = fc_to_conv(*conv_to_fc(w_conv, b_conv))
    np.testing.assert_array_equal(w_conv2, w_conv)
    np.testing.assert_array_equal(b_conv2, b_conv)
    # Outputs are new arrays: editing them leaves the inputs alone (and vice versa).
    for out, src in ((w_conv, w), (b_conv, b), (w2, w_conv), (b2, b_conv)):
        assert not np.shares_memory(out, src)
    # Also for a Fortran-ordered w, whose transpose is already C-contiguous.
    wf = np.asfortranarray(w)
    assert not np.shares_memory(fc_to_conv(wf, b, (2, 3, 4))[0], wf)


def test_dtype_is_kept(rng):
    w = rng.standard_normal((12, 3)).astype(np.float32)
    b = np.zeros(3, dtype=np.float32)
    w_conv, b_conv = fc_to_conv(w, b, (3, 2, 2))
    assert w_conv.dtype == b_conv.dtype == np.float32
    assert conv_to_fc(w_conv, b_conv)[0].dtype == np.float32
    assert sparse_conv_matrix(w_conv, (3, 4, 4), {"stride": 1, "pad": 0}).dtype == np.float32


def test_converted_net_slides_over_a_bigger_map(rng):
    """The syllabus's 384x384 demo scaled down: features C x 7 x 7 -> FC K1 -> ReLU -> FC K2.

    On a 12 x 12 map the converted net gives a 6 x 6 x K2 score map in one pass, equal to the
    FC net run on each of the 36 crops of 7 x 7 at stride 1: (12 - 7)/1 + 1 = 6.
    """
    C, K1, K2, big = 4, 6, 5, 12
    w1, b1 = rng.standard_normal((C * 7 * 7, K1)), rng.standard_normal(K1)
    w2, b2 = rng.standard_normal((K1, K2)), rng.standard_normal(K2)
    feats = rng.standard_normal((2, C, big, big))

    c1w, c1b = fc_to_conv(w1, b1, (C, 7, 7))  # first FC -> conv F=7
    c2w, c2b = fc_to_conv(w2, b2, (K1, 1, 1))  # later FC -> 1x1 conv
    assert c1w.shape == (K1, C, 7, 7) and c2w.shape == (K2, K1, 1, 1)
    score_map = conv_oracle(np.maximum(conv_oracle(feats, c1w, c1b), 0), c2w, c2b)
    assert score_map.shape == (2, K2, 6, 6)

    for i in range(6):
        for j in range(6):
            crop = feats[:, :, i : i + 7, j : j + 7]
            scores = affine(np.maximum(affine(crop, w1, b1), 0), w2, b2)
            np.testing.assert_allclose(score_map[:, :, i, j], scores, rtol=1e-10, atol=1e-10)


CONV_CASES = [
    ((3, 5, 5), (2, 3, 3, 3), {"stride": 1, "pad": 0}),
    ((2, 5, 7), (3, 2, 3, 3), {"stride": 2, "pad": 1}),
    ((1, 6, 6), (2, 1, 2, 2), {"stride": 2, "pad": 0}),
    ((2, 7, 7), (2, 2, 3, 2), {"stride": 1, "pad": 0, "dilation": 2}),
    ((3, 4, 4), (4, 3, 1, 1), {"stride": 1, "pad": 0}),  # 1x1 conv: a per-pixel FC layer
]


@pytest.mark.parametrize("in_shape, w_shape, conv_param", CONV_CASES)
def test_sparse_conv_matrix_is_the_conv_layer(in_shape, w_shape, conv_param, rng):
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    x = rng.standard_normal(in_shape)
    M = sparse_conv_matrix(w, in_shape, conv_param)
    want = conv_oracle(x[None], w, None, conv_param["stride"], conv_param["pad"],
                       conv_param.get("dilation", 1))[0]
    F, Ho, Wo = want.shape
    assert M.shape == (F * Ho * Wo, int(np.prod(in_shape)))
    np.testing.assert_allclose(M @ x.ravel(), want.ravel(), rtol=1e-12, atol=1e-12)
    # As a CS231n affine layer: x @ M.T + bias repeated over positions.
    np.testing.assert_allclose(
        affine(x[None], M.T, np.repeat(b, Ho * Wo)),
        (want + b[:, None, None]).reshape(1, -1),
        rtol=1e-12,
        atol=1e-12,
    )
    # Sparse: at most one receptive field (C * HH * WW weights) per row ...
    C, HH, WW = w_shape[1:]
    nonzeros = np.count_nonzero(M, axis=1)
    assert nonzeros.max() <= C * HH * WW < M.shape[1]
    if conv_param["pad"] == 0:
        assert np.all(nonzeros == C * HH * WW)
    # ... and tied: only w.size distinct weights, each filter's row repeating its own.
    assert len(np.unique(M[M != 0])) == w.size
    rows_of_f0 = M[: Ho * Wo]
    assert set(np.unique(rows_of_f0[rows_of_f0 != 0])) == set(w[0].ravel())


def test_sparse_matrix_of_the_notes_first_layer_size():
    # A 5x5x3 input, two 3x3 filters, pad 1, stride 2 (the CS231n demo) -> 3x3x2 outputs.
    M = sparse_conv_matrix(np.ones((2, 3, 3, 3)), (3, 5, 5), {"stride": 2, "pad": 1})
    assert M.shape == (2 * 3 * 3, 3 * 5 * 5)
    assert np.count_nonzero(M) < M.size / 3  # mostly zeros
    # Corner output (0, 0) reads a 2x2 corner of each channel (the rest is padding).
    assert np.count_nonzero(M[0]) == 3 * 2 * 2
    # Centre output (1, 1) reads a full 3x3x3 field.
    assert np.count_nonzero(M[4]) == 27


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: fc_to_conv(np.zeros((10, 2)), np.zeros(2), (2, 2, 2)),
         r"w has D = 10 rows but input_shape \(C, H, W\) = \(2, 2, 2\) flattens to C\*H\*W = 8"),
        (lambda: fc_to_conv(np.zeros((8, 2)), np.zeros(3), (2, 2, 2)), r"b must have shape \(K,\)"),
        (lambda: fc_to_conv(np.zeros((8, 2)), np.zeros(2), (8,)), r"3 entries \(C, H, W\)"),
        (lambda: fc_to_conv(np.zeros((8, 2)), np.zeros(2), (2, 0, 4)), r"input_shape\[1\] \(H\)"),
        (lambda: fc_to_conv(np.zeros(8), np.zeros(2), (2, 2, 2)), r"w must have 2 dimensions"),
        (lambda: conv_to_fc(np.zeros((2, 1, 2, 2)), np.zeros(3)), r"b_conv must have shape"),
        (lambda: conv_to_fc(np.zeros((2, 4)), np.zeros(2)), r"w_conv must have 4 dimensions"),
        (lambda: sparse_conv_matrix(np.zeros((1, 2, 3, 3)), (3, 5, 5), {"stride": 1, "pad": 0}),
         r"channel mismatch"),
        (lambda: sparse_conv_matrix(np.zeros((1, 1, 3, 3)), (1, 7, 7), {"stride": 3, "pad": 0}),
         r"\(7 \+ 2\*0 - 3\)/3 \+ 1 = 2.33 is not a whole number"),
        (lambda: sparse_conv_matrix(np.zeros((1, 1, 3, 3)), (1, 5, 5), {"stride": 1}),
         r"missing \['pad'\]"),
    ],
)
def test_bad_input_names_the_rule(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_student_stub_validates_then_raises():
    from grader.checks.stubs import strip_solutions

    stubbed = strip_solutions(Path(fc_conv.__file__).read_text(), "fc_conv.py")
    ns: dict = {"__name__": "fc_conv_student"}
    exec(compile(stubbed, "fc_conv_student.py", "exec"), ns)
    with pytest.raises(NotImplementedError, match="fc_to_conv: .*06_fc_to_conv"):
        ns["fc_to_conv"](np.zeros((8, 2)), np.zeros(2), (2, 2, 2))
    with pytest.raises(ValueError, match="flattens to"):
        ns["fc_to_conv"](np.zeros((9, 2)), np.zeros(2), (2, 2, 2))
    w, b, shape = ns["conv_to_fc"](np.ones((2, 2, 2, 2)), np.zeros(2))  # reference survives
    assert w.shape == (8, 2) and shape == (2, 2, 2)
