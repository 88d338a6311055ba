"""Memory of activations and parameters (cs231n_lib.memory)."""

from __future__ import annotations

import pytest

from cs231n_lib import memory
from cs231n_lib.analysis import analyze
from cs231n_lib.layer_specs import FC, Input


def test_memory_helpers():
    assert memory.activation_memory(1000) == 4000
    assert memory.activation_memory(1000, "float64", with_gradients=True) == 16_000
    assert memory.parameter_memory(1000) == 12_000
    assert memory.parameter_memory(1000, 8, copies=1) == 8000
    a = analyze([Input(2, 2, 1), FC(3)])
    assert memory.activation_memory(a) == (4 + 3) * 4
    assert memory.parameter_memory(a) == 15 * 4 * 3
    assert memory.format_bytes(77_070_336) == "77.07 MB (73.50 MiB)"
    with pytest.raises(ValueError, match="dtype"):
        memory.activation_memory(10, "int8")
