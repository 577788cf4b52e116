"""Each source's level in a recording of any length, through any trained method.

The rule, in the model's samples (rate ``sr``): the recording is cut into clips of the
model's clip length ``L`` (its training dataset's ``duration_s``) every hop
``H = L * (1 - overlap)``; the last clip is zero-padded. Every clip goes through the
method, which predicts each source's LAeq per *step* of ``b`` samples (``b``: the
greatest common divisor of ``L``, ``H`` and the requested interval, so steps tile every
clip and every interval exactly) and its LAFmax. Each step takes its levels from the clip
whose centre is nearest to the step's centre (ties: the earlier clip). By default clips
do not overlap: each is read as the model was trained, as a clip of its own, and a step
lies in one clip only. With ``overlap = 0.5`` every clip but the first and last gives its
middle half, away from the edges where a separator sees least context, at twice the cost
(``benchmarks/bench_measure.py``: 139x and 64x real time with the cpu preset on 2 idle
cores). A requested interval's LAeq is the
energy mean of its steps (over the recording's own samples: a step cut by the end of the
recording counts only them, and its level is corrected for the padding), the whole
recording's LAeq the energy mean of all steps, the LAFmax the maximum over clips. The
mixture's levels are computed the same way from the clips themselves
(:func:`sssle_bench.levels.time_levels`), so mixture and sources share one rule.

All levels are A-weighted dB re full scale (dBFS) unless a calibration offset (dB) is
given, which turns them into dB SPL as a calibrated sensor reports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..dataset import MixtureInfo
from ..errors import SssleError
from ..estimators.base import as_prediction
from ..levels import db_to_power, power_to_db, time_levels
from .stream import AudioArray, Recording

#: The row of the recording itself in every table, beside its sources.
MIXTURE = "mixture"
#: Clips per call of the method's ``predict_batch``.
BATCH = 8
#: Shortest step (s) the interval, clip and hop may share (finer steps: an error).
MIN_STEP_S = 0.01


@dataclass(frozen=True)
class MeasureSettings:
    """How a recording is reported (``interval_s``), cut (``clip_s`` long clips
    overlapping by ``overlap``, a fraction in [0, 1); None: the model's clip length) and
    which of a model's per-condition models reads it (``condition``; None: the model's
    only one). Seconds throughout."""

    interval_s: float = 1.0
    overlap: float = 0.0
    condition: str | None = None
    clip_s: float | None = None


@dataclass(frozen=True)
class Grid:
    """The rule's numbers, in samples at the model's rate: clip length, hop, step."""

    clip: int
    hop: int
    step: int

    def clip_starts(self, frames: int) -> list[int]:
        """Start of every clip needed to cover ``frames`` samples (at least one)."""
        count = 1 + max(0, math.ceil((frames - self.clip) / self.hop))
        return [k * self.hop for k in range(count)]

    def owners(self, frames: int, clips: int) -> np.ndarray:
        """For each step of the recording, the clip it takes its levels from: the one whose
        centre is nearest to the step's centre, among those holding it whole."""
        steps = math.ceil(frames / self.step)
        centre = np.arange(steps) * self.step + self.step / 2
        lowest = np.ceil((np.arange(1, steps + 1) * self.step - self.clip) / self.hop)
        highest = np.floor(np.arange(steps) * self.step / self.hop)
        nearest = np.ceil((centre - self.clip / 2) / self.hop - 0.5)  # ties: earlier clip
        owner = np.clip(nearest, np.maximum(lowest, 0), np.minimum(highest, clips - 1))
        return owner.astype(int)


def make_grid(settings: MeasureSettings, rate: int) -> Grid:
    """The :class:`Grid` of ``settings`` at ``rate`` Hz; :class:`SssleError` when they
    share no step of at least :data:`MIN_STEP_S`."""
    if settings.clip_s is None:
        raise SssleError("no clip length: the model's is not known")
    if not 0.0 <= settings.overlap < 1.0:
        raise SssleError(f"overlap must be at least 0 and below 1, got {settings.overlap:g}")
    clip = round(settings.clip_s * rate)
    hop = round(clip * (1.0 - settings.overlap))
    interval = round(settings.interval_s * rate)
    if clip < 1 or hop < 1 or interval < 1:
        raise SssleError("the clip, its hop and the interval must each be at least one sample")
    step = math.gcd(clip, hop, interval)
    if step < MIN_STEP_S * rate:
        raise SssleError(
            f"a {settings.clip_s:g} s clip, its {hop / rate:g} s hop and a "
            f"{settings.interval_s:g} s interval share no step of {MIN_STEP_S:g} s or more; "
            "choose an interval that divides the hop or is a multiple of it"
        )
    return Grid(clip, hop, step)


@dataclass(frozen=True)
class SourceLevels:
    """One recording measured: the sources (the method's classes, then :data:`MIXTURE`),
    each step's A-weighted power re full scale ``(steps, sources)`` over its own samples,
    each step's length (samples), the LAFmax of each source (dB) and the rate (Hz)."""

    sources: tuple[str, ...]
    power: np.ndarray
    lengths: np.ndarray
    lafmax_db: np.ndarray
    rate: int

    def intervals(self, step: int, interval: int) -> pd.DataFrame:
        """LAeq (dB) of every source in consecutive intervals of ``interval`` samples
        (a multiple of ``step``): columns ``source, interval, start_s, end_s, laeq_db``."""
        per = interval // step
        groups = np.arange(len(self.lengths)) // per
        energy = np.zeros((groups[-1] + 1, len(self.sources)))
        np.add.at(energy, groups, self.power * self.lengths[:, None])
        samples = np.bincount(groups, weights=self.lengths)
        laeq = power_to_db(energy / samples[:, None])
        starts = np.arange(len(samples)) * interval
        ends = starts + samples
        frames = [
            pd.DataFrame(
                {
                    "source": source,
                    "interval": np.arange(len(samples)),
                    "start_s": starts / self.rate,
                    "end_s": ends / self.rate,
                    "laeq_db": laeq[:, j],
                }
            )
            for j, source in enumerate(self.sources)
        ]
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> pd.DataFrame:
        """Whole-recording LAeq and LAFmax (dB) per source: ``source, laeq_db, lafmax_db``."""
        energy = (self.power * self.lengths[:, None]).sum(axis=0) / self.lengths.sum()
        return pd.DataFrame(
            {"source": self.sources, "laeq_db": power_to_db(energy), "lafmax_db": self.lafmax_db}
        )


def _batches(starts: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(starts), size):
        yield starts[i : i + size]


def measure_recording(
    estimator: Any,
    recording: Recording | AudioArray,
    settings: MeasureSettings,
    progress: Callable[[int], None] = lambda n: None,
    allow_short: bool = False,
) -> SourceLevels:
    """Measure one recording (already opened at the model's rate) with a loaded
    ``estimator``, clip batch by clip batch; ``progress(n)`` after every ``n`` clips.

    :class:`SssleError` when the recording is shorter than one clip (unless
    ``allow_short``: it is then zero-padded to one, as the audit cuts recordings into
    parts), holds a bad sample, or the method predicts no LAeq per interval.
    """
    rate = recording.rate
    grid = make_grid(settings, rate)
    frames = recording.frames
    if frames < grid.clip and not allow_short:
        raise SssleError(
            f"{recording.path}: {recording.duration_s:.3f} s, shorter than one "
            f"{settings.clip_s:g} s clip of the model"
        )
    starts = grid.clip_starts(frames)
    owners = grid.owners(frames, len(starts))
    steps = len(owners)
    per_clip = grid.clip // grid.step
    lengths = np.minimum(grid.step, frames - np.arange(steps) * grid.step).astype(float)
    power: np.ndarray | None = None
    lafmax: np.ndarray | None = None
    classes: tuple[str, ...] = ()
    interval_s = grid.step / rate
    condition = settings.condition or ""
    for batch in _batches(starts, BATCH):
        audio = [recording.read(s, s + grid.clip) for s in batch]
        infos = [
            MixtureInfo(f"{recording.path.name}@{s}", "measure", condition, {}, interval_s)
            for s in batch
        ]
        for s, x, result in zip(
            batch, audio, estimator.predict_batch(audio, rate, infos), strict=True
        ):
            pred = as_prediction(result)
            if pred.intervals is None:
                raise SssleError(
                    f"{estimator.name} predicts no LAeq per interval; measure needs it"
                )
            if power is None:
                classes = tuple(pred.intervals)
                power = np.zeros((steps, len(classes) + 1))
                lafmax = np.full(len(classes) + 1, -np.inf)
            mix = time_levels(x, rate, interval_s)
            clip_db = np.column_stack([*(pred.intervals[c] for c in classes), mix.laeq_db])
            clip_max = [*((pred.lafmax or {}).get(c, np.nan) for c in classes), mix.lafmax_db]
            lafmax = np.fmax(lafmax, np.asarray(clip_max, dtype=float))
            first = s // grid.step
            mine = np.flatnonzero(owners[first : first + per_clip] == s // grid.hop)
            power[first + mine] = db_to_power(clip_db[mine])
        progress(len(batch))
    assert power is not None and lafmax is not None
    # A step cut by the end of the recording: its power was averaged over the padding too.
    power *= grid.step / lengths[:, None]
    return SourceLevels((*classes, MIXTURE), power, lengths, lafmax, rate)
