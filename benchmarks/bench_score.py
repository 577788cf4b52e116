"""Scoring speed on a synthetic truth of 100k mixtures x 4 conditions x 10 classes (4M rows).

    python benchmarks/bench_score.py [--mixtures 100000] [--bootstrap 1000]
                                     [--interval-mixtures 10000] [--intervals 4]

Prints seconds (median of 3 runs) for: pandas reading the predictions CSV alone,
then each step of scoring that file as the ``score`` command does (its bytes and
their sha256, recorded in score.json; parsing; validating against the truth's keys;
scoring without and with bootstrap), and end to end as a ratio to the plain read
(issue 27's goals: <= 3x without bootstrap, <= 5x with 1,000 resamples). The truth
is in memory, as a leaderboard holds it across submissions.
Then the time-resolved parts on the paper's test split size (10k mixtures x 4
conditions x 10 classes x 4 one-second intervals of 4 s clips): validating and
scoring an intervals file, and scoring a LAFmax column.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sssle_bench.metrics import ScoreSettings, score, score_intervals, score_lafmax
from sssle_bench.submission import parse_predictions
from sssle_bench.validation import INTERVAL_COLUMNS, validate, validate_intervals

CLASSES = [f"class_{i}" for i in range(10)]
CONDITIONS = ["none", "bg-50", "bg-20", "bg0"]


def make_truth(n_mix: int, rng: np.random.Generator) -> pd.DataFrame:
    n = n_mix * len(CONDITIONS) * len(CLASSES)
    mix = np.repeat(np.arange(n_mix), len(CONDITIONS) * len(CLASSES))
    present = np.repeat(rng.random((n_mix, len(CLASSES))) < 0.4, len(CONDITIONS), axis=0).ravel()
    level = np.where(present, rng.uniform(-60, -15, n), np.nan)
    frame = pd.DataFrame(
        {
            "mixture_id": pd.Series([f"test_{i:06d}" for i in range(n_mix)]).to_numpy()[mix],
            "split": "test",
            "condition": np.tile(np.repeat(CONDITIONS, len(CLASSES)), n_mix),
            "class": np.tile(CLASSES, n_mix * len(CONDITIONS)),
            "present": present.astype(int),
            "n_events": present.astype(int),
            "level_dbfs": level,
            "level_dbfs_a": level,
        }
    )
    # As sssle_bench.submission.load_truth reads it: key columns categorical.
    return frame.astype({"mixture_id": "category", "condition": "category", "class": "category"})


def make_interval_truth(truth: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` intervals per truth row; a present class sounds in each with probability 0.6."""
    rows = truth.loc[truth.index.repeat(n)].reset_index(drop=True)
    sounding = (rows["present"] == 1).to_numpy() & (rng.random(len(rows)) < 0.6)
    level = rows["level_dbfs_a"].to_numpy() + rng.normal(0, 3, len(rows))
    return pd.DataFrame(
        {
            "mixture_id": rows["mixture_id"],
            "condition": rows["condition"],
            "class": rows["class"],
            "interval": np.tile(np.arange(n), len(truth)),
            "laeq_db": np.where(sounding, level, np.nan),
            "present": sounding.astype(np.int8),
        }
    )


def time_resolved(n_mix: int, n_intervals: int, bootstrap: int, rng: np.random.Generator):
    """Seconds to validate + score an intervals file, and to score a LAFmax column."""
    truth = make_truth(n_mix, rng)
    spans = make_interval_truth(truth, n_intervals, rng)
    pred = spans[["mixture_id", "condition", "class", "interval"]].astype(str)
    noisy = spans["laeq_db"] + rng.normal(0, 4, len(spans))
    pred["laeq_db"] = np.where(spans["present"] == 1, noisy, -np.inf)
    raw = pred.to_csv(index=False, float_format="%.3f").encode()
    start = time.perf_counter()
    result = validate_intervals(
        parse_predictions(raw, Path("intervals.csv"), INTERVAL_COLUMNS), spans, False
    )
    t_validate = time.perf_counter() - start
    assert result.ok, result.problems
    settings = ScoreSettings(bootstrap=bootstrap)
    _, t_score = timed(score_intervals, spans, result.predictions, settings)
    truth["lafmax_db"] = truth["level_dbfs_a"] + 10
    lafmax = pd.DataFrame({"lafmax_db": truth["lafmax_db"] + rng.normal(0, 4, len(truth))})
    _, t_lafmax = timed(score_lafmax, truth, lafmax, settings)
    return len(spans), t_validate, t_score, t_lafmax


def timed(fn, *args, repeats: int = 3, **kwargs):
    """Result and the median of ``repeats`` wall-clock timings in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return out, sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mixtures", type=int, default=100_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--interval-mixtures", type=int, default=10_000)
    parser.add_argument("--intervals", type=int, default=4)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    truth = make_truth(args.mixtures, rng)
    pred = truth[["mixture_id", "condition", "class"]].astype(str)
    noisy = truth["level_dbfs_a"] + rng.normal(0, 4, len(truth))
    pred["level_db"] = np.where(truth["present"] == 1, noisy, -np.inf)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pred.csv"
        pred.to_csv(path, index=False, float_format="%.3f")
        _, t_read = timed(pd.read_csv, path)
        # What the score command does with the file, step by step (validate_file's parts).
        raw, t_bytes = timed(path.read_bytes)
        # the sha256 score.json records, so that it can prove which bytes it scored
        _, t_hash = timed(lambda: hashlib.sha256(raw).hexdigest())
        frame, t_parse = timed(parse_predictions, raw, path)
        _, t_string = timed(parse_predictions, raw, path, typed=False, repeats=1)
    result, t_validate = timed(validate, frame, truth, False)
    assert result.ok, result.problems
    _, t_score = timed(score, truth, result.predictions, ScoreSettings(bootstrap=0))
    _, t_boot = timed(score, truth, result.predictions, ScoreSettings(bootstrap=args.bootstrap))
    checked = t_bytes + t_hash + t_parse + t_validate
    print(f"rows: {len(truth):,}")
    print(f"pandas read_csv alone        : {t_read:6.2f} s")
    print(f"read the bytes + sha256      : {t_bytes + t_hash:6.2f} s")
    print(f"parse (fast read)            : {t_parse:6.2f} s  (string read: {t_string:.2f} s)")
    print(f"validate (checks, matching)  : {t_validate:6.2f} s")
    print(f"score, no bootstrap          : {t_score:6.2f} s")
    print(f"score, {args.bootstrap} resamples       : {t_boot:6.2f} s")
    print(
        f"end to end, no bootstrap     : {checked + t_score:6.2f} s  "
        f"({(checked + t_score) / t_read:.2f}x read; goal <= 3x)"
    )
    print(
        f"end to end, {args.bootstrap} resamples  : {checked + t_boot:6.2f} s  "
        f"({(checked + t_boot) / t_read:.2f}x read; goal <= 5x)"
    )
    rows, t_valid, t_spans, t_lafmax = time_resolved(
        args.interval_mixtures, args.intervals, args.bootstrap, rng
    )
    print(f"intervals: {rows:,} rows ({args.interval_mixtures:,} mixtures x {args.intervals})")
    print(f"validate intervals (parse + checks): {t_valid:6.2f} s")
    print(f"score intervals, {args.bootstrap} resamples : {t_spans:6.2f} s")
    print(f"score LAFmax, {args.bootstrap} resamples    : {t_lafmax:6.2f} s")


if __name__ == "__main__":
    main()
