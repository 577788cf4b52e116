"""STFT, inverse STFT and level read-out from (masked) spectrograms (numpy).

Analysis and synthesis use a square-root periodic Hann window; overlap-add is
normalised by the summed squared window, so ``istft(stft(x)) == x``.

:func:`spectrogram_levels` reads levels straight from a magnitude spectrogram
with the ground truth's definition: by Parseval, the signal's energy is the
spectrogram's energy divided by ``n_fft`` times the overlap gain of the
squared window (2 for a square-root Hann at hop ``n_fft / 4``); A-weighting
multiplies each bin's power by the IEC 61672-1 curve, as :func:`levels.dbfs_a`
does for the whole clip. For an unmodified spectrogram this reproduces
``dbfs``/``dbfs_a`` of the signal (to within edge effects of the first and last
frames).
"""

from __future__ import annotations

import numpy as np

from ..levels import FAST_TAU_S, a_weighting_gain, interval_bounds, power_to_db

N_FFT = 512
HOP = 128


def window(n_fft: int = N_FFT) -> np.ndarray:
    """Square-root periodic Hann window."""
    return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft))


def stft(x: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Complex STFT ``(n_fft // 2 + 1, frames)`` of a mono signal, frames centred."""
    pad = n_fft // 2
    padded = np.pad(np.asarray(x, dtype=np.float64), (pad, pad + hop))
    n_frames = 1 + (padded.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    return np.fft.rfft(padded[idx] * window(n_fft), axis=1).T


def istft(spec: np.ndarray, length: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Inverse of :func:`stft` (weighted overlap-add), trimmed to ``length`` samples."""
    frames = np.fft.irfft(spec.T, n=n_fft, axis=1) * window(n_fft)
    n_frames = frames.shape[0]
    total = n_fft + hop * (n_frames - 1)
    out, norm = np.zeros(total), np.zeros(total)
    w2 = window(n_fft) ** 2
    for i in range(n_frames):
        out[i * hop : i * hop + n_fft] += frames[i]
        norm[i * hop : i * hop + n_fft] += w2
    pad = n_fft // 2
    out = out / np.maximum(norm, 1e-8)
    return out[pad : pad + length]


def _frame_energy(
    magnitude: np.ndarray, sr: int, weighting: str, n_fft: int, hop: int
) -> np.ndarray:
    """Each frame's share of the signal energy (sum of squared samples), ``(..., frames)``:
    by Parseval, the (weighted) bin powers over ``n_fft`` times the squared window's
    overlap gain; the frames add up to the clip's energy."""
    weights = np.full(n_fft // 2 + 1, 2.0)  # one-sided spectrum: bins count twice...
    weights[0] = 1.0  # ...but DC
    if n_fft % 2 == 0:
        weights[-1] = 1.0  # ...and Nyquist
    if weighting.upper() == "A":
        weights = weights * a_weighting_gain(np.fft.rfftfreq(n_fft, 1.0 / sr)) ** 2
    overlap = (window(n_fft) ** 2).sum() / hop
    mag = np.asarray(magnitude, dtype=np.float64)
    return np.einsum("...ft,f->...t", mag * mag, weights) / (n_fft * overlap)


def spectrogram_levels(
    magnitude: np.ndarray,
    length: int,
    sr: int,
    weighting: str = "A",
    n_fft: int = N_FFT,
    hop: int = HOP,
) -> np.ndarray:
    """Levels in dB re full scale of the signals behind magnitude spectrograms.

    ``magnitude`` is ``(..., bins, frames)``; returns the leading shape.
    ``length`` is each signal's number of samples; ``weighting`` ``A`` or ``Z``.
    """
    energy = _frame_energy(magnitude, sr, weighting, n_fft, hop).sum(axis=-1)
    return np.asarray(power_to_db(energy / length))


def spectrogram_descriptors(
    magnitude: np.ndarray,
    length: int,
    sr: int,
    interval_s: float,
    n_fft: int = N_FFT,
    hop: int = HOP,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time-resolved A-weighted descriptors (dB re full scale) of the signals behind
    magnitude spectrograms ``(..., bins, frames)`` of ``length`` samples at ``sr`` Hz.

    Returns ``(laeq, lafmax, level)``: the LAeq of each ``interval_s`` interval
    (``(..., intervals)``, cut as :func:`~sssle_bench.levels.interval_bounds` cuts the
    ground truth; frame ``t``, centred on sample ``t * hop``, counts in the interval
    holding its centre), the maximum Fast-weighted level (``(...)``: the IEC 61672-1
    recursion run over the frames' power, constant within each hop) and the clip's
    A-weighted level (``(...)``, as :func:`spectrogram_levels`), from one pass.
    """
    from scipy.signal import lfilter

    energy = _frame_energy(magnitude, sr, "A", n_fft, hop)
    bounds = interval_bounds(length, sr, interval_s)
    step = bounds[0][1] - bounds[0][0]
    owner = np.minimum(np.arange(energy.shape[-1]) * hop // step, len(bounds) - 1)
    # frames x intervals membership: an interval shorter than a hop may hold no frame
    membership = np.zeros((owner.size, len(bounds)))
    membership[np.arange(owner.size), owner] = 1.0
    sums = energy @ membership
    sizes = np.array([b - a for a, b in bounds], dtype=float)
    laeq = np.asarray(power_to_db(sums / sizes))
    alpha = 1.0 - np.exp(-hop / (FAST_TAU_S * sr))
    fast = lfilter([alpha], [1.0, alpha - 1.0], energy / hop, axis=-1)
    lafmax = np.asarray(power_to_db(np.maximum(fast.max(axis=-1), 0.0)))
    level = np.asarray(power_to_db(energy.sum(axis=-1) / length))
    return laeq, lafmax, level


def masked_levels(
    spec: np.ndarray, masks: dict[str, np.ndarray], length: int, sr: int, weighting: str = "A"
) -> dict[str, float]:
    """Level (dB re full scale) of each class's masked spectrogram ``mask * |spec|``."""
    mag = np.abs(spec)
    names = list(masks)
    levels = spectrogram_levels(np.stack([masks[c] * mag for c in names]), length, sr, weighting)
    return dict(zip(names, map(float, levels), strict=True))


def spectrogram_prediction(
    magnitude: np.ndarray,
    length: int,
    sr: int,
    weighting: str,
    interval_s: float,
    n_fft: int = N_FFT,
    hop: int = HOP,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(level, lafmax, laeq)`` of magnitude spectrograms ``(..., bins, frames)``: the
    clip level with ``weighting`` (:func:`spectrogram_levels`) and the A-weighted
    descriptors of :func:`spectrogram_descriptors`, one pass over the frames when
    ``weighting`` is A."""
    laeq, lafmax, level = spectrogram_descriptors(magnitude, length, sr, interval_s, n_fft, hop)
    if weighting.upper() != "A":
        level = spectrogram_levels(magnitude, length, sr, weighting, n_fft, hop)
    return level, lafmax, laeq


def masked_prediction(
    spec: np.ndarray,
    masks: dict[str, np.ndarray],
    length: int,
    sr: int,
    weighting: str,
    interval_s: float,
) -> tuple[dict[str, float], dict[str, float], dict[str, np.ndarray]]:
    """Each class's clip level (``weighting``), LAFmax and LAeq per interval (dB re full
    scale) from its masked spectrogram ``mask * |spec|``, the stack built once."""
    mag = np.abs(spec)
    names = list(masks)
    stack = np.stack([masks[c] * mag for c in names])
    levels, lafmax, laeq = spectrogram_prediction(stack, length, sr, weighting, interval_s)
    return (
        dict(zip(names, map(float, levels), strict=True)),
        dict(zip(names, map(float, lafmax), strict=True)),
        dict(zip(names, laeq, strict=True)),
    )


def ideal_ratio_mask_levels(
    mixture: np.ndarray,
    sources: dict[str, np.ndarray],
    background: np.ndarray | None,
    sr: int,
    weighting: str = "A",
) -> dict[str, float]:
    """Each source's level (dB re full scale) read from the mixture through its ideal
    ratio mask, the ceiling of any mask-based method.

    The mask is the amplitude ratio ``|S_c| / sqrt(sum_k |S_k|^2 + |B|^2)``
    (power-law IRM, beta = 1/2) of the isolated class tracks ``sources`` and the
    ``background`` (None when there is none), all ``(n,)`` at ``sr`` Hz.
    """
    mags = {c: np.abs(stft(s)) for c, s in sources.items()}
    power = sum(m**2 for m in mags.values())
    if background is not None:
        power = power + np.abs(stft(background)) ** 2
    masks = {c: m / np.sqrt(np.maximum(power, 1e-20)) for c, m in mags.items()}
    return masked_levels(stft(mixture), masks, mixture.size, sr, weighting)
