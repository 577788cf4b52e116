"""Build a leaderboard folder from submission folders and one truth dataset."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SssleError
from ..metrics import SCHEMA_VERSION, ScoreSettings, pair_stats, truth_column
from ..paths import make_dir, remove_file, write_bytes, write_text
from ..scoring import (
    intervals_sha256,
    load_intervals,
    score_document,
    truth_identity,
    write_json,
)
from ..significance import adjusted_matrix, pairwise_table, per_mixture, rank_groups
from ..submission import Validation, read_meta, validate_file
from . import html, plots
from .tables import method_name, ranked_table, to_markdown

PREDICTIONS = "predictions.csv"


def _cached_score(
    folder: Path,
    identity: dict[str, Any],
    settings: ScoreSettings,
    predictions_sha256: str,
    spans_sha256: str | None = None,
) -> tuple[dict | None, str]:
    """A folder's ``score.json`` if it belongs to these exact predictions (and interval
    predictions, ``spans_sha256``; None: none), this split's exact ground truth, these
    settings and this schema; else ``(None, why it is not reused)``.

    A ``score.json`` that is not a readable JSON object is an error (delete it to rescore);
    one scored against another recipe is refused (scores of different datasets never mix).
    """
    path = folder / "score.json"
    if not path.is_file():
        return None, ""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SssleError(f"{path}: not a valid score.json ({exc}); delete it to rescore") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("truth", {}), dict):
        raise SssleError(f"{path}: not a score.json document; delete it to rescore")
    truth = doc.get("truth", {})
    if truth.get("recipe_hash") != identity["recipe_hash"]:
        raise SssleError(
            f"{path} was scored against dataset {truth.get('recipe', '?')} "
            f"({str(truth.get('recipe_hash'))[:12]}), not {identity['recipe']} "
            f"({identity['recipe_hash'][:12]}): scores of different datasets cannot be compared"
        )
    scored = doc.get("predictions") if isinstance(doc.get("predictions"), dict) else {}
    checks = [
        (
            doc.get("schema_version") == SCHEMA_VERSION,
            f"it has schema {doc.get('schema_version')!r}, not {SCHEMA_VERSION}",
        ),
        (
            scored.get("sha256") == predictions_sha256,
            f"it scored other predictions than {folder / PREDICTIONS}",
        ),
        (
            intervals_sha256(doc) == spans_sha256,
            f"it scored other interval predictions than {folder}'s",
        ),
        (
            truth.get("ground_truth_sha256") == identity["ground_truth_sha256"],
            "it scored another ground truth of this recipe (e.g. a --limit run)",
        ),
        (truth.get("split") == identity["split"], f"it scored split {truth.get('split')!r}"),
        (doc.get("settings") == asdict(settings), "it was scored with other settings"),
    ]
    for ok, why in checks:
        if not ok:
            return None, why
    return doc, ""


def _plan(folders: list[Path]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Check every submission folder before any scoring: method name -> (folder, meta)."""
    if not folders:
        raise SssleError("no submission folders given")
    plan: dict[str, tuple[Path, dict[str, Any]]] = {}
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise SssleError(f"{folder}: no such submission folder")
        if not (folder / PREDICTIONS).is_file():
            raise SssleError(f"{folder}: no {PREDICTIONS} (a submission folder holds it)")
        meta = read_meta(folder / "meta.toml")
        name = method_name({"method": meta}, folder.name)
        if name in plan:
            raise SssleError(
                f"{folder} and {plan[name][0]} are both called {name!r}: "
                "give one a different meta.toml method"
            )
        plan[name] = (folder, meta)
    return plan


def _check_out(out: Path, truth_dir: Path) -> None:
    """``--out`` must not be, or lie inside, a dataset folder (it would break ``verify``)."""
    resolved = out.resolve()
    for folder in (resolved, *resolved.parents):
        if (
            folder == truth_dir.resolve()
            or (folder / "manifest.json").is_file()
            and (folder / "ground_truth").is_dir()
        ):
            raise SssleError(
                f"--out {out} is inside the dataset {folder}; write the leaderboard elsewhere"
            )
    if out.is_file():
        raise SssleError(f"--out {out} is a file, not a folder")


def present_pairs(result: Validation, truth: pd.DataFrame, settings: ScoreSettings) -> pd.DataFrame:
    """Mixture, condition, true and predicted level (dB) and the scored absolute error
    (levels floored as the scorer does) of every present (mixture, condition, class)."""
    present = truth["present"].to_numpy().astype(bool)
    true_db = truth[truth_column(settings.weighting)].to_numpy(float)
    pred_db = result.predictions["level_db"].to_numpy(float)
    stats = pair_stats(true_db, pred_db, present, settings)
    return pd.DataFrame(
        {
            "mixture_id": truth["mixture_id"].to_numpy()[present],
            "condition": truth["condition"].to_numpy()[present],
            "true_db": true_db[present],
            "pred_db": pred_db[present],
            "abs_err_db": stats[present, 1].astype(float),
        }
    )


def pairwise(
    ordered: list[str], pairs: dict[str, pd.DataFrame], settings: ScoreSettings
) -> pd.DataFrame:
    """Every pair of methods compared on the same mixtures (see :mod:`..significance`)."""
    first = pairs[ordered[0]]
    mixtures = sorted(set(first["mixture_id"]))
    per = [
        per_mixture(pairs[n]["mixture_id"].to_numpy(), pairs[n]["abs_err_db"].to_numpy(), mixtures)
        for n in ordered
    ]
    sums = np.stack([s for s, _ in per])
    return pairwise_table(ordered, sums, per[0][1], settings.bootstrap, settings.seed)


def build_leaderboard(
    folders: list[Path],
    truth_dir: Path,
    out: Path,
    split: str = "test",
    settings: ScoreSettings | None = None,
    echo: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Score (or reuse scores of) every submission, rank, and write md/csv/html/plots.

    Every input is checked (folders, meta.toml, unique names, ``out``) before any
    scoring; a submission's ``score.json`` is reused only when it belongs to its
    predictions (see :func:`_cached_score`), otherwise it is rescored with one line saying why.
    """
    settings = settings or ScoreSettings()
    out = Path(out)
    plan = _plan(folders)
    _check_out(out, Path(truth_dir))
    identity = truth_identity(truth_dir, split)
    docs: dict[str, dict[str, Any]] = {}
    pairs: dict[str, pd.DataFrame] = {}
    for name, (folder, meta) in plan.items():
        result, truth = validate_file(folder / PREDICTIONS, truth_dir, split)
        spans = load_intervals(folder / PREDICTIONS, truth_dir, split)
        spans_sha = None if spans is None else spans[1].sha256
        doc, why = _cached_score(folder, identity, settings, result.sha256, spans_sha)
        if doc is None:
            echo(f"scoring {folder}" + (f" (score.json not reused: {why})" if why else ""))
            doc = score_document(folder / PREDICTIONS, result, truth, identity, settings, spans)
        doc["method"] = meta or doc.get("method", {})
        docs[name] = doc
        pairs[name] = present_pairs(result, truth, settings)
    make_dir(out, "plots")
    make_dir(out, "scores")
    keep = {f"{_slug(name)}.json" for name in docs}
    for stale in sorted((out / "scores").glob("*.json")):
        if stale.name not in keep:
            remove_file(out, f"scores/{stale.name}")
    for name, doc in docs.items():
        write_json(doc, out / "scores" / f"{_slug(name)}.json")
    table = ranked_table(docs)
    ordered = {name: docs[name] for name in table["method"]}
    tests = pairwise(list(ordered), pairs, settings)
    ranked = [m for m, r in zip(table["method"], table["rank"], strict=True) if not pd.isna(r)]
    groups = dict(
        zip(ranked, rank_groups(ranked, adjusted_matrix(list(ordered), tests)), strict=True)
    )
    table.insert(
        1, "rank_group", pd.array([groups.get(m, pd.NA) for m in table["method"]], dtype="Int64")
    )
    write_text(out, "leaderboard.csv", table.to_csv(index=False, float_format="%.4f"))
    write_text(out, "pairwise.csv", tests.to_csv(index=False, float_format="%.6g"))
    title = f"SSSLE leaderboard: {identity['recipe']} ({split})"
    write_text(out, "leaderboard.md", to_markdown(table, title))
    images = {
        "mae_by_condition": plots.mae_by_condition(ordered),
        "class_heatmap": plots.class_heatmap(ordered),
        "predicted_vs_true": plots.predicted_vs_true(
            {n: pairs[n] for n in ordered}, settings.floor_db
        ),
        "mae_by_level": plots.mae_by_level(ordered),
    }
    for key, png in images.items():
        write_bytes(out, f"plots/{key}.png", png)
    subtitle = (
        f"Dataset {identity['recipe']} (recipe hash {identity['recipe_hash'][:12]}), "
        f"split {split}, weighting {settings.weighting}, {settings.bootstrap} bootstrap resamples."
    )
    page = html.render_page(table, ordered, images, title, subtitle, tests)
    write_text(out, "index.html", page)
    return table


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
