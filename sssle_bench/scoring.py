"""Score a submission file against a generated dataset: the ``score.json`` document.

``score.json`` (schema_version 2)::

    {"schema_version": 2,
     "truth": {"recipe", "recipe_hash", "split", "ground_truth_sha256", "dataset"},
     "predictions": {"file", "sha256"},             # the exact bytes scored
     "settings": {"weighting", "floor_db", "presence_threshold_db",
                  "bootstrap", "seed", "ci_level"},
     "counts": {"pairs", "present_pairs", "mixtures", "missing_scored_as_absent"},
     "method": {... meta.toml ...},
     "overall": {group},                       # the figures below
     "by_condition": {"<condition>": {group}},
     "by_class": {"<class>": {group}},
     "by_level_bin": {"[-40,-30)": {group}},
     "time_resolved": {
        "lafmax": null | {"overall", "by_condition", "by_class", "by_level_bin"},
        "intervals": null | {"file", "sha256", "counts": {"rows", "present_rows",
                             "missing_scored_as_absent"},
                             "overall", "by_condition", "by_class", "by_level_bin"}}}

Each group holds ``n_present``, ``n_pairs`` and, for every figure in
:data:`sssle_bench.metrics.FIGURES`, ``{"value", "ci_low", "ci_high"}`` (CI
fields null without bootstrap; any figure null when undefined, e.g. precision
with no predicted-present pair). ``time_resolved.lafmax`` scores the optional
``lafmax_db`` column, ``time_resolved.intervals`` the optional ``intervals.csv``
(null when not submitted). Schema 1 had no ``time_resolved``; a submission of
schema-1 form (``predictions.csv`` alone) scores the same clip-level figures.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from .dataset import load_manifest
from .errors import SssleError
from .metrics import SCHEMA_VERSION, ScoreSettings, score, score_intervals, score_lafmax
from .paths import write_text
from .submission import (
    intervals_beside,
    read_meta,
    truth_file,
    validate_file,
    validate_intervals_file,
)
from .validation import Validation

#: Interval predictions: validated, with their truth, or None when not submitted.
Intervals = tuple[Path, Validation, pd.DataFrame] | None


def truth_identity(
    dataset: Path, split: str, conditions: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """What a score belongs to: recipe name and hash, split, and the sha256 of the split's
    ground truth (from the manifest; it differs for a ``--limit`` run of the same recipe);
    with ``conditions``, the conditions judged (absent when all are)."""
    manifest = load_manifest(dataset)
    if split not in manifest["splits"]:
        raise SssleError(f"{dataset} has no split {split!r} (has {', '.join(manifest['splits'])})")
    return {
        "recipe": str(manifest.get("recipe", "?")),
        "recipe_hash": manifest["recipe_hash"],
        "split": split,
        "ground_truth_sha256": manifest["files"].get(truth_file(split)),
        "dataset": str(dataset),
        **({} if conditions is None else {"conditions": list(conditions)}),
    }


def score_submission(
    predictions: Path,
    dataset: Path,
    split: str,
    settings: ScoreSettings,
    allow_missing: bool = False,
    intervals: Path | None = None,
) -> dict[str, Any]:
    """Validate and score ``predictions`` (and ``intervals``, default: the
    ``intervals.csv`` beside them, if any); :class:`SssleError` lists every problem."""
    identity = truth_identity(dataset, split)
    result, truth = validate_file(predictions, dataset, split, allow_missing)
    spans = load_intervals(predictions, dataset, split, allow_missing, intervals)
    return score_document(predictions, result, truth, identity, settings, spans)


def load_intervals(
    predictions: Path,
    dataset: Path,
    split: str,
    allow_missing: bool = False,
    path: Path | None = None,
    conditions: tuple[str, ...] | None = None,
) -> Intervals:
    """The interval predictions to score with ``predictions``: ``path``, else the
    ``intervals.csv`` beside them, validated (only ``conditions``' rows when given); None
    when there is none."""
    path = path or intervals_beside(predictions)
    if path is None:
        return None
    result, truth = validate_intervals_file(path, dataset, split, allow_missing, conditions)
    return path, result, truth


def _refuse(path: Path, result: Validation) -> None:
    if not result.ok:
        raise SssleError(
            f"{path}: invalid submission ({len(result.problems)} problem(s)):\n  - "
            + "\n  - ".join(result.problems)
        )


def score_document(
    predictions: Path,
    result: Validation,
    truth: pd.DataFrame,
    identity: dict[str, Any],
    settings: ScoreSettings,
    intervals: Intervals = None,
) -> dict[str, Any]:
    """The ``score.json`` document of an already validated submission."""
    _refuse(predictions, result)
    if intervals is not None:
        _refuse(intervals[0], intervals[1])
    figures = score(truth, result.predictions, settings)
    return {
        "schema_version": SCHEMA_VERSION,
        "truth": identity,
        "settings": asdict(settings),
        "counts": {
            "pairs": int(len(truth)),
            "present_pairs": int(truth["present"].sum()),
            "mixtures": int(truth["mixture_id"].nunique()),
            "missing_scored_as_absent": result.n_missing,
        },
        "predictions": {"file": Path(predictions).name, "sha256": result.sha256},
        "method": read_meta(Path(predictions).parent / "meta.toml"),
        **figures,
        "time_resolved": {
            "lafmax": (
                score_lafmax(truth, result.predictions, settings)
                if "lafmax_db" in result.predictions.columns
                else None
            ),
            "intervals": None if intervals is None else _interval_figures(intervals, settings),
        },
    }


def _interval_figures(intervals: tuple[Path, Validation, pd.DataFrame], settings: ScoreSettings):
    path, result, truth = intervals
    return {
        "file": Path(path).name,
        "sha256": result.sha256,
        "counts": {
            "rows": int(len(truth)),
            "present_rows": int(truth["present"].sum()),
            "missing_scored_as_absent": result.n_missing,
        },
        **score_intervals(truth, result.predictions, settings),
    }


def _fmt(fig: dict[str, Any], digits: int = 2) -> str:
    if fig["value"] is None:
        return "-"
    text = f"{fig['value']:.{digits}f}"
    if fig["ci_low"] is not None:
        text += f" [{fig['ci_low']:.{digits}f}, {fig['ci_high']:.{digits}f}]"
    return text


def format_table(doc: dict[str, Any]) -> str:
    """A compact text table: overall, per condition and per class (MAE, median, p90, bias,
    F1), then the submitted time-resolved descriptors overall (interval LAeq, LAFmax)."""
    rows = [("overall", doc["overall"]["all"])] + list(doc["by_condition"].items())
    rows += list(doc.get("by_class", {}).items())
    extra = doc.get("time_resolved") or {}
    for key, label in (("intervals", "intervals"), ("lafmax", "LAFmax")):
        if extra.get(key):
            rows.append((label, extra[key]["overall"]["all"]))
    width = max(10, *(len(name) for name, _ in rows))
    head = f"{'group':<{width}} {'MAE present dB':<22} {'median':>7} {'p90':>7} "
    head += f"{'bias dB':>8} {'F1':>6}"
    lines = [head, "-" * len(head)]
    for name, g in rows:
        med, p90, bias, f1 = (
            g[k]["value"] for k in ("median_present_db", "p90_present_db", "bias_db", "f1")
        )
        lines.append(
            f"{name:<{width}} {_fmt(g['mae_present_db']):<22} {_num(med):>7} {_num(p90):>7} "
            f"{_num(bias):>8} {_num(f1, 3):>6}"
        )
    return "\n".join(lines)


def _num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def write_json(doc: dict[str, Any], path: Path) -> None:
    """Write a score document (NaN never appears: undefined figures are null)."""
    path = Path(path)
    write_text(path.parent, path.name, json.dumps(doc, indent=1, allow_nan=False) + "\n")
