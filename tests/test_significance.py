"""Which method is really better: paired bootstrap, sign-flip test, Holm, rank groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import permutation_test

from sssle_bench import significance as sig
from sssle_bench.leaderboard import build_leaderboard
from sssle_bench.metrics import ScoreSettings

from .conftest import generate


def test_sign_flip_pvalue_matches_scipy_exactly_on_a_small_case():
    rng = np.random.default_rng(1)
    for d in (rng.normal(0.3, 1.0, 9), rng.normal(0.0, 1.0, 7), np.array([1.0, 2.0, -0.5])):
        ours = sig.sign_flip_pvalues(d[:, None], n_resamples=9999)[0]
        theirs = permutation_test(
            (d,), np.mean, permutation_type="samples", n_resamples=9999, vectorized=True
        ).pvalue
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_sign_flip_randomised_agrees_with_scipy_within_resampling_noise():
    d = np.random.default_rng(2).normal(0.15, 1.0, 60)
    ours = sig.sign_flip_pvalues(d[:, None], n_resamples=20000, seed=3)[0]
    theirs = permutation_test(
        (d,),
        np.mean,
        permutation_type="samples",
        n_resamples=20000,
        vectorized=True,
        rng=np.random.default_rng(4),
    ).pvalue
    assert abs(ours - theirs) < 0.02


def test_identical_differences_give_p_1():
    assert sig.sign_flip_pvalues(np.zeros((500, 3)), 999).tolist() == [1.0, 1.0, 1.0]


def test_holm_on_hand_values():
    assert sig.holm(np.array([0.01, 0.04, 0.03])).tolist() == pytest.approx([0.03, 0.06, 0.06])
    # 0.5 x 2 = 1.0, and an adjusted p never falls below an earlier one
    assert sig.holm(np.array([0.5, 0.9])).tolist() == [1.0, 1.0]
    assert sig.holm(np.array([0.02, 0.01])).tolist() == pytest.approx([0.02, 0.02])


def test_paired_bootstrap_difference_and_interval():
    counts = np.array([2.0, 1.0, 3.0, 2.0])
    a = np.array([2.0, 1.0, 3.0, 2.0])  # 1 dB per pair
    b = a * 3  # 3 dB per pair
    diff, low, high = sig.paired_bootstrap(np.stack([a, b]), counts, 500, seed=0)
    assert diff[0, 1] == pytest.approx(-2.0) and diff[1, 0] == pytest.approx(2.0)
    # every resample has the same difference: a degenerate interval at -2
    assert low[0, 1] == pytest.approx(-2.0) and high[0, 1] == pytest.approx(-2.0)
    assert np.isnan(diff[0, 0])


def test_paired_bootstrap_equals_resampling_the_pairs_by_hand():
    """Three methods on 25 mixtures holding 0-4 present pairs each: every resample's
    MAE difference recomputed from the drawn mixtures' pairs (the same draws,
    sig.CHUNK at a time), then its percentiles."""
    rng = np.random.default_rng(5)
    n_mix, n_res, seed = 25, 130, 2
    pairs = [rng.gamma(2.0, 1.5, size=(3, rng.integers(0, 5))) for _ in range(n_mix)]
    sums = np.stack([p.sum(axis=1) for p in pairs], axis=1)
    counts = np.array([p.shape[1] for p in pairs], dtype=float)
    diff, low, high = sig.paired_bootstrap(sums, counts, n_res, seed)
    draws = np.random.default_rng(seed)
    picks = np.concatenate(
        [
            draws.integers(0, n_mix, size=(min(sig.CHUNK, n_res - d), n_mix), dtype=np.int32)
            for d in range(0, n_res, sig.CHUNK)
        ]
    )
    maes = np.array([np.concatenate([pairs[m] for m in row], axis=1).mean(axis=1) for row in picks])
    everything = np.concatenate(pairs, axis=1).mean(axis=1)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        assert diff[i, j] == pytest.approx(everything[i] - everything[j], abs=1e-12)
        lo, hi = np.quantile(maes[:, i] - maes[:, j], [0.025, 0.975])
        assert (low[i, j], high[i, j]) == pytest.approx((lo, hi), abs=1e-12)
        assert (low[j, i], high[j, i]) == pytest.approx((-hi, -lo), abs=1e-12)


def test_rank_groups_follow_the_leader():
    p = pd.DataFrame(
        [[1, 0.5, 0.01, 0.01], [0.5, 1, 0.2, 0.01], [0.01, 0.2, 1, 0.3], [0.01, 0.01, 0.3, 1]],
        index=list("abcd"),
        columns=list("abcd"),
    )
    # b is tied with a; c differs from a: new group led by c; d is tied with c
    assert sig.rank_groups(list("abcd"), p) == [1, 1, 2, 2]


@pytest.fixture(scope="module")
def dataset(synthetic_home: Path, tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("sig") / "ds", synthetic_home, limit=30)


def test_leaderboard_ties_identical_and_separates_a_2_db_shift(dataset: Path, tmp_path: Path):
    truth = pd.read_csv(dataset / "ground_truth" / "test.csv")
    noise = np.random.default_rng(0).normal(0, 1.0, len(truth))
    base = truth["level_dbfs_a"] + noise
    folders = []
    for name, level in [("a", base), ("a-copy", base), ("a-plus-2", base + 2.0)]:
        folder = tmp_path / name
        folder.mkdir()
        pred = truth[["mixture_id", "condition", "class"]].copy()
        pred["level_db"] = np.where(truth["present"] == 1, level, -np.inf)
        pred.to_csv(folder / "predictions.csv", index=False)
        folders.append(folder)
    out = tmp_path / "board"
    build_leaderboard(
        folders, dataset, out, settings=ScoreSettings(bootstrap=200), echo=lambda s: None
    )
    pairs = pd.read_csv(out / "pairwise.csv").set_index(["method_a", "method_b"])
    same = (
        pairs.loc[("a", "a-copy")] if ("a", "a-copy") in pairs.index else pairs.loc[("a-copy", "a")]
    )
    assert same["p_value"] == 1.0 and same["p_holm"] == 1.0 and same["diff_mae_db"] == 0.0
    shifted = [i for i in pairs.index if "a-plus-2" in i]
    for key in shifted:
        row = pairs.loc[key]
        assert row["p_holm"] < 0.001
        worse = 1 if key[0] == "a-plus-2" else -1
        assert worse * row["ci_low"] > 0 or worse * row["ci_high"] < 0  # CI excludes 0
    board = pd.read_csv(out / "leaderboard.csv").set_index("method")
    assert board.loc["a", "rank_group"] == board.loc["a-copy", "rank_group"] == 1
    assert board.loc["a-plus-2", "rank_group"] == 2
    page = (out / "index.html").read_text()
    assert "Which differences are real" in page and 'class="sig"' in page
