"""The check registry: one :class:`CheckSpec` per graded library function.

One table, :data:`TABLE`, holds for every graded function its module, notebook, points and
tolerance; the fixed-case parameters are listed next to it, random cases are drawn from a
seeded generator, and hidden cases come from ``grader/course/hidden_cases.py`` (instructor
only, read lazily; the student release deletes that file and everything here still works).

The same specs serve the notebook's visible checks (:mod:`grader.checks.visible`), the secure grader
(hidden cases, run out of the learner's process) and the project's own tests.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from grader.checks import blocks
from grader.checks import cases as C
from grader.checks import small_cases as S
from grader.checks.cases import Case
from grader.checks.params import (
    CONV_BACKWARD_FIXED,
    CONV_FORWARD_FIXED,
    CONVNET_FIXED,
    FC_FIXED,
    IM2COL_FIXED,
    LAYER_FIXED,
    LC_BACKWARD_FIXED,
    LC_FORWARD_FIXED,
    OUTPUT_SIZE_FIXED,
    POOL_FIXED,
    PREDICT_FIXED,
    SOFTMAX_FIXED,
    UPDATE_FIXED,
    _draw_conv,
    _draw_convnet,
    _draw_fc,
    _draw_layer,
    _draw_output_size,
    _draw_perceptron_update,
    _draw_pool,
    _ri,
)

GRADE_ID_PREFIX = "check_"


@dataclass(frozen=True)
class Tolerance:
    """Elementwise ``|got - expected| <= atol + rtol * |expected|`` (integers: exact)."""

    rtol: float
    atol: float

    def __str__(self) -> str:
        if self.rtol == 0 and self.atol == 0:
            return "exact"
        return f"atol {self.atol:.0e} + rtol {self.rtol:.0e}*|expected|"


EXACT = Tolerance(0.0, 0.0)
F64 = Tolerance(1e-7, 1e-9)
F32 = Tolerance(1e-4, 1e-5)  # used for every float32 case, whatever the function
#: Reference-free property cases (grader.checks.compare.PROPERTIES):
#: |lhs - rhs| <= this * max(1, |rhs|).
PROPERTY_TOL = 1e-8
NOTEBOOKS = {
    "sizes": "notebooks/02_local_connectivity.ipynb",
    "perceptron": "notebooks/00_history.ipynb",
    "conv_naive": "notebooks/03_parameter_sharing.ipynb",
    "locally_connected": "notebooks/03_parameter_sharing.ipynb",
    "im2col": "notebooks/04_im2col.ipynb",
    "pooling": "notebooks/05_pooling.ipynb",
    "fc_conv": "notebooks/06_fc_to_conv.ipynb",
    "convnet": "notebooks/08_training.ipynb",
    "layers": "notebooks/08_training.ipynb",
    "batchnorm": "notebooks/09_modern_blocks.ipynb",
    "residual": "notebooks/09_modern_blocks.ipynb",
    "global_pool": "notebooks/09_modern_blocks.ipynb",
}

#: THE table: name -> (module, family, points, float64 tolerance). Float32 cases use F32.
TABLE: dict[str, tuple[str, str, int, Tolerance]] = {
    "conv_output_size": ("sizes", "conv_output_size", 2, EXACT),
    "perceptron_predict": ("perceptron", "perceptron_predict", 1, EXACT),
    "perceptron_update": ("perceptron", "perceptron_update", 2, F64),
    "conv_forward_naive": ("conv_naive", "conv_forward", 5, F64),
    "conv_backward_naive": ("conv_naive", "conv_backward", 6, F64),
    "locally_connected_forward": ("locally_connected", "lc_forward", 3, F64),
    "locally_connected_backward": ("locally_connected", "lc_backward", 4, F64),
    "im2col": ("im2col", "im2col", 3, F64),
    "col2im": ("im2col", "col2im", 3, F64),
    "conv_forward_im2col": ("im2col", "conv_forward", 3, F64),
    "conv_backward_im2col": ("im2col", "conv_backward", 3, F64),
    "max_pool_forward_naive": ("pooling", "max_forward", 2, F64),
    "max_pool_backward_naive": ("pooling", "max_backward", 3, F64),
    "avg_pool_forward_naive": ("pooling", "avg_forward", 2, F64),
    "avg_pool_backward_naive": ("pooling", "avg_backward", 2, F64),
    "fc_to_conv": ("fc_conv", "fc_to_conv", 3, F64),
    "affine_forward": ("layers", "affine_forward", 1, F64),
    "affine_backward": ("layers", "affine_backward", 2, F64),
    "relu_forward": ("layers", "relu_forward", 1, F64),
    "relu_backward": ("layers", "relu_backward", 1, F64),
    "softmax_loss": ("layers", "softmax_loss", 2, F64),
    "ThreeLayerConvNet": ("convnet", "convnet", 5, Tolerance(1e-6, 1e-9)),
    "spatial_batchnorm_forward": ("batchnorm", "bn_forward", 3, F64),
    "spatial_batchnorm_backward": ("batchnorm", "bn_backward", 3, F64),
    "residual_block_forward": ("residual", "res_forward", 3, Tolerance(1e-6, 1e-8)),
    "residual_block_backward": ("residual", "res_backward", 4, Tolerance(1e-6, 1e-8)),
    "global_avg_pool_forward": ("global_pool", "gap_forward", 1, F64),
    "global_avg_pool_backward": ("global_pool", "gap_backward", 1, F64),
}


#: Learner functions with a solution region but no check spec (none left: notebook 09's six
#: were added in the second edition; the list is kept so a new function is listed, not lost).
NOT_YET_GRADED: frozenset[str] = frozenset()

#: Provided code that computes what a graded function must compute itself: a module name
#: (every function in it) or ``module.function``. While the function is graded, the sandbox
#: replaces these by tripwires: a call scores 0 for that function, with the reason.
PROVIDED_TWINS: dict[str, tuple[str, ...]] = {
    "conv_output_size": ("_validate.output_length",),
    **{name: ("conv_fast",) for name in (
        "conv_forward_naive", "conv_backward_naive", "im2col", "col2im",
        "conv_forward_im2col", "conv_backward_im2col")},
    **{name: ("pooling_fast",) for name in (
        "max_pool_forward_naive", "max_pool_backward_naive", "avg_pool_forward_naive",
        "avg_pool_backward_naive")},
    "ThreeLayerConvNet": ("net_builder",),
}


@dataclass(frozen=True)
class CheckSpec:
    """Everything the three users need to check one graded function."""

    name: str
    module: str  # e.g. "cs231n_lib.conv_naive"
    kind: str  # recipe kind: "call" | "forward_backward" | "method"
    family: str  # selects the builder and the diagnoses in grader.checks.compare
    points: int
    tolerance: Tolerance
    notebook: str
    fixed: tuple[tuple[str, dict[str, Any]], ...]
    build: Callable[[str, dict[str, Any]], Case]
    draw: Callable[[np.random.Generator], dict[str, Any]]
    n_random: int = 2
    provided_twins: tuple[str, ...] = ()

    @property
    def grade_id(self) -> str:
        return GRADE_ID_PREFIX + self.name

    def tolerance_for(self, case: Case) -> Tolerance:
        return F32 if case.params.get("dtype") == "float32" else self.tolerance

    def fixed_cases(self) -> list[Case]:
        return [self.build(f"{self.name}/fixed/{label}", dict(p)) for label, p in self.fixed]

    def random_cases(self, seed: int | None = None, count: int | None = None) -> list[Case]:
        """Seeded random cases; the default seed is the public one of the visible checks."""
        seed = visible_seed(self.name) if seed is None else int(seed)
        rng = np.random.default_rng(seed)
        out = []
        for k in range(self.n_random if count is None else count):
            params = self.draw(rng)
            params["seed"] = int(rng.integers(1, 2**31 - 1))
            out.append(self.build(f"{self.name}/random/{k}", params))
        return out

    def visible_cases(self) -> list[Case]:
        return self.fixed_cases() + self.random_cases()

    def hidden_cases(self) -> list[Case]:
        """Hidden cases (empty without ``grader/course/hidden_cases.py``, e.g. a student copy)."""
        hidden = load_hidden()
        if hidden is None:
            return []
        out = [
            self.build(f"{self.name}/hidden/{label}", dict(p))
            for label, p in hidden.HIDDEN.get(self.name, ())
        ]
        seed = hidden.random_seed(self.name)
        for case in self.random_cases(seed=seed, count=hidden.RANDOM_COUNT):
            case.name = case.name.replace("/random/", "/hidden/random")
            out.append(case)
        for case in out:
            case.hidden = True
        return out

    def all_cases(self) -> list[Case]:
        return self.visible_cases() + self.hidden_cases()


def visible_seed(name: str) -> int:
    """Public seed of a spec's visible random cases (derived from its name)."""
    return zlib.crc32(name.encode()) % 100_000


_HIDDEN: list[ModuleType | None] = []


def load_hidden() -> ModuleType | None:
    """``grader.course.hidden_cases`` if it exists (instructor tree), else None; loaded once."""
    if not _HIDDEN:
        try:
            _HIDDEN.append(importlib.import_module("grader.course.hidden_cases"))
        except ModuleNotFoundError:
            _HIDDEN.append(None)
    return _HIDDEN[0]


def hidden_available() -> bool:
    return load_hidden() is not None


def _family(family: str, module: str, name: str):
    """(builder, fixed parameters, random draw) of a family."""
    if family in blocks.FAMILIES:  # notebook 09: batch norm, residual block, global pooling
        return blocks.FAMILIES[family]
    if family == "conv_forward":
        return C.conv_forward(module, name), CONV_FORWARD_FIXED, _draw_conv
    if family == "conv_backward":
        fwd = name.replace("backward", "forward")
        return (C.conv_backward(module, fwd, name, prop="conv_adjoint"), CONV_BACKWARD_FIXED,
                _draw_conv)
    if family == "lc_forward":
        return C.lc_forward, LC_FORWARD_FIXED, lambda r: _draw_conv(r, dilation=False)
    if family == "lc_backward":
        return C.lc_backward, LC_BACKWARD_FIXED, lambda r: _draw_conv(r, dilation=False)
    if family == "im2col":
        return C.im2col_case, IM2COL_FIXED, lambda r: {**_draw_conv(r), "F": 1}
    if family == "col2im":
        return C.col2im_case, IM2COL_FIXED, lambda r: {**_draw_conv(r), "F": 1}
    if family in ("max_forward", "avg_forward"):
        return C.pool_forward(name), POOL_FIXED, _draw_pool
    if family in ("max_backward", "avg_backward"):
        return C.pool_backward(name.replace("backward", "forward"), name), POOL_FIXED, _draw_pool
    if family == "conv_output_size":
        return S.conv_output_size_case, OUTPUT_SIZE_FIXED, _draw_output_size
    if family == "perceptron_predict":
        return (S.perceptron_predict_case, PREDICT_FIXED,
                lambda r: {"n": _ri(r, 5, 15), "D": _ri(r, 2, 5)})
    if family == "perceptron_update":
        return S.perceptron_update_case, UPDATE_FIXED, _draw_perceptron_update
    if family == "fc_to_conv":
        return S.fc_to_conv_case, FC_FIXED, _draw_fc
    if family == "convnet":
        return S.convnet_case, CONVNET_FIXED, _draw_convnet
    layer_builders = {"affine_forward": S.affine_forward_case,
                      "affine_backward": S.affine_backward_case,
                      "relu_forward": S.relu_forward_case, "relu_backward": S.relu_backward_case}
    if family in layer_builders:
        return layer_builders[family], LAYER_FIXED, _draw_layer
    if family == "softmax_loss":
        return (S.softmax_loss_case, SOFTMAX_FIXED,
                lambda r: {"N": _ri(r, 1, 5), "C": _ri(r, 2, 6)})
    raise KeyError(family)


def _kind(family: str) -> str:
    if family == "convnet":
        return "method"
    if family.endswith("backward"):
        return "forward_backward"
    return "call"


def _make_specs() -> dict[str, CheckSpec]:
    specs = {}
    for name, (module, family, points, tol) in TABLE.items():
        build, fixed, draw = _family(family, module, name)
        specs[name] = CheckSpec(
            name=name, module=f"{C.LIB}.{module}", kind=_kind(family), family=family,
            points=points, tolerance=tol, notebook=NOTEBOOKS[module], fixed=tuple(fixed),
            build=build, draw=draw, n_random=1 if family == "convnet" else 2,
            provided_twins=PROVIDED_TWINS.get(name, ()),
        )
    return specs


SPECS: dict[str, CheckSpec] = _make_specs()


def names() -> list[str]:
    return list(SPECS)


def get(name: str) -> CheckSpec:
    """The spec called ``name``; ``KeyError`` listing the known names otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"no check named {name!r}; known checks: {', '.join(SPECS)}") from None


def points(name: str) -> int:
    return get(name).points


def total_points() -> int:
    return sum(spec.points for spec in SPECS.values())


def tolerance_table() -> str:
    """The table of points and tolerances, as printed by ``grader`` tools."""
    rows = [f"{'check':28} {'points':>6}  tolerance (float64; float32 cases: {F32})"]
    for spec in SPECS.values():
        rows.append(f"{spec.name:28} {spec.points:>6}  {spec.tolerance}")
    return "\n".join(rows)
