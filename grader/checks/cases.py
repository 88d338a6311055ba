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
