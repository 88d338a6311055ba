"""Check family of notebook 09: spatial batch norm, the residual block, global average pooling.

One module holds everything of these six checks except their points (``registry.TABLE``) and
hidden parameters (``grader/course/hidden_cases.py``): fixed cases, random draws, case
builders and the formula-based shape hints; their known mistakes are in
:mod:`grader.checks.mistakes`. Shipped to students, so it holds no correct implementation.

Imported by ``grader.checks.registry`` and ``grader.checks.compare``; imports only
``grader.checks.cases`` and ``grader.checks.mistakes``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.checks.cases import LIB, Case, _dtype, _normal, _rng
from grader.checks.mistakes import AXES_HINT

# ------------------------------------------------------------------------------------------
# inputs and builders
# ------------------------------------------------------------------------------------------


def _bn(N, C, H, W, mode, seed, running=False, momentum=0.9, **extra) -> dict:
    return {"N": N, "C": C, "H": H, "W": W, "mode": mode, "running": running or mode == "test",
            "momentum": momentum, "seed": seed, **extra}


def _bn_inputs(p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    rng = _rng(p)
    dt = _dtype(p)
    C = p["C"]
    shift = 3 * rng.standard_normal(C).reshape(1, C, 1, 1)
    x = (2 * _normal(rng, (p["N"], C, p["H"], p["W"]), dt) + shift).astype(dt)
    gamma = (1 + 0.5 * rng.standard_normal(C)).astype(dt)
    beta = rng.standard_normal(C).astype(dt)
    bn_param: dict[str, Any] = {"mode": p["mode"], "eps": 1e-5, "momentum": p["momentum"]}
    if p["running"]:  # far from the batch's statistics, so test mode tells them apart
        bn_param["running_mean"] = rng.standard_normal(C).astype(dt)
        bn_param["running_var"] = (0.5 + 2 * rng.random(C)).astype(dt)
    return x, gamma, beta, bn_param


def _bn_note(p: dict[str, Any]) -> str:
    run = ", running averages given" if p["running"] and p["mode"] == "train" else ""
    dt = ", float32" if p.get("dtype") == "float32" else ""
    return (f"x {(p['N'], p['C'], p['H'], p['W'])}, {p['mode']} mode, momentum "
            f"{p['momentum']}{run}{dt}")


def _bn_state(p: dict[str, Any]) -> dict[str, list]:
    if p.get("dtype") == "float32":
        return {}  # float32 cases compare out only (a float64 running average is no error)
    return {"running_mean": [3, "running_mean"], "running_var": [3, "running_var"]}


def bn_forward_case(name: str, p: dict[str, Any]) -> Case:
    x, gamma, beta, bn_param = _bn_inputs(p)
    state = _bn_state(p)
    recipe = {"kind": "call", "module": f"{LIB}.batchnorm", "function": "spatial_batchnorm_forward",
              "args": [x, gamma, beta, bn_param], "kwargs": {}, "outputs": ["out", None],
              "arg_outputs": state}
    return Case(name, recipe, ("out", *state), note=_bn_note(p), params=dict(p))


def bn_backward_case(name: str, p: dict[str, Any]) -> Case:
    x, gamma, beta, bn_param = _bn_inputs(p)
    dout = _normal(np.random.default_rng(int(p["seed"]) + 1), x.shape, _dtype(p))
    recipe = {"kind": "forward_backward", "module": f"{LIB}.batchnorm",
              "forward": "spatial_batchnorm_forward", "backward": "spatial_batchnorm_backward",
              "args": [x, gamma, beta, bn_param], "kwargs": {}, "dout": dout,
              "outputs": ["dx", "dgamma", "dbeta"]}
    return Case(name, recipe, ("dx", "dgamma", "dbeta"), note=_bn_note(p), params=dict(p))


def _rb(N, C, F, H, W, stride, seed, mode="train", skip=True) -> dict:
    return {"N": N, "C": C, "F": F, "H": H, "W": W, "stride": stride, "mode": mode,
            "skip": skip, "seed": seed}


def projection(p: dict[str, Any]) -> bool:
    return bool(p.get("skip", True)) and (p["stride"] != 1 or p["C"] != p["F"])


def _res_inputs(p: dict[str, Any]) -> tuple[np.ndarray, dict, dict]:
    rng = _rng(p)
    N, C, F = p["N"], p["C"], p["F"]
    x = rng.standard_normal((N, C, p["H"], p["W"]))
    params = {"W1": 0.5 * rng.standard_normal((F, C, 3, 3)),
              "gamma1": 1 + 0.3 * rng.standard_normal(F), "beta1": 0.3 * rng.standard_normal(F),
              "W2": 0.5 * rng.standard_normal((F, F, 3, 3)),
              "gamma2": 1 + 0.3 * rng.standard_normal(F), "beta2": 0.3 * rng.standard_normal(F)}
    keys = ["bn1", "bn2"]
    if projection(p):
        params.update({"Wp": 0.5 * rng.standard_normal((F, C, 1, 1)),
                       "gammap": 1 + 0.3 * rng.standard_normal(F),
                       "betap": 0.3 * rng.standard_normal(F)})
        keys.append("bnp")
    bn_params: dict[str, dict[str, Any]] = {}
    for key in keys:
        bn_params[key] = {"mode": p["mode"], "eps": 1e-5, "momentum": 0.9}
        if p["mode"] == "test":
            bn_params[key]["running_mean"] = 0.5 * rng.standard_normal(F)
            bn_params[key]["running_var"] = 0.5 + rng.random(F)
    return x, params, bn_params


def res_out_shape(p: dict[str, Any]) -> tuple[int, int, int, int]:
    S = p["stride"]
    return (p["N"], p["F"], (p["H"] - 1) // S + 1, (p["W"] - 1) // S + 1)


def _res_note(p: dict[str, Any]) -> str:
    kind = ("plain (no shortcut)" if not p.get("skip", True)
            else "1x1 projection" if projection(p) else "identity shortcut")
    return (f"x {(p['N'], p['C'], p['H'], p['W'])}, {p['F']} filters, stride {p['stride']}, "
            f"{kind}, {p['mode']} mode")


def res_forward_case(name: str, p: dict[str, Any]) -> Case:
    x, params, bn_params = _res_inputs(p)
    state = {"bn1.running_mean": [2, "bn1", "running_mean"]} if p["mode"] == "train" else {}
    recipe = {"kind": "call", "module": f"{LIB}.residual", "function": "residual_block_forward",
              "args": [x, params, bn_params, p["stride"]], "kwargs": {"skip": p["skip"]},
              "outputs": ["out", None], "arg_outputs": state}
    return Case(name, recipe, ("out", *state), note=_res_note(p), params=dict(p))


def res_backward_case(name: str, p: dict[str, Any]) -> Case:
    x, params, bn_params = _res_inputs(p)
    dout = np.random.default_rng(int(p["seed"]) + 1).standard_normal(res_out_shape(p))
    recipe = {"kind": "forward_backward", "module": f"{LIB}.residual",
              "forward": "residual_block_forward", "backward": "residual_block_backward",
              "args": [x, params, bn_params, p["stride"]], "kwargs": {"skip": p["skip"]},
              "dout": dout, "outputs": ["dx", "grads"]}
    outputs = ("dx", *(f"grads.{k}" for k in sorted(params)))
    return Case(name, recipe, outputs, note=_res_note(p), params=dict(p))


def _gp(N, C, H, W, seed, **extra) -> dict:
    return {"N": N, "C": C, "H": H, "W": W, "seed": seed, **extra}


def _gap_x(p: dict[str, Any]) -> np.ndarray:
    return (1 + _normal(_rng(p), (p["N"], p["C"], p["H"], p["W"]), _dtype(p))).astype(_dtype(p))


def _gap_note(p: dict[str, Any]) -> str:
    return f"x {(p['N'], p['C'], p['H'], p['W'])}" + (
        ", float32" if p.get("dtype") == "float32" else "")


def gap_forward_case(name: str, p: dict[str, Any]) -> Case:
    recipe = {"kind": "call", "module": f"{LIB}.global_pool",
              "function": "global_avg_pool_forward", "args": [_gap_x(p)], "kwargs": {},
              "outputs": ["out", None]}
    return Case(name, recipe, ("out",), note=_gap_note(p), params=dict(p))


def gap_backward_case(name: str, p: dict[str, Any]) -> Case:
    dout = _normal(np.random.default_rng(int(p["seed"]) + 1), (p["N"], p["C"]), _dtype(p))
    recipe = {"kind": "forward_backward", "module": f"{LIB}.global_pool",
              "forward": "global_avg_pool_forward", "backward": "global_avg_pool_backward",
              "args": [_gap_x(p)], "kwargs": {}, "dout": dout, "outputs": ["dx"]}
    return Case(name, recipe, ("dx",), note=_gap_note(p), params=dict(p))


# ------------------------------------------------------------------------------------------
# fixed cases (each aimed at known mistakes) and random draws
# ------------------------------------------------------------------------------------------

BN_FORWARD_FIXED = (
    ("train_first_batch", _bn(4, 3, 3, 3, "train", 1201)),
    ("train_update", _bn(3, 2, 4, 3, "train", 1202, running=True, momentum=0.8)),
    ("test_mode", _bn(3, 3, 3, 4, "test", 1203)),
    ("one_image", _bn(1, 2, 3, 5, "train", 1204, running=True)),
    ("float32", _bn(2, 3, 4, 4, "train", 1205, dtype="float32")),
)
BN_BACKWARD_FIXED = (
    ("train", _bn(4, 3, 3, 3, "train", 1211)),
    ("test_mode", _bn(3, 2, 4, 3, "test", 1212)),
    ("nonsquare", _bn(2, 3, 2, 5, "train", 1213, running=True)),
)
RES_FORWARD_FIXED = (
    ("identity", _rb(2, 3, 3, 5, 5, 1, 1221)),
    ("projection_depth", _rb(2, 2, 4, 5, 4, 1, 1222)),
    ("projection_stride", _rb(2, 3, 3, 7, 5, 2, 1223)),
    ("projection_both", _rb(2, 2, 3, 5, 7, 2, 1224)),
    ("test_mode", _rb(2, 3, 3, 4, 4, 1, 1225, mode="test")),
    ("plain", _rb(2, 2, 3, 5, 5, 2, 1226, skip=False)),
)
RES_BACKWARD_FIXED = (
    ("identity", _rb(2, 3, 3, 5, 5, 1, 1231)),
    ("projection_stride", _rb(2, 3, 3, 5, 5, 2, 1232)),
    ("projection_depth", _rb(2, 2, 4, 4, 5, 1, 1233)),
    ("test_mode", _rb(2, 2, 2, 4, 4, 1, 1234, mode="test")),
)
GAP_FIXED = (
    ("square", _gp(2, 3, 4, 4, 1241)),
    ("nonsquare", _gp(1, 2, 3, 5, 1242)),
    ("float32", _gp(2, 2, 5, 5, 1243, dtype="float32")),
)


def _ri(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi + 1))


def draw_bn(rng: np.random.Generator) -> dict:
    while True:
        N, C, H, W = _ri(rng, 1, 3), _ri(rng, 1, 4), _ri(rng, 1, 4), _ri(rng, 1, 4)
        if N * H * W >= 4:
            break
    mode = "test" if rng.random() < 0.4 else "train"
    return _bn(N, C, H, W, mode, 0, running=bool(rng.integers(0, 2)),
               momentum=float(rng.choice([0.9, 0.5])))


def draw_res(rng: np.random.Generator) -> dict:
    stride = _ri(rng, 1, 2)
    C = _ri(rng, 1, 3)
    F = C if rng.random() < 0.5 else _ri(rng, 1, 4)
    side = (lambda: 2 * _ri(rng, 1, 2) + 1) if stride == 2 else (lambda: _ri(rng, 2, 5))
    return _rb(_ri(rng, 2, 3), C, F, side(), side(), stride, 0,
               mode="test" if rng.random() < 0.25 else "train")


def draw_gap(rng: np.random.Generator) -> dict:
    return _gp(_ri(rng, 1, 3), _ri(rng, 1, 4), _ri(rng, 1, 5), _ri(rng, 1, 5), 0)


#: family -> (builder, fixed parameters, random draw), read by ``registry._family``.
FAMILIES: dict[str, tuple[Any, tuple, Any]] = {
    "bn_forward": (bn_forward_case, BN_FORWARD_FIXED, draw_bn),
    "bn_backward": (bn_backward_case, BN_BACKWARD_FIXED, draw_bn),
    "res_forward": (res_forward_case, RES_FORWARD_FIXED, draw_res),
    "res_backward": (res_backward_case, RES_BACKWARD_FIXED, draw_res),
    "gap_forward": (gap_forward_case, GAP_FIXED, draw_gap),
    "gap_backward": (gap_backward_case, GAP_FIXED, draw_gap),
}


# ------------------------------------------------------------------------------------------
# diagnosis: which known mistake matches; formula-based shape hints
# ------------------------------------------------------------------------------------------


def shape_hint(case: Case, name: str, got: tuple, exp: tuple) -> str:
    """Why an output of these families has the wrong shape, from the formulas."""
    p = case.params
    if name in ("running_mean", "running_var") and tuple(got) != tuple(exp):
        return AXES_HINT
    if name in ("dgamma", "dbeta") or name.startswith("grads.gamma") or name.startswith(
            "grads.beta"):
        return f"{name} has one entry per channel: sum over N, H and W, shape {exp}"
    if name == "out" and "F" in p and len(got) == 4:
        if tuple(got[2:]) == (p["H"], p["W"]) and p["stride"] != 1:
            return ("stride not applied: the first 3x3 conv and the projection use the block's "
                    f"stride, out is (N, F, (H-1)/S + 1, (W-1)/S + 1) = {exp}")
        return f"out is (N, F, (H-1)/S + 1, (W-1)/S + 1) = {exp}"
    if name == "out" and len(got) == 4 and len(exp) == 2:
        return "average over H and W: out has shape (N, C), one number per map"
    if name == "dx":
        return f"dx has the forward input's shape {exp}"
    return ""
