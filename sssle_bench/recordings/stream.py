"""A recording read clip by clip at a model's sample rate, in constant memory.

A recording may have any sample rate, channel count and length. It is downmixed to mono
by the mean over channels (:func:`sssle_bench.levels.to_mono`, as the dataset's levels
are) and resampled to the model's rate with the polyphase filter of
:func:`sssle_bench.audio.resample`. Each span is resampled from its own stretch of the
file plus a margin wider than the filter, starting on a sample where the two rates'
grids meet, so a span equals the same samples of the whole file resampled at once (to
float rounding): streaming changes no level. Samples past the end of the recording read
as zeros.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..audio import audio_info, read_audio, resample
from ..errors import SssleError
from ..levels import to_mono


@dataclass(frozen=True)
class Recording:
    """A readable recording: its file, native rate (Hz), channels and frames, and the
    rate (Hz) it is read at with the number of frames it has at that rate."""

    path: Path
    native_rate: int
    channels: int
    native_frames: int
    rate: int

    @property
    def frames(self) -> int:
        """Frames at :attr:`rate` (what resampling the whole file gives: rounded up)."""
        return math.ceil(self.native_frames * self.rate / self.native_rate)

    @property
    def duration_s(self) -> float:
        return self.native_frames / self.native_rate

    def read(self, start: int, stop: int) -> np.ndarray:
        """Mono samples ``[start, stop)`` at :attr:`rate` (:func:`read_span`)."""
        return read_span(self, start, stop)


@dataclass(frozen=True)
class AudioArray:
    """Mono audio already in memory at the model's rate (Hz), read like a
    :class:`Recording` (zeros past its end); ``path``: a name for messages."""

    audio: np.ndarray
    rate: int
    path: Path = Path("audio")

    @property
    def frames(self) -> int:
        return int(self.audio.size)

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.zeros(stop - start)
        piece = self.audio[start:stop]
        out[: piece.size] = piece
        return out


def open_recording(path: Path, rate: int) -> Recording:
    """The recording at ``path`` to be read at ``rate`` Hz. :class:`SssleError` (one line
    naming the file) when it is missing, unreadable or holds no samples."""
    path = Path(path)
    if not path.is_file():
        raise SssleError(f"{path}: not a file")
    info = audio_info(path)
    if info.frames <= 0 or info.samplerate <= 0:
        raise SssleError(f"{path}: holds no audio samples")
    return Recording(path, int(info.samplerate), int(info.channels), int(info.frames), rate)


def _ratio(rec: Recording) -> tuple[int, int]:
    ratio = Fraction(rec.rate, rec.native_rate)
    return ratio.numerator, ratio.denominator


def read_span(rec: Recording, start: int, stop: int) -> np.ndarray:
    """Mono samples ``[start, stop)`` at ``rec.rate`` (float64, full scale 1.0), zeros past
    the end. :class:`SssleError` when the file holds a NaN or infinite sample there."""
    up, down = _ratio(rec)
    # Input samples the resampling filter reaches on each side (scipy's resample_poly:
    # half-length 10 * max(up, down) at the upsampled rate), with room to spare.
    margin = math.ceil(10 * max(up, down) / up) + 2
    first = max(0, (math.floor(start * down / up) - margin) // down * down)
    last = min(rec.native_frames, math.ceil(stop * down / up) + margin)
    out = np.zeros(stop - start)
    if first >= last:
        return out
    x = to_mono(read_audio(rec.path, first, last)[0])
    if not np.isfinite(x).all():
        at = (first + int(np.flatnonzero(~np.isfinite(x))[0])) / rec.native_rate
        raise SssleError(f"{rec.path}: a NaN or infinite sample at {at:.3f} s")
    y = resample(x, rec.native_rate, rec.rate)
    offset = first * up // down  # exact: ``first`` is on both rates' grid
    y = y[: rec.frames - offset]  # the whole file resampled has rec.frames samples
    piece = y[max(0, start - offset) : stop - offset]
    out[: piece.size] = piece
    return out
