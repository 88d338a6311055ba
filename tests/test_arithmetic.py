"""The ``cs231n_lib.arithmetic`` facade: it re-exports every name it held before the split.

The formulas themselves are tested next to their modules (``test_sizes``, ``test_param_counts``,
``test_receptive_fields``, ``test_memory``, ``test_layer_specs``, ``test_analysis``,
``test_patterns``). Notebooks import ``from cs231n_lib.arithmetic import ...`` and call
``arithmetic.pool_output_size(...)``; this file keeps that working.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from cs231n_lib import arithmetic

#: Every public name ``arithmetic.py`` defined before it was split (issue 9), and where it
#: lives now.
BEFORE_SPLIT = {
    "sizes": ["effective_filter_size", "conv_output_size", "pool_output_size", "same_padding",
              "downsampling_factor", "halvings", "sliding_window_positions",
              "fc_to_conv_output", "Im2colShapes", "im2col_shapes", "pool_kept_fraction"],
    "param_counts": ["fc_weights_per_neuron", "linear_classifier_shape", "conv_params",
                     "unshared_params"],
    "receptive_fields": ["receptive_field", "StackComparison", "stacked_vs_single"],
    "memory": ["activation_memory", "parameter_memory", "format_bytes"],
    "layer_specs": ["Shape", "Layer", "Input", "Conv", "LocallyConnected", "Pool",
                    "GlobalAvgPool", "FC", "ReLU", "Dropout", "LRN", "BatchNorm", "fc_to_conv"],
    "block_specs": ["Inception", "Bottleneck"],
    "analysis": ["Row", "Analysis", "analyze"],
    "patterns": ["KNOWN_TOKENS", "parse_pattern", "PatternReport", "pattern_rules"],
}
NAMES = [(module, name) for module, names in BEFORE_SPLIT.items() for name in names]


def test_the_list_has_every_name_once():
    names = [name for _, name in NAMES]
    assert len(names) == len(set(names)) == 43


@pytest.mark.parametrize("module, name", NAMES, ids=[n for _, n in NAMES])
def test_facade_reexports_the_very_object(module, name):
    home = importlib.import_module(f"cs231n_lib.{module}")
    assert getattr(arithmetic, name) is getattr(home, name)


def test_all_is_exactly_the_old_public_names():
    assert sorted(arithmetic.__all__) == sorted(name for _, name in NAMES)
    namespace: dict[str, object] = {}
    exec("from cs231n_lib.arithmetic import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(arithmetic.__all__)


def test_facade_is_short_and_holds_no_solution():
    source = Path(arithmetic.__file__).read_text()
    assert not any(line.strip().startswith("### BEGIN SOLUTION")
               for line in source.splitlines())
    assert "_NOTEBOOK" not in source
    assert len(source.splitlines()) < 120


def test_notebook_style_calls_still_work():
    from cs231n_lib.arithmetic import Conv, Input, analyze, conv_output_size

    assert conv_output_size(7, 3, 2) == 3
    assert arithmetic.pool_output_size(224, 2, 2) == 112
    assert analyze([Input(32, 32, 3), Conv(10, 5, P=2)]).total_params == 760
    assert arithmetic.parse_pattern("INPUT -> FC") == ["INPUT", "FC"]
