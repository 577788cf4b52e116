"""Supervised NMF after Gloaguen et al. (Applied Acoustics 2019), numpy only.

``fit`` learns a dictionary of ``components`` spectral templates per class
from the *isolated* training sources (a dataset generated with
``--save-sources``; condition ``none``) with KL multiplicative updates. To
predict, the mixture's magnitude spectrogram is factorised with the class
dictionaries fixed plus ``background_components`` free templates; each class's
level is read from its Wiener-masked reconstruction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..dataset import GeneratedDataset, MixtureInfo
from ..errors import SssleError
from .base import BaseEstimator, Levels
from .spectral import masked_levels, stft

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


class SupervisedNMF(BaseEstimator):
    """Per-class NMF dictionaries from isolated sources; a free background dictionary."""

    name: ClassVar[str] = "nmf"
    supervision: ClassVar[str] = "strong"
    description: ClassVar[str] = "supervised NMF (Gloaguen et al. 2019) with free background"
    defaults: ClassVar[dict[str, Any]] = {
        "weighting": "A",
        "components": 8,
        "background_components": 4,
        "train_iterations": 100,
        "predict_iterations": 60,
        "max_frames": 4000,
        "seed": 0,
    }
    limits: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "components": (1, None),
        "background_components": (0, None),
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
        for mix in dataset.mixtures(split, conditions=("none",)):
            for label, track in dataset.sources(mix).items():
                mag = np.abs(stft(track))
                energy = (mag**2).sum(axis=0)
                frames[label].append(mag[:, energy > 1e-3 * energy.max()])
        dictionaries = []
        for label in dataset.classes:
            if not frames[label]:
                raise SssleError(f"nmf: no training source of class {label!r}")
            v = np.concatenate(frames[label], axis=1)
            if v.shape[1] > self.config["max_frames"]:
                v = v[:, np.sort(rng.choice(v.shape[1], self.config["max_frames"], replace=False))]
            k = self.config["components"]
            w = rng.random((v.shape[0], k)) + 0.1
            h = rng.random((k, v.shape[1])) + 0.1
            w, _ = kl_nmf(v, w, h, self.config["train_iterations"], update_w=slice(None))
            dictionaries.append(w)
        self.classes = list(dataset.classes)
        self.dictionary = np.concatenate(dictionaries, axis=1)

    def save(self, directory: Path) -> None:
        self.state = {"classes": self.classes}
        super().save(directory)
        np.save(Path(directory) / "dictionary.npy", self.dictionary)

    @classmethod
    def load(cls, directory: Path) -> SupervisedNMF:
        est = super().load(directory)
        est.classes = est.state["classes"]
        est.dictionary = np.load(Path(directory) / "dictionary.npy")
        return est

    def predict(self, audio: np.ndarray, sr: int, info: MixtureInfo | None = None) -> Levels:
        spec = stft(audio)
        v = np.abs(spec)
        k, n_bg = self.config["components"], self.config["background_components"]
        rng = np.random.default_rng(self.config["seed"])
        w = np.concatenate([self.dictionary, rng.random((v.shape[0], n_bg)) + 0.1], axis=1)
        h = rng.random((w.shape[1], v.shape[1])) + 0.1
        n_fixed = self.dictionary.shape[1]
        w, h = kl_nmf(v, w, h, self.config["predict_iterations"], update_w=slice(n_fixed, None))
        model = w @ h + _EPS
        masks = {
            c: (w[:, i * k : (i + 1) * k] @ h[i * k : (i + 1) * k]) / model
            for i, c in enumerate(self.classes)
        }
        return masked_levels(spec, masks, audio.size, sr, self.config["weighting"])
