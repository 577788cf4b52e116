"""Put a trained weak-sep model folder into the package as the demo's shipped checkpoints.

    python experiments/tools/ship_checkpoints.py MODEL_DIR DATASET --config CONFIG \
        --command "sssle-bench train ..." --wall-s SECONDS --commit SHA

Copies the model files, the shared classifier and the config into
``sssle_bench/estimators/weak_sep/checkpoints/toy/`` and writes its
``provenance.json`` (command, code commit, seed, machine, torch version, wall
time, the dataset's identity, every file's sha256).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path
from typing import Any

import torch
from tool_main import run_tool

from sssle_bench.dataset import GeneratedDataset
from sssle_bench.errors import SssleError
from sssle_bench.estimators.run import read_config
from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.shipped import MODEL_FILES, dataset_identity
from sssle_bench.executors import available_cores
from sssle_bench.paths import sha256_file, write_bytes

DEST = Path(__file__).resolve().parents[2] / "sssle_bench/estimators/weak_sep/checkpoints/toy"


def write_checkpoints(
    model_dir: Path,
    dataset: GeneratedDataset,
    config_file: Path,
    dest: Path,
    record: dict[str, Any],
) -> dict[str, Any]:
    """Copy a trained model folder's files, its shared classifier and its config into
    ``dest`` and write ``provenance.json``: ``record`` (command, machine, wall time) plus
    the dataset's identity and every file's sha256. Returns the provenance."""
    model_dir, dest = Path(model_dir), Path(dest)
    classifiers = sorted(p.name for p in model_dir.glob("classifier-*.pt"))
    if len(classifiers) != 1:
        raise SssleError(f"{model_dir}: expected one shared classifier file, found {classifiers}")
    names = [*MODEL_FILES, *classifiers]
    for name in names:
        write_bytes(dest, name, (model_dir / name).read_bytes())
    write_bytes(dest, "config.toml", Path(config_file).read_bytes())
    prov = {
        **record,
        "dataset": dataset_identity(dataset),
        "model_files": list(MODEL_FILES),
        "classifier_file": classifiers[0],
        "files": {name: sha256_file(dest / name) for name in [*names, "config.toml"]},
    }
    write_bytes(dest, "provenance.json", (json.dumps(prov, indent=1) + "\n").encode())
    return prov


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--wall-s", type=float, required=True)
    parser.add_argument("--commit", required=True, help="the commit whose code trained it")
    parser.add_argument("--note", default="", help="how the run went, in words")
    args = parser.parse_args()
    config = make_config(read_config(args.config))
    record = {
        "what": "weak-sep trained on the demo's toy world (recipes/toy.toml, synthetic seed 0)",
        "command": args.command,
        "commit": args.commit,
        "seed": config.seed,
        "threads": config.threads,
        "torch": torch.__version__,
        "machine": f"{cpu_model()}, {available_cores()} cores, {platform.machine()}",
        "wall_s": args.wall_s,
        "date": datetime.date.today().isoformat(),
        "note": args.note,
    }
    prov = write_checkpoints(args.model, GeneratedDataset(args.dataset), args.config, DEST, record)
    print(f"wrote {DEST}: {', '.join(prov['files'])}")


if __name__ == "__main__":
    run_tool(main)
