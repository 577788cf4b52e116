"""Supervised NMF after Gloaguen et al. (Applied Acoustics 2019), numpy only.

``fit`` learns a dictionary of ``components`` spectral templates per class
from the *isolated* training sources (a dataset generated with
``--save-sources``; condition ``none``), and one of ``background_components``
templates from the isolated training backgrounds (the first condition with a
background), with KL multiplicative updates. To predict, the mixture's
magnitude spectrogram is factorised with all those dictionaries fixed, plus
``free_components`` templates learned on the mixture itself (0 by default:
free templates absorb the sources' energy where the background is weak,
-8 dB of bias in ``none`` on the synth-medium world); each class's level is
read from its Wiener-masked reconstruction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..dataset import GeneratedDataset, MixtureInfo, background_name, has_background
from ..errors import SssleError
from ..recipe import NO_BACKGROUND
from .base import BaseEstimator, Prediction
from .spectral import N_FFT, masked_prediction, stft

_EPS = 1e-10


def kl_nmf(
    v: np.ndarray, w: np.ndarray, h: np.ndarray, n_iter: int, update_w: slice | None
) -> tuple[np.ndarray, np.ndarray]:
    """KL-divergence NMF multiplicative updates of ``v ~= w @ h``.

    ``h`` is always updated; ``update_w`` selects the columns of ``w`` that are
    (``slice(None)``: all, ``None``: none).
    """
    for _ in range(n_iter):
        ratio = v / (w @ h + _EPS)
        h *= (w.T @ ratio) / (w.sum(axis=0)[:, None] + _EPS)
        if update_w is not None:
            ratio = v / (w @ h + _EPS)
            ws, hs = w[:, update_w], h[update_w]
            ws *= (ratio @ hs.T) / (hs.sum(axis=1)[None, :] + _EPS)
            norms = ws.sum(axis=0, keepdims=True) + _EPS
            ws /= norms
            hs *= norms.T
            w[:, update_w], h[update_w] = ws, hs
    return w, h


def _active_frames(track: np.ndarray) -> np.ndarray:
    """Magnitude frames of a track with energy above -30 dB of its loudest frame."""
    mag = np.abs(stft(track))
    energy = (mag**2).sum(axis=0)
    return mag[:, energy > 1e-3 * energy.max()]


def _background_frames(dataset: GeneratedDataset, split: str) -> list[np.ndarray]:
    """Magnitude frames of the isolated training backgrounds (first background condition)."""
    import soundfile as sf

    condition = next((c for c in dataset.conditions if has_background(c)), None)
    if condition is None:
        return []
    frames = []
    for mix in dataset.mixtures(split, conditions=(condition,)):
        path = mix.sources_dir / background_name(mix.audio_path)
        if path.is_file():
            frames.append(_active_frames(sf.read(path, always_2d=True)[0].mean(axis=1)))
    return frames


class SupervisedNMF(BaseEstimator):
    """Per-class and background NMF dictionaries from isolated sources; optional free ones."""

    name: ClassVar[str] = "nmf"
    supervision: ClassVar[str] = "strong"
    description: ClassVar[str] = "supervised NMF (Gloaguen et al. 2019), learned background"
    defaults: ClassVar[dict[str, Any]] = {
        "weighting": "A",
        "components": 8,
        "background_components": 4,
        "free_components": 0,
        "train_iterations": 100,
        "predict_iterations": 60,
        "max_frames": 4000,
        "seed": 0,
    }
    limits: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "components": (1, None),
        "background_components": (0, None),
        "free_components": (0, None),
        "train_iterations": (1, None),
        "predict_iterations": (1, None),
        "max_frames": (1, None),
        "seed": (0, 2**32 - 1),
    }

    def fit(self, dataset: GeneratedDataset, split: str = "train") -> None:
        if not dataset.has_sources:
            raise SssleError("nmf needs isolated training sources: generate with --save-sources")
        rng = np.random.default_rng(self.config["seed"])
        frames: dict[str, list[np.ndarray]] = {c: [] for c in dataset.classes}
        for mix in dataset.mixtures(split, conditions=(NO_BACKGROUND,)):
            for label, track in dataset.sources(mix).items():
                frames[label].append(_active_frames(track))
        dictionaries = []
        for label in dataset.classes:
            if not frames[label]:
                raise SssleError(f"nmf: no training source of class {label!r}")
            dictionaries.append(self._learn(frames[label], self.config["components"], rng))
        n_bg = self.config["background_components"]
        backgrounds = _background_frames(dataset, split) if n_bg else []
        if n_bg and not backgrounds:
            raise SssleError(
                "nmf: no isolated training background (a dataset with a background condition, "
                "generated with --save-sources); set background_components = 0 to go without"
            )
        if n_bg:
            dictionaries.append(self._learn(backgrounds, n_bg, rng))
        self.classes = list(dataset.classes)
        self.dictionary = np.concatenate(dictionaries, axis=1)

    def _learn(self, frames: list[np.ndarray], k: int, rng: np.random.Generator) -> np.ndarray:
        """``k`` KL-NMF templates (columns, unit sum) of magnitude frames."""
        v = np.concatenate(frames, axis=1)
        if v.shape[1] > self.config["max_frames"]:
            v = v[:, np.sort(rng.choice(v.shape[1], self.config["max_frames"], replace=False))]
        w = rng.random((v.shape[0], k)) + 0.1
        h = rng.random((k, v.shape[1])) + 0.1
        w, _ = kl_nmf(v, w, h, self.config["train_iterations"], update_w=slice(None))
        return w

    def save(self, directory: Path) -> None:
        self.state = {"classes": self.classes}
        super().save(directory)
        np.save(Path(directory) / "dictionary.npy", self.dictionary)

    @classmethod
    def load(cls, directory: Path) -> SupervisedNMF:
        est = super().load(directory)
        est.classes = est.state.get("classes")
        path = Path(directory) / "dictionary.npy"
        est.dictionary = np.load(path, allow_pickle=False)
        bins = N_FFT // 2 + 1
        columns = (
            est.config["components"] * len(est.classes or ()) + est.config["background_components"]
        )
        d = est.dictionary
        if not (
            isinstance(est.classes, list)
            and d.dtype.kind == "f"
            and d.shape == (bins, columns)
            and np.isfinite(d).all()
            and (d >= 0).all()
        ):
            raise SssleError(
                f"{path}: not the {bins} x {columns} non-negative templates this model's "
                "config and classes need (a tampered model?); train it again"
            )
        return est

    def predict(self, audio: np.ndarray, sr: int, info: MixtureInfo | None = None) -> Prediction:
        spec = stft(audio)
        v = np.abs(spec)
        k, n_free = self.config["components"], self.config["free_components"]
        rng = np.random.default_rng(self.config["seed"])
        w = np.concatenate([self.dictionary, rng.random((v.shape[0], n_free)) + 0.1], axis=1)
        h = rng.random((w.shape[1], v.shape[1])) + 0.1
        n_fixed = self.dictionary.shape[1]
        w, h = kl_nmf(v, w, h, self.config["predict_iterations"], update_w=slice(n_fixed, None))
        model = w @ h + _EPS
        masks = {
            c: (w[:, i * k : (i + 1) * k] @ h[i * k : (i + 1) * k]) / model
            for i, c in enumerate(self.classes)
        }
        interval_s = 1.0 if info is None else info.interval_s
        weighting = self.config["weighting"]
        return Prediction(*masked_prediction(spec, masks, audio.size, sr, weighting, interval_s))
