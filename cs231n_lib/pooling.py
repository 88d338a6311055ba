"""Pooling layers (池化层): max, average and L2-norm pooling, naive and fast.

A pooling layer slides a ``pool_height x pool_width`` window over every channel of its input
with stride (步长) ``S`` and replaces each window by one number: its maximum, its mean, or its
L2 norm ``sqrt(sum of squares)``. Each depth slice is pooled on its own, so the depth is
unchanged; the layer has no parameters. Pooling is rarely zero-padded, so these functions take
no ``'pad'`` key.

Shapes (CS231n assignment-2 conventions):

* ``x``: ``(N, C, H, W)`` images (NCHW). A floating dtype is kept (float32 in, float32 out);
  integer input is computed in float64.
* ``pool_param``: ``{'pool_height': HH, 'pool_width': WW, 'stride': S}``; unknown keys
  (``'pad'`` included) are rejected.
* ``out``: ``(N, C, Ho, Wo)`` with ``Ho = (H - HH) / S + 1`` and ``Wo = (W - WW) / S + 1``.
  A configuration for which this is not a whole number is rejected with the computation in
  the message, e.g. ``(7 + 2*0 - 3)/3 + 1 = 2.33 is not a whole number``; nothing is floored.
* ``dout``: ``(N, C, Ho, Wo)``; ``dx``: ``(N, C, H, W)`` in the dtype of ``x``.

Max-pooling gradient and ties
-----------------------------
The maximum of a window depends on one input only: its argmax. The backward pass therefore
routes the whole upstream gradient of a window to that one position (the "switch" recorded
during the forward pass). When several entries of a window tie for the maximum (common after a
ReLU, which turns many windows into all zeros), this module's rule is:

    **the whole gradient of a window goes to ONE position, the first maximum in row-major
    order within the window** (top row first, left to right), like ``np.argmax`` of the
    flattened window.

The gradient is never split between tied maxima, nor copied to each of them (a boolean
``x == max`` mask does the latter and multiplies the gradient by the number of ties). The
rule is a valid subgradient and matches what PyTorch's CPU kernel does. With overlapping
windows (e.g. F=3, S=2) one input can be the switch of several windows; its gradient is the sum
of theirs.

The L2 norm is not differentiable at an all-zero window; its backward returns 0 there (0 is a
subgradient of the norm at the origin).

Naive versions loop over every window and are written by the learner; fast versions use strided
slices: for each of the ``HH * WW`` offsets ``(a, b)`` inside the window, ``x[:, :, a::S, b::S]``
(cut to ``Ho x Wo``) holds that offset of every window at once. This is the im2col idea for
pooling (each offset is one row of the column matrix) without materialising the columns.
"""

from __future__ import annotations

import numpy as np

from cs231n_lib._validate import (  # noqa: F401  (re-exported for the notebooks)
    POOL_REQUIRED,
    PoolGeometry,
    check_pool_backward,
    check_pool_forward,
    pool_output_shape,
)

# The fast versions are provided library code in their own module; re-exported here.
from cs231n_lib.pooling_fast import (  # noqa: F401
    avg_pool_backward_fast,
    avg_pool_forward_fast,
    l2_pool_backward_fast,
    l2_pool_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
    pool_switches,
)

_NOTEBOOK = "notebooks/05_pooling.ipynb"

# ----------------------------------------------------------------------------------------------
# Naive versions (explicit loops; max and average are written by the learner)
# ----------------------------------------------------------------------------------------------


def max_pool_forward_naive(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Max pooling, one window at a time.

    Args:
        x: ``(N, C, H, W)`` input.
        pool_param: ``{'pool_height': HH, 'pool_width': WW, 'stride': S}``.

    Returns:
        ``out``: ``(N, C, Ho, Wo)``, the maximum of each window, dtype of ``x``;
        ``cache``: ``(x, pool_param)`` for :func:`max_pool_backward_naive`.
    """
    x, (HH, WW, S, Ho, Wo) = check_pool_forward(x, pool_param, "max pooling")
    ### BEGIN SOLUTION
    N, C = x.shape[:2]
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * S : i * S + HH, j * S : j * S + WW]
                    out[n, c, i, j] = window.max()
    return out, (x, pool_param)
    ### END SOLUTION


def max_pool_backward_naive(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward of :func:`max_pool_forward_naive`.

    Each window's gradient ``dout[n, c, i, j]`` goes entirely to ONE input: the first maximum
    of the window in row-major order (``np.argmax`` of the flattened window). Tied maxima do
    not share it. Overlapping windows add their contributions.

    Args:
        dout: ``(N, C, Ho, Wo)`` upstream gradient.
        cache: ``(x, pool_param)`` from the forward pass.

    Returns:
        ``dx``: ``(N, C, H, W)``, dtype of ``x``.
    """
    dout, (x, _), (HH, WW, S, Ho, Wo) = check_pool_backward(dout, cache, 2, "max pooling")
    ### BEGIN SOLUTION
    N, C = x.shape[:2]
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * S : i * S + HH, j * S : j * S + WW]
                    a, b = divmod(int(np.argmax(window)), WW)  # first maximum, row-major
                    dx[n, c, i * S + a, j * S + b] += dout[n, c, i, j]
    return dx
    ### END SOLUTION


def avg_pool_forward_naive(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Average pooling, one window at a time.

    Args:
        x: ``(N, C, H, W)`` input.
        pool_param: ``{'pool_height': HH, 'pool_width': WW, 'stride': S}``.

    Returns:
        ``out``: ``(N, C, Ho, Wo)``, the mean of each window, dtype of ``x``;
        ``cache``: ``(x, pool_param)``.
    """
    x, (HH, WW, S, Ho, Wo) = check_pool_forward(x, pool_param, "average pooling")
    ### BEGIN SOLUTION
    N, C = x.shape[:2]
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * S : i * S + HH, j * S : j * S + WW]
                    out[n, c, i, j] = window.sum() / (HH * WW)
    return out, (x, pool_param)
    ### END SOLUTION


def avg_pool_backward_naive(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward of :func:`avg_pool_forward_naive`.

    Every input of a window receives ``dout / (HH * WW)``; overlapping windows add up.

    Returns:
        ``dx``: ``(N, C, H, W)``, dtype of ``x``.
    """
    dout, (x, _), (HH, WW, S, Ho, Wo) = check_pool_backward(dout, cache, 2, "average pooling")
    ### BEGIN SOLUTION
    N, C = x.shape[:2]
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    dx[n, c, i * S : i * S + HH, j * S : j * S + WW] += dout[n, c, i, j] / (
                        HH * WW
                    )
    return dx
    ### END SOLUTION


def l2_pool_forward_naive(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """L2-norm pooling: ``sqrt(sum of squares)`` of each window (reference, not a stub).

    Returns:
        ``out``: ``(N, C, Ho, Wo)``, dtype of ``x``; ``cache``: ``(x, pool_param)``.
    """
    x, (HH, WW, S, Ho, Wo) = check_pool_forward(x, pool_param, "L2 pooling")
    N, C = x.shape[:2]
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * S : i * S + HH, j * S : j * S + WW]
                    out[n, c, i, j] = np.sqrt(np.sum(window * window))
    return out, (x, pool_param)


def l2_pool_backward_naive(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward of :func:`l2_pool_forward_naive`.

    For a window ``v`` with norm ``r = ||v|| > 0`` the gradient is ``dout * v / r``. At an
    all-zero window (``r = 0``) the norm is not differentiable; this returns 0 there (a
    subgradient).

    Returns:
        ``dx``: ``(N, C, H, W)``, dtype of ``x``.
    """
    dout, (x, _), (HH, WW, S, Ho, Wo) = check_pool_backward(dout, cache, 2, "L2 pooling")
    N, C = x.shape[:2]
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    rows = slice(i * S, i * S + HH)
                    cols = slice(j * S, j * S + WW)
                    window = x[n, c, rows, cols]
                    norm = np.sqrt(np.sum(window * window))
                    if norm > 0:
                        dx[n, c, rows, cols] += dout[n, c, i, j] * window / norm
    return dx
