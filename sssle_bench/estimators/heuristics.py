"""Simple reference estimators: ``class-prior`` and ``oracle-presence-split``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..dataset import GeneratedDataset, MixtureInfo
from ..errors import SssleError, excerpt
from ..levels import dbfs, dbfs_a, interval_bounds, time_levels
from ..metrics import truth_column
from .base import BaseEstimator, Prediction, check_level


def level_fn(weighting: str):
    """The level function matching a scoring weighting: ``A`` -> dBFS(A), ``Z`` -> dBFS."""
    return (lambda x, sr: dbfs_a(x, sr)) if weighting.upper() == "A" else (lambda x, sr: dbfs(x))


class ClassPrior(BaseEstimator):
    """Per background condition, each class's median training level where its training
    presence rate there is >= ``min_presence_rate``, else absent; likewise its median
    LAFmax and its median LAeq over the training intervals in which it sounds (predicted
    for every interval).

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
        truth, spans = dataset.truth(split), dataset.interval_truth(split)
        by_condition = dict(tuple(spans.groupby("condition", sort=False)))
        self.state = {
            "pooled": self._priors(truth, spans),
            "by_condition": {
                str(cond): self._priors(rows, by_condition[cond])
                for cond, rows in truth.groupby("condition", sort=False, observed=True)
            },
        }

    def _priors(self, truth: pd.DataFrame, spans: pd.DataFrame) -> dict[str, dict]:
        """Per class whose presence rate reaches the bar: the median present clip level,
        LAFmax and interval LAeq (dB); None for the others."""
        column = truth_column(self.config["weighting"])
        sounding = spans.dropna(subset=["laeq_db"]).groupby("class")["laeq_db"].median()
        priors: dict[str, dict] = {"levels": {}, "lafmax": {}, "intervals": {}}
        for label, rows in truth.groupby("class", sort=False, observed=True):
            on = rows["present"] == 1
            usable = bool(on.any()) and float(on.mean()) >= self.config["min_presence_rate"]
            name = str(label)
            priors["levels"][name] = float(rows.loc[on, column].median()) if usable else None
            priors["lafmax"][name] = float(rows.loc[on, "lafmax_db"].median()) if usable else None
            priors["intervals"][name] = (
                float(sounding[name]) if usable and name in sounding.index else None
            )
        return priors

    def check_state(self, path: Path) -> None:
        """Every prior of every condition is None or a level (:func:`~.base.check_level`)."""
        tables = {"pooled": self.state.get("pooled"), **(self.state.get("by_condition") or {})}
        for where, priors in tables.items():
            if not isinstance(priors, dict):
                raise SssleError(f"{path}: priors of {excerpt(where)} are not a table")
            for kind in ("levels", "lafmax", "intervals"):
                values = priors.get(kind)
                if not isinstance(values, dict):
                    raise SssleError(f"{path}: no {kind} priors for {excerpt(where)}")
                for label, value in values.items():
                    check_level(path, f"{where} {kind} of {excerpt(label)}", value)

    def predict(self, audio: np.ndarray, sr: int, info: MixtureInfo | None = None) -> Prediction:
        if "pooled" not in self.state:
            raise SssleError("class-prior: not fitted (run `sssle-bench train class-prior ...`)")
        pooled = self.state["pooled"]
        priors = self.state["by_condition"].get(info.condition, pooled) if info else pooled
        count = len(interval_bounds(audio.size, sr, info.interval_s if info else 1.0))

        def db(v: float | None) -> float:
            return -np.inf if v is None else v

        return Prediction(
            {c: db(v) for c, v in priors["levels"].items()},
            {c: db(v) for c, v in priors["lafmax"].items()},
            {c: np.full(count, db(v)) for c, v in priors["intervals"].items()},
        )


class OraclePresenceSplit(BaseEstimator):
    """True presence labels; the mixture's level split equally among the present classes
    (its clip level, its LAFmax and its LAeq in every interval)."""

    name: ClassVar[str] = "oracle-presence-split"
    supervision: ClassVar[str] = "oracle"
    description: ClassVar[str] = "mixture level / number of truly present classes"
    defaults: ClassVar[dict[str, Any]] = {"weighting": "A"}

    def fit(self, dataset: GeneratedDataset, split: str = "train") -> None:
        self.state = {"classes": list(dataset.classes)}

    def predict(self, audio: np.ndarray, sr: int, info: MixtureInfo | None = None) -> Prediction:
        if info is None:
            raise SssleError("oracle-presence-split needs the mixture's true labels")
        present = [c for c, on in info.labels.items() if on]
        share = 10 * np.log10(len(present)) if present else np.inf
        mix = time_levels(audio, sr, info.interval_s)
        level = level_fn(self.config["weighting"])(audio, sr) - share
        return Prediction(
            {c: level if on else -np.inf for c, on in info.labels.items()},
            {c: mix.lafmax_db - share if on else -np.inf for c, on in info.labels.items()},
            {
                c: mix.laeq_db - share if on else np.full(mix.laeq_db.shape, -np.inf)
                for c, on in info.labels.items()
            },
        )
