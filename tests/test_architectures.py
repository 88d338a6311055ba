"""Case-study tables against two independent oracles: the same networks written with plain
``torch.nn`` (no torchvision), run on the ``meta`` device (shapes only, no arithmetic), and the
totals published by the papers / torchvision."""

from __future__ import annotations

import pytest

from cs231n_lib import architectures as arch
from cs231n_lib.analysis import Analysis

# ---------------------------------------------------------------------------------------------
# torch.nn twins of the case studies (test-only code)
# ---------------------------------------------------------------------------------------------


def _vgg16(nn):
    layers, c = [], 3
    for width, n in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
        for _ in range(n):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True)]
            c = width
        layers.append(nn.MaxPool2d(2, 2))
    head = [nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 1000)]
    return nn.Sequential(*layers, *head)


def _head(nn, d_in):
    return [nn.Flatten(), nn.Dropout(), nn.Linear(d_in, 4096), nn.ReLU(), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000)]


def _alexnet_torchvision(nn):
    # torchvision's layout (64-192-384-256-256), with its pad-2/224 conv1 replaced by pad-0/227.
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        *_head(nn, 256 * 6 * 6),
    )


def _alexnet_original(nn):
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), nn.LocalResponseNorm(5),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        *_head(nn, 256 * 6 * 6),
    )


def _zfnet(nn):
    return nn.Sequential(
        nn.Conv2d(3, 96, 7, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.LocalResponseNorm(5),
        nn.Conv2d(96, 256, 5, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.LocalResponseNorm(5),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        *_head(nn, 256 * 6 * 6),
    )


def _lenet5(nn):
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def _googlenet(torch, nn, variant):
    tv = variant == "torchvision"

    def basic(cin, cout, k, **kw):
        if tv:
            return nn.Sequential(nn.Conv2d(cin, cout, k, bias=False, **kw),
                                 nn.BatchNorm2d(cout, eps=0.001), nn.ReLU())
        return nn.Sequential(nn.Conv2d(cin, cout, k, **kw), nn.ReLU())

    class Block(nn.Module):
        def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
            super().__init__()
            k5 = 3 if tv else 5
            self.b1 = basic(cin, c1, 1)
            self.b2 = nn.Sequential(basic(cin, c3r, 1), basic(c3r, c3, 3, padding=1))
            self.b3 = nn.Sequential(basic(cin, c5r, 1), basic(c5r, c5, k5, padding=k5 // 2))
            self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, padding=1, ceil_mode=True),
                                    basic(cin, pp, 1))

        def forward(self, x):
            return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)

    mods = [basic(3, 64, 7, stride=2, padding=3), nn.MaxPool2d(3, 2, ceil_mode=True),
            basic(64, 64, 1), basic(64, 192, 3, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True)]
    c = 192
    specs = arch.GOOGLENET_INCEPTIONS
    for i, (_, *sizes) in enumerate(specs):
        mods.append(Block(c, *sizes))
        c = sizes[0] + sizes[2] + sizes[4] + sizes[5]
        if i == 1:
            mods.append(nn.MaxPool2d(3, 2, ceil_mode=True))
        if i == 6:
            mods.append(nn.MaxPool2d(2, 2, ceil_mode=True) if tv
                        else nn.MaxPool2d(3, 2, ceil_mode=True))
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1024, 1000)]
    return nn.Sequential(*mods)


def _resnet50(torch, nn):
    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            out = width * 4
            self.main = nn.Sequential(
                nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out))
            self.skip = (nn.Sequential(nn.Conv2d(cin, out, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(out))
                         if stride != 1 or cin != out else nn.Identity())

        def forward(self, x):
            return torch.relu(self.main(x) + self.skip(x))

    mods = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(3, 2, 1)]
    c = 64
    for width, n, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for b in range(n):
            mods.append(Bottleneck(c, width, stride if b == 0 else 1))
            c = width * 4
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*mods)


def _resnet_basic(torch, nn, blocks):
    """torchvision's ResNet-18/34 layout, written out with basic blocks."""
    class Basic(nn.Module):
        def __init__(self, cin, out, stride):
            super().__init__()
            self.main = nn.Sequential(
                nn.Conv2d(cin, out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(out), nn.ReLU(),
                nn.Conv2d(out, out, 3, padding=1, bias=False), nn.BatchNorm2d(out))
            self.skip = (nn.Sequential(nn.Conv2d(cin, out, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(out))
                         if stride != 1 or cin != out else nn.Identity())

        def forward(self, x):
            return torch.relu(self.main(x) + self.skip(x))

    mods = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(3, 2, 1)]
    c = 64
    for width, n, stride in zip((64, 128, 256, 512), blocks, (1, 2, 2, 2), strict=True):
        for b in range(n):
            mods.append(Basic(c, width, stride if b == 0 else 1))
            c = width
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000)]
    return nn.Sequential(*mods)


def _build(torch, name):
    nn = torch.nn
    return {
        "lenet5": lambda: _lenet5(nn),
        "alexnet": lambda: _alexnet_torchvision(nn),
        "alexnet_original": lambda: _alexnet_original(nn),
        "zfnet": lambda: _zfnet(nn),
        "vgg16": lambda: _vgg16(nn),
        "googlenet": lambda: _googlenet(torch, nn, "torchvision"),
        "googlenet_paper": lambda: _googlenet(torch, nn, "paper"),
        "resnet18": lambda: _resnet_basic(torch, nn, (2, 2, 2, 2)),
        "resnet34": lambda: _resnet_basic(torch, nn, (3, 4, 6, 3)),
        "resnet50": lambda: _resnet50(torch, nn),
    }[name]()


def _top_level_shapes(torch, model, input_hw):
    """Output shape (H, W, D) after every top-level module whose output is 4-D, on meta."""
    shapes = []
    x = torch.empty(1, model[0].in_channels if hasattr(model[0], "in_channels")
                    else model[0][0].in_channels, *input_hw, device="meta")
    for module in model:
        x = module(x)
        if x.dim() == 4:
            shapes.append((x.shape[2], x.shape[3], x.shape[1]))
    return shapes, tuple(x.shape)


# ---------------------------------------------------------------------------------------------
# Parameter counts: torch twin and published figure
# ---------------------------------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("name", list(arch.ARCHITECTURES))
def test_parameter_count_matches_torch_twin(torch, name):
    with torch.device("meta"):
        model = _build(torch, name)
    expected = sum(p.numel() for p in model.parameters())
    assert arch.table(name).total_params == expected


@pytest.mark.parametrize(
    "name, published",
    [
        ("alexnet", 61_100_840),  # torchvision model card
        ("alexnet_original", 60_965_224),  # Caffe bvlc_alexnet (two towers)
        ("vgg16", 138_357_544),  # torchvision model card
        ("googlenet", 6_624_904),  # torchvision googlenet, aux_logits=False
        ("resnet50", 25_557_032),  # torchvision model card
        ("lenet5", 61_706),  # 156 + 2,416 + 48,120 + 10,164 + 850
    ],
)
def test_parameter_count_matches_published(name, published):
    assert arch.table(name).total_params == published


def test_lenet5_paper_figures():
    counts = arch.lenet5_paper_counts()
    # LeCun et al. 1998, section II.B: "340,908 connections, but only 60,000 trainable
    # free parameters"; C3: 1,516 parameters and 151,600 connections; C5: 48,120.
    assert counts["total"]["trainable"] == 60_000
    assert counts["total"]["connections"] == 340_908
    assert counts["C3"]["params"] == 1_516
    assert counts["C3"]["connections"] == 151_600
    assert counts["C5"]["params"] == 48_120
    assert counts["F6"]["params"] == 10_164
    assert all(len(set(c)) == len(c) for c in arch.LENET5_C3_TABLE)
    assert len(arch.LENET5_C3_TABLE) == 16


def test_googlenet_between_notes_and_implementations():
    paper = arch.table("googlenet_paper").total_params
    tv = arch.table("googlenet").total_params
    assert 6_600_000 <= tv <= paper <= 7_000_000
    assert paper > 1.5 * arch.PUBLISHED["googlenet_notes_params"]
    parts = arch.googlenet_parameter_breakdown("paper")
    assert parts["fc"] == 1024 * 1000 + 1000
    assert parts["stem"] + parts["inception"] + parts["fc"] == parts["total"]


# ---------------------------------------------------------------------------------------------
# Shapes: every top-level stage against torch's meta forward
# ---------------------------------------------------------------------------------------------


def _spatial_rows(analysis: Analysis, kinds):
    return [r.shape for r in analysis.rows if r.kind in kinds]


@pytest.mark.torch
@pytest.mark.parametrize(
    "name, hw",
    [("vgg16", (224, 224)), ("alexnet", (227, 227)), ("alexnet_original", (227, 227)),
     ("zfnet", (224, 224)), ("lenet5", (32, 32))],
)
def test_plain_net_shapes_match_torch(torch, name, hw):
    with torch.device("meta"):
        model = _build(torch, name)
    shapes, final = _top_level_shapes(torch, model, hw)
    a = arch.table(name)
    first_fc = next(i for i, r in enumerate(a.rows) if r.kind == "FC")
    ours = [r.shape for r in a.rows[1:first_fc] if r.kind in ("CONV", "POOL", "RELU", "LRN")]
    assert ours == shapes
    assert final[-1] == a.output_shape[2]


@pytest.mark.torch
@pytest.mark.parametrize("name", ["googlenet", "googlenet_paper", "resnet50"])
def test_block_net_shapes_match_torch(torch, name):
    with torch.device("meta"):
        model = _build(torch, name)
    shapes, _ = _top_level_shapes(torch, model, (224, 224))
    a = arch.table(name)
    # One shape per torch top-level module: skip our BN/ReLU/LRN/dropout rows that torch
    # folds into a module, and the FC.
    kinds = {"CONV", "POOL", "INCEPTION", "BOTTLENECK"}
    ours = [r.shape for r in a.rows[1:] if r.kind in kinds]
    if name == "resnet50":
        ours.insert(1, ours[0])  # torch lists bn1 and relu as separate 4-D modules
        ours.insert(1, ours[0])
    assert ours == shapes


# ---------------------------------------------------------------------------------------------
# VGG-16's activation table and the errata
# ---------------------------------------------------------------------------------------------


def test_vgg16_rows_like_the_notes():
    a = arch.table("vgg16")
    stored = [r for r in a.rows if not r.in_place]
    # The CS231n table: INPUT, 13 CONV rows, 5 POOL rows, 3 FC rows = 22 memory rows.
    assert len(stored) == 22
    assert a.row("input").activations == 224 * 224 * 3
    assert a.row("conv1_1").params == 3 * 3 * 3 * 64 + 64
    assert a.row("fc6").weights == 7 * 7 * 512 * 4096
    # Sum the table written out by hand, block by block (side**2 * depth per row).
    by_hand = (224**2 * 3 + 2 * 224**2 * 64 + 112**2 * 64 + 2 * 112**2 * 128 + 56**2 * 128
               + 3 * 56**2 * 256 + 28**2 * 256 + 3 * 28**2 * 512 + 14**2 * 512
               + 3 * 14**2 * 512 + 7**2 * 512 + 4096 + 4096 + 1000)
    assert a.total_activations == by_hand == 15_237_608
    assert a.activations_excluding_input == by_hand - 150_528
    assert a.total_activations < 0.7 * arch.PUBLISHED["vgg16_notes_activations"]


def test_receptive_fields_of_vgg16():
    a = arch.table("vgg16")
    # Two 3x3 convs see 5x5; each pool doubles the step; pool5 sees 212 pixels (a widely
    # tabulated figure for VGG-16).
    assert a.row("conv1_2").receptive_field == 5
    assert a.row("conv2_1").receptive_field == 10
    assert a.row("pool5").receptive_field == 212
    assert a.row("pool5").jump == 32


def test_alexnet_224_is_the_erratum():
    with pytest.raises(ValueError, match=r"54\.25"):
        arch.table(lambda: arch.alexnet(input_size=224))
    assert arch.table("alexnet_original").row("conv1").shape == (55, 55, 96)


def test_rounded_layers_are_flagged_in_the_table():
    a = arch.table("googlenet")
    assert "112.5" in a.row("conv1").note
    assert "55.5" in a.row("pool1").note
    assert "110.5" in arch.table("zfnet").row("conv1").note
    assert "112.5" in arch.table("resnet50").row("conv1").note
    # Strict nets round nothing.
    assert not any(r.note for r in arch.table("vgg16").rows)


def test_three_conv_memory():
    m = arch.three_conv_memory()
    assert m["activations"] == 3 * 224 * 224 * 64 == 9_633_792
    assert m["bytes"] == 9_633_792 * 4 * 2
    assert m["MiB"] == pytest.approx(73.5)
    notes = m["notes_MB"]
    assert abs(m["MiB"] - notes) < abs(m["MB"] - notes)  # MiB is the nearer reading
    assert 9_000_000 * 8 / 1e6 == notes  # 72 is 9M values x 8 bytes


def test_errata_list_and_sharing():
    topics = [e.topic for e in arch.errata()]
    assert len(topics) == 4
    assert "54.25" in arch.errata()[0].computed
    s = arch.parameter_sharing()
    assert (s.neurons, s.params_per_neuron, s.unshared, s.shared) == (
        290_400, 364, 105_705_600, 34_944)


def test_cifar_pipeline_params_and_hyperparameters():
    a = arch.table(arch.cifar_pipeline)
    has_p = {r.name: r.has_parameters for r in a.rows}
    has_h = {r.name: r.has_hyperparameters for r in a.rows}
    assert has_p == {"INPUT": False, "CONV": True, "RELU": False, "POOL": False, "FC": True}
    assert has_h == {"INPUT": False, "CONV": True, "RELU": False, "POOL": True, "FC": True}
    assert [r.shape for r in a.rows] == [(32, 32, 3), (32, 32, 12), (32, 32, 12),
                                         (16, 16, 12), (1, 1, 10)]


def test_unknown_names_rejected():
    with pytest.raises(ValueError, match="unknown architecture"):
        arch.table("lenet6")
    with pytest.raises(ValueError, match="variant"):
        arch.alexnet("two-tower")
    with pytest.raises(ValueError, match="variant"):
        arch.googlenet("v3")


def test_tables_render():
    a = arch.table("resnet50")
    text, md = a.to_text(), a.to_markdown()
    assert "25,557,032" in text and "25,557,032" in md
    assert md.count("\n") >= len(a.rows)
