"""Which method is really better: paired tests between every two methods of a leaderboard.

Mixtures are the unit, as for the confidence intervals: for each method and
mixture, ``sums`` holds the absolute errors (dB) over the mixture's present
(condition, class) pairs and ``counts`` how many there are (the same for every
method: they share the ground truth).

- :func:`paired_bootstrap`: the difference of two methods' ``mae_present_db``
  (the ratio of summed errors to summed counts, as scored) under the same
  resamples of mixtures; its 95% percentile interval.
- :func:`sign_flip_pvalues`: a paired sign-flip permutation test of the mean of
  per-mixture differences of mean absolute errors (two-sided, with SciPy's
  definition: exact over all 2^n sign patterns when that is at most the
  resample count, else randomised with the +1 correction).
- :func:`holm`: Holm's step-down adjustment across the pairs.
- :func:`rank_groups`: methods in rank order; a method joins the group of the
  best method of the current group unless it differs from it significantly
  (adjusted p < alpha), in which case it starts the next group. Methods of one
  group are statistically tied with its best.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .bootstrap import resample_weights

#: Rows of sign patterns (or of bootstrap weights) handled at once: bounds memory.
CHUNK = 1024


def per_mixture(
    mixture_ids: np.ndarray, abs_err: np.ndarray, order: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``(sums, counts)`` per mixture of ``order`` from one method's present pairs:
    their mixture ids and absolute errors (dB)."""
    index = pd.Index(order)
    codes = index.get_indexer(mixture_ids)
    if (codes < 0).any():
        raise ValueError("a present pair's mixture is not in the mixture order")
    sums = np.bincount(codes, weights=abs_err, minlength=len(order))
    counts = np.bincount(codes, minlength=len(order)).astype(float)
    return sums, counts


def paired_bootstrap(
    sums: np.ndarray, counts: np.ndarray, n_resamples: int, seed: int, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every ordered pair (i, j), i < j, of the methods in ``sums`` ``(M, n_mix)``:
    the observed difference of MAEs (i minus j) and its bootstrap interval.

    Returns ``(difference, low, high)``, each ``(M, M)`` (antisymmetric, NaN on the
    diagonal); no resamples: NaN intervals.
    """
    m = sums.shape[0]
    total = counts.sum()
    mae = sums.sum(axis=1) / total
    diff = mae[:, None] - mae[None, :]
    low = np.full((m, m), np.nan)
    high = np.full((m, m), np.nan)
    if n_resamples > 0 and m > 1:
        rng = np.random.default_rng(seed)
        stack = np.vstack([sums, counts[None, :]]).T.astype(np.float64)  # (n_mix, M + 1)
        draws = []
        for start in range(0, n_resamples, CHUNK):
            w = resample_weights(rng, counts.size, min(CHUNK, n_resamples - start))
            agg = w.astype(np.float64) @ stack
            with np.errstate(invalid="ignore", divide="ignore"):
                draws.append(agg[:, :m] / agg[:, m:])
        boot = np.vstack(draws)  # (R, M)
        alpha = (1 - level) / 2
        for i, j in itertools.combinations(range(m), 2):
            d = boot[:, i] - boot[:, j]
            lo, hi = np.nanquantile(d, [alpha, 1 - alpha])
            low[i, j], high[i, j] = lo, hi
            low[j, i], high[j, i] = -hi, -lo
    np.fill_diagonal(diff, np.nan)
    return diff, low, high


def mixture_maes(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-mixture mean absolute error ``(M, n)`` over the mixtures with a present pair."""
    keep = counts > 0
    return sums[:, keep] / counts[keep]


def _tail_counts(null: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many rows of a null distribution ``(R, P)`` lie at or below / at or above the
    observed statistics, with SciPy's relative tolerance ``1e-14``."""
    gamma = np.abs(1e-14 * observed)
    return (null <= observed + gamma).sum(axis=0), (null >= observed - gamma).sum(axis=0)


def _two_sided(less: np.ndarray, greater: np.ndarray, n: int, exact: bool) -> np.ndarray:
    """SciPy's two-sided permutation p-value from the tail counts of ``n`` resamples
    (randomised: the +1 correction)."""
    adjustment = 0 if exact else 1
    less = (less + adjustment) / (n + adjustment)
    greater = (greater + adjustment) / (n + adjustment)
    return np.minimum(1.0, 2 * np.minimum(less, greater))


def sign_flip_pvalues(
    differences: np.ndarray, n_resamples: int = 9999, seed: int = 0
) -> np.ndarray:
    """Two-sided p-values of the mean of each column of ``differences`` ``(n, P)`` (paired
    per-mixture differences) under random sign flips, all columns with the same flips.
    Exact when ``2**n <= n_resamples``."""
    n, p = differences.shape
    if n == 0:
        return np.ones(p)
    observed = differences.mean(axis=0)
    if n < 63 and 2**n <= n_resamples:
        patterns = ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1) * -2 + 1
        null = patterns.astype(np.float64) @ differences / n
        return _two_sided(*_tail_counts(null, observed), 2**n, exact=True)
    rng = np.random.default_rng(seed)
    d32 = differences.astype(np.float32)
    less = np.zeros(p)
    greater = np.zeros(p)
    for start in range(0, n_resamples, CHUNK):
        rows = min(CHUNK, n_resamples - start)
        signs = rng.integers(0, 2, size=(rows, n), dtype=np.int8).astype(np.float32) * 2 - 1
        low, high = _tail_counts((signs @ d32).astype(np.float64) / n, observed)
        less += low
        greater += high
    return _two_sided(less, greater, n_resamples, exact=False)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def rank_groups(ranked: Sequence[str], adjusted: pd.DataFrame, alpha: float = 0.05) -> list[int]:
    """Group number (1-based) of each method of ``ranked`` (best first); ``adjusted``: the
    symmetric matrix of adjusted p-values indexed by method."""
    groups: list[int] = []
    leader = None
    for name in ranked:
        if leader is None or adjusted.loc[leader, name] < alpha:
            leader = name
            groups.append(groups[-1] + 1 if groups else 1)
        else:
            groups.append(groups[-1])
    return groups


def pairwise_table(
    names: Sequence[str],
    sums: np.ndarray,
    counts: np.ndarray,
    n_resamples: int,
    seed: int = 0,
    n_permutations: int = 9999,
) -> pd.DataFrame:
    """One row per unordered pair of methods: ``method_a, method_b, diff_mae_db``
    (a minus b), ``ci_low, ci_high`` (paired bootstrap of ``n_resamples``, 95%),
    ``p_value`` (sign-flip test, ``n_permutations``) and ``p_holm`` (Holm-adjusted
    across the pairs)."""
    diff, low, high = paired_bootstrap(sums, counts, n_resamples, seed)
    per_mix = mixture_maes(sums, counts)
    pairs = list(itertools.combinations(range(len(names)), 2))
    columns = np.stack([per_mix[i] - per_mix[j] for i, j in pairs], axis=1) if pairs else None
    pvalues = (
        sign_flip_pvalues(columns, n_permutations, seed) if columns is not None else np.array([])
    )
    return pd.DataFrame(
        {
            "method_a": [names[i] for i, _ in pairs],
            "method_b": [names[j] for _, j in pairs],
            "diff_mae_db": [diff[i, j] for i, j in pairs],
            "ci_low": [low[i, j] for i, j in pairs],
            "ci_high": [high[i, j] for i, j in pairs],
            "p_value": pvalues,
            "p_holm": holm(pvalues) if len(pvalues) else pvalues,
        }
    )


def adjusted_matrix(names: Sequence[str], table: pd.DataFrame) -> pd.DataFrame:
    """The symmetric matrix of Holm-adjusted p-values (1 on the diagonal)."""
    matrix = pd.DataFrame(1.0, index=list(names), columns=list(names))
    for row in table.itertuples(index=False):
        matrix.loc[row.method_a, row.method_b] = row.p_holm
        matrix.loc[row.method_b, row.method_a] = row.p_holm
    return matrix
