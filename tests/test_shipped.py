"""The weak-sep checkpoints shipped for the demo: intact, trained on the demo's world, by
the recorded command (its first epochs are reproduced here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from sssle_bench.dataset import GeneratedDataset
from sssle_bench.demo import weak_sep_config
from sssle_bench.errors import SssleError
from sssle_bench.estimators.run import load_trained, train
from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.critic import pretrain_shared_classifier
from sssle_bench.estimators.weak_sep.shipped import (
    check_checkpoints,
    checkpoint_dir,
    dataset_identity,
    install_checkpoints,
    read_provenance,
    same_model,
)
from sssle_bench.estimators.weak_sep.train import fit

SHIPPED = checkpoint_dir()
#: Relative tolerance of a loss reproduced on another machine: float reductions differ
#: across CPU kernels; a change of seed, data or config moves these losses by percents.
RTOL = 1e-3


def test_every_shipped_file_has_its_recorded_sha256(tmp_path: Path):
    prov = check_checkpoints(SHIPPED)
    assert set(prov["model_files"]) <= set(prov["files"]) and "config.toml" in prov["files"]
    assert sum((SHIPPED / n).stat().st_size for n in prov["files"]) < 4 * 2**20  # a few MB
    tampered = tmp_path / "toy"
    shutil.copytree(SHIPPED, tampered)
    with (tampered / "model.pt").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(SssleError, match="sha256"):
        check_checkpoints(tampered)


def test_the_shipped_model_is_the_demo_config_with_one_model_per_condition():
    model = load_trained("weak-sep", SHIPPED)
    assert model.cfg == make_config(weak_sep_config())
    assert model.cfg.threads == 1 and model.cfg.device == "cpu"
    assert sorted(model.trainers) == ["bg-20", "bg-50", "bg0", "none"]
    assert read_provenance(SHIPPED)["seed"] == model.cfg.seed


def test_checkpoints_are_refused_for_another_dataset(toy_dataset: Path, tmp_path: Path):
    with pytest.raises(SssleError, match="not the dataset"):
        install_checkpoints(SHIPPED, tmp_path / "m", GeneratedDataset(toy_dataset))
    assert not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def demo_world(toy_full: Path) -> GeneratedDataset:
    """The demo's toy world, generated here; the shipped checkpoints name it as theirs."""
    ds = GeneratedDataset(toy_full)
    assert dataset_identity(ds) == read_provenance(SHIPPED)["dataset"]
    return ds


def test_the_recorded_command_reproduces_the_first_classifier_epoch(demo_world):
    """Pretraining the shared classifier as the command does gives the shipped history's
    first epoch (the whole run is that epoch repeated from the same seed)."""
    config = make_config({**weak_sep_config(), "classifier_epochs": 1})
    _, bce = pretrain_shared_classifier(config, demo_world, "train", None, log=lambda s: None)
    shipped = json.loads((SHIPPED / "history.json").read_text())["none"]["classifier"]
    assert bce[0] == pytest.approx(shipped[0], rel=RTOL)


def same_terms(got: dict, shipped: dict) -> None:
    """Every loss term of an epoch, in training and validation, within :data:`RTOL`."""
    for part in ("train", "valid"):
        for term, value in shipped[part].items():
            assert got[part][term] == pytest.approx(value, rel=RTOL), (part, term)


def test_the_recorded_command_reproduces_the_first_separator_epochs(demo_world, tmp_path: Path):
    """From the shipped classifier (reused only because its key, i.e. config and dataset,
    matches), the command's first epoch of the ``none`` model, and the first epoch of
    ``bg-20`` warm-started from the shipped ``none`` separator (as the command starts it),
    give the shipped history's loss terms."""
    prov = read_provenance(SHIPPED)
    shipped = json.loads((SHIPPED / "history.json").read_text())
    out = tmp_path / "model"
    out.mkdir()
    shutil.copy(SHIPPED / prov["classifier_file"], out)
    config = {**weak_sep_config(), "epochs": 1, "conditions": ["none"]}
    est = train("weak-sep", demo_world.root, out, config)
    same_terms(est.state["history"]["none"]["epochs"][0], shipped["none"]["epochs"][0])
    saved = torch.load(SHIPPED / prov["classifier_file"], weights_only=False)
    assert est.state["history"]["none"]["classifier"] == saved["losses"]  # the file was reused
    none = torch.load(SHIPPED / "model.pt", weights_only=True)["conditions"]["none"]["separator"]
    one_epoch = make_config({**weak_sep_config(), "epochs": 1})
    classifier = (saved["classifier"], saved["losses"])
    _, history = fit(
        one_epoch, demo_world, "train", None, lambda s: None, "bg-20", classifier, none
    )
    same_terms(history["epochs"][0], shipped["bg-20"]["epochs"][0])


def test_same_model_compares_bytes(tmp_path: Path):
    prov = read_provenance(SHIPPED)
    for name in prov["model_files"]:
        shutil.copy(SHIPPED / name, tmp_path / name)
    assert same_model(SHIPPED, tmp_path)
    (tmp_path / "history.json").write_text("{}")
    assert not same_model(SHIPPED, tmp_path)
