"""Receptive fields: how many input pixels an output neuron sees, and why stacks of 3x3 convs win.

Recurrence along one axis: ``r += (F_eff - 1) * j``; ``j *= S`` (``j``, the jump, is the
product of the earlier strides; ``F_eff = (F - 1)*d + 1``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cs231n_lib import _validate
from cs231n_lib.layer_specs import _is_layer


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
