"""Fully connected (affine) and ReLU layers, softmax and multiclass SVM losses.

CS231n assignment-2 signatures: a forward returns ``(out, cache)``, a backward takes
``(dout, cache)`` and returns the gradients of the forward's inputs. A loss returns
``(loss, dx)`` where ``dx`` is the gradient of the scalar loss with respect to the scores.

Every layer keeps the floating dtype of its input: float32 in, float32 out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cs231n_lib import _validate

_NOTEBOOK = "notebooks/08_training.ipynb"

__all__ = [
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "softmax_loss",
    "svm_loss",
]


def _floating(x: np.ndarray) -> np.ndarray:
    """Integers become float64; float32 / float64 stay as they are."""
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _check_cache(cache: Any, name: str, length: int) -> tuple:
    if not isinstance(cache, tuple) or len(cache) != length:
        raise ValueError(
            f"{name}: cache must be the tuple of {length} items returned by the forward pass, "
            f"got {type(cache).__name__}"
        )
    return cache


def _check_scores_labels(x: Any, y: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate scores (N, C) and integer labels (N,) with 0 <= y < C."""
    _validate.array(x, "x", ndim=2, layout="(N, C) class scores")
    _validate.array(y, "y", ndim=1, layout="(N,) class labels")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{what}: y must hold integer class labels, got dtype {y.dtype}")
    n, c = x.shape
    if y.shape[0] != n:
        raise ValueError(
            f"{what}: x has N = {n} rows of scores but y has {y.shape[0]} labels; N must match"
        )
    if c < 2:
        raise ValueError(f"{what}: need at least 2 classes (columns of x), got {c}")
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= c:
        bad = low if low < 0 else high
        raise ValueError(
            f"{what}: label {bad} is out of range; labels must satisfy 0 <= y < C = {c}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what}: x holds NaN or infinite scores")
    return _floating(x), y


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Fully connected layer: ``out = x.reshape(N, D) @ w + b``.

    Args:
        x: inputs, shape (N, d_1, ..., d_k); each example is flattened to D = d_1 * ... * d_k
            values (so an (N, C, H, W) volume feeds an FC layer directly).
        w: weights, shape (D, M).
        b: biases, shape (M,).

    Returns:
        out: shape (N, M), the dtype of ``x`` (float64 for integer ``x``).
        cache: ``(x, w, b)`` for :func:`affine_backward`.
    """
    _validate.array(x, "x")
    _validate.array(w, "w", ndim=2, layout="(D, M)")
    _validate.array(b, "b", ndim=1, layout="(M,)")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, d_1, ..., d_k) with k >= 1, got {x.shape}")
    d = int(np.prod(x.shape[1:]))
    if d != w.shape[0]:
        raise ValueError(
            f"affine_forward: each example of x flattens to D = {d} values "
            f"(shape {x.shape[1:]}) but w has {w.shape[0]} rows; w must be (D, M)"
        )
    if b.shape[0] != w.shape[1]:
        raise ValueError(f"affine_forward: b has {b.shape[0]} entries but w has M = {w.shape[1]}")
    ### BEGIN SOLUTION
    xf = _floating(x)
    out = (xf.reshape(x.shape[0], d) @ w + b).astype(xf.dtype, copy=False)
    cache = (x, w, b)
    return out, cache
    ### END SOLUTION


def affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of :func:`affine_forward`.

    Args:
        dout: upstream gradient, shape (N, M).
        cache: ``(x, w, b)`` from the forward pass.

    Returns:
        dx: shape of ``x`` (N, d_1, ..., d_k); dw: (D, M); db: (M,) (summed over the batch).
    """
    x, w, b = _check_cache(cache, "affine_backward", 3)
    _validate.array(dout, "dout", ndim=2, layout="(N, M)")
    if dout.shape != (x.shape[0], w.shape[1]):
        raise ValueError(
            f"affine_backward: dout has shape {dout.shape}, expected (N, M) = "
            f"{(x.shape[0], w.shape[1])}"
        )
    ### BEGIN SOLUTION
    n = x.shape[0]
    x2 = _floating(x).reshape(n, -1)
    dx = (dout @ w.T).reshape(x.shape).astype(x2.dtype, copy=False)
    dw = (x2.T @ dout).astype(w.dtype, copy=False)
    db = dout.sum(axis=0).astype(b.dtype, copy=False)
    return dx, dw, db
    ### END SOLUTION


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rectified linear unit, elementwise ``max(0, x)``.

    Args:
        x: any shape.

    Returns:
        out: same shape and dtype as ``x``; cache: ``x``.
    """
    _validate.array(x, "x")
    ### BEGIN SOLUTION
    xf = _floating(x)
    out = np.maximum(xf, 0)
    return out, x
    ### END SOLUTION


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward of :func:`relu_forward`: pass ``dout`` where ``x > 0``, zero elsewhere.

    At ``x == 0`` exactly the (sub)gradient is taken to be 0.

    Args:
        dout: upstream gradient, shape of ``x``.
        cache: ``x`` from the forward pass.

    Returns:
        dx: shape of ``x``.
    """
    _validate.array(dout, "dout")
    if not isinstance(cache, np.ndarray):
        raise ValueError("relu_backward: cache must be the array x returned by relu_forward")
    _validate.same_shape(dout, cache, "dout", "x (the cache)")
    ### BEGIN SOLUTION
    dx = np.where(cache > 0, dout, 0).astype(_floating(dout).dtype, copy=False)
    return dx
    ### END SOLUTION


def softmax_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of the softmax of the scores.

    ``loss = -(1/N) * sum_i log(exp(x[i, y_i]) / sum_j exp(x[i, j]))``, computed with the
    log-sum-exp shift (subtract each row's maximum) so large scores do not overflow.

    Args:
        x: scores, shape (N, C).
        y: integer labels, shape (N,), with 0 <= y[i] < C.

    Returns:
        loss: a Python float (nats).
        dx: gradient of ``loss`` with respect to ``x``, shape (N, C), dtype of ``x``.
    """
    x, y = _check_scores_labels(x, y, "softmax_loss")
    ### BEGIN SOLUTION
    n = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_z
    rows = np.arange(n)
    loss = float(-log_probs[rows, y].mean())
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    dx /= n
    return loss, dx.astype(x.dtype, copy=False)
    ### END SOLUTION


def svm_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean multiclass SVM (hinge) loss with margin 1.

    ``loss = (1/N) * sum_i sum_{j != y_i} max(0, x[i, j] - x[i, y_i] + 1)``.

    Args:
        x: scores, shape (N, C).
        y: integer labels, shape (N,), with 0 <= y[i] < C.

    Returns:
        loss: a Python float; dx: gradient with respect to ``x``, shape (N, C). At a margin of
        exactly 0 the (sub)gradient is taken to be 0.
    """
    x, y = _check_scores_labels(x, y, "svm_loss")
    n = x.shape[0]
    rows = np.arange(n)
    margins = x - x[rows, y][:, None] + 1
    margins[rows, y] = 0
    active = margins > 0
    loss = float(np.where(active, margins, 0).sum() / n)
    dx = active.astype(x.dtype)
    dx[rows, y] = -active.sum(axis=1)
    dx /= n
    return loss, dx
