"""The audit's checks on methods whose answers are known: a constant (the class prior's
behaviour) and the mixture's own level; the command on recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from sssle_bench.cli import main
from sssle_bench.estimators.base import Prediction
from sssle_bench.levels import interval_bounds, time_levels
from sssle_bench.recordings.audit import GAINS_DB, Clip, audit_clips, audit_summary
from sssle_bench.recordings.measure import MeasureSettings

RATE = 8000
SETTINGS = MeasureSettings(clip_s=2.0)


class Constant:
    """Every class at -30 dB whatever it hears."""

    name = "constant"

    def predict_batch(self, audios, sr, infos):
        out = []
        for x, info in zip(audios, infos, strict=True):
            n = len(interval_bounds(x.size, sr, info.interval_s))
            out.append(Prediction({"a": -30.0}, {"a": -30.0}, {"a": np.full(n, -30.0)}))
        return out


class Mixture:
    """Class ``a`` is the whole mixture: gain-equivariant and additive up to the cross
    terms of the signals added."""

    name = "mixture"

    def predict_batch(self, audios, sr, infos):
        out = []
        for x, info in zip(audios, infos, strict=True):
            mix = time_levels(x, sr, info.interval_s)
            out.append(Prediction({"a": mix.dbfs_a}, {"a": mix.lafmax_db}, {"a": mix.laeq_db}))
        return out


def _clips(n: int = 4) -> list[Clip]:
    rng = np.random.default_rng(1)
    return [Clip(f"r{k}", rng.normal(0, 0.05 * (k + 1), 2 * RATE)) for k in range(n)]


def _events() -> dict[str, list[np.ndarray]]:
    return {"a": [np.random.default_rng(2).normal(0, 0.1, RATE)]}


def test_a_constant_fails_gain_by_the_gain_and_superposition_by_3_db():
    table = audit_clips(Constant(), _clips(), RATE, SETTINGS, _events())
    error = table.groupby("check")["error_db"].mean()
    assert error["gain"] == pytest.approx(np.mean(np.abs(GAINS_DB)), abs=1e-9)
    assert error["superposition"] == pytest.approx(10 * np.log10(2), abs=1e-9)
    assert error["segmentation"] == pytest.approx(0.0, abs=1e-9)
    assert error["injection"] > 0.4  # -30 dB stays -30 dB whatever is injected


def test_the_mixtures_own_level_passes_gain_and_segmentation():
    table = audit_clips(Mixture(), _clips(), RATE, SETTINGS, _events())
    error = table.groupby("check")["error_db"].mean()
    assert error["gain"] == pytest.approx(0.0, abs=1e-9)
    assert error["segmentation"] < 0.05  # the halves' own A-weighting, at their edges
    assert error["superposition"] < 0.5 and error["injection"] < 0.5  # cross terms only
    summary = audit_summary(table).set_index("check")
    assert summary.loc["gain", "recordings"] == 4
    assert summary.loc["gain", "ci_low"] <= summary.loc["gain", "error_db"]


def test_the_audit_command_writes_its_tables(tmp_path: Path, toy_dataset: Path):
    rng = np.random.default_rng(3)
    for k in range(3):
        sf.write(tmp_path / f"rec{k}.wav", rng.normal(0, 0.05, (5 * 22050, 2)), 22050)
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    model = tmp_path / "cp"
    assert (
        CliRunner()
        .invoke(main, ["train", "class-prior", str(toy_dataset), "--out", str(model)])
        .exit_code
        == 0
    )
    recordings = [str(tmp_path / n) for n in ("rec0.wav", "rec1.wav", "broken.wav", "rec2.wav")]
    args = [
        "audit",
        *recordings,
        "--method",
        "class-prior",
        "--model",
        str(model),
        "--events",
        str(toy_dataset),
        "--out",
        str(tmp_path / "a"),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "broken.wav: unreadable audio file" in result.output
    summary = pd.read_csv(tmp_path / "a" / "summary.csv").set_index("check")
    assert summary.loc["gain", "error_db"] == pytest.approx(15.0, abs=1e-3)
    assert summary.loc["segmentation", "error_db"] == pytest.approx(0.0, abs=1e-3)
    per_recording = pd.read_csv(tmp_path / "a" / "audit.csv")
    assert sorted(per_recording["recording"].unique()) == ["rec0", "rec1", "rec2"]
