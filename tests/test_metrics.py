"""Metrics on hand-built cases with known answers; bootstrap CI behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sssle_bench.bootstrap import quantile_from_counts
from sssle_bench.metrics import ScoreSettings, group_quantiles, score

NAN = float("nan")
INF = float("inf")


def case(rows: list[tuple[str, str, str, float, float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mixture, condition, class, true level or nan=absent, predicted level)."""
    truth = pd.DataFrame(
        {
            "mixture_id": [r[0] for r in rows],
            "condition": [r[1] for r in rows],
            "class": [r[2] for r in rows],
            "present": [int(not np.isnan(r[3])) for r in rows],
            "level_dbfs": [r[3] for r in rows],
            "level_dbfs_a": [r[3] - 1.0 for r in rows],
        }
    )
    return truth, pd.DataFrame({"level_db": [r[4] for r in rows]})


#: 3 mixtures x 2 classes, one condition. Present errors: +2, -5, 0, -65 (absent prediction
#: floored at -100); m3/a is a false alarm at -50 dB, m3/b a miss.
HAND = [
    ("m1", "none", "a", -30.0, -28.0),
    ("m1", "none", "b", NAN, -INF),
    ("m2", "none", "a", -40.0, -45.0),
    ("m2", "none", "b", -20.0, -20.0),
    ("m3", "none", "a", NAN, -50.0),
    ("m3", "none", "b", -35.0, -INF),
]


def values(group: dict) -> dict[str, float]:
    return {k: v["value"] for k, v in group.items() if isinstance(v, dict)}


def test_hand_built_case_overall():
    truth, pred = case(HAND)
    result = score(truth, pred, ScoreSettings(weighting="Z", bootstrap=0))
    overall = result["overall"]["all"]
    v = values(overall)
    assert v["mae_present_db"] == pytest.approx(72 / 4)
    assert v["median_present_db"] == pytest.approx(3.5)
    assert v["p90_present_db"] == pytest.approx(5 + 0.7 * 60)
    assert v["bias_db"] == pytest.approx(-68 / 4)
    assert v["mae_all_db"] == pytest.approx(122 / 6)
    assert (v["precision"], v["recall"], v["f1"]) == pytest.approx((0.75, 0.75, 0.75))
    assert (overall["n_present"], overall["n_pairs"]) == (4, 6)
    assert overall["mae_present_db"]["ci_low"] is None


def test_hand_built_case_by_class_and_level_bin():
    truth, pred = case(HAND)
    result = score(truth, pred, ScoreSettings(weighting="Z", bootstrap=0))
    a, b = values(result["by_class"]["a"]), values(result["by_class"]["b"])
    assert (a["mae_present_db"], a["bias_db"]) == pytest.approx((3.5, -1.5))
    assert (b["mae_present_db"], b["bias_db"]) == pytest.approx((32.5, -32.5))
    assert b["precision"] == pytest.approx(1.0) and a["precision"] == pytest.approx(2 / 3)
    bins = result["by_level_bin"]
    assert list(bins) == ["[-40,-30)", "[-30,-20)", "[-20,-10)"]
    assert values(bins["[-40,-30)"])["mae_present_db"] == pytest.approx((5 + 65) / 2)
    assert values(bins["[-20,-10)"])["mae_present_db"] == pytest.approx(0.0)
    assert bins["[-40,-30)"]["precision"]["value"] == pytest.approx(1.0)


def test_weighting_a_scores_against_level_dbfs_a():
    truth, pred = case(HAND)
    z = values(score(truth, pred, ScoreSettings(weighting="Z", bootstrap=0))["overall"]["all"])
    a = values(score(truth, pred, ScoreSettings(weighting="A", bootstrap=0))["overall"]["all"])
    # level_dbfs_a is 1 dB below level_dbfs: every present error grows by +1 dB.
    assert a["bias_db"] == pytest.approx(z["bias_db"] + 1.0)


def test_floor_and_threshold_settings():
    truth, pred = case(HAND)
    s = ScoreSettings(weighting="Z", bootstrap=0, floor_db=-80.0, presence_threshold_db=-48.0)
    v = values(score(truth, pred, s)["overall"]["all"])
    assert v["mae_present_db"] == pytest.approx((2 + 5 + 0 + 45) / 4)
    # -50 dB is no longer "present": no false alarm, and m2/a (-45) still detected.
    assert v["precision"] == pytest.approx(1.0) and v["recall"] == pytest.approx(0.75)


def test_per_condition_keys_are_truth_conditions():
    rows = [(m, c, k, t, p) for (m, _, k, t, p) in HAND for c in ["none", "bg-20"]]
    truth, pred = case(rows)
    result = score(truth, pred, ScoreSettings(weighting="Z", bootstrap=0))
    assert list(result["by_condition"]) == ["none", "bg-20"]
    assert values(result["by_condition"]["bg-20"])["mae_present_db"] == pytest.approx(18.0)


def noisy_case(n_mix: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(n_mix):
        for k in "abc":
            true = rng.uniform(-50, -20) if rng.random() < 0.6 else NAN
            pred = true + rng.normal(0, 3) if not np.isnan(true) else -INF
            rows.append((f"m{m}", "none", k, true, pred))
    return case(rows)


def test_bootstrap_ci_brackets_the_estimate_and_shrinks_with_data():
    widths = []
    for n in (40, 640):
        truth, pred = noisy_case(n, seed=n)
        result = score(truth, pred, ScoreSettings(weighting="Z", bootstrap=300, seed=1))
        overall = result["overall"]["all"]
        for fig in [
            "mae_present_db",
            "median_present_db",
            "p90_present_db",
            "bias_db",
            "mae_all_db",
        ]:
            f = overall[fig]
            assert f["ci_low"] <= f["value"] <= f["ci_high"], (n, fig, f)
        widths.append(overall["mae_present_db"]["ci_high"] - overall["mae_present_db"]["ci_low"])
    assert widths[1] < widths[0] / 2.5


def test_bootstrap_is_seeded():
    truth, pred = noisy_case(50, seed=3)
    one = score(truth, pred, ScoreSettings(bootstrap=100, seed=5))
    two = score(truth, pred, ScoreSettings(bootstrap=100, seed=5))
    other = score(truth, pred, ScoreSettings(bootstrap=100, seed=6))
    assert one == two
    assert one["overall"]["all"]["mae_present_db"] != other["overall"]["all"]["mae_present_db"]


@pytest.mark.parametrize("n_groups", [3, 40])
def test_group_quantiles_equal_numpy_per_group(n_groups: int):
    """Partitioned order statistics (a mask per group, or one sort by group past 16
    groups) give the linear quantile of the sorted group exactly (numpy's own formula
    differs in the last bit), ties, empty and one-value groups included."""
    rng = np.random.default_rng(n_groups)
    values = np.round(rng.gamma(2.0, 3.0, 5000), 1).astype(np.float32)  # many ties
    codes = rng.integers(-1, n_groups, values.size)
    codes[codes == 1] = -1  # group 1 empty
    codes[np.flatnonzero(codes == 2)[1:]] = -1  # group 2 holds one value
    median, p90 = group_quantiles(values, codes, n_groups, (0.5, 0.9))
    assert np.isnan(median[1]) and np.isnan(p90[1])
    for g in [0, *range(2, n_groups)]:
        members = np.sort(values[codes == g].astype(np.float64))
        for q, got in [(0.5, median[g]), (0.9, p90[g])]:
            pos = q * (members.size - 1)
            lo = int(np.floor(pos))
            hi = min(lo + 1, members.size - 1)
            # the linear method, written as score.json has always computed it
            assert got == members[lo] * (1 - (pos - lo)) + members[hi] * (pos - lo)
            assert got == pytest.approx(np.quantile(members, q), rel=1e-12)


def test_quantile_from_counts_places_order_statistics_inside_their_bins():
    """numpy's linear quantile of the counted values, the j-th of a bin's c values at
    (j + 0.5) / c of its width (bins are 0.02 dB wide below 30 dB)."""
    counts = np.zeros((1, 4))
    counts[0, :2] = [1, 1]  # one value in [0, 0.02), one in [0.02, 0.04): 0.01 and 0.03
    assert quantile_from_counts(counts, 0.5)[0] == pytest.approx(0.02)
    assert quantile_from_counts(counts, 0.9)[0] == pytest.approx(0.01 * 0.1 + 0.03 * 0.9)
    # One value below the histogram: ranks 1 and 2 are its two values.
    below, total = np.array([1.0]), np.array([3.0])
    assert quantile_from_counts(counts, 0.5, below, total)[0] == pytest.approx(0.01)
    assert quantile_from_counts(counts, 0.9, below, total)[0] == pytest.approx(0.026)
    # Two values in one bin sit at its quarter and three quarters.
    two = np.array([[2.0, 0.0, 0.0]])
    assert quantile_from_counts(two, 0.0)[0] == pytest.approx(0.005)
    assert quantile_from_counts(two, 1.0)[0] == pytest.approx(0.015)
    # A needed rank outside the histogram, or nothing counted: NaN.
    assert np.isnan(quantile_from_counts(counts, 0.5, np.array([2.0]), np.array([4.0]))[0])
    assert np.isnan(quantile_from_counts(np.zeros((1, 3)), 0.5)[0])


def test_bootstrap_quantile_bounds_match_an_exact_bootstrap_on_gapped_errors():
    """Errors in two clusters with a gap (as missing rows scored as absent make them): each
    resample's median and p90 is numpy's quantile of the resampled errors to within a bin
    (0.02 dB here), so the bounds match an exact bootstrap with the same draws. Reading
    the quantile as the histogram's inverse CDF put the median's bounds several dB below
    the exact ones, and below the median itself."""
    from .conftest import score_draws

    rng = np.random.default_rng(7)
    n_mix, n_res = 60, 200
    rows, errors = [], []
    for m in range(n_mix):
        # every mixture adds one small and one large error: the median lies in the gap
        for k, error in [("a", rng.uniform(0.5, 3.0)), ("b", rng.uniform(20.0, 25.0))]:
            rows.append((f"m{m:02d}", "none", k, -40.0, -40.0 + float(error)))
            errors.append((m, float(error)))
    truth, pred = case(rows)
    settings = ScoreSettings(weighting="Z", bootstrap=n_res, seed=3)
    got = score(truth, pred, settings)["overall"]["all"]
    w = score_draws(3, n_mix, n_res)
    mix = np.array([m for m, _ in errors])
    err = np.array([e for _, e in errors], dtype=np.float32).astype(np.float64)
    for q, fig in [(0.5, "median_present_db"), (0.9, "p90_present_db")]:
        exact = [np.quantile(np.repeat(err, w[r][mix].astype(int)), q) for r in range(n_res)]
        lo, hi = np.quantile(exact, [0.025, 0.975])
        assert abs(got[fig]["ci_low"] - lo) <= 0.02, (fig, got[fig], lo, hi)
        assert abs(got[fig]["ci_high"] - hi) <= 0.02, (fig, got[fig], lo, hi)
    median = got["median_present_db"]
    assert 3 < median["ci_low"] <= median["value"] <= median["ci_high"] < 20  # in the gap


def test_windowed_quantiles_equal_a_full_histogram_bootstrap():
    from sssle_bench.bootstrap import (
        QuantileWindow,
        cumulative_bins,
        error_bins,
        resample_weights,
    )

    rng = np.random.default_rng(0)
    n_mix, per = 300, 4
    mix = np.repeat(np.arange(n_mix), per)
    err = np.abs(rng.normal(0, 5, mix.size))
    codes = rng.integers(0, 2, mix.size)
    bins = error_bins(err)
    bin_cum = cumulative_bins(codes, bins, 2)
    w = resample_weights(np.random.default_rng(1), n_mix, 40)
    totals = np.stack([w @ np.bincount(mix[codes == g], minlength=n_mix) for g in range(2)], 1)
    for q in (0.5, 0.9):
        narrow = QuantileWindow.build(q, mix, codes, bins, bin_cum, n_mix)
        full = QuantileWindow.build(q, mix, codes, bins, bin_cum, n_mix, full=True)
        assert narrow.inside.nnz < full.inside.nnz
        wt = np.ascontiguousarray(w.T)
        a, missed = narrow.draws(w, wt, totals)
        b, _ = full.draws(w, wt, totals)
        assert not missed
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), min_size=1, max_size=60))
def test_cumulative_bins_locate_every_order_statistic(pairs):
    """The window bounds read the bin of a group's k-th smallest pair from its cumulative
    counts: the same bin as the k-th entry of the group's sorted bins, for every k."""
    from sssle_bench.bootstrap import cumulative_bins

    codes = np.array([c for c, _ in pairs])
    bins = np.array([b for _, b in pairs])
    cum = cumulative_bins(codes, bins, 4)
    for g in range(4):
        ranked = np.sort(bins[codes == g])
        assert cum[g, -1] == ranked.size
        got = [int(np.searchsorted(cum[g], k, side="right")) for k in range(ranked.size)]
        assert got == ranked.tolist()


def test_resample_weights_continue_one_stream_across_calls():
    """A bootstrap is drawn in chunks: the weights of consecutive calls (odd sizes, so a
    call may end inside a 64-bit draw) equal those of one call for all the rows."""
    from sssle_bench.bootstrap import resample_weights

    for n_mix in (7, 3001):
        whole = resample_weights(np.random.default_rng(5), n_mix, 123)
        rng = np.random.default_rng(5)
        parts = [resample_weights(rng, n_mix, k) for k in (1, 51, 3, 68)]
        np.testing.assert_array_equal(np.concatenate(parts), whole)
        assert whole.sum(axis=1).tolist() == [n_mix] * 123
