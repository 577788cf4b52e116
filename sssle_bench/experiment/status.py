"""``experiment status``: what a run folder holds, read from its plan, its running
markers and each model's progress file (small JSON files only, no weights)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SssleError, excerpt
from ..paths import check_name

#: What a run records in its folder: the plan (every variant's conditions and epochs),
#: and, while it runs, which process runs it.
PLAN = "experiment.json"
RUNNING = "running.json"


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
    from ..estimators.progress import read_progress

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
        f"{len(statuses)} variant{'' if len(statuses) == 1 else 's'}: {counts['scored']} "
        f"scored, {counts['trained']} trained, {counts['training']} training, {starting}"
        f"{waiting} waiting; training left: at most {minutes(total)} (one at a time; "
        "early stopping may end sooner)",
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
