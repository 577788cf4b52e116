"""The end-to-end demo on built-in synthetic data (``make demo`` / ``sssle-bench demo``).

Synthetic sources -> the toy dataset in all four conditions (with isolated
sources, which ``nmf`` trains on) -> train and predict every built-in
estimator -> score -> leaderboard. Every step skips work a previous run finished.

``weak-sep`` (cpu preset, when torch is installed) needs more training than the
demo's minutes: by default the demo predicts with the checkpoints shipped in the
package (:mod:`sssle_bench.estimators.weak_sep.shipped`), trained on this very toy
world by the command recorded beside them; ``retrain=True`` (``make demo
RETRAIN=1``) trains them again with that command and says whether the result is
byte for byte the shipped one.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from .errors import SssleError
from .estimators.run import predict, read_config, train
from .estimators.weak_sep.shipped import checkpoint_dir, install_checkpoints, same_model
from .generate.check import verify_dataset
from .generate.runner import generate_dataset
from .leaderboard import build_leaderboard
from .metrics import ScoreSettings
from .paths import remove_file, sha256_file, write_text
from .sources.synthetic import make_synthetic_sources

#: The estimators the demo trains itself, with CPU-sized settings (weak-sep: see
#: :func:`weak_sep_config`).
DEMO_METHODS: dict[str, dict[str, Any]] = {
    "class-prior": {},
    "oracle-presence-split": {},
    "nmf": {"components": 8, "train_iterations": 60, "predict_iterations": 40},
}
#: Written into a model folder that holds a copy of the shipped checkpoints.
SHIPPED_MARKER = "shipped.json"


def weak_sep_config() -> dict[str, Any]:
    """The config the shipped checkpoints were trained with (cpu preset, one thread:
    bit-reproducible for its seed on one CPU type, not across CPUs),
    ``weak_sep/checkpoints/toy/``."""
    return read_config(checkpoint_dir() / "config.toml")


def _stamp(models: Path) -> str | None:
    """The model file's sha256 (None if absent): a changed model invalidates predictions."""
    model = models / "model.pt"
    return sha256_file(model) if model.is_file() else None


def _weak_sep_model(
    models: Path, dataset: Path, retrain: bool, jobs: int, echo: Callable[[str], None]
) -> None:
    """The demo's weak-sep model in ``models``: the shipped checkpoints, checked and copied
    (again, if the folder holds anything else), or (``retrain``) trained by their recorded
    command, resumably."""
    from .dataset import GeneratedDataset

    shipped = checkpoint_dir()
    copied = (models / SHIPPED_MARKER).is_file()
    if not retrain:
        if copied and same_model(shipped, models):
            return
        prov = install_checkpoints(shipped, models, GeneratedDataset(dataset))
        write_text(models, SHIPPED_MARKER, json.dumps({"provenance": prov}, indent=1))
        echo(f"weak-sep: the shipped checkpoints of {shipped}, sha256 checked")
        return
    if copied:
        for name in (SHIPPED_MARKER, "sssle_estimator.json"):
            remove_file(models, name)
    if (models / "sssle_estimator.json").is_file():
        return
    echo(f"weak-sep: training it again by the command in {shipped / 'provenance.json'}")
    train("weak-sep", dataset, models, weak_sep_config(), jobs=jobs)
    if same_model(shipped, models):
        echo("weak-sep: the retrained model is byte for byte the shipped one")
    else:
        echo(
            "weak-sep: the retrained model is NOT byte for byte the shipped one (expected on "
            "a CPU whose vector kernels round otherwise than the training machine's: "
            "results/replay-tolerance/); the demo uses the retrained model"
        )


def run_demo(
    out: Path, jobs: int, echo: Callable[[str], None] = print, retrain: bool = False
) -> Path:
    """Run the whole pipeline under ``out``; returns the leaderboard's ``index.html``.
    ``retrain``: train weak-sep instead of predicting with the shipped checkpoints."""
    out = Path(out)
    home, dataset = out / "sources", out / "toy"
    echo(f"[1/5] synthetic sources -> {home}")
    if not (home / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv").is_file():
        make_synthetic_sources(home, seed=0)
    echo(f"[2/5] toy dataset, 4 conditions, with isolated sources -> {dataset}")
    with as_file(files("sssle_bench.recipes").joinpath("toy.toml")) as recipe:
        generate_dataset(recipe, dataset, home, jobs=jobs, save_sources=True, echo=echo)
    problems = verify_dataset(dataset)
    if problems:
        raise SssleError(f"demo dataset failed verification: {problems[0]}")
    methods = dict(DEMO_METHODS)
    if importlib.util.find_spec("torch") is None:
        echo(
            "torch is not installed: skipping weak-sep (pip install 'torch==2.13.0+cpu' '.[model]')"
        )
    else:
        methods["weak-sep"] = weak_sep_config()
    submissions = []
    for i, (name, config) in enumerate(methods.items(), 1):
        models, sub = out / "models" / name, out / "submissions" / name
        echo(f"[3/5] ({i}/{len(methods)}) train + predict {name}")
        if name == "weak-sep":
            stamp = _stamp(models)
            _weak_sep_model(models, dataset, retrain, jobs, echo)
            if _stamp(models) != stamp:
                remove_file(sub, "predictions.csv")
        elif not (models / "sssle_estimator.json").is_file():
            train(name, dataset, models, config)
        if not (sub / "predictions.csv").is_file():
            # one process: its BLAS and torch threads use every core, and on the toy
            # split worker start-up costs more than it saves (benchmarks/README.md)
            predict(name, dataset, models, sub, split="test", echo=echo)
        submissions.append(sub)
    echo("[4/5] score + [5/5] leaderboard")
    board = out / "leaderboard"
    build_leaderboard(submissions, dataset, board, "test", ScoreSettings(), echo=echo)
    echo((board / "leaderboard.md").read_text(encoding="utf-8"))
    echo(f"leaderboard page: {board / 'index.html'}")
    return board / "index.html"
