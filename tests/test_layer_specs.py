"""Layer descriptions (cs231n_lib.layer_specs): validation, rounding, unshared weights,
FC as conv, and objects that outlive a module reload."""

from __future__ import annotations

import sys

import pytest

from cs231n_lib import analysis, layer_specs, receptive_fields
from cs231n_lib.analysis import analyze
from cs231n_lib.layer_specs import FC, Conv, Input, LocallyConnected, Pool
from cs231n_lib.memory import activation_memory
from cs231n_lib.param_counts import unshared_params


def test_layer_validation():
    with pytest.raises(ValueError, match="rounding"):
        Conv(4, 3, rounding="round")
    with pytest.raises(ValueError, match="mode"):
        Pool(2, 2, mode="min")
    with pytest.raises(ValueError, match="positive"):
        FC(0)
    with pytest.raises(ValueError, match="groups"):
        Conv(5, 3, groups=2)


def test_explicit_rounding_is_noted():
    floor = analyze([Input(224, 224, 3), Conv(64, 7, S=2, P=3, rounding="floor")])
    assert floor.output_shape == (112, 112, 64)
    assert floor.rows[1].note == "floor((224 + 2*3 - 7)/2 + 1 = 112.5) = 112"
    ceil = analyze([Input(112, 112, 64), Pool(3, 2, rounding="ceil")])
    assert ceil.output_shape == (56, 56, 64)
    exact = analyze([Input(8, 8, 1), Pool(2, 2, rounding="ceil")])
    assert exact.rows[1].note == ""


@pytest.mark.torch
@pytest.mark.parametrize("size, F, S, P", [(7, 3, 2, 0), (10, 3, 2, 0), (9, 2, 2, 1), (6, 3, 2, 1)])
def test_rounding_agrees_with_torch(torch, size, F, S, P):
    x = torch.zeros(1, 1, size, size)
    conv = torch.nn.functional.conv2d(x, torch.zeros(1, 1, F, F), stride=S, padding=P)
    pool = torch.nn.functional.max_pool2d(x, F, S, P, ceil_mode=True)
    a = analyze([Input(size, size, 1), Conv(1, F, S, P, rounding="floor")])
    b = analyze([Input(size, size, 1), Pool(F, S, P, rounding="ceil")])
    assert a.output_shape[0] == conv.shape[-1]
    assert b.output_shape[0] == pool.shape[-1]


def test_locally_connected_counts():
    lc = analyze([Input(227, 227, 3), LocallyConnected(96, 11, S=4)])
    conv = analyze([Input(227, 227, 3), Conv(96, 11, S=4)])
    positions = 55 * 55
    assert lc.total_params == positions * conv.total_params
    assert lc.total_params == unshared_params(55, 55, 96, 11, 3)
    assert lc.output_shape == conv.output_shape


def test_fc_to_conv_equivalence():
    conv = layer_specs.fc_to_conv((7, 7, 512), 4096)
    a = analyze([Input(7, 7, 512), conv])
    b = analyze([Input(7, 7, 512), FC(4096)])
    assert a.output_shape == b.output_shape == (1, 1, 4096)
    assert a.total_params == b.total_params
    big = analyze([Input(12, 12, 512), conv, Conv(4096, 1), Conv(1000, 1)])
    assert big.output_shape == (6, 6, 1000)
    with pytest.raises(ValueError, match="square"):
        layer_specs.fc_to_conv((7, 6, 512), 10)


def _fresh_copy(module, monkeypatch):
    """A second copy of ``module``, loaded under another name: it stands in for the module
    after a reload (the real module is left alone)."""
    import importlib.util

    name = f"_{module.__name__.rpartition('.')[2]}_copy"
    spec = importlib.util.spec_from_file_location(name, module.__file__)
    fresh = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, fresh)  # dataclasses look it up
    spec.loader.exec_module(fresh)
    return fresh


def test_layers_survive_a_module_reload(monkeypatch):
    """Notebooks reload the library (autoreload, visible checks): layer objects made before
    the reload must still be accepted afterwards, by the reloaded modules and by the ones
    that were not reloaded (analysis, receptive_fields and memory import layer_specs)."""
    fresh = _fresh_copy(layer_specs, monkeypatch)
    assert fresh.Conv is not Conv
    old_input, old_conv = Input(32, 32, 3), Conv(10, 5, P=2)
    new_input, new_conv = fresh.Input(32, 32, 3), fresh.Conv(10, 5, P=2)
    # layer_specs reloaded, analysis not: new objects, and old and new mixed.
    a = analyze([new_input, new_conv])
    assert a.total_params == 760
    assert analyze([old_input, new_conv]).total_params == 760
    assert receptive_fields.receptive_field([new_conv, fresh.Pool(2, 2)]) == [5, 6]
    assert activation_memory(a) == 4 * (3072 + 10_240)
    # analysis and receptive_fields reloaded: objects made before the reload.
    fresh_analysis = _fresh_copy(analysis, monkeypatch)
    assert fresh_analysis.analyze([old_input, old_conv]).total_params == 760
    fresh_rf = _fresh_copy(receptive_fields, monkeypatch)
    assert fresh_rf.receptive_field([old_conv, Pool(2, 2)]) == [5, 6]
