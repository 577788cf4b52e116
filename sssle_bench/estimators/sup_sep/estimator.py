"""``SupSep``: one separator per background condition, trained on a dataset's saved
isolated sources (``Clips``), checkpointed every epoch, and its level read-out."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ...dataset import GeneratedDataset, MixtureInfo, evenly_spaced
from ...errors import SssleError
from ...paths import write_bytes, write_text
from ..base import (
    BaseEstimator,
    Prediction,
    by_condition_model,
    predictions_of,
)
from ..progress import TrainingProgress, epoch_seconds, write_progress
from ..spectral import spectrogram_prediction
from ..spectral import window as sqrt_hann
from ..weak_sep.data import valid_split
from ..weak_sep.losses import non_silent_frames
from ..weak_sep.networks import folded_for_inference, make_separator, separator_spectra
from ..weak_sep.torch_files import (
    condition_weights,
    load_torch_file,
    load_weights,
    read_model_folder,
)
from ..weak_sep.train import weights_digest
from .config import make_sup_config
from .losses import active_frames, prior_weights, separation_loss, separation_terms


class Clips:
    """Every mixture of one split and condition in memory: audio ``(N, n)``, isolated
    class tracks ``(N, K, n)`` (zeros for absent classes), float32; read once."""

    def __init__(self, dataset: GeneratedDataset, split: str, condition: str, limit: int | None):
        ids = sorted(dataset.table(split)["mixture_id"].unique())
        ids = [ids[i] for i in evenly_spaced(len(ids), limit)]
        mixes = list(dataset.mixtures(split, (condition,), ids))
        if not mixes:
            raise SssleError(f"sup-sep: no {split} mixtures of condition {condition!r}")
        audio, tracks = [], []
        for mix in mixes:
            saved = dataset.sources(mix)
            audio.append(mix.audio.astype(np.float32))
            zeros = np.zeros_like(audio[-1])
            tracks.append(
                np.stack([saved.get(c, zeros).astype(np.float32) for c in dataset.classes])
            )
        self.audio = torch.from_numpy(np.stack(audio))
        self.tracks = torch.from_numpy(np.stack(tracks))


class SupSep(BaseEstimator):
    """Mask separation trained on isolated sources (strong supervision), weak-sep's
    networks and level read-out; see the module docstring."""

    name: ClassVar[str] = "sup-sep"
    supervision: ClassVar[str] = "strong"
    description: ClassVar[str] = "supervised mask separation (the capacity gate of weak-sep)"

    def __init__(self, **config: Any):
        self.cfg = make_sup_config(config)
        self.config = self.cfg.to_dict()
        self.state: dict[str, Any] = {}
        self.workdir: Path | None = None
        self.separators: dict[str, torch.nn.Module] = {}
        self.classes: list[str] = []
        self.log = print
        self.window_sum = float(sqrt_hann(self.cfg.n_fft).sum())

    # -- training -------------------------------------------------------------------
    def fit(self, dataset: GeneratedDataset, split: str = "train") -> None:
        """One separator per condition, trained on its mixtures' isolated sources; with
        ``warm_start``, that condition's first (kept only if asked for), then the others
        from its best weights."""
        conditions = self.cfg.conditions or dataset.conditions
        unknown = sorted(set(conditions) - set(dataset.conditions))
        if unknown:
            raise SssleError(
                f"sup-sep: condition(s) {', '.join(unknown)} not in {dataset.root} "
                f"(has {', '.join(dataset.conditions)})"
            )
        if "sources_dir" not in dataset.table(split):
            raise SssleError(
                f"sup-sep: {dataset.root} has no saved sources (generate it with --save-sources)"
            )
        torch.set_num_threads(self.cfg.threads)
        self.classes = list(dataset.classes)
        warm = self.cfg.warm_start
        if warm is not None and warm not in dataset.conditions:
            self.log(f"sup-sep: no warm start ({dataset.root} has no {warm!r} condition)")
            warm = None
        history, init = {}, None
        for condition in [*([warm] if warm else []), *(c for c in conditions if c != warm)]:
            self.log(f"sup-sep: training the {condition} model")
            net, record = self._fit_one(dataset, split, condition, init)
            if condition == warm:
                init = {k: v.detach().clone() for k, v in net.state_dict().items()}
            if condition in conditions:
                self.separators[condition], history[condition] = net, record
        self.separators = {c: self.separators[c] for c in conditions}
        self.state = {"history": {c: history[c] for c in conditions}}

    def _spectra(self, audio: torch.Tensor, tracks: torch.Tensor):
        """Window-scaled magnitudes of mixtures and sources, and the separator's input."""
        device = torch.device(self.cfg.device)
        mag, feats = separator_spectra(self.cfg, audio.to(device))
        b, k, n = tracks.shape
        src, _ = separator_spectra(self.cfg, tracks.reshape(b * k, n).to(device))
        return mag / self.window_sum, src.reshape(b, k, *mag.shape[1:]) / self.window_sum, feats

    def _priors(self, clips: Clips) -> torch.Tensor:
        """Each class's share of the training frames it sounds in (clamped to (0, 1))."""
        counts = torch.zeros(len(self.classes), dtype=torch.float64)
        total = 0
        for start in range(0, len(clips.audio), 64):
            _, src, _ = self._spectra(
                clips.audio[start : start + 64], clips.tracks[start : start + 64]
            )
            active = active_frames(src).cpu()
            counts += active.sum(dim=(0, 2)).double()
            total += active.shape[0] * active.shape[2]
        return (counts / max(total, 1)).clamp(1e-3, 1 - 1e-3).float()

    def _run_epoch(self, net, clips: Clips, priors, opt=None, order=None) -> float:
        net.train(opt is not None)
        order = torch.arange(len(clips.audio)) if order is None else order
        total, n = 0.0, 0
        device = torch.device(self.cfg.device)
        with torch.set_grad_enabled(opt is not None):
            for start in range(0, len(order), self.cfg.batch_size):
                idx = order[start : start + self.cfg.batch_size]
                x, src, feats = self._spectra(clips.audio[idx], clips.tracks[idx])
                frames = non_silent_frames(x, self.cfg.silence_ratio)
                weights = (
                    prior_weights(active_frames(src), priors.to(device))
                    if self.cfg.class_prior_weighting
                    else None
                )
                terms = separation_terms(x, net(feats), src, frames, weights, self.cfg.distance)
                loss = separation_loss(terms)
                if opt is not None:
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                total += float(loss.detach()) * len(idx)
                n += len(idx)
        return total / n

    def _fit_one(
        self,
        dataset: GeneratedDataset,
        split: str,
        condition: str,
        init: dict[str, torch.Tensor] | None = None,
    ):
        """One condition's separator, from ``init`` (the warm start's weights) or from
        scratch, resumed from its checkpoint when that started from the same weights."""
        c = self.cfg
        torch.manual_seed(c.seed)
        generator = torch.Generator().manual_seed(c.seed)
        net = make_separator(c, len(self.classes)).to(torch.device(c.device))
        start = None if init is None else weights_digest(init)
        if init is not None:
            net.load_state_dict(init)
        opt = torch.optim.Adam(net.parameters(), lr=c.learning_rate)
        self.log(f"sup-sep: reading the {condition} mixtures and their sources")
        train = Clips(dataset, split, condition, c.max_train_mixtures)
        name = valid_split(dataset, split)
        valid = None if name is None else Clips(dataset, name, condition, c.max_train_mixtures)
        priors = self._priors(train)
        history: dict[str, Any] = {"condition": condition, "priors": priors.tolist(), "epochs": []}
        if init is not None:
            history.update(warm_start=c.warm_start, warm_start_sha256=start)
        best, best_state, stale = float("inf"), None, 0
        folder = None if self.workdir is None else self.workdir / "conditions" / condition
        checkpoint = None if folder is None else folder / "checkpoint.pt"
        saved = None if checkpoint is None else self._resumable(checkpoint, start)
        if saved is not None:
            load_weights(net, saved["separator"], checkpoint, "separator")
            opt.load_state_dict(saved["optimizer"])
            generator.set_state(saved["generator"])
            progress = json.loads(saved["progress"])
            history, best, stale = progress["history"], progress["best"], progress["stale"]
            best_state = saved.get("best")
            self.log(f"resuming from {checkpoint} (epoch {len(history['epochs'])})")
        while len(history["epochs"]) < c.epochs and not (c.patience and stale >= c.patience):
            epoch = len(history["epochs"]) + 1
            order = torch.randperm(len(train.audio), generator=generator)
            t0 = time.perf_counter()
            loss = self._run_epoch(net, train, priors, opt, order)
            record = {"train": loss, "train_seconds": time.perf_counter() - t0}
            if valid is not None:
                record["valid"] = self._run_epoch(net, valid, priors)
            record["seconds"] = time.perf_counter() - t0
            history["epochs"].append(record)
            score = record.get("valid", loss)
            if score < best:
                best, stale = score, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
            shown = f" | valid {record['valid']:.5f}" if "valid" in record else ""
            self.log(f"{condition} epoch {epoch}/{c.epochs}: train {loss:.5f}{shown}")
            if folder is not None:
                state = {
                    "separator": net.state_dict(),
                    "optimizer": opt.state_dict(),
                    "progress": json.dumps({"history": history, "best": best, "stale": stale}),
                    "generator": generator.get_state(),
                    "best": best_state,
                }
                self._checkpoint(folder, state, history["epochs"], stale)
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        return net, history

    def _resumable(self, checkpoint: Path, start: str | None) -> dict[str, Any] | None:
        """A condition's saved checkpoint, if there is one and it started from the same
        weights (``start``: the warm start's digest, None from scratch)."""
        if not checkpoint.is_file():
            return None
        saved = load_torch_file(
            checkpoint, "sup-sep checkpoint", ("separator", "optimizer", "progress", "generator")
        )
        if json.loads(saved["progress"])["history"].get("warm_start_sha256") != start:
            # it started from other weights: another run's, overwritten after epoch 1
            self.log(f"{checkpoint} did not start from this warm start: training again")
            return None
        return saved

    def _checkpoint(
        self, folder: Path, state: dict[str, Any], epochs: list[dict[str, Any]], stale: int
    ) -> None:
        """Write one epoch's ``checkpoint.pt`` (``state``) and ``progress.json`` to
        ``folder``; ``epochs``: the history's epoch records so far."""
        buf = io.BytesIO()
        torch.save(state, buf)
        write_bytes(folder, "checkpoint.pt", buf.getvalue())
        scores = [e.get("valid", e["train"]) for e in epochs]
        report = TrainingProgress(
            len(epochs),
            self.cfg.epochs,
            1 + scores.index(min(scores)),
            stale,
            self.cfg.patience,
            epoch_seconds(epochs),
        )
        write_progress(folder, report)

    # -- files ----------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        buf = io.BytesIO()
        torch.save({"conditions": {c: n.state_dict() for c, n in self.separators.items()}}, buf)
        write_bytes(Path(directory), "model.pt", buf.getvalue())
        blob = {
            "name": self.name,
            "config": self.config,
            "classes": self.classes,
            "conditions": list(self.separators),
        }
        write_text(Path(directory), "estimator.json", json.dumps(blob, indent=1))
        write_text(
            Path(directory), "history.json", json.dumps(self.state.get("history", {}), indent=1)
        )

    @classmethod
    def load(cls, directory: Path) -> SupSep:
        blob, saved, path = read_model_folder(directory, "sup-sep model")
        est = cls(**blob["config"])
        est.classes = blob["classes"]
        for condition in blob["conditions"]:
            weights = condition_weights(saved, condition, path)
            net = make_separator(est.cfg, len(est.classes)).to(torch.device(est.cfg.device))
            load_weights(net, weights, path, "separator")
            net.eval()
            est.separators[condition] = net
        return est

    # -- prediction -----------------------------------------------------------------
    def predict(self, audio: np.ndarray, sr: int, info: MixtureInfo | None = None) -> Prediction:
        return self.predict_batch([audio], sr, [info])[0]

    @torch.inference_mode()
    def predict_batch(
        self, audios: list[np.ndarray], sr: int, infos: list[MixtureInfo | None]
    ) -> list[Prediction]:
        """Clip levels, LAeq per interval and LAFmax of each mixture's masked spectrograms,
        through its condition's separator, 4 clips per forward pass."""
        interval_s = next((i.interval_s for i in infos if i is not None), 1.0)
        out: list[Prediction | None] = [None] * len(audios)
        c = self.cfg
        for separator, indices in by_condition_model(self.separators, infos, "sup-sep"):
            net = folded_for_inference(separator)
            for start in range(0, len(indices), 4):
                chunk = indices[start : start + 4]
                batch = torch.from_numpy(np.stack([audios[i] for i in chunk]).astype(np.float32))
                mag, feats = separator_spectra(c, batch.to(torch.device(c.device)))
                sources = (net(feats) * mag[:, None]).cpu().numpy()
                arrays = spectrogram_prediction(
                    sources, batch.shape[1], sr, c.weighting, interval_s, c.n_fft, c.hop
                )
                for i, prediction in zip(chunk, predictions_of(self.classes, *arrays), strict=True):
                    out[i] = prediction
        return out  # type: ignore[return-value]
