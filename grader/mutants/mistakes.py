"""The trusted side of the catalogue of mistakes: a known mistake's outputs on a case.

Instructor only. :mod:`grader.checks.blocks` names each :class:`~grader.checks.blocks.Mistake`
(family, switches, hint); here its outputs are computed by running the case's recipe on the
mutant kernels of ``kernels_blocks.py`` with the mistake's switches, or on the reference module
whose stub holds the learner's body of :data:`BODIES`. The release stores them
for the visible cases (:func:`grader.checks.expected.write`); the trusted grader computes them
for the hidden ones. The same switches build the mutant submissions (:func:`binding`), so a
mutant and the diagnosis that recognises it are one fact.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from grader.checks.cases import Case
from grader.checks.mistakes import Mistake
from grader.harness.recipes import run_recipe
from grader.mutants import alternatives

MODULE = "grader.mutants.kernels_blocks"
LIBRARY = Path(__file__).resolve().parents[2] / "cs231n_lib"

#: conv_forward_naive as a learner writes it from the stub, forgetting the padding: the stub's
#: own ``Ho, Wo`` (of the padded input) are kept, so the last windows run past the edge of x.
_NO_PAD_FROM_STUB = """\
N, C, H, W = x.shape
F, _, HH, WW = w.shape
out = np.zeros((N, F, Ho, Wo), dtype=dtype)
for n in range(N):
    for f in range(F):
        for i in range(Ho):
            for j in range(Wo):
                window = x[n, :, i * stride: i * stride + (HH - 1) * dilation + 1: dilation,
                           j * stride: j * stride + (WW - 1) * dilation + 1: dilation]
                out[n, f, i, j] = np.sum(window * w[f]) + b[f]
return out, (x, w, b, conv_param)
"""



#: conv_backward_naive written from its stub (Ho, Wo kept), also forgetting the padding.
_NO_PAD_BACKWARD_FROM_STUB = """\
N, C, H, W = x.shape
F, _, HH, WW = w.shape
dx = np.zeros(x.shape, dtype=dtype)
dw = np.zeros(w.shape, dtype=dtype)
db = np.zeros(F, dtype=dtype)
for n in range(N):
    for f in range(F):
        for i in range(Ho):
            for j in range(Wo):
                rows = slice(i * stride, i * stride + (HH - 1) * dilation + 1, dilation)
                cols = slice(j * stride, j * stride + (WW - 1) * dilation + 1, dilation)
                g = dout[n, f, i, j]
                dx[n, :, rows, cols] += g * w[f]
                dw[f] += g * x[n, :, rows, cols]
                db[f] += g
return dx, dw, db
"""

#: Mistakes written into the student stub: name -> (library module, function, body). Those
#: that raise on some cases are recognised by the error (grader.checks.mistakes.exception_hint).
BODIES: dict[str, tuple[str, str, str]] = {
    "conv_no_padding": ("conv_naive", "conv_forward_naive", _NO_PAD_FROM_STUB),
    "conv_backward_no_padding": ("conv_naive", "conv_backward_naive",
                                 _NO_PAD_BACKWARD_FROM_STUB),
}


def fill_region(source: str, function: str, body: str) -> str:
    """``source`` with the solution region of ``function`` replaced by ``body`` (re-indented).

    The result is what a learner's file looks like: the stub's scaffolding (validation and
    what it computes before the region) kept, the region holding the learner's code.
    """
    lines = source.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines)
                  if ln.lstrip().startswith(f"def {function}(")), None)
    if start is None:
        raise ValueError(f"no function {function!r} in the module")
    begin = next((i for i in range(start, len(lines)) if lines[i].strip() == "### BEGIN SOLUTION"),
                 None)
    if begin is None:
        raise ValueError(f"{function} has no solution region")
    end = next(i for i in range(begin, len(lines)) if lines[i].strip() == "### END SOLUTION")
    indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
    new = [indent + ln if ln.strip() else ln for ln in body.splitlines(keepends=True)]
    return "".join(lines[:begin] + new + lines[end + 1:])


def _body_module(name: str) -> str:
    """Import name of the reference module with mistake ``name``'s body in its stub (cached)."""
    module, function, body = BODIES[name]
    modname = f"grader.mutants._mistake_{name}"
    if modname not in sys.modules:
        source = fill_region((LIBRARY / f"{module}.py").read_text(encoding="utf-8"), function,
                             body)
        mod = types.ModuleType(modname)
        mod.__file__ = f"<mistake {name}>"
        exec(compile(source, mod.__file__, "exec"), mod.__dict__)  # noqa: S102 - our own text
        sys.modules[modname] = mod
    return modname

#: family -> (library module, graded forward, graded backward or None, its signature,
#: forward kernel, backward kernel). The backward families rebind the forward too, so the
#: cache the backward reads is the kernel's own.
FAMILY_KERNELS: dict[str, tuple[str, str, str | None, str, str, str]] = {
    "bn_forward": ("batchnorm", "spatial_batchnorm_forward", None, "x, gamma, beta, bn_param",
                   "_mkb_bn_forward", "_mkb_bn_backward"),
    "bn_backward": ("batchnorm", "spatial_batchnorm_forward", "spatial_batchnorm_backward",
                    "x, gamma, beta, bn_param", "_mkb_bn_forward", "_mkb_bn_backward"),
    "res_forward": ("residual", "residual_block_forward", None,
                    "x, params, bn_params, stride=1, skip=True", "_mkb_residual_forward",
                    "_mkb_residual_backward"),
    "res_backward": ("residual", "residual_block_forward", "residual_block_backward",
                     "x, params, bn_params, stride=1, skip=True", "_mkb_residual_forward",
                     "_mkb_residual_backward"),
    "gap_forward": ("global_pool", "global_avg_pool_forward", None, "x", "_mkb_gap_forward",
                    "_mkb_gap_backward"),
    "gap_backward": ("global_pool", "global_avg_pool_forward", "global_avg_pool_backward", "x",
                     "_mkb_gap_forward", "_mkb_gap_backward"),
    "perceptron_predict": ("perceptron", "perceptron_predict", None, "w, b, X", "_mk_predict",
                           ""),
    "perceptron_update": ("perceptron", "perceptron_update", None, "w, b, x, d, lr",
                          "_mk_update", ""),
    "fc_to_conv": ("fc_conv", "fc_to_conv", None, "w, b, input_shape", "_mk_fc_to_conv", ""),
    "affine_backward": ("layers", "affine_forward", "affine_backward", "x, w, b",
                        "_mk_affine_forward", "_mk_affine_backward"),
    "relu_backward": ("layers", "relu_forward", "relu_backward", "x", "_mk_relu_forward",
                      "_mk_relu_backward"),
    "softmax_loss": ("layers", "softmax_loss", None, "x, y", "_mk_softmax_loss", ""),
}
#: The import name of the kernels a family's mistakes run on (else :data:`MODULE`).
KERNEL_MODULES = dict.fromkeys(("perceptron_predict", "perceptron_update", "fc_to_conv",
                                "affine_backward", "relu_backward", "softmax_loss"),
                               "grader.mutants.kernels_layers")
#: ThreeLayerConvNet.loss with a mistake: the method recipe runs on a subclass of the
#: reference class whose loss is the kernel of grader/mutants/kernels.py with the switches.
CONVNET_FAMILY = "convnet"


def _convnet_module(mistake: Mistake) -> str:
    """Import name of a module whose ``ThreeLayerConvNet.loss`` makes ``mistake`` (cached)."""
    modname = f"grader.mutants._mistake_{mistake.name}"
    if modname not in sys.modules:
        from cs231n_lib.convnet import ThreeLayerConvNet
        from grader.mutants import kernels

        def loss(self: Any, X: np.ndarray, y: np.ndarray | None = None) -> Any:
            return kernels._mk_convnet_loss(self, X, y, **mistake.switches)

        mod = types.ModuleType(modname)
        mod.ThreeLayerConvNet = type("ThreeLayerConvNet", (ThreeLayerConvNet,),  # type: ignore[attr-defined]
                                     {"loss": loss})
        sys.modules[modname] = mod
    return modname


def outputs(case: Case, mistake: Mistake) -> dict[str, np.ndarray]:
    """The outputs ``case`` gives when the learner makes ``mistake`` (trusted process)."""
    if not isinstance(mistake, Mistake):
        raise ValueError(f"not a Mistake: {mistake!r}")
    if mistake.name in BODIES:  # a learner's body in the stub: the same call, its module
        if case.recipe["kind"] != "call":
            raise ValueError(f"{mistake.name} is a forward mistake; got a {case.recipe['kind']}")
        function = BODIES[mistake.name][1]
        return run_recipe({**case.recipe, "module": _body_module(mistake.name),
                           "function": function})
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow may be the mistake
        return _outputs(case, mistake)


def _outputs(case: Case, mistake: Mistake) -> dict[str, np.ndarray]:
    if mistake.family == CONVNET_FAMILY:
        return run_recipe({**case.recipe, "module": _convnet_module(mistake)})
    if mistake.family not in FAMILY_KERNELS and mistake.family in alternatives.FAMILIES:
        return alternatives.outputs(case, mistake.family, mistake.name)
    if mistake.family not in FAMILY_KERNELS:
        raise ValueError(f"no kernels for the family of {mistake.name!r}: {mistake.family}")
    _, _, _, _, fwd, bwd = FAMILY_KERNELS[mistake.family]
    recipe: dict[str, Any] = {**case.recipe, "module": KERNEL_MODULES.get(mistake.family, MODULE),
                              "kwargs": {**case.recipe.get("kwargs", {}), **mistake.switches}}
    if recipe["kind"] == "call":
        recipe["function"] = fwd
    else:
        recipe["forward"], recipe["backward"] = fwd, bwd
    return run_recipe(recipe)


def binding(mistake: Mistake) -> tuple[str, str]:
    """(library module, source rebinding its graded function(s) to the mistaken kernels)."""
    if mistake.family == CONVNET_FAMILY:
        switches = ", ".join(f"{k}={v!r}" for k, v in mistake.switches.items())
        return "convnet", (f"\n\ndef _mk_bound_loss(self, X, y=None):\n"
                           f"    return _mk_convnet_loss(self, X, y, {switches})\n\n\n"
                           f"ThreeLayerConvNet.loss = _mk_bound_loss\n")
    module, forward, backward, signature, fwd, bwd = FAMILY_KERNELS[mistake.family]
    params = ", ".join(p.split("=")[0] for p in signature.split(", "))
    switches = ", ".join(f"{k}={v!r}" for k, v in mistake.switches.items())
    src = f"\n\ndef {forward}({signature}):\n    return {fwd}({params}, {switches})\n"
    if backward:
        src += f"\n\ndef {backward}(dout, cache):\n    return {bwd}(dout, cache)\n"
    return module, src
