"""Output sizes: how many positions a filter, a pooling window or a crop takes along one axis.

Everything here is counting, no arrays. The one formula behind all of it (the notes'):

* Output length along one axis is ``(W + 2P - F_eff) / S + 1`` with ``F_eff = (F - 1)*d + 1``.
  ``dilation=1`` is an ordinary filter. The result must be a whole number, otherwise the
  configuration is rejected with a ``ValueError`` that shows the fraction (e.g. ``2.33``).
  Nothing is rounded here; the layer descriptions of :mod:`cs231n_lib.layer_specs` round only
  when a layer asks for it (``rounding="floor"`` / ``"ceil"``).
* Volumes (:func:`im2col_shapes`) are ``(H, W, D)`` -- height, width, depth -- the way the
  CS231n tables print ``[224x224x64]``.

What you write: :func:`conv_output_size` (notebook 02). The rest is provided and uses the
shared checks of :mod:`cs231n_lib._validate`, never your function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from cs231n_lib import _validate
from cs231n_lib.layer_specs import Shape

_NOTEBOOK = "notebooks/02_local_connectivity.ipynb"

#: 2.33, 5, 54.25: the way the notes print a ratio (shared with the argument checks).
_fmt = _validate._fmt


def effective_filter_size(F: int, dilation: int = 1) -> int:
    """Span in pixels of an ``F``-tap filter with dilation ``d``: ``(F - 1) * d + 1``.

    ``dilation=1`` is an ordinary filter (3 -> 3); ``dilation=2`` leaves one gap between taps
    (3 -> 5).
    """
    F = _validate.positive_int(F, "filter size F")
    dilation = _validate.positive_int(dilation, "dilation")
    return _validate.effective_size(F, dilation)


def conv_output_size(W: int, F: int, S: int = 1, P: int = 0, dilation: int = 1) -> int:
    """Spatial output length of a convolution along one axis.

    Args:
        W: input length (pixels), >= 1.
        F: filter length (taps), >= 1.
        S: stride, >= 1.
        P: zero padding per side, >= 0.
        dilation: 1 for an ordinary filter; the filter then spans ``(F - 1)*dilation + 1``.

    Returns:
        ``(W + 2P - F_eff) / S + 1`` as an int.

    Raises:
        ValueError: on a bad argument, a filter wider than the padded input, or when the
            formula is not a whole number, e.g. ``conv_output_size(7, 3, S=3)`` gives
            ``(7 + 2*0 - 3)/3 + 1 = 2.33 is not a whole number``.
    """
    W = _validate.positive_int(W, "input size W")
    F = _validate.positive_int(F, "filter size F")
    S = _validate.positive_int(S, "stride S")
    P = _validate.nonnegative_int(P, "padding P")
    dilation = _validate.positive_int(dilation, "dilation")
    span = _validate.effective_size(F, dilation)
    if span > W + 2 * P:
        raise ValueError(
            f"filter span {span} is larger than the padded input {W} + 2*{P} = {W + 2 * P}"
        )
    ### BEGIN SOLUTION
    steps = W + 2 * P - span
    if steps % S != 0:
        ratio = steps / S + 1
        raise ValueError(
            f"({W} + 2*{P} - {span})/{S} + 1 = {_fmt(ratio)} is not a whole number: "
            f"stride {S} does not tile the input; change S, P or F"
        )
    return steps // S + 1
    ### END SOLUTION


def pool_output_size(W: int, F: int, S: int, P: int = 0) -> int:
    """Spatial output length of a pooling layer: ``(W + 2P - F) / S + 1`` (whole number).

    Pooling is rarely padded; ``P`` is there for completeness. Raises ``ValueError`` like
    :func:`conv_output_size`.
    """
    return _validate.output_length(W, F, S, P, what="pooling")


def same_padding(F: int, dilation: int = 1) -> int:
    """Zero padding ``P = (F_eff - 1) / 2`` that keeps the size at stride 1.

    For an ordinary filter this is ``(F - 1) / 2``: 3 -> 1, 5 -> 2, 7 -> 3.

    Raises:
        ValueError: if the (effective) filter size is even: no symmetric padding keeps the
            size then.
    """
    span = effective_filter_size(F, dilation)
    if span % 2 == 0:
        raise ValueError(
            f"'same' padding needs an odd filter span; (F - 1)/2 = ({span} - 1)/2 = "
            f"{_fmt((span - 1) / 2)} is not a whole number"
        )
    return (span - 1) // 2


# --------------------------------------------------------------------------------------------
# Downsampling, sliding windows, im2col shapes, pooling fractions
# --------------------------------------------------------------------------------------------


def downsampling_factor(n_pools: int, stride: int = 2) -> int:
    """Total stride of ``n_pools`` pooling layers: ``stride ** n_pools`` (VGG: 2^5 = 32)."""
    return _validate.positive_int(stride, "stride") ** _validate.nonnegative_int(n_pools, "n")


def halvings(n: int) -> int:
    """How many 2x2 stride-2 poolings a size survives exactly: the power of 2 in ``n``.

    224 = 7 * 2^5 -> 5; 32 -> 5; 384 = 3 * 2^7 -> 7; 512 -> 9.
    """
    n = _validate.positive_int(n, "size")
    count = 0
    while n % 2 == 0:
        n //= 2
        count += 1
    return count


def sliding_window_positions(image: int, window: int, stride: int) -> int:
    """How many positions a ``window``-pixel crop takes along one axis of an ``image`` when
    shifted by ``stride``: ``(image - window)/stride + 1`` (whole number required).
    384 with 224 crops every 32 pixels: 6."""
    return _validate.output_length(image, window, stride, what="sliding window")


def fc_to_conv_output(feature_size: int, fc_field: int = 7, stride: int = 1) -> int:
    """Side of the score map when a converted FC layer (filter ``fc_field``) slides over a
    ``feature_size`` feature map: ``(12 - 7)/1 + 1 = 6`` for a 384 image in VGG."""
    return _validate.output_length(feature_size, fc_field, stride, what="converted FC layer")


@dataclass(frozen=True)
class Im2colShapes:
    """Matrix shapes of a convolution done as one matrix multiply."""

    x_col: tuple[int, int]  # (F*F*C, H_out*W_out)
    w_row: tuple[int, int]  # (K, F*F*C)
    product: tuple[int, int]  # (K, H_out*W_out)
    output: Shape  # (H_out, W_out, K)
    duplication: Fraction  # entries of X_col / entries of the (unpadded) input


def im2col_shapes(input_shape: Sequence[int], F: int, K: int, S: int = 1, P: int = 0
                  ) -> Im2colShapes:
    """Shapes of im2col for an ``H x W x C`` input and ``K`` filters ``F x F x C``.

    AlexNet conv1 (227x227x3, 96 filters 11x11, S=4): X_col 363 x 3025, W_row 96 x 363,
    product 96 x 3025 reshaped to 55x55x96.
    """
    H, W, C = _validate.shape(input_shape, "input_shape", 3, "(H, W, C)")
    K = _validate.positive_int(K, "K")
    h = _validate.output_length(H, F, S, P, what="im2col", axis="height")
    w = _validate.output_length(W, F, S, P, what="im2col")
    rows = F * F * C
    cols = h * w
    return Im2colShapes(
        x_col=(rows, cols), w_row=(K, rows), product=(K, cols), output=(h, w, K),
        duplication=Fraction(rows * cols, H * W * C),
    )


def pool_kept_fraction(size: int, F: int = 2, S: int = 2) -> Fraction:
    """Fraction of activations a pooling layer keeps on a ``size x size`` map:
    ``out^2 / size^2``. 2x2 stride 2: 1/4 (75% discarded)."""
    out = pool_output_size(size, F, S)
    return Fraction(out * out, size * size)
