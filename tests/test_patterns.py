"""Architecture pattern strings (cs231n_lib.patterns)."""

from __future__ import annotations

import pytest

from cs231n_lib import patterns


def test_parse_pattern_expands_nested_groups():
    tokens = patterns.parse_pattern("INPUT -> [[CONV -> RELU]*2 -> POOL]*3 -> [FC -> RELU]*2 -> FC")
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
    assert patterns.parse_pattern(pattern) == expected


def test_parse_pattern_symbolic_counts_and_optional():
    general = "INPUT → [[CONV → RELU]*N → POOL?]*M → [FC → RELU]*K → FC"
    assert patterns.parse_pattern(general, {"N": 1, "M": 1, "K": 0}) == [
        "INPUT", "CONV", "RELU", "POOL", "FC"]
    assert patterns.parse_pattern(general, {"N": 1, "M": 2, "K": 0}, include_optional=False) == [
        "INPUT", "CONV", "RELU", "CONV", "RELU", "FC"]
    with pytest.raises(ValueError, match="non-negative"):
        patterns.parse_pattern(general, {"N": -1, "M": 1, "K": 0})


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
        patterns.parse_pattern(pattern)


def test_parse_pattern_custom_vocabulary():
    assert patterns.parse_pattern("conv -> lrn", known={"CONV", "LRN"}) == ["CONV", "LRN"]


def test_pattern_rules_are_flags_not_errors():
    ok = patterns.pattern_rules("INPUT -> [[CONV -> RELU]*3 -> POOL]*2 -> [FC -> RELU]*2 -> FC")
    assert ok.ok and ok.conv_runs == (3, 3) and ok.M == 2 and ok.K == 2
    bad = patterns.pattern_rules("INPUT -> [[CONV -> RELU]*4 -> POOL]*1 -> [FC -> RELU]*3 -> FC")
    assert not bad.ok
    assert any("N = 4" in w for w in bad.warnings)
    assert any("K = 3" in w for w in bad.warnings)
    linear = patterns.pattern_rules(["INPUT", "FC"])
    assert linear.ok and linear.M == 0 and linear.K == 0
