"""Parameter counts (cs231n_lib.param_counts)."""

from __future__ import annotations

import pytest

from cs231n_lib import param_counts


def test_parameter_counts():
    assert param_counts.fc_weights_per_neuron((32, 32, 3)) == 32 * 32 * 3
    assert param_counts.conv_params(5, 3) == 76
    assert param_counts.conv_params(5, 3, K=10) == 760
    assert param_counts.conv_params(3, 64, K=64, bias=False) == 36_864
    assert param_counts.linear_classifier_shape((32, 32, 3), 10) == (10, 3072)
    with pytest.raises(ValueError):
        param_counts.fc_weights_per_neuron((32, 0, 3))
    with pytest.raises(ValueError, match="F must be a positive integer"):
        param_counts.unshared_params(55, 55, 96, 0, 3)
