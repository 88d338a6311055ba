"""Numeric gradients by centred differences, for checking every backward pass.

All helpers perturb ``x`` in place and restore it, so ``f`` must read ``x`` afresh on each
call (closures over the array do). Use float64: in float32 the rounding error of a centred
difference with h = 1e-5 swamps the signal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cs231n_lib import _validate

#: Relative error below which an analytic gradient is taken to match a numeric one (float64).
GRAD_REL_TOL = 1e-6


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """Largest elementwise relative error max |x - y| / max(1e-8, |x| + |y|)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _centred_differences(
    x: np.ndarray,
    h: float,
    evaluate: Callable[[np.ndarray], np.ndarray],
    combine: Callable[[np.ndarray, np.ndarray], float],
) -> np.ndarray:
    """Perturb each entry of ``x`` by ±h; ``combine(f(x+h), f(x-h))`` gives its derivative.

    The difference is taken *before* any reduction: subtracting two large sums instead
    would cancel away the digits a small gradient entry lives in.
    """
    _validate.array(x, "x")
    h = _validate.positive_real(h, "h")
    if x.dtype.kind != "f":
        raise ValueError(f"x must be a floating-point array to perturb, got dtype {x.dtype}")
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.array(evaluate(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        neg = np.array(evaluate(x), dtype=np.float64, copy=True)
        x[ix] = old
        grad[ix] = combine(pos, neg) / (2 * h)
        it.iternext()
    return grad


def eval_numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of a scalar function ``f`` at ``x`` (same shape as ``x``)."""
    return _centred_differences(x, h, f, lambda pos, neg: float(pos - neg))


def eval_numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of ``sum(f(x) * df)`` at ``x``: the backward of an array function.

    Args:
        f: maps ``x`` to an output array of the same shape as ``df``.
        x: input, any shape, floating point (perturbed in place and restored).
        df: upstream gradient, shape of ``f(x)``.
    """
    _validate.array(df, "df")

    def combine(pos: np.ndarray, neg: np.ndarray) -> float:
        if pos.shape != df.shape:
            raise ValueError(f"f(x) has shape {pos.shape} but df has shape {df.shape}")
        return float(np.sum((pos - neg) * df))

    return _centred_differences(x, h, f, combine)


def layer_gradient_errors(
    forward: Callable[..., tuple[np.ndarray, object]],
    backward: Callable[[np.ndarray, object], tuple[np.ndarray, ...]],
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    param: dict,
    dout: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Check a ``(x, w, b, param)`` layer: ``rel_error`` of each of ``backward``'s
    ``(dx, dw, db)`` against the numeric gradient of ``forward`` (float64 inputs).

    Args:
        forward: ``forward(x, w, b, param) -> (out, cache)``.
        backward: ``backward(dout, cache) -> (dx, dw, db)``.
        dout: upstream gradient, shape of ``out`` (standard normal from ``seed`` if None).

    Returns:
        ``{"dx": err, "dw": err, "db": err}``; each should be below :data:`GRAD_REL_TOL`.
    """
    out, cache = forward(x, w, b, param)
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(out.shape)
    grads = backward(dout, cache)
    numeric = {
        "dx": eval_numerical_gradient_array(lambda v: forward(v, w, b, param)[0], x, dout),
        "dw": eval_numerical_gradient_array(lambda v: forward(x, v, b, param)[0], w, dout),
        "db": eval_numerical_gradient_array(lambda v: forward(x, w, v, param)[0], b, dout),
    }
    return {k: rel_error(g, numeric[k]) for k, g in zip(("dx", "dw", "db"), grads, strict=True)}
