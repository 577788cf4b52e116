"""Checkpoints shipped with the package: weak-sep trained on the demo's toy world.

``checkpoints/toy/`` holds a model folder exactly as ``sssle-bench train weak-sep``
writes it (``sssle_estimator.json``, ``estimator.json``, ``model.pt``,
``history.json``), the shared classifier it pretrained (``classifier-{key}.pt``),
the config it was trained with (``config.toml``) and ``provenance.json``: the
command, seed, machine, wall time, the identity of the dataset it was trained on
(recipe hash and the sha256 of its ground truth) and the sha256 of every file.
A copy is refused unless the dataset is that very dataset and every file has its
recorded sha256.
"""

from __future__ import annotations

import json
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from ...dataset import GeneratedDataset
from ...errors import SssleError
from ...paths import sha256_file, write_bytes

#: Splits whose ground truth the training read (training, and validation for model choice).
TRAINED_ON = ("train", "valid")


def checkpoint_dir(world: str = "toy") -> Path:
    """Where the shipped checkpoints of ``world`` lie (inside the installed package)."""
    with as_file(files("sssle_bench.estimators.weak_sep").joinpath("checkpoints", world)) as p:
        return Path(p)


def read_provenance(folder: Path) -> dict[str, Any]:
    """``provenance.json`` of a checkpoint folder; one clear error if missing or broken."""
    path = Path(folder) / "provenance.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SssleError(f"{path}: unreadable provenance ({exc}); reinstall sssle-bench") from exc


def dataset_identity(dataset: GeneratedDataset) -> dict[str, Any]:
    """What makes two datasets the same for training: the recipe hash and the manifest's
    sha256 of each trained-on split's ground truth."""
    return {
        "recipe_hash": dataset.manifest.get("recipe_hash"),
        **{
            f"ground_truth/{split}.csv": dataset.manifest["files"].get(f"ground_truth/{split}.csv")
            for split in TRAINED_ON
        },
    }


def check_checkpoints(folder: Path, dataset: GeneratedDataset | None = None) -> dict[str, Any]:
    """Every recorded file has its sha256 (and, given a dataset, it is the one the
    checkpoints were trained on); returns the provenance."""
    folder = Path(folder)
    prov = read_provenance(folder)
    for name, digest in prov["files"].items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != digest:
            raise SssleError(f"{path}: missing or not the shipped file (sha256 differs)")
    if dataset is not None and dataset_identity(dataset) != prov["dataset"]:
        raise SssleError(
            f"{dataset.root} is not the dataset the shipped weak-sep checkpoints were trained "
            "on (recipe or ground truth differ); retrain them (`make demo RETRAIN=1`)"
        )
    return prov


def install_checkpoints(folder: Path, dest: Path, dataset: GeneratedDataset) -> dict[str, Any]:
    """Copy the checked model files of ``folder`` into the model folder ``dest``."""
    prov = check_checkpoints(folder, dataset)
    for name in prov["model_files"]:
        write_bytes(Path(dest), name, (Path(folder) / name).read_bytes())
    return prov


def same_model(folder: Path, model_dir: Path) -> bool:
    """True if ``model_dir`` holds byte for byte the shipped model files of ``folder``."""
    prov = read_provenance(folder)
    return all(
        (Path(model_dir) / name).is_file()
        and sha256_file(Path(model_dir) / name) == prov["files"][name]
        for name in prov["model_files"]
    )


#: The files of a model folder that ``predict`` loads.
MODEL_FILES = ("sssle_estimator.json", "estimator.json", "model.pt", "history.json")
