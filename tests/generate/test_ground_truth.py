"""Properties 1-3: ground truth is the audio, background level, no clipping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sssle_bench.audio import read_audio
from sssle_bench.generate.check import verify_dataset
from sssle_bench.levels import dbfs, dbfs_a, lufs

CONDITION_LUFS = {"bg-50": -50.0, "bg-20": -20.0, "bg0": 0.0}


def tables(ds: Path, kind: str) -> pd.DataFrame:
    """Every split's CSV of ``kind`` (``intervals``: ``ground_truth/*_intervals.csv``)."""
    if kind == "intervals":
        return pd.concat(pd.read_csv(p) for p in sorted(ds.glob("ground_truth/*_intervals.csv")))
    files = sorted(p for p in (ds / kind).glob("*.csv") if not p.stem.endswith("_intervals"))
    return pd.concat(pd.read_csv(p) for p in files)


def test_levels_recomputed_from_written_sources_match(toy_dataset: Path):
    truth = tables(toy_dataset, "ground_truth")
    mixes = tables(toy_dataset, "mixtures").set_index(["mixture_id", "condition"])
    assert len(truth) == 9 * 4 * 5 and truth["present"].sum() > 0
    checked = 0
    for row in truth.itertuples():
        folder = toy_dataset / mixes.loc[(row.mixture_id, row.condition), "sources_dir"]
        path = folder / f"{row[4]}.wav"
        if not row.present:
            assert not path.exists() and pd.isna(row.level_dbfs) and pd.isna(row.level_dbfs_a)
            assert row.n_events == 0
            continue
        x, sr = read_audio(path)
        assert dbfs(x) == pytest.approx(row.level_dbfs, abs=0.01)
        assert dbfs_a(x, sr) == pytest.approx(row.level_dbfs_a, abs=0.01)
        checked += 1
    assert checked == truth["present"].sum()


def test_tracks_plus_background_equal_mixture(toy_dataset: Path):
    mixes = tables(toy_dataset, "mixtures")
    for row in mixes.itertuples():
        mix, _ = read_audio(toy_dataset / row.audio_path)
        parts = sorted((toy_dataset / row.sources_dir).glob("*.wav"))
        total = sum(read_audio(p)[0] for p in parts)
        assert np.max(np.abs(total - mix)) < 1e-3
        assert (toy_dataset / row.sources_dir / "background.wav").exists() == (
            row.condition != "none"
        )
    assert verify_dataset(toy_dataset, full=True) == []


def test_background_loudness_is_the_condition_lufs(toy_dataset: Path):
    mixes = tables(toy_dataset, "mixtures")
    bg_rows = mixes[mixes["condition"] != "none"]
    assert len(bg_rows) == 27
    for row in bg_rows.itertuples():
        x, sr = read_audio(toy_dataset / row.sources_dir / "background.wav")
        assert lufs(x, sr) - row.gain_db == pytest.approx(CONDITION_LUFS[row.condition], abs=0.1)
        assert row.background_lufs == pytest.approx(lufs(x, sr), abs=1e-3)


def test_no_clipping_and_protection_is_recorded_in_ground_truth(toy_dataset: Path):
    for wav in toy_dataset.rglob("*.wav"):
        x, _ = read_audio(wav)
        assert np.max(np.abs(x)) < 1.0, wav
    mixes = tables(toy_dataset, "mixtures").set_index(["mixture_id", "condition"])
    truth = tables(toy_dataset, "ground_truth").set_index(["mixture_id", "condition", "class"])
    protected = mixes[mixes["gain_db"] < 0]
    # A 0 LUFS background peaks far above full scale: every bg0 mixture was scaled.
    assert set(protected.index.get_level_values("condition")) == {"bg0"}
    assert len(protected) == 9
    for mid, cond in protected.index:
        gain = mixes.loc[(mid, cond), "gain_db"]
        assert mixes.loc[(mid, "none"), "gain_db"] == 0
        for label in ["car_horn", "dog_bark", "gun_shot", "jackhammer", "siren"]:
            clean = truth.loc[(mid, "none", label), "level_dbfs"]
            scaled = truth.loc[(mid, cond, label), "level_dbfs"]
            if pd.isna(clean):
                assert pd.isna(scaled)
            else:
                assert scaled == pytest.approx(clean + gain, abs=0.02)


def test_sources_are_the_same_in_every_unprotected_condition(toy_dataset: Path):
    truth = tables(toy_dataset, "ground_truth")
    mixes = tables(toy_dataset, "mixtures")
    unprotected = mixes.loc[mixes["gain_db"] == 0, ["mixture_id", "condition"]]
    sub = truth.merge(unprotected)
    spread = sub.groupby(["mixture_id", "class"])["level_dbfs"].agg(lambda s: s.max() - s.min())
    assert spread.fillna(0).max() == 0.0


def test_short_events_are_rendered_with_finite_levels(toy_dataset: Path):
    events = tables(toy_dataset, "events")
    # Shorter than one 400 ms gating block: Scaper measures its loudness on the event tiled.
    assert (events["event_duration"] < 0.4).any()
    assert np.isfinite(events["event_dbfs"]).all()
    assert events["source_file"].str.match(r"UrbanSound8K/audio/fold\d+/\d+-\d-\d+-\d+\.wav").all()
    truth = tables(toy_dataset, "ground_truth")
    per_mix = truth[truth["condition"] == "none"].groupby("mixture_id")["n_events"].sum()
    assert per_mix.to_dict() == events.groupby("mixture_id").size().to_dict()


def test_time_resolved_descriptors_recomputed_from_written_audio(toy_dataset: Path):
    """Interval LAeq of classes, background and mixture; LAFmax and energy share."""
    from sssle_bench.levels import time_levels

    truth = tables(toy_dataset, "ground_truth").set_index(["mixture_id", "condition", "class"])
    spans = tables(toy_dataset, "intervals")
    mixes = tables(toy_dataset, "mixtures").set_index(["mixture_id", "condition"])
    # one row per (mixture, condition, source, interval): 5 classes + background + mixture, 4 s
    assert len(spans) == 9 * 4 * 7 * 4
    assert sorted(spans["class"].unique()) == sorted(
        ["background", "car_horn", "dog_bark", "gun_shot", "jackhammer", "mixture", "siren"]
    )
    checked = 0
    for (mid, cond), group in spans.groupby(["mixture_id", "condition"]):
        row = mixes.loc[(mid, cond)]
        mix, sr = read_audio(toy_dataset / row["audio_path"])
        mix_energy = float(np.sum(mix**2))
        for source, rows in group.groupby("class"):
            path = (
                toy_dataset / row["audio_path"]
                if source == "mixture"
                else toy_dataset / row["sources_dir"] / f"{source}.wav"
            )
            if not path.exists():  # an absent class, or no background: silent throughout
                assert rows["laeq_db"].isna().all()
                continue
            x, _ = read_audio(path)
            lv = time_levels(x, sr, 1.0)
            assert rows["t_start_s"].tolist() == [0.0, 1.0, 2.0, 3.0]
            expected = [np.nan if np.isinf(v) else v for v in lv.laeq_db]
            assert rows["laeq_db"].to_numpy() == pytest.approx(expected, abs=1e-5, nan_ok=True)
            if source in ("mixture", "background"):
                continue
            t = truth.loc[(mid, cond, source)]
            assert t["lafmax_db"] == pytest.approx(lv.lafmax_db, abs=1e-5)
            assert t["lafmax_db"] >= t["level_dbfs_a"]  # a maximum is above the average
            assert t["energy_share"] == pytest.approx(np.sum(x**2) / mix_energy, abs=2e-6)
            checked += 1
    assert checked == truth["present"].sum()


def test_energy_shares_and_background_account_for_the_mixture(toy_dataset: Path):
    """Without clipping protection, shares of classes + background sum to about 1."""
    truth = tables(toy_dataset, "ground_truth")
    none = truth[truth["condition"] == "none"]
    total = none.groupby("mixture_id")["energy_share"].sum()
    # sources of one mixture may overlap (cross terms): the sum is near, not exactly, 1
    assert total.between(0.8, 1.2).all(), total


def test_verify_full_catches_an_edited_interval_and_lafmax(toy_dataset: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "ds"
    shutil.copytree(toy_dataset, copy, symlinks=True)
    spans = copy / "ground_truth" / "test_intervals.csv"
    frame = pd.read_csv(spans)
    i = frame.index[(frame["class"] == "mixture")][2]
    frame.loc[i, "laeq_db"] += 0.5
    truth = copy / "ground_truth" / "test.csv"
    gt = pd.read_csv(truth)
    # an absent class, and the missing background of "none", said to sound
    absent = gt[gt["present"] == 0].iloc[0]
    k = frame.index[
        (frame["mixture_id"] == absent["mixture_id"])
        & (frame["condition"] == absent["condition"])
        & (frame["class"] == absent["class"])
    ][1]
    frame.loc[k, "laeq_db"] = -40.0
    quiet = frame.index[(frame["class"] == "background") & (frame["condition"] == "none")][0]
    frame.loc[quiet, "laeq_db"] = -60.0
    frame.to_csv(spans, index=False, float_format="%.6f", lineterminator="\n")
    j = gt.index[gt["present"] == 1][0]
    gt.loc[j, "lafmax_db"] -= 1.0
    gt.to_csv(truth, index=False, float_format="%.6f", lineterminator="\n")
    problems = verify_dataset(copy, full=True)
    assert any("test_intervals.csv" in p and "mixture interval" in p for p in problems), problems
    assert any("lafmax_db" in p for p in problems), problems
    said = f"{absent['class']} interval 1 laeq_db -40.0 but the source is absent"
    assert any(said in p for p in problems), problems
    said = "background interval 0 laeq_db -60.0 but the source is absent"
    assert any(said in p for p in problems), problems


def test_allow_repeated_source_false_never_repeats_a_clip_in_a_mixture(
    synthetic_home: Path, tmp_path: Path
):
    """The paper's recipe passes ``allow_repeated_source = false`` to Scaper: on the small
    synthetic set (6 training clips per class) the toy recipe, which keeps Scaper's
    default, repeats clips within mixtures; the same recipe with the switch off never does.
    """
    import tomllib

    from sssle_bench.toml_files import dumps_toml

    from ..conftest import TOY, generate

    raw = tomllib.loads(TOY.read_text())
    counts = {}
    for allow in (True, False):
        raw["events"]["allow_repeated_source"] = allow
        recipe = tmp_path / f"allow-{allow}.toml"
        recipe.write_text(dumps_toml(raw))
        ds = generate(tmp_path / f"ds-{allow}", synthetic_home, recipe, limit=12)
        events = tables(ds, "events")
        counts[allow] = int(events.duplicated(["mixture_id", "source_file"]).sum())
        assert len(events) > 24
    assert counts[True] > 0 and counts[False] == 0
