"""Layer descriptions: what each layer does to a volume, as data (no arrays).

``Conv(K=64, F=3, P=1)``, ``Pool(2, 2)``, ``FC(4096)``, ... know their hyperparameters, their
output volume and their parameter count; :func:`cs231n_lib.analysis.analyze` chains them into
a table and :mod:`cs231n_lib.block_specs` builds Inception and bottleneck blocks from them.

* A volume is described as ``(H, W, D)`` -- height, width, depth -- the way the CS231n tables
  print ``[224x224x64]``. (The array code of the library uses NCHW; only these tables use
  H x W x D.)
* Sizes follow :mod:`cs231n_lib.sizes`: ``(W + 2P - F_eff) / S + 1`` must be whole. Real
  networks (GoogLeNet, ResNet, ZFNet) were published with sizes that only work if the
  framework rounds. A layer may ask for that *explicitly* with ``rounding="floor"`` (what a
  PyTorch convolution does) or ``rounding="ceil"`` (PyTorch's ``ceil_mode=True`` pooling); the
  table then prints the rounding in its ``note`` column. Nothing is ever rounded silently.
* Parameters are weights plus biases; batch-norm contributes its scale and shift (2 per
  channel), not its running statistics (buffers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cs231n_lib import _validate

#: A volume ``(H, W, D)``.
Shape = tuple[int, int, int]

_ROUNDING = ("exact", "floor", "ceil")

#: 2.33, 5, 54.25: the way the notes print a ratio (shared with the argument checks).
_fmt = _validate._fmt


def _length(
    size: int,
    field_: int,
    stride: int,
    pad: int,
    dilation: int,
    rounding: str,
    what: str,
) -> tuple[int, str]:
    """Output length with the rounding a layer asked for, and a note when it rounded.

    Shared by ``Conv``, ``Pool`` and :class:`~cs231n_lib.block_specs.Bottleneck`.
    """
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


@dataclass(frozen=True)
class _Step:
    """What one layer does to a volume (read by :func:`cs231n_lib.analysis.analyze`)."""

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


def _is_layer(obj: Any) -> bool:
    """Duck-typed layer test. ``isinstance`` would break when a notebook reloads this module
    (autoreload, the visible checks): old ``Input(...)`` objects belong to the old class.
    Shared by :func:`cs231n_lib.analysis.analyze` and
    :func:`cs231n_lib.receptive_fields.receptive_field`."""
    return isinstance(getattr(obj, "kind", None), str) and callable(getattr(obj, "step", None))


def fc_to_conv(input_shape: Sequence[int], K: int) -> Conv:
    """The conv layer equivalent to an FC layer of ``K`` neurons on an ``H x W x D`` volume:
    ``F = H`` (square input), ``S = 1``, ``P = 0``; 7x7x512 -> FC 4096 is Conv(4096, F=7)."""
    H, W, D = _validate.shape(input_shape, "input_shape", 3, "(H, W, D)")
    if H != W:
        raise ValueError(f"fc_to_conv needs a square volume, got {H}x{W}")
    return Conv(K=_validate.positive_int(K, "K"), F=H, S=1, P=0)


#: A network as data: ``(name, layer)`` pairs, the input first.
Net = list[tuple[str, Layer]]
