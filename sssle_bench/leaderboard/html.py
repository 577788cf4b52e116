"""A self-contained static leaderboard page: sortable table, metadata, embedded plots."""

from __future__ import annotations

import base64
import html
from typing import Any

import pandas as pd

from .tables import AUDIT_PREFIX, TIME_RESOLVED

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222}
p,ul,h1,h2,h3{max-width:75em}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f0f0f0;cursor:pointer;user-select:none}
th.group{background:#e4ecf7;cursor:default;text-align:center}
td.text{text-align:left}td.cond{background:#f7faff}td.sig{background:#fde8e8}
td.tie{color:#888}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}.meta{font-size:0.9em;color:#555}
.note{font-size:0.9em;color:#555}
"""

_SCRIPT = """
document.querySelectorAll('table.sortable thead tr:last-child th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var table = th.closest('table'), body = table.tBodies[0];
    var asc = !th.classList.contains('sorted-asc');
    table.querySelectorAll('thead tr:last-child th').forEach(function(h){
      h.classList.remove('sorted-asc', 'sorted-desc');
    });
    th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
    var rows = Array.from(body.rows);
    rows.sort(function(a, b){
      var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
      var nx = parseFloat(x), ny = parseFloat(y);
      var cmp = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return asc ? cmp : -cmp;
    });
    rows.forEach(function(r){body.appendChild(r);});
  });
});
"""

PLOT_TITLES = {
    "mae_by_condition": "MAE per background condition (95% CI)",
    "class_heatmap": "MAE per class",
    "predicted_vs_true": "Predicted vs true level (present sources)",
    "mae_by_level": "MAE vs true level",
}


#: Page columns: (table column, header, tooltip); condition columns follow them.
COLUMNS = (
    ("rank", "#", "rank among the methods that do not read the true labels"),
    (
        "rank_group",
        "group",
        "methods of one group are statistically tied with its best (Holm-adjusted p >= 0.05)",
    ),
    ("short_name", "method", "the method's short name (meta.toml short_name); full name on hover"),
    ("supervision", "supervision", "none | weak | strong | oracle"),
    ("mae_present_db", "MAE", "mean absolute level error over present sources (dB)"),
    ("ci", "95% CI", "95% bootstrap interval of the MAE over mixtures (dB)"),
    ("median_present_db", "median", "median absolute error over present sources (dB)"),
    ("p90_present_db", "p90", "90th percentile of the absolute error (dB)"),
    ("bias_db", "bias", "mean signed error over present sources (dB)"),
    ("mae_all_db", "MAE all", "MAE over all pairs, absent ones at the floor (dB)"),
    ("f1", "F1", "presence detection F1"),
)
CONDITION_PREFIX = "mae_present_db_"
#: Time-resolved columns after the conditions: (table column, header, tooltip).
TIME_COLUMNS = (
    (
        TIME_RESOLVED["intervals"],
        "LAeq intervals",
        "MAE of each class's LAeq per interval, over intervals where it sounds (dB)",
    ),
    (TIME_RESOLVED["lafmax"], "LAFmax", "MAE of each present class's maximum Fast level (dB)"),
)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value))


def _number(value: Any, digits: int = 2, cls: str = "") -> str:
    css = f' class="{cls}"' if cls else ""
    if _missing(value):
        return f'<td{css} data-value="">-</td>'
    return f'<td{css} data-value="{float(value)}">{float(value):.{digits}f}</td>'


def _text(value: Any, title: str = "") -> str:
    text = html.escape(str(value))
    tip = f' title="{html.escape(title)}"' if title and title != str(value) else ""
    return f'<td class="text" data-value="{text}"{tip}>{text}</td>'


def _row(row: pd.Series, conditions: list[str]) -> str:
    """One method's table row: rank, name (full name on hover), figures, per-condition MAE."""
    cells = [
        '<td data-value="">ref</td>'
        if _missing(row["rank"])
        else f'<td data-value="{int(row["rank"])}">{int(row["rank"])}</td>',
        '<td data-value="">-</td>'
        if _missing(row["rank_group"])
        else f'<td data-value="{int(row["rank_group"])}">{int(row["rank_group"])}</td>',
        _text(row["short_name"] or row["method"], title=row["method"]),
        _text(row["supervision"]),
        _number(row["mae_present_db"]),
        '<td data-value="">-</td>'
        if _missing(row["ci_low"])
        else f'<td data-value="{row["ci_low"]}">[{row["ci_low"]:.2f}, {row["ci_high"]:.2f}]</td>',
        _number(row["median_present_db"]),
        _number(row["p90_present_db"]),
        _number(row["bias_db"]),
        _number(row["mae_all_db"]),
        _number(row["f1"], digits=3),
    ]
    cells += [_number(row[f"{CONDITION_PREFIX}{c}"], cls="cond") for c in conditions]
    cells += [_number(row.get(column), cls="cond") for column, _, _ in TIME_COLUMNS]
    cells += [_number(row[c], cls="cond") for c in row.index if c.startswith(AUDIT_PREFIX)]
    return '<tr class="method-row">' + "".join(cells) + "</tr>"


def _table(rows: pd.DataFrame, conditions: list[str], table_id: str) -> str:
    """A sortable table: a group header over the per-condition columns, then the labels."""
    audits = [c for c in rows.columns if c.startswith(AUDIT_PREFIX)]
    group = (
        f'<th class="group" colspan="{len(COLUMNS)}"></th>'
        f'<th class="group" colspan="{len(conditions)}">MAE by background condition (dB)</th>'
        f'<th class="group" colspan="{len(TIME_COLUMNS)}">time-resolved MAE (dB)</th>'
    )
    if audits:
        group += f'<th class="group" colspan="{len(audits)}">audit, no ground truth (dB)</th>'

    labels = (
        "".join(
            f'<th title="{html.escape(tip)}">{html.escape(label)}</th>' for _, label, tip in COLUMNS
        )
        + "".join(
            f'<th title="MAE over present sources in condition {html.escape(c)} (dB)">'
            f"{html.escape(c)}</th>"
            for c in conditions
        )
        + "".join(
            f'<th title="{html.escape(tip)}">{html.escape(label)}</th>'
            for _, label, tip in TIME_COLUMNS
        )
        + "".join(
            f'<th title="sssle-bench audit: mean {html.escape(c[len(AUDIT_PREFIX) : -3])} '
            f'error over the audited recordings (dB)">{html.escape(c[len(AUDIT_PREFIX) : -3])}'
            "</th>"
            for c in audits
        )
    )
    body = "\n".join(_row(row, conditions) for _, row in rows.iterrows())
    return (
        f'<table class="sortable" id="{table_id}"><thead><tr>{group}</tr><tr>{labels}</tr>'
        f"</thead><tbody>\n{body}\n</tbody></table>"
    )


def _value_html(value: Any) -> str:
    """A meta.toml value for a reader: tables as nested lists, arrays inline."""
    if isinstance(value, dict):
        if not value:
            return "none"
        items = "".join(
            f"<li>{html.escape(str(k))} = {_value_html(v)}</li>" for k, v in value.items()
        )
        return f"<ul>{items}</ul>"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_html(v) for v in value) + "]"
    return html.escape(str(value))


def _pairwise(names: list[str], tests: pd.DataFrame, short: dict[str, str]) -> str:
    """The matrix of pairwise differences: row minus column MAE (dB) with its 95% interval
    and Holm-adjusted p-value; significant cells (p < 0.05) shaded."""
    cell: dict[tuple[str, str], str] = {}
    for t in tests.itertuples(index=False):
        for a, b, sign in ((t.method_a, t.method_b, 1.0), (t.method_b, t.method_a, -1.0)):
            lo, hi = (t.ci_low, t.ci_high) if sign > 0 else (-t.ci_high, -t.ci_low)
            ci = "" if _missing(lo) else f"<br>[{lo:+.2f}, {hi:+.2f}]"
            cls = "sig" if t.p_holm < 0.05 else "tie"
            cell[a, b] = (
                f'<td class="{cls}" title="p = {t.p_value:.3g}, Holm {t.p_holm:.3g}">'
                f"{sign * t.diff_mae_db:+.2f}{ci}<br>p={t.p_holm:.3g}</td>"
            )
    head = "".join(f'<th title="{html.escape(n)}">{html.escape(short[n])}</th>' for n in names)
    rows = "".join(
        f'<tr><th title="{html.escape(a)}">{html.escape(short[a])}</th>'
        + "".join(cell.get((a, b), "<td>-</td>") for b in names)
        + "</tr>"
        for a in names
    )
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render_page(
    table: pd.DataFrame,
    docs: dict[str, dict[str, Any]],
    images: dict[str, bytes],
    title: str,
    subtitle: str,
    tests: pd.DataFrame | None = None,
) -> str:
    """The whole page as one HTML string (no external resources); ``tests``: the pairwise
    comparisons (:func:`sssle_bench.significance.pairwise_table`)."""
    conditions = [
        c[len(CONDITION_PREFIX) :] for c in table.columns if c.startswith(CONDITION_PREFIX)
    ]
    ranked, refs = table[table["rank"].notna()], table[table["rank"].isna()]
    references = (
        '<h2>Oracle references</h2><p class="note">Methods that read the true presence '
        "labels. They bound what presence knowledge alone gives and are not ranked.</p>"
        + _table(refs, conditions, "references")
        if len(refs)
        else ""
    )
    meta_items = []
    for name, doc in docs.items():
        meta = doc.get("method", {})
        fields = "".join(
            f"<li><b>{html.escape(str(k))}</b>: {_value_html(v)}</li>"
            for k, v in meta.items()
            if k != "method"
        )
        fields = fields or "<li>no meta.toml</li>"
        meta_items.append(f"<h3>{html.escape(name)}</h3><ul class='meta'>{fields}</ul>")
    short = {
        m: (s if isinstance(s, str) and s else m)
        for m, s in zip(table["method"], table["short_name"], strict=True)
    }
    comparisons = (
        '<h2>Which differences are real</h2><p class="note">Row minus column MAE over '
        "present sources (dB), its 95% paired bootstrap interval over mixtures, and the "
        "Holm-adjusted p-value of a paired sign-flip permutation test on per-mixture MAE. "
        "Shaded: significant at 0.05; grey: statistically tied.</p>"
        f'<div style="overflow-x:auto">{_pairwise(list(table["method"]), tests, short)}</div>'
        if tests is not None and len(tests)
        else ""
    )
    plots = "\n".join(
        f"<h3>{html.escape(PLOT_TITLES.get(key, key))}</h3>"
        f'<img alt="{html.escape(key)}" src="data:image/png;base64,{_b64(png)}">'
        for key, png in images.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>
<h2>Ranking</h2>
<p class="note">Ranked by mean absolute level error (MAE) over present sources, in dB; lower is
better. Click a column header to sort; hover a header or a method for its full name.</p>
<div style="overflow-x:auto">{_table(ranked, conditions, "leaderboard")}</div>
<div style="overflow-x:auto">{references}</div>
{comparisons}
<h2>Plots</h2>
{plots}
<h2>Methods</h2>
{"".join(meta_items)}
<script>{_SCRIPT}</script>
</body></html>
"""
