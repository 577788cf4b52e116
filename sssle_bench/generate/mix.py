"""Background conditions, full-scale protection and per-source levels (pure numpy).

For one mixture the foreground class tracks are fixed; each condition adds the
same background segment at a gain that sets its integrated loudness to the
condition's LUFS. If the float sum would reach full scale, the mixture and all
of its tracks are scaled by one gain (``gain_db`` < 0) so nothing clips and the
ground truth stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..levels import db_to_gain
from ..recipe import Condition

#: Largest absolute sample value allowed in a written mixture (-0.09 dBFS).
PEAK_LIMIT = 0.99


@dataclass(frozen=True)
class ConditionMix:
    """One condition of one mixture, in float, before encoding.

    ``tracks`` maps each present class to its summed isolated signal ``(n,)``;
    ``background`` is the scaled background ``(n,)`` or None; ``mixture`` is
    their sum; ``gain_db`` is the full-scale protection gain (0 if none), already
    applied to all of them.
    """

    condition: Condition
    tracks: dict[str, np.ndarray]
    background: np.ndarray | None
    mixture: np.ndarray
    gain_db: float


def class_tracks(
    labels: tuple[str, ...], event_audio: tuple[np.ndarray, ...], n: int
) -> dict[str, np.ndarray]:
    """Sum the events of each class into one track of ``n`` samples (present classes only)."""
    tracks: dict[str, np.ndarray] = {}
    for label, audio in zip(labels, event_audio, strict=True):
        track = tracks.setdefault(label, np.zeros(n))
        track[: audio.size] += audio[:n]
    return tracks


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or tile ``x`` (1-D) to exactly ``n`` samples."""
    if x.size >= n:
        return x[:n]
    return np.tile(x, int(np.ceil(n / x.size)))[:n]


def protection_gain_db(signals: list[np.ndarray], limit: float = PEAK_LIMIT) -> float:
    """Gain (dB, <= 0) that keeps the peak of every signal at or below ``limit``.

    The mixture *and* each of its tracks must fit: a background can exceed full
    scale where the foreground cancels part of it in the sum.
    """
    peak = max((float(np.max(np.abs(x))) for x in signals if x.size), default=0.0)
    return 0.0 if peak <= limit else 20.0 * np.log10(limit / peak)


def mix_condition(
    condition: Condition,
    tracks: dict[str, np.ndarray],
    background: np.ndarray,
    background_gain_db: float,
) -> ConditionMix:
    """Add the background at its condition gain, then protect full scale.

    ``background`` is the unscaled segment ``(n,)``; ``background_gain_db`` is the
    gain (dB) that brings it to the condition's LUFS (ignored for ``none``).
    """
    n = background.size
    fg = sum(tracks.values(), np.zeros(n))
    bg = None if condition.lufs is None else background * db_to_gain(background_gain_db)
    mixture = fg if bg is None else fg + bg
    gain_db = protection_gain_db([mixture, *tracks.values(), *([] if bg is None else [bg])])
    if gain_db == 0.0:
        return ConditionMix(condition, dict(tracks), bg, mixture, 0.0)
    g = db_to_gain(gain_db)
    return ConditionMix(
        condition,
        {k: v * g for k, v in tracks.items()},
        None if bg is None else bg * g,
        mixture * g,
        gain_db,
    )
