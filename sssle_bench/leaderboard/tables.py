"""Collect score documents into one ranked table; write it as CSV and Markdown."""

from __future__ import annotations

from typing import Any

import pandas as pd


def method_name(doc: dict[str, Any], fallback: str) -> str:
    """The method's display name: ``meta.toml`` ``method``, else the folder name."""
    return str(doc.get("method", {}).get("method") or fallback)


def ranked_table(docs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per method, ranked by overall MAE over present sources (lower is better).

    Columns: ``rank, method, short_name, supervision, mae_present_db, ci_low,
    ci_high, median_present_db, p90_present_db, bias_db, mae_all_db, f1`` and
    ``mae_present_db_<condition>`` for every condition.
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
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["mae_present_db", "method"], kind="stable")
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def to_markdown(table: pd.DataFrame, title: str) -> str:
    """The ranked table as a Markdown document (dB figures to 2 decimals)."""
    cols = [c for c in table.columns if c != "short_name"]
    lines = [f"# {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, float):
                cells.append("-" if pd.isna(v) else f"{v:.3f}" if c == "f1" else f"{v:.2f}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Ranked by `mae_present_db` (mean absolute level error over present sources, dB);",
        "`ci_low`/`ci_high`: 95% bootstrap interval over mixtures.",
    ]
    return "\n".join(lines) + "\n"
