"""Synthetic stand-ins for UrbanSound8K and SONYC-Backgrounds, in the real layouts.

``make_synthetic_sources(out, seed)`` writes a data home with
``UrbanSound8K/`` (official CSV columns, ``fold1..fold10``, file names
``fsID-classID-occurrenceID-sliceID.wav``) and ``SONYC-Backgrounds/``
(``{train,valid,test}/SS_YYYY-MM-DD_HH_II.wav``). Each UrbanSound8K class has
its own recognisable synthetic sound, sample rates vary over 16/22.05/44.1/48
kHz, some clips are stereo, durations span 0.3-4 s and salience is 1 or 2. The
set is deterministic for a seed and small (~15 MB), so tests and the demo run
the same loaders on it as on the real data.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import butter, sosfilt

from ..audio import encode
from ..errors import SssleError
from ..paths import write_bytes, write_text
from . import sonyc_backgrounds, urbansound8k
from .common import class_table

SAMPLE_RATES_HZ = (16000, 22050, 44100, 48000)
N_FOLDS = 10
#: Extra salience-2 clips per fold (one salience-1 clip per class and fold always exists).
N_SALIENCE2_PER_FOLD = 2
#: Background files per split, their length (s) and rate (Hz); sensors never shared by splits.
N_BACKGROUNDS_PER_SPLIT = 2
BACKGROUND_DURATION_S = 6.0
BACKGROUND_SR_HZ = 48000

Synth = Callable[[np.random.Generator, int, int], np.ndarray]


def _t(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def _bandpass(x: np.ndarray, sr: int, lo_hz: float, hi_hz: float) -> np.ndarray:
    hi_hz = min(hi_hz, 0.45 * sr)
    sos = butter(4, [lo_hz, hi_hz], btype="bandpass", fs=sr, output="sos")
    return sosfilt(sos, x)


def _lowpass(x: np.ndarray, sr: int, cutoff_hz: float) -> np.ndarray:
    return sosfilt(butter(4, cutoff_hz, btype="lowpass", fs=sr, output="sos"), x)


def _harmonic(f0_hz: np.ndarray | float, t: np.ndarray, n_harm: int, sr: int) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(np.broadcast_to(f0_hz, t.shape)) / sr
    return sum(np.sin(k * phase) / k for k in range(1, n_harm + 1))


def _air_conditioner(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    hum = 0.3 * np.sin(2 * np.pi * rng.uniform(50, 120) * _t(n, sr))
    return _lowpass(rng.standard_normal(n), sr, rng.uniform(300, 900)) + hum


def _car_horn(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    f0 = rng.uniform(350, 500)
    return _harmonic(f0, t, 6, sr) + _harmonic(f0 * 1.26, t, 6, sr)


def _children_playing(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    f0 = rng.uniform(250, 400) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(2, 5) * t))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 3) * t) ** 2
    return envelope * _harmonic(f0, t, 8, sr)


def _dog_bark(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    out = np.zeros(n)
    period = int(rng.uniform(0.25, 0.5) * sr)
    burst = int(0.12 * sr)
    for start in range(int(0.02 * sr), n, period):
        stop = min(n, start + burst)
        seg = t[: stop - start]
        out[start:stop] = np.exp(-seg * 25) * _harmonic(rng.uniform(400, 700), seg, 10, sr)
    return out


def _drilling(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    buzz = _harmonic(rng.uniform(900, 1600), t, 4, sr)
    return buzz * (0.7 + 0.3 * np.sin(2 * np.pi * rng.uniform(20, 40) * t))


def _engine_idling(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    firing = np.maximum(np.sin(2 * np.pi * rng.uniform(25, 45) * t), 0) ** 4
    return _lowpass(firing + 0.2 * rng.standard_normal(n), sr, 400)


def _gun_shot(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    return rng.standard_normal(n) * np.exp(-t * rng.uniform(15, 30))


def _jackhammer(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    rate_hz = rng.uniform(15, 25)
    pulses = np.exp(-((t * rate_hz) % 1.0) * 12)
    return pulses * _bandpass(rng.standard_normal(n), sr, 500, 4000)


def _siren(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    f0 = 950 + rng.uniform(300, 450) * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t)
    return _harmonic(f0, t, 3, sr)


def _street_music(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    notes = 220.0 * 2 ** (rng.integers(0, 12, size=16) / 12)
    note_len = max(1, int(rng.uniform(0.15, 0.3) * sr))
    f0 = notes[(np.arange(n) // note_len) % notes.size]
    return _harmonic(f0, t, 5, sr) * (0.6 + 0.4 * np.exp(-((np.arange(n) % note_len) / sr) * 8))


#: One distinct synthetic sound per UrbanSound8K class.
SYNTHS: dict[str, Synth] = {
    "air_conditioner": _air_conditioner,
    "car_horn": _car_horn,
    "children_playing": _children_playing,
    "dog_bark": _dog_bark,
    "drilling": _drilling,
    "engine_idling": _engine_idling,
    "gun_shot": _gun_shot,
    "jackhammer": _jackhammer,
    "siren": _siren,
    "street_music": _street_music,
}


def synth_clip(rng: np.random.Generator, label: str, duration_s: float, sr: int) -> np.ndarray:
    """One clip of class ``label``: ``(n,)`` float, peak-normalised to a random 0.2-0.9."""
    n = max(1, int(round(duration_s * sr)))
    x = SYNTHS[label](rng, n, sr)
    fade = min(n // 4, int(0.005 * sr))
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    return x / max(np.max(np.abs(x)), 1e-12) * rng.uniform(0.2, 0.9)


def city_noise(rng: np.random.Generator, duration_s: float, sr: int) -> np.ndarray:
    """City-like background: traffic rumble, broadband hiss and a slow level drift."""
    n = int(round(duration_s * sr))
    t = _t(n, sr)
    rumble = _lowpass(rng.standard_normal(n), sr, 200)
    hiss = 0.2 * _bandpass(rng.standard_normal(n), sr, 500, 8000)
    drift = 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t + rng.uniform(0, 2 * np.pi))
    x = (rumble + hiss) * drift
    return x / np.max(np.abs(x)) * 0.5


def _plan_foregrounds(rng: np.random.Generator) -> pd.DataFrame:
    """Which clips to make: one salience-1 clip per (fold, class) plus some salience-2 ones."""
    classes = class_table()
    rows = []
    fs_id = 100000
    for fold in range(1, N_FOLDS + 1):
        picks = list(classes.itertuples(index=False))
        extra = rng.choice(len(picks), size=N_SALIENCE2_PER_FOLD, replace=False)
        for i, (class_id, label) in enumerate(picks + [picks[j] for j in sorted(extra)]):
            fs_id += int(rng.integers(1, 500))
            duration_s = float(np.exp(rng.uniform(np.log(0.3), np.log(4.0))))
            start = float(np.round(rng.uniform(0, 20), 6))
            rows.append(
                {
                    "slice_file_name": f"{fs_id}-{class_id}-0-{i % 3}.wav",
                    "fsID": fs_id,
                    "start": start,
                    "end": round(start + duration_s, 6),
                    "salience": 1 if i < len(classes) else 2,
                    "fold": fold,
                    "classID": int(class_id),
                    "class": label,
                }
            )
    return pd.DataFrame(rows, columns=list(urbansound8k.CSV_COLUMNS))


#: World sizes of :func:`make_synthetic_sources`.
SIZES = ("small", "medium")


def make_synthetic_sources(out: Path, seed: int = 0, size: str = "small", jobs: int = 1) -> Path:
    """Write a synthetic data home at ``out``; deterministic for ``seed``. Returns ``out``.

    ``small`` (the unit tests' world): a handful of clips, see this module.
    ``medium``: UrbanSound8K's real counts, durations and recording structure
    (:mod:`sssle_bench.sources.synthetic_medium`), built with ``jobs`` processes.
    """
    if size not in SIZES:
        raise SssleError(f"synthetic sources: size {size!r} is not one of {', '.join(SIZES)}")
    if size == "medium":
        from .synthetic_medium import make_medium_sources

        return make_medium_sources(out, seed, jobs)
    out = Path(out)
    seeds = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(seeds[0])
    meta = _plan_foregrounds(rng)
    us8k = urbansound8k.dataset_dir(out).relative_to(out)
    for row in meta.itertuples(index=False):
        sr = int(rng.choice(SAMPLE_RATES_HZ))
        x = synth_clip(rng, row[7], row.end - row.start, sr)
        if rng.random() < 0.2:
            x = np.stack([x, x * rng.uniform(0.6, 1.0)], axis=1)
        rel = us8k / "audio" / f"fold{row.fold}" / row.slice_file_name
        write_bytes(out, rel, encode(x, sr, "wav", "PCM_16")[0])
    write_text(out, urbansound8k.metadata_csv(out).relative_to(out), meta.to_csv(index=False))

    rng = np.random.default_rng(seeds[1])
    sonyc = sonyc_backgrounds.dataset_dir(out).relative_to(out)
    for s, split in enumerate(sonyc_backgrounds.SPLITS):
        for i in range(N_BACKGROUNDS_PER_SPLIT):
            sensor = 10 * (s + 1) + i
            name = f"{sensor:02d}_2019-0{s + 3}-1{i}_{int(rng.integers(0, 24)):02d}_{i:02d}.wav"
            x = city_noise(rng, BACKGROUND_DURATION_S, BACKGROUND_SR_HZ)
            write_bytes(out, sonyc / split / name, encode(x, BACKGROUND_SR_HZ, "wav", "PCM_16")[0])
    return out
