"""The estimator interface every method implements, and a small base class.

An estimator has a ``name`` and a ``supervision`` (``none|weak|strong|oracle``),
may be fitted on a generated dataset, saved and loaded, and predicts each
class's level in dB re full scale from a mixture (``-inf`` = absent).
``info`` carries the mixture's identity and clip labels; only ``oracle``
methods may read its labels. A method may also predict time-resolved
descriptors by returning a :class:`Prediction` instead of plain levels.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from ..dataset import GeneratedDataset, MixtureInfo
from ..errors import SssleError, excerpt
from ..paths import write_text
from ..validation import MAX_LEVEL_DB
from .options import check_options

Levels = dict[str, float]


@dataclass(frozen=True)
class Prediction:
    """One mixture's predictions, per class (dB re full scale, ``-inf`` = absent).

    ``levels``: the clip level (what ``predict`` returns when nothing more is
    predicted); ``lafmax``: the maximum A-weighted Fast level; ``intervals``: the
    A-weighted LAeq of each consecutive ``info.interval_s`` interval of the clip (as
    :func:`sssle_bench.levels.interval_bounds` cuts it). None: not predicted.
    """

    levels: Levels
    lafmax: Levels | None = None
    intervals: dict[str, np.ndarray] | None = None


def predictions_of(
    classes: list[str], levels: np.ndarray, lafmax: np.ndarray, laeq: np.ndarray
) -> list[Prediction]:
    """One :class:`Prediction` per clip of per-class arrays: clip levels and LAFmax
    ``(clips, classes)``, LAeq per interval ``(clips, classes, intervals)`` (dB)."""
    return [
        Prediction(
            dict(zip(classes, map(float, levels[b]), strict=True)),
            dict(zip(classes, map(float, lafmax[b]), strict=True)),
            dict(zip(classes, laeq[b], strict=True)),
        )
        for b in range(len(levels))
    ]


def as_prediction(result: Levels | Prediction) -> Prediction:
    """What ``predict`` returned, as a :class:`Prediction` (plain levels: clip level only)."""
    return result if isinstance(result, Prediction) else Prediction(dict(result))


@runtime_checkable
class Estimator(Protocol):
    """What the benchmark needs from a method."""

    name: ClassVar[str]
    supervision: ClassVar[str]

    def fit(self, dataset: GeneratedDataset, split: str = "train") -> None: ...

    def save(self, directory: Path) -> None: ...

    @classmethod
    def load(cls, directory: Path) -> Estimator: ...

    def predict(
        self, audio: np.ndarray, sr: int, info: MixtureInfo | None = None
    ) -> Levels | Prediction: ...

    def predict_batch(
        self, audios: list[np.ndarray], sr: int, infos: list[MixtureInfo | None]
    ) -> list[Levels | Prediction]: ...


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number this tool writes")


def read_estimator_json(path: Path, fields: dict[str, type]) -> dict[str, Any]:
    """A model folder's JSON file: an object with ``fields`` of the given types; NaN and
    infinities are refused (this package never writes them). One :class:`SssleError`
    line naming the file otherwise."""
    try:
        blob = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SssleError(f"{path}: unreadable ({excerpt(str(exc), 100)}); train again") from exc
    for key, kind in fields.items():
        if not isinstance(blob, dict) or not isinstance(blob.get(key), kind):
            raise SssleError(f"{path}: no {key} ({kind.__name__}); train the model again")
    return blob


def condition_model(models: dict[str, Any], info: MixtureInfo | None, name: str) -> Any:
    """The model of a mixture's condition among per-condition ``models``; a single
    trained model serves any mixture; else one clear error (``name``: the estimator)."""
    if info is not None and info.condition in models:
        return models[info.condition]
    if len(models) == 1:
        return next(iter(models.values()))
    condition = None if info is None else info.condition
    raise SssleError(
        f"{name}: no model for condition {condition!r} "
        f"(trained: {', '.join(models)}); pass the mixture's info"
    )


def by_condition_model(
    models: dict[str, Any], infos: list[MixtureInfo | None], name: str
) -> list[tuple[Any, list[int]]]:
    """Each of per-condition ``models`` that serves some of the mixtures ``infos``
    (:func:`condition_model`), with the positions of those mixtures, in order."""
    groups: dict[int, tuple[Any, list[int]]] = {}
    for i, info in enumerate(infos):
        model = condition_model(models, info, name)
        groups.setdefault(id(model), (model, []))[1].append(i)
    return list(groups.values())


def check_level(path: Path, where: str, value: Any) -> None:
    """A saved level (dB re full scale) is None (absent) or a finite number no louder
    than :data:`~sssle_bench.validation.MAX_LEVEL_DB`."""
    if value is None:
        return
    if not isinstance(value, int | float) or not math.isfinite(value) or value > MAX_LEVEL_DB:
        raise SssleError(
            f"{path}: {where} is {excerpt(value)}, not a level in dB up to +{MAX_LEVEL_DB:g} "
            "(a tampered model?); train it again"
        )


class BaseEstimator(ABC):
    """Defaults: config and fitted state kept as JSON, a batch is a loop over ``predict``.

    Subclasses set ``name``, ``supervision`` and ``defaults`` (the config keys
    and their default values), keep what ``fit`` learns in ``self.state``
    (JSON-able) and implement ``fit`` and ``predict``.
    """

    name: ClassVar[str] = "base"
    supervision: ClassVar[str] = "none"
    description: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    #: Inclusive (low, high) ranges and allowed values of config keys, checked on creation.
    limits: ClassVar[dict[str, tuple[float | None, float | None]]] = {}
    choices: ClassVar[dict[str, tuple[Any, ...]]] = {"weighting": ("A", "Z")}

    def __init__(self, **config: Any):
        unknown = set(config) - set(self.defaults)
        if unknown:
            raise SssleError(f"{self.name}: unknown config key(s) {', '.join(sorted(unknown))}")
        hints = {k: type(v) for k, v in self.defaults.items() if v is not None}
        check_options(self.name, config, hints, self.limits, self.choices)
        self.config = {**self.defaults, **config}
        self.state: dict[str, Any] = {}

    def fit(self, dataset: GeneratedDataset, split: str = "train") -> None:  # noqa: B027
        """Nothing to learn by default."""

    def save(self, directory: Path) -> None:
        blob = {"name": self.name, "config": self.config, "state": self.state}
        write_text(Path(directory), "estimator.json", json.dumps(blob, indent=1))

    @classmethod
    def load(cls, directory: Path) -> BaseEstimator:
        path = Path(directory) / "estimator.json"
        blob = read_estimator_json(path, {"config": dict, "state": dict})
        est = cls(**blob["config"])
        est.state = blob["state"]
        est.check_state(path)
        return est

    def check_state(self, path: Path) -> None:  # noqa: B027
        """Refuse a loaded state that this method could not have written (``path``: the
        file it came from); nothing to check by default."""

    @abstractmethod
    def predict(
        self, audio: np.ndarray, sr: int, info: MixtureInfo | None = None
    ) -> Levels | Prediction:
        """Each class's level in dB re full scale (``-inf`` = absent), optionally with
        time-resolved descriptors (:class:`Prediction`)."""

    def predict_batch(
        self, audios: list[np.ndarray], sr: int, infos: list[MixtureInfo | None]
    ) -> list[Levels | Prediction]:
        return [self.predict(a, sr, i) for a, i in zip(audios, infos, strict=True)]
