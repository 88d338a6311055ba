"""Receptive fields and stacked convolutions (cs231n_lib.receptive_fields)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs231n_lib import receptive_fields
from cs231n_lib.analysis import analyze
from cs231n_lib.layer_specs import Conv, Input, Pool


def _torch_receptive_field(torch, stack, size=61):
    """Width of the input region that influences the centre output, found by backprop through
    all-ones filters (a different method from the recurrence in the library)."""
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    y = x
    for F, S, d in stack:
        w = torch.ones(1, 1, F, F, dtype=torch.float64)
        y = torch.nn.functional.conv2d(y, w, stride=S, dilation=d)
    c = y.shape[-1] // 2
    y[0, 0, c, c].backward()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(0)).flatten()
    return int(cols.max() - cols.min() + 1)


@pytest.mark.torch
@pytest.mark.parametrize(
    "stack",
    [[(3, 1, 1)] * 3, [(3, 1, 1), (3, 1, 2), (3, 1, 4)], [(7, 2, 1), (3, 2, 1), (3, 1, 1)],
     [(5, 1, 1), (2, 2, 1), (5, 1, 1)]],
)
def test_receptive_field_matches_backprop(torch, stack):
    assert receptive_fields.receptive_field(stack)[-1] == _torch_receptive_field(torch, stack)


def test_receptive_field_stacks():
    assert receptive_fields.receptive_field([(3,)] * 3) == [3, 5, 7]
    assert receptive_fields.receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)]) == [3, 7, 15]
    assert receptive_fields.receptive_field([Conv(8, 3), Pool(2, 2), Conv(8, 3)]) == [3, 4, 8]
    a = analyze([Input(32, 32, 3), Conv(8, 3, P=1), Pool(2, 2), Conv(8, 3, P=1)])
    assert [r.receptive_field for r in a.rows[1:]] == [3, 4, 8]
    with pytest.raises(ValueError, match="empty"):
        receptive_fields.receptive_field([])
    with pytest.raises(ValueError, match="stack entries"):
        receptive_fields.receptive_field([(3, 1, 1, 1)])


@settings(max_examples=30, deadline=None)
@given(C=st.integers(1, 512), n=st.integers(1, 5), F=st.sampled_from([3, 5]))
def test_stacked_vs_single(C, n, F):
    s = receptive_fields.stacked_vs_single(C, n, F)
    assert s.receptive_field == n * (F - 1) + 1
    assert s.stacked_weights == n * F * F * C * C
    assert s.single_weights == s.receptive_field ** 2 * C * C
    assert s.stacked_nonlinearities == n
