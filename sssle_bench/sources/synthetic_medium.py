"""The medium synthetic world: UrbanSound8K's real counts, durations and recording structure.

``make_medium_sources(out, seed)`` writes a data home in the real layouts
(``UrbanSound8K/`` with the official CSV columns and
``fsID-classID-occurrenceID-sliceID.wav`` names; ``SONYC-Backgrounds/`` with
``{sensor}_{date}_{hour}_{instance}.wav``):

- The five classes of the paper's recipe have, per fold, exactly the real
  number of salience-1 clips (:data:`SALIENCE1_PER_FOLD`), plus salience-2 clips
  in proportion (:data:`SALIENCE2_RATIO`); durations follow each class's real
  median and 10th percentile (:data:`DURATION_QUANTILES_S`), capped at 4 s.
- Clips are slices of recordings (``fsID``): a recording draws its sound and
  its colour (microphone, room, noise floor; :mod:`.medium_sounds`) once and all
  its slices share them; all slices of a recording lie in one fold, as in the
  real data. :data:`SLICES_PER_RECORDING` sets how many slices a recording has
  on average (jackhammer: 1,000 real clips from 45 recordings).
- The other five classes exist too, fewer of them (:data:`OTHER_PER_FOLD`).
- Backgrounds: :data:`BACKGROUNDS_PER_SPLIT` 10 s files per split, each from
  its own sensor: traffic rumble with passing vehicles and a drifting level,
  hiss, and out-of-vocabulary events (the five non-recipe classes, voices,
  birds, clatter) at random times and levels; never a class of the recipe.

Every recording and every background has its own ``SeedSequence`` (seed,
kind, id), so the world is byte-identical for a seed whatever ``jobs`` is.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import butter, sosfilt
from scipy.special import ndtri

from ..audio import encode
from ..paths import write_bytes, write_text
from . import sonyc_backgrounds, urbansound8k
from .common import class_table
from .medium_sounds import draw_colour, draw_sound, render_slice

#: Salience-1 clips per fold 1..10 of the paper recipe's classes (real UrbanSound8K metadata).
SALIENCE1_PER_FOLD: dict[str, tuple[int, ...]] = {
    "car_horn": (27, 13, 38, 6, 5, 6, 7, 13, 16, 22),
    "dog_bark": (72, 70, 70, 76, 65, 49, 77, 56, 50, 60),
    "gun_shot": (35, 31, 36, 18, 33, 45, 25, 26, 25, 30),
    "jackhammer": (74, 8, 107, 95, 119, 55, 31, 78, 75, 89),
    "siren": (30, 32, 11, 14, 53, 6, 12, 47, 54, 10),
}
#: The recipe classes: never in a background.
FOREGROUND_CLASSES = tuple(SALIENCE1_PER_FOLD)
#: (median, 10th percentile) clip duration in s per class (real metadata; 4 s is the cap).
DURATION_QUANTILES_S: dict[str, tuple[float, float]] = {
    "car_horn": (1.11, 0.27),
    "dog_bark": (4.00, 0.63),
    "gun_shot": (1.47, 0.60),
    "jackhammer": (4.00, 1.84),
    "siren": (4.00, 4.00),
}
OTHER_DURATION_QUANTILES_S = (4.00, 1.50)
MAX_DURATION_S = 4.0
#: Salience-2 clips per salience-1 clip of the same fold and class.
SALIENCE2_RATIO = 0.3
#: Clips per fold of each non-recipe class (salience 1 and 2 alike).
OTHER_PER_FOLD = 5
#: Mean slices per recording (real jackhammer: 1,000 clips from 45 recordings).
SLICES_PER_RECORDING: dict[str, float] = {
    "car_horn": 3.0,
    "dog_bark": 4.0,
    "gun_shot": 4.0,
    "jackhammer": 20.0,
    "siren": 10.0,
}
OTHER_SLICES_PER_RECORDING = 5.0
#: A recording's sample rate (Hz) and how often it occurs.
SAMPLE_RATES_HZ = (11025, 16000)
SAMPLE_RATE_P = (0.4, 0.6)
BACKGROUNDS_PER_SPLIT = 32
SENSORS_PER_SPLIT = 8
BACKGROUND_DURATION_S = 10.0
BACKGROUND_SR_HZ = 16000
#: Sounds that may occur in a background (none is a recipe class).
BACKGROUND_EVENTS = (
    "air_conditioner",
    "children_playing",
    "drilling",
    "engine_idling",
    "street_music",
    "voice",
    "bird",
    "clatter",
)
_Z10 = 1.2815515655446004  # standard normal 90th percentile


def draw_durations(label: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """Clip durations (s) whose median and 10th percentile follow the class's real ones.

    Log-normal through the two quantiles, capped at 4 s; a class whose median is
    the cap gets a log-normal median well above it, so clearly more than half of
    its clips are full 4 s slices, as in the real data. Draws are stratified
    (one per equal-probability stratum, shuffled), so the quantiles of even a
    small set of clips sit close to the targets.
    """
    median, p10 = DURATION_QUANTILES_S.get(label, OTHER_DURATION_QUANTILES_S)
    if p10 >= MAX_DURATION_S:
        return np.full(size, MAX_DURATION_S)
    centre = median if median < MAX_DURATION_S else 1.6 * MAX_DURATION_S
    sigma = (np.log(centre) - np.log(p10)) / _Z10
    u = rng.permutation((np.arange(size) + rng.random(size)) / size)
    d = np.exp(np.log(centre) + sigma * ndtri(u))
    return np.round(np.clip(d, 0.1, MAX_DURATION_S), 3)


def _recording_sizes(total: int, mean: float, rng: np.random.Generator) -> list[int]:
    """Split ``total`` clips into recordings of ``mean`` slices on average (each >= 1)."""
    n_rec = max(1, int(round(total / mean)))
    weights = rng.gamma(2.0, 1.0, n_rec)
    sizes = np.ones(n_rec, dtype=int) + rng.multinomial(total - n_rec, weights / weights.sum())
    return sizes.tolist() if total >= n_rec else [1] * total


def plan_foregrounds(seed: int) -> pd.DataFrame:
    """Every clip of the world: the official CSV columns plus ``rec`` (recording index)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    rows: list[dict[str, Any]] = []
    fs_id, rec = 10000, 0
    for class_id, label in class_table().itertuples(index=False):
        per_fold = SALIENCE1_PER_FOLD.get(label)
        mean = SLICES_PER_RECORDING.get(label, OTHER_SLICES_PER_RECORDING)
        for fold in range(1, 11):
            s1 = per_fold[fold - 1] if per_fold else OTHER_PER_FOLD
            s2 = int(round(SALIENCE2_RATIO * s1)) if per_fold else 0
            salience = rng.permutation([1] * s1 + [2] * s2)
            durations = draw_durations(label, rng, s1 + s2)
            k = 0
            for size in _recording_sizes(s1 + s2, mean, rng):
                fs_id += int(rng.integers(1, 2000))
                start = float(np.round(rng.uniform(0, 30), 3))
                for slice_id in range(size):
                    d = float(durations[k])
                    rows.append(
                        {
                            "slice_file_name": f"{fs_id}-{class_id}-0-{slice_id}.wav",
                            "fsID": fs_id,
                            "start": round(start + MAX_DURATION_S * slice_id, 6),
                            "end": round(start + MAX_DURATION_S * slice_id + d, 6),
                            "salience": int(salience[k]),
                            "fold": fold,
                            "classID": int(class_id),
                            "class": label,
                            "rec": rec,
                        }
                    )
                    k += 1
                rec += 1
    return pd.DataFrame(rows)


def _render_recording(task: tuple[int, pd.DataFrame, str]) -> None:
    """Worker: draw one recording's sound and colour, write each of its slices."""
    seed, clips, out = task
    first = clips.iloc[0]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, int(first.fsID)]))
    label = str(first["class"])
    sound, colour = draw_sound(label, rng), draw_colour(rng)
    sr = int(rng.choice(SAMPLE_RATES_HZ, p=SAMPLE_RATE_P))
    gain = rng.uniform(0.1, 0.9)
    us8k = urbansound8k.dataset_dir(Path(out)).relative_to(out)
    for clip in clips.itertuples(index=False):
        slice_id = int(clip.slice_file_name.rsplit("-", 1)[1].split(".")[0])
        clip_rng = np.random.default_rng(
            np.random.SeedSequence([seed, 2, int(clip.fsID), slice_id])
        )
        n = max(1, int(round((clip.end - clip.start) * sr)))
        x = render_slice(label, sound, colour, clip_rng, n, sr) * gain * clip_rng.uniform(0.8, 1.0)
        rel = us8k / "audio" / f"fold{clip.fold}" / clip.slice_file_name
        write_bytes(Path(out), rel, encode(x, sr, "wav", "PCM_16")[0])


def _lowpass(x: np.ndarray, sr: int, hz: float) -> np.ndarray:
    return sosfilt(butter(2, min(hz, 0.45 * sr), btype="lowpass", fs=sr, output="sos"), x)


def _other_sound(label: str, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A background event: a non-recipe class, a voice, a bird or clatter."""
    assert label not in FOREGROUND_CLASSES, f"{label} is a recipe class"
    t = np.arange(n) / sr
    if label == "voice":
        f0 = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(2, 5) * t))
        phase = 2 * np.pi * np.cumsum(f0) / sr
        buzz = sum(np.sin(k * phase) / k for k in range(1, 20) if k * f0.max() < 0.45 * sr)
        syll = np.sin(np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 3)) ** 2
        return syll * _lowpass(buzz, sr, rng.uniform(800, 3000))
    if label == "bird":
        f = rng.uniform(2000, 5000) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(5, 15) * t))
        chirps = (np.sin(2 * np.pi * rng.uniform(2, 6) * t) > 0.5).astype(float)
        return chirps * np.sin(2 * np.pi * np.cumsum(np.minimum(f, 0.45 * sr)) / sr)
    if label == "clatter":
        clicks = (rng.random(n) < rng.uniform(5, 30) / sr).astype(float)
        return _lowpass(np.convolve(clicks, np.exp(-np.arange(200) / 20)), sr, 4000)[:n]
    return render_slice(label, draw_sound(label, rng), draw_colour(rng), rng, n, sr)


def plan_background_events(rng: np.random.Generator) -> list[tuple[str, float, float, float]]:
    """``(label, start s, duration s, level dB re bed)`` of one background's events."""
    events = []
    for _ in range(int(rng.poisson(6))):
        label = str(rng.choice(BACKGROUND_EVENTS))
        start = float(rng.uniform(0, BACKGROUND_DURATION_S - 0.5))
        duration = float(rng.uniform(0.5, 4.0))
        events.append((label, start, duration, float(rng.uniform(-20, 3))))
    labels = {e[0] for e in events}
    assert not labels & set(FOREGROUND_CLASSES), "a background may not hold a recipe class"
    return events


def city_background(rng: np.random.Generator) -> np.ndarray:
    """10 s of city: rumble, passing vehicles, hiss, a drifting level and other sounds."""
    sr = BACKGROUND_SR_HZ
    n = int(BACKGROUND_DURATION_S * sr)
    t = np.arange(n) / sr
    rumble = _lowpass(rng.standard_normal(n), sr, rng.uniform(120, 300))
    passes = sum(
        np.exp(-(((t - rng.uniform(0, 10)) / rng.uniform(0.8, 3.0)) ** 2))
        for _ in range(int(rng.poisson(2)))
    )
    vehicles = (1 + 2.5 * passes) * _lowpass(rng.standard_normal(n), sr, rng.uniform(600, 1500))
    hiss = rng.uniform(0.05, 0.3) * _lowpass(rng.standard_normal(n), sr, 7000)
    drift = 1 + rng.uniform(0.1, 0.5) * np.sin(
        2 * np.pi * rng.uniform(0.03, 0.2) * t + rng.uniform(0, 6.3)
    )
    bed = (rumble + 0.6 * vehicles + hiss) * drift
    bed_rms = float(np.sqrt(np.mean(bed**2)))
    for label, start, duration, level_db in plan_background_events(rng):
        i = int(start * sr)
        m = min(int(duration * sr), n - i)
        x = _other_sound(label, rng, m, sr)
        x *= bed_rms * 10 ** (level_db / 20) / (np.sqrt(np.mean(x**2)) + 1e-12)
        bed[i : i + m] += x * np.hanning(m) ** 0.25
    return bed / np.max(np.abs(bed)) * rng.uniform(0.3, 0.8)


def _render_background(task: tuple[int, int, str, str]) -> None:
    seed, index, name, out = task
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3, index]))
    data = encode(city_background(rng), BACKGROUND_SR_HZ, "wav", "PCM_16")[0]
    write_bytes(Path(out), sonyc_backgrounds.dataset_dir(Path(out)).relative_to(out) / name, data)


def background_names() -> list[str]:
    """``split/{sensor}_{date}_{hour}_{instance}.wav`` of every background (sensors per split)."""
    names = []
    for s, split in enumerate(sonyc_backgrounds.SPLITS):
        for i in range(BACKGROUNDS_PER_SPLIT):
            sensor = 100 * (s + 1) + i % SENSORS_PER_SPLIT
            day = 1 + i // SENSORS_PER_SPLIT
            names.append(f"{split}/{sensor}_2019-0{s + 4}-{day:02d}_{(7 * i) % 24:02d}_{i:02d}.wav")
    return names


def make_medium_sources(out: Path, seed: int = 0, jobs: int = 1) -> Path:
    """Write the medium synthetic data home at ``out`` (``jobs`` processes). Returns ``out``."""
    out = Path(out)
    plan = plan_foregrounds(seed)
    tasks: list[Any] = [(seed, clips, str(out)) for _, clips in plan.groupby("rec", sort=True)]
    bg_tasks = [(seed, i, name, str(out)) for i, name in enumerate(background_names())]
    if jobs <= 1:
        for task in tasks:
            _render_recording(task)
        for task in bg_tasks:
            _render_background(task)
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
            list(pool.map(_render_recording, tasks, chunksize=4))
            list(pool.map(_render_background, bg_tasks))
    meta = plan.drop(columns="rec").sort_values("slice_file_name", kind="stable")
    write_text(out, urbansound8k.metadata_csv(out).relative_to(out), meta.to_csv(index=False))
    return out
