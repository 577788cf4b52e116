"""Paired MAE differences between submissions, per background condition (and class).

    python experiments/tools/paired_by_condition.py DATASET --sub both=RUN/submissions/both \
        --sub pishdadian2020=RUN/submissions/pishdadian2020 --pair both,pishdadian2020 \
        [--conditions none,bg-20] [--by-class]

For each ``--pair A,B``: A's MAE over present sources minus B's (A-weighted dB) in each
condition and over all of them, with its 95% paired bootstrap interval (mixtures
resampled, the same resamples for both; as the leaderboard's ``pairwise.csv``, which
gives the overall difference only). Prints one Markdown table. Two trainings of one
variant (seeds, runs) compare the same way: how far apart are they?

``--conditions``: only those conditions (a submission holds exactly their rows, e.g.
from ``predict --condition``, or every condition's; no row may be missing).
``--by-class``: one table per pair with a row per class, and first each submission's
own MAE per class and condition with its 95% bootstrap interval.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from tool_main import run_tool

from sssle_bench.leaderboard.build import present_pairs
from sssle_bench.metrics import ScoreSettings
from sssle_bench.scoring import validate_file
from sssle_bench.significance import paired_bootstrap, per_mixture


def condition_pairs(
    submission: Path,
    dataset: Path,
    split: str,
    settings: ScoreSettings,
    conditions: list[str] | None = None,
) -> pd.DataFrame:
    """Present pairs (mixture id, condition, class, absolute error in dB) of a submission,
    of ``conditions`` only (None: all).

    Every row of those conditions is required: the file holds exactly their rows (a model
    predicted for them alone, ``predict --condition``), or it is a complete submission of
    every condition, whose other rows are then left out."""
    wanted = None if conditions is None else tuple(conditions)
    result, truth = validate_file(submission / "predictions.csv", dataset, split, conditions=wanted)
    problems = result.problems[:3]
    if not result.ok and wanted is not None:
        whole, whole_truth = validate_file(submission / "predictions.csv", dataset, split)
        if whole.ok:
            result, truth = whole, whole_truth
        problems = f"as {', '.join(wanted)} alone: {problems}; as a whole: {whole.problems[:3]}"
    if not result.ok:
        raise SystemExit(f"{submission}: invalid submission: {problems}")
    pairs = present_pairs(result, truth, settings)
    return pairs if wanted is None else pairs[pairs["condition"].isin(wanted)]


def interval(
    a: pd.DataFrame, b: pd.DataFrame | None, settings: ScoreSettings
) -> tuple[float, float, float]:
    """MAE of ``a`` minus that of ``b`` (None: 0, i.e. ``a``'s MAE) over the same pairs
    (dB), with its 95% paired bootstrap interval over mixtures."""
    mixtures = sorted(set(a["mixture_id"]))
    sa, counts = per_mixture(a["mixture_id"].to_numpy(), a["abs_err_db"].to_numpy(), mixtures)
    sb = (
        np.zeros_like(sa)
        if b is None
        else per_mixture(b["mixture_id"].to_numpy(), b["abs_err_db"].to_numpy(), mixtures)[0]
    )
    diff, low, high = paired_bootstrap(
        np.stack([sa, sb]), counts, settings.bootstrap, settings.seed
    )
    return float(diff[0, 1]), float(low[0, 1]), float(high[0, 1])


def paired_cell(a: pd.DataFrame, b: pd.DataFrame, settings: ScoreSettings) -> str:
    """``A - B [low, high]`` (dB) on the mixtures of ``a`` and ``b`` (the same pairs)."""
    d, low, high = interval(a, b, settings)
    return f"{d:+.2f} [{low:+.2f}, {high:+.2f}]"


def mae_cell(a: pd.DataFrame, settings: ScoreSettings) -> str:
    """``MAE [low, high]`` (dB) of ``a``'s pairs."""
    m, low, high = interval(a, None, settings)
    return f"{m:.2f} [{low:.2f}, {high:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--sub", action="append", required=True, help="NAME=SUBMISSION_DIR")
    parser.add_argument("--pair", action="append", required=True, help="A,B: A minus B")
    parser.add_argument("--split", default="test")
    parser.add_argument("--conditions", help="comma-separated; default: all")
    parser.add_argument("--by-class", action="store_true", help="a row per class")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    settings = ScoreSettings(bootstrap=args.bootstrap)
    if any("=" not in s for s in args.sub):
        parser.error("--sub takes NAME=SUBMISSION_DIR")
    subs = dict(s.split("=", 1) for s in args.sub)
    pairs = [p.split(",") for p in args.pair]
    unknown = sorted({n for p in pairs for n in p} - set(subs))
    if any(len(p) != 2 for p in pairs) or unknown:
        parser.error(f"--pair takes A,B of --sub names (unknown: {', '.join(unknown) or '-'})")
    wanted = None if args.conditions is None else args.conditions.split(",")
    loaded = {
        n: condition_pairs(Path(subs[n]), args.dataset, args.split, settings, wanted)
        for n in dict.fromkeys(x for p in pairs for x in p)
    }
    conditions = wanted or list(dict.fromkeys(next(iter(loaded.values()))["condition"]))
    if not args.by_class:
        print("| A - B (MAE, dB) | " + " | ".join(conditions) + " | all |")
        print("|---" * (len(conditions) + 2) + "|")
        for a, b in pairs:
            cells = [
                paired_cell(
                    loaded[a][loaded[a]["condition"] == c],
                    loaded[b][loaded[b]["condition"] == c],
                    settings,
                )
                for c in conditions
            ]
            cells.append(paired_cell(loaded[a], loaded[b], settings))
            print(f"| {a} - {b} | " + " | ".join(cells) + " |")
        return
    classes = sorted(set(next(iter(loaded.values()))["class"]))

    def part(frame: pd.DataFrame, cls: str | None, cond: str) -> pd.DataFrame:
        keep = frame["condition"] == cond
        return frame[keep if cls is None else keep & (frame["class"] == cls)]

    head = "| class | " + " | ".join(conditions) + " |\n" + "|---" * (len(conditions) + 1) + "|"
    for name, frame in loaded.items():
        print(f"\n{name}: MAE over present sources (dB) [95% CI]\n\n{head}")
        for cls in [*classes, None]:
            cells = [mae_cell(part(frame, cls, c), settings) for c in conditions]
            print(f"| {cls or 'all classes'} | " + " | ".join(cells) + " |")
    for a, b in pairs:
        print(f"\n{a} - {b}: MAE difference (dB) [95% paired CI]\n\n{head}")
        for cls in [*classes, None]:
            cells = [
                paired_cell(part(loaded[a], cls, c), part(loaded[b], cls, c), settings)
                for c in conditions
            ]
            print(f"| {cls or 'all classes'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    run_tool(main)
