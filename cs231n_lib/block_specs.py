"""Composite layer descriptions: GoogLeNet's Inception module, ResNet's bottleneck and basic
blocks.

Each block is a :class:`~cs231n_lib.layer_specs.Layer` built from the plain layer
descriptions; :func:`cs231n_lib.analysis.analyze` shows it as one row (output volume,
parameters of all its branches, receptive-field growth).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cs231n_lib.layer_specs import (
    BatchNorm,
    Conv,
    Layer,
    Pool,
    ReLU,
    Shape,
    _length,
    _Step,
)


def _chain(layers: Sequence[Layer], shape: Shape) -> tuple[Any, Shape, int, int, int, int]:
    """Push ``shape`` through a chain; return (last step, shape, weights, biases, rf growth,
    jump)."""
    weights = biases = 0
    growth, jump = 0, 1
    s = None
    for layer in layers:
        s = layer.step(shape)
        shape = s.shape
        weights += s.weights
        biases += s.biases
        growth += (s.field - 1) * jump
        jump *= s.stride
    return s, shape, weights, biases, growth, jump


def _run(layers: Sequence[Layer], shape: Shape) -> tuple[Shape, int, int, int, int]:
    """:func:`_chain` without the last step: (shape, weights, biases, rf growth, jump)."""
    return _chain(layers, shape)[1:]


@dataclass(frozen=True)
class Inception(Layer):
    """GoogLeNet's Inception module: four parallel branches concatenated along depth.

    Branches: 1x1 (``c1`` filters); 1x1 reduce (``c3r``) then 3x3 (``c3``); 1x1 reduce
    (``c5r``) then ``branch3_F x branch3_F`` (``c5``: 5x5 in the paper, 3x3 in torchvision's
    implementation); 3x3 max pool stride 1 then 1x1 projection (``pool_proj``).
    ``batch_norm=True, bias=False`` is torchvision's ``BasicConv2d`` (conv + BN, no bias).
    Output depth ``c1 + c3 + c5 + pool_proj``; spatial size unchanged.
    """

    c1: int
    c3r: int
    c3: int
    c5r: int
    c5: int
    pool_proj: int
    branch3_F: int = 5
    bias: bool = True
    batch_norm: bool = False
    kind = "INCEPTION"

    def _conv(self, K: int, F: int) -> list[Layer]:
        conv = Conv(K, F, P=(F - 1) // 2, bias=self.bias)
        return [conv, BatchNorm()] if self.batch_norm else [conv]

    def branches(self) -> list[list[Layer]]:
        return [
            self._conv(self.c1, 1),
            self._conv(self.c3r, 1) + self._conv(self.c3, 3),
            self._conv(self.c5r, 1) + self._conv(self.c5, self.branch3_F),
            [Pool(3, 1, P=1)] + self._conv(self.pool_proj, 1),
        ]

    def step(self, shape: Shape) -> _Step:
        depth = weights = biases = 0
        growth = 0
        out_hw = None
        for branch in self.branches():
            out, w, b, g, _ = _run(branch, shape)
            if out_hw is not None and out[:2] != out_hw:  # pragma: no cover - same padding
                raise ValueError("Inception branches disagree on the output size")
            out_hw = out[:2]
            depth += out[2]
            weights += w
            biases += b
            growth = max(growth, g)
        assert out_hw is not None
        return _Step(shape=(out_hw[0], out_hw[1], depth), weights=weights, biases=biases,
                     field=growth + 1, stride=1)

    def hyperparameters(self) -> dict[str, Any]:
        return {"1x1": self.c1, "3x3": f"{self.c3r}->{self.c3}",
                f"{self.branch3_F}x{self.branch3_F}": f"{self.c5r}->{self.c5}",
                "pool": self.pool_proj}


@dataclass(frozen=True)
class Bottleneck(Layer):
    """ResNet bottleneck block: 1x1 (``width``) -> 3x3 (``width``, stride ``S``) -> 1x1
    (``width * expansion``), each conv without bias and followed by batch norm; the skip
    connection adds the input (through a 1x1 stride-``S`` conv + BN when ``project``).
    Strided 3x3 / 1x1 convs round down (``rounding="floor"``), as PyTorch does.
    """

    width: int
    S: int = 1
    project: bool = False
    expansion: int = 4
    kind = "BOTTLENECK"

    def main_path(self) -> list[Layer]:
        return [
            Conv(self.width, 1, bias=False), BatchNorm(), ReLU(),
            Conv(self.width, 3, S=self.S, P=1, bias=False, rounding="floor"), BatchNorm(),
            ReLU(),
            Conv(self.width * self.expansion, 1, bias=False), BatchNorm(),
        ]

    def shortcut(self) -> list[Layer]:
        if not self.project:
            return []
        return [Conv(self.width * self.expansion, 1, S=self.S, bias=False, rounding="floor"),
                BatchNorm()]

    def step(self, shape: Shape) -> _Step:
        out, w, b, growth, jump = _run(self.main_path(), shape)
        if self.project:
            s_out, s_w, s_b, _, _ = _run(self.shortcut(), shape)
            if s_out != out:  # pragma: no cover - consistent by construction
                raise ValueError("shortcut and main path shapes differ")
            w, b = w + s_w, b + s_b
        elif out != shape:
            raise ValueError(
                f"Bottleneck: identity shortcut needs equal shapes, got {shape} -> {out}; "
                "use project=True"
            )
        note = ""
        if self.S > 1:
            note = _length(shape[1], 3, self.S, 1, 1, "floor", "conv")[1]
        return _Step(shape=out, weights=w, biases=b, field=growth + 1, stride=jump, note=note)

    def hyperparameters(self) -> dict[str, Any]:
        return {"width": self.width, "S": self.S, "out": self.width * self.expansion}


@dataclass(frozen=True)
class BasicBlock(Layer):
    """ResNet-18/34 basic block: 3x3 conv (``K`` filters, stride ``S``) -> BN -> ReLU -> 3x3
    conv (``K``) -> BN, plus the shortcut: the identity, or (``project``) a 1x1 stride-``S``
    conv + BN; then ReLU. Convs have no bias; strided convs round down as PyTorch does.
    (The trainable NumPy version is :mod:`cs231n_lib.residual`.)"""

    K: int
    S: int = 1
    project: bool = False
    kind = "BASICBLOCK"

    def main_path(self) -> list[Layer]:
        return [
            Conv(self.K, 3, S=self.S, P=1, bias=False, rounding="floor"), BatchNorm(), ReLU(),
            Conv(self.K, 3, P=1, bias=False), BatchNorm(),
        ]

    def shortcut(self) -> list[Layer]:
        if not self.project:
            return []
        return [Conv(self.K, 1, S=self.S, bias=False, rounding="floor"), BatchNorm()]

    def step(self, shape: tuple[int, int, int]) -> Any:
        last, _, w, b, growth, jump = _chain(self.main_path(), shape)
        if self.project:
            s_last, _, s_w, s_b, _, _ = _chain(self.shortcut(), shape)
            if s_last.shape != last.shape:  # pragma: no cover - consistent by construction
                raise ValueError("shortcut and main path shapes differ")
            w, b = w + s_w, b + s_b
        elif last.shape != tuple(shape):
            raise ValueError(
                f"BasicBlock: the identity shortcut adds the input {tuple(shape)} to the main "
                f"path's output {last.shape}; the shapes differ, so use project=True"
            )
        first = self.main_path()[0].step(shape)
        return dataclasses.replace(last, weights=w, biases=b, field=growth + 1, stride=jump,
                                   note=first.note)

    def hyperparameters(self) -> dict[str, Any]:
        return {"K": self.K, "S": self.S, "projection": self.project}
