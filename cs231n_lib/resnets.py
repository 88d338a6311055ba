"""ResNet case studies as layer tables: ResNet-50 (bottleneck blocks), ResNet-18/34 (basic
blocks), in the notation of :mod:`cs231n_lib.layer_specs` (see :mod:`cs231n_lib.architectures`
for the other case studies and :func:`~cs231n_lib.architectures.table`).
"""

from __future__ import annotations

from cs231n_lib.block_specs import BasicBlock, Bottleneck
from cs231n_lib.layer_specs import FC, BatchNorm, Conv, GlobalAvgPool, Input, Net, Pool, ReLU

_NOTEBOOK = "notebooks/07_architectures.ipynb"


def resnet50() -> Net:
    """ResNet-50 (torchvision v1.5 layout: the stride sits on the 3x3 conv of a block).

    conv1 7x7/2 (no bias) + BN + ReLU, 3x3/2 max pool (pad 1), then 3, 4, 6, 3 bottleneck
    blocks of widths 64, 128, 256, 512 (output depth x4), global average pool, FC 1000.
    Strided layers floor ``(224 + 2*3 - 7)/2 + 1 = 112.5`` to 112, as PyTorch does.
    25,557,032 parameters, batch-norm scales and shifts included (running statistics are
    buffers and are not counted). No FC hidden layers at the end.
    """
    net: Net = [
        ("input", Input(224, 224, 3)),
        ("conv1", Conv(64, 7, S=2, P=3, bias=False, rounding="floor")),
        ("bn1", BatchNorm()), ("relu", ReLU()),
        ("maxpool", Pool(3, 2, P=1, rounding="floor")),
    ]
    for stage, (width, blocks, stride) in enumerate(
        [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1
    ):
        for b in range(blocks):
            layer = Bottleneck(width, S=stride if b == 0 else 1, project=b == 0)
            net.append((f"layer{stage}.{b}", layer))
    net += [("avgpool", GlobalAvgPool()), ("fc", FC(1000))]
    return net


def resnet_basic(blocks: tuple[int, int, int, int] = (2, 2, 2, 2)) -> Net:
    """ResNet with basic blocks (torchvision layout): conv1 7x7/2 (no bias) + BN + ReLU,
    3x3/2 max pool (pad 1), four stages of ``blocks`` basic blocks with 64, 128, 256, 512
    filters (stride 2 and a 1x1 projection at the first block of stages 2-4), global average
    pool, FC 1000. ``(2, 2, 2, 2)`` is ResNet-18 (11,689,512 parameters), ``(3, 4, 6, 3)``
    ResNet-34 (21,797,672), batch-norm scales and shifts included."""
    net: Net = [
        ("input", Input(224, 224, 3)),
        ("conv1", Conv(64, 7, S=2, P=3, bias=False, rounding="floor")),
        ("bn1", BatchNorm()), ("relu", ReLU()),
        ("maxpool", Pool(3, 2, P=1, rounding="floor")),
    ]
    depth = 64
    for stage, (width, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True), start=1):
        for b in range(n):
            stride = 2 if (b == 0 and stage > 1) else 1
            layer = BasicBlock(width, S=stride, project=stride != 1 or depth != width)
            net.append((f"layer{stage}.{b}", layer))
            depth = width
    net += [("avgpool", GlobalAvgPool()), ("fc", FC(1000))]
    return net


def resnet18() -> Net:
    """ResNet-18: basic blocks (2, 2, 2, 2); see :func:`resnet_basic`."""
    return resnet_basic((2, 2, 2, 2))


def resnet34() -> Net:
    """ResNet-34: basic blocks (3, 4, 6, 3); see :func:`resnet_basic`."""
    return resnet_basic((3, 4, 6, 3))
