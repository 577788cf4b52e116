"""The medium synthetic world follows UrbanSound8K's real counts, durations and recording
structure, keeps recipe classes out of its backgrounds and is byte-identical for a seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.signal import welch

from sssle_bench.sources import sonyc_backgrounds, urbansound8k
from sssle_bench.sources.synthetic import make_synthetic_sources
from sssle_bench.sources.synthetic_medium import (
    BACKGROUNDS_PER_SPLIT,
    DURATION_QUANTILES_S,
    FOREGROUND_CLASSES,
    OTHER_PER_FOLD,
    SALIENCE1_PER_FOLD,
    SALIENCE2_RATIO,
    _other_sound,
    plan_background_events,
)

from ..conftest import tree_digest

#: Most of the world's disk budget (MB), from the issue.
MAX_SIZE_MB = 300


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> Path:
    return make_synthetic_sources(tmp_path_factory.mktemp("medium") / "home", 0, "medium", 2)


@pytest.fixture(scope="module")
def clips(medium: Path) -> pd.DataFrame:
    return urbansound8k.load_clips(medium)[0]


def test_counts_per_fold_and_class_are_the_real_ones(clips: pd.DataFrame):
    for label, per_fold in SALIENCE1_PER_FOLD.items():
        for fold, expected in enumerate(per_fold, start=1):
            here = clips[(clips["class"] == label) & (clips["fold"] == fold)]
            assert (here["salience"] == 1).sum() == expected, (label, fold)
            assert (here["salience"] == 2).sum() == round(SALIENCE2_RATIO * expected)
    others = clips[~clips["class"].isin(FOREGROUND_CLASSES)]
    assert others.groupby(["class", "fold"]).size().eq(OTHER_PER_FOLD).all()
    assert others["class"].nunique() == 5


def test_durations_follow_the_real_median_and_10th_percentile(clips: pd.DataFrame):
    for label, (median, p10) in DURATION_QUANTILES_S.items():
        d = clips.loc[clips["class"] == label, "duration_s"]
        assert d.median() == pytest.approx(median, rel=0.05, abs=0.02), label
        assert d.quantile(0.1) == pytest.approx(p10, rel=0.1, abs=0.02), label
        assert d.max() <= 4.0 + 1e-3


def test_metadata_matches_the_files(clips: pd.DataFrame):
    """start/end in the CSV give each file's duration (to a sample at 11.025 kHz)."""
    assert np.allclose(clips["end"] - clips["start"], clips["duration_s"], atol=1e-4)
    assert set(clips["sample_rate"]) == {11025, 16000}


def test_a_recording_lies_in_one_fold_and_class(clips: pd.DataFrame):
    per_rec = clips.groupby("fsID").agg(folds=("fold", "nunique"), classes=("class", "nunique"))
    assert (per_rec["folds"] == 1).all() and (per_rec["classes"] == 1).all()
    jack = clips[clips["class"] == "jackhammer"]
    assert len(jack) / jack["fsID"].nunique() > 15  # a few long recordings, as in the real data


def _log_spectrum(path: str) -> np.ndarray:
    """Mean log power (dB) on a common 100-5000 Hz grid, whatever the file's rate."""
    x, sr = sf.read(path, always_2d=True)
    f, p = welch(x.mean(axis=1), sr, nperseg=512)
    grid = np.linspace(100, 5000, 100)
    return 10 * np.log10(np.interp(grid, f, p) + 1e-12)


def test_slices_of_a_recording_are_more_alike_than_recordings_of_a_class(clips: pd.DataFrame):
    """Mean absolute difference of log spectra (dB): within a recording vs between them."""
    rng = np.random.default_rng(0)
    for label in FOREGROUND_CLASSES:
        rows = clips[(clips["class"] == label) & (clips["duration_s"] >= 0.5)]
        recs = [g for _, g in rows.groupby("fsID") if len(g) >= 2]
        picks = [recs[i] for i in rng.choice(len(recs), min(8, len(recs)), replace=False)]
        spectra = [[_log_spectrum(p) for p in g["path"].iloc[:3]] for g in picks]
        within = np.mean([np.mean(np.abs(s[0] - s[1])) for s in spectra])
        between = np.mean(
            [
                np.mean(np.abs(spectra[i][0] - spectra[j][0]))
                for i in range(len(spectra))
                for j in range(i + 1, len(spectra))
            ]
        )
        assert within < 0.5 * between, (label, within, between)


def test_backgrounds_never_hold_a_recipe_class():
    for seed in range(200):
        labels = {e[0] for e in plan_background_events(np.random.default_rng(seed))}
        assert not labels & set(FOREGROUND_CLASSES)
    with pytest.raises(AssertionError, match="recipe class"):
        _other_sound("siren", np.random.default_rng(0), 100, 16000)


def test_backgrounds_per_split_are_ten_seconds_from_their_own_sensors(medium: Path):
    table, problems = sonyc_backgrounds.load_backgrounds(medium)
    assert problems == []
    assert table.groupby("split").size().to_dict() == {
        s: BACKGROUNDS_PER_SPLIT for s in ("train", "valid", "test")
    }
    assert np.allclose(table["duration_s"], 10.0)
    assert table.groupby("sensor")["split"].nunique().max() == 1


def test_the_world_fits_its_disk_budget(medium: Path):
    size = sum(p.stat().st_size for p in medium.rglob("*") if p.is_file())
    assert size < MAX_SIZE_MB * 1e6


def test_the_world_is_byte_identical_for_a_seed_whatever_the_jobs(medium: Path, tmp_path: Path):
    again = make_synthetic_sources(tmp_path / "again", 0, "medium", 1)
    assert tree_digest(again) == tree_digest(medium)
