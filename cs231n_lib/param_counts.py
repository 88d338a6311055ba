"""Parameter counts: weights of a fully connected neuron, a filter bank, an unshared layer.

Parameters are weights plus biases (the notes' convention). Whole networks are counted by
:func:`cs231n_lib.analysis.analyze`; these are the single formulas of notebooks 01-03.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cs231n_lib import _validate


def fc_weights_per_neuron(shape: Sequence[int]) -> int:
    """Weights of one fully connected neuron looking at a whole volume: ``H * W * C``.

    32x32x3 -> 3072; 200x200x3 -> 120,000.
    """
    dims = list(_validate.shape(shape, "volume shape"))
    return math.prod(dims)


def linear_classifier_shape(shape: Sequence[int], classes: int) -> tuple[int, int]:
    """Shape of the weight matrix ``W`` of a linear classifier on flattened images:
    ``(classes, H*W*C)``; CIFAR-10 gives 10 x 3072."""
    return (_validate.positive_int(classes, "classes"), fc_weights_per_neuron(shape))


def conv_params(F: int, C: int, K: int = 1, bias: bool = True) -> int:
    """Parameters of a conv layer: ``K * (F*F*C + 1)`` (without bias ``K * F*F*C``).

    One 5x5x3 filter: 75 weights + 1 bias = 76.
    """
    F = _validate.positive_int(F, "F")
    C = _validate.positive_int(C, "C")
    K = _validate.positive_int(K, "K")
    return K * (F * F * C + (1 if bias else 0))


def unshared_params(H_out: int, W_out: int, K: int, F: int, C: int, bias: bool = True) -> int:
    """Parameters without parameter sharing: every one of the ``H_out*W_out*K`` neurons has
    its own ``F*F*C`` weights and bias. AlexNet conv1: 290,400 x 364 = 105,705,600."""
    neurons = (_validate.positive_int(H_out, "H_out") * _validate.positive_int(W_out, "W_out")
               * _validate.positive_int(K, "K"))
    F = _validate.positive_int(F, "F")
    return neurons * (F * F * _validate.positive_int(C, "C") + (1 if bias else 0))
