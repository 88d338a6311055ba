"""How one check case calls the code under test: the contract between the check registry,
the in-kernel visible checks and the sandboxed worker.

A *recipe* is a plain dict whose leaves are numbers, strings, lists, dicts or ndarrays
(so it crosses a pipe as JSON + ``.npz``). :func:`run_recipe` imports the named module,
performs the calls and returns a flat ``{output name: ndarray}`` dict. It runs wherever the
code under test runs: in the learner's kernel for visible checks, inside the sandbox for
secure grading. It never compares anything: comparison happens in the caller (the trusted
process, for grading).

Recipe kinds:

``{"kind": "call", "module": M, "function": F, "args": [...], "kwargs": {...},
"outputs": ["out", None]}``
    ``M.F(*args, **kwargs)``; a tuple result is matched with ``outputs`` (``None`` drops an
    element, e.g. a cache); a single result takes the one name.

``{"kind": "forward_backward", "module": M, "forward": F, "backward": B, "args": [...],
"kwargs": {...}, "dout": array, "outputs": ["dx", "dw", "db"], "forward_outputs": ["out"]}``
    ``out, cache = M.F(*args, **kwargs)``; ``M.B(dout, cache)``. ``forward_outputs``
    (optional) also returns the forward's out.

``{"kind": "method", "module": M, "class": K, "init": {...}, "params": {name: array},
"method": F, "args": [...], "kwargs": {...}, "outputs": [...]}``
    ``obj = M.K(**init)``; ``obj.params.update(params)``; ``obj.F(*args, **kwargs)``.
    A dict result (e.g. grads) is flattened to ``"<output>.<key>"``.

``"arg_outputs": {name: [index, key, ...]}`` (optional, kinds ``call`` and
``forward_backward``) also returns what the call left in its (mutable) arguments, e.g.
``{"running_mean": [3, "running_mean"]}`` for the ``bn_param`` that batch norm updates in
place: the path starts at the positional argument ``index`` and follows dict keys.

Arguments are deep-copied before each call, so code under test that writes into its inputs
cannot change what the caller compares against.
"""

from __future__ import annotations

import copy
import importlib
from numbers import Number
from typing import Any

import numpy as np

KINDS = ("call", "forward_backward", "method")


class RecipeError(Exception):
    """The code under test returned something that is not an array of numbers."""


def _as_array(value: Any, name: str) -> np.ndarray:
    # Only plain ndarrays and Python/NumPy numbers are accepted: objects that merely
    # *behave* like arrays (custom __eq__, __array__) are rejected by type.
    if type(value) is np.ndarray:
        arr = value
    elif isinstance(value, np.generic | Number) and not isinstance(value, bool):
        arr = np.asarray(value)
    else:
        raise RecipeError(
            f"{name}: expected a numpy array or a number, got {type(value).__name__}"
        )
    if arr.dtype.kind not in "fiu" or arr.dtype == bool:
        raise RecipeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    return np.array(arr, copy=True)


def _collect(result: Any, names: list[str | None], what: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if len(names) == 1:
        values = [result]
    else:
        if not isinstance(result, tuple):
            raise RecipeError(
                f"{what} must return a tuple of {len(names)} values, got {type(result).__name__}"
            )
        if len(result) != len(names):
            raise RecipeError(f"{what} must return {len(names)} values, got {len(result)}")
        values = list(result)
    for name, value in zip(names, values, strict=True):
        if name is None:
            continue
        if isinstance(value, dict):
            for key in sorted(value, key=str):
                out[f"{name}.{key}"] = _as_array(value[key], f"{what}: {name}[{key!r}]")
        else:
            out[name] = _as_array(value, f"{what}: {name}")
    return out


def _arg_outputs(recipe: dict[str, Any], args: list[Any], what: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, path in dict(recipe.get("arg_outputs", {})).items():
        value: Any = args
        where = "argument"
        for step in path:
            if isinstance(value, dict) and isinstance(step, str) and step in value:
                value = value[step]
            elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
                value = value[step]
            else:
                raise RecipeError(f"{what}: after the call, {where} has no entry {step!r} "
                                  f"(it should hold {name!r})")
            where = f"{where} [{step!r}]"
        out[name] = _as_array(value, f"{what}: {name}")
    return out


def run_recipe(recipe: dict[str, Any]) -> dict[str, np.ndarray]:
    """Perform the calls of ``recipe`` and return its named outputs as arrays.

    Raises whatever the code under test raises (``NotImplementedError`` for a stub),
    and :class:`RecipeError` when it returns the wrong kind of value.
    """
    kind = recipe.get("kind")
    if kind not in KINDS:
        raise ValueError(f"recipe kind must be one of {KINDS}, got {kind!r}")
    module = importlib.import_module(recipe["module"])
    args = copy.deepcopy(list(recipe.get("args", [])))
    kwargs = copy.deepcopy(dict(recipe.get("kwargs", {})))
    outputs = list(recipe["outputs"])
    if kind == "call":
        name = recipe["function"]
        result = _collect(getattr(module, name)(*args, **kwargs), outputs, name)
        result.update(_arg_outputs(recipe, args, name))
        return result
    if kind == "forward_backward":
        fname, bname = recipe["forward"], recipe["backward"]
        fwd = getattr(module, fname)(*args, **kwargs)
        if not isinstance(fwd, tuple) or len(fwd) != 2:
            raise RecipeError(f"{fname} must return (out, cache)")
        out, cache = fwd
        state = _arg_outputs(recipe, args, fname)
        result = _collect(getattr(module, bname)(copy.deepcopy(recipe["dout"]), cache),
                          outputs, bname)
        for extra in recipe.get("forward_outputs", []):
            result[extra] = _as_array(out, f"{fname}: out")
        result.update(state)
        return result
    obj = getattr(module, recipe["class"])(**copy.deepcopy(dict(recipe.get("init", {}))))
    params = getattr(obj, "params", None)
    if recipe.get("params"):
        if not isinstance(params, dict):
            raise RecipeError(f"{recipe['class']} must keep its weights in a dict .params")
        params.update(copy.deepcopy(dict(recipe["params"])))
    method = recipe["method"]
    return _collect(getattr(obj, method)(*args, **kwargs), outputs, method)
