"""Collect score documents into one ranked table; write it as CSV and Markdown."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import csv_text, md_text

#: score.json ``time_resolved`` sections and their leaderboard column (overall MAE, dB).
TIME_RESOLVED = {"intervals": "interval_mae_db", "lafmax": "lafmax_mae_db"}


def method_name(doc: dict[str, Any], fallback: str) -> str:
    """The method's display name: ``meta.toml`` ``method``, else the folder name."""
    return str(doc.get("method", {}).get("method") or fallback)


def is_reference(supervision: str) -> bool:
    """Oracle methods read the true labels: they are references, not ranked competitors."""
    return supervision == "oracle"


def ranked_table(docs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per method: ranked methods by overall MAE over present sources (lower is
    better), then the oracle references (empty ``rank``), also by MAE.

    Columns: ``rank, method, short_name, supervision, mae_present_db, ci_low,
    ci_high, median_present_db, p90_present_db, bias_db, mae_all_db, f1``,
    ``mae_present_db_<condition>`` for every condition, and the time-resolved
    ``interval_mae_db`` (LAeq per interval, present intervals) and ``lafmax_mae_db``
    (empty for a method that did not submit them).
    """
    rows = []
    for name, doc in docs.items():
        overall = doc["overall"]["all"]
        meta = doc.get("method", {})
        row = {
            "method": name,
            "short_name": meta.get("short_name", name),
            "supervision": meta.get("supervision", ""),
            "mae_present_db": overall["mae_present_db"]["value"],
            "ci_low": overall["mae_present_db"]["ci_low"],
            "ci_high": overall["mae_present_db"]["ci_high"],
            "median_present_db": overall["median_present_db"]["value"],
            "p90_present_db": overall["p90_present_db"]["value"],
            "bias_db": overall["bias_db"]["value"],
            "mae_all_db": overall["mae_all_db"]["value"],
            "f1": overall["f1"]["value"],
        }
        for cond, group in doc["by_condition"].items():
            row[f"mae_present_db_{cond}"] = group["mae_present_db"]["value"]
        extra = doc.get("time_resolved") or {}
        for key, column in TIME_RESOLVED.items():
            row[column] = (
                extra[key]["overall"]["all"]["mae_present_db"]["value"] if extra.get(key) else None
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    numeric = [c for c in table.columns if c not in ("method", "short_name", "supervision")]
    table[numeric] = table[numeric].astype(float)
    table["_ref"] = table["supervision"].map(is_reference)
    table = table.sort_values(["_ref", "mae_present_db", "method"], kind="stable")
    n_ranked = int((~table["_ref"]).sum())
    ranks = list(range(1, n_ranked + 1)) + [pd.NA] * (len(table) - n_ranked)
    table.insert(0, "rank", pd.array(ranks, dtype="Int64"))
    return table.drop(columns="_ref").reset_index(drop=True)


#: Leaderboard columns of an audit's checks (``sssle-bench audit``): ``audit_{check}_db``.
AUDIT_PREFIX = "audit_"


def with_audits(table: pd.DataFrame, audits: dict[str, dict[str, float]]) -> pd.DataFrame:
    """``table`` with each audited method's mean error per check (dB) as
    ``audit_{check}_db`` columns (``-`` for methods not audited)."""
    table = table.copy()
    checks = list(dict.fromkeys(c for errors in audits.values() for c in errors))
    for check in checks:
        table[f"{AUDIT_PREFIX}{check}_db"] = [
            audits.get(m, {}).get(check, float("nan")) for m in table["method"]
        ]
    return table


#: Columns whose cells are a submitter's text (``meta.toml`` or a folder name).
TEXT_COLUMNS = ("method", "short_name", "supervision")


def to_csv(table: pd.DataFrame, float_format: str = "%.4f") -> str:
    """A table as CSV, every text cell made inert (:func:`csv_text`): the names in it are
    a submitter's."""
    safe = table.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(lambda v: csv_text(v) if isinstance(v, str) else v)
    return safe.to_csv(index=False, float_format=float_format)


def _md_cell(column: str, value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return "ref" if column == "rank" else "-"
    if column == "rank_group":
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.3f}" if column == "f1" else f"{value:.2f}"
    return md_text(value) if column in TEXT_COLUMNS else str(value)


def to_markdown(table: pd.DataFrame, title: str) -> str:
    """The ranked table as a Markdown document (dB figures to 2 decimals, F1 to 3)."""
    cols = [c for c in table.columns if c != "short_name"]
    lines = [f"# {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(_md_cell(c, row[c]) for c in cols) + " |")
    lines += [
        "",
        "Ranked by `mae_present_db` (mean absolute level error over present sources, dB);",
        "`ci_low`/`ci_high`: 95% bootstrap interval over mixtures (`-` without bootstrap).",
        "`ref`: an oracle method (it reads the true labels), shown as a reference, not ranked.",
        "`rank_group`: methods of one group are statistically tied with the group's best",
        "(paired sign-flip test on per-mixture MAE, Holm-adjusted p >= 0.05; `pairwise.csv`).",
        "`interval_mae_db`: MAE of each class's A-weighted LAeq per interval, over the intervals",
        "where it sounds; `lafmax_mae_db`: MAE of present classes' LAFmax (`-`: not submitted).",
    ]
    if any(c.startswith(AUDIT_PREFIX) for c in cols):
        lines += [
            "`audit_*_db`: `sssle-bench audit` errors per check, no ground truth used",
            "(docs/real-recordings.md; `-`: not audited).",
        ]
    return "\n".join(lines) + "\n"
