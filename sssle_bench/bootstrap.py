"""Bootstrap over mixtures: resample weights and windowed quantile histograms.

Mean-type figures are linear in per-mixture sums, so a resample is a weight
vector over mixtures (how often each was drawn) times those sums.

A quantile needs the resample's distribution only near the quantile. For each
group we keep, per mixture, the number of errors *below* a window around the
full-data quantile (a dense count) and a sparse histogram of the errors *inside*
the window (0.02 dB bins below 30 dB, 0.5 dB above). A resample's quantile is
numpy's linear one, as the point figure's: the order statistics of ranks
``floor(q (n - 1))`` and the next, interpolated, each placed inside its bin (the
``j``-th of a bin's ``c`` values at ``(j + 0.5) / c`` of its width), so a resample's
quantile is within one bin width of the exact resample's, however sparse or gapped
the errors. Should a needed rank fall outside the window (very unlikely: the window
spans +-8 standard errors in rank space), that group is recomputed with the window
covering all errors. Results equal a full-histogram bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Histogram bin edges of |error| in dB.
EDGES = np.concatenate([np.arange(0.0, 30.0, 0.02), np.arange(30.0, 400.0, 0.5), [np.inf]])
N_BINS = EDGES.size - 1


def resample_weights(rng: np.random.Generator, n_mix: int, n_resamples: int) -> np.ndarray:
    """How often each mixture is drawn in each resample: ``(n_resamples, n_mix)`` float32.

    numpy's int32 draws continue one stream across calls, so consecutive calls give the
    rows of one call for all of them (tested): a bootstrap drawn in chunks draws the
    same resamples as one drawn at once.
    """
    picks = rng.integers(0, n_mix, size=(n_resamples, n_mix), dtype=np.int32)
    weights = np.empty((n_resamples, n_mix), dtype=np.float32)
    for r in range(n_resamples):
        weights[r] = np.bincount(picks[r], minlength=n_mix)
    return weights


def error_bins(abs_err: np.ndarray) -> np.ndarray:
    """Histogram bin index of each |error|."""
    return np.clip(np.searchsorted(EDGES, abs_err, side="right") - 1, 0, N_BINS - 1)


def cumulative_bins(codes: np.ndarray, bins: np.ndarray, n_groups: int) -> np.ndarray:
    """``(n_groups, N_BINS)``: per group, how many pairs fall in each bin or below
    (``codes`` in ``0 .. n_groups - 1``, ``bins`` from :func:`error_bins`)."""
    counts = np.bincount(codes * N_BINS + bins, minlength=n_groups * N_BINS)
    return np.cumsum(counts.reshape(n_groups, N_BINS), axis=1)


def quantile_from_counts(
    counts: np.ndarray,
    q: float,
    below: np.ndarray | float = 0.0,
    total: np.ndarray | None = None,
    first_bin: int = 0,
) -> np.ndarray:
    """Quantile ``q`` (numpy's linear method) of the values counted in histograms
    ``(..., bins)``, each order statistic placed inside its bin (see the module).

    The histograms cover bins ``first_bin, first_bin + 1, ...`` of :data:`EDGES`;
    ``below`` counts values under them and ``total`` all values (default:
    ``below`` + the histogram's sum). NaN where ``total`` is 0 or a needed order
    statistic lies outside the histogram's bins.
    """
    cum = np.cumsum(counts, axis=-1) + np.asarray(below, dtype=counts.dtype)[..., None]
    total = cum[..., -1] if total is None else np.asarray(total)
    h = q * (total - 1.0)
    k = np.floor(h)
    frac = h - k
    low = _order_statistic(counts, cum, k, first_bin)
    high = _order_statistic(counts, cum, np.minimum(k + 1.0, total - 1.0), first_bin)
    value = np.where(frac > 0, low * (1.0 - frac) + high * frac, low)
    return np.where(total > 0, value, np.nan)


def _order_statistic(
    counts: np.ndarray, cum: np.ndarray, rank: np.ndarray, first_bin: int
) -> np.ndarray:
    """The value of 0-based ``rank`` (one per histogram) placed inside its bin; NaN where
    the rank is below or above the histogram's bins."""
    rank = rank[..., None]
    idx = (cum <= rank).sum(axis=-1, keepdims=True)
    inside_ok = idx < counts.shape[-1]
    idx = np.minimum(idx, counts.shape[-1] - 1)
    inside = np.take_along_axis(counts, idx, -1)
    before = np.take_along_axis(cum, idx, -1) - inside
    lo, hi = EDGES[first_bin + idx], EDGES[np.minimum(first_bin + idx + 1, N_BINS)]
    hi = np.where(np.isinf(hi), lo + 0.5, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        at = (rank - before + 0.5) / inside
    ok = inside_ok & (rank >= before) & (inside > 0)
    return np.where(ok, lo + at * (hi - lo), np.nan)[..., 0]


@dataclass
class QuantileWindow:
    """Per-mixture counts below, and a sparse histogram inside, each group's window.

    ``inside`` has one row per (group, bin) for bins ``first_bin ..
    first_bin + width - 1`` (the union of the groups' windows) and one column
    per mixture.
    """

    q: float
    below: np.ndarray  # (n_mix, n_groups) float32
    inside: object  # scipy CSR (n_groups * width, n_mix), float32
    first_bin: int
    width: int
    full: bool

    @classmethod
    def build(
        cls,
        q: float,
        mix: np.ndarray,
        codes: np.ndarray,
        bins: np.ndarray,
        bin_cum: np.ndarray,
        n_mix: int,
        mixtures_per_group: np.ndarray | None = None,
        full: bool = False,
    ) -> QuantileWindow:
        """``mix``/``codes``/``bins`` of the pairs to count; ``bin_cum`` ``(n_groups,
        N_BINS)``: each group's cumulative count of pairs per bin (:func:`cumulative_bins`).

        ``mixtures_per_group`` (how many mixtures have pairs in each group; counted
        here if not given) sets the window widths.
        """
        from scipy.sparse import csr_matrix

        n_groups = bin_cum.shape[0]
        lo = np.zeros(n_groups, dtype=np.int64)
        hi = np.full(n_groups, N_BINS - 1, dtype=np.int64)
        if not full:
            if mixtures_per_group is None:
                seen = np.bincount(mix * n_groups + codes, minlength=n_mix * n_groups)
                mixtures_per_group = (seen.reshape(n_mix, n_groups) > 0).sum(axis=0)
            for g, cum in enumerate(bin_cum):
                size = int(cum[-1])
                if size == 0:
                    continue
                delta = max(0.01, 6.0 * np.sqrt(q * (1 - q) / max(mixtures_per_group[g], 1)))
                # the bin of the k-th smallest pair (0-based): the first bin counting > k
                k_lo = int(np.floor(max(q - delta, 0.0) * (size - 1)))
                k_hi = int(np.ceil(min(q + delta, 1.0) * (size - 1)))
                lo[g] = np.searchsorted(cum, k_lo, side="right")
                hi[g] = np.searchsorted(cum, k_hi, side="right")
        first, width = int(lo.min()), int(hi.max() - lo.min() + 1)
        low, high = lo[codes], hi[codes]
        under = bins < low
        within = ~under & (bins <= high)
        below = (
            np.bincount(mix[under] * n_groups + codes[under], minlength=n_mix * n_groups)
            .reshape(n_mix, n_groups)
            .astype(np.float32)
        )
        inside = csr_matrix(
            (
                np.ones(int(within.sum()), np.float32),
                (codes[within] * width + bins[within] - first, mix[within]),
            ),
            shape=(n_groups * width, n_mix),
        )
        return cls(q, below, inside, first, width, full)

    def draws(
        self, weights: np.ndarray, weights_t: np.ndarray, totals: np.ndarray
    ) -> tuple[np.ndarray, bool]:
        """Per-resample quantiles ``(b, n_groups)`` and whether any fell outside the window.

        ``weights`` is ``(b, n_mix)`` float32 and ``weights_t`` its C-contiguous transpose.
        """
        return self.quantiles(self.inside @ weights_t, weights @ self.below, totals)

    def quantiles(
        self, inside_counts: np.ndarray, below: np.ndarray, totals: np.ndarray
    ) -> tuple[np.ndarray, bool]:
        """Quantiles from this window's resampled counts: ``inside @ weights.T`` ``(rows, b)``
        and ``weights @ below`` ``(b, n_groups)``; see :meth:`draws`."""
        b = inside_counts.shape[1]
        counts = np.moveaxis(inside_counts.reshape(-1, self.width, b), 2, 0)
        values = quantile_from_counts(counts, self.q, below, totals, self.first_bin)
        missed = bool((np.isnan(values) & (totals > 0)).any()) and not self.full
        return values, missed


class WindowStack:
    """Several windows resampled with one sparse and one dense product per chunk."""

    def __init__(self, windows: list[QuantileWindow]):
        from scipy.sparse import vstack

        self.windows = windows
        self.inside = vstack([w.inside for w in windows]).tocsr()
        self.below = np.hstack([w.below for w in windows])
        self.rows = np.cumsum([0] + [w.inside.shape[0] for w in windows])
        self.cols = np.cumsum([0] + [w.below.shape[1] for w in windows])

    def draws(
        self, weights: np.ndarray, weights_t: np.ndarray, totals: list[np.ndarray]
    ) -> list[tuple[np.ndarray, bool]]:
        """:meth:`QuantileWindow.draws` of every window; ``totals[i]`` for window ``i``."""
        inside, below = self.inside @ weights_t, weights @ self.below
        return [
            w.quantiles(
                inside[self.rows[i] : self.rows[i + 1]],
                below[:, self.cols[i] : self.cols[i + 1]],
                totals[i],
            )
            for i, w in enumerate(self.windows)
        ]
