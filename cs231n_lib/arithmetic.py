"""Layer arithmetic, all in one import: output sizes, parameters, receptive fields, memory.

This module only re-exports; each formula lives in a module named after its idea:

==================================  =========================================================
:mod:`cs231n_lib.sizes`             output sizes: ``conv_output_size`` (you write it),
                                    ``pool_output_size``, ``same_padding``, dilation, sliding
                                    windows, downsampling, im2col shapes
:mod:`cs231n_lib.param_counts`      parameters of an FC neuron, a conv layer, an unshared layer
:mod:`cs231n_lib.receptive_fields`  receptive field of a stack; stacked 3x3 vs one big filter
:mod:`cs231n_lib.memory`            bytes for activations and parameters, ``format_bytes``
:mod:`cs231n_lib.layer_specs`       layer descriptions ``Input``, ``Conv``, ``Pool``, ``FC``, ...
:mod:`cs231n_lib.block_specs`       ``Inception`` and ``Bottleneck`` blocks
:mod:`cs231n_lib.analysis`          ``analyze``: the per-layer table (``Analysis``, ``Row``)
:mod:`cs231n_lib.patterns`          ``parse_pattern`` and ``pattern_rules`` for pattern strings
==================================  =========================================================

``from cs231n_lib.arithmetic import Conv, analyze, conv_output_size`` and
``arithmetic.pool_output_size(...)`` keep working; the objects are the very ones of those
modules (``arithmetic.Conv is layer_specs.Conv``). Conventions: volumes are ``(H, W, D)``;
``(W + 2P - F_eff) / S + 1`` must be a whole number (never rounded silently).
"""

from __future__ import annotations

from cs231n_lib.analysis import Analysis, Row, analyze
from cs231n_lib.block_specs import Bottleneck, Inception
from cs231n_lib.layer_specs import (
    FC,
    LRN,
    BatchNorm,
    Conv,
    Dropout,
    GlobalAvgPool,
    Input,
    Layer,
    LocallyConnected,
    Pool,
    ReLU,
    Shape,
    fc_to_conv,
)
from cs231n_lib.memory import activation_memory, format_bytes, parameter_memory
from cs231n_lib.param_counts import (
    conv_params,
    fc_weights_per_neuron,
    linear_classifier_shape,
    unshared_params,
)
from cs231n_lib.patterns import KNOWN_TOKENS, PatternReport, parse_pattern, pattern_rules
from cs231n_lib.receptive_fields import StackComparison, receptive_field, stacked_vs_single
from cs231n_lib.sizes import (
    Im2colShapes,
    conv_output_size,
    downsampling_factor,
    effective_filter_size,
    fc_to_conv_output,
    halvings,
    im2col_shapes,
    pool_kept_fraction,
    pool_output_size,
    same_padding,
    sliding_window_positions,
)

__all__ = [
    # sizes
    "conv_output_size", "pool_output_size", "same_padding", "effective_filter_size",
    "downsampling_factor", "halvings", "sliding_window_positions", "fc_to_conv_output",
    "Im2colShapes", "im2col_shapes", "pool_kept_fraction",
    # param_counts
    "fc_weights_per_neuron", "linear_classifier_shape", "conv_params", "unshared_params",
    # receptive_fields
    "receptive_field", "StackComparison", "stacked_vs_single",
    # memory
    "activation_memory", "parameter_memory", "format_bytes",
    # layer_specs
    "Shape", "Layer", "Input", "Conv", "LocallyConnected", "Pool", "GlobalAvgPool", "FC",
    "ReLU", "Dropout", "LRN", "BatchNorm", "fc_to_conv",
    # block_specs
    "Inception", "Bottleneck",
    # analysis
    "Row", "Analysis", "analyze",
    # patterns
    "KNOWN_TOKENS", "parse_pattern", "PatternReport", "pattern_rules",
]
