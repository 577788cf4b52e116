"""weak-sep's presets, fields and errors (config.py)."""

from __future__ import annotations

import pytest

from sssle_bench.errors import SssleError
from sssle_bench.estimators.weak_sep.config import make_config


def test_config_presets_and_errors():
    cpu, paper = make_config({"preset": "cpu"}), make_config({"preset": "paper"})
    assert paper.unet_channels == 64 and paper.lstm_hidden == 100 and paper.epochs == 50
    assert paper.learning_rate == 1e-4 and paper.batch_size == 8 and paper.patience == 5
    assert cpu.unet_channels < paper.unet_channels
    from sssle_bench.errors import SssleError

    with pytest.raises(SssleError, match="unknown config key"):
        make_config({"colour": 1})
    with pytest.raises(SssleError, match="energy resolution"):
        make_config({"energy_resolutions": [["bark", "tf"]]})


def test_paper_preset_weighs_mixture_terms_100_and_classification_1():
    """The original's weights and terms (cdsd/train_separator.py: mix + 1 x cls; its
    multi-resolution configs: three mel-40 terms, each weight 100, averaged)."""
    c = make_config({"preset": "paper"})
    assert c.energy_resolutions == (("mel", "tf"), ("mel", "spectrum"), ("mel", "clip"))
    assert c.weight_consistency == 100.0
    assert (c.weight_critic, c.weight_background) == (1.0, 1.0)


def test_resolution_entries_and_the_removed_mixture_weight():
    c = make_config({"energy_resolutions": [["linear", "tf", 4], ["mel", "clip", 1.0]]})
    assert c.energy_resolutions == (("linear", "tf", 4.0), ("mel", "clip"))
    assert c.resolutions() == [("linear", "tf", 4.0), ("mel", "clip", 1.0)]
    with pytest.raises(SssleError, match="weight_mixture was removed"):
        make_config({"weight_mixture": 10.0})
    with pytest.raises(SssleError, match="listed twice"):
        make_config({"energy_resolutions": [["mel", "tf"], ["mel", "tf", 2.0]]})
    for bad in (["mel"], ["mel", "tf", 0.0], ["mel", "tf", "x"], ["mel", "tf", 1, 2]):
        with pytest.raises(SssleError, match="energy.resolution"):
            make_config({"energy_resolutions": [bad]})
