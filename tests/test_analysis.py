"""The per-layer analysis table (cs231n_lib.analysis)."""

from __future__ import annotations

import pytest

from cs231n_lib.analysis import analyze
from cs231n_lib.layer_specs import FC, Conv, Input, Pool, ReLU


def test_analyze_small_net_by_hand():
    a = analyze([Input(32, 32, 3), Conv(10, 5, P=2), ReLU(), Pool(2, 2), FC(10)])
    conv = a.rows[1]
    assert conv.shape == (32, 32, 10)
    assert (conv.weights, conv.biases) == (10 * 5 * 5 * 3, 10)
    assert a.rows[4].weights == 16 * 16 * 10 * 10
    assert a.total_params == 760 + 25_600 + 10
    # ReLU is in place: its volume is not counted twice.
    assert a.total_activations == 3072 + 10_240 + 2_560 + 10
    assert a.rows[2].in_place and not a.rows[1].in_place


def test_analyze_input_shape_argument_and_names():
    a = analyze([("c", Conv(4, 3))], input_shape=(8, 8, 2))
    assert [r.name for r in a.rows] == ["input", "c"]
    assert a.row("c").shape == (6, 6, 4)
    with pytest.raises(KeyError):
        a.row("nope")


@pytest.mark.parametrize(
    "layers, shape, rule",
    [([Conv(4, 3)], None, "Input"),
     ([Input(8, 8, 3), Input(8, 8, 3)], None, "first layer"),
     ([Input(7, 7, 3), Conv(2, 3, S=3)], None, "2.33"),
     ([Input(8, 8, 3), "conv"], None, "not a layer"),
     ([Input(8, 8, 3)], (9, 9, 3), "disagrees"),
     ([Input(8, 8, 3), Conv(4, 3, groups=2)], None, "groups")],
)
def test_analyze_rejects(layers, shape, rule):
    with pytest.raises(ValueError, match=rule):
        analyze(layers, shape)


def test_renderings():
    a = analyze([Input(32, 32, 3), Conv(12, 3, P=1), ReLU(), Pool(2, 2), FC(10)], title="cifar")
    md = a._repr_markdown_()
    assert md.startswith("**cifar**") and "| conv1 | 32×32×12 |" in md
    text = str(a)
    assert "32x32x12" in text and "in place" in text
    assert Conv(12, 3, P=1).describe() == "CONV(K=12, F=3, S=1, P=1)"
