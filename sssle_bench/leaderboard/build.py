"""Build a leaderboard folder from submission folders and one truth dataset."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import SssleError
from ..metrics import ScoreSettings, truth_column
from ..scoring import score_document, truth_identity, write_json
from ..submission import Validation, read_meta, validate_file
from . import html, plots
from .tables import method_name, ranked_table, to_markdown

PREDICTIONS = "predictions.csv"


def _cached_score(folder: Path, identity: dict[str, Any], settings: ScoreSettings) -> dict | None:
    """A folder's ``score.json`` if it scored this dataset and split with these settings."""
    path = folder / "score.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    truth = doc.get("truth", {})
    if truth.get("recipe_hash") != identity["recipe_hash"]:
        raise SssleError(
            f"{path} was scored against dataset {truth.get('recipe', '?')} "
            f"({str(truth.get('recipe_hash'))[:12]}), not {identity['recipe']} "
            f"({identity['recipe_hash'][:12]}): scores of different datasets cannot be compared"
        )
    if truth.get("split") != identity["split"] or doc.get("settings") != asdict(settings):
        return None
    return doc


def present_pairs(result: Validation, truth: pd.DataFrame, weighting: str) -> pd.DataFrame:
    """True and predicted level (dB) of every present (mixture, condition, class)."""
    present = truth["present"].to_numpy().astype(bool)
    return pd.DataFrame(
        {
            "true_db": truth[truth_column(weighting)].to_numpy(float)[present],
            "pred_db": result.predictions["level_db"].to_numpy(float)[present],
        }
    )


def build_leaderboard(
    folders: list[Path],
    truth_dir: Path,
    out: Path,
    split: str = "test",
    settings: ScoreSettings | None = None,
    echo: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Score (or reuse scores of) every submission, rank, and write md/csv/html/plots."""
    if not folders:
        raise SssleError("no submission folders given")
    settings = settings or ScoreSettings()
    identity = truth_identity(truth_dir, split)
    docs: dict[str, dict[str, Any]] = {}
    pairs: dict[str, pd.DataFrame] = {}
    for folder in map(Path, folders):
        if not (folder / PREDICTIONS).is_file():
            raise SssleError(f"{folder}: no {PREDICTIONS} (a submission folder holds it)")
        result, truth = validate_file(folder / PREDICTIONS, truth_dir, split)
        doc = _cached_score(folder, identity, settings)
        if doc is None:
            echo(f"scoring {folder}")
            doc = score_document(folder / PREDICTIONS, result, truth, identity, settings)
        doc["method"] = read_meta(folder / "meta.toml") or doc.get("method", {})
        name = method_name(doc, folder.name)
        if name in docs:
            raise SssleError(
                f"two submissions are called {name!r}: give one a different meta.toml method"
            )
        docs[name] = doc
        pairs[name] = present_pairs(result, truth, settings.weighting)
    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    (out / "scores").mkdir(exist_ok=True)
    for name, doc in docs.items():
        write_json(doc, out / "scores" / f"{_slug(name)}.json")
    table = ranked_table(docs)
    ordered = {name: docs[name] for name in table["method"]}
    table.to_csv(out / "leaderboard.csv", index=False, float_format="%.4f")
    title = f"SSSLE leaderboard: {identity['recipe']} ({split})"
    (out / "leaderboard.md").write_text(to_markdown(table, title), encoding="utf-8")
    images = {
        "mae_by_condition": plots.mae_by_condition(ordered),
        "class_heatmap": plots.class_heatmap(ordered),
        "predicted_vs_true": plots.predicted_vs_true(
            {n: pairs[n] for n in ordered}, settings.floor_db
        ),
        "mae_by_level": plots.mae_by_level(ordered),
    }
    for key, png in images.items():
        (out / "plots" / f"{key}.png").write_bytes(png)
    subtitle = (
        f"Dataset {identity['recipe']} (recipe hash {identity['recipe_hash'][:12]}), "
        f"split {split}, weighting {settings.weighting}, {settings.bootstrap} bootstrap resamples."
    )
    page = html.render_page(table, ordered, images, title, subtitle)
    (out / "index.html").write_text(page, encoding="utf-8")
    return table


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
