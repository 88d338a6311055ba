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

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from cs231n_lib import _validate
from cs231n_lib.conv_naive import result_dtype

_NOTEBOOK = "notebooks/05_pooling.ipynb"

#: Keys of ``pool_param`` (all required; pooling takes no padding).
POOL_REQUIRED = ("pool_height", "pool_width", "stride")


class PoolGeometry(NamedTuple):
    """Validated pooling hyperparameters and output size (all in pixels)."""

    pool_height: int
    pool_width: int
    stride: int
    Ho: int
    Wo: int


# ----------------------------------------------------------------------------------------------
# Validation (kept in the student release)
# ----------------------------------------------------------------------------------------------


def pool_output_shape(
    x_shape: tuple[int, ...], pool_param: Any, *, what: str = "pooling"
) -> PoolGeometry:
    """Validate a pooling configuration for input shape ``(N, C, H, W)``; return its geometry.

    Raises:
        ValueError: wrong rank, missing/unknown keys, a window larger than the input, or an
            output size that is not a whole number (the message shows the computation).
    """
    x_shape = _validate.shape(x_shape, "x.shape")
    if len(x_shape) != 4:
        raise ValueError(f"{what}: x must have 4 dimensions (N, C, H, W), got shape {x_shape}")
    p = _validate.params(pool_param, "pool_param", POOL_REQUIRED)
    hh = _validate.positive_int(p["pool_height"], "pool_param['pool_height']")
    ww = _validate.positive_int(p["pool_width"], "pool_param['pool_width']")
    s = _validate.positive_int(p["stride"], "pool_param['stride']")
    ho = _validate.output_length(x_shape[2], hh, s, 0, 1, what=what, axis="height")
    wo = _validate.output_length(x_shape[3], ww, s, 0, 1, what=what, axis="width")
    return PoolGeometry(hh, ww, s, ho, wo)


def _check_forward(x: Any, pool_param: Any, what: str) -> tuple[np.ndarray, PoolGeometry]:
    _validate.array(x, "x", 4, "(N, C, H, W)")
    geometry = pool_output_shape(x.shape, pool_param, what=what)
    return x.astype(result_dtype(x), copy=False), geometry


def _check_backward(
    dout: Any, cache: Any, size: int, what: str
) -> tuple[np.ndarray, tuple[Any, ...], PoolGeometry]:
    """Validate ``dout`` against a cache whose first two items are ``(x, pool_param)``."""
    if not isinstance(cache, tuple) or len(cache) != size:
        raise ValueError(
            f"{what}: cache must be the {size}-tuple returned by the matching forward pass, "
            f"got {type(cache).__name__}"
            + (f" of length {len(cache)}" if isinstance(cache, tuple) else "")
        )
    x, pool_param = cache[0], cache[1]
    _validate.array(x, "cache x", 4, "(N, C, H, W)")
    geometry = pool_output_shape(x.shape, pool_param, what=what)
    _validate.array(dout, "dout", 4, "(N, C, Ho, Wo)")
    expected = (x.shape[0], x.shape[1], geometry.Ho, geometry.Wo)
    if dout.shape != expected:
        raise ValueError(
            f"{what}: dout must have the shape of the forward output (N, C, Ho, Wo) = "
            f"{expected}, got {dout.shape}"
        )
    return dout.astype(x.dtype, copy=False), cache, geometry


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
    x, (HH, WW, S, Ho, Wo) = _check_forward(x, pool_param, "max pooling")
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
    dout, (x, _), (HH, WW, S, Ho, Wo) = _check_backward(dout, cache, 2, "max pooling")
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
    x, (HH, WW, S, Ho, Wo) = _check_forward(x, pool_param, "average pooling")
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
    dout, (x, _), (HH, WW, S, Ho, Wo) = _check_backward(dout, cache, 2, "average pooling")
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
    x, (HH, WW, S, Ho, Wo) = _check_forward(x, pool_param, "L2 pooling")
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
    dout, (x, _), (HH, WW, S, Ho, Wo) = _check_backward(dout, cache, 2, "L2 pooling")
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


# ----------------------------------------------------------------------------------------------
# Fast versions (library code: strided slices, one per offset inside the window)
# ----------------------------------------------------------------------------------------------


def _offsets(g: PoolGeometry) -> Iterator[tuple[int, tuple[slice, ...]]]:
    """Yield ``(k, index)`` for every offset ``(a, b)`` of the window in row-major order.

    ``k = a * WW + b``; ``x[index]`` is the ``(N, C, Ho, Wo)`` view of entry ``(a, b)`` of
    every window.
    """
    s = g.stride
    for a in range(g.pool_height):
        rows = slice(a, a + s * (g.Ho - 1) + 1, s)
        for b in range(g.pool_width):
            cols = slice(b, b + s * (g.Wo - 1) + 1, s)
            yield a * g.pool_width + b, (slice(None), slice(None), rows, cols)


def _tiles_exactly(x_shape: tuple[int, ...], g: PoolGeometry) -> bool:
    """Windows do not overlap and cover every input pixel (stride == window size)."""
    return (
        g.stride == g.pool_height == g.pool_width
        and x_shape[2] == g.Ho * g.stride
        and x_shape[3] == g.Wo * g.stride
    )


def _overlaps(g: PoolGeometry) -> bool:
    return g.stride < g.pool_height or g.stride < g.pool_width


def max_pool_forward_fast(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Max pooling with ``HH * WW`` strided slices and ``np.maximum`` (no Python loop per window).

    Same arguments and output as :func:`max_pool_forward_naive`; ``cache`` is
    ``(x, pool_param, out)`` for :func:`max_pool_backward_fast`.
    """
    x, g = _check_forward(x, pool_param, "max pooling")
    out: np.ndarray | None = None
    for _, index in _offsets(g):
        if out is None:
            out = x[index].copy()
        else:
            np.maximum(out, x[index], out=out)
    assert out is not None
    return out, (x, pool_param, out)


def max_pool_backward_fast(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward of :func:`max_pool_forward_fast`, with the module's tie rule.

    Offsets are visited in row-major order; the gradient still "unrouted" for a window goes to
    the first offset whose value equals the window's maximum and is then cleared, so tied
    maxima later in the window receive nothing (the first-maximum rule of
    :func:`max_pool_backward_naive`). Inputs are assumed free of NaN.

    Returns:
        ``dx``: ``(N, C, H, W)``, dtype of ``x``.
    """
    dout, (x, _, out), g = _check_backward(dout, cache, 3, "max pooling")
    overlap = _overlaps(g)
    dx = np.empty_like(x) if _tiles_exactly(x.shape, g) else np.zeros_like(x)
    remaining = dout.copy()  # gradient of each window not yet routed to its switch
    hit = np.empty(out.shape, dtype=bool)
    routed = np.empty_like(remaining) if overlap else None
    offsets = list(_offsets(g))
    last = len(offsets) - 1
    for k, index in offsets:
        if k == last:
            # Every window not routed yet has its first maximum here (inputs without NaN).
            if overlap:
                view = dx[index]
                view += remaining
            else:
                dx[index] = remaining
            break
        np.equal(x[index], out, out=hit)
        if routed is not None:
            np.multiply(remaining, hit, out=routed)
            view = dx[index]
            view += routed
            remaining -= routed  # exactly 0 where routed, unchanged elsewhere
        else:
            np.multiply(remaining, hit, out=dx[index])
            remaining -= dx[index]
    return dx


def pool_switches(x: np.ndarray, pool_param: dict[str, int]) -> np.ndarray:
    """The max-pooling "switches": where each window's maximum sits.

    Args:
        x: ``(N, C, H, W)`` input.
        pool_param: ``{'pool_height': HH, 'pool_width': WW, 'stride': S}``.

    Returns:
        ``(N, C, Ho, Wo)`` int64 array ``k`` of positions inside each window, ``k = a * WW + b``
        for row ``a`` and column ``b`` of the window (the first maximum in row-major order,
        the entry that receives the window's gradient). The input pixel is row
        ``i * S + k // WW``, column ``j * S + k % WW`` for output ``(i, j)``.
    """
    x, g = _check_forward(x, pool_param, "max pooling")
    out, _ = max_pool_forward_fast(x, pool_param)
    switches = np.empty(out.shape, dtype=np.int64)
    # Visit offsets last-to-first so that the first maximum is written last and wins.
    for k, index in reversed(list(_offsets(g))):
        switches[x[index] == out] = k
    return switches


def avg_pool_forward_fast(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Average pooling with strided slices. Same contract as :func:`avg_pool_forward_naive`;
    ``cache`` is ``(x, pool_param)``."""
    x, g = _check_forward(x, pool_param, "average pooling")
    total: np.ndarray | None = None
    for _, index in _offsets(g):
        if total is None:
            total = x[index].copy()
        else:
            total += x[index]
    assert total is not None
    total /= g.pool_height * g.pool_width
    return total, (x, pool_param)


def avg_pool_backward_fast(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward of :func:`avg_pool_forward_fast`: ``dout / (HH * WW)`` to every window entry."""
    dout, (x, _), g = _check_backward(dout, cache, 2, "average pooling")
    share = dout / x.dtype.type(g.pool_height * g.pool_width)
    overlap = _overlaps(g)
    dx = np.empty_like(x) if _tiles_exactly(x.shape, g) else np.zeros_like(x)
    for _, index in _offsets(g):
        if overlap:
            view = dx[index]
            view += share
        else:
            dx[index] = share
    return dx


def l2_pool_forward_fast(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """L2-norm pooling with strided slices. Same contract as :func:`l2_pool_forward_naive`;
    ``cache`` is ``(x, pool_param, out)``."""
    x, g = _check_forward(x, pool_param, "L2 pooling")
    squares = x * x
    total: np.ndarray | None = None
    for _, index in _offsets(g):
        if total is None:
            total = squares[index].copy()
        else:
            total += squares[index]
    assert total is not None
    out = np.sqrt(total, out=total)
    return out, (x, pool_param, out)


def l2_pool_backward_fast(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward of :func:`l2_pool_forward_fast`: ``dout * v / ||v||``, and 0 at all-zero
    windows (see the module docstring)."""
    dout, (x, _, out), g = _check_backward(dout, cache, 3, "L2 pooling")
    # Where the norm is 0 every entry of the window is 0, so dividing by 1 instead gives 0.
    # x / norm lies in [-1, 1]: dividing first avoids overflow when the norm is tiny.
    norm = np.where(out > 0, out, x.dtype.type(1))
    overlap = _overlaps(g)
    dx = np.empty_like(x) if _tiles_exactly(x.shape, g) else np.zeros_like(x)
    for _, index in _offsets(g):
        part = x[index] / norm
        part *= dout
        if overlap:
            view = dx[index]
            view += part
        else:
            dx[index] = part
    return dx
