"""Shared fixtures, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from sssle_bench.sources.synthetic import make_synthetic_sources

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def synthetic_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic data home (seed 0); treat as read-only."""
    return make_synthetic_sources(tmp_path_factory.mktemp("synthetic") / "home", seed=0)
