"""The ``weak-sep`` estimator: trains from clip labels, reads levels from masked spectrograms."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ...dataset import GeneratedDataset, MixtureInfo
from ...paths import write_bytes, write_text
from ..base import BaseEstimator, Levels
from ..spectral import spectrogram_levels
from .config import WeakSepConfig, make_config
from .train import Trainer, fit


class WeakSep(BaseEstimator):
    """Weakly supervised mask separation (U-Net + frozen CRNN critic), Cramer et al. 2021.

    Config: any :class:`WeakSepConfig` field, or ``preset = "paper" | "tiny"``.
    Each class gets the level of its masked spectrogram (same level definition
    and weighting as the ground truth); with ``presence_threshold`` set, classes
    the classifier scores below it are predicted absent instead.
    """

    name: ClassVar[str] = "weak-sep"
    supervision: ClassVar[str] = "weak"
    description: ClassVar[str] = "weakly supervised separation (Pishdadian 2020 + Cramer 2021)"

    def __init__(self, **config: Any):
        self.cfg: WeakSepConfig = make_config(config)
        self.config = self.cfg.to_dict()
        self.state = {}
        self.workdir: Path | None = None
        self.trainer: Trainer | None = None
        self.classes: list[str] = []
        self.log = print

    def fit(self, dataset: GeneratedDataset, split: str = "train") -> None:
        self.classes = list(dataset.classes)
        self.trainer, history = fit(self.cfg, dataset, split, self.workdir, self.log)
        self.state = {"history": history}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        buf = io.BytesIO()
        torch.save(
            {
                "separator": self.trainer.separator.state_dict(),
                "classifier": self.trainer.classifier.state_dict(),
            },
            buf,
        )
        write_bytes(directory, "model.pt", buf.getvalue())
        blob = {"name": self.name, "config": self.config, "classes": self.classes}
        write_text(directory, "estimator.json", json.dumps(blob, indent=1))
        write_text(directory, "history.json", json.dumps(self.state.get("history", {}), indent=1))

    @classmethod
    def load(cls, directory: Path) -> WeakSep:
        blob = json.loads((Path(directory) / "estimator.json").read_text(encoding="utf-8"))
        est = cls(**blob["config"])
        est.classes = blob["classes"]
        est.trainer = Trainer(est.cfg, len(est.classes))
        weights = torch.load(
            Path(directory) / "model.pt", weights_only=True, map_location=est.trainer.device
        )
        est.trainer.separator.load_state_dict(weights["separator"])
        est.trainer.classifier.load_state_dict(weights["classifier"])
        est.trainer.separator.eval()
        est.trainer.classifier.eval()
        return est

    def predict(self, audio: np.ndarray, sr: int, info: MixtureInfo | None = None) -> Levels:
        return self.predict_batch([audio], sr, [info])[0]

    #: Clips per forward pass: small chunks keep full-resolution feature maps in cache.
    CHUNK = 4

    @torch.inference_mode()
    def predict_batch(
        self, audios: list[np.ndarray], sr: int, infos: list[MixtureInfo | None]
    ) -> list[Levels]:
        out: list[Levels] = []
        for start in range(0, len(audios), self.CHUNK):
            out += self._predict_chunk(audios[start : start + self.CHUNK], sr)
        return out

    def _predict_chunk(self, audios: list[np.ndarray], sr: int) -> list[Levels]:
        batch = torch.from_numpy(np.stack(audios).astype(np.float32))
        mag, feats = self.trainer.spectra(batch)
        sources = (self.trainer.separator(feats) * mag[:, None]).cpu().numpy()
        probs = self.trainer.classify(mag).cpu().numpy()
        levels = spectrogram_levels(
            sources, audios[0].size, sr, self.cfg.weighting, self.cfg.n_fft, self.cfg.hop
        )
        threshold = self.cfg.presence_threshold
        if threshold is not None:
            levels = np.where(probs >= threshold, levels, -np.inf)
        return [dict(zip(self.classes, map(float, row), strict=True)) for row in levels]
