"""Pooling against PyTorch (an independent implementation): forward and backward."""

from __future__ import annotations

import numpy as np
import pytest

from cs231n_lib import pooling

pytestmark = pytest.mark.torch

GEOMETRIES = [(2, 2, 2), (3, 3, 2), (2, 3, 1), (3, 2, 3)]


def pp(hh: int, ww: int, s: int) -> dict[str, int]:
    return {"pool_height": hh, "pool_width": ww, "stride": s}


def torch_pool(torch, kind: str, x: np.ndarray, dout: np.ndarray, hh: int, ww: int, s: int):
    F = torch.nn.functional
    xt = torch.tensor(x, requires_grad=True)
    if kind == "max":
        out = F.max_pool2d(xt, (hh, ww), s)
    elif kind == "avg":
        out = F.avg_pool2d(xt, (hh, ww), s)
    else:
        out = F.lp_pool2d(xt, 2, (hh, ww), s)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy()


def shape_for(hh: int, ww: int, s: int, ho: int = 4, wo: int = 3) -> tuple[int, ...]:
    return (2, 3, (ho - 1) * s + hh, (wo - 1) * s + ww)


@pytest.mark.parametrize("impl", ["naive", "fast"])
@pytest.mark.parametrize("kind", ["max", "avg", "l2"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_matches_torch_float64(torch, kind, impl, geometry, rng):
    hh, ww, s = geometry
    shape = shape_for(hh, ww, s)
    if kind == "max":  # tie-free: a permutation of distinct values
        x = rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)
    else:  # l2: no all-zero window (torch's lp_pool gradient is not finite there)
        x = rng.standard_normal(shape)
    forward = getattr(pooling, f"{kind}_pool_forward_{impl}")
    backward = getattr(pooling, f"{kind}_pool_backward_{impl}")
    out, cache = forward(x, pp(hh, ww, s))
    dout = rng.standard_normal(out.shape)
    want_out, want_dx = torch_pool(torch, kind, x, dout, hh, ww, s)
    np.testing.assert_allclose(out, want_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(backward(dout, cache), want_dx, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["max", "avg", "l2"])
def test_matches_torch_float32_cifar_like(torch, kind, rng):
    x = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    if kind == "max":
        # Tie-free float32: distinct integers scaled by a power of two are exact.
        x = (rng.permutation(x.size).reshape(x.shape) / 1024.0).astype(np.float32)
    forward = getattr(pooling, f"{kind}_pool_forward_fast")
    backward = getattr(pooling, f"{kind}_pool_backward_fast")
    out, cache = forward(x, pp(2, 2, 2))
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = backward(dout, cache)
    assert out.dtype == dx.dtype == np.float32
    want_out, want_dx = torch_pool(torch, kind, x, dout, 2, 2, 2)
    np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-6)


def test_global_average_pooling_equals_torch_adaptive(torch, rng):
    # Average pooling over the whole 7x7 map (as at the end of ResNet).
    x = rng.standard_normal((2, 5, 7, 7))
    out, _ = pooling.avg_pool_forward_fast(x, pp(7, 7, 1))
    want = torch.nn.functional.adaptive_avg_pool2d(torch.tensor(x), 1).numpy()
    np.testing.assert_allclose(out, want, rtol=1e-12)
