"""Level functions: dBFS, A-weighted dBFS and integrated loudness (LUFS).

All functions take audio as float arrays with full scale at 1.0, shaped
``(n,)`` (mono) or ``(n, channels)``. Multichannel input is downmixed to mono
by the mean over channels before any level is computed (one definition for
every level in the benchmark, ground truth and predictions alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from .errors import SssleError

#: Pole frequencies of the IEC 61672-1 A-weighting curve, in Hz.
_A_F1, _A_F2, _A_F3, _A_F4 = 20.598997, 107.65265, 737.86223, 12194.217

#: Shortest clip, in seconds, with a defined integrated loudness (one BS.1770 gating block).
LUFS_MIN_DURATION_S = 0.4

#: A number, an array or a pandas Series of levels: what the dB conversions keep.
Levels = TypeVar("Levels", float, np.ndarray, "pd.Series")


def to_mono(x: np.ndarray) -> np.ndarray:
    """Downmix audio to mono by the mean over channels.

    Parameters
    ----------
    x : np.ndarray [shape=(n,) or (n, channels)]
        Audio samples, full scale 1.0.

    Returns
    -------
    np.ndarray [shape=(n,)], float64
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        return x
    if x.ndim == 2:
        return x.mean(axis=1)
    raise SssleError(f"audio must be 1-D or 2-D (samples, channels), got shape {x.shape}")


def db_to_power(db: Levels) -> Levels:
    """A level in dB to its power (mean-square) ratio, ``10 ** (db / 10)``, for a number,
    array or Series alike; ``-inf`` becomes 0."""
    return 10 ** (db / 10)


def db_to_gain(db: Levels) -> Levels:
    """A gain in dB to its amplitude factor, ``10 ** (db / 20)``, for a number, array or
    Series alike."""
    return 10 ** (db / 20)


def power_to_db(power: np.ndarray | float) -> np.ndarray | float:
    """Convert a mean-square value (full scale 1.0) to dB; 0 becomes ``-inf`` silently."""
    power = np.asarray(power, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(power)
    return float(out) if out.ndim == 0 else out


def dbfs(x: np.ndarray) -> float:
    """RMS level in dB re full scale 1.0: ``10*log10(mean(x**2))``.

    A full-scale sine reads -3.01 dBFS, a full-scale square wave 0 dBFS.
    Digital silence (and an empty array) gives ``-inf`` without a warning.

    Parameters
    ----------
    x : np.ndarray [shape=(n,) or (n, channels)]
        Audio samples, full scale 1.0; multichannel input is averaged to mono.

    Returns
    -------
    float
        Level in dBFS.
    """
    x = to_mono(x)
    if x.size == 0:
        return float("-inf")
    return float(power_to_db(np.mean(x * x)))


def a_weighting_gain(freqs_hz: np.ndarray) -> np.ndarray:
    """Linear magnitude of the IEC 61672-1 A-weighting curve, normalised to 1 at 1 kHz.

    Parameters
    ----------
    freqs_hz : np.ndarray
        Frequencies in Hz.

    Returns
    -------
    np.ndarray
        Linear amplitude gain (not dB), same shape as ``freqs_hz``.
    """
    f2 = np.asarray(freqs_hz, dtype=np.float64) ** 2

    def raw(f2_: np.ndarray) -> np.ndarray:
        num = _A_F4**2 * f2_**2
        den = (f2_ + _A_F1**2) * np.sqrt((f2_ + _A_F2**2) * (f2_ + _A_F3**2)) * (f2_ + _A_F4**2)
        return num / den

    return raw(f2) / raw(np.asarray(1000.0**2))


def dbfs_a(x: np.ndarray, sr: int) -> float:
    """A-weighted RMS level in dB re full scale 1.0 ("dBFS(A)").

    The A curve is applied exactly in the frequency domain: the clip's power
    spectrum (real FFT over the whole clip) is weighted by ``|A(f)|**2`` and
    summed (Parseval), so there is no bilinear-transform warping near Nyquist.
    A 1 kHz sine therefore reads the same as :func:`dbfs`; 100 Hz reads
    19.1 dB lower.

    Parameters
    ----------
    x : np.ndarray [shape=(n,) or (n, channels)]
        Audio samples, full scale 1.0; multichannel input is averaged to mono.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    float
        A-weighted level in dBFS; ``-inf`` for silence.
    """
    x = to_mono(x)
    if x.size == 0:
        return float("-inf")
    return _a_level(_a_spectrum(x, sr), x.size)


@lru_cache(maxsize=16)
def _a_gain(n: int, sr: int) -> np.ndarray:
    """A-weighting amplitude gain of the ``n``-point real FFT's bins at ``sr`` Hz (read-only:
    computed once per clip length and rate)."""
    gain = a_weighting_gain(np.fft.rfftfreq(n, d=1.0 / sr))
    gain.flags.writeable = False
    return gain


def _a_spectrum(x: np.ndarray, sr: int) -> np.ndarray:
    """The clip's real FFT times the A-weighting amplitude gain (mono ``x``)."""
    return np.fft.rfft(x) * _a_gain(x.size, sr)


def _a_level(weighted: np.ndarray, n: int) -> float:
    """dBFS of an A-weighted one-sided spectrum of ``n`` samples (Parseval)."""
    bin_power = np.abs(weighted) ** 2
    # One-sided spectrum: every bin but DC (and Nyquist for even n) counts twice.
    energy = bin_power[0] + 2.0 * bin_power[1:].sum()
    if n % 2 == 0:
        energy -= bin_power[-1]
    return float(power_to_db(energy / n**2))


#: IEC 61672-1 "Fast" time weighting: exponential averaging time constant, s.
FAST_TAU_S = 0.125


@dataclass(frozen=True)
class TimeLevels:
    """Time-resolved A-weighted descriptors of one track (dB re full scale).

    ``laeq_db``: LAeq of each consecutive interval (the last may be shorter);
    ``-inf`` where the track is digital silence throughout the interval.
    ``lafmax_db``: maximum of the A-weighted, Fast time-weighted level.
    ``dbfs_a``: the whole clip's A-weighted level (as :func:`dbfs_a`).
    """

    dbfs_a: float
    lafmax_db: float
    laeq_db: np.ndarray


def interval_bounds(n: int, sr: int, interval_s: float) -> list[tuple[int, int]]:
    """Sample ranges ``[start, stop)`` of consecutive ``interval_s`` intervals of ``n``
    samples at ``sr`` Hz; the last one may be shorter."""
    step = max(1, int(round(interval_s * sr)))
    return [(start, min(start + step, n)) for start in range(0, n, step)]


def fast_weighted_max_db(weighted: np.ndarray, sr: int) -> float:
    """Maximum in dB of ``weighted**2`` through the Fast exponential time weighting:
    ``y[n] = y[n-1] + (x[n]**2 - y[n-1]) * (1 - exp(-1 / (0.125 * sr)))``, ``y[-1] = 0``."""
    from scipy.signal import lfilter

    if weighted.size == 0:
        return float("-inf")
    alpha = 1.0 - np.exp(-1.0 / (FAST_TAU_S * sr))
    y = lfilter([alpha], [1.0, alpha - 1.0], weighted * weighted)
    return float(power_to_db(max(float(y.max()), 0.0)))


def time_levels(x: np.ndarray, sr: int, interval_s: float, fast_max: bool = True) -> TimeLevels:
    """LAeq per interval, LAFmax and dBFS(A) of a clip, with the exact A-weighting of
    :func:`dbfs_a` (the weighted signal is the inverse FFT of its weighted spectrum).
    ``fast_max=False`` skips the LAFmax (NaN) where it is not wanted."""
    x = to_mono(x)
    n = x.size
    if n == 0:
        return TimeLevels(float("-inf"), float("-inf"), np.array([]))
    spectrum = _a_spectrum(x, sr)
    weighted = np.fft.irfft(spectrum, n)
    bounds = interval_bounds(n, sr, interval_s)
    power = np.array([np.mean(weighted[a:b] ** 2) for a, b in bounds])
    silent = np.array([not np.any(x[a:b]) for a, b in bounds])
    laeq = np.where(silent, -np.inf, power_to_db(np.maximum(power, 0.0)))
    lafmax = fast_weighted_max_db(weighted, sr) if fast_max else float("nan")
    return TimeLevels(_a_level(spectrum, n), lafmax, laeq)


def lufs(x: np.ndarray, sr: int) -> float:
    """Integrated loudness (ITU-R BS.1770-4) in LUFS, computed with pyloudnorm.

    Policy for short clips: a clip shorter than one 400 ms gating block has no
    integrated loudness, and this function raises :class:`SssleError` naming
    the clip's duration rather than returning a made-up number. A clip whose
    every block falls below the absolute gate (-70 LUFS), digital silence
    included, reads ``-inf``.

    Parameters
    ----------
    x : np.ndarray [shape=(n,) or (n, channels)]
        Audio samples, full scale 1.0; multichannel input is averaged to mono.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    float
        Integrated loudness in LUFS.
    """
    import pyloudnorm

    x = to_mono(x)
    duration_s = x.size / sr
    if duration_s < LUFS_MIN_DURATION_S:
        raise SssleError(
            f"integrated loudness needs at least {LUFS_MIN_DURATION_S} s of audio, "
            f"got {duration_s:.3f} s"
        )
    with np.errstate(divide="ignore"):
        value = pyloudnorm.Meter(sr).integrated_loudness(x)
    return float(value) if np.isfinite(value) else float("-inf")
