"""Check family of notebook 09: spatial batch norm, the residual block, global average pooling.

One module holds everything of these six checks except their points (``registry.TABLE``) and
hidden parameters (``grader/course/hidden_cases.py``): fixed cases, random draws, case
builders, the known mistakes and the shape hints. Shipped to students, so it holds no correct
implementation: a wrong result is diagnosed by asking which known :class:`Mistake` it matches,
using outputs the trusted side computed with the mutant kernels (stored in the release for the
visible cases, see :func:`grader.checks.expected.mistake_outputs`).

Imported by ``grader.checks.registry`` and ``grader.checks.compare``; imports only
``grader.checks.cases``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.checks.cases import LIB, Case, _dtype, _normal, _rng


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


_AXES = ("statistics over the wrong axes: spatial batch norm has one mean and one variance "
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
_PROJECTION = ("projection missing on a stride change: when the stride is not 1 the shortcut "
               "is the 1x1 projection (conv Wp with the block's stride, then batch norm), even "
               "when the depth stays the same")
_NO_SHORTCUT = ("dx misses the shortcut's gradient: add what flows back through the skip "
                "connection (the projection's backward, or the masked dout itself)")
_GAP_SUM = "summed instead of averaged: divide each map's sum by H*W"
_GAP_BWD = "gradient not divided by H*W: every pixel of map (n, c) receives dout[n, c] / (H*W)"

MISTAKES: tuple[Mistake, ...] = (
    Mistake("bn_forward", "bn_axes_batch_only", {"axes": "n"}, _AXES,
            "statistics over N only (vanilla batch norm): one mean per (c, h, w)"),
    Mistake("bn_forward", "bn_axes_per_image", {"axes": "hw"}, _AXES,
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
            _PROJECTION, "projects only when the depth changes; subsamples x on a stride"),
    Mistake("res_backward", "res_backward_no_shortcut", {"bwd": "no_shortcut"}, _NO_SHORTCUT,
            "dx from the main path only"),
    Mistake("gap_forward", "gap_sums", {"reduce": "sum"}, _GAP_SUM, "x.sum(axis=(2, 3))"),
    Mistake("gap_backward", "gap_backward_not_divided", {"divide": False}, _GAP_BWD,
            "dx = dout broadcast over H, W"),
)


def mistakes_of(family: str) -> tuple[Mistake, ...]:
    """The known mistakes of a family, in diagnosis order."""
    return tuple(m for m in MISTAKES if m.family == family)


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


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    return bool(np.all(np.abs(a - b) <= 1e-8 + 1e-6 * np.abs(b)))


def match_mistake(case: Case, got: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                  outputs: dict[str, dict[str, np.ndarray]], family: str) -> str:
    """Hint of the first known mistake whose outputs ``got`` reproduces ('' if none).

    ``outputs`` maps mistake names to their outputs on this case (computed on the trusted
    side); a mistake that gives the right answer on this case is no evidence and is skipped.
    """
    for mistake in mistakes_of(family):
        alt = outputs.get(mistake.name)
        if not alt:
            continue
        names = [k for k in case.outputs if k in alt and k in got]
        if not names or all(k in expected and _close(alt[k], expected[k]) for k in names):
            continue
        if all(_close(got[k], alt[k]) for k in names):
            return mistake.hint
    return ""


def shape_hint(case: Case, name: str, got: tuple, exp: tuple) -> str:
    """Why an output of these families has the wrong shape, from the formulas."""
    p = case.params
    if name in ("running_mean", "running_var") and tuple(got) != tuple(exp):
        return _AXES
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


def exception_hint(family: str, type_name: str, text: str) -> str:
    """A hint for an exception a learner's block raises on a valid case ('' if none)."""
    if family.startswith("res_") and type_name == "ValueError" and "broadcast" in text:
        return _PROJECTION + " (x and the main path's output have different shapes)"
    return ""
