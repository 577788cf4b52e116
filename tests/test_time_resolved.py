"""Time-resolved submissions: the LAFmax column, the intervals file, their scores (exact
values on hand-built cases), score.json schema 2, caching, and the built-in estimators."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sssle_bench.cli import main
from sssle_bench.dataset import GeneratedDataset, MixtureInfo
from sssle_bench.errors import SssleError
from sssle_bench.estimators.base import BaseEstimator, Prediction
from sssle_bench.estimators.run import _prediction_rows, predict, train
from sssle_bench.estimators.spectral import spectrogram_descriptors, spectrogram_levels, stft
from sssle_bench.leaderboard.build import build_leaderboard
from sssle_bench.levels import time_levels
from sssle_bench.metrics import ScoreSettings, score_intervals, score_lafmax
from sssle_bench.scoring import score_submission
from sssle_bench.submission import load_truth_intervals, validate_intervals_file

NO_CI = ScoreSettings(bootstrap=0)


def _truth_rows(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["mixture_id", "condition", "class", "interval", "laeq_db"])
    return frame.assign(present=frame["laeq_db"].notna().astype(int))


def test_interval_mae_counts_only_intervals_where_the_class_sounds():
    truth = _truth_rows(
        [
            ("m1", "none", "dog", 0, -30.0),
            ("m1", "none", "dog", 1, np.nan),  # silent: not in the interval MAE
            ("m1", "none", "siren", 0, -40.0),
            ("m1", "none", "siren", 1, -20.0),
            ("m2", "bg0", "dog", 0, -10.0),
            ("m2", "bg0", "dog", 1, -12.0),
        ]
    )
    pred = pd.DataFrame({"laeq_db": [-32.0, -15.0, -40.5, -23.0, -11.0, -np.inf]})
    doc = score_intervals(truth, pred, NO_CI)
    # errors of sounding intervals: 2, 0.5, 3, 1 and -inf floored at -100 -> 88
    assert doc["overall"]["all"]["mae_present_db"]["value"] == pytest.approx(94.5 / 5)
    assert doc["overall"]["all"]["n_present"] == 5
    assert doc["by_condition"]["none"]["mae_present_db"]["value"] == pytest.approx(5.5 / 3)
    assert doc["by_class"]["dog"]["mae_present_db"]["value"] == pytest.approx(91 / 3)
    assert doc["by_class"]["siren"]["bias_db"]["value"] == pytest.approx((-0.5 - 3) / 2)
    # the silent interval predicted at -15 dB is a false alarm, the -inf a miss
    assert doc["overall"]["all"]["precision"]["value"] == pytest.approx(4 / 5)
    assert doc["overall"]["all"]["recall"]["value"] == pytest.approx(4 / 5)


def test_lafmax_error_is_scored_over_present_pairs():
    truth = pd.DataFrame(
        {
            "mixture_id": ["m1", "m1", "m2"],
            "condition": ["none", "none", "none"],
            "class": ["dog", "siren", "dog"],
            "present": [1, 0, 1],
            "lafmax_db": [-20.0, np.nan, -30.0],
        }
    )
    pred = pd.DataFrame({"lafmax_db": [-21.0, -50.0, -26.0]})
    doc = score_lafmax(truth, pred, NO_CI)
    assert doc["overall"]["all"]["mae_present_db"]["value"] == pytest.approx(2.5)
    assert doc["overall"]["all"]["bias_db"]["value"] == pytest.approx(1.5)
    assert doc["by_class"]["dog"]["n_present"] == 2


def perfect_intervals(ds: Path, split: str = "test") -> pd.DataFrame:
    truth = load_truth_intervals(ds, split)
    out = truth[["mixture_id", "condition", "class", "interval"]].astype(str)
    return out.assign(laeq_db=truth["laeq_db"].map(lambda v: "" if pd.isna(v) else f"{v:.4f}"))


def perfect_predictions(ds: Path, split: str = "test", lafmax: bool = True) -> pd.DataFrame:
    truth = pd.read_csv(ds / "ground_truth" / f"{split}.csv")
    pred = truth[["mixture_id", "condition", "class"]].copy()
    pred["level_db"] = truth["level_dbfs_a"].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    if lafmax:
        pred["lafmax_db"] = truth["lafmax_db"].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    return pred


def submission(folder: Path, ds: Path, lafmax: bool = True, intervals: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    perfect_predictions(ds, lafmax=lafmax).to_csv(folder / "predictions.csv", index=False)
    if intervals:
        perfect_intervals(ds).to_csv(folder / "intervals.csv", index=False)
    return folder


def test_a_perfect_time_resolved_submission_scores_zero(toy_dataset: Path, tmp_path: Path):
    folder = submission(tmp_path / "s", toy_dataset)
    settings = ScoreSettings(bootstrap=50)
    doc = score_submission(folder / "predictions.csv", toy_dataset, "test", settings)
    assert doc["schema_version"] == 2
    spans, lafmax = doc["time_resolved"]["intervals"], doc["time_resolved"]["lafmax"]
    assert spans["overall"]["all"]["mae_present_db"]["value"] == pytest.approx(0, abs=1e-4)
    assert lafmax["overall"]["all"]["mae_present_db"]["value"] == pytest.approx(0, abs=1e-4)
    truth = load_truth_intervals(toy_dataset, "test")
    assert spans["counts"] == {
        "rows": len(truth),
        "present_rows": int(truth["laeq_db"].notna().sum()),
        "missing_scored_as_absent": 0,
    }
    assert set(spans["by_condition"]) == {"none", "bg-50", "bg-20", "bg0"}
    assert "background" not in spans["by_class"] and "mixture" not in spans["by_class"]
    assert spans["sha256"] and spans["file"] == "intervals.csv"


def test_the_clip_figures_do_not_depend_on_the_time_resolved_parts(
    toy_dataset: Path, tmp_path: Path
):
    """A schema-1 submission (predictions.csv alone) scores the same clip-level figures."""
    full = submission(tmp_path / "full", toy_dataset)
    plain = submission(tmp_path / "plain", toy_dataset, lafmax=False, intervals=False)
    settings = ScoreSettings(bootstrap=100)
    a = score_submission(full / "predictions.csv", toy_dataset, "test", settings)
    b = score_submission(plain / "predictions.csv", toy_dataset, "test", settings)
    assert b["time_resolved"] == {"lafmax": None, "intervals": None}
    for key in ("overall", "by_condition", "by_class", "by_level_bin", "counts"):
        assert a[key] == b[key]


def test_every_interval_problem_is_reported_with_lines(toy_dataset: Path, tmp_path: Path):
    frame = perfect_intervals(toy_dataset)
    frame.loc[0, "mixture_id"] = "test_999999"
    frame.loc[1, "interval"] = "1.5"
    frame.loc[2, "interval"] = "-1"
    frame.loc[3, "interval"] = "99"
    frame.loc[4, "laeq_db"] = "nan"
    frame.loc[5, "laeq_db"] = "loud"
    frame = pd.concat([frame, frame.iloc[[10]]]).drop(index=[20])
    path = tmp_path / "intervals.csv"
    frame.to_csv(path, index=False)
    result, _ = validate_intervals_file(path, toy_dataset, "test")
    text = "\n".join(result.problems)
    assert "unknown mixture id(s) 'test_999999' at line 2" in text
    assert "interval not a whole number >= 0 at lines 3, 4" in text
    assert "interval past the mixture's last interval at line 5" in text
    assert "laeq_db NaN (write -inf or leave empty for absent) at line 6" in text
    assert "laeq_db not a number at line 7" in text
    assert "duplicate (mixture, condition, class, interval) at line" in text
    # rows 0-3 and 20 match no truth row
    assert "5 (mixture, condition, class, interval) row(s) missing" in text
    relaxed, _ = validate_intervals_file(path, toy_dataset, "test", allow_missing=True)
    assert "row(s) missing" not in "\n".join(relaxed.problems)
    assert relaxed.n_missing == 5


def test_cli_validates_and_scores_both_files(toy_dataset: Path, tmp_path: Path):
    folder = submission(tmp_path / "s", toy_dataset)
    pred = pd.read_csv(folder / "predictions.csv", dtype=str, keep_default_na=False)
    pred.loc[2, "lafmax_db"] = "+inf"
    pred.to_csv(folder / "predictions.csv", index=False)
    runner = CliRunner()
    args = ["--truth", str(toy_dataset)]
    res = runner.invoke(main, ["validate", str(folder / "predictions.csv"), *args])
    assert res.exit_code != 0
    assert "lafmax_db +inf at line 4" in res.output
    pred.loc[2, "lafmax_db"] = ""
    pred.to_csv(folder / "predictions.csv", index=False)
    res = runner.invoke(main, ["validate", str(folder / "predictions.csv"), *args])
    assert res.exit_code == 0, res.output
    assert "intervals.csv: valid" in res.output
    other = tmp_path / "elsewhere.csv"
    shutil.move(folder / "intervals.csv", other)
    res = runner.invoke(
        main,
        ["score", str(folder / "predictions.csv"), *args, "--bootstrap", "0", "--intervals", other],
    )
    assert res.exit_code == 0, res.output
    assert "intervals" in res.output and "LAFmax" in res.output


def test_leaderboard_rescores_when_the_intervals_change(toy_dataset: Path, tmp_path: Path):
    folder = submission(tmp_path / "subs" / "perfect", toy_dataset)
    said: list[str] = []
    settings = ScoreSettings(bootstrap=20)
    out = tmp_path / "board"
    table = build_leaderboard([folder], toy_dataset, out, "test", settings, said.append)
    assert table.loc[0, "interval_mae_db"] == pytest.approx(0, abs=1e-4)
    assert table.loc[0, "lafmax_mae_db"] == pytest.approx(0, abs=1e-4)
    said.clear()
    build_leaderboard([folder], toy_dataset, out, "test", settings, said.append)
    assert said == []  # its own kept scores, reused
    spans = pd.read_csv(folder / "intervals.csv", dtype=str, keep_default_na=False)
    spans.loc[spans["laeq_db"] != "", "laeq_db"] = "-10"
    spans.to_csv(folder / "intervals.csv", index=False)
    table = build_leaderboard([folder], toy_dataset, out, "test", settings, said.append)
    assert said == [f"scoring {folder}"] and table.loc[0, "interval_mae_db"] > 1
    (folder / "intervals.csv").unlink()
    table = build_leaderboard([folder], toy_dataset, out, "test", settings, said.append)
    assert said[-1] == f"scoring {folder}" and len(said) == 2
    assert pd.isna(table.loc[0, "interval_mae_db"])
    page = (out / "index.html").read_text()
    assert "LAeq intervals" in page and "LAFmax" in page


def test_masked_spectrogram_descriptors_reproduce_the_ground_truth(toy_dataset: Path):
    """Unmasked, a track's spectrogram gives its LAeq per interval and LAFmax."""
    ds = GeneratedDataset(toy_dataset)
    interval_err, lafmax_err = [], []
    for mix in ds.mixtures("test"):
        for track in [mix.audio, *ds.sources(mix).values()]:
            mag = np.abs(stft(track))
            laeq, lafmax, level = spectrogram_descriptors(
                mag, track.size, mix.sample_rate, ds.interval_s
            )
            assert level == spectrogram_levels(mag, track.size, mix.sample_rate, "A")
            truth = time_levels(track, mix.sample_rate, ds.interval_s)
            sounding = np.isfinite(truth.laeq_db) & (truth.laeq_db > -80)
            interval_err += list(np.abs(laeq[sounding] - truth.laeq_db[sounding]))
            lafmax_err.append(abs(float(lafmax) - truth.lafmax_db))
    assert len(interval_err) > 50
    # Frames smear an event that starts or stops within half a window (16 ms) of an
    # interval edge across it: a gunshot 152 samples before an edge reads 3 dB low.
    assert np.median(interval_err) < 0.05 and np.percentile(interval_err, 90) < 0.6
    assert np.median(lafmax_err) < 0.1 and np.max(lafmax_err) < 0.3


@pytest.mark.parametrize("name", ["class-prior", "oracle-presence-split", "nmf"])
def test_built_in_estimators_submit_valid_time_resolved_predictions(
    name: str, toy_dataset: Path, tmp_path: Path
):
    config = {"components": 2, "train_iterations": 5, "predict_iterations": 5}
    train(name, toy_dataset, tmp_path / "m", config if name == "nmf" else {})
    out = predict(name, toy_dataset, tmp_path / "m", tmp_path / "s", echo=lambda s: None)
    doc = score_submission(out / "predictions.csv", toy_dataset, "test", NO_CI)
    for part in ("intervals", "lafmax"):
        mae = doc["time_resolved"][part]["overall"]["all"]["mae_present_db"]["value"]
        assert 0 <= mae < 60, (part, mae)


class _Plain(BaseEstimator):
    name = "plain"

    def predict(self, audio, sr, info=None):
        return {"a": -20.0}


def test_a_prediction_with_the_wrong_number_of_intervals_is_refused():
    info = MixtureInfo("m", "test", "none", {"a": True}, interval_s=0.5)
    good = Prediction({"a": -20.0}, {"a": -10.0}, {"a": np.array([-20.0, -21.0, -22.0])})
    levels, spans = _prediction_rows("x", info, 24000, 16000, ("a",), good)
    assert levels == [("m", "none", "a", -20.0, -10.0)]
    assert [row[3:] for row in spans] == [(0, -20.0), (1, -21.0), (2, -22.0)]
    bad = Prediction({"a": -20.0}, None, {"a": np.zeros(2)})
    with pytest.raises(SssleError, match="2 interval levels of 'a' for mixture m .* 3 intervals"):
        _prediction_rows("x", info, 24000, 16000, ("a",), bad)
    levels, spans = _prediction_rows("x", info, 24000, 16000, ("a",), _Plain().predict(None, 0))
    assert spans == [] and np.isnan(levels[0][4])


def test_predict_drops_a_stale_intervals_file(
    toy_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Predictions without intervals never sit beside another run's intervals.csv."""
    import sssle_bench.estimators.run as run

    train("class-prior", toy_dataset, tmp_path / "m", {})
    out = predict("class-prior", toy_dataset, tmp_path / "m", tmp_path / "s", echo=print)
    assert (out / "intervals.csv").is_file()
    header = (out / "predictions.csv").read_text().splitlines()[0]
    assert header == "mixture_id,condition,class,level_db,lafmax_db"
    monkeypatch.setattr(run, "_cached_model", lambda *args: _Plain())
    said: list[str] = []
    predict("class-prior", toy_dataset, tmp_path / "m", out, echo=said.append)
    assert not (out / "intervals.csv").exists()
    assert f"removed {out / 'intervals.csv'}" in said[0]
    header = (out / "predictions.csv").read_text().splitlines()[0]
    assert header == "mixture_id,condition,class,level_db"
