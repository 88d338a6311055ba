"""Hidden probes of the notebook exercises (instructor only: never shipped, never in a kernel).

The trusted grading job appends these to the visible probes of
:data:`grader.checks.exercises.EXERCISES`; a student sees only "hidden check k of n failed".
"""

from __future__ import annotations

import numpy as np

from grader.checks.exercises import (
    Probe,
    and_margins,
    counts_pairs,
    fold_probe,
    folds_correctly,
    is_number,
    raised,
)


def _and_well_posed(v) -> bool:
    margins = and_margins(v)
    return bool(np.all(np.isfinite(margins)) and np.abs(margins).min() > 1e-9)


HIDDEN: dict[str, tuple[Probe, ...]] = {
    "test_and_weights": (Probe("(w_and, b_and)", _and_well_posed),),
    "test_counts": (Probe("int(conv_16)", lambda v: v == 16 * (3 * 3 * 3 + 1)),),
    "test_valid_strides": (
        Probe("valid_strides(227, 11)", lambda v: v == [s for s in range(1, 217) if 216 % s == 0]),
        Probe("4 in valid_strides(224, 11)", lambda v: v is False),
        Probe("valid_strides(5, 3, 1)", lambda v: v == [1, 2, 4]),
    ),
    "test_sharing_ratio": (Probe("sharing_ratio", is_number),),
    "test_vgg_xcol": (Probe("float(vgg_dup)", lambda v: abs(v - 9.0) < 1e-9),),
    "test_pooled_fraction": (
        Probe("pooled_fraction(3, 2)", lambda v: abs(v - 0.25) < 1e-12),
        Probe("pooled_fraction(3, 3)", lambda v: abs(v - 1 / 9) < 1e-12),
        Probe("pooled_side(55, [(3, 2)] * 3)", lambda v: v == 6),
        Probe("pooled_side(224, [(3, 2)])", lambda v: raised(v, "ValueError")),
    ),
    "test_score_map_side": (
        Probe("score_map_side(512)", lambda v: v == (512 - 224) // 32 + 1),
        Probe("score_map_side(64, 32, 4)", lambda v: v == 9),
        Probe("score_map_side(400)", lambda v: raised(v, "ValueError")),
    ),
    "test_max_pools": (
        Probe("max_pools(384)", lambda v: v == 7),
        Probe("max_pools(512)", lambda v: v == 9),
        Probe("max_pools(96)", lambda v: v == 5),
        Probe("max_pools(227)", lambda v: v == 0),
    ),
    "test_confusion_matrix": (
        Probe("confusion_matrix(*_ex.random_labels(5, 7, 500), 7)", counts_pairs(5, 7, 500)),
        Probe("confusion_matrix(_ex.np.array([3, 3]), _ex.np.array([3, 3]), 5)[3]",
              lambda v: np.array_equal(np.asarray(v), [0, 0, 0, 2, 0])),
    ),
    "test_fold_batchnorm": tuple(Probe(fold_probe(s), folds_correctly(s)) for s in (1, 2, 3)),
}
