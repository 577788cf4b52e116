"""Simple reference estimators: ``class-prior`` and ``oracle-presence-split``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..dataset import GeneratedDataset, MixtureInfo
from ..errors import SssleError
from ..levels import dbfs, dbfs_a
from ..metrics import truth_column
from .base import BaseEstimator, Levels


def level_fn(weighting: str):
    """The level function matching a scoring weighting: ``A`` -> dBFS(A), ``Z`` -> dBFS."""
    return (lambda x, sr: dbfs_a(x, sr)) if weighting.upper() == "A" else (lambda x, sr: dbfs(x))


class ClassPrior(BaseEstimator):
    """Per background condition, each class's median training level where its training
    presence rate there is >= ``min_presence_rate``, else absent.

    Ignores the audio: the floor every method must beat. It knows the mixture's
    condition (as a method trained per condition does, and as the paper trains
    one model per condition), so the full-scale protection gain of loud
    conditions is in its prior; a condition it was not trained on gets the prior
    pooled over all conditions.
    """

    name: ClassVar[str] = "class-prior"
    supervision: ClassVar[str] = "none"
    description: ClassVar[str] = (
        "median training level of each usually-present class, per condition"
    )
    defaults: ClassVar[dict[str, Any]] = {"weighting": "A", "min_presence_rate": 0.5}
    limits: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "min_presence_rate": (0.0, 1.0)
    }

    def fit(self, dataset: GeneratedDataset, split: str = "train") -> None:
        truth = dataset.truth(split)
        self.state = {
            "levels": self._priors(truth),
            "by_condition": {
                str(cond): self._priors(rows)
                for cond, rows in truth.groupby("condition", sort=False, observed=True)
            },
        }

    def _priors(self, truth: pd.DataFrame) -> dict[str, float | None]:
        """Median present level (dB) of each class whose presence rate reaches the bar."""
        column = truth_column(self.config["weighting"])
        levels: dict[str, float | None] = {}
        for label, rows in truth.groupby("class", sort=False, observed=True):
            rate = float(rows["present"].mean())
            median = float(rows.loc[rows["present"] == 1, column].median()) if rate > 0 else None
            levels[str(label)] = median if rate >= self.config["min_presence_rate"] else None
        return levels

    def predict(self, audio: np.ndarray, sr: int, info: MixtureInfo | None = None) -> Levels:
        if "levels" not in self.state:
            raise SssleError("class-prior: not fitted (run `sssle-bench train class-prior ...`)")
        by_condition = self.state.get("by_condition", {})
        levels = (
            by_condition.get(info.condition, self.state["levels"]) if info else self.state["levels"]
        )
        return {c: -np.inf if v is None else v for c, v in levels.items()}


class OraclePresenceSplit(BaseEstimator):
    """True presence labels; the mixture's level split equally among the present classes."""

    name: ClassVar[str] = "oracle-presence-split"
    supervision: ClassVar[str] = "oracle"
    description: ClassVar[str] = "mixture level / number of truly present classes"
    defaults: ClassVar[dict[str, Any]] = {"weighting": "A"}

    def fit(self, dataset: GeneratedDataset, split: str = "train") -> None:
        self.state = {"classes": list(dataset.classes)}

    def predict(self, audio: np.ndarray, sr: int, info: MixtureInfo | None = None) -> Levels:
        if info is None:
            raise SssleError("oracle-presence-split needs the mixture's true labels")
        present = [c for c, on in info.labels.items() if on]
        mix_db = level_fn(self.config["weighting"])(audio, sr)
        share = mix_db - 10 * np.log10(len(present)) if present else -np.inf
        return {c: share if on else -np.inf for c, on in info.labels.items()}
