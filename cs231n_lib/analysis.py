"""The analysis table of a network: shape, activations, parameters and receptive field per layer.

:func:`analyze` pushes an input volume through a chain of layer descriptions
(:mod:`cs231n_lib.layer_specs`, :mod:`cs231n_lib.block_specs`) and returns an
:class:`Analysis`: one :class:`Row` per layer, totals, and markdown / text renderings (what the
notebooks display). Volumes are ``(H, W, D)`` as in the CS231n tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cs231n_lib import _validate
from cs231n_lib.layer_specs import Input, Layer, Shape, _is_layer


def _fmt_int(value: int) -> str:
    return f"{value:,}"


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
