"""A three-layer convolutional network with the CS231n model API.

Architecture::

    conv (F filters HH x HH, stride 1, "same" zero padding) - relu - 2x2 max pool (stride 2)
    - affine (hidden_dim) - relu - affine (num_classes) - softmax

The model keeps its weights in ``self.params`` and computes scores, the loss and the
gradients in ``loss(X, y=None)``, so :class:`cs231n_lib.solver.Solver` can train it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cs231n_lib import _validate
from cs231n_lib.layer_utils import (
    affine_relu_backward,
    affine_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)
from cs231n_lib.layers import affine_backward, affine_forward, softmax_loss

_NOTEBOOK = "notebooks/08_training.ipynb"

__all__ = ["ThreeLayerConvNet", "check_dtype", "check_input_dim"]


def check_dtype(dtype: Any) -> np.dtype:
    """Return ``np.dtype(dtype)`` if it is float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def check_input_dim(input_dim: Any) -> tuple[int, int, int]:
    """Return ``input_dim`` as a (C, H, W) tuple of positive ints."""
    if not isinstance(input_dim, tuple | list) or len(input_dim) != 3:
        raise ValueError(f"input_dim must be a (C, H, W) tuple, got {input_dim!r}")
    names = ("C", "H", "W")
    c, h, w = (_validate.positive_int(v, n) for v, n in zip(input_dim, names, strict=True))
    return c, h, w


def check_batch(X: Any, input_dim: tuple[int, int, int], y: Any = None, num_classes: int = 0):
    """Validate a minibatch ``X`` (N, C, H, W) and optional labels ``y`` (N,)."""
    _validate.array(X, "X", ndim=4, layout="(N, C, H, W)")
    if X.shape[1:] != tuple(input_dim):
        raise ValueError(
            f"X has images of shape {X.shape[1:]} but the network was built for "
            f"input_dim = {tuple(input_dim)} (C, H, W)"
        )
    if y is not None:
        _validate.array(y, "y", ndim=1, layout="(N,) labels")
        if y.dtype.kind not in "iu":
            raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has N = {X.shape[0]} images but y has {y.shape[0]} labels")
        if y.min() < 0 or y.max() >= num_classes:
            raise ValueError(
                f"labels must satisfy 0 <= y < num_classes = {num_classes}, "
                f"got values in [{y.min()}, {y.max()}]"
            )


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax.

    Args:
        input_dim: (C, H, W) of one image; H and W must be even (2x2 pooling, stride 2).
        num_filters: F, filters in the convolutional layer.
        filter_size: HH = WW, odd, so that padding (HH - 1)/2 keeps H x W ("same").
        hidden_dim: units of the hidden affine layer.
        num_classes: C_out, scores per image.
        weight_scale: standard deviation of the Gaussian initial weights (biases start at 0).
        reg: L2 regularisation strength; the loss adds ``0.5 * reg * sum(W**2)`` over W1-W3.
        dtype: float32 (fast) or float64 (for gradient checks).
        seed: seed of the weight initialisation (None: nondeterministic).

    Attributes:
        params: ``W1`` (F, C, HH, HH), ``b1`` (F,), ``W2`` (F * H/2 * W/2, hidden_dim),
            ``b2`` (hidden_dim,), ``W3`` (hidden_dim, num_classes), ``b3`` (num_classes,).
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (3, 32, 32),
        num_filters: int = 32,
        filter_size: int = 7,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        C, H, W = check_input_dim(input_dim)
        F = _validate.positive_int(num_filters, "num_filters")
        HH = _validate.positive_int(filter_size, "filter_size")
        hidden = _validate.positive_int(hidden_dim, "hidden_dim")
        classes = _validate.positive_int(num_classes, "num_classes")
        if classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {classes}")
        if HH % 2 == 0:
            raise ValueError(
                f"filter_size must be odd so that pad = (filter_size - 1)/2 = {(HH - 1) / 2} "
                f"is a whole number and the convolution keeps H x W; got {HH}"
            )
        for size, axis in ((H, "H"), (W, "W")):
            _validate.output_length(
                size, 2, 2, what=f"2x2 max pooling with stride 2 needs an even {axis}", axis=axis
            )
        self.weight_scale = _validate.positive_real(weight_scale, "weight_scale")
        self.reg = float(reg)
        if not np.isfinite(self.reg) or self.reg < 0:
            raise ValueError(f"reg must be a finite number >= 0, got {reg}")
        self.dtype = check_dtype(dtype)
        self.input_dim = (C, H, W)
        self.num_filters, self.filter_size = F, HH
        self.hidden_dim, self.num_classes = hidden, classes
        self.conv_param = {"stride": 1, "pad": (HH - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

        rng = np.random.default_rng(seed)
        s = self.weight_scale
        pooled = F * (H // 2) * (W // 2)
        self.params: dict[str, np.ndarray] = {
            "W1": s * rng.standard_normal((F, C, HH, HH)),
            "b1": np.zeros(F),
            "W2": s * rng.standard_normal((pooled, hidden)),
            "b2": np.zeros(hidden),
            "W3": s * rng.standard_normal((hidden, classes)),
            "b3": np.zeros(classes),
        }
        for k, v in self.params.items():
            self.params[k] = v.astype(self.dtype)

    def loss(
        self, X: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores, or loss and gradients, for a minibatch.

        Args:
            X: images, shape (N, C, H, W) matching ``input_dim``; cast to the model's dtype.
            y: integer labels (N,) with 0 <= y < num_classes, or None.

        Returns:
            If ``y`` is None: scores, shape (N, num_classes).
            Otherwise ``(loss, grads)``: the softmax loss (mean over the batch) plus
            ``0.5 * reg * (||W1||^2 + ||W2||^2 + ||W3||^2)``, and ``grads`` with one array per
            key of ``params``, same shapes.
        """
        check_batch(X, self.input_dim, y, self.num_classes)
        X = X.astype(self.dtype, copy=False)
        ### BEGIN SOLUTION
        p = self.params
        h1, cache1 = conv_relu_pool_forward(X, p["W1"], p["b1"], self.conv_param, self.pool_param)
        h2, cache2 = affine_relu_forward(h1, p["W2"], p["b2"])
        scores, cache3 = affine_forward(h2, p["W3"], p["b3"])
        if y is None:
            return scores

        data_loss, dscores = softmax_loss(scores, y)
        reg = self.reg
        reg_loss = 0.5 * reg * sum(float(np.sum(p[k] * p[k])) for k in ("W1", "W2", "W3"))
        grads: dict[str, np.ndarray] = {}
        dh2, grads["W3"], grads["b3"] = affine_backward(dscores, cache3)
        dh1, grads["W2"], grads["b2"] = affine_relu_backward(dh2, cache2)
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dh1, cache1)
        for k in ("W1", "W2", "W3"):
            grads[k] = grads[k] + reg * p[k]
        return data_loss + reg_loss, grads
        ### END SOLUTION

    def memory_estimate(self, N: int, include_backward: bool = True) -> dict[str, Any]:
        """Bytes this network needs for a minibatch of N images (a lower bound).

        Counts the arrays a forward pass keeps for the backward (every layer's output plus
        the im2col columns of the fast convolution, (N, C * HH * WW, H * W)), doubled for
        their gradients when ``include_backward``, and the parameters times 3 (values,
        gradients and one optimizer cache, the notes' rule; Adam keeps two caches, so 4).
        The interpreter, NumPy's temporaries and the data set itself come on top.

        Returns:
            dict with ``layers`` (list of ``(name, shape, values)``), ``activations`` (values),
            ``params`` (values), ``bytes_per_value`` (4 or 8), ``activation_bytes``,
            ``param_bytes`` and ``total_bytes``.
        """
        N = _validate.positive_int(N, "N")
        C, H, W = self.input_dim
        F, HH = self.num_filters, self.filter_size
        layers = [
            ("input", (N, C, H, W)),
            ("im2col columns", (N, C * HH * HH, H * W)),
            ("conv", (N, F, H, W)),
            ("relu", (N, F, H, W)),
            ("pool", (N, F, H // 2, W // 2)),
            ("affine", (N, self.hidden_dim)),
            ("relu", (N, self.hidden_dim)),
            ("scores", (N, self.num_classes)),
        ]
        return _memory_summary(layers, self.params, self.dtype, include_backward)


def _memory_summary(
    layers: list[tuple[str, tuple[int, ...]]],
    params: dict[str, np.ndarray],
    dtype: np.dtype,
    include_backward: bool,
) -> dict[str, Any]:
    """Shared by ThreeLayerConvNet and the builder's Network."""
    rows = [(name, shape, int(np.prod(shape))) for name, shape in layers]
    activations = sum(r[2] for r in rows)
    n_params = sum(int(v.size) for v in params.values())
    itemsize = np.dtype(dtype).itemsize
    act_bytes = activations * itemsize * (2 if include_backward else 1)
    param_bytes = n_params * itemsize * (3 if include_backward else 1)
    return {
        "layers": rows,
        "activations": activations,
        "params": n_params,
        "bytes_per_value": itemsize,
        "activation_bytes": act_bytes,
        "param_bytes": param_bytes,
        "total_bytes": act_bytes + param_bytes,
    }
