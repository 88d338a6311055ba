"""The mutant catalogue: realistic wrong implementations and the hint each must receive.

A mutant replaces one or two functions of one ``cs231n_lib`` module. Its source is the
reference module, followed by its kernel file (``kernels.py``, ``kernels_layers.py`` or
``kernels_blocks.py``: implementations with switchable mistakes)
and a short binding that redefines the graded name(s). Backward mutants also replace their
forward (with a correct one), so the cache they read is their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.checks.mistakes import MISTAKES as _MISTAKES
from grader.mutants.mistakes import BODIES, CONVNET_FAMILY, FAMILY_KERNELS, binding


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str  # cs231n_lib module file stem, e.g. "conv_naive"
    checks: tuple[str, ...]  # registry specs that must fail
    binding: str  # Python source appended after kernels.py
    hint: str  # a phrase the diagnosis must contain (case-insensitive)
    description: str = ""
    #: the file of grader/mutants appended before the binding ('' = the module's, see
    #: :data:`KERNEL_FILES`)
    kernels: str = ""
    #: A learner's body written into the stub: it replaces the solution region of the first
    #: checked function and works with what the stub computed before it (e.g. Ho, Wo).
    body: str = ""


#: Which kernel file of grader/mutants serves a library module's mutants (else kernels.py).
KERNEL_FILES = {
    **dict.fromkeys(("sizes", "perceptron", "fc_conv", "layers"), "kernels_layers.py"),
    **dict.fromkeys(("batchnorm", "residual", "global_pool"), "kernels_blocks.py"),
}


def kernel_file(mutant: Mutant) -> str:
    """The file of grader/mutants whose ``_mk_*`` kernels the mutant's binding calls."""
    return mutant.kernels or KERNEL_FILES.get(mutant.module, "kernels.py")


def _fn(name: str, params: str, call: str) -> str:
    return f"\n\ndef {name}({params}):\n    return {call}\n"


_CONV = "x, w, b, conv_param"
_POOL = "x, pool_param"
_IM = "x, field_height, field_width, stride=1, pad=0, dilation=1"
_IM_ARGS = "x, field_height, field_width, stride, pad, dilation"
_C2I = "cols, x_shape, field_height, field_width, stride=1, pad=0, dilation=1"
_C2I_ARGS = "cols, x_shape, field_height, field_width, stride, pad, dilation"


def _conv_fwd(name, desc, hint, **kw):
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    return Mutant(name, "conv_naive", ("conv_forward_naive",),
                  _fn("conv_forward_naive", _CONV, f"_mk_conv_forward({_CONV}, {args})"),
                  hint, desc)


def _conv_bwd(name, desc, hint, **kw):
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    binding = (_fn("conv_forward_naive", _CONV, f"_mk_conv_forward({_CONV})")
               + _fn("conv_backward_naive", "dout, cache",
                     f"_mk_conv_backward(dout, cache, {args})"))
    return Mutant(name, "conv_naive", ("conv_backward_naive",), binding, hint, desc)


def _pool(name, desc, hint, checks, fwd_kind, fwd_kw=None, bwd=None, bwd_kw=None):
    fk = ", ".join(f"{k}={v!r}" for k, v in (fwd_kw or {}).items())
    fname = f"{fwd_kind}_pool_forward_naive"
    binding = _fn(fname, _POOL, f"_mk_pool_forward({_POOL}, kind={fwd_kind!r}"
                  + (f", {fk})" if fk else ")"))
    if bwd:
        bk = ", ".join(f"{k}={v!r}" for k, v in (bwd_kw or {}).items())
        binding += _fn(f"{fwd_kind}_pool_backward_naive", "dout, cache",
                       f"{bwd}(dout, cache, {bk})")
    return Mutant(name, "pooling", checks, binding, hint, desc)


def _simple(name, module, function, params, call, hint, desc, checks=None):
    return Mutant(name, module, checks or (function,), _fn(function, params, call), hint, desc)


_OS = "W, F, S=1, P=0, dilation=1"
_OS_ARGS = "W, F, S, P, dilation"
_LC = "x, w, b, lc_param"


def _lc(name, desc, hint, fwd_kw=None, bwd_kw=None):
    fk = ", ".join(f"{k}={v!r}" for k, v in (fwd_kw or {}).items())
    binding = _fn("locally_connected_forward", _LC,
                  f"_mk_lc_forward({_LC}" + (f", {fk})" if fk else ")"))
    checks: tuple[str, ...] = ("locally_connected_forward",)
    if bwd_kw is not None:
        bk = ", ".join(f"{k}={v!r}" for k, v in bwd_kw.items())
        binding += _fn("locally_connected_backward", "dout, cache",
                       f"_mk_lc_backward(dout, cache, {bk})")
        checks = ("locally_connected_backward",)
    return Mutant(name, "locally_connected", checks, binding, hint, desc)


def _checked(family: str) -> tuple[str, ...]:
    """The graded function a mistake of ``family`` makes fail."""
    if family == CONVNET_FAMILY:
        return ("ThreeLayerConvNet",)
    _, forward, backward, *_ = FAMILY_KERNELS[family]
    return (backward or forward,)


MUTANTS: tuple[Mutant, ...] = (
    # --- output size -------------------------------------------------------------------
    *(_simple(f"output_size_{name}", "sizes", "conv_output_size", _OS,
              f"_mk_conv_output_size({_OS_ARGS}, mode={mode!r})", hint, desc)
      for name, mode, hint, desc in (
          ("floors", "floor", "never floor", "floors (W + 2P - F)/S + 1 instead of raising"),
          ("pad_once", "one_pad", "padding counted once", "adds P instead of 2P"),
          ("no_dilation", "no_dilation", "dilation ignored", "uses F instead of (F-1)*d + 1"),
          ("dilation_gap", "dilation_gap", "dilation convention",
           "treats dilation=d as d gaps between taps"))),
    # --- conv forward ------------------------------------------------------------------
    Mutant("conv_no_padding", "conv_naive", ("conv_forward_naive",), "", "did you pad?",
           "written from the stub (its Ho, Wo kept), slides over x without padding it",
           body=BODIES["conv_no_padding"][2]),
    _conv_fwd("conv_no_padding_own_size", "ignores conv_param['pad'], Ho from the unpadded x",
              "did you pad?", pad_mode="none"),
    _conv_fwd("conv_kernel_flipped", "true convolution instead of cross-correlation",
              "kernel is flipped", flip=True),
    _conv_fwd("conv_stride_ignored", "slides with stride 1", "stride not applied",
              stride_mode="one"),
    _conv_fwd("conv_size_off_by_one", "Ho = (H + 2P - F)/S, no +1", "off by one",
              size_plus_one=False),
    _conv_fwd("conv_dilation_gap", "dilation=d puts d zeros between taps",
              "dilation convention", dil_mode="gap"),
    _conv_fwd("conv_dilation_ignored", "ignores conv_param['dilation']", "dilation ignored",
              dil_mode="ignore"),
    _conv_fwd("conv_no_bias", "forgets + b[f]", "missing bias", bias=False),
    _conv_fwd("conv_pad_one_side", "pads 2P on top/left only", "one side",
              pad_mode="top_left"),
    _conv_fwd("conv_bias_reversed", "b indexed from the end", "biases in the wrong order",
              bias_order=True),
    # --- conv backward -----------------------------------------------------------------
    Mutant("conv_backward_no_padding", "conv_naive", ("conv_backward_naive",), "",
           "did you pad?", "written from the stub (its Ho, Wo kept), no padded xp",
           body=BODIES["conv_backward_no_padding"][2]),
    _conv_bwd("conv_db_per_image", "db not summed over N (shape (N, F))",
              "sum dout over the images", db_mode="per_image"),
    _conv_bwd("conv_db_first_image", "db from the first image only", "db not summed over N",
              db_mode="first_image"),
    _conv_bwd("conv_dw_overwritten", "dw[f] = ... instead of +=", "shared weight",
              dw_mode="assign"),
    _conv_bwd("conv_dw_last_image", "dw reset per image", "last image",
              dw_mode="last_image"),
    _conv_bwd("conv_dx_padding_kept", "returns the padded dx", "strip the padding",
              dx_mode="nostrip"),
    _conv_bwd("conv_dx_flipped", "uses the flipped filter in the loop form",
              "flipped kernel", dx_mode="flip"),
    _conv_bwd("conv_dx_overwritten", "dx window = ... instead of +=", "dx is overwritten",
              dx_mode="assign"),
    # --- locally connected -------------------------------------------------------------
    _lc("lc_weights_shared", "uses w[0, 0] everywhere", "weights are shared",
        fwd_kw={"shared": True}),
    _lc("lc_no_bias", "forgets the bias", "missing bias", fwd_kw={"bias": False}),
    _lc("lc_dw_summed", "sums dw over positions like a conv", "dw summed over positions",
        bwd_kw={"dw_sum": True}),
    _lc("lc_db_first_image", "db from the first image only", "db not summed over N",
        bwd_kw={"db_first": True}),
    # --- im2col / col2im ---------------------------------------------------------------
    _simple("im2col_rows_hwc", "im2col", "im2col", _IM, f"_mk_im2col({_IM_ARGS}, order='ijc')",
            "rows in the wrong order", "rows (i, j, c), inconsistent with w.reshape(F, -1)",
            checks=("im2col",)),
    _simple("im2col_no_padding", "im2col", "im2col", _IM,
            f"_mk_im2col({_IM_ARGS}, use_pad=False)", "did you pad?", "ignores pad"),
    _simple("col2im_assigns", "im2col", "col2im", _C2I,
            f"_mk_col2im({_C2I_ARGS}, assign=True)", "overwritten",
            "assigns instead of adding overlapping entries"),
    _simple("col2im_padding_kept", "im2col", "col2im", _C2I,
            f"_mk_col2im({_C2I_ARGS}, strip=False)", "strip the padding",
            "returns the padded image"),
    Mutant("conv_im2col_bad_reshape", "im2col", ("conv_forward_im2col",),
           _fn("conv_forward_im2col", _CONV,
               f"_mk_conv_forward_im2col({_CONV}, bad_reshape=True)"),
           "wrong places", "reshapes (F, N*Ho*Wo) straight to (N, F, Ho, Wo)"),
    Mutant("conv_im2col_db_first_image", "im2col", ("conv_backward_im2col",),
           _fn("conv_forward_im2col", _CONV, f"_mk_conv_forward_im2col({_CONV})")
           + _fn("conv_backward_im2col", "dout, cache",
                 "_mk_conv_backward_im2col(dout, cache, db_first=True)"),
           "db not summed over N", "db from the first image only"),
    Mutant("conv_im2col_dw_order", "im2col", ("conv_backward_im2col",),
           _fn("conv_forward_im2col", _CONV, f"_mk_conv_forward_im2col({_CONV})")
           + _fn("conv_backward_im2col", "dout, cache",
                 "_mk_conv_backward_im2col(dout, cache, dw_order=True)"),
           "wrong places", "reshapes dw as (F, HH, WW, C)"),
    # --- pooling -----------------------------------------------------------------------
    _pool("maxpool_stride_ignored", "slides with stride 1", "stride not applied",
          ("max_pool_forward_naive",), "max", {"stride_mode": "one"}),
    _pool("maxpool_grad_all_ties", "x == max mask", "every tied maximum",
          ("max_pool_backward_naive",), "max", None, "_mk_max_pool_backward", {"rule": "all"}),
    _pool("maxpool_grad_first_element", "always window[0, 0]", "first element of the window",
          ("max_pool_backward_naive",), "max", None, "_mk_max_pool_backward",
          {"rule": "elem0"}),
    _pool("maxpool_grad_last_max", "last tied maximum", "last tied maximum",
          ("max_pool_backward_naive",), "max", None, "_mk_max_pool_backward",
          {"rule": "last"}),
    _pool("maxpool_grad_overwritten", "dx[...] = g on overlapping windows",
          "overwritten where windows overlap", ("max_pool_backward_naive",), "max", None,
          "_mk_max_pool_backward", {"assign": True}),
    _pool("avgpool_divides_by_height", "divides by pool_height only", "instead of pool_height",
          ("avg_pool_forward_naive",), "avg", {"count": "height"}),
    _pool("avgpool_grad_not_divided", "backward forgets / (HH*WW)", "not divided",
          ("avg_pool_backward_naive",), "avg", None, "_mk_avg_pool_backward",
          {"count": "none"}),
    _pool("avgpool_grad_divides_by_stride", "backward divides by S*S",
          "instead of pool_height", ("avg_pool_backward_naive",), "avg", None,
          "_mk_avg_pool_backward", {"count": "stride"}),
    # --- the mistakes of grader.checks.mistakes that kernels commit by switches (the
    # perceptron, FC -> conv, notebook 08's layers and ThreeLayerConvNet, notebook 09): each
    # mutant is its Mistake, so its hint is the one the diagnosis gives by construction
    *(Mutant(m.name, binding(m)[0], _checked(m.family), binding(m)[1], m.hint, m.description)
      for m in _MISTAKES if m.family in FAMILY_KERNELS or m.family == CONVNET_FAMILY),
)
