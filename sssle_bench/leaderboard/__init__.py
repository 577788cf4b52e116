"""Leaderboard: score many submissions against one dataset, rank, tabulate, plot, publish.

A submission folder holds ``predictions.csv``, optionally ``meta.toml`` (method
metadata) and ``score.json`` (reused when it was computed against the same
truth dataset, split and settings).
"""

from .build import build_leaderboard

__all__ = ["build_leaderboard"]
