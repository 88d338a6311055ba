"""Rosenblatt's perceptron (1957) and Widrow & Hoff's Adaline (1960).

The perceptron outputs ``y = 1`` if ``w . x + b > 0`` else ``0`` and learns with

    w_i(t+1) = w_i(t) + alpha * (d_j - y_j(t)) * x_{j,i}      (and b += alpha * (d_j - y_j))

one example ``j`` at a time: nothing changes when the prediction is right. On linearly
separable data it stops after finitely many mistakes (Novikoff's convergence theorem); on XOR
it never does, because no line separates {(0,1), (1,0)} from {(0,0), (1,1)}: whatever w and b
are, at least one of the four points is on the wrong side, so every epoch makes a mistake.

Adaline (ADAptive LINear Element) uses the same weights but learns from the *linear* output
``s = w . x + b`` before the threshold: the Widrow-Hoff / LMS rule
``w += alpha * (d - s) * x`` is stochastic gradient descent on the squared error
``(d - s)^2 / 2``. Madaline stacked such units; without backpropagation only the last layer
could be trained by a gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cs231n_lib import _validate

_NOTEBOOK = "notebooks/00_history.ipynb"


@dataclass(frozen=True)
class Milestone:
    """One entry of the history timeline (notebook 00 draws these with matplotlib)."""

    year: int
    who: str
    what: str


#: Milestones of the unit's history section, in order.
TIMELINE: tuple[Milestone, ...] = (
    Milestone(1957, "Rosenblatt", "perceptron: threshold unit, error-driven update rule"),
    Milestone(1959, "Hubel & Wiesel", "simple cells (oriented edges), complex cells pool them"),
    Milestone(1960, "Widrow & Hoff", "Adaline / Madaline, the LMS rule (no backprop)"),
    Milestone(1970, "Linnainmaa", "reverse-mode automatic differentiation"),
    Milestone(1974, "Werbos", "reverse mode applied to training networks"),
    Milestone(1980, "Fukushima", "Neocognitron: alternating simple / complex layers"),
    Milestone(1986, "Rumelhart, Hinton & Williams", "backpropagation popularised"),
    Milestone(1998, "LeCun, Bottou, Bengio & Haffner", "LeNet-5, gradient-trained CNN"),
    Milestone(2006, "Hinton & Salakhutdinov", "layer-wise pretraining / careful initialisation"),
    Milestone(2012, "Krizhevsky, Sutskever & Hinton", "AlexNet wins ImageNet (ILSVRC-2012)"),
)

#: ILSVRC-2012 top-5 test error rates (Krizhevsky et al. 2012, Table 2): the average of five
#: CNNs, the same with extra pre-training data (the winning entry), and the runner-up
#: (a Fisher-vector system).
ILSVRC2012_TOP5_ERROR = {"alexnet_5_cnns": 0.164, "alexnet_7_cnns_pretrained": 0.153,
                         "runner_up": 0.262}


def _weights(w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
    w = _validate.array(w, "w", ndim=1, layout="(D,)")
    if isinstance(b, bool) or not isinstance(b, int | float | np.integer | np.floating):
        raise ValueError(f"b must be a real number, got {b!r}")
    return w, float(b)


def _inputs(X: np.ndarray, D: int) -> np.ndarray:
    X = _validate.array(X, "X", ndim=2, layout="(N, D)")
    if X.shape[1] != D:
        raise ValueError(f"X has {X.shape[1]} features per row but w has {D} weights")
    return X


def _targets(d: np.ndarray, N: int) -> np.ndarray:
    d = _validate.array(d, "d", ndim=1, layout="(N,)")
    if d.shape[0] != N:
        raise ValueError(f"d has {d.shape[0]} targets but X has {N} rows")
    if not np.all((d == 0) | (d == 1)):
        raise ValueError("targets d must be 0 or 1")
    return d


def perceptron_predict(w: np.ndarray, b: float, X: np.ndarray) -> np.ndarray:
    """Threshold unit: ``y = 1`` where ``X @ w + b > 0``, else 0.

    Args:
        w: weights, shape (D,).
        b: bias (a number).
        X: inputs, shape (N, D).

    Returns:
        y: int array of shape (N,) holding 0 and 1.
    """
    w, b = _weights(w, b)
    X = _inputs(X, w.shape[0])
    ### BEGIN SOLUTION
    return (X @ w + b > 0).astype(np.int64)
    ### END SOLUTION


def perceptron_update(
    w: np.ndarray, b: float, x: np.ndarray, d: int, lr: float
) -> tuple[np.ndarray, float]:
    """One step of Rosenblatt's rule on one example.

    ``y = predict(x)``; ``w_i <- w_i + lr * (d - y) * x_i``; ``b <- b + lr * (d - y)``.
    A correct prediction (``d == y``) leaves ``w`` and ``b`` unchanged.

    Args:
        w: weights (D,); not modified (a new array is returned).
        b: bias.
        x: one input, shape (D,).
        d: desired output, 0 or 1.
        lr: learning rate alpha > 0.

    Returns:
        (w_new, b_new): a new float array (D,) and a float.
    """
    w, b = _weights(w, b)
    x = _validate.array(x, "x", ndim=1, layout="(D,)")
    if x.shape != w.shape:
        raise ValueError(f"x has shape {x.shape} but w has shape {w.shape}")
    if d not in (0, 1) or isinstance(d, bool):
        raise ValueError(f"d must be 0 or 1, got {d!r}")
    lr = _validate.positive_real(lr, "lr")
    ### BEGIN SOLUTION
    y = 1 if float(x @ w) + b > 0 else 0
    error = int(d) - y
    dtype = w.dtype if w.dtype.kind == "f" else np.float64
    w_new = (w + (lr * error) * x).astype(dtype)
    return w_new, b + lr * error
    ### END SOLUTION


@dataclass
class TrainingHistory:
    """What happened during :func:`train_perceptron`.

    ``errors[e]`` is the number of mistakes (updates) in epoch ``e``; ``converged`` is True
    once an epoch made none, and ``epochs_to_converge`` counts the epochs up to and including
    that error-free one (None if it never happened within ``max_epochs``).
    """

    errors: list[int] = field(default_factory=list)
    converged: bool = False
    epochs_to_converge: int | None = None

    @property
    def epochs(self) -> int:
        return len(self.errors)


def train_perceptron(
    X: np.ndarray,
    d: np.ndarray,
    lr: float = 1.0,
    max_epochs: int = 100,
    w0: np.ndarray | None = None,
    b0: float = 0.0,
) -> tuple[np.ndarray, float, TrainingHistory]:
    """Cycle through the examples in order, applying :func:`perceptron_update` to each,
    until an epoch makes no mistake or ``max_epochs`` epochs have run.

    Args:
        X: (N, D) inputs; d: (N,) targets in {0, 1}; lr: alpha > 0.
        w0, b0: starting weights (zeros by default) and bias.

    Returns:
        (w, b, history) -- see :class:`TrainingHistory`.
    """
    X = _validate.array(X, "X", ndim=2, layout="(N, D)")
    d = _targets(d, X.shape[0])
    max_epochs = _validate.positive_int(max_epochs, "max_epochs")
    w = np.zeros(X.shape[1]) if w0 is None else np.array(w0, dtype=float)
    w, b = _weights(w, b0)
    history = TrainingHistory()
    for epoch in range(1, max_epochs + 1):
        mistakes = 0
        for x_j, d_j in zip(X, d, strict=True):
            w_new, b_new = perceptron_update(w, b, x_j, int(d_j), lr)
            if b_new != b or not np.array_equal(w_new, w):
                mistakes += 1
            w, b = w_new, b_new
        history.errors.append(mistakes)
        if mistakes == 0:
            history.converged = True
            history.epochs_to_converge = epoch
            break
    return w, b, history


def adaline_train(
    X: np.ndarray, d: np.ndarray, lr: float = 0.01, epochs: int = 50
) -> tuple[np.ndarray, float, list[float]]:
    """Widrow-Hoff LMS on the linear output ``s = w . x + b``, one example at a time.

    ``w <- w + lr * (d - s) * x``, ``b <- b + lr * (d - s)``; after training, classify with
    ``s > 0.5`` for 0/1 targets (or pass targets in {-1, +1} and threshold at 0).

    Args:
        X: (N, D) inputs; d: (N,) real targets; lr: step size (small: LMS diverges if
            ``lr`` exceeds ~2 / (largest eigenvalue of E[x x^T])); epochs: passes over the data.

    Returns:
        (w, b, mse): weights (D,), bias, and the mean squared error ``mean((d - s)^2)`` after
        each epoch.
    """
    X = _validate.array(X, "X", ndim=2, layout="(N, D)").astype(np.float64)
    d = _validate.array(d, "d", ndim=1, layout="(N,)").astype(np.float64)
    if d.shape[0] != X.shape[0]:
        raise ValueError(f"d has {d.shape[0]} targets but X has {X.shape[0]} rows")
    lr = _validate.positive_real(lr, "lr")
    epochs = _validate.positive_int(epochs, "epochs")
    w = np.zeros(X.shape[1])
    b = 0.0
    mse: list[float] = []
    for _ in range(epochs):
        for x_j, d_j in zip(X, d, strict=True):
            err = d_j - (x_j @ w + b)
            w = w + lr * err * x_j
            b = b + lr * err
        mse.append(float(np.mean((d - (X @ w + b)) ** 2)))
    return w, b, mse


def linearly_separable_toy(
    rng: np.random.Generator, n: int = 40, margin: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Two 2-D clouds separated by the line ``x1 + x2 = 0`` with a gap of ``margin``.

    Returns ``X`` (n, 2) float64 and ``d`` (n,) in {0, 1}; ``d = 1`` above the line.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy Generator (np.random.default_rng(seed))")
    n = _validate.positive_int(n, "n")
    margin = _validate.positive_real(margin, "margin")
    d = np.arange(n) % 2
    direction = np.array([1.0, 1.0]) / np.sqrt(2.0)
    along = rng.uniform(-2.0, 2.0, size=n)
    away = rng.uniform(margin, margin + 2.0, size=n) * np.where(d == 1, 1.0, -1.0)
    X = along[:, None] * np.array([1.0, -1.0]) / np.sqrt(2.0) + away[:, None] * direction
    perm = rng.permutation(n)
    return X[perm], d[perm].astype(np.int64)


def xor_toy() -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points: ``d = x1 XOR x2`` -- not linearly separable."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    d = np.array([0, 1, 1, 0])
    return X, d
