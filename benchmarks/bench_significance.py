"""Cost of the pairwise significance tests of a leaderboard.

    python benchmarks/bench_significance.py [--methods 10] [--mixtures 10000]

The paper's test split size: 10,000 mixtures x 4 conditions x 5 classes, about
40 % of (mixture, class) present. Times ``leaderboard.build.pairwise`` (per-mixture
sums, the paired bootstrap of 1000 resamples and the sign-flip test of 9999
permutations over all pairs, Holm) for that many methods, median of 3 runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from sssle_bench.leaderboard.build import pairwise
from sssle_bench.metrics import ScoreSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--methods", type=int, default=10)
    parser.add_argument("--mixtures", type=int, default=10000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    present = np.repeat(rng.random((args.mixtures, 5)) < 0.4, 4, axis=0)  # 4 conditions
    ids = np.repeat(np.arange(args.mixtures), 4 * 5).reshape(-1, 5)[present]
    mixture_id = pd.Series([f"test_{i:06d}" for i in range(args.mixtures)]).to_numpy()[ids]
    pairs = {
        f"m{k}": pd.DataFrame(
            {"mixture_id": mixture_id, "abs_err_db": np.abs(rng.normal(k * 0.05, 5, ids.size))}
        )
        for k in range(args.methods)
    }
    times = []
    for _ in range(3):
        start = time.perf_counter()
        table = pairwise(list(pairs), pairs, ScoreSettings(bootstrap=1000))
        times.append(time.perf_counter() - start)
    print(
        f"{args.methods} methods ({len(table)} pairs), {args.mixtures} mixtures, "
        f"{ids.size} present pairs each: {np.median(times):.2f} s (median of 3)"
    )


if __name__ == "__main__":
    main()
