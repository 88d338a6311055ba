"""Global average pooling: definition, numeric gradients, PyTorch's adaptive pooling, errors."""

from __future__ import annotations

import numpy as np
import pytest

from cs231n_lib.global_pool import global_avg_pool_backward, global_avg_pool_forward
from cs231n_lib.gradient_check import GRAD_REL_TOL, eval_numerical_gradient_array, rel_error


def test_forward_is_the_mean_of_each_map(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    out, _ = global_avg_pool_forward(x)
    assert out.shape == (2, 3)
    # written differently: a sum over an explicit loop, divided by the map's area
    for n in range(2):
        for c in range(3):
            total = sum(x[n, c, i, j] for i in range(4) for j in range(5))
            assert out[n, c] == pytest.approx(total / 20, rel=1e-12)


def test_backward_matches_numeric_gradients(rng):
    x = rng.standard_normal((2, 3, 3, 4))
    out, cache = global_avg_pool_forward(x)
    dout = rng.standard_normal(out.shape)
    dx = global_avg_pool_backward(dout, cache)
    num = eval_numerical_gradient_array(lambda v: global_avg_pool_forward(v)[0], x, dout)
    assert rel_error(dx, num) < GRAD_REL_TOL


def test_float32_stays_float32(rng):
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    out, cache = global_avg_pool_forward(x)
    assert out.dtype == np.float32
    assert global_avg_pool_backward(out, cache).dtype == np.float32


@pytest.mark.torch
def test_matches_torch_adaptive_avg_pool(torch, rng):
    x = rng.standard_normal((3, 4, 5, 7))
    tx = torch.tensor(x, requires_grad=True)
    t_out = torch.nn.AdaptiveAvgPool2d(1)(tx).flatten(1)
    dout = rng.standard_normal((3, 4))
    t_out.backward(torch.tensor(dout))
    out, cache = global_avg_pool_forward(x)
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(global_avg_pool_backward(dout, cache), tx.grad.numpy(),
                               rtol=1e-12, atol=1e-14)


def test_bad_arguments_name_the_rule(rng):
    with pytest.raises(ValueError, match="x"):
        global_avg_pool_forward(rng.standard_normal((2, 3, 4)))
    _, cache = global_avg_pool_forward(rng.standard_normal((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"expected \(N, C\) = \(2, 3\)"):
        global_avg_pool_backward(rng.standard_normal((3, 2)), cache)
    with pytest.raises(ValueError, match="cache"):
        global_avg_pool_backward(rng.standard_normal((2, 3)), ("nope",))
