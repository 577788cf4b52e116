"""A self-contained static leaderboard page: sortable table, metadata, embedded plots."""

from __future__ import annotations

import base64
import html
from typing import Any

import pandas as pd

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f0f0f0;cursor:pointer;user-select:none}td.text{text-align:left}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}.meta{font-size:0.9em;color:#555}
"""

_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var table = th.closest('table'), body = table.tBodies[0];
    var asc = !th.classList.contains('sorted-asc');
    table.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
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


def _cell(value: Any) -> str:
    if isinstance(value, float):
        shown = "-" if pd.isna(value) else f"{value:.2f}"
        return f'<td data-value="{"" if pd.isna(value) else value}">{shown}</td>'
    text = html.escape(str(value))
    cls = "" if isinstance(value, int) else ' class="text"'
    return f'<td{cls} data-value="{text}">{text}</td>'


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render_page(
    table: pd.DataFrame,
    docs: dict[str, dict[str, Any]],
    images: dict[str, bytes],
    title: str,
    subtitle: str,
) -> str:
    """The whole page as one HTML string (no external resources)."""
    cols = [c for c in table.columns if c != "short_name"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "\n".join(
        '<tr class="method-row">' + "".join(_cell(row[c]) for c in cols) + "</tr>"
        for _, row in table.iterrows()
    )
    meta_items = []
    for name, doc in docs.items():
        meta = doc.get("method", {})
        fields = "".join(
            f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
            for k, v in meta.items()
            if k != "method"
        )
        fields = fields or "<li>no meta.toml</li>"
        meta_items.append(f"<h3>{html.escape(name)}</h3><ul class='meta'>{fields}</ul>")
    plots = "\n".join(
        f"<h3>{html.escape(PLOT_TITLES.get(key, key))}</h3>"
        f'<img alt="{html.escape(key)}" src="data:image/png;base64,{_b64(png)}">'
        for key, png in images.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>
<h2>Ranking</h2>
<p>Click a column header to sort. Ranked by mean absolute level error over present sources (dB).</p>
<div style="overflow-x:auto"><table class="sortable" id="leaderboard">
<thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table></div>
<h2>Plots</h2>
{plots}
<h2>Methods</h2>
{"".join(meta_items)}
<script>{_SCRIPT}</script>
</body></html>
"""
