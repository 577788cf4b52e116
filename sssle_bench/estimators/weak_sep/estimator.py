"""The ``weak-sep`` estimator: trains from clip labels, reads levels from masked spectrograms."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ...dataset import GeneratedDataset, MixtureInfo
from ...errors import SssleError
from ...paths import write_bytes, write_text
from ..base import (
    BaseEstimator,
    Prediction,
    by_condition_model,
    predictions_of,
)
from ..spectral import spectrogram_prediction
from .config import WeakSepConfig, make_config
from .critic import pretrain_shared_classifier
from .networks import folded_for_inference
from .objective import Model
from .torch_files import condition_weights, load_weights, read_model_folder
from .train import fit, fit_in_parallel


class WeakSep(BaseEstimator):
    """Weakly supervised mask separation (U-Net + frozen CRNN critic), Cramer et al. 2021.

    Config: any :class:`WeakSepConfig` field, or ``preset = "paper" | "cpu"``.
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
        #: Where the shared classifier is kept (None: ``workdir``); runs that share it
        #: (an experiment's variants) point here, its file name proves what it was trained on.
        self.cache_dir: Path | None = None
        #: One trained pair of networks per background condition.
        self.models: dict[str, Model] = {}
        self.classes: list[str] = []
        self.log = print
        #: Conditions trained at a time, each in its own process (needs ``workdir``); the
        #: result does not depend on it: every condition's model is seeded on its own.
        self.jobs = 1

    def fit(self, dataset: GeneratedDataset, split: str = "train") -> None:
        """Train one model per background condition (``conditions``: all by default).

        Each condition has its own training-set margin and separator (with
        ``warm_start``, every other condition's separator starts from that condition's,
        which is trained or resumed first; and, with
        ``shared_classifier = False``, its own classifier; by default one classifier
        pretrained on all conditions is shared, saved in ``cache_dir`` (default: ``workdir``)
        under a name keyed by its inputs, see :func:`~.critic.pretrain_shared_classifier`),
        checkpointed under ``workdir/conditions/{condition}`` and skipped once done.
        """
        conditions = self.cfg.conditions or dataset.conditions
        unknown = sorted(set(conditions) - set(dataset.conditions))
        if unknown:
            raise SssleError(
                f"weak-sep: condition(s) {', '.join(unknown)} not in {dataset.root} "
                f"(has {', '.join(dataset.conditions)})"
            )
        self.classes = list(dataset.classes)
        history: dict[str, Any] = {}
        shared = None
        if self.cfg.shared_classifier:
            folder = self.cache_dir or self.workdir
            shared = pretrain_shared_classifier(self.cfg, dataset, split, folder, self.log)
        init = None
        warm = self.cfg.warm_start
        if warm is not None and warm not in dataset.conditions:
            self.log(f"weak-sep: no warm start ({dataset.root} has no {warm!r} condition)")
            warm = None
        if warm is not None:
            self.log(f"weak-sep: training the {warm} model first (warm start of the others)")
            first = self._fit_one(dataset, split, warm, shared, epochs=self.cfg.warm_start_epochs)
            if warm in conditions:
                self.models[warm], history[warm] = first
            init = {k: v.clone() for k, v in first[0].separator.state_dict().items()}
        rest = [c for c in conditions if c != warm]
        if self.jobs > 1 and self.workdir is not None and len(rest) > 1:
            fit_in_parallel(self.cfg, dataset, split, self.workdir, rest, shared, self.jobs, init)
        for condition in rest:
            self.log(f"weak-sep: training the {condition} model")
            self.models[condition], history[condition] = self._fit_one(
                dataset, split, condition, shared, init
            )
        history = {c: history[c] for c in conditions}
        self.state = {"history": history}

    def prepare_shared(self, dataset: GeneratedDataset, split: str, folder: Path) -> None:
        """Pretrain the shared classifier ``fit`` will use into ``folder`` (kept there under
        a name keyed by its inputs; nothing to do when it is there or not shared), so runs
        that share it can then train in parallel without training it twice."""
        if self.cfg.shared_classifier:
            pretrain_shared_classifier(self.cfg, dataset, split, Path(folder), self.log)

    def _fit_one(self, dataset, split, condition, shared, init=None, epochs=None):
        """One condition's model, checkpointed under ``workdir/conditions/{condition}``
        (``epochs``: separator epochs, default the config's)."""
        workdir = None if self.workdir is None else self.workdir / "conditions" / condition
        cfg = self.cfg if epochs is None else replace(self.cfg, epochs=epochs)
        return fit(cfg, dataset, split, workdir, self.log, condition, shared, init)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        buf = io.BytesIO()
        weights = {
            condition: {
                "separator": model.separator.state_dict(),
                "classifier": model.classifier.state_dict(),
            }
            for condition, model in self.models.items()
        }
        torch.save({"conditions": weights}, buf)
        write_bytes(directory, "model.pt", buf.getvalue())
        blob = {
            "name": self.name,
            "config": self.config,
            "classes": self.classes,
            "conditions": list(self.models),
        }
        write_text(directory, "estimator.json", json.dumps(blob, indent=1))
        write_text(directory, "history.json", json.dumps(self.state.get("history", {}), indent=1))

    @classmethod
    def load(cls, directory: Path) -> WeakSep:
        blob, saved, path = read_model_folder(directory, "weak-sep model")
        est = cls(**blob["config"])
        est.classes = blob["classes"]
        for condition in blob["conditions"]:
            weights = condition_weights(saved, condition, path, ("separator", "classifier"))
            model = Model(est.cfg, len(est.classes))
            load_weights(model.separator, weights["separator"], path, "separator")
            load_weights(model.classifier, weights["classifier"], path, "classifier")
            model.separator.eval()
            model.classifier.eval()
            est.models[condition] = model
        return est

    def predict(self, audio: np.ndarray, sr: int, info: MixtureInfo | None = None) -> Prediction:
        return self.predict_batch([audio], sr, [info])[0]

    #: Clips per forward pass: small chunks keep full-resolution feature maps in cache.
    CHUNK = 4

    @torch.inference_mode()
    def predict_batch(
        self, audios: list[np.ndarray], sr: int, infos: list[MixtureInfo | None]
    ) -> list[Prediction]:
        """Each mixture through its condition's model, in chunks of :attr:`CHUNK` clips:
        clip levels, LAeq per interval and LAFmax of its masked spectrograms."""
        out: list[Prediction | None] = [None] * len(audios)
        interval_s = next((i.interval_s for i in infos if i is not None), 1.0)
        for model, indices in by_condition_model(self.models, infos, "weak-sep"):
            separator = folded_for_inference(model.separator)
            for start in range(0, len(indices), self.CHUNK):
                chunk = indices[start : start + self.CHUNK]
                levels = self._predict_chunk(
                    model, separator, [audios[i] for i in chunk], sr, interval_s
                )
                for i, lv in zip(chunk, levels, strict=True):
                    out[i] = lv
        return out  # type: ignore[return-value]

    def _predict_chunk(
        self,
        model: Model,
        separator: torch.nn.Module,
        audios: list[np.ndarray],
        sr: int,
        interval_s: float,
    ) -> list[Prediction]:
        """``separator``: the model's, folded for inference (:func:`folded_for_inference`)."""
        batch = torch.from_numpy(np.stack(audios).astype(np.float32))
        mag, feats = model.spectra(batch)
        sources = (separator(feats) * mag[:, None]).cpu().numpy()
        c = self.cfg
        n = audios[0].size
        levels, lafmax, laeq = spectrogram_prediction(
            sources, n, sr, c.weighting, interval_s, c.n_fft, c.hop
        )
        if c.presence_threshold is not None:
            probs = model.classify(mag)[:, : len(self.classes)].cpu().numpy()
            absent = probs < c.presence_threshold
            levels = np.where(absent, -np.inf, levels)
            lafmax = np.where(absent, -np.inf, lafmax)
            laeq = np.where(absent[..., None], -np.inf, laeq)
        return predictions_of(self.classes, levels, lafmax, laeq)
