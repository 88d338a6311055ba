"""Turn an architecture pattern string into a trainable network.

The notes' recipe ``INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC`` is
written as a string, expanded by :func:`cs231n_lib.patterns.parse_pattern`, and built
layer by layer:

- ``CONV``: ``filter_size`` x ``filter_size`` convolution (3x3 by default), stride 1,
  "same" zero padding P = (F - 1)/2, so H x W is kept;
- ``RELU``: elementwise max(0, x);
- ``POOL``: 2x2 max pooling with stride 2, halving H and W (they must be even);
- ``FC``: affine layer on the flattened input; the last FC gives ``num_classes`` scores;
- ``BN``: spatial batch norm after a CONV (:mod:`cs231n_lib.batchnorm`), ``gamma``/``beta``
  per channel; training mode when ``loss`` gets labels, test mode (running averages) otherwise;
- ``RES``: a residual basic block (:mod:`cs231n_lib.residual`): two 3x3 conv-BN layers plus
  the identity, or a 1x1 projection when the depth changes, then ReLU; stride 1;
- ``PLAIN``: the same two conv-BN-ReLU layers without the shortcut (its plain twin);
- ``GAP``: global average pooling, ``(C, H, W) -> (C,)`` (:mod:`cs231n_lib.global_pool`);
- a final ``SOFTMAX`` token may be written; the loss is always the softmax loss.

``num_filters`` gives the depth of every CONV, RES and PLAIN layer, in order.

The result has the CS231n model API (``params``, ``loss(X, y=None)``), so
:class:`cs231n_lib.solver.Solver` trains it exactly like ``ThreeLayerConvNet``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cs231n_lib import _validate, net_tables
from cs231n_lib.batchnorm import spatial_batchnorm_backward, spatial_batchnorm_forward
from cs231n_lib.conv_fast import conv_backward_fast, conv_forward_fast
from cs231n_lib.convnet import check_batch, check_dtype, check_input_dim
from cs231n_lib.global_pool import global_avg_pool_backward, global_avg_pool_forward
from cs231n_lib.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)
from cs231n_lib.net_tables import BLOCKS as _BLOCKS
from cs231n_lib.patterns import KNOWN_TOKENS, parse_pattern
from cs231n_lib.pooling_fast import max_pool_backward_fast, max_pool_forward_fast
from cs231n_lib.residual import (
    init_residual_block,
    residual_block_backward,
    residual_block_forward,
)

__all__ = ["Layer", "Network", "build_network"]

_POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
_SUPPORTED = ("INPUT", "CONV", "RELU", "POOL", "FC", "SOFTMAX", "BN", "RES", "PLAIN", "GAP")


@dataclass
class Layer:
    """One built layer: its token, output shape (C, H, W) or (D,), and parameter names.

    For BN, ``weight`` / ``bias`` name gamma / beta and ``config`` is the ``bn_param``; for
    RES / PLAIN, ``config['keys']`` maps the block's parameter names to the network's.
    """

    kind: str
    out_shape: tuple[int, ...]
    weight: str | None = None
    bias: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


def _per_layer(value: Any, count: int, name: str, what: str) -> list[int]:
    """An int for every layer, from one int or a sequence of ``count`` ints."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != count:
            raise ValueError(
                f"{name} lists {len(value)} values but the pattern has {count} {what}"
            )
        return [_validate.positive_int(v, name) for v in value]
    return [_validate.positive_int(value, name)] * count


class Network:
    """A feed-forward ConvNet built from a pattern; see :func:`build_network`.

    Attributes:
        params: ``W1``, ``b1``, ``W2``, ... numbered in order over the CONV and FC layers.
        layers: the :class:`Layer` list (the INPUT is not a layer).
        tokens: the expanded pattern.
    """

    def __init__(
        self,
        tokens: list[str],
        input_dim: tuple[int, int, int],
        num_classes: int,
        num_filters: int | Sequence[int],
        filter_size: int,
        hidden_dim: int | Sequence[int],
        weight_scale: float | None,
        reg: float,
        dtype: Any,
        seed: int | None,
    ) -> None:
        self.tokens = list(tokens)
        self.input_dim = input_dim
        self.num_classes = num_classes
        self.reg = reg
        self.dtype = dtype
        self.filter_size = filter_size
        rng = np.random.default_rng(seed)
        body = [t for t in tokens[1:] if t != "SOFTMAX"]
        n_conv = sum(t in ("CONV", *_BLOCKS) for t in body)
        n_fc = body.count("FC")
        what = "CONV layers" if not set(_BLOCKS) & set(body) else "CONV, RES and PLAIN layers"
        filters = iter(_per_layer(num_filters, n_conv, "num_filters", what))
        hidden = iter(_per_layer(hidden_dim, n_fc - 1, "hidden_dim", "hidden FC layers"))

        self.params: dict[str, np.ndarray] = {}
        self.layers: list[Layer] = []
        self._weights: set[str] = set()  # keys under L2 regularisation
        shape: tuple[int, ...] = input_dim
        fc_seen = 0
        k = 0  # number of the layer with parameters
        for pos, kind in enumerate(body, start=1):
            where = f"layer {pos} ({kind})"
            if kind in ("CONV", "BN", "POOL", "GAP", *_BLOCKS) and len(shape) != 3:
                raise ValueError(
                    f"{where}: a {kind} cannot follow an FC or GAP layer, whose output is a vector"
                )
            if kind == "CONV":
                C, H, W = shape
                F = next(filters)
                k += 1
                self._weights.add(f"W{k}")
                fan_in = C * filter_size * filter_size
                scale = np.sqrt(2.0 / fan_in) if weight_scale is None else weight_scale
                self.params[f"W{k}"] = scale * rng.standard_normal(
                    (F, C, filter_size, filter_size)
                )
                self.params[f"b{k}"] = np.zeros(F)
                pad = (filter_size - 1) // 2
                self.layers.append(
                    Layer(kind, (F, H, W), f"W{k}", f"b{k}", {"stride": 1, "pad": pad})
                )
                shape = (F, H, W)
            elif kind == "BN":
                k += 1
                C = shape[0]
                self.params[f"gamma{k}"] = np.ones(C)
                self.params[f"beta{k}"] = np.zeros(C)
                self.layers.append(Layer(kind, shape, f"gamma{k}", f"beta{k}",
                                         {"mode": "train", "momentum": 0.9, "eps": 1e-5}))
            elif kind in _BLOCKS:
                C, H, W = shape
                F = next(filters)
                k += 1
                block, bn_params = init_residual_block(C, F, skip=kind == "RES", rng=rng)
                keys = {name: f"{kind.lower()}{k}_{name}" for name in block}
                for name, value in block.items():
                    self.params[keys[name]] = value
                    if name.startswith("W"):
                        self._weights.add(keys[name])
                shape = (F, H, W)
                self.layers.append(Layer(kind, shape, config={"keys": keys, "bn": bn_params}))
            elif kind == "GAP":
                shape = (shape[0],)
                self.layers.append(Layer(kind, shape))
            elif kind == "POOL":
                C, H, W = shape
                if H < 2 or W < 2:
                    raise ValueError(
                        f"{where}: 2x2 pooling of a {H}x{W} map would shrink it below 1 pixel; "
                        "use fewer POOL layers or a larger input"
                    )
                what = f"{where}: 2x2 pooling with stride 2 of a {H}x{W} map"
                shape = (
                    C,
                    _validate.output_length(H, 2, 2, what=what, axis="height"),
                    _validate.output_length(W, 2, 2, what=what, axis="width"),
                )
                self.layers.append(Layer(kind, shape, config=dict(_POOL)))
            elif kind == "RELU":
                self.layers.append(Layer(kind, shape))
            elif kind == "FC":
                fc_seen += 1
                D = int(np.prod(shape))
                M = num_classes if fc_seen == n_fc else next(hidden)
                k += 1
                self._weights.add(f"W{k}")
                scale = np.sqrt(2.0 / D) if weight_scale is None else weight_scale
                self.params[f"W{k}"] = scale * rng.standard_normal((D, M))
                self.params[f"b{k}"] = np.zeros(M)
                shape = (M,)
                self.layers.append(Layer(kind, shape, f"W{k}", f"b{k}"))
        for key, value in self.params.items():
            self.params[key] = value.astype(dtype)

    def loss(
        self, X: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores (N, num_classes) if ``y`` is None, else ``(loss, grads)``.

        ``loss`` is the mean softmax loss plus ``0.5 * reg * sum(W**2)`` over every weight
        (not the biases); ``grads`` has one array per key of ``params``.

        Args:
            X: images (N, C, H, W) matching ``input_dim``; cast to the network's dtype.
            y: integer labels (N,) in 0..num_classes - 1, or None.
        """
        check_batch(X, self.input_dim, y, self.num_classes)
        out = X.astype(self.dtype, copy=False)
        p = self.params
        mode = "test" if y is None else "train"
        caches = []
        for layer in self.layers:
            if layer.kind == "CONV":
                out, cache = conv_forward_fast(out, p[layer.weight], p[layer.bias], layer.config)
            elif layer.kind == "BN":
                layer.config["mode"] = mode
                out, cache = spatial_batchnorm_forward(out, p[layer.weight], p[layer.bias],
                                                       layer.config)
            elif layer.kind in _BLOCKS:
                keys, bn = layer.config["keys"], layer.config["bn"]
                for bn_param in bn.values():
                    bn_param["mode"] = mode
                block = {name: p[key] for name, key in keys.items()}
                out, cache = residual_block_forward(out, block, bn, skip=layer.kind == "RES")
            elif layer.kind == "GAP":
                out, cache = global_avg_pool_forward(out)
            elif layer.kind == "RELU":
                out, cache = relu_forward(out)
            elif layer.kind == "POOL":
                out, cache = max_pool_forward_fast(out, layer.config)
            else:
                out, cache = affine_forward(out, p[layer.weight], p[layer.bias])
            caches.append(cache)
        if y is None:
            return out

        loss, dout = softmax_loss(out, y)
        grads: dict[str, np.ndarray] = {}
        for layer, cache in zip(reversed(self.layers), reversed(caches), strict=True):
            if layer.kind == "CONV":
                dout, grads[layer.weight], grads[layer.bias] = conv_backward_fast(dout, cache)
            elif layer.kind == "BN":
                dout, grads[layer.weight], grads[layer.bias] = spatial_batchnorm_backward(
                    dout, cache)
            elif layer.kind in _BLOCKS:
                dout, block_grads = residual_block_backward(dout, cache)
                for name, key in layer.config["keys"].items():
                    grads[key] = block_grads[name]
            elif layer.kind == "GAP":
                dout = global_avg_pool_backward(dout, cache)
            elif layer.kind == "RELU":
                dout = relu_backward(dout, cache)
            elif layer.kind == "POOL":
                dout = max_pool_backward_fast(dout, cache)
            else:
                dout, grads[layer.weight], grads[layer.bias] = affine_backward(dout, cache)
        for key in p:
            if key in self._weights:
                loss += 0.5 * self.reg * float(np.sum(p[key] * p[key]))
                grads[key] = grads[key] + self.reg * p[key]
        return loss, grads

    def layer_table(self) -> list[dict[str, Any]]:
        """One row per layer: ``layer``, ``out_shape``, ``params`` (weights + biases)."""
        return net_tables.layer_table(self)

    def describe(self) -> str:
        """A printable table of every layer's output shape and parameter count."""
        return net_tables.describe(self)

    def __repr__(self) -> str:
        return f"Network({' -> '.join(self.tokens)})"

    def memory_estimate(self, N: int, include_backward: bool = True) -> dict[str, Any]:
        """Bytes for a minibatch of N images; same rules and keys as
        :meth:`cs231n_lib.convnet.ThreeLayerConvNet.memory_estimate`."""
        return net_tables.memory_estimate(self, N, include_backward)


def build_network(
    pattern: str,
    input_dim: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    num_filters: int | Sequence[int] = 16,
    filter_size: int = 3,
    hidden_dim: int | Sequence[int] = 100,
    weight_scale: float | None = None,
    reg: float = 0.0,
    dtype: Any = np.float32,
    seed: int | None = None,
    counts: Mapping[str, int] | None = None,
) -> Network:
    """Build a trainable network from a pattern such as
    ``'INPUT -> [[CONV -> RELU]*2 -> POOL]*3 -> [FC -> RELU]*2 -> FC'``.

    Args:
        pattern: layers separated by ``->``; ``[...]*n`` repeats (see
            :func:`cs231n_lib.patterns.parse_pattern`). Must start with INPUT and end with
            FC (optionally followed by SOFTMAX).
        input_dim: (C, H, W) of one image.
        num_classes: outputs of the last FC.
        num_filters: filters of every CONV / RES / PLAIN, or one value per such layer in order.
        filter_size: odd F of the F x F "same" convolutions (3 by default).
        hidden_dim: outputs of every FC but the last, or one value per such FC.
        weight_scale: standard deviation of the Gaussian initial weights; None (default)
            uses He initialisation, sqrt(2 / fan_in) per layer, which keeps deep ReLU stacks
            trainable. Biases start at 0.
        reg: L2 strength (loss adds 0.5 * reg * sum of squared weights).
        dtype: float32 or float64.
        seed: seed of the initialisation.
        counts: values for named repeat counts in the pattern (``*N``).

    Raises:
        ValueError: an unknown or unsupported token, a pattern that does not start with INPUT
            or end with FC, a POOL that would shrink a map below 1 pixel or does not tile it,
            a CONV, BN, POOL, GAP, RES or PLAIN after an FC or GAP.
    """
    if not isinstance(pattern, str):
        raise ValueError(f"pattern must be a string, got {type(pattern).__name__}")
    tokens = parse_pattern(pattern, counts, known=KNOWN_TOKENS | {"RES", "PLAIN", "GAP"})
    unsupported = sorted({t for t in tokens if t not in _SUPPORTED})
    if unsupported:
        raise ValueError(
            f"the builder supports only {list(_SUPPORTED)}; the pattern uses {unsupported}"
        )
    if not tokens or tokens[0] != "INPUT":
        raise ValueError(f"the pattern must start with INPUT, got {' -> '.join(tokens[:3])} ...")
    if "INPUT" in tokens[1:]:
        raise ValueError("INPUT may appear only once, at the start of the pattern")
    body = tokens[:-1] if tokens[-1] == "SOFTMAX" else tokens
    if "SOFTMAX" in body:
        raise ValueError("SOFTMAX may appear only at the end of the pattern")
    if body[-1] != "FC":
        raise ValueError(
            f"the pattern must end with FC (the class scores), but it ends with {body[-1]}"
        )
    input_dim = check_input_dim(input_dim)
    num_classes = _validate.positive_int(num_classes, "num_classes")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    filter_size = _validate.positive_int(filter_size, "filter_size")
    if filter_size % 2 == 0:
        raise ValueError(
            f"filter_size must be odd so that a 'same' convolution pads (F - 1)/2 = "
            f"{(filter_size - 1) / 2} pixels, a whole number; got {filter_size}"
        )
    if weight_scale is not None:
        weight_scale = _validate.positive_real(weight_scale, "weight_scale")
    reg = float(reg)
    if not np.isfinite(reg) or reg < 0:
        raise ValueError(f"reg must be a finite number >= 0, got {reg}")
    return Network(
        tokens,
        input_dim,
        num_classes,
        num_filters,
        filter_size,
        hidden_dim,
        weight_scale,
        reg,
        check_dtype(dtype),
        seed,
    )
