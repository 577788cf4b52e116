"""sup-sep's training that resumes to the same weights, its warm start, levels that
follow the isolated sources, and hostile model folders."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from sssle_bench.dataset import GeneratedDataset
from sssle_bench.errors import SssleError
from sssle_bench.estimators import estimator_class
from sssle_bench.estimators.run import load_trained, train

QUICK = {"preset": "cpu", "epochs": 2, "batch_size": 4, "conditions": ["none"]}


def test_sup_sep_trains_resumes_and_reads_levels(toy_dataset: Path, tmp_path: Path):
    """Two runs give the same weights; one stopped after epoch 1 and resumed gives them too;
    the trained model predicts finite levels for present classes of held-out mixtures, and
    its separation loss fell from the first epoch."""
    a = train("sup-sep", toy_dataset, tmp_path / "a", QUICK)
    train("sup-sep", toy_dataset, tmp_path / "b", QUICK)
    wa = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["conditions"]["none"]
    wb = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["conditions"]["none"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    train("sup-sep", toy_dataset, tmp_path / "c", {**QUICK, "epochs": 1})
    logs: list[str] = []
    est = estimator_class("sup-sep")(**QUICK)
    est.workdir, est.log = tmp_path / "c", logs.append
    est.fit(GeneratedDataset(toy_dataset))
    assert any(line.startswith("resuming from") for line in logs)
    resumed = est.separators["none"].state_dict()
    assert all(torch.equal(wa[k], resumed[k]) for k in wa)
    epochs = a.state["history"]["none"]["epochs"]
    assert len(epochs) == 2 and epochs[1]["train"] < epochs[0]["train"]
    model = load_trained("sup-sep", tmp_path / "a")
    ds = GeneratedDataset(toy_dataset)
    mix = next(iter(ds.mixtures("test", ("none",))))
    pred = model.predict(mix.audio, mix.sample_rate, mix.info)
    assert set(pred.levels) == set(ds.classes)
    assert all(np.isfinite(v) and v < 0 for v in pred.levels.values())


def test_sup_sep_needs_saved_sources(toy_dataset: Path, tmp_path: Path, monkeypatch):
    ds = GeneratedDataset(toy_dataset)
    table = ds.table("train").drop(columns=["sources_dir"])
    monkeypatch.setattr(GeneratedDataset, "table", lambda self, split: table)
    est = estimator_class("sup-sep")(**QUICK)
    with pytest.raises(SssleError, match="--save-sources"):
        est.fit(ds)


def test_a_planted_pickle_is_refused_unread(tmp_path: Path):
    folder = tmp_path / "model"
    folder.mkdir()
    blob = {"name": "sup-sep", "config": {"preset": "cpu"}, "classes": ["dog_bark"]}
    (folder / "estimator.json").write_text(json.dumps({**blob, "conditions": ["none"]}))
    (folder / "sssle_estimator.json").write_text(json.dumps({"name": "sup-sep"}))

    class Boom:
        def __reduce__(self):
            return (print, ("code ran",))

    (folder / "model.pt").write_bytes(pickle.dumps({"conditions": Boom()}))
    with pytest.raises(SssleError, match="model.pt"):
        estimator_class("sup-sep").load(folder)


def test_a_warm_start_begins_bg20_from_the_none_models_best_weights(
    toy_dataset: Path, tmp_path: Path
):
    """cpu preset (``warm_start = "none"``): none trains first and bg-20's separator starts
    from its weights; a bg-20 checkpoint that started elsewhere is trained again, to the
    uninterrupted run's weights; one condition asked for: none is trained, not kept."""
    from sssle_bench.estimators.weak_sep.train import weights_digest

    both = {**QUICK, "epochs": 1, "conditions": ["none", "bg-20"]}
    warm = train("sup-sep", toy_dataset, tmp_path / "w", both)
    start = warm.state["history"]["bg-20"]
    assert start["warm_start"] == "none" and "warm_start" not in warm.state["history"]["none"]
    assert start["warm_start_sha256"] == weights_digest(warm.separators["none"].state_dict())
    # _fit_one with a learning rate of 0 keeps the weights it was given
    est = estimator_class("sup-sep")(**{**both, "learning_rate": 0.0})
    est.classes, est.log = list(GeneratedDataset(toy_dataset).classes), lambda s: None
    given = {k: v + 0.5 for k, v in warm.separators["none"].state_dict().items()}
    net, _ = est._fit_one(GeneratedDataset(toy_dataset), "train", "bg-20", given)
    assert all(torch.equal(v, given[k]) for k, v in net.named_parameters())
    # a cold bg-20 checkpoint is not resumed into the warm run
    cold = train("sup-sep", toy_dataset, tmp_path / "x", {**both, "warm_start": ""})
    a, b = (m.separators["bg-20"].state_dict() for m in (cold, warm))
    assert any(not torch.equal(a[k], b[k]) for k in a)
    logs: list[str] = []
    again = estimator_class("sup-sep")(**both)
    again.workdir, again.log = tmp_path / "x", logs.append
    again.fit(GeneratedDataset(toy_dataset))
    assert any("did not start from this warm start: training again" in x for x in logs)
    for name, value in warm.separators["bg-20"].state_dict().items():
        assert torch.equal(value, again.separators["bg-20"].state_dict()[name]), name
    alone = train("sup-sep", toy_dataset, tmp_path / "w", {**both, "conditions": ["bg-20"]})
    assert list(alone.separators) == ["bg-20"]
    assert alone.state["history"]["bg-20"]["warm_start_sha256"] == start["warm_start_sha256"]
