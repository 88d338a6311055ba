"""Case builders of the small families: the output size, the perceptron, FC -> conv, the layers
of notebook 08 (affine, ReLU, softmax) and ``ThreeLayerConvNet``.

Each is a pure function ``build(name, params) -> Case``, like the convolution and pooling
builders of :mod:`grader.checks.cases` (whose :class:`Case` and seeded draws they use).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.checks.cases import LIB, Case, _dtype, _normal, _rng


def conv_output_size_case(name: str, p: dict[str, Any]) -> Case:
    kwargs = {"S": p["S"], "P": p["P"]}
    if p.get("d", 1) != 1:
        kwargs["dilation"] = p["d"]
    recipe = {"kind": "call", "module": f"{LIB}.sizes", "function": "conv_output_size",
              "args": [p["W"], p["F"]], "kwargs": kwargs, "outputs": ["size"]}
    note = f"W={p['W']}, F={p['F']}, S={p['S']}, P={p['P']}" + (
        f", dilation={p['d']}" if p.get("d", 1) != 1 else "")
    return Case(name, recipe, ("size",), expect_error=p.get("error"), note=note, params=dict(p))


def _perceptron_inputs(p: dict[str, Any]) -> tuple[np.ndarray, float]:
    rng = _rng(p)
    w = rng.standard_normal(p["D"])
    b = float(rng.standard_normal())
    return w, b


def perceptron_predict_case(name: str, p: dict[str, Any]) -> Case:
    w, b = _perceptron_inputs(p)
    X = np.random.default_rng(int(p["seed"]) + 1).standard_normal((p["n"], p["D"]))
    recipe = {"kind": "call", "module": f"{LIB}.perceptron", "function": "perceptron_predict",
              "args": [w, b, X], "kwargs": {}, "outputs": ["y"]}
    return Case(name, recipe, ("y",), note=f"{p['n']} points in {p['D']}-D", params=dict(p))


def perceptron_update_case(name: str, p: dict[str, Any]) -> Case:
    """``p['wrong']`` chooses a misclassified point (the update moves) or a correct one."""
    w, b = _perceptron_inputs(p)
    rng = np.random.default_rng(int(p["seed"]) + 1)
    x = rng.standard_normal(p["D"])
    y = 1 if float(w @ x + b) > 0 else 0
    d = 1 - y if p["wrong"] else y
    recipe = {"kind": "call", "module": f"{LIB}.perceptron", "function": "perceptron_update",
              "args": [w, b, x, d, p["lr"]], "kwargs": {}, "outputs": ["w", "b"]}
    what = "misclassified" if p["wrong"] else "correctly classified"
    return Case(name, recipe, ("w", "b"), note=f"{what} point, d={d}, lr={p['lr']}",
                params={**p, "d": d, "y": y})


def fc_to_conv_case(name: str, p: dict[str, Any]) -> Case:
    rng = _rng(p)
    C, H, W, M = p["C"], p["H"], p["W"], p["M"]
    w = rng.standard_normal((C * H * W, M))
    b = rng.standard_normal(M)
    recipe = {"kind": "call", "module": f"{LIB}.fc_conv", "function": "fc_to_conv",
              "args": [w, b, [C, H, W]], "kwargs": {}, "outputs": ["w_conv", "b_conv"]}
    return Case(name, recipe, ("w_conv", "b_conv"),
                note=f"FC weights ({C * H * W}, {M}) for input (C, H, W) = {(C, H, W)}",
                params=dict(p))


def convnet_case(name: str, p: dict[str, Any]) -> Case:
    """``ThreeLayerConvNet.loss`` with explicit weights (float64) on a tiny input."""
    rng = _rng(p)
    C, H, W = p["C"], p["H"], p["W"]
    F, FS, Hd, K, N = p["F"], p["FS"], p["hidden"], p["classes"], p["N"]
    params = {
        "W1": 0.3 * rng.standard_normal((F, C, FS, FS)),
        "b1": 0.1 * rng.standard_normal(F),
        "W2": 0.3 * rng.standard_normal((F * (H // 2) * (W // 2), Hd)),
        "b2": 0.1 * rng.standard_normal(Hd),
        "W3": 0.3 * rng.standard_normal((Hd, K)),
        "b3": 0.1 * rng.standard_normal(K),
    }
    X = rng.standard_normal((N, C, H, W))
    y = rng.integers(0, K, size=N)
    init = {"input_dim": [C, H, W], "num_filters": F, "filter_size": FS, "hidden_dim": Hd,
            "num_classes": K, "reg": p["reg"], "dtype": "float64"}
    if p.get("scores"):
        recipe = {"kind": "method", "module": f"{LIB}.convnet", "class": "ThreeLayerConvNet",
                  "init": init, "params": params, "method": "loss", "args": [X],
                  "kwargs": {}, "outputs": ["scores"]}
        outputs: tuple[str, ...] = ("scores",)
    else:
        recipe = {"kind": "method", "module": f"{LIB}.convnet", "class": "ThreeLayerConvNet",
                  "init": init, "params": params, "method": "loss", "args": [X, y],
                  "kwargs": {}, "outputs": ["loss", "grads"]}
        outputs = ("loss",) + tuple(f"grads.{k}" for k in sorted(params))
    what = "scores (y=None)" if p.get("scores") else f"loss and grads, reg={p['reg']}"
    return Case(name, recipe, outputs,
                note=f"X {(N, C, H, W)}, {F} filters {FS}x{FS}, hidden {Hd}, {what}",
                params=dict(p))


def _layer_x(p: dict[str, Any]) -> np.ndarray:
    rng = _rng(p)
    x = _normal(rng, (p["N"], *p["shape"]), _dtype(p))
    if p.get("zeros"):
        x[..., ::3] = 0  # exact zeros: the ReLU's subgradient convention matters
    return x


def _affine_inputs(p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                np.random.Generator]:
    """x (N, *shape), w (D, M), b (M,), and the generator that drew w and b (for dout)."""
    x = _layer_x(p)
    rng = np.random.default_rng(int(p["seed"]) + 2)
    D = int(np.prod(p["shape"]))
    w = _normal(rng, (D, p["M"]), _dtype(p))
    b = _normal(rng, (p["M"],), _dtype(p))
    return x, w, b, rng


def affine_forward_case(name: str, p: dict[str, Any]) -> Case:
    x, w, b, _ = _affine_inputs(p)
    recipe = {"kind": "call", "module": f"{LIB}.layers", "function": "affine_forward",
              "args": [x, w, b], "kwargs": {}, "outputs": ["out", None]}
    return Case(name, recipe, ("out",), note=f"x {x.shape}, w {w.shape}", params=dict(p))


def affine_backward_case(name: str, p: dict[str, Any]) -> Case:
    x, w, b, rng = _affine_inputs(p)
    dout = _normal(rng, (p["N"], p["M"]), _dtype(p))
    recipe = {"kind": "forward_backward", "module": f"{LIB}.layers", "forward": "affine_forward",
              "backward": "affine_backward", "args": [x, w, b], "kwargs": {}, "dout": dout,
              "outputs": ["dx", "dw", "db"]}
    return Case(name, recipe, ("dx", "dw", "db"), note=f"x {x.shape}, w {w.shape}",
                params=dict(p))


def relu_forward_case(name: str, p: dict[str, Any]) -> Case:
    x = _layer_x(p)
    recipe = {"kind": "call", "module": f"{LIB}.layers", "function": "relu_forward",
              "args": [x], "kwargs": {}, "outputs": ["out", None]}
    return Case(name, recipe, ("out",), note=f"x {x.shape}", params=dict(p))


def relu_backward_case(name: str, p: dict[str, Any]) -> Case:
    x = _layer_x(p)
    dout = _normal(np.random.default_rng(int(p["seed"]) + 1), x.shape, _dtype(p))
    recipe = {"kind": "forward_backward", "module": f"{LIB}.layers", "forward": "relu_forward",
              "backward": "relu_backward", "args": [x], "kwargs": {}, "dout": dout,
              "outputs": ["dx"]}
    zeros = ", some x exactly 0" if p.get("zeros") else ""
    return Case(name, recipe, ("dx",), note=f"x {x.shape}{zeros}", params=dict(p))


def softmax_loss_case(name: str, p: dict[str, Any]) -> Case:
    rng = _rng(p)
    x = (p.get("scale", 1.0) * rng.standard_normal((p["N"], p["C"]))).astype(_dtype(p))
    y = rng.integers(0, p["C"], size=p["N"])
    recipe = {"kind": "call", "module": f"{LIB}.layers", "function": "softmax_loss",
              "args": [x, y], "kwargs": {}, "outputs": ["loss", "dx"]}
    big = ", large scores" if p.get("scale", 1.0) > 100 else ""
    return Case(name, recipe, ("loss", "dx"), note=f"scores {x.shape}{big}", params=dict(p))
