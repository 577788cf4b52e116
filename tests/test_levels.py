"""Level functions against analytic values and the IEC 61672-1 A curve."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sssle_bench.errors import SssleError
from sssle_bench.levels import a_weighting_gain, dbfs, dbfs_a, lufs, to_mono

SAMPLE_RATES = [16000, 22050, 44100, 48000]

#: IEC 61672-1:2013 Table 3: nominal A weighting (dB) and class-1 limits (+, -) in dB.
IEC_A = [
    (31.5, -39.4, 1.5, 1.5),
    (63, -26.2, 1.0, 1.0),
    (125, -16.1, 1.0, 1.0),
    (250, -8.6, 1.0, 1.0),
    (500, -3.2, 1.0, 1.0),
    (1000, 0.0, 0.7, 0.7),
    (2000, 1.2, 1.0, 1.0),
    (4000, 1.0, 1.0, 1.0),
    (8000, -1.1, 1.5, 2.5),
    (16000, -6.6, 2.5, 16.0),
]


def sine(freq_hz: float, sr: int, seconds: float = 1.0, amp: float = 1.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq_hz * np.arange(int(sr * seconds)) / sr)


def test_dbfs_of_full_scale_sine_and_square():
    assert dbfs(sine(1000, 48000)) == pytest.approx(-3.0103, abs=1e-3)
    assert dbfs(np.sign(sine(100, 48000) + 1e-9)) == pytest.approx(0.0, abs=1e-9)


def test_dbfs_of_silence_is_minus_inf_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dbfs(np.zeros(1000)) == float("-inf")
        assert dbfs(np.zeros(0)) == float("-inf")
        assert dbfs_a(np.zeros(1000), 16000) == float("-inf")


@given(gain_db=st.floats(-80, 20), seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_dbfs_scales_with_gain(gain_db: float, seed: int):
    x = np.random.default_rng(seed).standard_normal(512) * 0.1
    g = 10 ** (gain_db / 20)
    assert dbfs(g * x) == pytest.approx(dbfs(x) + gain_db, abs=1e-9)
    assert dbfs_a(g * x, 16000) == pytest.approx(dbfs_a(x, 16000) + gain_db, abs=1e-9)


@pytest.mark.parametrize("sr", SAMPLE_RATES)
def test_a_weighting_of_sines(sr: int):
    x = sine(1000, sr)
    assert dbfs_a(x, sr) - dbfs(x) == pytest.approx(0.0, abs=0.1)
    y = sine(100, sr)
    assert dbfs_a(y, sr) - dbfs(y) == pytest.approx(-19.1, abs=0.5)


def test_a_weighting_at_10khz_44k1():
    x = sine(10000, 44100)
    assert dbfs_a(x, 44100) - dbfs(x) == pytest.approx(-2.5, abs=0.5)


@pytest.mark.parametrize("sr", SAMPLE_RATES)
def test_a_weighting_within_class1_tolerance(sr: int):
    for freq, nominal, plus, minus in IEC_A:
        if freq > 0.4 * sr:
            continue
        x = sine(freq, sr)
        got = dbfs_a(x, sr) - dbfs(x)
        assert nominal - minus <= got <= nominal + plus, (sr, freq, got)


def test_a_weighting_gain_curve_is_one_at_1khz():
    assert a_weighting_gain(np.array([1000.0]))[0] == pytest.approx(1.0, abs=1e-12)
    assert 20 * np.log10(a_weighting_gain(np.array([100.0]))[0]) == pytest.approx(-19.1, abs=0.05)


def test_multichannel_downmix_is_mean_over_channels():
    x = sine(440, 16000, amp=0.5)
    stereo = np.stack([x, x], axis=1)
    assert dbfs(stereo) == pytest.approx(dbfs(x), abs=1e-12)
    assert dbfs(np.stack([x, -x], axis=1)) == float("-inf")
    assert dbfs(np.stack([x, np.zeros_like(x)], axis=1)) == pytest.approx(
        dbfs(x) - 6.0206, abs=1e-3
    )
    assert lufs(stereo, 16000) == pytest.approx(lufs(x, 16000), abs=1e-9)
    with pytest.raises(SssleError, match="1-D or 2-D"):
        to_mono(np.zeros((2, 2, 2)))


def test_lufs_of_1khz_sine_matches_bs1770():
    # BS.1770: a full-scale 997 Hz sine on one channel reads -3.01 LUFS.
    assert lufs(sine(997, 48000, seconds=3.0), 48000) == pytest.approx(-3.01, abs=0.05)
    assert lufs(sine(997, 48000, seconds=3.0, amp=0.1), 48000) == pytest.approx(-23.01, abs=0.05)


def test_lufs_short_clip_raises_and_silence_is_minus_inf():
    with pytest.raises(SssleError, match="at least 0.4 s"):
        lufs(np.ones(100), 16000)
    assert lufs(np.zeros(16000), 16000) == float("-inf")


def test_fast_weighting_and_interval_laeq_on_hand_made_signals():
    from sssle_bench.levels import interval_bounds, time_levels

    sr = 16000
    t = np.arange(2 * sr) / sr
    sine = np.sin(2 * np.pi * 1000 * t)  # A-weighting gain 1 at 1 kHz
    lv = time_levels(sine, sr, 0.5)
    assert lv.dbfs_a == pytest.approx(-3.0103, abs=1e-3)
    assert lv.laeq_db == pytest.approx([-3.0103] * 4, abs=1e-3)
    # Fast weighting settles to the mean square, plus a ripple at twice the frequency
    assert lv.lafmax_db == pytest.approx(-3.0103, abs=0.05)
    # A 1 kHz burst of one time constant (125 ms) reaches 1 - 1/e of its mean square
    burst = np.where(t < 0.125, sine, 0.0)
    expected = 10 * np.log10(0.5 * (1 - np.exp(-1)))
    assert time_levels(burst, sr, 1.0).lafmax_db == pytest.approx(expected, abs=0.05)
    # silence in an interval is -inf there, not a number
    assert np.isneginf(time_levels(burst, sr, 1.0).laeq_db[1])
    # intervals: consecutive, the last one shorter
    assert interval_bounds(10, 4, 1.0) == [(0, 4), (4, 8), (8, 10)]


def test_fast_weighting_is_the_stated_recursion():
    from sssle_bench.levels import fast_weighted_max_db

    sr = 1000
    x = np.random.default_rng(0).normal(0, 0.1, 500)
    alpha = 1 - np.exp(-1 / (0.125 * sr))
    y, peak = 0.0, 0.0
    for v in x:
        y = y + (v * v - y) * alpha
        peak = max(peak, y)
    assert fast_weighted_max_db(x, sr) == pytest.approx(10 * np.log10(peak), abs=1e-9)


def test_db_conversions_are_the_inverse_of_the_level_functions():
    """-10 dB is a tenth of the power, -20 dB a tenth of the amplitude; -inf is silence;
    a Series stays a Series (the ground-truth columns are converted as they are)."""
    import pandas as pd

    from sssle_bench.levels import db_to_gain, db_to_power, power_to_db

    assert db_to_power(-10.0) == 0.1 and db_to_gain(-20.0) == 0.1
    assert db_to_power(float("-inf")) == 0.0
    assert power_to_db(db_to_power(-37.5)) == pytest.approx(-37.5, abs=1e-12)
    x = np.random.default_rng(0).normal(size=16000) * 0.1
    assert dbfs(x * db_to_gain(-6.0)) == pytest.approx(dbfs(x) - 6.0, abs=1e-9)
    series = db_to_power(pd.Series([0.0, -20.0, None]))
    assert isinstance(series, pd.Series) and series.tolist()[:2] == [1.0, 0.01]


def test_evenly_spaced_keeps_a_spread_subset_from_the_first():
    from sssle_bench.dataset import evenly_spaced

    assert evenly_spaced(10, 4) == [0, 2, 5, 7]
    assert evenly_spaced(3000, 1000)[:3] == [0, 3, 6] and len(evenly_spaced(3000, 1000)) == 1000
    assert evenly_spaced(5, None) == evenly_spaced(5, 5) == evenly_spaced(5, 9) == [0, 1, 2, 3, 4]
