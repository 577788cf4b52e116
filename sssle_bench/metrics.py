"""SSSLE metrics: absolute level error, presence detection, bias, bootstrap CIs.

Everything is vectorised over (mixture, condition, class) pairs. Terms:

- *present* pairs: the class is present in the mixture (ground truth).
- error of a present pair: ``max(pred, floor) - true`` in dB (a predicted
  "absent" counts as the floor, default -100 dB).
- ``mae_present_db``: mean |error| over present pairs (the paper's absolute
  dBFS error); ``median_present_db`` and ``p90_present_db`` its median and 90th
  percentile; ``bias_db``: mean signed error (pred - true).
- ``mae_all_db``: mean ``|max(pred, floor) - max(true, floor)|`` over all pairs.
- presence detection: predicted present means ``pred > threshold`` (default
  -60 dB); ``precision``, ``recall``, ``f1``.

Confidence intervals resample *mixtures* with replacement (a seeded NumPy
Generator) and take percentiles of each figure over the resamples. Mean-type
figures are exact per resample (sums of per-mixture sufficient statistics);
quantiles are numpy's linear quantiles of each resample's |errors|, read from
histograms (see :mod:`sssle_bench.bootstrap`: 0.02 dB bins below 30 dB, 0.5 dB
above), so their CI bounds have that resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .bootstrap import (
    QuantileWindow,
    WindowStack,
    cumulative_bins,
    error_bins,
    resample_weights,
)
from .errors import SssleError, excerpt
from .validation import MAX_LEVEL_DB

SCHEMA_VERSION = 2
#: The figures' computation, raised whenever a figure or CI of the same inputs changes (a
#: leaderboard's cached score documents hold it in their key). 2: the bootstrap's median
#: and p90 are numpy's linear quantiles of each resample (were the histogram's inverse CDF).
FIGURES_VERSION = 2
#: Figures reported for every group; True where higher is better.
FIGURES: dict[str, bool] = {
    "mae_present_db": False,
    "median_present_db": False,
    "p90_present_db": False,
    "bias_db": False,
    "mae_all_db": False,
    "precision": True,
    "recall": True,
    "f1": True,
}
#: Per-pair statistics summed per group (false alarms = detected - tp, misses = n_present - tp).
_STATS = ("n_present", "abs_err", "err", "n_all", "all_err", "tp", "detected")
_K = len(_STATS)
#: Resamples per chunk of the bootstrap. The mean-type intervals' last float32 digits
#: depend on the shape of the chunk's product (BLAS kernels), so changing it changes
#: score bytes; larger chunks measured no faster on 100k mixtures (benchmarks/README.md).
_CHUNK = 50
_QUANTILES = {0.5: "median_present_db", 0.9: "p90_present_db"}
#: Lowest ``floor_db`` (dB re full scale): 16-bit audio's noise floor is near -98 dB.
MIN_FLOOR_DB = -300.0
#: Most bootstrap resamples a score may ask for (each costs a pass over the pairs).
MAX_BOOTSTRAP = 100_000


@dataclass(frozen=True)
class ScoreSettings:
    """Scoring options: weighting ``A``/``Z``, floor and threshold in dB, resamples, seed.

    Checked on creation (:class:`SssleError` naming the option and its allowed range):
    ``floor_db`` (the level absent predictions and quieter ones are scored at) finite in
    [:data:`MIN_FLOOR_DB`, 0]; ``presence_threshold_db`` finite, from the floor up to
    :data:`~sssle_bench.validation.MAX_LEVEL_DB`; ``bootstrap`` a whole number in [0,
    :data:`MAX_BOOTSTRAP`]; ``seed`` >= 0; ``ci_level`` in (0, 1).
    """

    weighting: str = "A"
    floor_db: float = -100.0
    presence_threshold_db: float = -60.0
    bootstrap: int = 1000
    seed: int = 0
    ci_level: float = 0.95

    def __post_init__(self) -> None:
        checks = [
            (self.weighting in ("A", "Z"), "--weighting", self.weighting, "A or Z"),
            (
                _finite(self.floor_db) and MIN_FLOOR_DB <= self.floor_db <= 0,
                "--floor-db",
                self.floor_db,
                f"a level in dB from {MIN_FLOOR_DB:g} to 0",
            ),
            (
                _finite(self.presence_threshold_db)
                and self.floor_db <= self.presence_threshold_db <= MAX_LEVEL_DB,
                "--presence-threshold-db",
                self.presence_threshold_db,
                f"a level in dB from --floor-db ({self.floor_db:g}) to +{MAX_LEVEL_DB:g}",
            ),
            (
                _whole(self.bootstrap) and 0 <= self.bootstrap <= MAX_BOOTSTRAP,
                "--bootstrap",
                self.bootstrap,
                f"a whole number of resamples from 0 (off) to {MAX_BOOTSTRAP}",
            ),
            (
                _whole(self.seed) and 0 <= self.seed < 2**63,
                "--seed",
                self.seed,
                "a whole number >= 0",
            ),
            (
                _finite(self.ci_level) and 0 < self.ci_level < 1,
                "ci_level",
                self.ci_level,
                "in (0, 1)",
            ),
        ]
        for ok, option, value, allowed in checks:
            if not ok:
                raise SssleError(f"{option} {excerpt(value)}: must be {allowed}")


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _whole(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the boolean labels ``positive``, from
    ranks (Mann-Whitney U over ``n_pos * n_neg``; ties count one half)."""
    from scipy.stats import rankdata

    positive = np.asarray(positive, dtype=bool)
    ranks = rankdata(score)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def truth_column(weighting: str) -> str:
    """Ground-truth column scored for a weighting: ``A`` -> level_dbfs_a, ``Z`` -> level_dbfs."""
    return {"A": "level_dbfs_a", "Z": "level_dbfs"}[weighting.upper()]


def pair_stats(
    true_db: np.ndarray, pred_db: np.ndarray, present: np.ndarray, s: ScoreSettings
) -> np.ndarray:
    """Per-pair sufficient statistics, float32 ``(n, 7)`` in the order of ``_STATS``.

    float32 halves the memory traffic of the per-group sums; group totals over
    mixtures are accumulated in float64.
    """
    pred_f = np.maximum(pred_db, s.floor_db)
    true_f = np.where(present, np.fmax(true_db, s.floor_db), s.floor_db)
    detected = pred_db > s.presence_threshold_db
    out = np.empty((pred_db.size, _K), dtype=np.float32)
    out[:, 0] = present
    out[:, 2] = np.where(present, pred_f - true_f, 0.0)
    np.abs(out[:, 2], out=out[:, 1])
    out[:, 3] = 1.0
    out[:, 4] = np.abs(pred_f - true_f)
    out[:, 5] = present & detected
    out[:, 6] = detected
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def mean_figures(sums: np.ndarray) -> dict[str, np.ndarray]:
    """Mean-type figures from summed statistics ``(..., 7)``."""
    n, a, e, n_all, ae, tp, detected = (sums[..., k] for k in range(_K))
    fp, fn = detected - tp, n - tp
    return {
        "mae_present_db": _ratio(a, n),
        "bias_db": _ratio(e, n),
        "mae_all_db": _ratio(ae, n_all),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


@dataclass(frozen=True)
class Breakdown:
    """A grouping of pairs: ``codes`` (-1 = not in any group) into ``names``."""

    key: str
    names: tuple[str, ...]
    codes: np.ndarray


def level_bins(true_db: np.ndarray, present: np.ndarray) -> Breakdown:
    """10 dB bins of the true level, present pairs only (``[-40,-30)`` ...)."""
    lo = (np.floor(np.nan_to_num(true_db[present], nan=0.0, neginf=-1000.0) / 10) * 10).astype(int)
    edges = np.unique(lo)
    names = tuple(f"[{e},{e + 10})" for e in edges)
    codes = np.full(true_db.size, -1)
    codes[present] = np.searchsorted(edges, lo)
    return Breakdown("by_level_bin", names, codes)


def group_quantiles(
    values: np.ndarray, codes: np.ndarray, n_groups: int, qs: tuple[float, ...]
) -> list[np.ndarray]:
    """Exact quantiles (numpy's linear method) of ``values`` per group, in any order.

    ``codes`` are the values' groups (-1 = none). Each group's order statistics come
    from a partition (no sort): a mask per group when there are few groups, one stable
    sort by group otherwise.
    """
    keep = codes >= 0
    v, c = values[keep], codes[keep]
    if n_groups > 16:
        order = np.argsort(c.astype(np.int16 if n_groups < 2**15 else np.int64), kind="stable")
        bounds = np.cumsum(np.bincount(c, minlength=n_groups))[:-1]
        members = np.split(v[order], bounds)
    else:
        members = [v[c == g] for g in range(n_groups)]
    out = np.full((len(qs), n_groups), np.nan)
    for g, m in enumerate(members):
        if m.size == 0:
            continue
        last = m.size - 1
        pos = [q * last for q in qs]
        lo = [int(np.floor(p)) for p in pos]
        hi = [min(i + 1, last) for i in lo]
        part = np.partition(m, sorted(set(lo + hi)))
        for k, (p, i, j) in enumerate(zip(pos, lo, hi, strict=True)):
            frac = p - i
            out[k, g] = float(part[i]) * (1 - frac) + float(part[j]) * frac
    return list(out)


def _group_sums(
    mix: np.ndarray, codes: np.ndarray, n_groups: int, stats: np.ndarray, n_mix: int
) -> np.ndarray:
    """Per-(mixture, group) sums ``(n_mix, n_groups * 8)``."""
    keep = codes >= 0
    if keep.all():
        idx = mix * n_groups + codes
        stats_kept = stats
    else:
        idx = mix[keep] * n_groups + codes[keep]
        stats_kept = stats[keep]
    out = np.empty((n_mix * n_groups, _K))
    for k in range(_K):
        out[:, k] = np.bincount(idx, stats_kept[:, k], minlength=n_mix * n_groups)
    return out.reshape(n_mix, n_groups * _K)


def _grid_sums(stats: np.ndarray, n_mix: int, n_cond: int, n_class: int) -> list[np.ndarray]:
    """Overall, per-condition and per-class sums when pairs form the full ordered grid."""
    cube = stats.reshape(n_mix, n_cond, n_class, _K)
    by_condition = cube.sum(axis=2)
    return [
        by_condition.sum(axis=1),
        by_condition.reshape(n_mix, n_cond * _K),
        cube.sum(axis=1).reshape(n_mix, n_class * _K),
    ]


def _is_grid(
    mix: np.ndarray, cond: np.ndarray, cls: np.ndarray, n_mix: int, nc: int, nk: int
) -> bool:
    """True if pairs are ordered mixture-major, then condition, then class, with none missing."""
    if mix.size != n_mix * nc * nk:
        return False
    cube = (mix * nc + cond) * nk + cls
    return bool(np.array_equal(cube, np.arange(mix.size)))


def _sums(mix: np.ndarray, breakdowns: list[Breakdown], stats: np.ndarray, n_mix: int):
    """Per-(mixture, group) sums of every breakdown (grid fast path for the first three)."""
    names = [b.key for b in breakdowns[:3]]
    if names == ["overall", "by_condition", "by_class"]:
        nc, nk = len(breakdowns[1].names), len(breakdowns[2].names)
        if _is_grid(mix, breakdowns[1].codes, breakdowns[2].codes, n_mix, nc, nk):
            rest = [_group_sums(mix, b.codes, len(b.names), stats, n_mix) for b in breakdowns[3:]]
            return _grid_sums(stats, n_mix, nc, nk) + rest
    return [_group_sums(mix, b.codes, len(b.names), stats, n_mix) for b in breakdowns]


def score_pairs(
    mix: np.ndarray,
    true_db: np.ndarray,
    pred_db: np.ndarray,
    present: np.ndarray,
    breakdowns: list[Breakdown],
    s: ScoreSettings,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every figure (with CI) for every group of every breakdown.

    ``mix`` holds 0-based mixture codes (the bootstrap unit) per pair.
    Returns ``{breakdown key: {group name: {figure: {value, ci_low, ci_high}}}}``.
    """
    n_mix = int(mix.max()) + 1 if mix.size else 0
    stats = pair_stats(true_db, pred_db, present, s)
    abs_err = stats[:, 1]
    sums = _sums(mix, breakdowns, stats, n_mix)
    present_idx = np.flatnonzero(present)
    present_err = abs_err[present_idx]
    point = []
    for b, sm in zip(breakdowns, sums, strict=True):
        total = sm.sum(axis=0, dtype=np.float64).reshape(len(b.names), _K)
        figs = mean_figures(total)
        figs["median_present_db"], figs["p90_present_db"] = group_quantiles(
            present_err, b.codes[present_idx], len(b.names), (0.5, 0.9)
        )
        figs["n_present"] = total[:, 0]
        figs["n_pairs"] = total[:, 3]
        point.append(figs)
    draws = None
    if s.bootstrap > 0 and n_mix > 0:
        draws = _bootstrap(breakdowns, sums, mix, abs_err, present_idx, n_mix, s)
    alpha = (1 - s.ci_level) / 2
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for i, b in enumerate(breakdowns):
        groups = {}
        for g, name in enumerate(b.names):
            entry: dict[str, Any] = {
                "n_present": int(point[i]["n_present"][g]),
                "n_pairs": int(point[i]["n_pairs"][g]),
            }
            for fig in FIGURES:
                value = _num(point[i][fig][g])
                lo = hi = None
                if draws is not None:
                    sample = draws[i][fig][:, g]
                    sample = sample[~np.isnan(sample)]
                    if sample.size and value is not None:
                        lo, hi = (float(v) for v in np.quantile(sample, [alpha, 1 - alpha]))
                entry[fig] = {"value": value, "ci_low": lo, "ci_high": hi}
            groups[name] = entry
        out[b.key] = groups
    return out


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _bootstrap(
    breakdowns: list[Breakdown],
    sums: list[np.ndarray],
    mix: np.ndarray,
    abs_err: np.ndarray,
    present_idx: np.ndarray,
    n_mix: int,
    s: ScoreSettings,
) -> list[dict[str, np.ndarray]]:
    """Per-resample figures: ``[{figure: (n_resamples, groups)}]`` per breakdown."""
    bins, present_mix = error_bins(abs_err[present_idx]), mix[present_idx]
    windows = []
    for bd, sm in zip(breakdowns, sums, strict=True):
        codes = bd.codes[present_idx]
        keep = codes >= 0
        kept_codes, kept_bins = codes[keep], bins[keep]
        bin_cum = cumulative_bins(kept_codes, kept_bins, len(bd.names))
        args = (present_mix[keep], kept_codes, kept_bins, bin_cum, n_mix)
        # mixtures with a present pair in each group, from the per-mixture sums
        per_group = (sm.reshape(n_mix, len(bd.names), _K)[..., 0] > 0).sum(axis=0)
        windows.append({q: (QuantileWindow.build(q, *args, per_group), args) for q in _QUANTILES})
    stacked = np.hstack(sums).astype(np.float32)
    edges = np.cumsum([0] + [x.shape[1] for x in sums])
    order = [(i, q) for i in range(len(breakdowns)) for q in _QUANTILES]
    stack = WindowStack([windows[i][q][0] for i, q in order])
    rng = np.random.default_rng(s.seed)
    draws: list[dict[str, list[np.ndarray]]] = [{f: [] for f in FIGURES} for _ in breakdowns]
    plan = {
        "breakdowns": breakdowns,
        "windows": windows,
        "order": order,
        "stack": stack,
        "stacked": stacked,
        "edges": edges,
    }
    for done in range(0, s.bootstrap, _CHUNK):
        w32 = resample_weights(rng, n_mix, min(_CHUNK, s.bootstrap - done))
        _bootstrap_chunk(plan, w32, np.ascontiguousarray(w32.T), draws)
    return [{f: np.concatenate(v, axis=0) for f, v in d.items()} for d in draws]


def _bootstrap_chunk(plan: dict[str, Any], w32: np.ndarray, w32_t: np.ndarray, draws) -> None:
    """Figures of one chunk of resamples (weights ``w32``), appended to ``draws``."""
    breakdowns, windows, order = plan["breakdowns"], plan["windows"], plan["order"]
    b, edges = w32.shape[0], plan["edges"]
    all_totals = (w32 @ plan["stacked"]).astype(np.float64)
    totals = [
        all_totals[:, edges[i] : edges[i + 1]].reshape(b, len(bd.names), _K)
        for i, bd in enumerate(breakdowns)
    ]
    quantiles = plan["stack"].draws(w32, w32_t, [totals[i][..., 0] for i, _ in order])
    figs = [mean_figures(t) for t in totals]
    for (i, q), (values, missed) in zip(order, quantiles, strict=True):
        if missed:  # this chunk fell outside the window: use every error instead
            window, args = windows[i][q]
            if not window.full:
                windows[i][q] = (QuantileWindow.build(q, *args, None, full=True), args)
            values, _ = windows[i][q][0].draws(w32, w32_t, totals[i][..., 0])
        figs[i][_QUANTILES[q]] = values
    for i in range(len(breakdowns)):
        for f in FIGURES:
            draws[i][f].append(figs[i][f])


def _codes(column: pd.Series, names: bool = True) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer codes and names in order of first appearance (free for categoricals)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        used = pd.unique(codes)
        remap = np.full(len(column.cat.categories), -1)
        remap[used] = np.arange(used.size)
        return remap[codes], tuple(column.cat.categories[used]) if names else ()
    codes, uniques = pd.factorize(column)
    return codes, tuple(uniques) if names else ()


def breakdowns(frame: pd.DataFrame, true_db: np.ndarray, present: np.ndarray) -> list[Breakdown]:
    """Overall, per condition, per class and per 10 dB bin of the true level: the groups
    every score reports, for rows keyed like the ground truth."""
    cond_codes, cond_names = _codes(frame["condition"])
    class_codes, class_names = _codes(frame["class"])
    return [
        Breakdown("overall", ("all",), np.zeros(len(frame), dtype=int)),
        Breakdown("by_condition", tuple(cond_names), cond_codes),
        Breakdown("by_class", tuple(class_names), class_codes),
        level_bins(true_db, present),
    ]


def score_rows(
    truth: pd.DataFrame,
    true_db: np.ndarray,
    pred_db: np.ndarray,
    present: np.ndarray,
    s: ScoreSettings,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every figure of aligned ``(true, predicted)`` rows keyed like ``truth`` (with its
    ``mixture_id``, ``condition`` and ``class``), resampling mixtures for the CIs."""
    mix, _ = _codes(truth["mixture_id"], names=False)
    return score_pairs(mix, true_db, pred_db, present, breakdowns(truth, true_db, present), s)


def score(
    truth: pd.DataFrame, predictions: pd.DataFrame, s: ScoreSettings
) -> dict[str, dict[str, dict[str, Any]]]:
    """Score aligned predictions against a split's ground truth.

    ``predictions`` must hold one ``level_db`` per truth row, in truth order
    (as :func:`sssle_bench.validation.validate` returns them).
    """
    present = truth["present"].to_numpy().astype(bool)
    true_db = truth[truth_column(s.weighting)].to_numpy(float)
    return score_rows(truth, true_db, predictions["level_db"].to_numpy(float), present, s)


def score_lafmax(
    truth: pd.DataFrame, predictions: pd.DataFrame, s: ScoreSettings
) -> dict[str, dict[str, dict[str, Any]]]:
    """Figures of the predicted ``lafmax_db`` against the truth's ``lafmax_db`` (maximum
    A-weighted Fast level, dB re full scale) of every (mixture, condition, class); present
    pairs as for the clip level. Always A-weighted, whatever ``s.weighting``."""
    present = truth["present"].to_numpy().astype(bool)
    true_db = truth["lafmax_db"].to_numpy(float)
    return score_rows(truth, true_db, predictions["lafmax_db"].to_numpy(float), present, s)


def score_intervals(
    truth: pd.DataFrame, predictions: pd.DataFrame, s: ScoreSettings
) -> dict[str, dict[str, dict[str, Any]]]:
    """Figures of interval LAeq predictions (``laeq_db`` per truth row of
    :func:`sssle_bench.submission.load_truth_intervals`, in its order): *present* rows are
    intervals in which the class sounds; ``mae_present_db`` is the interval MAE. The
    bootstrap resamples mixtures (all of a mixture's intervals together). Always A-weighted."""
    present = truth["present"].to_numpy().astype(bool)
    true_db = truth["laeq_db"].to_numpy(float)
    return score_rows(truth, true_db, predictions["laeq_db"].to_numpy(float), present, s)
