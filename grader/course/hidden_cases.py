"""Hidden-case parameters: instructor only, never shipped (the release builder drops this file).

The registry reads :data:`HIDDEN` lazily; the geometries and seeds below appear nowhere else,
so a student copy cannot rebuild these inputs. Hidden random cases use :func:`random_seed`,
derived from a secret salt.
"""

from __future__ import annotations

import zlib

from grader.checks.blocks import _bn, _gp, _rb
from grader.checks.params import _cv, _pl

_SALT = "qv7-hidden-2026-b3"
RANDOM_COUNT = 2


def random_seed(name: str) -> int:
    """Secret seed of a spec's hidden random cases."""
    return 500_000 + zlib.crc32((_SALT + name).encode()) % 400_000


_CONV = [
    ("h_pad2_s3", _cv(2, 2, 9, 9, 3, 4, 4, 3, 2, seed=733_101)),
    ("h_rect_dil3", _cv(1, 3, 10, 7, 2, 2, 3, 2, 1, dilation=3, seed=733_102)),
    ("h_1x1", _cv(3, 4, 3, 5, 2, 1, 1, 1, 0, seed=733_103)),
]
_LC = [
    ("h_pad1_s1", _cv(2, 2, 4, 5, 3, 2, 3, 1, 1, seed=733_201)),
    ("h_s3", _cv(1, 3, 7, 7, 2, 3, 3, 2, 0, seed=733_202)),
]
_IM2COL = [
    ("h_pad2_s3", _cv(2, 2, 9, 9, 1, 4, 4, 3, 2, seed=733_301)),
    ("h_rect_dil2", _cv(1, 3, 7, 9, 1, 3, 2, 2, 1, dilation=2, seed=733_302)),
]
_POOL = [
    ("h_3x2_s1_ties", _pl(2, 2, 5, 6, 3, 2, 1, 733_401, ties=True)),
    ("h_4x4_s2", _pl(1, 3, 8, 10, 4, 4, 2, 733_402)),
    ("h_1x3_s3_ties", _pl(2, 1, 4, 9, 1, 3, 3, 733_403, ties=True)),
]

_BN = [
    ("h_train_update", _bn(2, 4, 3, 2, "train", 733_901, running=True, momentum=0.7)),
    ("h_test", _bn(2, 2, 5, 3, "test", 733_902, momentum=0.5)),
]
_RES = [
    ("h_projection_stride", _rb(3, 2, 2, 5, 3, 2, 733_911)),
    ("h_projection_depth_test", _rb(2, 3, 1, 4, 3, 1, 733_912, mode="test")),
]
_GAP = [("h_a", _gp(3, 2, 2, 7, 733_921)), ("h_b", _gp(1, 5, 1, 3, 733_922))]

HIDDEN: dict[str, list[tuple[str, dict]]] = {
    "spatial_batchnorm_forward": _BN,
    "spatial_batchnorm_backward": _BN,
    "residual_block_forward": _RES,
    "residual_block_backward": _RES,
    "global_avg_pool_forward": _GAP,
    "global_avg_pool_backward": _GAP,
    "conv_output_size": [
        ("h_a", {"W": 57, "F": 7, "S": 4, "P": 1}),
        ("h_b", {"W": 13, "F": 4, "S": 2, "P": 2, "d": 2}),
        ("h_bad", {"W": 20, "F": 5, "S": 4, "P": 1, "error": "ValueError"}),
    ],
    "perceptron_predict": [("h_a", {"n": 17, "D": 4, "seed": 733_501})],
    "perceptron_update": [
        ("h_wrong", {"D": 6, "lr": 0.25, "wrong": True, "seed": 733_502}),
        ("h_right", {"D": 2, "lr": 2.0, "wrong": False, "seed": 733_503}),
    ],
    "conv_forward_naive": _CONV,
    "conv_backward_naive": _CONV,
    "conv_forward_im2col": _CONV,
    "conv_backward_im2col": _CONV,
    "locally_connected_forward": _LC,
    "locally_connected_backward": _LC,
    "im2col": _IM2COL,
    "col2im": _IM2COL,
    "max_pool_forward_naive": _POOL,
    "max_pool_backward_naive": _POOL,
    "avg_pool_forward_naive": _POOL,
    "avg_pool_backward_naive": _POOL,
    "fc_to_conv": [("h_a", {"C": 5, "H": 2, "W": 3, "M": 3, "seed": 733_601})],
    "affine_forward": [("h_a", {"N": 2, "shape": [3, 1, 2], "M": 5, "seed": 733_801})],
    "affine_backward": [("h_a", {"N": 3, "shape": [2, 2], "M": 2, "seed": 733_802,
                                 "zeros": True})],
    "relu_forward": [("h_a", {"N": 2, "shape": [7], "M": 1, "seed": 733_803, "zeros": True})],
    "relu_backward": [("h_a", {"N": 4, "shape": [2, 3], "M": 1, "seed": 733_804,
                               "zeros": True})],
    "softmax_loss": [("h_a", {"N": 6, "C": 4, "seed": 733_805, "scale": 1000.0})],
    "ThreeLayerConvNet": [
        ("h_a", {"N": 2, "C": 2, "H": 6, "W": 4, "F": 2, "FS": 3, "hidden": 3, "classes": 5,
                 "reg": 0.05, "seed": 733_701}),
    ],
}
