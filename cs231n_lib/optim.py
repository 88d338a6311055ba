"""First-order update rules with the CS231n signature ``update(w, dw, config) -> (next_w, config)``.

``w`` is a parameter array, ``dw`` the gradient of the loss with respect to it (same shape),
and ``config`` a dict of hyperparameters plus any state the rule carries between steps (a
velocity, Adam's moment estimates). Pass the returned ``config`` back in on the next step;
:class:`cs231n_lib.solver.Solver` does this for every parameter. Missing hyperparameters take
the defaults listed in each docstring. The input ``config`` is not modified.

Every rule keeps the dtype of ``w``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cs231n_lib import _validate

__all__ = ["sgd", "sgd_momentum", "adam", "UPDATE_RULES"]


def _prepare(
    w: Any, dw: Any, config: Any, defaults: dict[str, Any], what: str
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    _validate.array(w, "w")
    _validate.array(dw, "dw")
    _validate.same_shape(w, dw, "w", "dw")
    if w.dtype.kind != "f":
        raise ValueError(f"{what}: w must be a floating-point array, got dtype {w.dtype}")
    cfg = _validate.params({} if config is None else config, "config", (), defaults)
    lr = _validate.positive_real(cfg["learning_rate"], "learning_rate")
    cfg["learning_rate"] = lr
    return w, dw, cfg


def _state(cfg: dict[str, Any], key: str, w: np.ndarray) -> np.ndarray:
    value = cfg.get(key)
    if value is None:
        return np.zeros_like(w)
    if not isinstance(value, np.ndarray) or value.shape != w.shape:
        raise ValueError(f"config[{key!r}] must be an array of shape {w.shape} (the state of w)")
    return value


def sgd(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Vanilla stochastic gradient descent: ``w - learning_rate * dw``.

    config: ``learning_rate`` (default 1e-2).
    """
    w, dw, cfg = _prepare(w, dw, config, {"learning_rate": 1e-2}, "sgd")
    next_w = (w - cfg["learning_rate"] * dw).astype(w.dtype, copy=False)
    return next_w, cfg


def sgd_momentum(
    w: np.ndarray, dw: np.ndarray, config: dict | None = None
) -> tuple[np.ndarray, dict]:
    """SGD with momentum: ``v = momentum * v - learning_rate * dw``; ``w + v``.

    config: ``learning_rate`` (1e-2), ``momentum`` (0.9, in [0, 1)), ``velocity`` (state,
    zeros at the first step).
    """
    defaults = {"learning_rate": 1e-2, "momentum": 0.9, "velocity": None}
    w, dw, cfg = _prepare(w, dw, config, defaults, "sgd_momentum")
    mu = float(cfg["momentum"])
    if not 0 <= mu < 1:
        raise ValueError(f"momentum must satisfy 0 <= momentum < 1, got {mu}")
    v = _state(cfg, "velocity", w)
    v = (mu * v - cfg["learning_rate"] * dw).astype(w.dtype, copy=False)
    cfg["velocity"] = v
    return (w + v).astype(w.dtype, copy=False), cfg


def adam(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Adam (Kingma & Ba, 2015) with bias-corrected first and second moments.

    At step t (counting from 1)::

        m = beta1 * m + (1 - beta1) * dw
        v = beta2 * v + (1 - beta2) * dw**2
        w = w - learning_rate * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + epsilon)

    config: ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon`` (1e-8),
    and the state ``m``, ``v`` (zeros at first) and ``t`` (0 before the first step).
    """
    defaults = {
        "learning_rate": 1e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "m": None,
        "v": None,
        "t": 0,
    }
    w, dw, cfg = _prepare(w, dw, config, defaults, "adam")
    b1, b2 = float(cfg["beta1"]), float(cfg["beta2"])
    for name, beta in (("beta1", b1), ("beta2", b2)):
        if not 0 <= beta < 1:
            raise ValueError(f"{name} must satisfy 0 <= {name} < 1, got {beta}")
    eps = _validate.positive_real(cfg["epsilon"], "epsilon")
    t = _validate.nonnegative_int(cfg["t"], "t") + 1
    m = (b1 * _state(cfg, "m", w) + (1 - b1) * dw).astype(w.dtype, copy=False)
    v = (b2 * _state(cfg, "v", w) + (1 - b2) * dw * dw).astype(w.dtype, copy=False)
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    next_w = (w - cfg["learning_rate"] * m_hat / (np.sqrt(v_hat) + eps)).astype(
        w.dtype, copy=False
    )
    cfg.update(m=m, v=v, t=t)
    return next_w, cfg


#: Update rules by name, as the Solver's ``update_rule`` accepts them.
UPDATE_RULES: dict[str, Callable[..., tuple[np.ndarray, dict]]] = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "adam": adam,
}
