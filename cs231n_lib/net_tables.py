"""What a pattern-built network holds: its per-layer table, a printable description, and the
memory a minibatch needs (the tables behind ``Network.layer_table``, ``describe`` and
``memory_estimate`` of :mod:`cs231n_lib.net_builder`).

Provided code (nothing here is a learner exercise); it reads a network's ``layers``,
``params``, ``input_dim``, ``filter_size`` and ``dtype`` and runs none of its layers.
"""

from __future__ import annotations

from typing import Any

from cs231n_lib import _validate
from cs231n_lib.convnet import _memory_summary

#: Tokens that stand for a two-conv block (their parameters are listed in ``config["keys"]``).
BLOCKS = ("RES", "PLAIN")


def layer_table(net: Any) -> list[dict[str, Any]]:
    """One row per layer: ``layer``, ``out_shape``, ``params`` (weights + biases)."""
    rows = [{"layer": "INPUT", "out_shape": tuple(net.input_dim), "params": 0}]
    for layer in net.layers:
        n = 0
        if layer.weight is not None:
            n = net.params[layer.weight].size + net.params[layer.bias].size
        if layer.kind in BLOCKS:
            n = sum(net.params[key].size for key in layer.config["keys"].values())
        name = layer.kind
        if layer.kind == "CONV":
            f = net.filter_size
            name = f"CONV {f}x{f}/1 pad {layer.config['pad']}"
        elif layer.kind == "POOL":
            name = "POOL 2x2/2"
        elif layer.kind in BLOCKS:
            proj = "Wp" in layer.config["keys"]
            name = f"{layer.kind} 2x(3x3 conv-BN)" + (" +1x1 proj" if proj else "")
        rows.append({"layer": name, "out_shape": layer.out_shape, "params": int(n)})
    return rows

def describe(net) -> str:
    """A printable table of every layer's output shape and parameter count."""
    rows = layer_table(net)
    lines = [f"{'#':>3}  {'layer':<30}{'output':>16}{'params':>12}"]
    for i, row in enumerate(rows):
        shape = " x ".join(str(s) for s in row["out_shape"])
        lines.append(f"{i:>3}  {row['layer']:<30}{shape:>16}{row['params']:>12,}")
    total = sum(r["params"] for r in rows)
    lines.append(f"{'':>3}  {'total':<30}{'':>16}{total:>12,}")
    return "\n".join(lines)


def memory_estimate(net: Any, N: int, include_backward: bool = True) -> dict[str, Any]:
    """Bytes for a minibatch of N images; same rules and keys as
    :meth:`cs231n_lib.convnet.ThreeLayerConvNet.memory_estimate`."""
    N = _validate.positive_int(N, "N")
    shapes: list[tuple[str, tuple[int, ...]]] = [("INPUT", (N, *net.input_dim))]
    prev: tuple[int, ...] = net.input_dim
    f = net.filter_size
    for layer in net.layers:
        if layer.kind == "CONV":
            C, H, W = prev
            shapes.append(("im2col columns", (N, C * f * f, H * W)))
        if layer.kind in BLOCKS:  # two convs: their columns and inner volumes
            C, H, W = prev
            F = layer.out_shape[0]
            shapes += [("im2col columns", (N, C * 9, H * W)), ("conv-BN-ReLU", (N, F, H, W)),
                       ("im2col columns", (N, F * 9, H * W)), ("conv-BN", (N, F, H, W))]
        shapes.append((layer.kind, (N, *layer.out_shape)))
        prev = layer.out_shape
    return _memory_summary(shapes, net.params, net.dtype, include_backward)
