"""Paired MAE differences between submissions, per background condition and overall.

    python benchmarks/paired_by_condition.py DATASET --sub both=RUN/submissions/both \
        --sub pishdadian2020=RUN/submissions/pishdadian2020 --pair both,pishdadian2020

For each ``--pair A,B``: A's MAE over present sources minus B's (A-weighted dB) in each
condition and over all of them, with its 95% paired bootstrap interval (mixtures
resampled, the same resamples for both; as the leaderboard's ``pairwise.csv``, which
gives the overall difference only). Prints one Markdown table. Two trainings of one
variant (seeds, runs) compare the same way: how far apart are they?
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sssle_bench.leaderboard.build import present_pairs
from sssle_bench.metrics import ScoreSettings
from sssle_bench.scoring import validate_file
from sssle_bench.significance import paired_bootstrap, per_mixture


def condition_pairs(submission: Path, dataset: Path, split: str, settings: ScoreSettings):
    """Present pairs (mixture id, condition, absolute error) of a submission."""
    result, truth = validate_file(submission / "predictions.csv", dataset, split, False)
    if not result.ok:
        raise SystemExit(f"{submission}: invalid submission: {result.problems[:3]}")
    return present_pairs(result, truth, settings)


def paired_cell(a, b, settings: ScoreSettings) -> str:
    """``A - B [low, high]`` (dB) on the mixtures of ``a`` and ``b`` (the same pairs)."""
    mixtures = sorted(set(a["mixture_id"]))
    sa, counts = per_mixture(a["mixture_id"].to_numpy(), a["abs_err_db"].to_numpy(), mixtures)
    sb, _ = per_mixture(b["mixture_id"].to_numpy(), b["abs_err_db"].to_numpy(), mixtures)
    diff, low, high = paired_bootstrap(
        np.stack([sa, sb]), counts, settings.bootstrap, settings.seed
    )
    return f"{diff[0, 1]:+.2f} [{low[0, 1]:+.2f}, {high[0, 1]:+.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--sub", action="append", required=True, help="NAME=SUBMISSION_DIR")
    parser.add_argument("--pair", action="append", required=True, help="A,B: A minus B")
    parser.add_argument("--split", default="test")
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
    loaded = {
        n: condition_pairs(Path(subs[n]), args.dataset, args.split, settings)
        for n in dict.fromkeys(x for p in pairs for x in p)
    }
    conditions = list(dict.fromkeys(next(iter(loaded.values()))["condition"]))
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


if __name__ == "__main__":
    main()
