"""How far the ground-truth-free audit can be trusted: audit scores against the true MAE.

    python experiments/tools/audit_validity.py DATASET --models MODELS --out DIR \
        [--per-condition 12] [--resamples 1000]

DATASET: a generated dataset with saved sources (the demo's toy world); MODELS: a folder
with trained ``class-prior``, ``nmf`` and ``weak-sep`` models (the demo's ``models/``)
and, if there, ``sup-sep``.
For every method and every background condition (a point), on the first
``--per-condition`` test mixtures of that condition: the true MAE over present sources
(whole-clip LAeq as the measure rule gives it, against the A-weighted ground truth; an
absent prediction scored at -100 dB, the scorer's floor) and the audit's four checks
(:mod:`sssle_bench.recordings.audit`), the injected events taken from the *valid*
split's isolated sources so that no clip receives its own event. Methods: the three
trained ones and three deliberately broken weak-sep variants: ``offset`` (+6 dB on every
estimate), ``gain-blind`` (each clip normalised to -25 dBFS(A) before weak-sep hears
it) and ``swap`` (car_horn and siren estimates exchanged).

Writes ``points.csv`` (one row per point), ``correlation.csv`` (Spearman's rank
correlation of each check, and of their mean, with the true MAE over the points, with a
95% bootstrap interval over points) and ``audit-vs-mae.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tool_main import run_tool

from sssle_bench.dataset import GeneratedDataset
from sssle_bench.estimators.base import Prediction, as_prediction
from sssle_bench.estimators.run import load_trained
from sssle_bench.levels import dbfs_a
from sssle_bench.recipe import NO_BACKGROUND
from sssle_bench.recordings.audit import CHECKS, Clip, audit_clips
from sssle_bench.recordings.measure import MIXTURE, MeasureSettings, measure_recording
from sssle_bench.recordings.stream import AudioArray

FLOOR_DB = -100.0


class Wrapped:
    """A trained method with its answers (or its input) changed."""

    def __init__(self, inner, name: str):
        self.inner, self.name = inner, name

    def change_input(self, x: np.ndarray, sr: int) -> np.ndarray:
        return x

    def change_output(self, levels: dict) -> dict:
        return levels

    def predict_batch(self, audios, sr, infos):
        heard = [self.change_input(x, sr) for x in audios]
        out = []
        for result in self.inner.predict_batch(heard, sr, infos):
            p = as_prediction(result)
            out.append(
                Prediction(
                    self.change_output(p.levels),
                    self.change_output(p.lafmax or {}),
                    self.change_output(p.intervals or {}),
                )
            )
        return out


class Offset(Wrapped):
    def change_output(self, levels):
        return {c: np.asarray(v) + 6.0 for c, v in levels.items()}


class GainBlind(Wrapped):
    def change_input(self, x, sr):
        level = dbfs_a(x, sr)
        return x if not np.isfinite(level) else x * 10 ** ((-25.0 - level) / 20)


class Swap(Wrapped):
    def change_output(self, levels):
        out = dict(levels)
        out["car_horn"], out["siren"] = levels["siren"], levels["car_horn"]
        return out


def true_mae(est, mixtures, settings: MeasureSettings) -> float:
    """MAE (dB) over present sources of the whole-clip estimates."""
    errors = []
    for mix in mixtures:
        levels = measure_recording(est, AudioArray(mix.audio, mix.sample_rate), settings)
        pred = levels.summary().set_index("source")["laeq_db"].drop(MIXTURE)
        for c, true in mix.levels_dbfs_a.items():
            if np.isfinite(true):
                errors.append(abs(max(float(pred.get(c, -np.inf)), FLOOR_DB) - true))
    return float(np.mean(errors))


def spearman_ci(x: np.ndarray, y: np.ndarray, resamples: int, seed: int = 0):
    from scipy.stats import spearmanr

    rng = np.random.default_rng(seed)
    rho = float(spearmanr(x, y).statistic)
    draws = []
    for _ in range(resamples):
        pick = rng.integers(0, len(x), len(x))
        if np.unique(x[pick]).size > 1 and np.unique(y[pick]).size > 1:
            draws.append(spearmanr(x[pick], y[pick]).statistic)
    low, high = np.nanquantile(draws, [0.025, 0.975])
    return rho, float(low), float(high)


def figure(points: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [*CHECKS, "audit_mean"]
    fig, axes = plt.subplots(1, len(columns), figsize=(16, 3.6), sharey=True)
    for ax, check in zip(axes, columns, strict=True):
        for method, rows in points.groupby("method"):
            ax.scatter(rows[check], rows["true_mae"], label=method, s=22)
        ax.set_xlabel(f"{check} error (dB)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("true MAE, present sources (dB)")
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(out, dpi=110, metadata={"Software": None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-condition", type=int, default=12)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()

    ds = GeneratedDataset(args.dataset)
    events: dict[str, list[np.ndarray]] = {c: [] for c in ds.classes}
    for mix in ds.mixtures("valid", conditions=(NO_BACKGROUND,)):
        for c, track in ds.sources(mix).items():
            if len(events[c]) < 50 and np.any(track):
                events[c].append(track)
    weak = load_trained("weak-sep", args.models / "weak-sep")
    methods = {
        "class-prior": load_trained("class-prior", args.models / "class-prior"),
        "nmf": load_trained("nmf", args.models / "nmf"),
        "weak-sep": weak,
        "offset": Offset(weak, "offset"),
        "gain-blind": GainBlind(weak, "gain-blind"),
        "swap": Swap(weak, "swap"),
    }
    if (args.models / "sup-sep").is_dir():  # trained by results/audit-validity/sup-sep.toml
        methods["sup-sep"] = load_trained("sup-sep", args.models / "sup-sep")
    rate = int(ds.recipe.sample_rate)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for condition in ds.conditions:
        mixtures = list(ds.mixtures("test", conditions=(condition,)))[: args.per_condition]
        clips = [Clip(m.info.mixture_id, m.audio) for m in mixtures]
        settings = MeasureSettings(condition=condition, clip_s=float(ds.recipe.duration_s))
        for name, est in methods.items():
            start = time.perf_counter()
            table = audit_clips(est, clips, rate, settings, events)
            checks = table.groupby("check")["error_db"].mean()
            row = {"method": name, "condition": condition}
            row["true_mae"] = true_mae(est, mixtures, settings)
            row |= {c: float(checks[c]) for c in CHECKS}
            row["audit_mean"] = float(np.mean([row[c] for c in CHECKS]))
            rows.append(row)
            print(f"{condition} {name}: {row} ({time.perf_counter() - start:.0f} s)", flush=True)
            pd.DataFrame(rows).to_csv(args.out / "points.csv", index=False, float_format="%.3f")
    points = pd.DataFrame(rows)
    corr = []
    for check in [*CHECKS, "audit_mean"]:
        rho, low, high = spearman_ci(
            points[check].to_numpy(), points["true_mae"].to_numpy(), args.resamples
        )
        corr.append({"check": check, "spearman": rho, "ci_low": low, "ci_high": high})
    pd.DataFrame(corr).to_csv(args.out / "correlation.csv", index=False, float_format="%.3f")
    figure(points, args.out / "audit-vs-mae.png")
    print(pd.DataFrame(corr).to_string(index=False))


if __name__ == "__main__":
    run_tool(main)
