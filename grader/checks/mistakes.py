"""The one catalogue of known mistakes: what each is called, its family, its hint.

A :class:`Mistake` names the switches that make the instructor's mutant kernels commit it (or,
for a mistake written into the student stub, the mutant of the same name). It holds no code:
its outputs on a case are computed on the trusted side (``grader/mutants/mistakes.py``) and
the release stores them for the visible cases (:func:`grader.checks.expected.mistake_outputs`);
diagnosis then asks which known mistake the learner's result reproduces
(:func:`match_mistake`). The mutants of the tests and the demo are built from the same entries,
so every mutant gets its hint by construction.

Shipped to students (names and hints only). Imports nothing of ``grader``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Mistake:
    """A known mistake: the switches that make the mutant kernels commit it, and its hint.

    Attributes:
        family: the check family it belongs to (e.g. ``"bn_forward"``).
        name: unique name, also the mutant's.
        switches: keyword arguments of the family's kernel in ``grader/mutants/``
            (``kernels_blocks.py``, ``kernels_layers.py``, or ``kernels.py`` for
            ``ThreeLayerConvNet.loss``; instructor only); empty for a mistake recognised from
            its outputs alone (``alt_*``) or written into the stub.
        hint: what the learner is told when the result matches the mistake's.
        description: the mistake in words.
    """

    family: str
    name: str
    switches: dict[str, Any] = field(hash=False)
    hint: str
    description: str


_NO_PAD = ("did you pad? the stub's Ho, Wo count the windows of the zero-padded input: copy x "
           "into xp of size (H + 2P, W + 2P) first and slide over xp")
AXES_HINT = ("statistics over the wrong axes: spatial batch norm has one mean and one variance "
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
PROJECTION_HINT = ("projection missing on a stride change: when the stride is not 1 the shortcut "
               "is the 1x1 projection (conv Wp with the block's stride, then batch norm), even "
               "when the depth stays the same")
_NO_SHORTCUT = ("dx misses the shortcut's gradient: add what flows back through the skip "
                "connection (the projection's backward, or the masked dout itself)")
_SCORES_RELU = ("ReLU on the scores: the layer order is conv - relu - 2x2 max pool - affine - "
                "relu - affine, with no ReLU after the last affine layer")
_GAP_SUM = "summed instead of averaged: divide each map's sum by H*W"
_GAP_BWD = "gradient not divided by H*W: every pixel of map (n, c) receives dout[n, c] / (H*W)"


#: Slips recognised by what they output (computed by grader/mutants/alternatives.py).
_FLAT = [
    ("conv_forward", "alt_conv_flipped",
     "the kernel is flipped: a conv layer computes cross-correlation, use w as it is "
     "(no [::-1, ::-1])"),
    ("conv_forward", "alt_conv_no_bias", "missing bias: add b[f] to every output of filter f"),
    ("conv_forward", "alt_conv_stride_one",
     "stride not applied: window (i, j) starts at row i*stride, column j*stride"),
    ("conv_forward", "alt_conv_stride_plus_one",
     "stride off by one: window (i, j) starts at row i*stride, column j*stride"),
    ("conv_forward", "alt_conv_dilation_ignored",
     "dilation ignored: taps are d pixels apart (every d-th pixel of the window)"),
    ("conv_forward", "alt_conv_dilation_gap",
     "dilation convention: dilation=1 is an ordinary filter, taps are d apart (d-1 gaps), "
     "not d+1"),
    ("conv_forward", "alt_conv_pad_one_side",
     "padding applied on one side only: pad P zeros on top, bottom, left and right"),
    ("conv_forward", "alt_conv_pad_top_left",
     "padding applied on one side only (2P on top/left): pad P zeros on every side"),
    ("conv_forward", "alt_conv_filter_transposed",
     "filter rows and columns swapped: w[f, c, i, j] multiplies row i, column j"),
    ("conv_forward", "alt_conv_bias_reversed", "biases in the wrong order: filter f gets b[f]"),
    ("conv_forward", "alt_conv_stride_minus_one",
     "stride off by one: window (i, j) starts at row i*stride"),
    ("conv_backward", "alt_conv_dx_flip",
     "dx uses the flipped kernel: in the loop form, add dout * w[f] (unflipped) to the window "
     "(the flip appears only in the convolution form)"),
    ("conv_backward", "alt_conv_dx_assign",
     "dx is overwritten: windows overlap, accumulate with += into dx"),
    ("conv_backward", "alt_conv_dw_assign",
     "dw of a shared weight is overwritten at each position: accumulate (+=) the "
     "contributions of every position and every image"),
    ("conv_backward", "alt_conv_dw_last_n",
     "dw holds only the last image: sum the shared-weight gradient over the images N too"),
    ("conv_backward", "alt_conv_db_first",
     "db not summed over N: sum dout over images, rows and columns"),
    ("conv_backward", "alt_conv_db_last",
     "db not summed over N: sum dout over images, rows and columns"),
    ("conv_backward", "alt_conv_db_mean",
     "db averaged over N: the gradient sums over images (no division)"),
    ("conv_backward", "alt_conv_db_zero", "db is zero: db[f] = sum of dout[:, f]"),
    ("lc_forward", "alt_lc_shared",
     "weights are shared: a locally-connected layer uses its own filter w[i, j] and bias "
     "b[i, j] at output position (i, j)"),
    ("im2col", "alt_im2col_ijc_nhw",
     "rows in the wrong order: X_col row (c*HH + i)*WW + j must match w.reshape(F, -1) "
     "(channel, then filter row, then column)"),
    ("im2col", "alt_im2col_cji_nhw",
     "rows in the wrong order: filter row i before column j, (c*HH + i)*WW + j, like "
     "w.reshape(F, -1)"),
    ("im2col", "alt_im2col_cij_hwn",
     "columns in the wrong order: column (n*Ho + oh)*Wo + ow, image first, then output "
     "positions in reading order"),
    ("col2im", "alt_col2im_assign",
     "entries overwritten: where windows overlap col2im must ADD the column entries "
     "(np.add.at or +=), not assign them"),
    ("max_backward", "alt_maxpool_all_ties",
     "gradient sent to every tied maximum: route each window's gradient to ONE position, the "
     "first maximum in row-major order (np.argmax of the window)"),
    ("max_backward", "alt_maxpool_split",
     "gradient split between tied maxima: send it all to the first maximum in row-major order"),
    ("max_backward", "alt_maxpool_first_elem",
     "gradient sent to the first element of the window, not to its maximum: use the argmax "
     "position of the window"),
    ("max_backward", "alt_maxpool_last_max",
     "gradient sent to the LAST tied maximum: the rule is the first maximum in row-major order "
     "(np.argmax returns it)"),
    ("max_backward", "alt_maxpool_assign",
     "gradient overwritten where windows overlap: accumulate with +="),
    ("avg_backward", "alt_avgpool_no_divide",
     "gradient not divided by the window size pool_height*pool_width"),
    ("avg_backward", "alt_avgpool_assign",
     "gradient overwritten where windows overlap: accumulate with +="),
    ("max_forward", "alt_maxpool_stride_one",
     "stride not applied: window (i, j) starts at row i*stride, column j*stride"),
    ("max_forward", "alt_maxpool_other_kind",
     "this is average pooling: max pooling takes the maximum of each window"),
    ("max_forward", "alt_maxpool_sum", "window sum, not mean: divide by pool_height*pool_width"),
    ("avg_forward", "alt_avgpool_stride_one",
     "stride not applied: window (i, j) starts at row i*stride, column j*stride"),
    ("avg_forward", "alt_avgpool_other_kind",
     "this is max pooling: average pooling takes the mean of each window"),
    ("avg_forward", "alt_avgpool_sum", "window sum, not mean: divide by pool_height*pool_width"),
]

#: Mistakes the mutant kernels commit by switches (notebook 09) or that a stub body writes:
#: (family, name, switches, hint, description).
_SWITCHED: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("conv_forward", "conv_no_padding", {}, _NO_PAD,
     "written from the stub (its Ho, Wo kept), slides over x without padding it"),
    ("bn_forward", "bn_axes_batch_only", {"axes": "n"}, AXES_HINT,
     "statistics over N only (vanilla batch norm): one mean per (c, h, w)"),
    ("bn_forward", "bn_axes_per_image", {"axes": "hw"}, AXES_HINT,
     "statistics over H and W of each image (instance norm)"),
    ("bn_forward", "bn_running_not_updated", {"update": "none"}, _NOT_UPDATED,
     "bn_param's running averages never move"),
    ("bn_forward", "bn_momentum_swapped", {"update": "swapped"}, _MOMENTUM,
     "running = (1 - momentum) * running + momentum * new"),
    ("bn_forward", "bn_test_uses_batch_stats", {"test_stats": "batch"}, _TEST_BATCH,
     "test mode normalises with the batch's own mean and variance"),
    ("bn_backward", "bn_backward_no_stat_paths", {"bwd": "no_stats"}, _NO_STATS,
     "train-mode dx = dout * gamma * inv_std"),
    ("bn_backward", "bn_backward_test_moves_stats", {"bwd": "always_stats"},
     _ALWAYS_STATS, "test-mode dx with the mean/variance terms of training mode"),
    ("res_forward", "res_skip_after_relu", {"skip_after_relu": True}, _AFTER_RELU,
     "out = relu(main) + shortcut"),
    ("res_forward", "res_projection_missing_on_stride", {"shortcut": "subsample"},
     PROJECTION_HINT, "projects only when the depth changes; subsamples x on a stride"),
    ("res_backward", "res_backward_no_shortcut", {"bwd": "no_shortcut"}, _NO_SHORTCUT,
     "dx from the main path only"),
    ("gap_forward", "gap_sums", {"reduce": "sum"}, _GAP_SUM, "x.sum(axis=(2, 3))"),
    ("gap_backward", "gap_backward_not_divided", {"divide": False}, _GAP_BWD,
     "dx = dout broadcast over H, W"),
    # --- the small families (notebooks 00, 06, 08): kernels of grader/mutants/kernels_layers.py
    ("perceptron_predict", "predict_plus_minus_one", {"mode": "pm1"},
     "outputs are -1/+1: Rosenblatt's perceptron outputs 1 if w.x + b > 0, else 0",
     "returns -1/+1 instead of 0/1"),
    ("perceptron_predict", "predict_no_bias", {"mode": "no_bias"},
     "bias missing: the threshold applies to w.x + b", "ignores b"),
    ("perceptron_update", "update_wrong_sign", {"mode": "sign"},
     "wrong sign: w += lr*(d - y)*x and b += lr*(d - y)", "w -= lr (d - y) x"),
    ("perceptron_update", "update_on_correct", {"mode": "always"},
     "weights changed on a correctly classified point: the update is lr*(d - y)*x, zero when "
     "the prediction y equals the target d", "updates even when the prediction is right"),
    ("perceptron_update", "update_no_bias", {"mode": "no_bias"},
     "bias not updated: b += lr*(d - y) too", "forgets to update b"),
    ("fc_to_conv", "fc_to_conv_not_transposed", {"mode": "no_transpose"},
     "FC weights not transposed: w is (D, M) with x.reshape(N, -1) @ w, so filter m is column "
     "m: w.T.reshape(M, C, H, W)", "w.reshape(K, C, H, W) without .T"),
    ("fc_to_conv", "fc_to_conv_hwc_order", {"mode": "hwc"},
     "wrong reshape order: the FC input is x.reshape(N, -1) of an (N, C, H, W) array, so the "
     "flat index is (c*H + h)*W + w: reshape to (M, C, H, W)", "reshapes to (K, H, W, C)"),
    ("affine_backward", "affine_dx_not_reshaped", {"bwd": "dx_flat"},
     "dx must have x's shape: reshape dout @ w.T back to x.shape", "returns dx as (N, D)"),
    ("affine_backward", "affine_db_first_image", {"bwd": "db_first"},
     "db not summed over N: db = dout.sum(axis=0)", "db = dout[0]"),
    ("relu_backward", "relu_grad_at_zero", {"bwd": "ge"},
     "gradient passed where x == 0: use x > 0 (the subgradient at 0 is taken as 0)",
     "passes the gradient where x >= 0"),
    ("relu_backward", "relu_mask_from_dout", {"bwd": "dout_mask"},
     "mask taken from dout: the ReLU passes dout where its forward input x > 0",
     "masks with dout > 0 instead of x > 0"),
    ("softmax_loss", "softmax_not_averaged", {"mode": "no_mean"},
     "loss and dx N times too large: average over the N examples (divide by N)",
     "sums the loss over the batch"),
    ("softmax_loss", "softmax_no_shift", {"mode": "no_shift"},
     "exp overflowed: subtract each row's maximum from the scores before np.exp (it does not "
     "change the softmax)", "exp of raw scores overflows"),
    # ThreeLayerConvNet.loss: _mk_convnet_loss of grader/mutants/kernels.py
    ("convnet", "convnet_relu_on_scores", {"relu_scores": True}, _SCORES_RELU,
     "a ReLU after the last affine layer"),
    ("convnet", "convnet_reg_missing", {"reg_mode": "none"},
     "regularisation missing: the loss adds 0.5*reg*sum(W**2) for W1, W2, W3, and each "
     "grads[W] adds reg * W", "reg ignored in the loss and the gradients"),
    ("convnet", "convnet_no_reg_gradient", {"reg_mode": "no_grad"},
     "regularisation gradient missing: grads['W1'], ['W2'] and ['W3'] each add reg * W",
     "reg in the loss but not in the gradients"),
    ("convnet", "convnet_reg_without_half", {"reg_mode": "no_half"},
     "regularisation without the 0.5: the loss adds 0.5*reg*sum(W**2), whose gradient is "
     "reg * W", "reg * sum(W**2) without 0.5"),
]

MISTAKES: tuple[Mistake, ...] = (
    *(Mistake(*row) for row in _SWITCHED),
    *(Mistake(family, name, {}, hint, hint.split(":", 1)[0]) for family, name, hint in _FLAT),
)


def mistakes_of(family: str) -> tuple[Mistake, ...]:
    """The known mistakes of a family, in diagnosis order."""
    return tuple(m for m in MISTAKES if m.family == family)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal within float32 rounding; NaN and inf only where the other has the same (an
    overflowing mistake is recognised by where it overflows)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    finite = np.isfinite(a)
    if not np.array_equal(finite, np.isfinite(b)):
        return False
    if not np.array_equal(a[~finite], b[~finite], equal_nan=True):
        return False
    return bool(np.all(np.abs(a[finite] - b[finite]) <= 1e-6 + 1e-5 * np.abs(b[finite])))


def match_mistake(outputs_of_case: tuple[str, ...], got: dict[str, np.ndarray],
                  expected: dict[str, np.ndarray], outputs: dict[str, dict[str, np.ndarray]],
                  family: str) -> str:
    """Hint of the first known mistake whose outputs ``got`` reproduces ('' if none).

    ``outputs_of_case`` are the compared output names; ``outputs`` maps mistake names to their
    outputs on this case (computed on the trusted side). A mistake that gives the right answer
    on this case is no evidence and is skipped.
    """
    for mistake in mistakes_of(family):
        alt = outputs.get(mistake.name)
        if not alt:
            continue
        names = [k for k in outputs_of_case if k in alt and k in got]
        if not names or all(k in expected and _close(alt[k], expected[k]) for k in names):
            continue
        if all(_close(got[k], alt[k]) for k in names):
            return mistake.hint
    return ""


def exception_hint(family: str, type_name: str, text: str, params: dict[str, Any]) -> str:
    """A known mistake recognised from what the learner's code raised ('' if none)."""
    if (family in ("conv_forward", "conv_backward", "lc_forward", "lc_backward")
            and type_name == "ValueError" and "broadcast" in text and params.get("pad", 0) > 0):
        return _NO_PAD
    if family.startswith("res_") and type_name == "ValueError" and "broadcast" in text:
        return PROJECTION_HINT + " (x and the main path's output have different shapes)"
    return ""
