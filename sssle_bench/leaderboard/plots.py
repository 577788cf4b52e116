"""Leaderboard figures (matplotlib, Agg backend), each returned as PNG bytes."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def text(name: str) -> str:
    """A submitter's text as a literal matplotlib label: ``$`` escaped (never mathtext,
    whose parser raises on malformed input)."""
    return str(name).replace("$", r"\$")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def mae_by_condition(docs: dict[str, dict[str, Any]]) -> bytes:
    """MAE over present sources per condition per method, with 95% CI whiskers."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(docs)
    conditions = list(next(iter(docs.values()))["by_condition"])
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(conditions))
    for i, name in enumerate(names):
        groups = [docs[name]["by_condition"][c]["mae_present_db"] for c in conditions]
        vals = np.array([g["value"] if g["value"] is not None else np.nan for g in groups])
        lo = np.array(
            [
                g["ci_low"] if g["ci_low"] is not None else v
                for g, v in zip(groups, vals, strict=True)
            ]
        )
        hi = np.array(
            [
                g["ci_high"] if g["ci_high"] is not None else v
                for g, v in zip(groups, vals, strict=True)
            ]
        )
        ax.bar(
            x + i * width - 0.4 + width / 2,
            vals,
            width,
            label=text(name),
            yerr=[vals - lo, hi - vals],
            capsize=3,
        )
    ax.set_xticks(x, conditions)
    ax.set_xlabel("background condition")
    ax.set_ylabel("MAE over present sources (dB)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def class_heatmap(docs: dict[str, dict[str, Any]]) -> bytes:
    """Per-class MAE over present sources: methods x classes."""
    plt = _pyplot()
    names = list(docs)
    classes = list(next(iter(docs.values()))["by_class"])
    grid = np.array(
        [
            [docs[n]["by_class"][c]["mae_present_db"]["value"] or np.nan for c in classes]
            for n in names
        ],
        dtype=float,
    )
    fig, ax = plt.subplots(figsize=(1.1 * len(classes) + 2, 0.5 * len(names) + 1.5))
    im = ax.imshow(grid, cmap="viridis_r", aspect="auto")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), [text(n) for n in names])
    mid = np.nanmean(grid) if np.isfinite(grid).any() else 0.0
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            color = "white" if v > mid else "black"
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", color=color, fontsize=8)
    fig.colorbar(im, ax=ax, label="MAE (dB)")
    return _png(fig)


def predicted_vs_true(pairs: dict[str, pd.DataFrame], floor_db: float) -> bytes:
    """Hexbin of predicted vs true level (present sources) per method."""
    plt = _pyplot()
    n = len(pairs)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, (name, frame) in zip(axes[0], pairs.items(), strict=True):
        true = frame["true_db"].to_numpy()
        pred = np.maximum(frame["pred_db"].to_numpy(), floor_db)
        lo, hi = float(np.nanmin(true)) - 5, float(np.nanmax(true)) + 5
        ax.hexbin(true, np.clip(pred, lo - 20, hi + 20), gridsize=30, mincnt=1, cmap="Blues")
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(text(name), fontsize=9)
        ax.set_xlabel("true level (dB)")
        ax.set_ylabel("predicted level (dB)")
    return _png(fig)


def mae_by_level(docs: dict[str, dict[str, Any]]) -> bytes:
    """MAE over present sources per 10 dB bin of the true level."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, doc in docs.items():
        bins = doc["by_level_bin"]
        centers = [int(k[1:].split(",")[0]) + 5 for k in bins]
        vals = [g["mae_present_db"]["value"] for g in bins.values()]
        ax.plot(centers, vals, marker="o", label=text(name))
    ax.set_xlabel("true level, 10 dB bins (centre, dB)")
    ax.set_ylabel("MAE over present sources (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(fig)
