"""The one catalogue of known mistakes: what each is called, its family, its hint.

A :class:`Mistake` names the switches that make the instructor's mutant kernels commit it (or,
for a mistake written into the student stub, the mutant of the same name). It holds no code:
its outputs on a case are computed on the trusted side (``grader/mutants/mistakes.py``) and
the release stores them for the visible cases (:func:`grader.checks.expected.mistake_outputs`);
diagnosis then asks which known mistake the learner's result reproduces
(:func:`match_mistake`). The mutants of the tests and the demo are built from the same entries,
so every mutant gets its hint by construction.

Shipped to students (names and hints only). Imports nothing of ``grader``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Mistake:
    """A known mistake: the switches that make the mutant kernels commit it, and its hint.

    Attributes:
        family: the check family it belongs to (e.g. ``"bn_forward"``).
        name: unique name, also the mutant's.
        switches: keyword arguments of the family's forward kernel in
            ``grader/mutants/kernels_blocks.py`` (instructor only).
        hint: what the learner is told when the result matches the mistake's.
        description: the mistake in words.
    """

    family: str
    name: str
    switches: dict[str, Any] = field(hash=False)
    hint: str
    description: str


_NO_PAD = ("did you pad? the stub's Ho, Wo count the windows of the zero-padded input: copy x "
           "into xp of size (H + 2P, W + 2P) first and slide over xp")
AXES_HINT = ("statistics over the wrong axes: spatial batch norm has one mean and one variance "
         "per channel, over N, H and W: x.mean(axis=(0, 2, 3)), shape (C,)")
_NOT_UPDATED = ("running mean not updated: in training mode set bn_param['running_mean'] = "
                "momentum * running_mean + (1 - momentum) * mean (and running_var likewise)")
_MOMENTUM = ("momentum on the wrong term: running = momentum * running + (1 - momentum) * "
             "batch statistic (PyTorch's momentum is the other weight)")
_TEST_BATCH = ("test mode uses the batch statistics: normalise with bn_param['running_mean'] "
               "and ['running_var'] and leave them unchanged")
_NO_STATS = ("dx misses the paths through the batch mean and variance: in training mode "
             "dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) per channel")
_ALWAYS_STATS = ("in test mode the running statistics are constants: dx = dout * gamma * "
                 "inv_std, with no mean/variance terms")
_AFTER_RELU = ("skip added after the ReLU: the block computes relu(main path + shortcut), the "
               "final ReLU comes after the sum")
PROJECTION_HINT = ("projection missing on a stride change: when the stride is not 1 the shortcut "
               "is the 1x1 projection (conv Wp with the block's stride, then batch norm), even "
               "when the depth stays the same")
_NO_SHORTCUT = ("dx misses the shortcut's gradient: add what flows back through the skip "
                "connection (the projection's backward, or the masked dout itself)")
_GAP_SUM = "summed instead of averaged: divide each map's sum by H*W"
_GAP_BWD = "gradient not divided by H*W: every pixel of map (n, c) receives dout[n, c] / (H*W)"

MISTAKES: tuple[Mistake, ...] = (
    Mistake("conv_forward", "conv_no_padding", {}, _NO_PAD,
            "written from the stub (its Ho, Wo kept), slides over x without padding it"),
    Mistake("bn_forward", "bn_axes_batch_only", {"axes": "n"}, AXES_HINT,
            "statistics over N only (vanilla batch norm): one mean per (c, h, w)"),
    Mistake("bn_forward", "bn_axes_per_image", {"axes": "hw"}, AXES_HINT,
            "statistics over H and W of each image (instance norm)"),
    Mistake("bn_forward", "bn_running_not_updated", {"update": "none"}, _NOT_UPDATED,
            "bn_param's running averages never move"),
    Mistake("bn_forward", "bn_momentum_swapped", {"update": "swapped"}, _MOMENTUM,
            "running = (1 - momentum) * running + momentum * new"),
    Mistake("bn_forward", "bn_test_uses_batch_stats", {"test_stats": "batch"}, _TEST_BATCH,
            "test mode normalises with the batch's own mean and variance"),
    Mistake("bn_backward", "bn_backward_no_stat_paths", {"bwd": "no_stats"}, _NO_STATS,
            "train-mode dx = dout * gamma * inv_std"),
    Mistake("bn_backward", "bn_backward_test_moves_stats", {"bwd": "always_stats"},
            _ALWAYS_STATS, "test-mode dx with the mean/variance terms of training mode"),
    Mistake("res_forward", "res_skip_after_relu", {"skip_after_relu": True}, _AFTER_RELU,
            "out = relu(main) + shortcut"),
    Mistake("res_forward", "res_projection_missing_on_stride", {"shortcut": "subsample"},
            PROJECTION_HINT, "projects only when the depth changes; subsamples x on a stride"),
    Mistake("res_backward", "res_backward_no_shortcut", {"bwd": "no_shortcut"}, _NO_SHORTCUT,
            "dx from the main path only"),
    Mistake("gap_forward", "gap_sums", {"reduce": "sum"}, _GAP_SUM, "x.sum(axis=(2, 3))"),
    Mistake("gap_backward", "gap_backward_not_divided", {"divide": False}, _GAP_BWD,
            "dx = dout broadcast over H, W"),
)






def mistakes_of(family: str) -> tuple[Mistake, ...]:
    """The known mistakes of a family, in diagnosis order."""
    return tuple(m for m in MISTAKES if m.family == family)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    return bool(np.all(np.abs(a - b) <= 1e-8 + 1e-6 * np.abs(b)))


def match_mistake(outputs_of_case: tuple[str, ...], got: dict[str, np.ndarray],
                  expected: dict[str, np.ndarray], outputs: dict[str, dict[str, np.ndarray]],
                  family: str) -> str:
    """Hint of the first known mistake whose outputs ``got`` reproduces ('' if none).

    ``outputs_of_case`` are the compared output names; ``outputs`` maps mistake names to their
    outputs on this case (computed on the trusted side). A mistake that gives the right answer
    on this case is no evidence and is skipped.
    """
    for mistake in mistakes_of(family):
        alt = outputs.get(mistake.name)
        if not alt:
            continue
        names = [k for k in outputs_of_case if k in alt and k in got]
        if not names or all(k in expected and _close(alt[k], expected[k]) for k in names):
            continue
        if all(_close(got[k], alt[k]) for k in names):
            return mistake.hint
    return ""


def exception_hint(family: str, type_name: str, text: str, params: dict[str, Any]) -> str:
    """A known mistake recognised from what the learner's code raised ('' if none)."""
    if (family in ("conv_forward", "conv_backward", "lc_forward", "lc_backward")
            and type_name == "ValueError" and "broadcast" in text and params.get("pad", 0) > 0):
        return _NO_PAD
    if family.startswith("res_") and type_name == "ValueError" and "broadcast" in text:
        return PROJECTION_HINT + " (x and the main path's output have different shapes)"
    return ""
