"""Output sizes, parameter counts, receptive fields, memory and pattern strings."""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs231n_lib import arithmetic as ar
from cs231n_lib.arithmetic import (
    FC,
    Conv,
    Input,
    LocallyConnected,
    Pool,
    ReLU,
    analyze,
)

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
    assert ar.conv_output_size(W, F, S, P) == expected


@pytest.mark.parametrize("W, F, S, ratio", [(7, 3, 3, "2.33"), (224, 11, 4, "54.25")])
def test_non_whole_output_is_rejected_not_floored(W, F, S, ratio):
    with pytest.raises(ValueError, match=rf"= {ratio} is not a whole number"):
        ar.conv_output_size(W, F, S)


@settings(max_examples=200, deadline=None)
@given(W=st.integers(1, 40), F=st.integers(1, 7), S=st.integers(1, 5), P=st.integers(0, 3),
       d=st.integers(1, 3))
def test_conv_output_size_matches_brute_force(W, F, S, P, d):
    span = (F - 1) * d + 1
    count, tiles = _windows(W, F, S, P, d)
    if span > W + 2 * P:
        with pytest.raises(ValueError, match="larger than the padded input"):
            ar.conv_output_size(W, F, S, P, d)
    elif tiles:
        assert ar.conv_output_size(W, F, S, P, d) == count
    else:
        with pytest.raises(ValueError, match="not a whole number"):
            ar.conv_output_size(W, F, S, P, d)


@pytest.mark.parametrize(
    "args, rule",
    [((0, 3), "positive"), ((7, 3, 0), "positive"), ((7, 3, 1, -1), "non-negative"),
     ((7.0, 3), "integer"), ((7, 3, 1, 0, 0), "dilation"), ((3, 5), "larger")],
)
def test_conv_output_size_validation(args, rule):
    with pytest.raises(ValueError, match=rule):
        ar.conv_output_size(*args)


def test_pool_output_size_and_kept_fraction():
    assert ar.pool_output_size(224, 2, 2) == 112
    assert ar.pool_output_size(55, 3, 2) == 27  # AlexNet's overlapping pooling
    with pytest.raises(ValueError, match="pooling"):
        ar.pool_output_size(7, 2, 2)
    assert ar.pool_kept_fraction(224) == Fraction(1, 4)
    assert ar.pool_kept_fraction(32, 4, 4) == Fraction(1, 16)


@settings(max_examples=50, deadline=None)
@given(F=st.integers(1, 6).map(lambda k: 2 * k - 1), d=st.integers(1, 3), W=st.integers(13, 50))
def test_same_padding_keeps_size(F, d, W):
    P = ar.same_padding(F, d)
    assert ar.conv_output_size(W, F, 1, P, d) == W


def test_same_padding_values_and_even_filters():
    assert [ar.same_padding(F) for F in (1, 3, 5, 7)] == [0, 1, 2, 3]
    assert ar.same_padding(3, dilation=2) == 2
    with pytest.raises(ValueError, match="odd"):
        ar.same_padding(4)
    assert ar.effective_filter_size(3, 2) == 5 and ar.effective_filter_size(3) == 3


# ---------------------------------------------------------------------------------------------
# analyze()
# ---------------------------------------------------------------------------------------------


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


def test_layer_validation():
    with pytest.raises(ValueError, match="rounding"):
        Conv(4, 3, rounding="round")
    with pytest.raises(ValueError, match="mode"):
        Pool(2, 2, mode="min")
    with pytest.raises(ValueError, match="positive"):
        FC(0)
    with pytest.raises(ValueError, match="groups"):
        Conv(5, 3, groups=2)


def test_explicit_rounding_is_noted():
    floor = analyze([Input(224, 224, 3), Conv(64, 7, S=2, P=3, rounding="floor")])
    assert floor.output_shape == (112, 112, 64)
    assert floor.rows[1].note == "floor((224 + 2*3 - 7)/2 + 1 = 112.5) = 112"
    ceil = analyze([Input(112, 112, 64), Pool(3, 2, rounding="ceil")])
    assert ceil.output_shape == (56, 56, 64)
    exact = analyze([Input(8, 8, 1), Pool(2, 2, rounding="ceil")])
    assert exact.rows[1].note == ""


@pytest.mark.torch
@pytest.mark.parametrize("size, F, S, P", [(7, 3, 2, 0), (10, 3, 2, 0), (9, 2, 2, 1), (6, 3, 2, 1)])
def test_rounding_agrees_with_torch(torch, size, F, S, P):
    x = torch.zeros(1, 1, size, size)
    conv = torch.nn.functional.conv2d(x, torch.zeros(1, 1, F, F), stride=S, padding=P)
    pool = torch.nn.functional.max_pool2d(x, F, S, P, ceil_mode=True)
    a = analyze([Input(size, size, 1), Conv(1, F, S, P, rounding="floor")])
    b = analyze([Input(size, size, 1), Pool(F, S, P, rounding="ceil")])
    assert a.output_shape[0] == conv.shape[-1]
    assert b.output_shape[0] == pool.shape[-1]


def test_locally_connected_counts():
    lc = analyze([Input(227, 227, 3), LocallyConnected(96, 11, S=4)])
    conv = analyze([Input(227, 227, 3), Conv(96, 11, S=4)])
    positions = 55 * 55
    assert lc.total_params == positions * conv.total_params
    assert lc.total_params == ar.unshared_params(55, 55, 96, 11, 3)
    assert lc.output_shape == conv.output_shape


def test_renderings():
    a = analyze([Input(32, 32, 3), Conv(12, 3, P=1), ReLU(), Pool(2, 2), FC(10)], title="cifar")
    md = a._repr_markdown_()
    assert md.startswith("**cifar**") and "| conv1 | 32×32×12 |" in md
    text = str(a)
    assert "32x32x12" in text and "in place" in text
    assert Conv(12, 3, P=1).describe() == "CONV(K=12, F=3, S=1, P=1)"


# ---------------------------------------------------------------------------------------------
# Counts, receptive fields, FC <-> conv, im2col
# ---------------------------------------------------------------------------------------------


def test_parameter_counts():
    assert ar.fc_weights_per_neuron((32, 32, 3)) == 32 * 32 * 3
    assert ar.conv_params(5, 3) == 76
    assert ar.conv_params(5, 3, K=10) == 760
    assert ar.conv_params(3, 64, K=64, bias=False) == 36_864
    assert ar.linear_classifier_shape((32, 32, 3), 10) == (10, 3072)
    with pytest.raises(ValueError):
        ar.fc_weights_per_neuron((32, 0, 3))
    with pytest.raises(ValueError, match="F must be a positive integer"):
        ar.unshared_params(55, 55, 96, 0, 3)
    with pytest.raises(ValueError, match="K must be a positive integer"):
        ar.im2col_shapes((227, 227, 3), 11, 0, S=4)


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
    assert ar.receptive_field(stack)[-1] == _torch_receptive_field(torch, stack)


def test_receptive_field_stacks():
    assert ar.receptive_field([(3,)] * 3) == [3, 5, 7]
    assert ar.receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)]) == [3, 7, 15]
    assert ar.receptive_field([Conv(8, 3), Pool(2, 2), Conv(8, 3)]) == [3, 4, 8]
    a = analyze([Input(32, 32, 3), Conv(8, 3, P=1), Pool(2, 2), Conv(8, 3, P=1)])
    assert [r.receptive_field for r in a.rows[1:]] == [3, 4, 8]
    with pytest.raises(ValueError, match="empty"):
        ar.receptive_field([])
    with pytest.raises(ValueError, match="stack entries"):
        ar.receptive_field([(3, 1, 1, 1)])


@settings(max_examples=30, deadline=None)
@given(C=st.integers(1, 512), n=st.integers(1, 5), F=st.sampled_from([3, 5]))
def test_stacked_vs_single(C, n, F):
    s = ar.stacked_vs_single(C, n, F)
    assert s.receptive_field == n * (F - 1) + 1
    assert s.stacked_weights == n * F * F * C * C
    assert s.single_weights == s.receptive_field ** 2 * C * C
    assert s.stacked_nonlinearities == n


def test_fc_to_conv_equivalence():
    conv = ar.fc_to_conv((7, 7, 512), 4096)
    a = analyze([Input(7, 7, 512), conv])
    b = analyze([Input(7, 7, 512), FC(4096)])
    assert a.output_shape == b.output_shape == (1, 1, 4096)
    assert a.total_params == b.total_params
    big = analyze([Input(12, 12, 512), conv, Conv(4096, 1), Conv(1000, 1)])
    assert big.output_shape == (6, 6, 1000)
    assert ar.fc_to_conv_output(12, 7) == 6
    assert ar.sliding_window_positions(384, 224, 32) == 6
    assert ar.downsampling_factor(5) == 32
    with pytest.raises(ValueError, match="square"):
        ar.fc_to_conv((7, 6, 512), 10)


def test_im2col_shapes_and_duplication_by_brute_force():
    s = ar.im2col_shapes((227, 227, 3), 11, 96, S=4)
    assert (s.x_col, s.w_row, s.product, s.output) == (
        (363, 3025), (96, 363), (96, 3025), (55, 55, 96))
    # Small case: build the index matrix and count how often each pixel is copied.
    H, F, S = 7, 3, 2
    small = ar.im2col_shapes((H, H, 2), F, 4, S=S)
    idx = np.arange(H * H * 2).reshape(H, H, 2)
    cols = [idx[i:i + F, j:j + F, :].ravel() for i in range(0, H - F + 1, S)
            for j in range(0, H - F + 1, S)]
    copies = np.bincount(np.concatenate(cols), minlength=idx.size)
    assert small.x_col == (F * F * 2, len(cols))
    assert small.duplication == Fraction(int(copies.sum()), idx.size)


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------


def test_memory_helpers():
    assert ar.activation_memory(1000) == 4000
    assert ar.activation_memory(1000, "float64", with_gradients=True) == 16_000
    assert ar.parameter_memory(1000) == 12_000
    assert ar.parameter_memory(1000, 8, copies=1) == 8000
    a = analyze([Input(2, 2, 1), FC(3)])
    assert ar.activation_memory(a) == (4 + 3) * 4
    assert ar.parameter_memory(a) == 15 * 4 * 3
    assert ar.format_bytes(77_070_336) == "77.07 MB (73.50 MiB)"
    with pytest.raises(ValueError, match="dtype"):
        ar.activation_memory(10, "int8")


# ---------------------------------------------------------------------------------------------
# Pattern strings
# ---------------------------------------------------------------------------------------------


def test_parse_pattern_expands_nested_groups():
    tokens = ar.parse_pattern("INPUT -> [[CONV -> RELU]*2 -> POOL]*3 -> [FC -> RELU]*2 -> FC")
    block = ["CONV", "RELU", "CONV", "RELU", "POOL"]
    assert tokens == ["INPUT"] + block * 3 + ["FC", "RELU"] * 2 + ["FC"]


@pytest.mark.parametrize(
    "pattern, expected",
    [("INPUT -> FC", ["INPUT", "FC"]),
     ("INPUT -> CONV -> RELU -> FC", ["INPUT", "CONV", "RELU", "FC"]),
     ("input-[conv-relu-pool]*2-fc-relu-fc",
      ["INPUT"] + ["CONV", "RELU", "POOL"] * 2 + ["FC", "RELU", "FC"]),
     ("[conv-relu-conv-relu-pool]×3-fc-softmax",
      ["CONV", "RELU", "CONV", "RELU", "POOL"] * 3 + ["FC", "SOFTMAX"]),
     ("INPUT → [CONV → RELU]x2 → FC", ["INPUT", "CONV", "RELU", "CONV", "RELU", "FC"]),
     ("INPUT -> [CONV]*0 -> FC", ["INPUT", "FC"])],
)
def test_parse_pattern_examples(pattern, expected):
    assert ar.parse_pattern(pattern) == expected


def test_parse_pattern_symbolic_counts_and_optional():
    general = "INPUT → [[CONV → RELU]*N → POOL?]*M → [FC → RELU]*K → FC"
    assert ar.parse_pattern(general, {"N": 1, "M": 1, "K": 0}) == [
        "INPUT", "CONV", "RELU", "POOL", "FC"]
    assert ar.parse_pattern(general, {"N": 1, "M": 2, "K": 0}, include_optional=False) == [
        "INPUT", "CONV", "RELU", "CONV", "RELU", "FC"]
    with pytest.raises(ValueError, match="non-negative"):
        ar.parse_pattern(general, {"N": -1, "M": 1, "K": 0})


@pytest.mark.parametrize(
    "pattern, rule",
    [("INPUT -> [CONV -> RELU", "never closed"), ("CONV -> RELU]", "no matching"),
     ("CONV*2", "bracketed group"), ("INPUT -> CONVV", "unknown layer 'CONVV'"),
     ("INPUT ->", "ends with a separator"), ("-> FC", "no layer before"),
     ("[CONV]*N", "counts"), ("CONV RELU", "missing '->'"), ("[]*2", "empty group"),
     ("", "non-empty"), ("INPUT -> CONV; FC", "cannot read"), ("FC [CONV]", "missing '->'")],
)
def test_parse_pattern_errors(pattern, rule):
    with pytest.raises(ValueError, match=rule):
        ar.parse_pattern(pattern)


def test_parse_pattern_custom_vocabulary():
    assert ar.parse_pattern("conv -> lrn", known={"CONV", "LRN"}) == ["CONV", "LRN"]


def test_pattern_rules_are_flags_not_errors():
    ok = ar.pattern_rules("INPUT -> [[CONV -> RELU]*3 -> POOL]*2 -> [FC -> RELU]*2 -> FC")
    assert ok.ok and ok.conv_runs == (3, 3) and ok.M == 2 and ok.K == 2
    bad = ar.pattern_rules("INPUT -> [[CONV -> RELU]*4 -> POOL]*1 -> [FC -> RELU]*3 -> FC")
    assert not bad.ok
    assert any("N = 4" in w for w in bad.warnings)
    assert any("K = 3" in w for w in bad.warnings)
    linear = ar.pattern_rules(["INPUT", "FC"])
    assert linear.ok and linear.M == 0 and linear.K == 0


def test_layers_survive_a_module_reload(monkeypatch):
    """Notebooks reload the library (autoreload, visible checks): layer objects made before
    the reload must still be accepted afterwards. A second copy of the module, loaded under
    another name, stands in for the reloaded one (the real module is left alone)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_arithmetic_copy", ar.__file__)
    fresh = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "_arithmetic_copy", fresh)  # dataclasses look it up
    spec.loader.exec_module(fresh)
    assert fresh.Conv is not Conv
    old_input, old_conv = Input(32, 32, 3), Conv(10, 5, P=2)
    a = fresh.analyze([old_input, old_conv])
    assert a.total_params == 760
    assert fresh.receptive_field([old_conv, Pool(2, 2)]) == [5, 6]
    assert fresh.activation_memory(a) == 4 * (3072 + 10_240)
