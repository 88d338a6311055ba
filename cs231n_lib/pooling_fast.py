"""Fast pooling (provided library code): strided slices, one per offset inside the window.

For each of the ``HH * WW`` offsets ``(a, b)`` inside the window, ``x[:, :, a::S, b::S]`` (cut
to ``Ho x Wo``) holds that offset of every window at once: the im2col idea for pooling (each
offset is one row of the column matrix) without materialising the columns. Same contracts and
the same first-maximum tie rule as the naive versions in :mod:`cs231n_lib.pooling`.

This module is not a learner exercise. The autograder checks that a learner's naive pooling
does not call it (a point means the function was written).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cs231n_lib._validate import PoolGeometry, check_pool_backward, check_pool_forward


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
    x, g = check_pool_forward(x, pool_param, "max pooling")
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
    dout, (x, _, out), g = check_pool_backward(dout, cache, 3, "max pooling")
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
    x, g = check_pool_forward(x, pool_param, "max pooling")
    out, _ = max_pool_forward_fast(x, pool_param)
    switches = np.empty(out.shape, dtype=np.int64)
    # Visit offsets last-to-first so that the first maximum is written last and wins.
    for k, index in reversed(list(_offsets(g))):
        switches[x[index] == out] = k
    return switches


def avg_pool_forward_fast(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Average pooling with strided slices. Same contract as :func:`avg_pool_forward_naive`;
    ``cache`` is ``(x, pool_param)``."""
    x, g = check_pool_forward(x, pool_param, "average pooling")
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
    dout, (x, _), g = check_pool_backward(dout, cache, 2, "average pooling")
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
    x, g = check_pool_forward(x, pool_param, "L2 pooling")
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
    dout, (x, _, out), g = check_pool_backward(dout, cache, 3, "L2 pooling")
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
