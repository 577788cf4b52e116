"""Level functions: dBFS, A-weighted dBFS and integrated loudness (LUFS).

All functions take audio as float arrays with full scale at 1.0, shaped
``(n,)`` (mono) or ``(n, channels)``. Multichannel input is downmixed to mono
by the mean over channels before any level is computed (one definition for
every level in the benchmark, ground truth and predictions alike).
"""

from __future__ import annotations

import numpy as np

from .errors import SssleError

#: Pole frequencies of the IEC 61672-1 A-weighting curve, in Hz.
_A_F1, _A_F2, _A_F3, _A_F4 = 20.598997, 107.65265, 737.86223, 12194.217

#: Shortest clip, in seconds, with a defined integrated loudness (one BS.1770 gating block).
LUFS_MIN_DURATION_S = 0.4


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
    n = x.size
    if n == 0:
        return float("-inf")
    spectrum = np.fft.rfft(x)
    weights = a_weighting_gain(np.fft.rfftfreq(n, d=1.0 / sr)) ** 2
    bin_power = np.abs(spectrum) ** 2 * weights
    # One-sided spectrum: every bin but DC (and Nyquist for even n) counts twice.
    energy = bin_power[0] + 2.0 * bin_power[1:].sum()
    if n % 2 == 0:
        energy -= bin_power[-1]
    return float(power_to_db(energy / n**2))


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
