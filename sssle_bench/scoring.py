"""Score a submission file against a generated dataset: the ``score.json`` document.

``score.json`` (schema_version 1)::

    {"schema_version": 1,
     "truth": {"recipe", "recipe_hash", "split", "ground_truth_sha256", "dataset"},
     "predictions": {"file", "sha256"},             # the exact bytes scored
     "settings": {"weighting", "floor_db", "presence_threshold_db",
                  "bootstrap", "seed", "ci_level"},
     "counts": {"pairs", "present_pairs", "mixtures", "missing_scored_as_absent"},
     "method": {... meta.toml ...},
     "overall": {group},                       # the figures below
     "by_condition": {"<condition>": {group}},
     "by_class": {"<class>": {group}},
     "by_level_bin": {"[-40,-30)": {group}}}

Each group holds ``n_present``, ``n_pairs`` and, for every figure in
:data:`sssle_bench.metrics.FIGURES`, ``{"value", "ci_low", "ci_high"}`` (CI
fields null without bootstrap; any figure null when undefined, e.g. precision
with no predicted-present pair).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from .dataset import load_manifest
from .errors import SssleError
from .metrics import SCHEMA_VERSION, ScoreSettings, score
from .paths import write_text
from .submission import Validation, read_meta, truth_file, validate_file


def truth_identity(dataset: Path, split: str) -> dict[str, Any]:
    """What a score belongs to: recipe name and hash, split, and the sha256 of the split's
    ground truth (from the manifest; it differs for a ``--limit`` run of the same recipe)."""
    manifest = load_manifest(dataset)
    if split not in manifest["splits"]:
        raise SssleError(f"{dataset} has no split {split!r} (has {', '.join(manifest['splits'])})")
    return {
        "recipe": str(manifest.get("recipe", "?")),
        "recipe_hash": manifest["recipe_hash"],
        "split": split,
        "ground_truth_sha256": manifest["files"].get(truth_file(split)),
        "dataset": str(dataset),
    }


def score_submission(
    predictions: Path,
    dataset: Path,
    split: str,
    settings: ScoreSettings,
    allow_missing: bool = False,
) -> dict[str, Any]:
    """Validate and score ``predictions``; :class:`SssleError` lists every problem if invalid."""
    identity = truth_identity(dataset, split)
    result, truth = validate_file(predictions, dataset, split, allow_missing)
    return score_document(predictions, result, truth, identity, settings)


def score_document(
    predictions: Path,
    result: Validation,
    truth: pd.DataFrame,
    identity: dict[str, Any],
    settings: ScoreSettings,
) -> dict[str, Any]:
    """The ``score.json`` document of an already validated submission."""
    if not result.ok:
        raise SssleError(
            f"{predictions}: invalid submission ({len(result.problems)} problem(s)):\n  - "
            + "\n  - ".join(result.problems)
        )
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
    }


def _fmt(fig: dict[str, Any], digits: int = 2) -> str:
    if fig["value"] is None:
        return "-"
    text = f"{fig['value']:.{digits}f}"
    if fig["ci_low"] is not None:
        text += f" [{fig['ci_low']:.{digits}f}, {fig['ci_high']:.{digits}f}]"
    return text


def format_table(doc: dict[str, Any]) -> str:
    """A compact text table: overall and per condition (MAE, median, p90, bias, F1)."""
    rows = [("overall", doc["overall"]["all"])] + list(doc["by_condition"].items())
    head = f"{'group':<10} {'MAE present dB':<22} {'median':>7} {'p90':>7} {'bias dB':>8} {'F1':>6}"
    lines = [head, "-" * len(head)]
    for name, g in rows:
        med, p90, bias, f1 = (
            g[k]["value"] for k in ("median_present_db", "p90_present_db", "bias_db", "f1")
        )
        lines.append(
            f"{name:<10} {_fmt(g['mae_present_db']):<22} {_num(med):>7} {_num(p90):>7} "
            f"{_num(bias):>8} {_num(f1, 3):>6}"
        )
    return "\n".join(lines)


def _num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def write_json(doc: dict[str, Any], path: Path) -> None:
    """Write a score document (NaN never appears: undefined figures are null)."""
    path = Path(path)
    write_text(path.parent, path.name, json.dumps(doc, indent=1, allow_nan=False) + "\n")
