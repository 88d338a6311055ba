"""Every number of SYLLABUS.md sections 0-7 and 9 that this part of the library owns, computed by
``cs231n_lib`` and checked against an independent value: the figure the source publishes, or
the same quantity reached by a different route (written out by hand in the test).

Each row is ``(id, library computation, expected)``. The ids name the syllabus section.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from cs231n_lib import architectures as arch
from cs231n_lib import arithmetic as ar
from cs231n_lib.arithmetic import Conv, Input, Pool, analyze
from cs231n_lib.perceptron import ILSVRC2012_TOP5_ERROR, TIMELINE


def _shape(layers):
    return analyze(layers).output_shape


def _year(who: str) -> int:
    return next(m.year for m in TIMELINE if m.who.startswith(who))


def _vgg384():
    return arch.table(lambda: arch.vgg16_fully_convolutional(384))


NUMBERS = [
    # §0 history
    ("0 perceptron 1957", lambda: TIMELINE[0].year, 1957),
    ("0 Adaline 1960", lambda: next(m.year for m in TIMELINE if m.who == "Widrow & Hoff"), 1960),
    ("0 backprop 1986", lambda: _year("Rumelhart"), 1986),
    ("0 Hubel & Wiesel 1959", lambda: _year("Hubel"), 1959),
    ("0 Neocognitron 1980", lambda: _year("Fukushima"), 1980),
    ("0 LeNet-5 1998", lambda: _year("LeCun"), 1998),
    ("0 pretraining 2006", lambda: _year("Hinton & Salakhutdinov"), 2006),
    ("0 AlexNet 2012", lambda: _year("Krizhevsky"), 2012),
    ("0 timeline in order", lambda: [m.year for m in TIMELINE] == sorted(m.year for m in TIMELINE),
     True),
    ("0 AlexNet top-5 ~16%", lambda: round(100 * ILSVRC2012_TOP5_ERROR["alexnet_5_cnns"]), 16),
    ("0 runner-up top-5 ~26%", lambda: round(100 * ILSVRC2012_TOP5_ERROR["runner_up"]), 26),
    # §1 fully connected vs convolutional
    ("1 CIFAR FC neuron 3072", lambda: ar.fc_weights_per_neuron((32, 32, 3)), 3 * 1024),
    ("1 200x200x3 FC neuron 120,000", lambda: ar.fc_weights_per_neuron((200, 200, 3)),
     120_000),
    ("1 linear classifier W 10x3072", lambda: ar.linear_classifier_shape((32, 32, 3), 10),
     (10, 3072)),
    ("1 5x5x3 filter 75 weights", lambda: ar.conv_params(5, 3, bias=False), 5 * 5 * 3),
    ("1 5x5x3 filter 76 params", lambda: ar.conv_params(5, 3), 75 + 1),
    ("1 one filter -> 28x28x1", lambda: _shape([Input(32, 32, 3), Conv(1, 5)]), (28, 28, 1)),
    ("1 six filters -> 28x28x6", lambda: _shape([Input(32, 32, 3), Conv(6, 5)]), (28, 28, 6)),
    ("1 CIFAR pipeline shapes",
     lambda: [r.shape for r in arch.table(arch.cifar_pipeline).rows],
     [(32, 32, 3), (32, 32, 12), (32, 32, 12), (16, 16, 12), (1, 1, 10)]),
    ("1 CIFAR pipeline: layers with parameters",
     lambda: [r.name for r in arch.table(arch.cifar_pipeline).rows if r.has_parameters],
     ["CONV", "FC"]),
    ("1 CIFAR pipeline: layers with hyperparameters",
     lambda: [r.name for r in arch.table(arch.cifar_pipeline).rows if r.has_hyperparameters],
     ["CONV", "POOL", "FC"]),
    # §2 local connectivity, output size
    ("2 7x7 3x3 S1 -> 5", lambda: ar.conv_output_size(7, 3, 1), len(range(0, 7 - 2, 1))),
    ("2 7x7 3x3 S2 -> 3", lambda: ar.conv_output_size(7, 3, 2), len(range(0, 7 - 2, 2))),
    ("2 7x7 3x3 P1 -> 7", lambda: ar.conv_output_size(7, 3, 1, 1), 7),
    ("2 P=(F-1)/2: F=3 -> 1", lambda: ar.same_padding(3), 1),
    ("2 P=(F-1)/2: F=5 -> 2", lambda: ar.same_padding(5), 2),
    ("2 10 filters 5x5 P2 -> 32x32x10",
     lambda: _shape([Input(32, 32, 3), Conv(10, 5, P=2)]), (32, 32, 10)),
    ("2 ... 760 parameters",
     lambda: analyze([Input(32, 32, 3), Conv(10, 5, P=2)]).total_params, 10 * (5 * 5 * 3 + 1)),
    ("2 ... 32*32*10 neurons",
     lambda: analyze([Input(32, 32, 3), Conv(10, 5, P=2)]).rows[1].activations, 10_240),
    ("2 AlexNet conv1 55x55x96", lambda: arch.table("alexnet_original").row("conv1").shape,
     (55, 55, 96)),
    # §3 parameter sharing, conv demo
    ("3 AlexNet conv1 neurons 290,400", lambda: arch.parameter_sharing().neurons, 55 * 55 * 96),
    ("3 per neuron 364", lambda: arch.parameter_sharing().params_per_neuron, 11 * 11 * 3 + 1),
    ("3 without sharing 105,705,600", lambda: arch.parameter_sharing().unshared, 105_705_600),
    ("3 with sharing 34,944", lambda: arch.parameter_sharing().shared, 96 * 364),
    ("3 locally connected = unshared count",
     lambda: analyze([Input(227, 227, 3), ar.LocallyConnected(96, 11, S=4)]).total_params,
     290_400 * 364),
    ("3 conv demo -> 3x3x2", lambda: arch.table(arch.conv_demo).output_shape, (3, 3, 2)),
    # §4 im2col
    ("4 X_col 363 x 3025", lambda: ar.im2col_shapes((227, 227, 3), 11, 96, S=4).x_col,
     (11 * 11 * 3, 55 * 55)),
    ("4 W_row 96 x 363", lambda: ar.im2col_shapes((227, 227, 3), 11, 96, S=4).w_row,
     (96, 363)),
    ("4 product 96 x 3025 -> 55x55x96",
     lambda: (ar.im2col_shapes((227, 227, 3), 11, 96, S=4).product,
              ar.im2col_shapes((227, 227, 3), 11, 96, S=4).output),
     ((96, 3025), (55, 55, 96))),
    # §5 pooling
    ("5 2x2 pool keeps 25%", lambda: ar.pool_kept_fraction(224, 2, 2), Fraction(25, 100)),
    ("5 224x224x64 -> 112x112x64", lambda: _shape([Input(224, 224, 64), Pool(2, 2)]),
     (112, 112, 64)),
    ("5 pooling has no parameters",
     lambda: analyze([Input(224, 224, 64), Pool(2, 2)]).total_params, 0),
    ("5 overlapping F=3 S=2: 55 -> 27", lambda: ar.pool_output_size(55, 3, 2), 27),
    # §6 FC <-> conv
    ("6 224 / 2^5 = 7", lambda: 224 // ar.downsampling_factor(5), 7),
    ("6 FC 4096 on 7x7x512 = conv F=7 -> 1x1x4096",
     lambda: _shape([Input(7, 7, 512), ar.fc_to_conv((7, 7, 512), 4096)]), (1, 1, 4096)),
    ("6 ... same parameter count",
     lambda: analyze([Input(7, 7, 512), ar.fc_to_conv((7, 7, 512), 4096)]).total_params,
     7 * 7 * 512 * 4096 + 4096),
    ("6 384 -> 12x12x512", lambda: _vgg384().row("pool5").shape, (384 // 32, 384 // 32, 512)),
    ("6 (12 - 7)/1 + 1 = 6", lambda: ar.fc_to_conv_output(12, 7, 1), 6),
    ("6 (384 - 224)/32 + 1 = 6", lambda: ar.sliding_window_positions(384, 224, 32), 6),
    ("6 6x6x1000 score map", lambda: _vgg384().output_shape, (6, 6, 1000)),
    ("6 36 crops", lambda: ar.sliding_window_positions(384, 224, 32) ** 2, 36),
    ("6 converted VGG keeps its parameters", lambda: _vgg384().total_params, 138_357_544),
    # §7 architectures, sizing, memory
    ("7 stacked 3x3: 3 -> 5 -> 7", lambda: ar.receptive_field([(3,)] * 3), [3, 5, 7]),
    ("7 27 C^2 (C=1)", lambda: ar.stacked_vs_single(1).stacked_weights, 3 * 3 * 3),
    ("7 49 C^2 (C=1)", lambda: ar.stacked_vs_single(1).single_weights, 7 * 7),
    ("7 two extra non-linearities",
     lambda: ar.stacked_vs_single(64).stacked_nonlinearities
     - ar.stacked_vs_single(64).single_nonlinearities, 2),
    ("7 sizes survive five 2x2 pools",
     lambda: [ar.halvings(n) >= 5 for n in (32, 64, 96, 224, 384, 512)], [True] * 6),
    ("7 conv 3x3 S1 P1 keeps size", lambda: ar.conv_output_size(224, 3, 1, 1), 224),
    ("7 ZFNet conv1 7x7 S2: 224 -> 110 (floored)",
     lambda: arch.table("zfnet").row("conv1").shape[0], math.floor((224 + 2 - 7) / 2 + 1)),
    ("7 AlexNet conv1 11x11 S4: 227 -> 55", lambda: ar.conv_output_size(227, 11, 4), 55),
    ("7 three conv volumes 9,633,792", lambda: arch.three_conv_memory()["activations"],
     3 * 224 * 224 * 64),
    ("7 ... ~9.6M / ~10M", lambda: round(arch.three_conv_memory()["activations"] / 1e6, 1),
     9.6),
    ("7 ... 77,070,336 bytes with gradients", lambda: arch.three_conv_memory()["bytes"],
     9_633_792 * 8),
    ("7 ... = 73.5 MiB (notes: ~72 MB)", lambda: arch.three_conv_memory()["MiB"],
     9_633_792 * 8 / 1024 / 1024),
    ("7 param memory x3 float32", lambda: ar.parameter_memory(1_000_000), 12_000_000),
    ("7 float64 = 8 bytes", lambda: ar.activation_memory(1_000_000, "float64"), 8_000_000),
    ("7 LeNet-5 ~60k (paper, trainable)",
     lambda: arch.lenet5_paper_counts()["total"]["trainable"], 60_000),
    ("7 LeNet-5 modern variant", lambda: arch.table("lenet5").total_params,
     6 * 26 + 16 * 151 + 120 * 401 + 84 * 121 + 10 * 85),
    ("7 AlexNet ~60M (original, two towers)", lambda: arch.table("alexnet_original").total_params,
     60_965_224),
    ("7 AlexNet 61,100,840 (single tower)", lambda: arch.table("alexnet").total_params,
     61_100_840),
    ("7 GoogLeNet 6.6M (torchvision)",
     lambda: round(arch.table("googlenet").total_params / 1e6, 1), 6.6),
    ("7 GoogLeNet exact (torchvision, no aux)", lambda: arch.table("googlenet").total_params,
     6_624_904),
    ("7 VGG-16 138,357,544", lambda: arch.table("vgg16").total_params, 138_357_544),
    ("7 ResNet-50 25,557,032", lambda: arch.table("resnet50").total_params, 25_557_032),
    ("7 ResNet-50 has no hidden FC",
     lambda: sum(r.kind == "FC" for r in arch.table("resnet50").rows), 1),
    ("7 VGG-16 activations 15,237,608", lambda: arch.table("vgg16").total_activations,
     224 * 224 * 3 + 224 * 224 * 64 * 2 + 112 * 112 * (64 + 128 * 2) + 56 * 56 * (128 + 256 * 3)
     + 28 * 28 * (256 + 512 * 3) + 14 * 14 * (512 + 512 * 3) + 7 * 7 * 512 + 4096 * 2 + 1000),
    ("7 VGG-16 ~61 MB forward float32",
     lambda: round(ar.activation_memory(arch.table("vgg16")) / 1e6), 61),
    ("7 demo net pattern",
     lambda: ar.parse_pattern("[conv-relu-conv-relu-pool]×3-fc-softmax").count("CONV"), 6),
    ("7 demo net: 17 layers after the input",
     lambda: len(ar.parse_pattern("[conv-relu-conv-relu-pool]×3-fc-softmax")), 3 * 5 + 2),
    ("7 VGG-16 conv1_1 + conv1_2 + pool1 = 7,225,344 activations",
     lambda: sum(arch.table("vgg16").row(n).activations for n in ("conv1_1", "conv1_2", "pool1")),
     2 * 224 * 224 * 64 + 112 * 112 * 64),
    ("6 AlexNet ends at 6x6x256 (not 7x7x512)", lambda: arch.table("alexnet").row("pool5").shape,
     (6, 6, 256)),
    # §9 modern blocks: torchvision's published counts (model cards)
    ("9 ResNet-18 11,689,512", lambda: arch.table("resnet18").total_params, 11_689_512),
    ("9 ResNet-34 21,797,672", lambda: arch.table("resnet34").total_params, 21_797_672),
    ("9 ResNet-50 25,557,032", lambda: arch.table("resnet50").total_params, 25_557_032),
    ("9 ResNet-18 has no hidden FC",
     lambda: sum(r.kind == "FC" for r in arch.table("resnet18").rows), 1),
]


@pytest.mark.parametrize("computed, expected", [(c, e) for _, c, e in NUMBERS],
                         ids=[name for name, _, _ in NUMBERS])
def test_syllabus_number(computed, expected):
    value = computed()
    if isinstance(expected, float):
        assert value == pytest.approx(expected)
    else:
        assert value == expected


# Errata: the invalid configurations are rejected with the fraction the notebook shows.


@pytest.mark.parametrize(
    "call, fraction",
    [(lambda: ar.conv_output_size(7, 3, 3), "2.33"),
     (lambda: ar.conv_output_size(224, 11, 4), "54.25"),
     (lambda: arch.table(lambda: arch.alexnet(input_size=224)), "54.25")],
    ids=["2 stride 3 on 7x7: 2.33", "2 AlexNet 224: 54.25", "7 AlexNet table at 224"],
)
def test_syllabus_invalid_configurations(call, fraction):
    with pytest.raises(ValueError, match=fraction.replace(".", r"\.")):
        call()


def test_syllabus_errata_are_flagged():
    notes_vgg = arch.PUBLISHED["vgg16_notes_activations"]
    assert arch.table("vgg16").total_activations < notes_vgg  # 15.2M, not 24M
    notes_mb = arch.PUBLISHED["three_conv_notes_mb"]
    mem = arch.three_conv_memory()
    assert mem["MB"] > notes_mb and mem["MiB"] > notes_mb
    one_volume_mb = arch.three_conv_memory()["one_volume_bytes"] / 1e6
    assert one_volume_mb == pytest.approx(224 * 224 * 64 * 8 / 1e6)  # the dropped "three"
    gl = arch.table("googlenet").total_params
    assert gl > arch.PUBLISHED["googlenet_notes_params"]
    assert len(arch.errata()) == 4
