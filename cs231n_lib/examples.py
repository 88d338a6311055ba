"""The notes' small worked examples as layer lists, and the parameter-sharing comparison.

The CIFAR-10 pipeline of notebook 01, the animated conv demo of notebook 03, the three-conv
stack of the memory example (notebook 07), and a conv layer's parameters with and without
sharing (notebook 03). Layers are those of :mod:`cs231n_lib.layer_specs`; run
:func:`cs231n_lib.analysis.analyze` (or ``architectures.table``) on a list for its table.
"""

from __future__ import annotations

from dataclasses import dataclass

from cs231n_lib import _validate
from cs231n_lib.layer_specs import FC, Conv, Input, Net, Pool, ReLU
from cs231n_lib.param_counts import conv_params, unshared_params


def cifar_pipeline() -> Net:
    """The notes' CIFAR-10 example: INPUT [32x32x3] -> CONV 12 filters 3x3 'same' ->
    RELU -> POOL 2x2 -> FC 10. CONV and FC have parameters; CONV, POOL (and FC's size K) have
    hyperparameters; RELU has neither."""
    return [
        ("INPUT", Input(32, 32, 3)),
        ("CONV", Conv(12, 3, P=1)),
        ("RELU", ReLU()),
        ("POOL", Pool(2, 2)),
        ("FC", FC(10)),
    ]


def conv_demo() -> Net:
    """The notes' animated demo: 5x5x3 input, K=2 filters 3x3, S=2, P=1 -> 3x3x2."""
    return [("input", Input(5, 5, 3)), ("conv", Conv(2, 3, S=2, P=1))]


def three_conv_stack(size: int = 224, filters: int = 64, layers: int = 3) -> Net:
    """``layers`` 3x3 convs of ``filters`` filters with pad 1 on a ``size x size x 3`` image
    (the memory example of the notes)."""
    net: Net = [("input", Input(size, size, 3))]
    for i in range(1, layers + 1):
        net += [(f"conv{i}", Conv(filters, 3, P=1)), (f"relu{i}", ReLU())]
    return net


@dataclass(frozen=True)
class SharingComparison:
    """A conv layer with and without parameter sharing."""

    neurons: int
    params_per_neuron: int
    unshared: int
    shared: int


def parameter_sharing(input_size: int = 227, F: int = 11, S: int = 4, C: int = 3,
                      K: int = 96) -> SharingComparison:
    """Parameters of a conv layer with and without sharing (default AlexNet conv1:
    290,400 neurons x 364 = 105,705,600 without, 96 x 364 = 34,944 with)."""
    side = _validate.output_length(input_size, F, S)
    return SharingComparison(
        neurons=side * side * K, params_per_neuron=conv_params(F, C),
        unshared=unshared_params(side, side, K, F, C), shared=conv_params(F, C, K),
    )
