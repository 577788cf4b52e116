"""``experiment run``: the dataset, each variant's training (resumable, in parallel),
its predictions, the leaderboard and the figures, recorded for ``experiment status``."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import SssleError, excerpt
from ..executors import run_spawned
from ..paths import remove_file, write_bytes, write_text
from .spec import Experiment, check_configs, variant_config
from .status import PLAN, RUNNING


def _dataset(experiment: Experiment, out: Path, jobs: int, echo: Callable[[str], None]) -> Path:
    """The experiment's dataset: the given one, or generated (resumably) under ``out``."""
    if experiment.dataset_path is not None:
        return experiment.dataset_path
    from ..generate.runner import generate_dataset
    from ..sources import resolve_data_home
    from ..sources.synthetic import make_synthetic_sources

    if experiment.synthetic is not None:
        home = out / "sources"
        if not (home / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv").is_file():
            echo(f"making the {experiment.synthetic} synthetic world in {home}")
            make_synthetic_sources(home, 0, experiment.synthetic, jobs)
    else:
        home = resolve_data_home(experiment.data_home)
    dataset = out / "dataset"
    generate_dataset(
        experiment.recipe, dataset, home, jobs=jobs, save_sources=experiment.save_sources, echo=echo
    )
    return dataset


def run_experiment(
    experiment: Experiment,
    out: Path,
    jobs: int = 1,
    echo: Callable[[str], None] = print,
    only: tuple[str, ...] = (),
) -> Path | None:
    """Run (or resume) every step; returns the leaderboard's ``index.html``. The run
    folder records its plan and, while running, its process (``experiment status``).

    ``only``: train and predict these variants alone (one cluster job each, into one
    shared ``out``); the leaderboard is built once every variant has its predictions,
    else None is returned. Each such process keeps its own running marker."""
    unknown = [v for v in only if v not in experiment.variants]
    if unknown:
        raise SssleError(
            f"no variant {excerpt(unknown[0])} in {experiment.name}: "
            f"its variants are {', '.join(experiment.variants)}"
        )
    check_configs(experiment)
    out = Path(out)
    dataset = _dataset(experiment, out, jobs, echo)
    plan = _plan(experiment, dataset)
    judged = _judged_conditions(experiment.name, plan, dataset)
    write_text(out, PLAN, json.dumps(plan, indent=1))
    marker = RUNNING if not only else f"running-{'-'.join(dict.fromkeys(only))}.json"
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "variants": list(only) or None}
    write_text(out, marker, json.dumps(owner))
    try:
        return _run(experiment, out, dataset, jobs, echo, judged, tuple(dict.fromkeys(only)))
    finally:
        remove_file(out, marker)


def _run(
    experiment: Experiment,
    out: Path,
    dataset: Path,
    jobs: int,
    echo: Callable[[str], None],
    judged: tuple[str, ...] | None,
    only: tuple[str, ...] = (),
) -> Path | None:
    """Every step of :func:`run_experiment` after the dataset; ``judged``: the conditions
    predicted and scored (None: all)."""
    from ..estimators.run import predict

    selected = only or tuple(experiment.variants)
    pending = []
    for i, variant in enumerate(experiment.variants, 1):
        if variant not in selected:
            continue
        model = out / "models" / variant
        if _claim(model, variant_config(experiment, variant)):
            echo(f"[{i}/{len(experiment.variants)}] {variant}: trained")
        else:
            pending.append(variant)
    # Parts every variant can share (weak-sep's pretrained classifier) are kept in one
    # folder, each under a name that proves its inputs; trained once, before the variants
    # fan out, so parallel variants never train the same part twice.
    cache = out / "cache"
    for variant in pending:
        _prepare_variant(experiment, dataset, variant, cache)
    _train_parallel(experiment, dataset, out, pending, cache, jobs, echo)
    for variant in selected:
        sub = out / "submissions" / variant
        if not (sub / "predictions.csv").is_file():
            predict(
                experiment.method,
                dataset,
                out / "models" / variant,
                sub,
                experiment.test_split,
                echo=echo,
                conditions=judged,
                jobs=jobs,
            )
        write_text(sub, "meta.toml", _meta(sub, variant))
    return _leaderboard(experiment, out, dataset, judged, echo)


def _leaderboard(
    experiment: Experiment,
    out: Path,
    dataset: Path,
    judged: tuple[str, ...] | None,
    echo: Callable[[str], None],
) -> Path | None:
    """Score every variant's submission into ``out/leaderboard``, draw the figure groups
    and write ``summary.md``; None (and a line) while some variant has no predictions."""
    from ..leaderboard import build_leaderboard, plots
    from ..metrics import ScoreSettings

    missing = [
        v for v in experiment.variants if not (out / "submissions" / v / "meta.toml").is_file()
    ]
    if missing:
        echo(
            f"leaderboard: waiting for {', '.join(missing)} (run them, then once without --variant)"
        )
        return None
    submissions = [out / "submissions" / v for v in experiment.variants]
    board = out / "leaderboard"
    settings = ScoreSettings(bootstrap=experiment.bootstrap)
    build_leaderboard(
        submissions, dataset, board, experiment.test_split, settings, echo=echo, conditions=judged
    )
    docs = {
        variant: json.loads((board / "scores" / f"{variant}.json").read_text(encoding="utf-8"))
        for variant in experiment.variants
    }
    for group, members in experiment.figures.items():
        png = plots.mae_by_condition({m: docs[m] for m in members})
        write_bytes(out, f"figures/{group}.png", png)
    write_text(out, "summary.md", condition_table(docs))
    return board / "index.html"


def _judged_conditions(name: str, plan: dict[str, Any], dataset: Path) -> tuple[str, ...] | None:
    """The conditions the plan's variants train models for, when that is fewer than the
    dataset has (predicted and judged alone; None: all). Variants that differ are an error,
    raised before anything trains."""
    from ..dataset import GeneratedDataset

    trained = {tuple(v["conditions"]) for v in plan["variants"].values()}
    if len(trained) > 1:
        raise SssleError(
            f"experiment {name!r}: variants train different conditions "
            f"({'; '.join(', '.join(c) for c in sorted(trained))}); one leaderboard needs "
            "the same ones"
        )
    conditions = trained.pop() if trained else ()
    if not conditions or set(conditions) == set(GeneratedDataset(dataset).conditions):
        return None
    return conditions


def _plan(experiment: Experiment, dataset: Path) -> dict[str, Any]:
    """The run's plan for ``experiment status``: per variant, the conditions it trains a
    model for, the most epochs each may take and its training mixtures per condition
    (None: all; from the method's resolved config)."""
    from ..dataset import GeneratedDataset
    from ..estimators import estimator_class

    cls = estimator_class(experiment.method)
    all_conditions = list(GeneratedDataset(dataset).conditions)
    variants = {}
    for variant in experiment.variants:
        resolved = cls(**variant_config(experiment, variant)).config
        epochs, mixtures = resolved.get("epochs"), resolved.get("max_train_mixtures")
        variants[variant] = {
            "conditions": list(resolved.get("conditions") or all_conditions),
            "epochs": epochs if isinstance(epochs, int) else None,
            "mixtures": mixtures if isinstance(mixtures, int) else None,
        }
    return {"name": experiment.name, "method": experiment.method, "variants": variants}


def condition_table(docs: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per variant, its MAE over present sources (dB) with the 95%
    bootstrap interval in each condition and overall."""
    conditions = list(next(iter(docs.values()))["by_condition"]) if docs else []

    def cell(fig: dict[str, Any]) -> str:
        if fig.get("ci_low") is None:
            return f"{fig['value']:.2f}"
        return f"{fig['value']:.2f} [{fig['ci_low']:.2f}, {fig['ci_high']:.2f}]"

    lines = [
        "| variant | " + " | ".join(conditions) + " | all |",
        "|---" * (len(conditions) + 2) + "|",
    ]
    for name, doc in docs.items():
        cells = [cell(doc["by_condition"][c]["mae_present_db"]) for c in conditions]
        cells.append(cell(doc["overall"]["all"]["mae_present_db"]))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _prepare_variant(experiment: Experiment, dataset: Path, variant: str, cache: Path) -> None:
    """Train (or find in ``cache``) the parts of a variant its method shares across models
    (``prepare_shared``; weak-sep: the pretrained classifier); nothing for other methods."""
    from ..dataset import GeneratedDataset
    from ..estimators import estimator_class

    est = estimator_class(experiment.method)(**variant_config(experiment, variant))
    if hasattr(est, "prepare_shared"):
        est.prepare_shared(GeneratedDataset(dataset), experiment.train_split, cache)


def _train_variant(experiment: Experiment, dataset: Path, out: Path, variant: str, cache: Path):
    """Train one variant into ``out/models/{variant}`` (resumes its checkpoints)."""
    from ..estimators.run import train

    config = variant_config(experiment, variant)
    train(
        experiment.method,
        dataset,
        out / "models" / variant,
        config,
        experiment.train_split,
        cache=cache,
    )


def _train_parallel(
    experiment: Experiment,
    dataset: Path,
    out: Path,
    variants: list[str],
    cache: Path,
    jobs: int,
    echo: Callable[[str], None],
) -> None:
    """Train ``variants``, ``jobs`` at a time in worker processes (one each when ``jobs``
    is 1, in this process). A variant's result does not depend on ``jobs``: each trains
    alone, seeded, with its own thread count."""
    if jobs <= 1 or len(variants) <= 1:
        for variant in variants:
            echo(f"training {variant}")
            _train_variant(experiment, dataset, out, variant, cache)
        return
    echo(f"training {', '.join(variants)} ({jobs} at a time)")
    calls = [(experiment, dataset, out, v, cache) for v in variants]
    for i in run_spawned(_train_variant, calls, jobs):
        echo(f"trained {variants[i]}")


def _claim(model: Path, config: dict[str, Any]) -> bool:
    """Tie ``model`` to ``config``; True if that model is already trained.

    The config is recorded before training starts, so an interrupted run resumes
    only into checkpoints of the very same config; a folder trained with another
    config (the experiment file was edited) is refused, never silently reused.
    """
    marker = model / "experiment_config.json"
    wanted = json.dumps(config, sort_keys=True)
    if marker.is_file():
        if marker.read_text(encoding="utf-8") != wanted:
            raise SssleError(
                f"{model} was trained with another config than the experiment file now gives; "
                "delete that folder (and its submission) to train the variant again"
            )
    elif model.exists() and any(model.iterdir()):
        raise SssleError(f"{model} holds files of no experiment run; choose another --out")
    else:
        write_text(model, "experiment_config.json", wanted)
    return (model / "sssle_estimator.json").is_file()


def _meta(sub: Path, variant: str) -> str:
    """The submission's meta.toml with the variant as its method name."""
    from ..submission import read_meta
    from ..toml_files import dumps_toml

    meta = read_meta(sub / "meta.toml")
    return dumps_toml({**meta, "method": variant, "short_name": variant})
