"""Case-study architectures as data, with computed tables and the errata they expose.

Each builder returns a list of ``(name, layer)`` pairs in the notation of
:mod:`cs231n_lib.layer_specs` (volumes are ``H x W x D``); :func:`table` runs
:func:`cs231n_lib.analysis.analyze` on it. The published totals the tables reproduce:

* LeNet-5 (LeCun et al. 1998): the paper's "60,000 trainable parameters" and "340,908
  connections" (:func:`lenet5_paper_counts`, with C3's partial connection table); the common
  modern variant (full C3, parameter-free pooling, a 10-way FC output) has 61,706.
* AlexNet (Krizhevsky, Sutskever & Hinton 2012): the two-tower original (grouped conv2/4/5,
  96 filters in conv1) has 60,965,224 parameters; the single-tower variant of torchvision
  (64-192-384-256-256 filters) has 61,100,840. Input 227x227 (the paper's 224 does not tile).
* ZFNet (Zeiler & Fergus 2013): 7x7 stride 2 first layer; sizes of the paper's figure.
* VGG-16 (Simonyan & Zisserman 2014): 138,357,544 parameters; 15,237,608 activations.
* GoogLeNet (Szegedy et al. 2014): counted without the two auxiliary classifiers.
* ResNet-50 (He et al. 2015): 25,557,032 parameters including batch-norm scales and shifts.

Published networks often rely on the framework rounding a size down (convolutions) or up
(Caffe / ``ceil_mode`` pooling). Those layers say so with ``rounding="floor"`` /
``rounding="ceil"``, and the table's note column shows the fraction that was rounded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cs231n_lib import _validate
from cs231n_lib.analysis import Analysis, analyze
from cs231n_lib.block_specs import BasicBlock as BasicBlock  # re-exported (notebook 09)
from cs231n_lib.block_specs import Inception
from cs231n_lib.examples import (  # re-exported: notebooks and errata read them from here
    SharingComparison as SharingComparison,
)
from cs231n_lib.examples import (
    cifar_pipeline as cifar_pipeline,
)
from cs231n_lib.examples import (
    conv_demo as conv_demo,
)
from cs231n_lib.examples import (
    parameter_sharing as parameter_sharing,
)
from cs231n_lib.examples import (
    three_conv_stack as three_conv_stack,
)
from cs231n_lib.layer_specs import (
    FC,
    LRN,
    BatchNorm,
    Conv,
    Dropout,
    GlobalAvgPool,
    Input,
    Layer,
    Net,
    Pool,
    ReLU,
)
from cs231n_lib.resnets import resnet18, resnet34, resnet50
from cs231n_lib.resnets import resnet_basic as resnet_basic  # re-exported

_NOTEBOOK = "notebooks/07_architectures.ipynb"


#: Totals stated by the sources (papers, the CS231n notes, torchvision's model cards). Tests
#: compare the computed tables with these; notebooks print both.
PUBLISHED = {
    "lenet5_paper_trainable_params": 60_000,
    "lenet5_paper_connections": 340_908,
    "alexnet_original_params": 60_965_224,
    "alexnet_torchvision_params": 61_100_840,
    "vgg16_params": 138_357_544,
    "googlenet_torchvision_params": 6_624_904,
    "googlenet_notes_params": 4_000_000,
    "resnet18_params": 11_689_512,
    "resnet34_params": 21_797_672,
    "resnet50_params": 25_557_032,
    "vgg16_notes_activations": 24_000_000,
    "vgg16_notes_forward_mb": 93,
    "three_conv_notes_mb": 72,
}


# --------------------------------------------------------------------------------------------
# LeNet-5
# --------------------------------------------------------------------------------------------

#: Table I of LeCun et al. (1998): which of S2's 6 maps feed each of C3's 16 maps.
LENET5_C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def lenet5() -> Net:
    """LeNet-5, the common modern variant: 32x32x1 input, C1 6@5x5, 2x2 pool, C3 16@5x5
    (full connectivity), 2x2 pool, C5 120@5x5 (a 1x1x120 output), F6 84, FC 10.

    Pooling has no parameters here (the paper's subsampling had 2 per map) and the output is
    an FC layer instead of the paper's fixed RBF units: 61,706 parameters.
    """
    return [
        ("input", Input(32, 32, 1)),
        ("C1", Conv(6, 5)), ("relu1", ReLU()),
        ("S2", Pool(2, 2, mode="avg")),
        ("C3", Conv(16, 5)), ("relu3", ReLU()),
        ("S4", Pool(2, 2, mode="avg")),
        ("C5", Conv(120, 5)), ("relu5", ReLU()),
        ("F6", FC(84)), ("relu6", ReLU()),
        ("output", FC(10)),
    ]


def lenet5_paper_counts() -> dict[str, dict[str, int]]:
    """Trainable parameters and connections of each layer of the 1998 LeNet-5.

    * C1: 6 maps 28x28, 5x5 filters: 6*26 = 156 parameters, 28*28*156 connections.
    * S2: each of the 6 maps has one trainable coefficient and one bias (2 per map); every unit
      sums 4 inputs and adds a bias: 14*14*6*5 connections.
    * C3: 16 maps 10x10; map j sees the S2 maps listed in :data:`LENET5_C3_TABLE` (60 map
      pairs in all): 60*25 + 16 parameters, each used at 10*10 positions.
    * S4: 2 per map again; C5: 120 * (16*25 + 1); F6: 84 * (120 + 1).
    * Output: 10 Euclidean RBF units with 84 fixed (hand-chosen, not trained) parameters each.

    Returns ``{layer: {"params": .., "trainable": .., "connections": ..}}`` plus a ``"total"``
    entry; the paper's figures are 60,000 trainable parameters and 340,908 connections.
    """
    c3_pairs = sum(len(inputs) for inputs in LENET5_C3_TABLE)
    layers = {
        "C1": (6 * (5 * 5 + 1), 28 * 28 * 6 * (5 * 5 + 1)),
        "S2": (6 * 2, 14 * 14 * 6 * (2 * 2 + 1)),
        "C3": (c3_pairs * 25 + 16, 10 * 10 * (c3_pairs * 25 + 16)),
        "S4": (16 * 2, 5 * 5 * 16 * (2 * 2 + 1)),
        "C5": (120 * (16 * 5 * 5 + 1), 120 * (16 * 5 * 5 + 1)),
        "F6": (84 * (120 + 1), 84 * (120 + 1)),
        "output": (10 * 84, 10 * 84),
    }
    out = {
        name: {"params": p, "trainable": 0 if name == "output" else p, "connections": c}
        for name, (p, c) in layers.items()
    }
    out["total"] = {key: sum(v[key] for v in out.values()) for key in
                    ("params", "trainable", "connections")}
    return out


# --------------------------------------------------------------------------------------------
# AlexNet, ZFNet
# --------------------------------------------------------------------------------------------


def _fc_head(d_in_name: str = "fc6") -> Net:
    return [
        (d_in_name, FC(4096)), ("relu6", ReLU()), ("drop6", Dropout()),
        ("fc7", FC(4096)), ("relu7", ReLU()), ("drop7", Dropout()),
        ("fc8", FC(1000)),
    ]


def alexnet(variant: str = "torchvision", input_size: int = 227) -> Net:
    """AlexNet on a 227x227x3 input.

    ``variant="original"``: the 2012 two-GPU network, conv1 96@11x11 S4, LRN, overlapping 3x3
    stride-2 max pools, conv2/4/5 split in two groups (each filter sees half the depth):
    60,965,224 parameters.
    ``variant="torchvision"``: the single-tower net of torchvision (from Krizhevsky's "One
    weird trick" paper): 64-192-384-256-256 filters, no LRN, no groups: 61,100,840 parameters.
    (torchvision pads conv1 by 2 on a 224 input and floors 55.25 to 55; a 227 input without
    padding gives the same 55x55 exactly.)

    ``input_size=224`` reproduces the paper's erratum: ``(224 - 11)/4 + 1 = 54.25``, and
    :func:`table` raises a ``ValueError`` naming 54.25.
    """
    _validate.positive_int(input_size, "input_size")
    if variant == "original":
        body: Net = [
            ("conv1", Conv(96, 11, S=4)), ("relu1", ReLU()), ("norm1", LRN()),
            ("pool1", Pool(3, 2)),
            ("conv2", Conv(256, 5, P=2, groups=2)), ("relu2", ReLU()), ("norm2", LRN()),
            ("pool2", Pool(3, 2)),
            ("conv3", Conv(384, 3, P=1)), ("relu3", ReLU()),
            ("conv4", Conv(384, 3, P=1, groups=2)), ("relu4", ReLU()),
            ("conv5", Conv(256, 3, P=1, groups=2)), ("relu5", ReLU()),
            ("pool5", Pool(3, 2)),
        ]
    elif variant == "torchvision":
        body = [
            ("conv1", Conv(64, 11, S=4)), ("relu1", ReLU()), ("pool1", Pool(3, 2)),
            ("conv2", Conv(192, 5, P=2)), ("relu2", ReLU()), ("pool2", Pool(3, 2)),
            ("conv3", Conv(384, 3, P=1)), ("relu3", ReLU()),
            ("conv4", Conv(256, 3, P=1)), ("relu4", ReLU()),
            ("conv5", Conv(256, 3, P=1)), ("relu5", ReLU()),
            ("pool5", Pool(3, 2)),
        ]
    else:
        raise ValueError(f"alexnet variant must be 'original' or 'torchvision', got {variant!r}")
    return [("input", Input(input_size, input_size, 3))] + body + _fc_head()


def zfnet() -> Net:
    """ZFNet as drawn in Zeiler & Fergus (2013), Fig. 3: 224x224x3 -> 96@7x7 S2 -> 110x110
    -> 3x3 S2 pool -> 55x55 -> 256@5x5 S2 -> 26x26 -> pool -> 13x13 -> 384, 384, 256 @3x3
    -> pool -> 6x6x256 -> FC 4096, 4096, 1000. (The CS231n slides' 512-1024-512 variant is the
    paper's larger model.)

    These sizes are not whole numbers under the strict rule: ``(224 + 2*1 - 7)/2 + 1 = 110.5``
    and ``(110 - 3)/2 + 1 = 54.5``; the paper's framework floored the convolution and took the
    ceiling for pooling, and the layers here say so explicitly. 62,357,608 parameters.
    """
    return [
        ("input", Input(224, 224, 3)),
        ("conv1", Conv(96, 7, S=2, P=1, rounding="floor")), ("relu1", ReLU()),
        ("pool1", Pool(3, 2, rounding="ceil")), ("norm1", LRN()),
        ("conv2", Conv(256, 5, S=2)), ("relu2", ReLU()),
        ("pool2", Pool(3, 2, rounding="ceil")), ("norm2", LRN()),
        ("conv3", Conv(384, 3, P=1)), ("relu3", ReLU()),
        ("conv4", Conv(384, 3, P=1)), ("relu4", ReLU()),
        ("conv5", Conv(256, 3, P=1)), ("relu5", ReLU()),
        ("pool5", Pool(3, 2)),
    ] + _fc_head()


# --------------------------------------------------------------------------------------------
# VGG-16
# --------------------------------------------------------------------------------------------


def vgg16() -> Net:
    """VGG-16 (configuration D): 13 conv 3x3 S1 P1 layers in 5 blocks (64, 128, 256, 512,
    512 filters), each block closed by a 2x2 stride-2 max pool, then FC 4096, 4096, 1000.

    Its table (input row included, ReLU and dropout in place) sums to 15,237,608 activations
    and 138,357,544 parameters.
    """
    net: Net = [("input", Input(224, 224, 3))]
    for block, (width, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)],
                                           start=1):
        for i in range(1, convs + 1):
            net.append((f"conv{block}_{i}", Conv(width, 3, P=1)))
            net.append((f"relu{block}_{i}", ReLU()))
        net.append((f"pool{block}", Pool(2, 2)))
    return net + _fc_head()


def vgg16_fully_convolutional(input_size: int = 224) -> Net:
    """VGG-16 with its FC layers turned into convolutions: fc6 becomes a 7x7 conv with 4096
    filters (S=1, P=0), fc7 and fc8 1x1 convs with 4096 and 1000 filters. Same parameters.

    At 224 the output is 1x1x1000; at 384 the conv part ends at 12x12x512 (384 / 2^5) and the
    net slides the classifier in one pass to a (12 - 7)/1 + 1 = 6, i.e. 6x6x1000 score map.
    """
    size = _validate.positive_int(input_size, "input_size")
    net = [(name, layer) for name, layer in vgg16() if layer.kind not in ("FC", "DROPOUT")
           and not name.startswith("relu6") and not name.startswith("relu7")]
    net[0] = ("input", Input(size, size, 3))
    return net + [
        ("fc6_conv", Conv(4096, 7)), ("relu6", ReLU()),
        ("fc7_conv", Conv(4096, 1)), ("relu7", ReLU()),
        ("fc8_conv", Conv(1000, 1)),
    ]


# --------------------------------------------------------------------------------------------
# GoogLeNet
# --------------------------------------------------------------------------------------------

#: (name, c1, c3r, c3, c5r, c5, pool_proj) of the nine Inception modules (paper, Table 1).
GOOGLENET_INCEPTIONS = (
    ("3a", 64, 96, 128, 16, 32, 32),
    ("3b", 128, 128, 192, 32, 96, 64),
    ("4a", 192, 96, 208, 16, 48, 64),
    ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64),
    ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128),
    ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
)


def googlenet(variant: str = "torchvision") -> Net:
    """GoogLeNet (Inception-v1) without its two auxiliary classifiers.

    ``variant="paper"``: Szegedy et al. (2014), Table 1: convs with biases, LRN, 5x5 branches,
    7x7 average pool, FC 1024 -> 1000.
    ``variant="torchvision"``: every conv is conv (no bias) + batch norm; the "5x5" branch uses
    a 3x3 filter (a quirk kept for weight compatibility); no LRN; 6,624,904 parameters.

    Both floor conv1 (``(224 + 2*3 - 7)/2 + 1 = 112.5 -> 112``) and take the ceiling in the
    stride-2 pools (``(112 - 3)/2 + 1 = 55.5 -> 56``), as the reference implementations do.
    Neither reaches the "4M" of the CS231n notes (see :func:`googlenet_parameter_breakdown`);
    the per-layer column of the paper's Table 1 adds up to about 6.8M, and this layout, counted
    exactly (biases included), has 6,998,552.
    """
    if variant not in ("paper", "torchvision"):
        raise ValueError(f"googlenet variant must be 'paper' or 'torchvision', got {variant!r}")
    tv = variant == "torchvision"

    def conv(name: str, K: int, F: int, S: int = 1, P: int = 0, rounding: str = "exact") -> Net:
        layer = Conv(K, F, S=S, P=P, bias=not tv, rounding=rounding)
        out: Net = [(name, layer)]
        if tv:
            out.append((f"{name}_bn", BatchNorm()))
        return out + [(f"{name}_relu", ReLU())]

    def inception(spec: tuple) -> tuple[str, Layer]:
        name, *sizes = spec
        return (f"inception{name}", Inception(*sizes, branch3_F=3 if tv else 5,
                                              bias=not tv, batch_norm=tv))

    net: Net = [("input", Input(224, 224, 3))]
    net += conv("conv1", 64, 7, S=2, P=3, rounding="floor")
    net.append(("pool1", Pool(3, 2, rounding="ceil")))
    if not tv:
        net.append(("norm1", LRN()))
    net += conv("conv2", 64, 1)
    net += conv("conv3", 192, 3, P=1)
    if not tv:
        net.append(("norm2", LRN()))
    net.append(("pool2", Pool(3, 2, rounding="ceil")))
    net += [inception(s) for s in GOOGLENET_INCEPTIONS[:2]]
    net.append(("pool3", Pool(3, 2, rounding="ceil")))
    net += [inception(s) for s in GOOGLENET_INCEPTIONS[2:7]]
    net.append(("pool4", Pool(2, 2, rounding="ceil") if tv else Pool(3, 2, rounding="ceil")))
    net += [inception(s) for s in GOOGLENET_INCEPTIONS[7:]]
    net.append(("avgpool", GlobalAvgPool() if tv else Pool(7, 1, mode="avg")))
    net.append(("dropout", Dropout(0.2 if tv else 0.4)))
    net.append(("fc", FC(1000)))
    return net


def googlenet_parameter_breakdown(variant: str = "paper") -> dict[str, int]:
    """Where GoogLeNet's parameters sit: the stem convs, the nine Inception modules, the final
    FC layer, and the total. Shows what a "4M" figure could (not) mean: even without the
    1,025,000 weights of the classifier the modules alone hold ~5.5-6M.
    """
    a = table(lambda: googlenet(variant))
    stem = sum(r.params for r in a.rows if r.kind in ("CONV", "BN"))
    modules = sum(r.params for r in a.rows if r.kind == "INCEPTION")
    fc = a.row("fc").params
    return {"stem": stem, "inception": modules, "fc": fc, "total": a.total_params}


# --------------------------------------------------------------------------------------------
# Tables, small examples, errata
# --------------------------------------------------------------------------------------------

ARCHITECTURES: dict[str, Callable[[], Net]] = {
    "lenet5": lenet5,
    "alexnet": alexnet,
    "alexnet_original": lambda: alexnet("original"),
    "zfnet": zfnet,
    "vgg16": vgg16,
    "googlenet": googlenet,
    "googlenet_paper": lambda: googlenet("paper"),
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
}


def table(net: str | Net | Callable[[], Net]) -> Analysis:
    """The :class:`~cs231n_lib.analysis.Analysis` of a case study, by name (a key of
    :data:`ARCHITECTURES`), builder or layer list."""
    title = ""
    if isinstance(net, str):
        if net not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {net!r}; choose from {list(ARCHITECTURES)}")
        title, net = net, ARCHITECTURES[net]
    if callable(net):
        net = net()
    return analyze(net, title=title)


def __getattr__(name: str) -> Any:
    """The errata live in :mod:`cs231n_lib.errata` (they need the tables of this module)."""
    if name in {"Erratum", "errata", "three_conv_memory"}:
        from cs231n_lib import errata as _errata

        return getattr(_errata, name)
    raise AttributeError(f"module 'cs231n_lib.architectures' has no attribute {name!r}")

