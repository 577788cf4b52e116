"""Synthetic sources: deterministic, small, class-distinct."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sssle_bench.sources.synthetic import SYNTHS, make_synthetic_sources, synth_clip

from ..conftest import tree_digest


def test_same_seed_same_bytes_other_seed_other_bytes(synthetic_home: Path, tmp_path: Path):
    again = make_synthetic_sources(tmp_path / "a", seed=0)
    assert tree_digest(again) == tree_digest(synthetic_home)
    other = make_synthetic_sources(tmp_path / "b", seed=1)
    assert tree_digest(other) != tree_digest(synthetic_home)


def test_whole_set_is_small(synthetic_home: Path):
    size = sum(p.stat().st_size for p in synthetic_home.rglob("*") if p.is_file())
    assert size < 20 * 2**20


def test_classes_have_distinct_spectra():
    """Each class's spectral centroid differs from every other's (they are told apart)."""
    sr = 16000
    centroids = {}
    for label in SYNTHS:
        x = synth_clip(np.random.default_rng(0), label, 2.0, sr)
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(x.size, 1 / sr)
        centroids[label] = float((power * freqs).sum() / power.sum())
    values = sorted(centroids.values())
    assert min(np.diff(values)) > 5.0, centroids
