"""The unit's arithmetic errata, each recomputed from the case-study tables.

A figure stated by the notes or a paper, the computed one, and why they differ
(:func:`errata`); the notes' three-conv memory example worked out (:func:`three_conv_memory`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cs231n_lib import _validate
from cs231n_lib.architectures import (
    PUBLISHED,
    googlenet_parameter_breakdown,
    table,
    three_conv_stack,
)
from cs231n_lib.memory import activation_memory

_NOTEBOOK = "notebooks/07_architectures.ipynb"


@dataclass(frozen=True)
class Erratum:
    """A figure stated by the notes / a paper, the computed one, and why they differ."""

    topic: str
    stated: str
    computed: str
    explanation: str


def three_conv_memory(dtype_bytes: int = 4) -> dict[str, float]:
    """The notes' "~10M activations / 72 MB" example, computed.

    Three 224x224x64 volumes hold 3 * 3,211,264 = 9,633,792 activations; with gradients in
    float32 that is 77,070,336 bytes = 77.07 MB = 73.50 MiB. The binary unit is the nearer
    one (2% above 72); exactly 72 comes out only if each 3.2M volume is rounded down to 3M
    (9M x 8 bytes). One volume alone (the notes drop the "three") is 25.7 MB.
    """
    a = table(three_conv_stack)
    count = a.activations_excluding_input
    total = activation_memory(count, dtype_bytes, with_gradients=True)
    one = activation_memory(a.row("conv1").activations, dtype_bytes, with_gradients=True)
    return {
        "activations": count,
        "bytes": total,
        "MB": total / 1e6,
        "MiB": total / 2**20,
        "one_volume_bytes": one,
        "notes_MB": PUBLISHED["three_conv_notes_mb"],
    }


def errata() -> list[Erratum]:
    """The arithmetic errata of the unit, each recomputed from the tables."""
    out: list[Erratum] = []
    try:
        _validate.output_length(224, 11, 4)
        alex = "224 works"  # pragma: no cover - never: the arithmetic forbids it
    except ValueError as err:
        alex = str(err).split("; ")[0].removeprefix("convolution: output width ")
    out.append(Erratum(
        "AlexNet input", "224x224x3", f"227x227x3 ({alex})",
        "only 227 gives a whole number: (227 - 11)/4 + 1 = 55",
    ))
    mem = three_conv_memory()
    out.append(Erratum(
        "three 3x3 conv layers on 224x224x3", "~10M activations, 72 MB",
        f"{mem['activations']:,} activations, {mem['MB']:.2f} MB = {mem['MiB']:.2f} MiB",
        "three volumes, activations + gradients, float32; 72 MB is 9M x 8 bytes",
    ))
    vgg = table("vgg16")
    out.append(Erratum(
        "VGG-16 activations", "24M, 93 MB / image (forward)",
        f"{vgg.total_activations:,} ({activation_memory(vgg) / 1e6:.1f} MB forward)",
        "the sum of the table's own rows, input included",
    ))
    gl = googlenet_parameter_breakdown("paper")
    tv = table("googlenet").total_params
    out.append(Erratum(
        "GoogLeNet parameters", "4M",
        f"{gl['total']:,} (paper layout), {tv:,} (torchvision)",
        "both without auxiliary classifiers; the modules alone hold "
        f"{gl['inception']:,}, the final FC {gl['fc']:,}",
    ))
    return out
