"""Training and the estimator (train.py, estimator.py): seeding, resume, one model per
condition, warm start, conditions trained in parallel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch  # the [model] extra; `make test` installs it (CPU build)

from sssle_bench.errors import SssleError
from sssle_bench.estimators.run import train
from sssle_bench.estimators.weak_sep.config import make_config


def untimed(history: dict) -> dict:
    """A training history without its wall-clock epoch seconds (which differ per run)."""
    return {
        condition: {
            **record,
            "epochs": [
                {k: v for k, v in epoch.items() if k != "seconds"} for epoch in record["epochs"]
            ],
        }
        for condition, record in history.items()
    }


QUICK = {
    "preset": "cpu",
    "epochs": 2,
    "classifier_epochs": 1,
    "batch_size": 4,
    "conditions": ["none", "bg-20"],
}


def weights(folder: Path) -> dict:
    """Separator weights by condition."""
    saved = torch.load(folder / "model.pt", weights_only=True)["conditions"]
    return {condition: nets["separator"] for condition, nets in saved.items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[c][k], b[c][k]) for c in a for k in a[c])


def test_same_seed_same_weights_and_resume(toy_dataset: Path, tmp_path: Path):
    cold = {**QUICK, "warm_start": None}  # each condition resumes on its own
    train("weak-sep", toy_dataset, tmp_path / "a", cold)
    train("weak-sep", toy_dataset, tmp_path / "b", cold)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert set(a) == {"none", "bg-20"} and same(a, b)
    # interrupted after epoch 1, resumed: the same weights as the uninterrupted run
    train("weak-sep", toy_dataset, tmp_path / "c", {**cold, "epochs": 1})
    logs = []
    from sssle_bench.estimators import estimator_class

    est = estimator_class("weak-sep")(**cold)
    est.workdir, est.log = tmp_path / "c", logs.append
    from sssle_bench.dataset import GeneratedDataset

    est.fit(GeneratedDataset(toy_dataset))
    est.save(tmp_path / "c")
    assert sum(line.startswith("resuming from") for line in logs) == 2
    assert same(a, weights(tmp_path / "c"))
    for condition, history in est.state["history"].items():
        assert history["condition"] == condition and len(history["epochs"]) == 2
        assert set(history["epochs"][0]["train"]) == {
            "consistency",
            "critic",
            "background",
            "total",
        }


def test_one_model_per_condition_with_its_own_margin(toy_dataset: Path, tmp_path: Path):
    """Each condition's margin is its own training set's; predict routes by condition."""
    from sssle_bench.dataset import GeneratedDataset, MixtureInfo
    from sssle_bench.estimators import estimator_class
    from sssle_bench.estimators.weak_sep.data import training_margin

    ds = GeneratedDataset(toy_dataset)
    est = train("weak-sep", toy_dataset, tmp_path / "m", {**QUICK, "epochs": 1})
    margins = {c: h["margin"] for c, h in est.state["history"].items()}
    assert margins == {c: pytest.approx(training_margin(ds, "train", c, est.cfg)) for c in margins}
    assert margins["none"] < 0.05 < margins["bg-20"]
    loaded = estimator_class("weak-sep").load(tmp_path / "m")
    audio = next(ds.mixtures("test")).audio
    info = {c: MixtureInfo("m", "test", c, {}) for c in ("none", "bg-20")}
    by_model = {c: loaded.predict(audio, 16000, info[c]) for c in info}
    assert by_model["none"].levels != by_model["bg-20"].levels  # two models, two answers
    both = loaded.predict_batch([audio, audio], 16000, [info["bg-20"], info["none"]])
    assert [p.levels for p in both] == [by_model["bg-20"].levels, by_model["none"].levels]
    assert [p.lafmax for p in both] == [by_model["bg-20"].lafmax, by_model["none"].lafmax]
    for got, want in zip(both, (by_model["bg-20"], by_model["none"]), strict=True):
        assert all(np.array_equal(got.intervals[c], want.intervals[c]) for c in ds.classes)
        assert all(got.intervals[c].size == 4 for c in ds.classes)  # 4 s: four 1 s intervals
    with pytest.raises(SssleError, match="no model for condition 'bg0'"):
        loaded.predict(audio, 16000, MixtureInfo("m", "test", "bg0", {}))


def test_conditions_trained_in_parallel_have_the_serial_weights(toy_dataset: Path, tmp_path):
    """``train --jobs 2`` trains the conditions in two processes: the same weights (and
    histories) as one after the other, each condition being seeded on its own."""
    serial = train("weak-sep", toy_dataset, tmp_path / "serial", {**QUICK, "epochs": 1})
    parallel = train("weak-sep", toy_dataset, tmp_path / "par", {**QUICK, "epochs": 1}, jobs=2)
    assert same(weights(tmp_path / "serial"), weights(tmp_path / "par"))
    assert untimed(serial.state["history"]) == untimed(parallel.state["history"])
    assert (tmp_path / "par" / "conditions" / "bg-20" / "checkpoint.pt").is_file()


def test_a_warm_start_begins_every_other_condition_from_the_first_ones_separator(
    toy_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``warm_start = "none"``: the none model trains first and its trained separator is
    where bg-20's starts; ``fit`` starts a fresh separator from the weights it is given."""
    from sssle_bench.dataset import GeneratedDataset
    from sssle_bench.estimators import estimator_class
    from sssle_bench.estimators.weak_sep import estimator as module
    from sssle_bench.estimators.weak_sep.train import fit

    given = {}

    def spy(config, dataset, split, workdir, log, condition, shared, init=None):
        given[condition] = init
        return fit(config, dataset, split, workdir, log, condition, shared, init)

    monkeypatch.setattr(module, "fit", spy)
    warm = train("weak-sep", toy_dataset, tmp_path / "w", QUICK)  # cpu preset: warm_start none
    assert given["none"] is None and warm.state["history"]["bg-20"]["warm_start"] == "none"
    trained = warm.models["none"].separator.state_dict()
    assert all(torch.equal(given["bg-20"][k], trained[k]) for k in trained)
    # fit: with a learning rate of 0 the separator keeps the weights it started from
    config = make_config({**QUICK, "epochs": 1, "learning_rate": 0.0})
    start = {k: v + 0.5 for k, v in trained.items()}
    model, _ = fit(
        config, GeneratedDataset(toy_dataset), "train", None, lambda s: None, "bg-20", None, start
    )
    for name, value in model.separator.named_parameters():
        assert torch.equal(value, start[name]), name
    # the none model trained on: bg-20's checkpoint started elsewhere and trains again, to
    # the weights of an uninterrupted run
    train("weak-sep", toy_dataset, tmp_path / "x", {**QUICK, "epochs": 1})
    logs: list[str] = []
    est = estimator_class("weak-sep")(**QUICK)
    est.workdir, est.log = tmp_path / "x", logs.append
    est.fit(GeneratedDataset(toy_dataset))
    est.save(tmp_path / "x")
    assert any("did not start from this warm start: training bg-20 again" in x for x in logs)
    assert same(weights(tmp_path / "x"), weights(tmp_path / "w"))
    # one condition asked for: its warm start is trained first (or resumed), not saved
    alone = train("weak-sep", toy_dataset, tmp_path / "w", {**QUICK, "conditions": ["bg-50"]})
    assert list(alone.models) == ["bg-50"] and given["bg-50"] is not None
    assert all(torch.equal(given["bg-50"][k], trained[k]) for k in trained)  # none resumed


def test_the_warm_start_model_trains_its_own_number_of_epochs(toy_dataset: Path, tmp_path: Path):
    """``warm_start_epochs``: the none model (from scratch) gets 3 epochs, bg-20 (started
    from it) the config's 1."""
    config = {**QUICK, "epochs": 1, "warm_start_epochs": 3, "conditions": ["none", "bg-20"]}
    est = train("weak-sep", toy_dataset, tmp_path / "m", config)
    history = est.state["history"]
    assert [len(history[c]["epochs"]) for c in ("none", "bg-20")] == [3, 1]
    assert history["bg-20"]["warm_start"] == "none"


def test_train_one_condition_from_the_command_line(toy_dataset: Path, tmp_path: Path):
    from click.testing import CliRunner

    from sssle_bench.cli import main

    config = tmp_path / "c.toml"
    config.write_text('preset = "cpu"\nepochs = 1\nclassifier_epochs = 1\n')
    args = ["train", "weak-sep", str(toy_dataset), "--out", str(tmp_path / "m")]
    ok = CliRunner().invoke(main, [*args, "--config", str(config), "--condition", "bg-50"])
    assert ok.exit_code == 0, ok.output
    assert set(weights(tmp_path / "m")) == {"bg-50"}
    bad = CliRunner().invoke(main, [*args, "--config", str(config), "--condition", "bg-7"])
    assert bad.exit_code == 2 and "condition(s) bg-7 not in" in bad.output


def test_short_training_lowers_loss_and_beats_class_prior(toy_dataset: Path, tmp_path: Path):
    """On the toy training split, weak-sep's level error ends below class-prior's."""
    from sssle_bench.estimators.run import predict
    from sssle_bench.metrics import ScoreSettings
    from sssle_bench.scoring import score_submission

    config = {
        "preset": "cpu",
        "epochs": 8,
        "classifier_epochs": 10,
        "batch_size": 4,
        "patience": 8,
    }
    est = train("weak-sep", toy_dataset, tmp_path / "ws", config)
    for history in est.state["history"].values():
        totals = [e["train"]["total"] for e in history["epochs"]]
        assert totals[-1] < totals[0]
    train("class-prior", toy_dataset, tmp_path / "cp", {})
    mae = {}
    for name, model in [("weak-sep", "ws"), ("class-prior", "cp")]:
        sub = predict(
            name,
            toy_dataset,
            tmp_path / model,
            tmp_path / f"s-{model}",
            split="train",
            echo=lambda s: None,
        )
        doc = score_submission(
            sub / "predictions.csv", toy_dataset, "train", ScoreSettings(bootstrap=0)
        )
        mae[name] = doc["overall"]["all"]["mae_present_db"]["value"]
    assert mae["weak-sep"] < mae["class-prior"], mae
