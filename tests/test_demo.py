"""The demo's settings are the reproducible ones the README's table was made with."""

from __future__ import annotations

from sssle_bench.demo import DEMO_METHODS
from sssle_bench.estimators.weak_sep.config import make_config


def test_demo_trains_weak_sep_single_threaded_and_seeded():
    """One thread makes weak-sep training bit-reproducible (tests/test_weak_sep.py proves
    equal weights for a seed); with more, parallel reductions change the README's numbers."""
    config = make_config(DEMO_METHODS["weak-sep"])
    assert config.threads == 1 and config.seed == 0 and config.device == "cpu"
