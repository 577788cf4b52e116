"""Built-in estimators: class-prior and oracle on known numbers, NMF, spectral read-out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sssle_bench.dataset import GeneratedDataset, MixtureInfo
from sssle_bench.errors import SssleError
from sssle_bench.estimators import estimator_class
from sssle_bench.estimators.run import predict, train
from sssle_bench.estimators.spectral import (
    ideal_ratio_mask_levels,
    istft,
    spectrogram_levels,
    stft,
)
from sssle_bench.levels import dbfs, dbfs_a, time_levels


def test_class_prior_is_the_median_of_usually_present_classes(toy_dataset: Path, tmp_path: Path):
    est = train("class-prior", toy_dataset, tmp_path / "m", {})
    truth = pd.read_csv(toy_dataset / "ground_truth" / "train.csv")
    spans = pd.read_csv(toy_dataset / "ground_truth" / "train_intervals.csv")
    out = est.predict(np.zeros(40000), 16000)  # 2.5 s: three 1 s intervals
    usable = 0
    for label, rows in truth.groupby("class"):
        on = rows["present"] == 1
        if on.mean() >= 0.5:
            usable += 1
            assert out.levels[label] == pytest.approx(rows.loc[on, "level_dbfs_a"].median())
            assert out.lafmax[label] == pytest.approx(rows.loc[on, "lafmax_db"].median())
            sounding = spans.loc[spans["class"] == label, "laeq_db"].dropna()
            assert out.intervals[label] == pytest.approx([sounding.median()] * 3)
        else:
            assert out.levels[label] == out.lafmax[label] == -np.inf
            assert list(out.intervals[label]) == [-np.inf] * 3
    assert usable >= 2
    loaded = estimator_class("class-prior").load(tmp_path / "m").predict(np.zeros(10), 16000)
    again = est.predict(np.zeros(10), 16000)
    assert (loaded.levels, loaded.lafmax) == (again.levels, again.lafmax)


def test_oracle_splits_the_mixture_level_among_present_classes():
    est = estimator_class("oracle-presence-split")()
    x = np.random.default_rng(0).standard_normal(16000) * 0.1
    info = MixtureInfo("m", "test", "none", {"a": True, "b": True, "c": False})
    x[:8000] = 0.0  # a silent first half second
    out = est.predict(x, 16000, replace(info, interval_s=0.25))
    half = 10 * np.log10(2)
    assert out.levels["a"] == out.levels["b"] == pytest.approx(dbfs_a(x, 16000) - half)
    mix = time_levels(x, 16000, 0.25)
    assert np.isneginf(mix.laeq_db[:2]).all() and np.isfinite(mix.laeq_db[2:]).all()
    np.testing.assert_array_equal(out.intervals["a"], mix.laeq_db - half)
    assert out.lafmax["b"] == pytest.approx(mix.lafmax_db - half)
    assert out.levels["c"] == out.lafmax["c"] == -np.inf
    assert np.isneginf(out.intervals["c"]).all() and out.intervals["c"].size == 4
    with pytest.raises(SssleError, match="needs the mixture's true labels"):
        est.predict(x, 16000)


def test_predict_writes_a_valid_submission(toy_dataset: Path, tmp_path: Path):
    from sssle_bench.submission import validate_file

    train("oracle-presence-split", toy_dataset, tmp_path / "m", {})
    out = predict(
        "oracle-presence-split", toy_dataset, tmp_path / "m", tmp_path / "s", echo=lambda s: None
    )
    result, truth = validate_file(out / "predictions.csv", toy_dataset, "test")
    assert result.ok and len(truth) == 3 * 4 * 5
    assert 'supervision = "oracle"' in (out / "meta.toml").read_text()


def test_predict_only_some_conditions(toy_dataset: Path, tmp_path: Path):
    """A model trained for some conditions predicts only theirs; the file is scored with
    missing rows allowed, and an unknown condition is one clear error."""
    from sssle_bench.submission import validate_file

    train("oracle-presence-split", toy_dataset, tmp_path / "m", {})
    out = predict(
        "oracle-presence-split",
        toy_dataset,
        tmp_path / "m",
        tmp_path / "s",
        echo=lambda s: None,
        conditions=("none", "bg-20"),
    )
    frame = pd.read_csv(out / "predictions.csv")
    assert set(frame["condition"]) == {"none", "bg-20"} and len(frame) == 3 * 2 * 5
    assert not validate_file(out / "predictions.csv", toy_dataset, "test")[0].ok
    assert validate_file(out / "predictions.csv", toy_dataset, "test", allow_missing=True)[0].ok
    with pytest.raises(SssleError, match="no condition 'bg-7'"):
        predict(
            "oracle-presence-split",
            toy_dataset,
            tmp_path / "m",
            tmp_path / "t",
            conditions=("bg-7",),
        )


def test_mixtures_are_grouped_by_the_model_of_their_condition():
    from sssle_bench.estimators.base import by_condition_model

    infos = [MixtureInfo(f"m{i}", "test", c, {}) for i, c in enumerate(["b", "a", "b", "a", "b"])]
    models = {"a": object(), "b": object()}
    groups = by_condition_model(models, infos, "x")
    assert [(m is models["b"], idx) for m, idx in groups] == [(True, [0, 2, 4]), (False, [1, 3])]
    # one model serves every mixture, also one without info
    only = {"a": object()}
    assert by_condition_model(only, [*infos, None], "x") == [(only["a"], [0, 1, 2, 3, 4, 5])]
    with pytest.raises(SssleError, match="x: no model for condition 'b'"):
        by_condition_model({**only, "c": object()}, infos, "x")


def test_stft_round_trip_and_spectrogram_levels():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(16000) * 0.05
    spec = stft(x)
    assert np.max(np.abs(istft(spec, x.size) - x)) < 1e-12
    assert spectrogram_levels(np.abs(spec), x.size, 16000, "Z") == pytest.approx(dbfs(x), abs=0.01)
    assert spectrogram_levels(np.abs(spec), x.size, 16000, "A") == pytest.approx(
        dbfs_a(x, 16000), abs=0.01
    )


def test_ideal_ratio_masks_read_out_the_ground_truth(toy_dataset: Path):
    """IRM (amplitude, beta = 1/2) from the isolated sources -> levels within 0.5 dB."""
    import soundfile as sf

    ds = GeneratedDataset(toy_dataset)
    errors = []
    for mix in ds.mixtures("test"):
        bg = mix.sources_dir / "background.wav"
        background = sf.read(bg)[0] if bg.exists() else None
        sources = ds.sources(mix)
        levels = ideal_ratio_mask_levels(mix.audio, sources, background, mix.sample_rate, "A")
        errors += [abs(levels[c] - mix.levels_dbfs_a[c]) for c in sources]
    errors = np.array(errors)
    assert errors.size > 20
    assert np.mean(errors) < 0.25 and np.percentile(errors, 90) < 0.5


def test_nmf_needs_sources_and_predicts_finite_levels(toy_dataset: Path, tmp_path: Path):
    config = {"components": 4, "train_iterations": 20, "predict_iterations": 20}
    est = train("nmf", toy_dataset, tmp_path / "m", config)
    mix = next(GeneratedDataset(toy_dataset).mixtures("test"))
    levels = est.predict(mix.audio, mix.sample_rate).levels
    assert set(levels) == set(GeneratedDataset(toy_dataset).classes)
    assert all(-120 < v < 0 for v in levels.values())
    loaded = estimator_class("nmf").load(tmp_path / "m")
    assert loaded.predict(mix.audio, mix.sample_rate).levels == levels


def test_nmf_refuses_a_dataset_without_sources(synthetic_home: Path, tmp_path: Path):
    from .conftest import generate

    plain = generate(tmp_path / "ds", synthetic_home, limit=1)
    with pytest.raises(SssleError, match="generate with --save-sources"):
        train("nmf", plain, tmp_path / "m", {})


def test_predict_never_leaves_a_score_json_of_other_predictions(toy_dataset: Path, tmp_path: Path):
    train("oracle-presence-split", toy_dataset, tmp_path / "m", {})
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "score.json").write_text('{"old": true}')
    said: list[str] = []
    out = predict(
        "oracle-presence-split", toy_dataset, tmp_path / "m", tmp_path / "s", echo=said.append
    )
    assert not (out / "score.json").exists()
    assert said[0] == f"removed {out / 'score.json'}: it scored the previous predictions"


def test_class_prior_takes_each_conditions_own_prior(toy_dataset: Path, tmp_path: Path):
    """In a condition, the median of that condition's training levels (protection included)."""
    est = train("class-prior", toy_dataset, tmp_path / "m", {})
    truth = pd.read_csv(toy_dataset / "ground_truth" / "train.csv")
    checked = 0
    for (cond, label), rows in truth.groupby(["condition", "class"]):
        info = MixtureInfo("m", "test", cond, {})
        got = est.predict(np.zeros(10), 16000, info).levels[label]
        if rows["present"].mean() >= 0.5:
            assert got == pytest.approx(rows.loc[rows["present"] == 1, "level_dbfs_a"].median())
            checked += 1
        else:
            assert got == -np.inf
    assert checked >= 4
    unknown = est.predict(np.zeros(10), 16000, MixtureInfo("m", "test", "bg-99", {}))
    assert unknown.levels == est.predict(np.zeros(10), 16000).levels  # pooled prior


#: A quick model of every built-in method on the toy world, and the conditions it predicts.
_QUICK_MODELS = {
    "class-prior": ({}, None),
    "oracle-presence-split": ({}, None),
    "nmf": ({"components": 4, "train_iterations": 20, "predict_iterations": 20}, None),
    "sup-sep": ({"preset": "cpu", "epochs": 1, "batch_size": 4, "conditions": ["none"]}, ("none",)),
    "weak-sep": (None, None),  # the shipped demo checkpoints, trained on this world
}


def test_every_built_in_method_has_a_parallel_prediction_test():
    from sssle_bench.estimators import available

    built_in = {n for n, ep in available().items() if ep.value.startswith("sssle_bench.")}
    assert built_in == set(_QUICK_MODELS)


@pytest.mark.parametrize("name", sorted(_QUICK_MODELS))
def test_predict_in_two_processes_writes_the_same_bytes(
    name: str, toy_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``--jobs 2`` (spawned workers, torch's threads shared out) writes the bytes that one
    process writes; batches of 2 mixtures make several tasks of the toy split."""
    from sssle_bench.cli import main
    from sssle_bench.estimators import run
    from sssle_bench.estimators.weak_sep.shipped import checkpoint_dir

    config, conditions = _QUICK_MODELS[name]
    model = checkpoint_dir() if config is None else tmp_path / "m"
    if config is not None:
        train(name, toy_dataset, model, config)
    monkeypatch.setattr(run, "BATCH", 2)
    outs = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        args = ["predict", name, str(toy_dataset), "--model", str(model), "--out", str(out)]
        args += ["--jobs", str(jobs), *(f"--condition={c}" for c in conditions or ())]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs[0] == outs[1] and len(outs[0]["predictions.csv"].splitlines()) > 5
