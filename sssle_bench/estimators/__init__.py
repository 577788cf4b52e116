"""Methods plug in here: the estimator interface, the registry, train and predict.

Estimators register through the entry-point group ``sssle_bench.estimators``
(name -> ``module:Class``); the built-ins are registered the same way in this
package's ``pyproject.toml``.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from ..errors import SssleError
from .base import BaseEstimator, Estimator, Levels, Prediction

GROUP = "sssle_bench.estimators"

__all__ = [
    "GROUP",
    "BaseEstimator",
    "Estimator",
    "Levels",
    "Prediction",
    "available",
    "estimator_class",
]


def available() -> dict[str, EntryPoint]:
    """Registered estimators by name (entry points of group ``sssle_bench.estimators``)."""
    return {ep.name: ep for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name)}


def estimator_class(name: str) -> type:
    """The class registered under ``name``; a clear error listing the known names otherwise."""
    registry = available()
    if name not in registry:
        known = ", ".join(registry) or "none installed"
        raise SssleError(f"unknown estimator {name!r} (available: {known})")
    try:
        return registry[name].load()
    except ImportError as exc:
        raise SssleError(f"estimator {name!r} could not be imported: {exc}") from exc
