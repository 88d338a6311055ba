"""Layer arithmetic: output sizes, parameters, neurons, receptive fields and memory.

Everything here is counting, no arrays. Conventions (the same as the notes):

* A volume is described as ``(H, W, D)`` -- height, width, depth -- the way the CS231n tables
  print ``[224x224x64]``. (The array code of the library uses NCHW; only these tables use
  H x W x D.)
* Output length along one axis is ``(W + 2P - F_eff) / S + 1`` with ``F_eff = (F - 1)*d + 1``.
  ``dilation=1`` is an ordinary filter. The result must be a whole number, otherwise the
  configuration is rejected with a ``ValueError`` that shows the fraction (e.g. ``2.33``).
* Real networks (GoogLeNet, ResNet, ZFNet) were published with sizes that only work if the
  framework rounds. A layer may ask for that *explicitly* with ``rounding="floor"`` (what a
  PyTorch convolution does) or ``rounding="ceil"`` (PyTorch's ``ceil_mode=True`` pooling); the
  table then prints the rounding in its ``note`` column. Nothing is ever rounded silently.
* Parameters are weights plus biases; batch-norm contributes its scale and shift (2 per
  channel), not its running statistics (buffers).
* Memory: bytes = count x 4 (float32) or x 8 (float64). Parameters usually need 3 copies
  (values, gradients, optimizer cache); activations 1 copy forward, 2 with their gradients.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from cs231n_lib import _validate

_NOTEBOOK = "notebooks/02_local_connectivity.ipynb"

Shape = tuple[int, int, int]

_ROUNDING = ("exact", "floor", "ceil")


#: 2.33, 5, 54.25: the way the notes print a ratio (shared with the argument checks).
_fmt = _validate._fmt


def _fmt_int(value: int) -> str:
    return f"{value:,}"


# --------------------------------------------------------------------------------------------
# Output sizes
# --------------------------------------------------------------------------------------------


def effective_filter_size(F: int, dilation: int = 1) -> int:
    """Span in pixels of an ``F``-tap filter with dilation ``d``: ``(F - 1) * d + 1``.

    ``dilation=1`` is an ordinary filter (3 -> 3); ``dilation=2`` leaves one gap between taps
    (3 -> 5).
    """
    F = _validate.positive_int(F, "filter size F")
    dilation = _validate.positive_int(dilation, "dilation")
    return _validate.effective_size(F, dilation)


def conv_output_size(W: int, F: int, S: int = 1, P: int = 0, dilation: int = 1) -> int:
    """Spatial output length of a convolution along one axis.

    Args:
        W: input length (pixels), >= 1.
        F: filter length (taps), >= 1.
        S: stride, >= 1.
        P: zero padding per side, >= 0.
        dilation: 1 for an ordinary filter; the filter then spans ``(F - 1)*dilation + 1``.

    Returns:
        ``(W + 2P - F_eff) / S + 1`` as an int.

    Raises:
        ValueError: on a bad argument, a filter wider than the padded input, or when the
            formula is not a whole number, e.g. ``conv_output_size(7, 3, S=3)`` gives
            ``(7 + 2*0 - 3)/3 + 1 = 2.33 is not a whole number``.
    """
    W = _validate.positive_int(W, "input size W")
    F = _validate.positive_int(F, "filter size F")
    S = _validate.positive_int(S, "stride S")
    P = _validate.nonnegative_int(P, "padding P")
    dilation = _validate.positive_int(dilation, "dilation")
    span = _validate.effective_size(F, dilation)
    if span > W + 2 * P:
        raise ValueError(
            f"filter span {span} is larger than the padded input {W} + 2*{P} = {W + 2 * P}"
        )
    ### BEGIN SOLUTION
    steps = W + 2 * P - span
    if steps % S != 0:
        ratio = steps / S + 1
        raise ValueError(
            f"({W} + 2*{P} - {span})/{S} + 1 = {_fmt(ratio)} is not a whole number: "
            f"stride {S} does not tile the input; change S, P or F"
        )
    return steps // S + 1
    ### END SOLUTION


def pool_output_size(W: int, F: int, S: int, P: int = 0) -> int:
    """Spatial output length of a pooling layer: ``(W + 2P - F) / S + 1`` (whole number).

    Pooling is rarely padded; ``P`` is there for completeness. Raises ``ValueError`` like
    :func:`conv_output_size`.
    """
    return _validate.output_length(W, F, S, P, what="pooling")


def same_padding(F: int, dilation: int = 1) -> int:
    """Zero padding ``P = (F_eff - 1) / 2`` that keeps the size at stride 1.

    For an ordinary filter this is ``(F - 1) / 2``: 3 -> 1, 5 -> 2, 7 -> 3.

    Raises:
        ValueError: if the (effective) filter size is even: no symmetric padding keeps the
            size then.
    """
    span = effective_filter_size(F, dilation)
    if span % 2 == 0:
        raise ValueError(
            f"'same' padding needs an odd filter span; (F - 1)/2 = ({span} - 1)/2 = "
            f"{_fmt((span - 1) / 2)} is not a whole number"
        )
    return (span - 1) // 2


def _length(
    size: int,
    field_: int,
    stride: int,
    pad: int,
    dilation: int,
    rounding: str,
    what: str,
) -> tuple[int, str]:
    """Output length with the rounding a layer asked for, and a note when it rounded."""
    if rounding == "exact":
        return _validate.output_length(size, field_, stride, pad, dilation, what=what), ""
    span = _validate.effective_size(field_, dilation)
    padded = size + 2 * pad
    if span > padded:
        raise ValueError(f"{what}: filter span {span} is larger than the padded input {padded}")
    steps = padded - span
    exact = steps / stride + 1
    if steps % stride == 0:
        return steps // stride + 1, ""
    if rounding == "floor":
        out = steps // stride + 1
    else:
        out = -(-steps // stride) + 1
        # PyTorch's ceil_mode rule: the last window must start inside the input or left pad.
        if (out - 1) * stride >= size + pad:
            out -= 1
    note = f"{rounding}(({size} + 2*{pad} - {span})/{stride} + 1 = {_fmt(exact)}) = {out}"
    return out, note


# --------------------------------------------------------------------------------------------
# Layer descriptions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """What one layer does to a volume (used by :func:`analyze`)."""

    shape: Shape
    weights: int = 0
    biases: int = 0
    field: int = 1  # filter span along the width axis, for the receptive field
    stride: int = 1
    note: str = ""


class Layer:
    """Base class of the layer descriptions. Subclasses are frozen dataclasses."""

    kind: str = "LAYER"
    #: True if the layer overwrites its input (ReLU, dropout) instead of storing a new volume.
    in_place: bool = False

    def step(self, shape: Shape) -> _Step:  # pragma: no cover - abstract
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """The settings chosen by hand (not learned)."""
        return {}

    def describe(self) -> str:
        hp = self.hyperparameters()
        inner = ", ".join(f"{k}={v}" for k, v in hp.items())
        return f"{self.kind}({inner})" if inner else self.kind


def _check_rounding(rounding: str) -> None:
    if rounding not in _ROUNDING:
        raise ValueError(f"rounding must be one of {_ROUNDING}, got {rounding!r}")


@dataclass(frozen=True)
class Input(Layer):
    """The input volume ``H x W x C`` (no parameters, no hyperparameters)."""

    H: int
    W: int
    C: int
    kind = "INPUT"

    def __post_init__(self) -> None:
        for name in ("H", "W", "C"):
            _validate.positive_int(getattr(self, name), f"Input.{name}")

    @property
    def shape(self) -> Shape:
        return (self.H, self.W, self.C)

    def step(self, shape: Shape) -> _Step:
        return _Step(shape=self.shape)


@dataclass(frozen=True)
class Conv(Layer):
    """Convolution: ``K`` filters ``F x F x (C/groups)``, stride ``S``, zero padding ``P``.

    ``groups=2`` is AlexNet's two-tower split (each filter sees half the input depth).
    Parameters: ``K * F*F*C/groups`` weights + ``K`` biases (if ``bias``).
    """

    K: int
    F: int
    S: int = 1
    P: int = 0
    dilation: int = 1
    bias: bool = True
    groups: int = 1
    rounding: str = "exact"
    kind = "CONV"

    def __post_init__(self) -> None:
        _validate.positive_int(self.K, "Conv.K (number of filters)")
        _validate.positive_int(self.F, "Conv.F (filter size)")
        _validate.positive_int(self.S, "Conv.S (stride)")
        _validate.nonnegative_int(self.P, "Conv.P (padding)")
        _validate.positive_int(self.dilation, "Conv.dilation")
        _validate.positive_int(self.groups, "Conv.groups")
        if self.K % self.groups:
            raise ValueError(f"Conv: K={self.K} filters do not split into {self.groups} groups")
        _check_rounding(self.rounding)

    def step(self, shape: Shape) -> _Step:
        H, W, C = shape
        if C % self.groups:
            raise ValueError(f"Conv: input depth {C} does not split into {self.groups} groups")
        h, note_h = _length(H, self.F, self.S, self.P, self.dilation, self.rounding,
                            "convolution (height)")
        w, note_w = _length(W, self.F, self.S, self.P, self.dilation, self.rounding,
                            "convolution (width)")
        weights = self.K * self.F * self.F * (C // self.groups)
        return _Step(
            shape=(h, w, self.K),
            weights=weights,
            biases=self.K if self.bias else 0,
            field=_validate.effective_size(self.F, self.dilation),
            stride=self.S,
            note=note_w or note_h,
        )

    def hyperparameters(self) -> dict[str, Any]:
        hp: dict[str, Any] = {"K": self.K, "F": self.F, "S": self.S, "P": self.P}
        if self.dilation != 1:
            hp["dilation"] = self.dilation
        if self.groups != 1:
            hp["groups"] = self.groups
        return hp


@dataclass(frozen=True)
class LocallyConnected(Layer):
    """Locally-connected layer: a convolution *without* parameter sharing.

    Every output position has its own ``F x F x C`` filter per depth slice, so the weights
    are ``H_out * W_out * K * F*F*C`` (+ one bias per output neuron if ``bias``).
    """

    K: int
    F: int
    S: int = 1
    P: int = 0
    bias: bool = True
    kind = "LOCAL"

    def __post_init__(self) -> None:
        _validate.positive_int(self.K, "LocallyConnected.K")
        _validate.positive_int(self.F, "LocallyConnected.F")
        _validate.positive_int(self.S, "LocallyConnected.S")
        _validate.nonnegative_int(self.P, "LocallyConnected.P")

    def step(self, shape: Shape) -> _Step:
        H, W, C = shape
        h = _validate.output_length(H, self.F, self.S, self.P, what="locally connected",
                                    axis="height")
        w = _validate.output_length(W, self.F, self.S, self.P, what="locally connected")
        positions = h * w
        return _Step(
            shape=(h, w, self.K),
            weights=positions * self.K * self.F * self.F * C,
            biases=positions * self.K if self.bias else 0,
            field=self.F,
            stride=self.S,
        )

    def hyperparameters(self) -> dict[str, Any]:
        return {"K": self.K, "F": self.F, "S": self.S, "P": self.P}


@dataclass(frozen=True)
class Pool(Layer):
    """Pooling ``F x F`` with stride ``S`` (``mode`` 'max', 'avg' or 'l2'); depth unchanged,
    no parameters; ``F`` and ``S`` are hyperparameters."""

    F: int
    S: int
    P: int = 0
    mode: str = "max"
    rounding: str = "exact"
    kind = "POOL"

    def __post_init__(self) -> None:
        _validate.positive_int(self.F, "Pool.F")
        _validate.positive_int(self.S, "Pool.S")
        _validate.nonnegative_int(self.P, "Pool.P")
        if self.mode not in ("max", "avg", "l2"):
            raise ValueError(f"Pool.mode must be 'max', 'avg' or 'l2', got {self.mode!r}")
        _check_rounding(self.rounding)

    def step(self, shape: Shape) -> _Step:
        H, W, D = shape
        h, note_h = _length(H, self.F, self.S, self.P, 1, self.rounding, "pooling (height)")
        w, note_w = _length(W, self.F, self.S, self.P, 1, self.rounding, "pooling (width)")
        return _Step(shape=(h, w, D), field=self.F, stride=self.S, note=note_w or note_h)

    def hyperparameters(self) -> dict[str, Any]:
        hp: dict[str, Any] = {"F": self.F, "S": self.S}
        if self.P:
            hp["P"] = self.P
        hp["mode"] = self.mode
        return hp


@dataclass(frozen=True)
class GlobalAvgPool(Layer):
    """Average over the whole ``H x W`` plane: ``H x W x D -> 1 x 1 x D``."""

    kind = "POOL"

    def step(self, shape: Shape) -> _Step:
        H, W, D = shape
        return _Step(shape=(1, 1, D), field=W, stride=W)

    def hyperparameters(self) -> dict[str, Any]:
        return {"mode": "global avg"}


@dataclass(frozen=True)
class FC(Layer):
    """Fully connected layer with ``K`` neurons; each sees the whole input volume.

    Weights ``H*W*D * K`` + ``K`` biases; output ``1 x 1 x K``.
    """

    K: int
    bias: bool = True
    kind = "FC"

    def __post_init__(self) -> None:
        _validate.positive_int(self.K, "FC.K")

    def step(self, shape: Shape) -> _Step:
        H, W, D = shape
        return _Step(
            shape=(1, 1, self.K),
            weights=H * W * D * self.K,
            biases=self.K if self.bias else 0,
            field=W,
            stride=W,
        )

    def hyperparameters(self) -> dict[str, Any]:
        return {"K": self.K}


@dataclass(frozen=True)
class ReLU(Layer):
    """Elementwise ``max(0, x)``: no parameters, no hyperparameters, done in place."""

    kind = "RELU"
    in_place = True

    def step(self, shape: Shape) -> _Step:
        return _Step(shape=shape)


@dataclass(frozen=True)
class Dropout(Layer):
    """Dropout (training-time mask); counted as in place, no parameters."""

    p: float = 0.5
    kind = "DROPOUT"
    in_place = True

    def step(self, shape: Shape) -> _Step:
        return _Step(shape=shape)

    def hyperparameters(self) -> dict[str, Any]:
        return {"p": self.p}


@dataclass(frozen=True)
class LRN(Layer):
    """Local response normalisation across ``n`` neighbouring channels (AlexNet); no
    parameters, four hyperparameters (``n, k, alpha, beta``)."""

    n: int = 5
    kind = "LRN"

    def step(self, shape: Shape) -> _Step:
        return _Step(shape=shape)

    def hyperparameters(self) -> dict[str, Any]:
        return {"n": self.n}


@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch normalisation: a learned scale and shift per channel (``2 * D`` parameters).

    The running mean and variance are buffers, not parameters, and are not counted.
    """

    kind = "BN"

    def step(self, shape: Shape) -> _Step:
        return _Step(shape=shape, weights=shape[2], biases=shape[2])


def _run(layers: Sequence[Layer], shape: Shape) -> tuple[Shape, int, int, int, int]:
    """Push ``shape`` through a chain; return (shape, weights, biases, rf growth, jump)."""
    weights = biases = 0
    growth, jump = 0, 1
    for layer in layers:
        s = layer.step(shape)
        shape = s.shape
        weights += s.weights
        biases += s.biases
        growth += (s.field - 1) * jump
        jump *= s.stride
    return shape, weights, biases, growth, jump


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


# --------------------------------------------------------------------------------------------
# The analysis table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row of an :class:`Analysis` table.

    ``activations`` is the number of values (neurons) in the layer's output volume
    ``H*W*D``; ``receptive_field`` is how many input pixels (along the width) one output
    neuron depends on; ``jump`` is the distance in input pixels between neighbouring outputs.
    The receptive field follows ``r += (F_eff - 1) * jump`` without clipping, so deep layers
    (and FC layers, which see everything) can report more pixels than the image has: the
    extra reaches into the zero padding. Composite blocks (Inception, Bottleneck) count the
    output volume only, not their internal intermediates.
    """

    index: int
    name: str
    kind: str
    shape: Shape
    activations: int
    weights: int
    biases: int
    receptive_field: int
    jump: int
    in_place: bool
    hyperparameters: Mapping[str, Any]
    note: str = ""

    @property
    def params(self) -> int:
        return self.weights + self.biases

    @property
    def has_parameters(self) -> bool:
        return self.params > 0

    @property
    def has_hyperparameters(self) -> bool:
        return bool(self.hyperparameters)


@dataclass(frozen=True)
class Analysis:
    """Per-layer table of a network (see :func:`analyze`), with totals and renderings."""

    rows: tuple[Row, ...]
    title: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def output_shape(self) -> Shape:
        return self.rows[-1].shape

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_weights(self) -> int:
        return sum(r.weights for r in self.rows)

    @property
    def total_biases(self) -> int:
        return sum(r.biases for r in self.rows)

    @property
    def total_activations(self) -> int:
        """Sum of the stored volumes, *including* the input row (as the CS231n VGG table
        does) and excluding in-place layers (ReLU, dropout) that store nothing new."""
        return sum(r.activations for r in self.rows if not r.in_place)

    @property
    def activations_excluding_input(self) -> int:
        return sum(r.activations for r in self.rows if not r.in_place and r.kind != "INPUT")

    def row(self, name: str) -> Row:
        """The row called ``name`` (e.g. ``'conv1'``)."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no layer named {name!r}; names are {[r.name for r in self.rows]}")

    def to_markdown(self) -> str:
        """A markdown table (what a notebook displays)."""
        head = ("| # | layer | output H×W×D | activations | parameters | receptive field "
                "| note |\n|---|---|---|---:|---:|---:|---|")
        lines = [head]
        for r in self.rows:
            act = _fmt_int(r.activations) + (" (in place)" if r.in_place else "")
            lines.append(
                f"| {r.index} | {r.name} | {r.shape[0]}×{r.shape[1]}×{r.shape[2]} | {act} | "
                f"{_fmt_int(r.params)} | {r.receptive_field} | {r.note} |"
            )
        lines.append(
            f"| | **total** | | **{_fmt_int(self.total_activations)}** | "
            f"**{_fmt_int(self.total_params)}** | | |"
        )
        out = "\n".join(lines)
        if self.title:
            out = f"**{self.title}**\n\n" + out
        if self.notes:
            out += "\n\n" + "\n".join(f"* {n}" for n in self.notes)
        return out

    def to_text(self) -> str:
        """A plain-text table, fixed-width columns."""
        lines = []
        if self.title:
            lines.append(self.title)
        lines.append(f"{'layer':<14}{'output':>16}{'activations':>14}{'params':>14}{'RF':>6}  note")
        for r in self.rows:
            shape = f"{r.shape[0]}x{r.shape[1]}x{r.shape[2]}"
            act = _fmt_int(r.activations) + ("*" if r.in_place else "")
            lines.append(f"{r.name:<14}{shape:>16}{act:>14}{_fmt_int(r.params):>14}"
                         f"{r.receptive_field:>6}  {r.note}")
        lines.append(f"{'total':<14}{'':>16}{_fmt_int(self.total_activations):>14}"
                     f"{_fmt_int(self.total_params):>14}")
        if any(r.in_place for r in self.rows):
            lines.append("* in place: not counted in the activation total")
        lines.extend(self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _is_layer(obj: Any) -> bool:
    """Duck-typed layer test. ``isinstance`` would break when a notebook reloads this module
    (autoreload, the visible checks): old ``Input(...)`` objects belong to the old class."""
    return isinstance(getattr(obj, "kind", None), str) and callable(getattr(obj, "step", None))


def analyze(
    layers: Sequence[Layer] | Sequence[tuple[str, Layer]],
    input_shape: Sequence[int] | None = None,
    *,
    title: str = "",
    notes: Iterable[str] = (),
) -> Analysis:
    """Tabulate a chain of layers: output shape, activations, parameters, receptive field.

    Args:
        layers: layer descriptions (``Input``, ``Conv``, ``Pool``, ``FC``, ``ReLU``, ...), or
            ``(name, layer)`` pairs to name the rows. If the first layer is an ``Input``, it
            gives the input shape; otherwise pass ``input_shape``.
        input_shape: ``(H, W, C)`` of the input when ``layers`` does not start with ``Input``.

    Returns:
        An :class:`Analysis` whose first row is always the input.

    Raises:
        ValueError: on an invalid configuration (e.g. a stride that does not tile).
    """
    pairs: list[tuple[str, Layer]] = []
    counters: dict[str, int] = {}
    for item in _validate.sequence(layers, "layers"):
        if isinstance(item, tuple):
            name, layer = item
        else:
            name, layer = "", item
        if not _is_layer(layer):
            raise ValueError(f"analyze: {layer!r} is not a layer description")
        if not name:
            counters[layer.kind] = counters.get(layer.kind, 0) + 1
            name = f"{layer.kind.lower()}{counters[layer.kind]}"
        pairs.append((name, layer))
    if pairs and pairs[0][1].kind == "INPUT":
        if input_shape is not None and tuple(input_shape) != pairs[0][1].shape:
            raise ValueError(f"input_shape {tuple(input_shape)} disagrees with {pairs[0][1]}")
        if pairs[0][0] == "input1":
            pairs[0] = ("input", pairs[0][1])
    else:
        if input_shape is None:
            raise ValueError("analyze: start the layers with Input(H, W, C) or pass input_shape")
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (H, W, C), got {input_shape!r}")
        pairs.insert(0, ("input", Input(*input_shape)))
    if any(layer.kind == "INPUT" for _, layer in pairs[1:]):
        raise ValueError("analyze: Input may only be the first layer")

    rows: list[Row] = []
    shape: Shape = pairs[0][1].shape  # type: ignore[attr-defined]
    rf, jump = 1, 1
    for index, (name, layer) in enumerate(pairs):
        try:
            s = layer.step(shape)
        except ValueError as err:
            raise ValueError(f"layer {index} ({name}, {layer.describe()}): {err}") from err
        rf += (s.field - 1) * jump
        jump *= s.stride
        shape = s.shape
        rows.append(Row(
            index=index, name=name, kind=layer.kind, shape=shape,
            activations=shape[0] * shape[1] * shape[2], weights=s.weights, biases=s.biases,
            receptive_field=rf, jump=jump, in_place=layer.in_place,
            hyperparameters=layer.hyperparameters(), note=s.note,
        ))
    return Analysis(rows=tuple(rows), title=title, notes=tuple(notes))


# --------------------------------------------------------------------------------------------
# Parameter counts
# --------------------------------------------------------------------------------------------


def fc_weights_per_neuron(shape: Sequence[int]) -> int:
    """Weights of one fully connected neuron looking at a whole volume: ``H * W * C``.

    32x32x3 -> 3072; 200x200x3 -> 120,000.
    """
    dims = list(_validate.shape(shape, "volume shape"))
    return math.prod(dims)


def linear_classifier_shape(shape: Sequence[int], classes: int) -> tuple[int, int]:
    """Shape of the weight matrix ``W`` of a linear classifier on flattened images:
    ``(classes, H*W*C)``; CIFAR-10 gives 10 x 3072."""
    return (_validate.positive_int(classes, "classes"), fc_weights_per_neuron(shape))


def conv_params(F: int, C: int, K: int = 1, bias: bool = True) -> int:
    """Parameters of a conv layer: ``K * (F*F*C + 1)`` (without bias ``K * F*F*C``).

    One 5x5x3 filter: 75 weights + 1 bias = 76.
    """
    F = _validate.positive_int(F, "F")
    C = _validate.positive_int(C, "C")
    K = _validate.positive_int(K, "K")
    return K * (F * F * C + (1 if bias else 0))


def unshared_params(H_out: int, W_out: int, K: int, F: int, C: int, bias: bool = True) -> int:
    """Parameters without parameter sharing: every one of the ``H_out*W_out*K`` neurons has
    its own ``F*F*C`` weights and bias. AlexNet conv1: 290,400 x 364 = 105,705,600."""
    neurons = (_validate.positive_int(H_out, "H_out") * _validate.positive_int(W_out, "W_out")
               * _validate.positive_int(K, "K"))
    F = _validate.positive_int(F, "F")
    return neurons * (F * F * _validate.positive_int(C, "C") + (1 if bias else 0))


# --------------------------------------------------------------------------------------------
# Receptive fields and stacks
# --------------------------------------------------------------------------------------------


def receptive_field(stack: Iterable[Any]) -> list[int]:
    """Receptive field (input pixels along one axis) after each layer of a stack.

    ``stack`` holds ``Conv``/``Pool`` descriptions, or tuples ``(F,)``, ``(F, S)`` or
    ``(F, S, dilation)``. Recurrence: ``r += (F_eff - 1) * j``; ``j *= S`` (``j`` is the
    product of the earlier strides). Three 3x3 convs: ``[3, 5, 7]``; 3x3 with dilations
    1, 2, 4: ``[3, 7, 15]``.
    """
    rf, jump = 1, 1
    out: list[int] = []
    if isinstance(stack, str) or not isinstance(stack, Iterable):
        raise ValueError(f"stack must be a list of layers or (F[, S[, d]]) tuples, got {stack!r}")
    for item in stack:
        if _is_layer(item) and item.kind in ("CONV", "POOL") and hasattr(item, "F"):
            F, S, d = item.F, item.S, getattr(item, "dilation", 1)
        else:
            values = tuple(item) if isinstance(item, tuple | list) else (item,)
            if len(values) not in (1, 2, 3):
                raise ValueError(f"stack entries are (F,), (F, S) or (F, S, dilation), got {item}")
            F, S, d = (*values, 1, 1)[:3]
        F = _validate.positive_int(F, "F")
        S = _validate.positive_int(S, "S")
        d = _validate.positive_int(d, "dilation")
        rf += (_validate.effective_size(F, d) - 1) * jump
        jump *= S
        out.append(rf)
    if not out:
        raise ValueError("receptive_field: the stack is empty")
    return out


@dataclass(frozen=True)
class StackComparison:
    """``n`` stacked ``F x F`` convs against one conv with the same receptive field."""

    n: int
    F: int
    C: int
    receptive_field: int
    stacked_weights: int
    single_weights: int
    stacked_nonlinearities: int
    single_nonlinearities: int = 1


def stacked_vs_single(C: int, n: int = 3, F: int = 3) -> StackComparison:
    """Compare ``n`` stacked ``F x F`` convs (``C`` channels in and out, stride 1) with one
    conv that sees the same input patch. Biases are left out, as in the notes.

    Three 3x3: receptive field 7, ``3 * 9 C^2 = 27 C^2`` weights and 3 ReLUs, against one 7x7:
    ``49 C^2`` and one ReLU.
    """
    C = _validate.positive_int(C, "C")
    n = _validate.positive_int(n, "n")
    F = _validate.positive_int(F, "F")
    rf = receptive_field([(F,)] * n)[-1]
    return StackComparison(
        n=n, F=F, C=C, receptive_field=rf,
        stacked_weights=n * F * F * C * C, single_weights=rf * rf * C * C,
        stacked_nonlinearities=n,
    )


# --------------------------------------------------------------------------------------------
# FC -> conv, sliding windows, im2col shapes, pooling fractions
# --------------------------------------------------------------------------------------------


def downsampling_factor(n_pools: int, stride: int = 2) -> int:
    """Total stride of ``n_pools`` pooling layers: ``stride ** n_pools`` (VGG: 2^5 = 32)."""
    return _validate.positive_int(stride, "stride") ** _validate.nonnegative_int(n_pools, "n")


def halvings(n: int) -> int:
    """How many 2x2 stride-2 poolings a size survives exactly: the power of 2 in ``n``.

    224 = 7 * 2^5 -> 5; 32 -> 5; 384 = 3 * 2^7 -> 7; 512 -> 9.
    """
    n = _validate.positive_int(n, "size")
    count = 0
    while n % 2 == 0:
        n //= 2
        count += 1
    return count


def sliding_window_positions(image: int, window: int, stride: int) -> int:
    """How many positions a ``window``-pixel crop takes along one axis of an ``image`` when
    shifted by ``stride``: ``(image - window)/stride + 1`` (whole number required).
    384 with 224 crops every 32 pixels: 6."""
    return _validate.output_length(image, window, stride, what="sliding window")


def fc_to_conv(input_shape: Sequence[int], K: int) -> Conv:
    """The conv layer equivalent to an FC layer of ``K`` neurons on an ``H x W x D`` volume:
    ``F = H`` (square input), ``S = 1``, ``P = 0``; 7x7x512 -> FC 4096 is Conv(4096, F=7)."""
    H, W, D = _validate.shape(input_shape, "input_shape", 3, "(H, W, D)")
    if H != W:
        raise ValueError(f"fc_to_conv needs a square volume, got {H}x{W}")
    return Conv(K=_validate.positive_int(K, "K"), F=H, S=1, P=0)


def fc_to_conv_output(feature_size: int, fc_field: int = 7, stride: int = 1) -> int:
    """Side of the score map when a converted FC layer (filter ``fc_field``) slides over a
    ``feature_size`` feature map: ``(12 - 7)/1 + 1 = 6`` for a 384 image in VGG."""
    return _validate.output_length(feature_size, fc_field, stride, what="converted FC layer")


@dataclass(frozen=True)
class Im2colShapes:
    """Matrix shapes of a convolution done as one matrix multiply."""

    x_col: tuple[int, int]  # (F*F*C, H_out*W_out)
    w_row: tuple[int, int]  # (K, F*F*C)
    product: tuple[int, int]  # (K, H_out*W_out)
    output: Shape  # (H_out, W_out, K)
    duplication: Fraction  # entries of X_col / entries of the (unpadded) input


def im2col_shapes(input_shape: Sequence[int], F: int, K: int, S: int = 1, P: int = 0
                  ) -> Im2colShapes:
    """Shapes of im2col for an ``H x W x C`` input and ``K`` filters ``F x F x C``.

    AlexNet conv1 (227x227x3, 96 filters 11x11, S=4): X_col 363 x 3025, W_row 96 x 363,
    product 96 x 3025 reshaped to 55x55x96.
    """
    H, W, C = _validate.shape(input_shape, "input_shape", 3, "(H, W, C)")
    K = _validate.positive_int(K, "K")
    h = _validate.output_length(H, F, S, P, what="im2col", axis="height")
    w = _validate.output_length(W, F, S, P, what="im2col")
    rows = F * F * C
    cols = h * w
    return Im2colShapes(
        x_col=(rows, cols), w_row=(K, rows), product=(K, cols), output=(h, w, K),
        duplication=Fraction(rows * cols, H * W * C),
    )


def pool_kept_fraction(size: int, F: int = 2, S: int = 2) -> Fraction:
    """Fraction of activations a pooling layer keeps on a ``size x size`` map:
    ``out^2 / size^2``. 2x2 stride 2: 1/4 (75% discarded)."""
    out = pool_output_size(size, F, S)
    return Fraction(out * out, size * size)


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------

_DTYPE_BYTES = {"float16": 2, "float32": 4, "float64": 8}


def _bytes_per_value(dtype_bytes: int | str) -> int:
    if isinstance(dtype_bytes, str):
        if dtype_bytes not in _DTYPE_BYTES:
            raise ValueError(f"dtype must be one of {list(_DTYPE_BYTES)}, got {dtype_bytes!r}")
        return _DTYPE_BYTES[dtype_bytes]
    return _validate.positive_int(dtype_bytes, "dtype_bytes")


def activation_memory(
    activations: int | Analysis, dtype_bytes: int | str = 4, with_gradients: bool = False
) -> int:
    """Bytes for activations of one image: ``count * dtype_bytes`` (x2 with gradients).

    ``activations`` is a count or an :class:`Analysis` (its ``total_activations``).
    """
    count = getattr(activations, "total_activations", activations)
    count = _validate.nonnegative_int(count, "activations")
    return count * _bytes_per_value(dtype_bytes) * (2 if with_gradients else 1)


def parameter_memory(params: int | Analysis, dtype_bytes: int | str = 4, copies: int = 3) -> int:
    """Bytes for parameters: ``count * dtype_bytes * copies`` (values, gradients, optimizer
    cache = 3 copies for momentum / Adam's one cache; use ``copies=1`` for inference)."""
    count = getattr(params, "total_params", params)
    count = _validate.nonnegative_int(count, "params")
    return count * _bytes_per_value(dtype_bytes) * _validate.positive_int(copies, "copies")


def format_bytes(n: int) -> str:
    """``'77.07 MB (73.50 MiB)'``: decimal megabytes and binary mebibytes side by side."""
    n = _validate.nonnegative_int(n, "bytes")
    return f"{n / 1e6:.2f} MB ({n / 2**20:.2f} MiB)"


# --------------------------------------------------------------------------------------------
# Architecture pattern strings
# --------------------------------------------------------------------------------------------

KNOWN_TOKENS = frozenset({"INPUT", "CONV", "RELU", "POOL", "FC", "SOFTMAX", "BN", "DROPOUT"})

_LEX = re.compile(
    r"\s*(?:(?P<arrow>->|→|-)|(?P<open>\[)|(?P<close>\])(?P<rep>\s*(?:\*|×|x)\s*"
    r"(?P<count>[A-Za-z_]\w*|\d+))?|(?P<word>[A-Za-z]+\??))",
)


def parse_pattern(
    pattern: str,
    counts: Mapping[str, int] | None = None,
    *,
    include_optional: bool = True,
    known: Iterable[str] = KNOWN_TOKENS,
) -> list[str]:
    """Expand an architecture pattern into a flat list of layer tokens.

    ``'INPUT -> [[CONV -> RELU]*2 -> POOL]*3 -> [FC -> RELU]*2 -> FC'`` becomes
    ``['INPUT', 'CONV', 'RELU', 'CONV', 'RELU', 'POOL', ...]``.

    Grammar: tokens separated by ``->``, ``→`` or ``-``; ``[ ... ]*n`` repeats a group
    (``×`` or ``x`` also work); repeat counts may be names (``*N``) looked up in ``counts``;
    a token ending in ``?`` (``POOL?``) is optional and kept only if ``include_optional``.
    Tokens are case-insensitive and returned upper case. ``*0`` removes the group.

    Raises:
        ValueError: unbalanced brackets, a repeat without a group, a missing or negative
            count, an unknown token, or a missing separator.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError("pattern must be a non-empty string")
    counts = dict(counts or {})
    known_set = {t.upper() for t in known}
    stack: list[list[str]] = [[]]
    opened: list[int] = []
    pos = 0
    expect_item = True  # after a separator or '[' an item must follow
    while pos < len(pattern):
        if pattern[pos:].strip() == "":
            break
        m = _LEX.match(pattern, pos)
        if not m or m.end() == pos:
            if pattern[pos:].lstrip()[:1] in ("*", "×"):
                raise ValueError(f"pattern: a repeat at position {pos} must follow a "
                                 "bracketed group, e.g. [CONV -> RELU]*2")
            raise ValueError(f"pattern: cannot read {pattern[pos:].strip()[:10]!r} at "
                             f"position {pos}")
        if m.group("arrow"):
            if expect_item:
                raise ValueError(f"pattern: separator {m.group('arrow')!r} at position {pos} "
                                 "has no layer before it")
            expect_item = True
        elif m.group("open"):
            if not expect_item:
                raise ValueError(f"pattern: missing '->' before '[' at position {pos}")
            stack.append([])
            opened.append(pos)
        elif m.group("close") is not None and m.group("word") is None:
            if len(stack) == 1:
                raise ValueError(f"pattern: ']' at position {m.start('close')} has no "
                                 "matching '['")
            if expect_item:
                raise ValueError(f"pattern: empty group or dangling separator before ']' at "
                                 f"position {m.start('close')}")
            group = stack.pop()
            opened.pop()
            if m.group("rep"):
                raw = m.group("count")
                if raw.isdigit():
                    n = int(raw)
                elif raw in counts:
                    n = counts[raw]
                    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                        raise ValueError(f"pattern: count {raw} must be a non-negative "
                                         f"integer, got {n!r}")
                else:
                    raise ValueError(f"pattern: repeat count {raw!r} is not a number; pass "
                                     f"counts={{{raw!r}: ...}}")
            else:
                n = 1
            stack[-1].extend(group * n)
            expect_item = False
        else:
            word = m.group("word")
            if not expect_item:
                raise ValueError(f"pattern: missing '->' before {word!r} at position "
                                 f"{m.start('word')}")
            optional = word.endswith("?")
            token = word.rstrip("?").upper()
            if token not in known_set:
                raise ValueError(f"pattern: unknown layer {word.rstrip('?')!r}; known layers "
                                 f"are {sorted(known_set)}")
            if include_optional or not optional:
                stack[-1].append(token)
            expect_item = False
        pos = m.end()
    if len(stack) > 1:
        raise ValueError(f"pattern: '[' at position {opened[-1]} is never closed")
    if expect_item:
        raise ValueError("pattern: ends with a separator or is empty")
    return stack[0]


@dataclass(frozen=True)
class PatternReport:
    """How a flat token list fits ``INPUT -> [[CONV -> RELU]*N -> POOL?]*M ->
    [FC -> RELU]*K -> FC`` and which rules of thumb it breaks (warnings, not errors)."""

    conv_runs: tuple[int, ...]  # N of each conv block (convs before a pool or the FC part)
    M: int
    K: int
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.warnings


def pattern_rules(tokens: Sequence[str] | str) -> PatternReport:
    """Flag departures from the notes' rules of thumb: ``N <= 3`` convs per block and
    ``K < 3`` hidden FC layers. Returns a report; never raises on a rule (only on bad input).
    """
    if isinstance(tokens, str):
        tokens = parse_pattern(tokens)
    tokens = _validate.sequence(tokens, "tokens")
    if not all(isinstance(t, str) for t in tokens):
        raise ValueError(f"tokens must be strings such as 'CONV', got {tokens!r}")
    toks = [t.upper() for t in tokens]
    runs: list[int] = []
    current = 0
    for t in toks:
        if t == "CONV":
            current += 1
        elif t == "POOL":
            runs.append(current)
            current = 0
        elif t == "FC":
            break
    if current:
        runs.append(current)
    fcs = toks.count("FC")
    K = max(fcs - 1, 0)
    warnings: list[str] = []
    for i, n in enumerate(runs):
        if n > 3:
            warnings.append(f"block {i + 1} stacks N = {n} CONV layers; the rule of thumb "
                            "is N <= 3 before pooling")
    if K >= 3:
        warnings.append(f"K = {K} hidden FC layers; the rule of thumb is K < 3")
    if toks and toks[-1] not in ("FC", "SOFTMAX"):
        warnings.append(f"the pattern ends with {toks[-1]}, not FC (the class scores)")
    return PatternReport(conv_runs=tuple(runs), M=len(runs), K=K, warnings=tuple(warnings))
