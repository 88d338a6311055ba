"""The shared argument checks: each names the rule a bad argument broke."""

import numpy as np
import pytest

from cs231n_lib import _validate
from cs231n_lib.analysis import analyze
from cs231n_lib.conv_naive import conv_output_shape
from cs231n_lib.param_counts import fc_weights_per_neuron
from cs231n_lib.patterns import pattern_rules
from cs231n_lib.pooling import pool_output_shape
from cs231n_lib.receptive_fields import receptive_field


@pytest.mark.parametrize(
    "args, message",
    [
        ((7, 3, 3, 0), r"\(7 \+ 2\*0 - 3\)/3 \+ 1 = 2.33 is not a whole number"),
        ((224, 11, 4, 0), r"= 54.25 is not a whole number"),
        ((3, 5, 1, 0), "larger than the padded input"),
        ((7, 3, 0, 0), "stride must be a positive integer"),
        ((7, 3, 1, -1), "pad must be a non-negative integer"),
        ((7, 3, 1, 0, 0), "dilation must be a positive integer"),
        ((7.0, 3, 1, 0), "input width must be a positive integer"),
    ],
)
def test_output_length_names_the_rule(args, message):
    with pytest.raises(ValueError, match=message):
        _validate.output_length(*args)


def test_output_length_valid_cases():
    assert _validate.output_length(7, 3, 1) == 5
    assert _validate.output_length(7, 3, 2) == 3
    assert _validate.output_length(7, 3, 1, 1) == 7
    assert _validate.output_length(227, 11, 4) == 55
    assert _validate.output_length(7, 3, 1, 0, 2) == 3  # dilated span (3-1)*2+1 = 5


@pytest.mark.parametrize(
    "call",
    [
        lambda: conv_output_shape(None, (1, 1, 3, 3), {"stride": 1, "pad": 0}),
        lambda: pool_output_shape("abc", {"pool_height": 2, "pool_width": 2, "stride": 2}),
        lambda: fc_weights_per_neuron(None),
        lambda: fc_weights_per_neuron((32, 0, 3)),
        lambda: analyze(None),
        lambda: receptive_field(None),
        lambda: pattern_rules(None),
        lambda: pattern_rules([1, 2]),
    ],
)
def test_shapes_and_sequences_are_rejected_with_value_error(call):
    with pytest.raises(ValueError, match="must"):
        call()


def test_array_checks():
    with pytest.raises(ValueError, match=r"must have 4 dimensions \(N, C, H, W\)"):
        _validate.array(np.zeros((2, 3)), "x", 4, "(N, C, H, W)")
    with pytest.raises(ValueError, match="real numbers"):
        _validate.array(np.zeros(3, dtype=complex), "x")
    with pytest.raises(ValueError, match="numpy array"):
        _validate.array([1, 2], "x")
    with pytest.raises(ValueError, match="unknown keys"):
        _validate.params({"stride": 1, "pad": 0, "padd": 1}, "conv_param", ("stride", "pad"))
    with pytest.raises(ValueError, match="must be a path"):
        _validate.path(None, "archive")
