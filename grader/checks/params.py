"""Fixed-case parameters and random draws of the first edition's check families.

Small readable geometries, each fixed case aimed at known mistakes; random draws give valid
geometries by construction. Read by :mod:`grader.checks.registry` (the families of notebook
09 keep theirs in :mod:`grader.checks.blocks`); hidden parameters are in
``grader/course/hidden_cases.py`` (instructor only).
"""

from __future__ import annotations

import numpy as np

from cs231n_lib._validate import effective_size

# ------------------------------------------------------------------------------------------
# random parameter draws (valid geometries by construction)
# ------------------------------------------------------------------------------------------


def _ri(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi + 1))


def _draw_conv(rng: np.random.Generator, *, dilation: bool = True, big: bool = False) -> dict:
    while True:
        p = {"N": _ri(rng, 1, 3), "C": _ri(rng, 1, 3), "F": _ri(rng, 1, 3),
             "HH": _ri(rng, 1, 4), "WW": _ri(rng, 1, 4), "stride": _ri(rng, 1, 3),
             "pad": _ri(rng, 0, 2), "dilation": _ri(rng, 1, 2) if dilation else 1}
        ho, wo = _ri(rng, 1, 4 if big else 3), _ri(rng, 1, 4 if big else 3)
        d = p["dilation"]
        p["H"] = (ho - 1) * p["stride"] + effective_size(p["HH"], d) - 2 * p["pad"]
        p["W"] = (wo - 1) * p["stride"] + effective_size(p["WW"], d) - 2 * p["pad"]
        if p["H"] >= 1 and p["W"] >= 1:
            return p


def _draw_pool(rng: np.random.Generator) -> dict:
    p = {"N": _ri(rng, 1, 2), "C": _ri(rng, 1, 3), "ph": _ri(rng, 1, 3), "pw": _ri(rng, 1, 3),
         "stride": _ri(rng, 1, 3), "ties": bool(rng.integers(0, 2))}
    p["H"] = (_ri(rng, 1, 4) - 1) * p["stride"] + p["ph"]
    p["W"] = (_ri(rng, 1, 4) - 1) * p["stride"] + p["pw"]
    return p


def _draw_output_size(rng: np.random.Generator) -> dict:
    F, S, P, d = _ri(rng, 1, 7), _ri(rng, 1, 4), _ri(rng, 0, 3), _ri(rng, 1, 3)
    W = (_ri(rng, 1, 20) - 1) * S + effective_size(F, d) - 2 * P
    if W < 1:
        W += S * (1 + (1 - W) // S)
    return {"W": W, "F": F, "S": S, "P": P, "d": d}


def _draw_perceptron_update(rng: np.random.Generator) -> dict:
    return {"D": _ri(rng, 2, 6), "lr": float(rng.choice([0.1, 0.5, 1.0])), "wrong": True}


def _draw_fc(rng: np.random.Generator) -> dict:
    return {"C": _ri(rng, 1, 4), "H": _ri(rng, 1, 4), "W": _ri(rng, 1, 4), "M": _ri(rng, 1, 5)}


def _draw_convnet(rng: np.random.Generator) -> dict:
    return {"N": _ri(rng, 2, 3), "C": _ri(rng, 1, 3), "H": 2 * _ri(rng, 2, 3),
            "W": 2 * _ri(rng, 2, 3), "F": _ri(rng, 2, 3), "FS": int(rng.choice([1, 3])),
            "hidden": _ri(rng, 3, 6), "classes": _ri(rng, 2, 4),
            "reg": float(rng.choice([0.0, 0.1]))}


# ------------------------------------------------------------------------------------------
# fixed cases: small, readable, each aimed at known mistakes
# ------------------------------------------------------------------------------------------


def _cv(N, C, H, W, F, HH, WW, stride, pad, dilation=1, seed=1, **extra) -> dict:
    return {"N": N, "C": C, "H": H, "W": W, "F": F, "HH": HH, "WW": WW, "stride": stride,
            "pad": pad, "dilation": dilation, "seed": seed, **extra}


CONV_FORWARD_FIXED = (
    ("plain", _cv(2, 3, 5, 5, 2, 3, 3, 1, 0, seed=11)),
    ("pad1", _cv(2, 3, 5, 5, 3, 3, 3, 1, 1, seed=12)),
    ("stride2_pad1", _cv(1, 3, 5, 5, 2, 3, 3, 2, 1, seed=13)),  # the notes' 5x5x3 demo
    ("nonsquare", _cv(2, 2, 4, 6, 2, 2, 3, 1, 1, seed=14)),
    ("dilation2", _cv(1, 2, 7, 7, 2, 3, 3, 1, 1, dilation=2, seed=15)),
    ("float32", _cv(2, 2, 6, 6, 2, 3, 3, 1, 1, seed=16, dtype="float32")),
)
CONV_BACKWARD_FIXED = (
    ("plain", _cv(2, 3, 5, 5, 2, 3, 3, 1, 0, seed=21)),
    ("pad1", _cv(2, 2, 5, 5, 3, 3, 3, 1, 1, seed=22)),
    ("stride2_pad1", _cv(2, 3, 5, 5, 2, 3, 3, 2, 1, seed=23)),
    ("dilation2", _cv(2, 2, 7, 7, 2, 3, 3, 1, 1, dilation=2, seed=24)),
    ("adjoint", _cv(2, 2, 6, 5, 2, 3, 2, 1, 1, seed=25, property=True)),
)
IM2COL_FIXED = (
    ("plain", _cv(1, 2, 4, 4, 1, 2, 2, 1, 0, seed=31)),
    ("pad1_stride2", _cv(2, 2, 5, 5, 1, 3, 3, 2, 1, seed=32)),
    ("nonsquare", _cv(2, 3, 4, 5, 1, 2, 3, 1, 1, seed=33)),
    ("dilation2", _cv(1, 2, 6, 6, 1, 2, 2, 1, 0, dilation=2, seed=34)),
)
LC_FORWARD_FIXED = (
    ("plain", _cv(2, 2, 4, 4, 2, 2, 2, 1, 0, seed=41)),
    ("pad1_stride2", _cv(2, 3, 5, 5, 2, 3, 3, 2, 1, seed=42)),
)
LC_BACKWARD_FIXED = (
    ("plain", _cv(2, 2, 4, 4, 2, 2, 2, 1, 0, seed=43)),
    ("pad1_stride2", _cv(2, 3, 5, 5, 2, 3, 3, 2, 1, seed=44)),
)


def _pl(N, C, H, W, ph, pw, stride, seed, ties=False) -> dict:
    return {"N": N, "C": C, "H": H, "W": W, "ph": ph, "pw": pw, "stride": stride,
            "seed": seed, "ties": ties}


POOL_FIXED = (
    ("2x2_s2", _pl(2, 3, 4, 4, 2, 2, 2, 51)),
    ("3x3_s2_overlap", _pl(2, 2, 7, 7, 3, 3, 2, 52)),
    ("ties", _pl(2, 3, 4, 6, 2, 2, 2, 53, ties=True)),
    ("ties_overlap", _pl(1, 2, 5, 5, 3, 3, 1, 54, ties=True)),
    ("nonsquare", _pl(1, 2, 6, 4, 3, 2, 1, 55)),
)
OUTPUT_SIZE_FIXED = (
    ("7x7_F3_S1", {"W": 7, "F": 3, "S": 1, "P": 0}),
    ("7x7_F3_S2", {"W": 7, "F": 3, "S": 2, "P": 0}),
    ("7x7_F3_S1_P1", {"W": 7, "F": 3, "S": 1, "P": 1}),
    ("alexnet_conv1", {"W": 227, "F": 11, "S": 4, "P": 0}),
    ("32_F5_P2", {"W": 32, "F": 5, "S": 1, "P": 2}),
    ("dilated", {"W": 9, "F": 3, "S": 1, "P": 0, "d": 2}),
    ("dilated_stride", {"W": 11, "F": 3, "S": 2, "P": 1, "d": 3}),
    ("7x7_F3_S3_invalid", {"W": 7, "F": 3, "S": 3, "P": 0, "error": "ValueError"}),
    ("alexnet_224_invalid", {"W": 224, "F": 11, "S": 4, "P": 0, "error": "ValueError"}),
)
PREDICT_FIXED = (("small", {"n": 12, "D": 3, "seed": 61}), ("wide", {"n": 20, "D": 7, "seed": 62}))
UPDATE_FIXED = (
    ("misclassified_a", {"D": 3, "lr": 0.5, "wrong": True, "seed": 71}),
    ("misclassified_b", {"D": 4, "lr": 1.0, "wrong": True, "seed": 74}),
    ("correct_a", {"D": 3, "lr": 0.5, "wrong": False, "seed": 72}),
    ("correct_b", {"D": 5, "lr": 0.1, "wrong": False, "seed": 73}),
)
FC_FIXED = (
    ("cube", {"C": 2, "H": 3, "W": 3, "M": 4, "seed": 81}),
    ("nonsquare", {"C": 3, "H": 2, "W": 4, "M": 5, "seed": 82}),
)
CONVNET_FIXED = (
    ("loss", {"N": 3, "C": 2, "H": 6, "W": 6, "F": 3, "FS": 3, "hidden": 5, "classes": 4,
              "reg": 0.0, "seed": 91}),
    ("loss_reg", {"N": 2, "C": 3, "H": 4, "W": 4, "F": 2, "FS": 3, "hidden": 4, "classes": 3,
                  "reg": 0.3, "seed": 92}),
    ("scores", {"N": 2, "C": 2, "H": 4, "W": 6, "F": 2, "FS": 3, "hidden": 4, "classes": 3,
                "reg": 0.0, "seed": 93, "scores": True}),
)


def _ly(N, shape, seed, M=3, zeros=False) -> dict:
    return {"N": N, "shape": list(shape), "seed": seed, "M": M, "zeros": zeros}


LAYER_FIXED = (
    ("flat", _ly(3, (5,), 101, M=4)),
    ("volume", _ly(2, (2, 3, 2), 102, M=3, zeros=True)),
    ("single", _ly(1, (4,), 103, M=2)),
)
SOFTMAX_FIXED = (
    ("small", {"N": 4, "C": 3, "seed": 111}),
    ("large_scores", {"N": 3, "C": 5, "seed": 112, "scale": 1000.0}),
)


def _draw_layer(rng: np.random.Generator) -> dict:
    shape = [_ri(rng, 1, 3) for _ in range(_ri(rng, 1, 3))]
    return {"N": _ri(rng, 1, 4), "shape": shape, "M": _ri(rng, 1, 4), "zeros": True}


