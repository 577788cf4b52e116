"""Checks of a method that need no ground truth: what its estimates must do when the
recording is changed in a known way.

Every check compares the method's whole-recording LAeq per class (dB, measured by the
rule of :mod:`.measure`) before and after a change, over the classes it estimates
present (a finite level), and gives one error per recording: the mean absolute
deviation (dB) from what the change should do.

- ``gain``: the recording scaled by each of :data:`GAINS_DB` (dB); every estimate should
  move by the gain. Gains are applied in floating point and never clipped: the check
  asks whether the method is equivariant, not what a converter would do, and every
  built-in method reads float audio beyond full scale.
- ``injection``: an isolated event of a known class, at a known level relative to the
  recording (:data:`INJECT_DB`), added to it; the estimate of that class should become
  the energy sum of its estimate before and the event's level.
- ``superposition``: the recording plus the next one (in the order given, the last with
  the first); each class's estimate should be the energy sum of the two estimates.
- ``segmentation``: the recording cut in two near its middle, on a step of the measuring
  rule, each part measured alone (zero-padded to a clip if shorter); the whole
  recording's estimate should be the parts' energy mean.

A method that ignores its input (the class prior) passes segmentation and superposition
by construction only where its constant is what the energy sums give; it fails gain by
the gain and injection by the event. What no check sees: an error that every change
preserves, such as a constant offset on every estimate, or two classes swapped in a way
that all changes carry along (docs/real-recordings.md measures which).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..levels import db_to_gain, db_to_power, dbfs_a, power_to_db
from .measure import MIXTURE, MeasureSettings, make_grid, measure_recording
from .stream import AudioArray

#: Gains (dB) of the gain check; +20 takes most recordings beyond full scale.
GAINS_DB = (-20.0, -10.0, 10.0, 20.0)
#: Levels (dB) of an injected event relative to the recording's own LAeq.
INJECT_DB = (-10.0, 0.0)
CHECKS = ("gain", "injection", "superposition", "segmentation")


@dataclass(frozen=True)
class Clip:
    """Mono audio at the model's rate, full scale 1.0, with a name."""

    name: str
    audio: np.ndarray


def _levels(est: Any, audio: np.ndarray, rate: int, settings: MeasureSettings) -> pd.Series:
    """Whole-recording LAeq (dB) per source (the classes, then the mixture)."""
    levels = measure_recording(est, AudioArray(audio, rate), settings, allow_short=True)
    return levels.summary().set_index("source")["laeq_db"]


def _powsum(*db: np.ndarray | float) -> np.ndarray:
    """The energy sum (dB) of levels (dB; ``-inf``: nothing)."""
    return power_to_db(sum(db_to_power(np.asarray(d, dtype=float)) for d in db))


def _mean_abs(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def audit_clips(
    est: Any,
    clips: list[Clip],
    rate: int,
    settings: MeasureSettings,
    events: dict[str, list[np.ndarray]],
    progress: Callable[[int], None] = lambda n: None,
) -> pd.DataFrame:
    """Every check on every clip: columns ``recording, check, error_db, n`` (``n``: the
    comparisons averaged; ``error_db`` NaN where a check had none). ``events``: isolated
    events per class for the injection check (the k-th clip gets each class's
    ``k mod len``-th event, cut or zero-padded to the clip)."""
    base = [_levels(est, c.audio, rate, settings) for c in clips]
    step = make_grid(settings, rate).step  # segmentation cuts on a step: none is part padding
    rows = []
    for k, clip in enumerate(clips):
        before = base[k].drop(MIXTURE)
        present = before[np.isfinite(before)]
        # gain
        errors = []
        for g in GAINS_DB:
            after = _levels(est, clip.audio * db_to_gain(g), rate, settings)
            errors += list(np.abs(after[present.index] - present - g))
        rows.append((clip.name, "gain", _mean_abs(errors), len(errors)))
        # injection
        errors = []
        mix_db = base[k][MIXTURE]
        for c, pool in events.items():
            if not pool or c not in before.index or not np.isfinite(mix_db):
                continue
            event = np.zeros(clip.audio.size)
            source = pool[k % len(pool)][: clip.audio.size]
            event[: source.size] = source
            own = dbfs_a(event, rate)
            if not np.isfinite(own):
                continue
            for offset in INJECT_DB:
                scaled = event * db_to_gain(mix_db + offset - own)
                after = _levels(est, clip.audio + scaled, rate, settings)
                expected = _powsum(before[c], mix_db + offset)
                errors.append(abs(float(after[c] - expected)))
        rows.append((clip.name, "injection", _mean_abs(errors), len(errors)))
        # superposition
        other = k + 1 if k + 1 < len(clips) else 0
        n = min(clip.audio.size, clips[other].audio.size)
        total = _levels(est, clip.audio[:n] + clips[other].audio[:n], rate, settings)
        if n == clip.audio.size == clips[other].audio.size:
            first, second = before, base[other].drop(MIXTURE)
        else:  # different lengths: compare on the common stretch
            first = _levels(est, clip.audio[:n], rate, settings).drop(MIXTURE)
            second = _levels(est, clips[other].audio[:n], rate, settings).drop(MIXTURE)
        expected = pd.Series(_powsum(first.to_numpy(), second.to_numpy()), index=first.index)
        keep = np.isfinite(expected)
        errors = list(np.abs(total[expected.index][keep] - expected[keep]))
        rows.append((clip.name, "superposition", _mean_abs(errors), len(errors)))
        # segmentation
        half = max(step, round(clip.audio.size / 2 / step) * step)
        parts = [clip.audio[:half], clip.audio[half:]]
        part_levels = [_levels(est, p, rate, settings).drop(MIXTURE) for p in parts]
        energy = sum(
            p.size * db_to_power(lv.to_numpy()) for p, lv in zip(parts, part_levels, strict=True)
        )
        expected = pd.Series(power_to_db(energy / clip.audio.size), index=before.index)
        errors = list(np.abs(present - expected[present.index]))
        rows.append((clip.name, "segmentation", _mean_abs(errors), len(errors)))
        progress(1)
    return pd.DataFrame(rows, columns=["recording", "check", "error_db", "n"])


def audit_summary(table: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean error (dB) per check over recordings, with a 95% bootstrap interval over
    recordings: columns ``check, error_db, ci_low, ci_high, recordings``."""
    rng = np.random.default_rng(seed)
    rows = []
    for check in CHECKS:
        values = table.loc[table["check"] == check, "error_db"].dropna().to_numpy()
        if values.size == 0:
            rows.append((check, np.nan, np.nan, np.nan, 0))
            continue
        means = values[rng.integers(0, values.size, (resamples, values.size))].mean(axis=1)
        low, high = np.quantile(means, [0.025, 0.975])
        rows.append((check, float(values.mean()), float(low), float(high), int(values.size)))
    return pd.DataFrame(rows, columns=["check", "error_db", "ci_low", "ci_high", "recordings"])
