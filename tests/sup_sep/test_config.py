"""sup-sep's presets take weak-sep's separator fields; bad configs are refused."""

from __future__ import annotations

import pytest

from sssle_bench.errors import SssleError
from sssle_bench.estimators.sup_sep.config import SEPARATOR_FIELDS, make_sup_config
from sssle_bench.estimators.weak_sep.config import make_config


def test_config_presets_and_refusals():
    for name, lr in (("cpu", 3e-3), ("paper", 1e-4)):
        sup, weak = make_sup_config({"preset": name}), make_config({"preset": name})
        assert all(getattr(sup, k) == getattr(weak, k) for k in SEPARATOR_FIELDS)
        assert sup.learning_rate == lr
    assert make_sup_config({"preset": "paper"}).separator_arch == "original"
    cpu = make_sup_config({"preset": "cpu"})
    assert (cpu.unet_channels, cpu.unet_levels) == (16, 3)  # the capacity gate's width
    assert make_sup_config({"preset": "cpu", "unet_channels": 8}).unet_channels == 8
    with pytest.raises(SssleError, match="unknown config key"):
        make_sup_config({"critic": 1})
    with pytest.raises(SssleError, match="unknown preset"):
        make_sup_config({"preset": "huge"})
    with pytest.raises(SssleError, match="unet_channels"):
        make_sup_config({"unet_channels": 0})
    assert cpu.distance == "l1"  # the original's
    with pytest.raises(SssleError, match="distance"):
        make_sup_config({"distance": "l3"})
