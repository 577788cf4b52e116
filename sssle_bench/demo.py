"""The end-to-end demo on built-in synthetic data (``make demo`` / ``sssle-bench demo``).

Synthetic sources -> the toy dataset in all four conditions (with isolated
sources, which ``nmf`` trains on) -> train and predict every built-in
estimator (``weak-sep`` in a CPU-sized setting, when torch is installed) ->
score -> leaderboard. Every step skips work a previous run finished.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from .errors import SssleError
from .estimators.run import predict, train
from .generate.check import verify_dataset
from .generate.runner import generate_dataset
from .leaderboard import build_leaderboard
from .metrics import ScoreSettings
from .sources.synthetic import make_synthetic_sources

#: The estimators the demo runs, with CPU-sized settings.
DEMO_METHODS: dict[str, dict[str, Any]] = {
    "class-prior": {},
    "oracle-presence-split": {},
    "nmf": {"components": 8, "train_iterations": 60, "predict_iterations": 40},
    # One thread: training is then bit-reproducible, so the README table is what the demo prints.
    # One model per condition, 60 training mixtures each (240 in all).
    "weak-sep": {"preset": "cpu", "max_train_mixtures": 60, "threads": 1},
}


def run_demo(out: Path, jobs: int, echo: Callable[[str], None] = print) -> Path:
    """Run the whole pipeline under ``out``; returns the leaderboard's ``index.html``."""
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
        methods.pop("weak-sep")
    submissions = []
    for i, (name, config) in enumerate(methods.items(), 1):
        models, sub = out / "models" / name, out / "submissions" / name
        echo(f"[3/5] ({i}/{len(methods)}) train + predict {name}")
        if not (models / "sssle_estimator.json").is_file():
            train(name, dataset, models, config)
        if not (sub / "predictions.csv").is_file():
            predict(name, dataset, models, sub, split="test", echo=echo)
        submissions.append(sub)
    echo("[4/5] score + [5/5] leaderboard")
    board = out / "leaderboard"
    build_leaderboard(submissions, dataset, board, "test", ScoreSettings(), echo=echo)
    echo((board / "leaderboard.md").read_text(encoding="utf-8"))
    echo(f"leaderboard page: {board / 'index.html'}")
    return board / "index.html"
