"""Build a leaderboard folder from submission folders and one truth dataset."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..dataset import load_manifest
from ..errors import SssleError, excerpt
from ..metrics import FIGURES_VERSION, SCHEMA_VERSION, ScoreSettings, pair_stats, truth_column
from ..paths import is_safe_name, make_dir, remove_file, write_bytes, write_text
from ..scoring import (
    load_intervals,
    score_document,
    truth_identity,
    write_json,
)
from ..significance import adjusted_matrix, pairwise_table, per_mixture, rank_groups
from ..submission import (
    check_text,
    intervals_truth_file,
    read_meta,
    submission_file,
    validate_file,
)
from ..validation import Validation
from . import html, plots
from .tables import method_name, ranked_table, to_csv, to_markdown, with_audits

PREDICTIONS = "predictions.csv"


#: Where a leaderboard keeps the score documents it computed, under its own ``--out``.
CACHE_DIR = ".cache"


def score_key(
    identity: dict[str, Any],
    settings: ScoreSettings,
    predictions_sha256: str,
    spans_sha256: str | None,
    intervals_truth_sha256: str | None,
) -> str:
    """What a score document is a function of, hashed: the predictions' bytes (and interval
    predictions'), the split's exact ground truth (and interval truth), the settings, the
    schema and the figures' computation (:data:`~..metrics.FIGURES_VERSION`). Two
    submissions with the same key have the same figures."""
    blob = json.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "figures_version": FIGURES_VERSION,
            "recipe_hash": identity["recipe_hash"],
            "split": identity["split"],
            "ground_truth_sha256": identity["ground_truth_sha256"],
            "intervals_truth_sha256": intervals_truth_sha256,
            "settings": asdict(settings),
            "predictions_sha256": predictions_sha256,
            "intervals_sha256": spans_sha256,
            # only when a subset of the conditions is judged (older keys stay as they were)
            **({"conditions": identity["conditions"]} if "conditions" in identity else {}),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _cached_score(out: Path, key: str) -> dict[str, Any] | None:
    """The score document this leaderboard computed earlier for ``key``, if it kept one
    (under ``out/.cache/``, written by this tool alone); None otherwise. A submission's
    own ``score.json`` is never read: its figures would be whatever its author wrote."""
    path = out / CACHE_DIR / f"score-{key}.json"
    if path.is_symlink() or not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) and doc.get("cache_key") == key else None


def _plan(folders: list[Path]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Check every submission folder before any scoring: method name -> (folder, meta).

    Each folder holds a regular ``predictions.csv`` (no link: :func:`submission_file`);
    every method has a name fit for tables (:func:`~..submission.check_text`) whose file
    name (:func:`score_file`) no other method shares.
    """
    if not folders:
        raise SssleError("no submission folders given")
    plan: dict[str, tuple[Path, dict[str, Any]]] = {}
    files: dict[str, str] = {}
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise SssleError(f"{folder}: no such submission folder")
        if submission_file(folder, PREDICTIONS, "predictions file") is None:
            raise SssleError(f"{folder}: no {PREDICTIONS} (a submission folder holds it)")
        meta = read_meta(folder / "meta.toml")
        name = method_name({"method": meta}, folder.name)
        check_text(folder, "method", name)
        if name in plan:
            raise SssleError(
                f"{folder} and {plan[name][0]} are both called {excerpt(name)}: "
                "give one a different meta.toml method"
            )
        file = score_file(name)
        if file.lower() in files:
            other = files[file.lower()]
            raise SssleError(
                f"{folder} ({excerpt(name)}) and {plan[other][0]} ({excerpt(other)}) would both "
                f"be written as scores/{file}: give one a different meta.toml method"
            )
        files[file.lower()] = name
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
    """Mixture, condition, class, true and predicted level (dB) and the scored absolute
    error (levels floored as the scorer does) of every present (mixture, condition,
    class)."""
    present = truth["present"].to_numpy().astype(bool)
    true_db = truth[truth_column(settings.weighting)].to_numpy(float)
    pred_db = result.predictions["level_db"].to_numpy(float)
    stats = pair_stats(true_db, pred_db, present, settings)
    return pd.DataFrame(
        {
            "mixture_id": truth["mixture_id"].to_numpy()[present],
            "condition": truth["condition"].to_numpy()[present],
            "class": truth["class"].to_numpy()[present],
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


#: Most checks an audit summary may list.
MAX_AUDIT_CHECKS = 20


def read_audit(folder: Path) -> dict[str, float]:
    """The mean error (dB) per check of an ``sssle-bench audit`` output folder
    (``summary.csv``: ``check`` a safe name, ``error_db`` a number from 0 to 1000 or
    empty); :class:`SssleError` naming the file otherwise. Only an audit the leaderboard's
    operator ran belongs here: the file is a figure's source."""
    path = Path(folder) / "summary.csv"
    if path.is_symlink() or not path.is_file():
        raise SssleError(f"{path}: no audit summary (a regular file written by sssle-bench audit)")
    try:
        table = pd.read_csv(path, dtype={"check": str}, nrows=MAX_AUDIT_CHECKS + 1)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise SssleError(f"{path}: unreadable audit summary ({excerpt(exc, 100)})") from exc
    if list(table.columns[:2]) != ["check", "error_db"] or len(table) > MAX_AUDIT_CHECKS:
        raise SssleError(f"{path}: not an audit summary (columns check, error_db, ...)")
    errors: dict[str, float] = {}
    for check, value in zip(table["check"], table["error_db"], strict=True):
        number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
        if not is_safe_name(check) or check in errors:
            raise SssleError(f"{path}: check {excerpt(check)} is not a distinct safe name")
        if not (pd.isna(value) or 0.0 <= number <= 1000.0):
            raise SssleError(f"{path}: error_db {excerpt(value)} is not a number of dB, 0-1000")
        errors[check] = float(number)
    return errors


def build_leaderboard(
    folders: list[Path],
    truth_dir: Path,
    out: Path,
    split: str = "test",
    settings: ScoreSettings | None = None,
    echo: Callable[[str], None] = print,
    audits: dict[str, Path] | None = None,
    conditions: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Score every submission from its predictions, rank, and write md/csv/html/plots.

    ``conditions``: judge only these conditions (models trained for some of them): every
    submission then holds exactly their rows, and the scores record them.

    Every input is checked (folders, meta.toml, unique names, ``out``) before any
    scoring or write. Figures are always computed here from the predictions: a
    ``score.json`` in a submission folder is never read. Documents this function
    computed are kept under ``out/.cache/`` by :func:`score_key` and reused from
    there by a later build into the same ``out``. ``audits``: method name -> an
    ``sssle-bench audit`` output folder, shown as ``audit_{check}_db`` columns.
    """
    settings = settings or ScoreSettings()
    out = Path(out)
    plan = _plan(folders)
    audit_errors = {name: read_audit(folder) for name, folder in (audits or {}).items()}
    unknown = sorted(set(audit_errors) - set(plan))
    if unknown:
        raise SssleError(
            f"--audit names {excerpt(unknown[0])}, not a method of this leaderboard "
            f"({', '.join(map(excerpt, plan))})"
        )
    _check_out(out, Path(truth_dir))
    identity = truth_identity(truth_dir, split, conditions)
    docs, pairs = _score_all(
        plan, out, Path(truth_dir), split, settings, identity, conditions, echo
    )
    _write_scores(out, docs)
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
    table = with_audits(table, audit_errors)
    title = f"SSSLE leaderboard: {identity['recipe']} ({split})"
    subtitle = (
        f"Dataset {identity['recipe']} (recipe hash {identity['recipe_hash'][:12]}), "
        f"split {split}, weighting {settings.weighting}, {settings.bootstrap} bootstrap resamples."
    )
    _write_pages(out, table, ordered, pairs, tests, title, subtitle, settings.floor_db)
    return table


def _score_all(
    plan: dict[str, tuple[Path, dict[str, Any]]],
    out: Path,
    truth_dir: Path,
    split: str,
    settings: ScoreSettings,
    identity: dict[str, Any],
    conditions: tuple[str, ...] | None,
    echo: Callable[[str], None],
) -> tuple[dict[str, dict[str, Any]], dict[str, pd.DataFrame]]:
    """Each planned submission's score document (from ``out``'s cache when its key
    matches, else computed and cached) and its present (truth, prediction) pairs."""
    intervals_truth = load_manifest(truth_dir)["files"].get(intervals_truth_file(split))
    docs: dict[str, dict[str, Any]] = {}
    pairs: dict[str, pd.DataFrame] = {}
    fresh: dict[str, dict[str, Any]] = {}
    for name, (folder, meta) in plan.items():
        result, truth = validate_file(folder / PREDICTIONS, truth_dir, split, False, conditions)
        spans = load_intervals(folder / PREDICTIONS, truth_dir, split, conditions=conditions)
        spans_sha = None if spans is None else spans[1].sha256
        key = score_key(identity, settings, result.sha256, spans_sha, intervals_truth)
        doc = _cached_score(out, key)
        if doc is None:
            echo(f"scoring {folder}")
            doc = score_document(folder / PREDICTIONS, result, truth, identity, settings, spans)
            fresh[key] = {**doc, "cache_key": key}
        doc = {k: v for k, v in doc.items() if k != "cache_key"}
        doc["truth"], doc["method"] = identity, meta
        docs[name] = doc
        pairs[name] = present_pairs(result, truth, settings)
    for key, doc in fresh.items():
        write_json(doc, out / CACHE_DIR / f"score-{key}.json")
    return docs, pairs


def _write_scores(out: Path, docs: dict[str, dict[str, Any]]) -> None:
    """``out/scores/{method}.json`` for every method (score files of methods no longer
    on the board removed) and the ``plots`` folder."""
    make_dir(out, "plots")
    make_dir(out, "scores")
    keep = {score_file(name) for name in docs}
    for stale in sorted((out / "scores").glob("*.json")):
        if stale.name not in keep:
            remove_file(out, f"scores/{stale.name}")
    for name, doc in docs.items():
        write_json(doc, out / "scores" / score_file(name))


def _write_pages(
    out: Path,
    table: pd.DataFrame,
    ordered: dict[str, dict[str, Any]],
    pairs: dict[str, pd.DataFrame],
    tests: pd.DataFrame,
    title: str,
    subtitle: str,
    floor_db: float,
) -> None:
    """The ranked table (CSV, Markdown), the pairwise tests (CSV), the plots and the
    HTML page; ``ordered``: the score documents in rank order, ``pairs`` each method's
    present (truth, prediction) pairs, ``floor_db`` the level floor (dBFS) of the
    predicted-vs-true plot."""
    write_text(out, "leaderboard.csv", to_csv(table))
    write_text(out, "pairwise.csv", to_csv(tests, float_format="%.6g"))
    write_text(out, "leaderboard.md", to_markdown(table, title))
    images = {
        "mae_by_condition": plots.mae_by_condition(ordered),
        "class_heatmap": plots.class_heatmap(ordered),
        "predicted_vs_true": plots.predicted_vs_true({n: pairs[n] for n in ordered}, floor_db),
        "mae_by_level": plots.mae_by_level(ordered),
    }
    for key, png in images.items():
        write_bytes(out, f"plots/{key}.png", png)
    write_text(out, "index.html", html.render_page(table, ordered, images, title, subtitle, tests))


def score_file(name: str) -> str:
    """The file under ``scores/`` of method ``name``: its letters, digits, ``-`` and ``_``,
    every other character as ``_``."""
    return "".join(c if c.isascii() and c.isalnum() or c in "-_" else "_" for c in name) + ".json"
