"""Where one model's training stands, as a small JSON report beside its checkpoint.

Methods that train epoch by epoch (weak-sep, sup-sep) write ``progress.json`` next to
each condition's ``checkpoint.pt`` after every epoch; ``sssle-bench experiment
status`` reads it without loading any weights. It is a report only: training never
decides anything from it (the checkpoint is what a rerun resumes from).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..paths import write_text

PROGRESS = "progress.json"


@dataclass(frozen=True)
class TrainingProgress:
    """One condition model's training (its folder is named after the condition): epochs
    done out of ``max_epochs``, the best validation epoch (1-based; None before the
    first), epochs since it, the early stopping patience (0: none), and the wall time of
    every epoch (s)."""

    epochs: int
    max_epochs: int
    best_epoch: int | None
    stale: int
    patience: int
    epoch_seconds: tuple[float, ...]

    @property
    def finished(self) -> bool:
        """Every epoch run, or stopped early."""
        return self.epochs >= self.max_epochs or (0 < self.patience <= self.stale)

    def seconds_left(self, per_epoch: float | None = None) -> float | None:
        """At most this many seconds to go (every epoch left at the median epoch time,
        or ``per_epoch``; early stopping may end sooner); None without a timing."""
        if self.finished:
            return 0.0
        times = sorted(self.epoch_seconds)
        median = times[len(times) // 2] if times else per_epoch
        return None if median is None else (self.max_epochs - self.epochs) * median


def epoch_seconds(epochs: list[dict[str, Any]]) -> tuple[float, ...]:
    """The ``seconds`` of every epoch record of a training history that has one."""
    return tuple(float(e["seconds"]) for e in epochs if isinstance(e.get("seconds"), int | float))


def write_progress(folder: Path, progress: TrainingProgress) -> None:
    """Write ``folder/progress.json``."""
    blob = {**asdict(progress), "epoch_seconds": [round(s, 3) for s in progress.epoch_seconds]}
    write_text(folder, PROGRESS, json.dumps(blob, indent=1))


def read_progress(folder: Path) -> TrainingProgress | None:
    """The report in ``folder`` (None when there is none or it is not one this tool wrote)."""
    try:
        blob: Any = json.loads((Path(folder) / PROGRESS).read_text(encoding="utf-8"))
        progress = TrainingProgress(**{**blob, "epoch_seconds": tuple(blob["epoch_seconds"])})
    except (OSError, ValueError, TypeError, KeyError):
        return None
    ints = (progress.epochs, progress.max_epochs, progress.stale, progress.patience)
    if progress.best_epoch is not None:
        ints = (*ints, progress.best_epoch)
    numbers = all(isinstance(s, int | float) for s in progress.epoch_seconds)
    if not all(isinstance(n, int) and n >= 0 for n in ints) or not numbers:
        return None
    return progress
