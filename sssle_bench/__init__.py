"""sssle-bench: a reproducible benchmark for source-specific sound level estimation.

The handful of names a user needs, importable from here (each loaded on first use, so
``import sssle_bench`` stays cheap)::

    from sssle_bench import GeneratedDataset, ScoreSettings, score_submission

    data = GeneratedDataset("data")                     # a generated dataset folder
    doc = score_submission(Path("subs/mine/predictions.csv"), data.root, "test", ScoreSettings())
    print(doc["overall"]["all"]["mae_present_db"]["value"])  # MAE over present sources, dB

- datasets: :class:`GeneratedDataset` (mixtures, ground-truth levels, sources);
- scoring: :func:`score_submission` (``score.json`` as a dict) with :class:`ScoreSettings`;
- methods: :class:`BaseEstimator` (subclass it: ``fit`` and ``predict``),
  :func:`estimator_class` (the registry), :func:`load_trained` (a trained model folder);
- levels: :func:`dbfs`, :func:`dbfs_a`, :func:`lufs` (audio at full scale 1.0).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("sssle-bench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

#: Public name -> the module that defines it.
_PUBLIC = {
    "GeneratedDataset": "sssle_bench.dataset",
    "ScoreSettings": "sssle_bench.metrics",
    "score_submission": "sssle_bench.scoring",
    "BaseEstimator": "sssle_bench.estimators",
    "estimator_class": "sssle_bench.estimators",
    "load_trained": "sssle_bench.estimators.run",
    "dbfs": "sssle_bench.levels",
    "dbfs_a": "sssle_bench.levels",
    "lufs": "sssle_bench.levels",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'sssle_bench' has no attribute {name!r}")
