"""PyTorch as an independent oracle for every convolution implementation (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from cs231n_lib.conv_fast import conv_backward_fast, conv_forward_fast
from cs231n_lib.conv_naive import conv_backward_naive, conv_forward_naive
from cs231n_lib.im2col import conv_backward_im2col, conv_forward_im2col, im2col
from cs231n_lib.locally_connected import (
    locally_connected_backward,
    locally_connected_forward,
    locally_connected_shapes,
)

pytestmark = pytest.mark.torch

IMPLEMENTATIONS = {
    "naive": (conv_forward_naive, conv_backward_naive),
    "im2col": (conv_forward_im2col, conv_backward_im2col),
    "fast": (conv_forward_fast, conv_backward_fast),
}

CONFIGS = [
    ((2, 3, 8, 8), (4, 3, 3, 3), {"stride": 1, "pad": 1}),
    ((2, 3, 9, 7), (5, 3, 3, 1), {"stride": 2, "pad": 1}),
    ((1, 4, 11, 11), (2, 4, 3, 3), {"stride": 1, "pad": 2, "dilation": 2}),
    ((2, 2, 14, 14), (3, 2, 3, 3), {"stride": 3, "pad": 1, "dilation": 3}),
    ((1, 3, 10, 10), (2, 3, 1, 1), {"stride": 3, "pad": 0}),
    ((1, 3, 5, 5), (2, 3, 3, 3), {"stride": 2, "pad": 1}),  # the notes' demo
]


def _torch_conv(torch, x, w, b, param, dout):
    """out, dx, dw, db from torch.nn.functional.conv2d and autograd."""
    tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    out = torch.nn.functional.conv2d(
        tx, tw, tb, stride=param["stride"], padding=param["pad"], dilation=param.get("dilation", 1)
    )
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


@pytest.mark.parametrize("name", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("x_shape, w_shape, param", CONFIGS)
def test_conv_matches_torch(torch, rng, name, x_shape, w_shape, param):
    forward, backward = IMPLEMENTATIONS[name]
    x, w, b = (
        rng.standard_normal(x_shape),
        rng.standard_normal(w_shape),
        rng.standard_normal(w_shape[0]),
    )
    out, cache = forward(x, w, b, param)
    dout = rng.standard_normal(out.shape)
    t_out, t_dx, t_dw, t_db = _torch_conv(torch, x, w, b, param, dout)
    np.testing.assert_allclose(out, t_out, rtol=1e-10, atol=1e-10)
    dx, dw, db = backward(dout, cache)
    np.testing.assert_allclose(dx, t_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, t_dw, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(db, t_db, rtol=1e-10, atol=1e-10)


def test_fast_matches_torch_on_a_cifar_like_batch(torch, rng):
    param = {"stride": 1, "pad": 1}
    for w_shape in [(16, 8, 3, 3), (4, 8, 3, 3)]:  # both backward paths (F > C, F <= C)
        x, w, b = (
            rng.standard_normal((4, 8, 16, 16)),
            rng.standard_normal(w_shape),
            rng.standard_normal(w_shape[0]),
        )
        out, cache = conv_forward_fast(x, w, b, param)
        dout = rng.standard_normal(out.shape)
        expected = _torch_conv(torch, x, w, b, param, dout)
        np.testing.assert_allclose(out, expected[0], rtol=1e-9, atol=1e-9)
        for got, want in zip(conv_backward_fast(dout, cache), expected[1:], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_im2col_matches_torch_unfold(torch, rng):
    # torch's unfold uses the same row order (c, i, j) as w.reshape(F, -1); columns per image
    x = rng.standard_normal((2, 3, 9, 9))
    cols = im2col(x, 3, 2, stride=2, pad=1, dilation=2)
    unfolded = torch.nn.functional.unfold(
        torch.tensor(x), kernel_size=(3, 2), dilation=2, padding=1, stride=2
    ).numpy()  # (N, C*HH*WW, Ho*Wo)
    np.testing.assert_array_equal(cols, np.concatenate(list(unfolded), axis=1))


def test_locally_connected_matches_torch_unfold(torch, rng):
    param = {"stride": 2, "pad": 1, "dilation": 1}
    x_shape, F, HH, WW = (2, 3, 7, 7), 4, 3, 3
    w_shape, b_shape = locally_connected_shapes(x_shape, F, HH, WW, param)
    x, w, b = (
        rng.standard_normal(x_shape),
        rng.standard_normal(w_shape),
        rng.standard_normal(b_shape),
    )
    out, cache = locally_connected_forward(x, w, b, param)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = locally_connected_backward(dout, cache)

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    Ho, Wo = w_shape[:2]
    cols = torch.nn.functional.unfold(tx, (HH, WW), padding=1, stride=2)  # (N, C*HH*WW, Ho*Wo)
    cols = cols.reshape(2, -1, Ho, Wo)
    t_out = torch.einsum("nkij,ijfk->nfij", cols, tw.reshape(Ho, Wo, F, -1)) + tb.permute(2, 0, 1)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, tw.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("x_shape, F, pad", [((16, 48, 16, 16), 64, 1), ((64, 64, 13, 10), 48, 0)])
def test_winograd_float32_matches_torch(torch, rng, x_shape, F, pad):
    """The float32 Winograd path against torch in float64 (the oracle) and in float32.

    Within the float32 tolerance of the tests above, and its error against float64 no more
    than a few times torch's own float32 error on the same data.
    """
    C = x_shape[1]
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal((F, C, 3, 3)) / np.sqrt(9 * C)).astype(np.float32)
    b = rng.standard_normal(F).astype(np.float32)
    param = {"stride": 1, "pad": pad}
    out, cache = conv_forward_fast(x, w, b, param)
    assert cache[-1].shape[:2] == (16, C)  # the Winograd path's transformed input V
    dout = rng.standard_normal(out.shape).astype(np.float32)
    ours = (out, *conv_backward_fast(dout, cache))
    want = _torch_conv(torch, *(a.astype(np.float64) for a in (x, w, b)), param, dout)

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = torch.nn.functional.conv2d(tx, tw, tb, padding=pad)
    t_out.backward(torch.tensor(dout))
    torch32 = (t_out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy())
    for got, ref, t32, what in zip(ours, want, torch32, ("out", "dx", "dw", "db"), strict=True):
        assert got.dtype == np.float32, what
        scale = np.abs(ref).max()
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * scale, err_msg=what)
        err, torch_err = np.abs(got - ref).max(), np.abs(t32 - ref).max()
        assert err <= 4 * torch_err + 1e-6 * scale, (what, err, torch_err)
