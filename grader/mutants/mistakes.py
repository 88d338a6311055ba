"""The trusted side of the catalogue of mistakes: a known mistake's outputs on a case.

Instructor only. :mod:`grader.checks.blocks` names each :class:`~grader.checks.blocks.Mistake`
(family, switches, hint); here its outputs are computed by running the case's recipe on the
mutant kernels of ``kernels_blocks.py`` with the mistake's switches. The release stores them
for the visible cases (:func:`grader.checks.expected.write`); the trusted grader computes them
for the hidden ones. The same switches build the mutant submissions (:func:`binding`), so a
mutant and the diagnosis that recognises it are one fact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.checks.blocks import Mistake
from grader.checks.cases import Case
from grader.harness.recipes import run_recipe

MODULE = "grader.mutants.kernels_blocks"

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
}


def outputs(case: Case, mistake: Mistake) -> dict[str, np.ndarray]:
    """The outputs ``case`` gives when the learner makes ``mistake`` (trusted process)."""
    if not isinstance(mistake, Mistake) or mistake.family not in FAMILY_KERNELS:
        raise ValueError(f"not a known mistake of a kernel family: {mistake!r}")
    _, _, _, _, fwd, bwd = FAMILY_KERNELS[mistake.family]
    recipe: dict[str, Any] = {**case.recipe, "module": MODULE,
                              "kwargs": {**case.recipe.get("kwargs", {}), **mistake.switches}}
    if recipe["kind"] == "call":
        recipe["function"] = fwd
    else:
        recipe["forward"], recipe["backward"] = fwd, bwd
    return run_recipe(recipe)


def binding(mistake: Mistake) -> tuple[str, str]:
    """(library module, source rebinding its graded function(s) to the mistaken kernels)."""
    module, forward, backward, signature, fwd, bwd = FAMILY_KERNELS[mistake.family]
    params = ", ".join(p.split("=")[0] for p in signature.split(", "))
    switches = ", ".join(f"{k}={v!r}" for k, v in mistake.switches.items())
    src = f"\n\ndef {forward}({signature}):\n    return {fwd}({params}, {switches})\n"
    if backward:
        src += f"\n\ndef {backward}(dout, cache):\n    return {bwd}(dout, cache)\n"
    return module, src
