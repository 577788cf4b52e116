"""Experiments as a command: train every variant of a method, predict, score, compare.

An experiment file (TOML) names a dataset, a method, the configuration every
variant shares and the variants (each a set of config overrides), plus figure
groups: which variants each comparison figure shows. ``sssle-bench experiment
FILE --out DIR`` then, resumably:

1. uses the dataset at ``dataset.path``, or generates ``dataset.recipe`` into
   ``DIR/dataset`` (from ``dataset.data_home``, or from a synthetic world it
   makes in ``DIR/sources`` with ``dataset.synthetic = "small" | "medium"``);
2. trains each variant into ``DIR/models/{variant}`` (weak-sep: one model per
   background condition, each checkpointed; a finished variant is skipped);
3. predicts the test split into ``DIR/submissions/{variant}`` (only the conditions
   the variants train models for, when that is fewer than the dataset has);
4. builds the leaderboard in ``DIR/leaderboard`` (judging those conditions) and, per
   figure group, the MAE per condition with 95% CIs in ``DIR/figures/{group}.png``.

Every variant is judged on the held-out test split, never on its training split.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SssleError, excerpt
from .executors import run_spawned
from .paths import check_name, remove_file, write_bytes, write_text
from .recipe import read_toml

_TOP_KEYS = {"name", "description", "dataset", "method", "base", "variants", "figures", "score"}
_DATASET_KEYS = {"path", "recipe", "data_home", "synthetic", "save_sources", "jobs"}


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment file (see the module docstring); paths resolved against it."""

    name: str
    description: str
    dataset_path: Path | None
    recipe: Path | None
    data_home: Path | None
    synthetic: str | None
    save_sources: bool
    method: str
    base: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    figures: dict[str, tuple[str, ...]]
    train_split: str
    test_split: str
    bootstrap: int


def load_experiment(path: Path) -> Experiment:
    """Read and check an experiment file; one clear error naming the key at fault."""
    path = Path(path)
    return parse_experiment(read_toml(path, "experiment file"), path.parent, str(path))


def _table(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise SssleError(f"{where}: [{key}] must be a table, got {value!r}")
    return value


def parse_experiment(raw: dict[str, Any], root: Path, where: str = "experiment") -> Experiment:
    """Validate raw TOML data; relative dataset paths are taken from ``root``."""
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise SssleError(f"{where}: unknown key(s) {', '.join(unknown)}")
    name = check_name(raw.get("name"), "name", where)
    dataset = _table(raw, "dataset", where)
    if sorted(set(dataset) - _DATASET_KEYS):
        raise SssleError(
            f"{where}: unknown [dataset] key(s) {sorted(set(dataset) - _DATASET_KEYS)}"
        )
    if ("path" in dataset) == ("recipe" in dataset):
        raise SssleError(f"{where}: [dataset] needs exactly one of path (a dataset) or recipe")
    synthetic = dataset.get("synthetic")
    if synthetic not in (None, "small", "medium"):
        raise SssleError(f"{where}: dataset.synthetic {synthetic!r} is not small or medium")
    variants = _table(raw, "variants", where)
    if not variants:
        raise SssleError(f"{where}: no [variants.NAME] table")
    for variant, overrides in variants.items():
        check_name(variant, "variant name", where)
        if not isinstance(overrides, dict):
            raise SssleError(f"{where}: variants.{variant} must be a table")
    figures = {}
    for group, members in _table(raw, "figures", where).items():
        check_name(group, "figure name", where)
        if not isinstance(members, list) or not members or any(m not in variants for m in members):
            raise SssleError(f"{where}: figures.{group} must list variants of this file")
        figures[group] = tuple(members)
    score = _table(raw, "score", where)

    def resolve(key: str) -> Path | None:
        return None if key not in dataset else (root / str(dataset[key])).resolve()

    return Experiment(
        name=name,
        description=str(raw.get("description", "")),
        dataset_path=resolve("path"),
        recipe=resolve("recipe"),
        data_home=resolve("data_home"),
        synthetic=synthetic,
        save_sources=bool(dataset.get("save_sources", False)),
        method=str(raw.get("method", "weak-sep")),
        base=_table(raw, "base", where),
        variants={v: dict(o) for v, o in variants.items()},
        figures=figures,
        train_split=check_name(score.get("train_split", "train"), "train_split", where),
        test_split=check_name(score.get("test_split", "test"), "test_split", where),
        bootstrap=int(score.get("bootstrap", 1000)),
    )


def variant_config(experiment: Experiment, variant: str) -> dict[str, Any]:
    """The full config of a variant: the shared ``base`` with the variant's overrides."""
    return {**experiment.base, **experiment.variants[variant]}


def check_configs(experiment: Experiment) -> None:
    """Build every variant's estimator once, so a bad config fails before any work."""
    from .estimators import estimator_class

    cls = estimator_class(experiment.method)
    for variant in experiment.variants:
        try:
            cls(**variant_config(experiment, variant))
        except SssleError as exc:
            raise SssleError(f"variant {variant!r}: {exc}") from exc


def _dataset(experiment: Experiment, out: Path, jobs: int, echo: Callable[[str], None]) -> Path:
    """The experiment's dataset: the given one, or generated (resumably) under ``out``."""
    if experiment.dataset_path is not None:
        return experiment.dataset_path
    from .generate.runner import generate_dataset
    from .sources import resolve_data_home
    from .sources.synthetic import make_synthetic_sources

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
    from .estimators.run import predict
    from .leaderboard import build_leaderboard, plots
    from .metrics import ScoreSettings

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
    from .dataset import GeneratedDataset

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


#: What a run records in its folder: the plan (every variant's conditions and epochs),
#: and, while it runs, which process runs it.
PLAN = "experiment.json"
RUNNING = "running.json"


def _plan(experiment: Experiment, dataset: Path) -> dict[str, Any]:
    """The run's plan for ``experiment status``: per variant, the conditions it trains a
    model for, the most epochs each may take and its training mixtures per condition
    (None: all; from the method's resolved config)."""
    from .dataset import GeneratedDataset
    from .estimators import estimator_class

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


@dataclass(frozen=True)
class VariantStatus:
    """One variant of a run: ``state`` is "scored", "trained", "training", "stopped"
    (started, and no live process of this run may be training it: rerun to resume),
    "starting" (its ``--variant`` job runs and no model has finished an epoch) or "waiting";
    each condition model's progress (None: not started); seconds of training so far and
    at most left (None: no timing to go by)."""

    variant: str
    state: str
    models: dict[str, Any]
    seconds_spent: float
    seconds_left: float | None


def experiment_status(out: Path) -> tuple[dict[str, Any], str, list[VariantStatus]]:
    """What a run folder holds: its plan, whether a process is running it (a line), and
    every variant's :class:`VariantStatus`. Reads small JSON files only, no weights."""
    from .estimators.progress import read_progress

    out = Path(out)
    try:
        plan = json.loads((out / PLAN).read_text(encoding="utf-8"))
        variants = plan["variants"]
        if not isinstance(variants, dict):
            raise TypeError
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise SssleError(
            f"{out}: no experiment run here ({PLAN} is missing or unreadable; runs started "
            "before `experiment status` existed write it when resumed)"
        ) from exc
    statuses = []
    known: dict[int | None, list[float]] = {}
    for variant, spec in variants.items():
        check_name(variant, "variant name", str(out / PLAN))
        conditions = [check_name(c, "condition", str(out / PLAN)) for c in spec["conditions"]]
        model = out / "models" / variant
        models = {c: read_progress(model / "conditions" / c) for c in conditions}
        times = [t for p in models.values() if p is not None for t in p.epoch_seconds]
        known.setdefault(_mixtures(spec), []).extend(times)
        statuses.append((variant, spec, model, models))
    markers = _marker_states(out)
    result = []
    for variant, spec, model, models in statuses:
        scored = (out / "leaderboard" / "scores" / f"{variant}.json").is_file()
        trained = (model / "sssle_estimator.json").is_file()
        started = any(p is not None for p in models.values())
        state = (
            "scored" if scored else "trained" if trained else "training" if started else "waiting"
        )
        own = markers.get(f"running-{variant}.json", ("not running", None))[0]
        if state == "waiting" and own.startswith("running"):
            state = "starting"  # its job runs, no model has an epoch yet (e.g. the critic)
        if state == "training" and not _may_run(markers, variant, variants):
            state = "stopped"  # interrupted: the same command resumes it
        spent = sum(sum(p.epoch_seconds) for p in models.values() if p is not None)
        median = _epoch_seconds(known, _mixtures(spec))
        left: float | None = 0.0
        if not trained:
            for progress in models.values():
                if progress is None:
                    epochs = spec.get("epochs")
                    counted = isinstance(epochs, int) and not isinstance(epochs, bool)
                    more = epochs * median if counted and median is not None else None
                else:
                    more = progress.seconds_left(median)
                left = None if left is None or more is None else left + more
        result.append(VariantStatus(variant, state, models, spent, left))
    return plan, _running(markers), result


def _mixtures(spec: dict[str, Any]) -> int | None:
    """A plan entry's training mixtures per condition (None: all, or not recorded)."""
    mixtures = spec.get("mixtures")
    ok = isinstance(mixtures, int) and not isinstance(mixtures, bool) and mixtures > 0
    return mixtures if ok else None


def _epoch_seconds(known: dict[int | None, list[float]], mixtures: int | None) -> float | None:
    """The epoch time (s) to expect of a model on ``mixtures`` training mixtures: the
    median epoch of the run's models on as many; else, when both are known, the median
    seconds per training mixture of the models on other counts times ``mixtures`` (an
    epoch's fixed validation pass makes this high for more mixtures, low for fewer);
    else the median of every epoch (None: no epoch yet)."""

    def median(values: list[float]) -> float | None:
        return sorted(values)[len(values) // 2] if values else None

    if known.get(mixtures):
        return median(known[mixtures])
    rates = [t / n for n, times in known.items() if n is not None for t in times]
    if mixtures is not None and rates:
        return median(rates) * mixtures
    return median([t for times in known.values() for t in times])


#: A running marker's state and the variants its process trains (None: all of them, or
#: a marker written before markers listed them).
Marker = tuple[str, tuple[str, ...] | None]


def _marker_states(out: Path) -> dict[str, Marker]:
    """The state of each running marker of a run folder (the whole run's, and one per
    ``--variant`` job) and its variants, by file name; links are not followed."""
    markers = sorted(p for p in out.glob("running*.json") if p.is_file() and not p.is_symlink())
    return {m.name: _marker_state(m) for m in markers}


def _running(states: dict[str, Marker]) -> str:
    """Whether the processes a run folder's markers name (:func:`_marker_states`) are
    alive on this machine."""
    alive = [s for s, _ in states.values() if s.startswith("running")]
    if alive:
        return "; ".join(alive)
    return next((s for s, _ in states.values() if s != "not running"), "not running")


def _may_run(states: dict[str, Marker], variant: str, planned: Iterable[str]) -> bool:
    """Whether a process that may be training ``variant`` is alive (or cannot be checked:
    started on another machine). A marker without its variants covers the one its name
    gives (``running-NAME.json``, NAME a ``planned`` variant), else every variant."""
    for name, (state, variants) in states.items():
        if state.startswith("not running"):
            continue
        single = name.removeprefix("running-").removesuffix(".json")
        if variants is None and name != RUNNING and single in planned:
            variants = (single,)
        if variants is None or variant in variants:
            return True
    return False


def _marker_state(marker: Path) -> Marker:
    """The state of one running marker (see :func:`_running`) and its variants."""
    try:
        blob = json.loads(marker.read_text(encoding="utf-8"))
        pid, host = int(blob["pid"]), str(blob["host"])
        listed = blob.get("variants")
        variants = tuple(map(str, listed)) if isinstance(listed, list) else None
    except (OSError, ValueError, TypeError, KeyError):
        return "not running", None
    if host != socket.gethostname():
        return f"started on another machine ({excerpt(host)}); cannot tell from here", variants
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "not running (its last process stopped before the end)", variants
    except PermissionError:
        pass
    return f"running (process {pid})", variants


def format_status(plan: dict[str, Any], running: str, statuses: list[VariantStatus]) -> str:
    """The status of a run as lines for a terminal (a Markdown table)."""

    def minutes(seconds: float | None) -> str:
        return "?" if seconds is None else f"{seconds / 60:.0f} min"

    def model(condition: str, progress: Any) -> str:
        if progress is None:
            return f"{condition} -"
        best = "" if progress.best_epoch is None else f", best {progress.best_epoch}"
        done = " done" if progress.finished else ""
        return f"{condition} {progress.epochs}/{progress.max_epochs}{best}{done}"

    states = ("scored", "trained", "training", "stopped", "starting")
    counts = {s: sum(v.state == s for v in statuses) for s in states}
    waiting = len(statuses) - sum(counts.values())
    starting = "".join(f"{counts[s]} {s}, " for s in ("stopped", "starting") if counts[s])
    left = [v.seconds_left for v in statuses]
    total = None if any(t is None for t in left) else sum(t for t in left if t is not None)
    lines = [
        f"experiment {excerpt(str(plan.get('name')))} ({excerpt(str(plan.get('method')))}): "
        f"{running}",
        f"{len(statuses)} variants: {counts['scored']} scored, {counts['trained']} trained, "
        f"{counts['training']} training, {starting}{waiting} waiting; training left: at most "
        f"{minutes(total)} (one at a time; early stopping may end sooner)",
        "",
        "| variant | state | models (epochs done/most) | training so far | at most left |",
        "|---|---|---|---|---|",
    ]
    for v in statuses:
        cells = ", ".join(model(c, p) for c, p in v.models.items())
        lines.append(
            f"| {v.variant} | {v.state} | {cells} | {minutes(v.seconds_spent)} | "
            f"{minutes(v.seconds_left)} |"
        )
    return "\n".join(lines)


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
    from .dataset import GeneratedDataset
    from .estimators import estimator_class

    est = estimator_class(experiment.method)(**variant_config(experiment, variant))
    if hasattr(est, "prepare_shared"):
        est.prepare_shared(GeneratedDataset(dataset), experiment.train_split, cache)


def _train_variant(experiment: Experiment, dataset: Path, out: Path, variant: str, cache: Path):
    """Train one variant into ``out/models/{variant}`` (resumes its checkpoints)."""
    from .estimators.run import train

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
    from .recipe import dumps_toml
    from .submission import read_meta

    meta = read_meta(sub / "meta.toml")
    return dumps_toml({**meta, "method": variant, "short_name": variant})
