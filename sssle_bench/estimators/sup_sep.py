"""The ``sup-sep`` estimator: weak-sep's separators trained with *strong* supervision.

The same U-Nets (``separator_arch``, ``unet_*``) and the same level read-out from masked
spectrograms as ``weak-sep``, trained on the isolated sources a dataset saves
(``generate --save-sources``) with the original's supervised loss
(``cdsd/train_fully_supervised_separator.py`` with ``separation_loss``,
``cdsd/losses.py`` l. 238-288, configs ``..._separator_supervised_lr1en4.json``): for
each class, the L1 distance between the isolated source's window-scaled magnitude and
the masked mixture's, over non-silent frames, divided by their count times the bins,
weighed per frame by the inverse class prior (``class_prior_weighting``: 1/p where the
class sounds, 1/(1-p) where not, p its share of the training frames), summed over
classes, averaged over the batch. It is the ceiling of mask separation for a network
and the capacity gate of ``weak-sep`` (issue 23).

One model per background condition, like weak-sep; each epoch is checkpointed under
``workdir/conditions/{condition}`` and a rerun resumes; the best validation epoch is
kept (early stopping after ``patience`` epochs without a lower validation loss). With
``warm_start`` (the ``cpu`` preset: ``"none"``, as weak-sep's), that condition's model
trains first and every other condition's separator starts from its best weights: from
scratch, the ``bg-20`` separator of the 16-channel network sits at a silent siren mask
(results/learning-curve/, ``experiments/tools/probe_sup_sep.py``).
"""

from __future__ import annotations

import io
import json
import time
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..dataset import GeneratedDataset, MixtureInfo, evenly_spaced
from ..errors import SssleError, excerpt
from ..paths import check_name, write_bytes, write_text
from .base import (
    BaseEstimator,
    Prediction,
    by_condition_model,
    predictions_of,
    read_estimator_json,
)
from .options import check_options
from .progress import TrainingProgress, epoch_seconds, write_progress
from .spectral import spectrogram_prediction
from .spectral import window as sqrt_hann
from .weak_sep.config import LIMITS as WEAK_LIMITS
from .weak_sep.config import make_config
from .weak_sep.data import valid_split
from .weak_sep.losses import non_silent_frames
from .weak_sep.networks import folded_for_inference, make_separator, separator_spectra
from .weak_sep.torch_files import load_torch_file, load_weights
from .weak_sep.train import weights_digest

#: The fields sup-sep takes from weak-sep's preset of the same name: the separator
#: network and its STFT (one home for the presets' widths).
SEPARATOR_FIELDS = (
    "sample_rate",
    "n_fft",
    "hop",
    "unet_channels",
    "unet_kernel",
    "unet_levels",
    "separator_arch",
    "silence_ratio",
)

#: Learning rate per preset: weak-sep cpu's 3e-3, and the original's supervised 1e-4.
LEARNING_RATES = {"cpu": 3e-3, "paper": 1e-4}


def preset_values(name: str) -> dict[str, Any]:
    """The config values of sup-sep preset ``name`` (``cpu`` or ``paper``): weak-sep's
    separator fields and warm start, and the preset's learning rate."""
    if name not in LEARNING_RATES:
        raise SssleError(f"sup-sep: unknown preset {name!r} (cpu, paper)")
    weak = make_config({"preset": name})
    values = {k: getattr(weak, k) for k in (*SEPARATOR_FIELDS, "warm_start")}
    return {**values, "learning_rate": LEARNING_RATES[name]}


#: Inclusive ranges of the numeric fields: the separator's as weak-sep's, then training's.
LIMITS: dict[str, tuple[float | None, float | None]] = {
    **{k: WEAK_LIMITS[k] for k in SEPARATOR_FIELDS if k in WEAK_LIMITS},
    "learning_rate": (0.0, 1.0),
    "batch_size": (1, 4096),
    "epochs": (1, 100000),
    "patience": (0, None),
    "max_train_mixtures": (1, None),
    "threads": (1, 1024),
    "seed": (0, 2**32 - 1),
}


@dataclass(frozen=True)
class SupSepConfig:
    """Separator, STFT (``n_fft``/``hop`` samples at ``sample_rate`` Hz), loss and training."""

    sample_rate: int = 16000
    n_fft: int = 512
    hop: int = 128
    unet_channels: int = 4
    unet_kernel: int = 5
    unet_levels: int = 3
    #: "compact" or "original" (weak-sep's ``separator_arch``)
    separator_arch: str = "compact"
    #: frames below this fraction of the clip's loudest frame (magnitude sum) are left out
    silence_ratio: float = 0.01
    #: the original's per-frame inverse class-prior weights (its supervised configs: true)
    class_prior_weighting: bool = True
    #: "l1": the original's |S - X M|; "l2": (S - X M)^2 over the clip's mean mixture
    #: magnitude, an ablation (a bin's mean ratio instead of its median; see
    #: :func:`separation_terms`)
    distance: str = "l1"
    learning_rate: float = 3e-3
    batch_size: int = 8
    epochs: int = 50
    patience: int = 5
    #: training (and validation) mixtures per condition, evenly spaced; None = all
    max_train_mixtures: int | None = None
    threads: int = 1
    device: str = "cpu"
    seed: int = 0
    #: conditions to train one model each for; None = every condition of the dataset
    conditions: tuple[str, ...] | None = None
    #: a condition trained (or resumed) first whose best separator starts every other
    #: condition's (skipped, with a log line, where the dataset lacks it); None (``""``
    #: in TOML): each condition from its own random initialisation
    warm_start: str | None = None
    weighting: str = "A"

    def __post_init__(self) -> None:
        check_options(
            "sup-sep",
            asdict(self),
            typing.get_type_hints(SupSepConfig),
            LIMITS,
            {
                "weighting": ("A", "Z"),
                "separator_arch": ("compact", "original"),
                "distance": ("l1", "l2"),
            },
        )
        warm = [] if self.warm_start is None else [self.warm_start]
        for condition in (*(self.conditions or ()), *warm):
            check_name(condition, "condition", "sup-sep config")
        if self.hop > self.n_fft:
            raise SssleError(f"sup-sep config: hop {self.hop} is larger than n_fft {self.n_fft}")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def make_sup_config(raw: dict[str, Any]) -> SupSepConfig:
    """A config from TOML data, optionally based on ``preset = "cpu" | "paper"``."""
    raw = dict(raw)
    preset = raw.pop("preset", None)
    merged = {**({} if preset is None else preset_values(preset)), **raw}
    unknown = sorted(set(merged) - {f.name for f in fields(SupSepConfig)})
    if unknown:
        raise SssleError(f"sup-sep: unknown config key(s) {', '.join(unknown)}")
    if isinstance(merged.get("conditions"), list):
        merged["conditions"] = tuple(merged["conditions"])
    if merged.get("warm_start") == "":  # TOML has no null: "" switches the warm start off
        merged["warm_start"] = None
    return SupSepConfig(**merged)


def separation_terms(
    x: torch.Tensor,
    masks: torch.Tensor,
    sources: torch.Tensor,
    frames: torch.Tensor,
    weights: torch.Tensor | None = None,
    distance: str = "l1",
) -> torch.Tensor:
    """``(B, K)``: the supervised loss's term of each clip and class. Mixture ``x``
    ``(B, F, T)``, masks and isolated sources ``(B, K, F, T)`` (window-scaled
    magnitudes), non-silent frames ``(B, T)``, per-frame weights ``(B, K, T)`` (None:
    1): ``sum d(S_k - X M_k) w_k`` over non-silent elements / (non-silent frames x F).
    ``d``: the absolute value (``"l1"``, the original's) or the square divided by the
    clip's mean mixture magnitude over the same elements (``"l2"``; in magnitude units
    like L1, so that clips weigh as they do under L1 and Adam's epsilon, 1e-8, does not
    swamp gradients of about 1e-9)."""
    error = sources - x[:, None] * masks
    diff = (error.abs() if distance == "l1" else error.square()) * frames[:, None, None, :]
    if weights is not None:
        diff = diff * weights[:, :, None, :]
    count = frames.sum(dim=1).clamp(min=1.0) * x.shape[1]
    terms = diff.sum(dim=(2, 3)) / count[:, None]
    if distance == "l1":
        return terms
    mean_mixture = (x * frames[:, None, :]).sum(dim=(1, 2)) / count
    return terms / mean_mixture.clamp(min=1e-12)[:, None]


def separation_loss(terms: torch.Tensor) -> torch.Tensor:
    """The original's supervised loss on window-scaled magnitudes: the ``(B, K)`` terms of
    :func:`separation_terms` summed over classes, mean over the batch."""
    return terms.sum(dim=1).mean()


def prior_weights(active: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """The original's class-prior frame weights: ``1/p_k`` where class k sounds in a frame
    (``active`` ``(B, K, T)`` in {0, 1}), ``1/(1 - p_k)`` where not."""
    p = priors[None, :, None]
    return active / p + (1 - active) / (1 - p)


def active_frames(sources: torch.Tensor) -> torch.Tensor:
    """``(B, K, T)``: 1 in the frames where an isolated source's magnitude is not zero
    (Scaper's isolated events are exactly zero outside their span)."""
    return (sources.sum(dim=2) > 1e-7).to(sources.dtype)


class _Clips:
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

    def _priors(self, clips: _Clips) -> torch.Tensor:
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

    def _run_epoch(self, net, clips: _Clips, priors, opt=None, order=None) -> float:
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
        train = _Clips(dataset, split, condition, c.max_train_mixtures)
        name = valid_split(dataset, split)
        valid = None if name is None else _Clips(dataset, name, condition, c.max_train_mixtures)
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
        fields_ = {"config": dict, "classes": list, "conditions": list}
        blob = read_estimator_json(Path(directory) / "estimator.json", fields_)
        est = cls(**blob["config"])
        est.classes = blob["classes"]
        path = Path(directory) / "model.pt"
        saved = load_torch_file(path, "sup-sep model", ("conditions",))
        for condition in blob["conditions"]:
            weights = (
                saved["conditions"].get(condition)
                if isinstance(saved["conditions"], dict)
                else None
            )
            if not isinstance(weights, dict):
                raise SssleError(f"{path}: no weights of condition {excerpt(condition)}")
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
