"""Case generation: turn a small parameter dict into a :class:`Case` (a recipe + what to compare).

Every family below is a pure function ``build(name, params) -> Case``. The registry lists the
parameters of the fixed cases, draws the random ones from a seeded generator, and reads the
hidden ones from ``grader/course/hidden_cases.py`` (instructor only). All input arrays come from
``np.random.default_rng(params["seed"])``, so a case is rebuilt identically from its
parameters in the learner's kernel, in the sandbox and in the trusted grader.

Recipes follow :mod:`grader.harness.recipes`; outputs are compared by name (``"out"``,
``"dx"``, ...).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cs231n_lib._validate import output_length

LIB = "cs231n_lib"


@dataclass(eq=False)
class Case:
    """One check case.

    Attributes:
        name: ``"<spec>/<group>/<label>"``, e.g. ``"conv_forward_naive/fixed/pad1"``.
        recipe: a :mod:`grader.harness.recipes` dict (inputs included).
        outputs: names of the recipe outputs compared with the reference.
        expect_error: exception type name the call must raise (then nothing is compared).
        prop: name of a reference-free property check in :data:`grader.checks.compare.PROPERTIES`
            (then ``expected`` is not needed).
        note: the configuration in words, printed with the result.
        params: the parameters the case was built from (used by the diagnosis).
    """

    name: str
    recipe: dict[str, Any]
    outputs: tuple[str, ...]
    expect_error: str | None = None
    prop: str | None = None
    note: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    #: A hidden case: reported as "hidden case k of n", never by name, numbers or messages.
    hidden: bool = False

    @property
    def group(self) -> str:
        return self.name.split("/")[1] if self.name.count("/") >= 2 else ""

    @property
    def label(self) -> str:
        """The public name of a visible case: ``"pad1"``, ``"random case 0"``."""
        if self.name.count("/") < 2:
            return self.name
        _, group, rest = self.name.split("/", 2)
        return rest if group == "fixed" else f"{group} case {rest}"

    @property
    def needs_reference(self) -> bool:
        return self.prop is None and self.expect_error is None


def _rng(params: dict[str, Any]) -> np.random.Generator:
    return np.random.default_rng(int(params["seed"]))


def _dtype(params: dict[str, Any]) -> type:
    return np.float32 if params.get("dtype", "float64") == "float32" else np.float64


def _normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def recipe_digest(recipe: Any) -> str:
    """A stable hash of a recipe (structure and array bytes), to detect stale expected data."""
    h = hashlib.sha256()

    def feed(obj: Any) -> None:
        if isinstance(obj, np.ndarray):
            h.update(f"nd{obj.dtype.str}{obj.shape}".encode())
            h.update(np.ascontiguousarray(obj).tobytes())
        elif isinstance(obj, dict):
            h.update(b"{")
            for key in sorted(obj, key=str):
                h.update(json.dumps(str(key)).encode())
                feed(obj[key])
            h.update(b"}")
        elif isinstance(obj, list | tuple):
            h.update(b"[")
            for item in obj:
                feed(item)
            h.update(b"]")
        else:
            h.update(json.dumps(obj, default=str).encode())

    feed(recipe)
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------------
# families
# ------------------------------------------------------------------------------------------


def _conv_inputs(p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    rng = _rng(p)
    dt = _dtype(p)
    x = _normal(rng, (p["N"], p["C"], p["H"], p["W"]), dt)
    w = _normal(rng, (p["F"], p["C"], p["HH"], p["WW"]), dt)
    b = _normal(rng, (p["F"],), dt)
    conv_param: dict[str, Any] = {"stride": p["stride"], "pad": p["pad"]}
    if p.get("dilation", 1) != 1:
        conv_param["dilation"] = p["dilation"]
    return x, w, b, conv_param


def conv_shape(p: dict[str, Any]) -> tuple[int, int, int, int]:
    d = p.get("dilation", 1)
    return (
        p["N"],
        p["F"],
        output_length(p["H"], p["HH"], p["stride"], p["pad"], d, axis="height"),
        output_length(p["W"], p["WW"], p["stride"], p["pad"], d),
    )


def _conv_note(p: dict[str, Any]) -> str:
    d = p.get("dilation", 1)
    extra = f", dilation {d}" if d != 1 else ""
    dt = ", float32" if p.get("dtype") == "float32" else ""
    return (
        f"x {(p['N'], p['C'], p['H'], p['W'])}, w {(p['F'], p['C'], p['HH'], p['WW'])}, "
        f"stride {p['stride']}, pad {p['pad']}{extra}{dt}"
    )


def conv_forward(module: str, function: str):
    def build(name: str, p: dict[str, Any]) -> Case:
        x, w, b, conv_param = _conv_inputs(p)
        recipe = {"kind": "call", "module": f"{LIB}.{module}", "function": function,
                  "args": [x, w, b, conv_param], "kwargs": {}, "outputs": ["out", None]}
        return Case(name, recipe, ("out",), note=_conv_note(p), params=dict(p))

    return build


def conv_backward(module: str, forward: str, backward: str, *, prop: str | None = None):
    def build(name: str, p: dict[str, Any]) -> Case:
        x, w, b, conv_param = _conv_inputs(p)
        dout = _normal(np.random.default_rng(int(p["seed"]) + 1), conv_shape(p), _dtype(p))
        recipe = {"kind": "forward_backward", "module": f"{LIB}.{module}", "forward": forward,
                  "backward": backward, "args": [x, w, b, conv_param], "kwargs": {},
                  "dout": dout, "outputs": ["dx", "dw", "db"], "forward_outputs": ["out"]}
        use_prop = prop if p.get("property") else None
        return Case(name, recipe, ("dx", "dw", "db"), prop=use_prop,
                    note=_conv_note(p) + (" (adjoint identity)" if use_prop else ""),
                    params=dict(p))

    return build


def lc_shapes(p: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Locally-connected weight and bias shapes: ``(Ho, Wo, F, C, HH, WW)`` and ``(Ho, Wo, F)``."""
    _, F, Ho, Wo = conv_shape(p)
    return (Ho, Wo, F, p["C"], p["HH"], p["WW"]), (Ho, Wo, F)


def _lc_inputs(p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    rng = _rng(p)
    dt = _dtype(p)
    wshape, bshape = lc_shapes(p)
    x = _normal(rng, (p["N"], p["C"], p["H"], p["W"]), dt)
    w = _normal(rng, wshape, dt)
    b = _normal(rng, bshape, dt)
    return x, w, b, {"stride": p["stride"], "pad": p["pad"]}


def lc_forward(name: str, p: dict[str, Any]) -> Case:
    x, w, b, conv_param = _lc_inputs(p)
    recipe = {"kind": "call", "module": f"{LIB}.locally_connected",
              "function": "locally_connected_forward", "args": [x, w, b, conv_param],
              "kwargs": {}, "outputs": ["out", None]}
    return Case(name, recipe, ("out",), note=_conv_note(p) + " (unshared)", params=dict(p))


def lc_backward(name: str, p: dict[str, Any]) -> Case:
    x, w, b, conv_param = _lc_inputs(p)
    dout = _normal(np.random.default_rng(int(p["seed"]) + 1), conv_shape(p), _dtype(p))
    recipe = {"kind": "forward_backward", "module": f"{LIB}.locally_connected",
              "forward": "locally_connected_forward", "backward": "locally_connected_backward",
              "args": [x, w, b, conv_param], "kwargs": {}, "dout": dout,
              "outputs": ["dx", "dw", "db"], "forward_outputs": ["out"]}
    return Case(name, recipe, ("dx", "dw", "db"), note=_conv_note(p) + " (unshared)",
                params=dict(p))


def _im2col_args(p: dict[str, Any]) -> list[Any]:
    return [p["HH"], p["WW"], p["stride"], p["pad"], p.get("dilation", 1)]


def im2col_case(name: str, p: dict[str, Any]) -> Case:
    rng = _rng(p)
    x = _normal(rng, (p["N"], p["C"], p["H"], p["W"]), _dtype(p))
    recipe = {"kind": "call", "module": f"{LIB}.im2col", "function": "im2col",
              "args": [x, *_im2col_args(p)], "kwargs": {}, "outputs": ["cols"]}
    note = _conv_note({**p, "F": 1}).replace("w (1,", "field (")
    return Case(name, recipe, ("cols",), note=note, params=dict(p))


def im2col_cols_shape(p: dict[str, Any]) -> tuple[int, ...]:
    """Shape of ``im2col``'s result: ``(C*HH*WW, N*Ho*Wo)`` (CS231n ``im2col_indices``)."""
    _, _, Ho, Wo = conv_shape({**p, "F": 1})
    return (p["C"] * p["HH"] * p["WW"], p["N"] * Ho * Wo)


def col2im_case(name: str, p: dict[str, Any]) -> Case:
    rng = _rng(p)
    cols = _normal(rng, im2col_cols_shape(p), _dtype(p))
    x_shape = [p["N"], p["C"], p["H"], p["W"]]
    recipe = {"kind": "call", "module": f"{LIB}.im2col", "function": "col2im",
              "args": [cols, x_shape, *_im2col_args(p)], "kwargs": {}, "outputs": ["x"]}
    note = _conv_note({**p, "F": 1}).replace("w (1,", "field (")
    return Case(name, recipe, ("x",), note=note, params=dict(p))


def _pool_inputs(p: dict[str, Any]) -> tuple[np.ndarray, dict]:
    rng = _rng(p)
    shape = (p["N"], p["C"], p["H"], p["W"])
    if p.get("ties"):
        # small integers: many windows hold several equal maxima
        x = rng.integers(0, 3, size=shape).astype(_dtype(p))
    else:
        x = _normal(rng, shape, _dtype(p))
    pool_param = {"pool_height": p["ph"], "pool_width": p["pw"], "stride": p["stride"]}
    return x, pool_param


def pool_shape(p: dict[str, Any]) -> tuple[int, int, int, int]:
    return (p["N"], p["C"], output_length(p["H"], p["ph"], p["stride"], what="pooling",
                                          axis="height"),
            output_length(p["W"], p["pw"], p["stride"], what="pooling"))


def _pool_note(p: dict[str, Any]) -> str:
    ties = ", many tied maxima" if p.get("ties") else ""
    return (f"x {(p['N'], p['C'], p['H'], p['W'])}, pool {p['ph']}x{p['pw']}, "
            f"stride {p['stride']}{ties}")


def pool_forward(function: str):
    def build(name: str, p: dict[str, Any]) -> Case:
        x, pool_param = _pool_inputs(p)
        recipe = {"kind": "call", "module": f"{LIB}.pooling", "function": function,
                  "args": [x, pool_param], "kwargs": {}, "outputs": ["out", None]}
        return Case(name, recipe, ("out",), note=_pool_note(p), params=dict(p))

    return build


def pool_backward(forward: str, backward: str):
    def build(name: str, p: dict[str, Any]) -> Case:
        x, pool_param = _pool_inputs(p)
        dout = _normal(np.random.default_rng(int(p["seed"]) + 1), pool_shape(p), _dtype(p))
        recipe = {"kind": "forward_backward", "module": f"{LIB}.pooling", "forward": forward,
                  "backward": backward, "args": [x, pool_param], "kwargs": {}, "dout": dout,
                  "outputs": ["dx"], "forward_outputs": ["out"]}
        return Case(name, recipe, ("dx",), note=_pool_note(p), params=dict(p))

    return build


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


def affine_forward_case(name: str, p: dict[str, Any]) -> Case:
    x = _layer_x(p)
    rng = np.random.default_rng(int(p["seed"]) + 2)
    D = int(np.prod(p["shape"]))
    w = _normal(rng, (D, p["M"]), _dtype(p))
    b = _normal(rng, (p["M"],), _dtype(p))
    recipe = {"kind": "call", "module": f"{LIB}.layers", "function": "affine_forward",
              "args": [x, w, b], "kwargs": {}, "outputs": ["out", None]}
    return Case(name, recipe, ("out",), note=f"x {x.shape}, w {w.shape}", params=dict(p))


def affine_backward_case(name: str, p: dict[str, Any]) -> Case:
    x = _layer_x(p)
    rng = np.random.default_rng(int(p["seed"]) + 2)
    D = int(np.prod(p["shape"]))
    w = _normal(rng, (D, p["M"]), _dtype(p))
    b = _normal(rng, (p["M"],), _dtype(p))
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
