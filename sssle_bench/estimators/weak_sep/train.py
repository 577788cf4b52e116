"""Training: classifier pretraining, then the separator with every loss; seeded and resumable.

Each epoch logs its loss terms, saves ``checkpoint.pt`` (weights, optimiser,
history, random states) in the work folder and keeps the best weights by
validation loss; a rerun with the same work folder resumes from the checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...audio import read_audio
from ...dataset import GeneratedDataset, torch_dataset
from ...levels import to_mono
from ...paths import write_bytes
from ..spectral import window as sqrt_hann
from .config import WeakSepConfig
from .losses import (
    background_loss,
    consistency_loss,
    critic_loss,
    dataset_margin,
    magnitude_margin,
    non_silent_frames,
    reference_masks,
)
from .models import (
    CRNN,
    OriginalCRNN,
    OriginalUNet,
    UNet,
    log_features,
    log_mel,
    magnitude,
    mel_filterbank,
    original_features,
)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's weight initialisation; return the generator that shuffles batches."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def energy_margin(dataset: GeneratedDataset, split: str, condition: str | None = None) -> float:
    """The training set's average fraction of mixture *energy* its sources leave out
    (from the ground-truth levels), over one condition's mixtures (all with None)."""
    mixes = dataset.table(split)
    truth = dataset.truth(split)
    if condition is not None:
        mixes = mixes[mixes["condition"] == condition]
        truth = truth[truth["condition"] == condition]
    mixes = mixes.set_index(["mixture_id", "condition"])
    src = (
        (10 ** (truth["level_dbfs"] / 10))
        .fillna(0.0)
        .groupby([truth["mixture_id"], truth["condition"]])
        .sum()
    )
    mix = 10 ** (mixes.loc[src.index, "mixture_dbfs"] / 10)
    return dataset_margin(mix.to_numpy(), src.to_numpy())


def training_margin(
    dataset: GeneratedDataset,
    split: str,
    condition: str | None,
    config: WeakSepConfig,
) -> float:
    """The training set's average margin in the consistency terms' domain: the fraction of
    a clip's mixture magnitude (L1 over non-silent frames) its sources leave out.

    Every mixture of a dataset exists in the ``none`` condition too, with the same
    sources: the sources' magnitude is that of the ``none`` mixture, rescaled by the
    ground-truth source energy ratio between the two conditions (which undoes any
    clipping protection gain). Only mixtures and ground-truth levels are read, the same
    dataset statistics the paper's "average margin of the training set" uses. Without
    a ``none`` condition, the energy margin is converted with :func:`magnitude_margin`.
    ``max_train_mixtures`` evenly spaced mixtures per condition are used; ``condition``
    None averages over all conditions.
    """
    conditions = dataset.conditions if condition is None else (condition,)
    if "none" not in dataset.conditions:
        return magnitude_margin(energy_margin(dataset, split, condition))
    truth = dataset.truth(split)
    energy = (10 ** (truth["level_dbfs"] / 10)).fillna(0.0)
    sources = energy.groupby([truth["mixture_id"], truth["condition"]]).sum()
    ids = sorted(dataset.table(split)["mixture_id"].unique())
    limit = config.max_train_mixtures
    if limit is not None and len(ids) > limit:
        ids = [ids[int(i * len(ids) / limit)] for i in range(limit)]
    wanted = set(ids)
    # Only the chosen mixtures' audio is read (mixture_infos reads the tables, no audio).
    paths = {
        (info.mixture_id, info.condition): path
        for info, path in dataset.mixture_infos(split)
        if info.mixture_id in wanted and info.condition in {"none", *conditions}
    }

    def l1(path: Path) -> torch.Tensor:
        audio = to_mono(read_audio(path)[0]).astype(np.float32)
        mag, _ = magnitude(torch.from_numpy(audio)[None], config.n_fft, config.hop)
        return mag[0]

    clean = {key: l1(paths[(key, "none")]) for key in ids}
    fractions = []
    for cond in conditions:
        if cond == "none":
            fractions += [0.0] * len(clean)
            continue
        for key in ids:
            x = l1(paths[(key, cond)])
            frames = non_silent_frames(x[None], config.silence_ratio)[0]
            ratio = sources[(key, cond)] / max(sources[(key, "none")], 1e-30)
            kept = float((clean[key] * frames).sum()) * ratio**0.5
            fractions.append(min(max(1.0 - kept / max(float((x * frames).sum()), 1e-30), 0.0), 1.0))
    return float(np.mean(fractions)) if fractions else 0.0


class Trainer:
    """Holds the networks and the fixed tensors (mel filterbank) for one configuration."""

    def __init__(self, config: WeakSepConfig, n_classes: int):
        self.config = config
        if config.separator_arch == "original":
            self.separator = OriginalUNet(n_classes, config.unet_channels, config.unet_levels)
        else:
            self.separator = UNet(
                n_classes, config.unet_channels, config.unet_kernel, config.unet_levels
            )
        if config.classifier_arch == "original":
            self.classifier = OriginalCRNN(
                n_classes,
                config.n_fft // 2 + 1,
                config.classifier_channels,
                config.lstm_hidden,
                config.classifier_bias,
            )
        else:
            self.classifier = CRNN(n_classes, config.classifier_channels, config.lstm_hidden)
        mel = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels)
        self.device = torch.device(config.device)
        self.separator.to(self.device)
        self.classifier.to(self.device)
        self.filterbanks = {"linear": None, "mel": torch.from_numpy(mel).float().to(self.device)}
        self.window_sum = float(sqrt_hann(config.n_fft).sum())

    def spectra(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixture magnitude ``(B, F, T)`` and the separator's input features, on the device."""
        mag, _ = magnitude(audio.to(self.device), self.config.n_fft, self.config.hop)
        if self.config.separator_arch == "original":
            return mag, original_features(mag / self.window_sum)
        return mag, log_features(mag)

    def classify(self, mag: torch.Tensor) -> torch.Tensor:
        """Clip-level presence probabilities ``(B, K)`` of magnitude spectrograms (window-
        scaled linear magnitude for the original CRNN, log-mel for the compact one)."""
        if self.config.classifier_arch == "original":
            return self.classifier((mag / self.window_sum).unsqueeze(1))
        return self.classifier(log_mel(mag, self.filterbanks["mel"]))

    def loss_terms(self, audio: torch.Tensor, labels: torch.Tensor, margin: float) -> dict:
        """Every separator loss term on one batch of audio (classifier frozen)."""
        x, feats = self.spectra(audio)
        return self.objective(x, self.separator(feats), labels, margin)

    def objective(
        self, x: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor, margin: float
    ) -> dict[str, torch.Tensor]:
        """Every loss term and their weighted ``total`` for any masks ``(B, K, F, T)`` of
        mixture magnitudes ``x`` ``(B, F, T)``; ``margin``: the fraction of each clip's
        mixture magnitude sources may leave out (:func:`training_margin`), used when
        ``use_margin``."""
        c = self.config
        frames = non_silent_frames(x, c.silence_ratio)
        # Window-scaled magnitudes (the original's `window_scaling`): a full-scale sinusoid
        # peaks at 0.5, so the loss weights mean what they mean in the original.
        scaled = x / self.window_sum
        # With a margin, the asymmetric margin term *replaces* the plain mixture term (as in
        # the original's margin configs); beside it, a symmetric term would cancel the margin.
        relative = c.consistency_scale == "relative"
        room = margin if c.use_margin else None
        terms = {
            "mixture": consistency_loss(scaled, masks, labels, frames, None, "tf", room, relative)
        }
        consistency = [
            consistency_loss(
                scaled, masks, labels, frames, self.filterbanks[fb], agg, room, relative
            )
            for fb, agg in c.energy_resolutions
        ]
        terms["consistency"] = torch.stack(consistency).mean() if consistency else x.new_zeros(())
        b, k = labels.shape
        sources = (x[:, None] * masks).reshape(b * k, *x.shape[1:])
        terms["critic"] = critic_loss(self.classify(sources).reshape(b, k, k), labels)
        if c.background_classification:
            residual = x * torch.clamp(1 - masks.sum(dim=1), min=0.0)
            terms["background"] = background_loss(self.classify(residual))
        weights = {
            "mixture": c.weight_mixture,
            "consistency": c.weight_consistency,
            "critic": c.weight_critic,
            "background": c.weight_background,
        }
        terms["total"] = sum(weights[n] * v for n, v in terms.items())
        return terms


def objective_at_reference_masks(
    trainer: Trainer, dataset: GeneratedDataset, split: str, condition: str, n: int = 24
) -> dict[str, float]:
    """Mean total loss over the first ``n`` mixtures of ``condition`` at each of
    :func:`~.losses.reference_masks` (needs a dataset with saved sources), with the
    training split's margin of that condition: what the objective prefers."""
    margin = training_margin(dataset, "train", condition, trainer.config)

    def mag(audio: np.ndarray) -> torch.Tensor:
        return trainer.spectra(torch.from_numpy(audio.astype(np.float32))[None])[0][0]

    totals: dict[str, list[float]] = {}
    for i, mix in enumerate(dataset.mixtures(split, (condition,))):
        if i == n:
            break
        x = mag(mix.audio)
        tracks = dataset.sources(mix)
        path = mix.sources_dir / f"background{mix.audio_path.suffix}"
        background = mag(to_mono(read_audio(path)[0])) if path.is_file() else torch.zeros_like(x)
        labels = torch.tensor([float(mix.labels[c]) for c in dataset.classes])
        sources = torch.stack(
            [mag(tracks[c]) if c in tracks else torch.zeros_like(x) for c in dataset.classes]
        )
        for name, masks in reference_masks(sources, background, labels).items():
            with torch.no_grad():
                terms = trainer.objective(x[None], masks.clamp(0, 1)[None], labels[None], margin)
            totals.setdefault(name, []).append(float(terms["total"]))
    return {name: float(np.mean(v)) for name, v in totals.items()}


def mixture_loader(dataset, split, config, generator, shuffle, condition=None):
    """Batches of (audio, labels) of one condition (all with None), as training reads them;
    ``max_train_mixtures`` keeps an evenly spaced subset."""
    ds = torch_dataset(dataset, split, None if condition is None else (condition,))
    limit = config.max_train_mixtures
    if limit is not None and len(ds) > limit:
        step = len(ds) / limit
        ds = torch.utils.data.Subset(ds, [int(i * step) for i in range(limit)])
    return torch.utils.data.DataLoader(
        ds, batch_size=config.batch_size, shuffle=shuffle, generator=generator
    )


def _silent_clips(audio, labels, silence: float, gains: torch.Generator):
    """The batch plus ``silence`` x its size near-silent clips (mixtures scaled by a gain
    drawn in [0, 1e-3]) labelled "no class"."""
    k = int(round(silence * len(labels)))
    if not k:
        return audio, labels
    quiet = audio[:k] * torch.rand(k, 1, generator=gains) * 1e-3
    return torch.cat([audio, quiet]), torch.cat([labels, torch.zeros(k, labels.shape[1])])


def _classifier_bce(
    trainer: Trainer, loader, silence: float, gains: torch.Generator, opt=None
) -> float:
    """Mean BCE of the classifier over one pass of ``loader`` (a training epoch with
    ``opt``); the silent clips' gains are drawn from ``gains``."""
    trainer.classifier.train(opt is not None)
    total, n = 0.0, 0
    with torch.set_grad_enabled(opt is not None):
        for audio, labels in loader:
            audio, labels = _silent_clips(audio, labels, silence, gains)
            labels = labels.to(trainer.device)
            mag, _ = trainer.spectra(audio)
            loss = torch.nn.functional.binary_cross_entropy(trainer.classify(mag), labels)
            if opt is not None:
                opt.zero_grad()
                loss.backward()
                opt.step()
            total, n = total + float(loss.detach()) * len(labels), n + len(labels)
    return total / max(n, 1)


def train_classifier(
    trainer: Trainer,
    loader,
    epochs: int,
    lr: float,
    log,
    silence: float = 0.0,
    seed: int = 0,
    valid=None,
    patience: int | None = None,
) -> list[float]:
    """Pretrain the CRNN on mixtures with clip labels (BCE), then freeze it.

    ``silence``: per batch, that fraction of near-silent clips (mixtures scaled by a gain
    drawn in [0, 1e-3], seeded) is added with all-negative labels, so the frozen critic
    says "no class" on silence instead of guessing. With a ``valid`` loader and a
    ``patience``, training stops after ``patience`` epochs without a lower validation BCE
    and the best epoch's weights are kept (the original's schedule). Returns the
    training BCE per epoch run.
    """
    opt = torch.optim.Adam(trainer.classifier.parameters(), lr=lr)
    gains = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    best, best_state, stale = float("inf"), None, 0
    for epoch in range(epochs):
        losses.append(_classifier_bce(trainer, loader, silence, gains, opt))
        line = f"classifier epoch {epoch + 1}/{epochs}: bce {losses[-1]:.4f}"
        if valid is not None and patience is not None:
            # the same silent clips every epoch: scores comparable across epochs
            fixed = torch.Generator().manual_seed(seed)
            score = _classifier_bce(trainer, valid, silence, fixed)
            line += f" | valid bce {score:.4f}"
            if score < best:
                best, stale = score, 0
                best_state = {k: v.clone() for k, v in trainer.classifier.state_dict().items()}
            else:
                stale += 1
        log(line)
        if patience is not None and stale >= patience:
            log(f"classifier: early stopping after epoch {epoch + 1} (patience {patience})")
            break
    if best_state is not None:
        trainer.classifier.load_state_dict(best_state)
    freeze(trainer.classifier)
    return losses


#: Config fields the separator alone uses: they do not change the pretrained classifier.
SEPARATOR_ONLY = frozenset(
    {
        "unet_channels",
        "unet_kernel",
        "unet_levels",
        "separator_arch",
        "silence_ratio",
        "weight_mixture",
        "weight_consistency",
        "weight_critic",
        "weight_background",
        "energy_resolutions",
        "margin",
        "use_margin",
        "background_classification",
        "learning_rate",
        "epochs",
        "patience",
        "weighting",
        "presence_threshold",
        "consistency_scale",
        "conditions",
    }
)


def classifier_key(config: WeakSepConfig, dataset: GeneratedDataset, split: str) -> str:
    """sha256 of everything the shared classifier depends on: the config fields it uses
    and the training split's ground truth (by its manifest hash)."""
    relevant = {k: v for k, v in asdict(config).items() if k not in SEPARATOR_ONLY}
    blob = json.dumps(
        {
            "config": relevant,
            "dataset": dataset.manifest.get("recipe_hash"),
            "split": split,
            "truth": dataset.manifest["files"].get(f"ground_truth/{split}.csv"),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def pretrain_shared_classifier(
    config: WeakSepConfig,
    dataset: GeneratedDataset,
    split: str,
    folder: Path | None,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, torch.Tensor], list[float]]:
    """One classifier on every condition's training mixtures (``max_train_mixtures`` per
    condition), saved as ``folder/classifier-{key}.pt`` (:func:`classifier_key`) and
    reused from there only by a run whose key is the same (an experiment's variants
    that differ in separator settings share one).

    Returns its weights and per-epoch BCE. A classifier that has only heard loud
    backgrounds cannot judge clean separated sources; pooled, it hears all of them.
    """
    name = f"classifier-{classifier_key(config, dataset, split)[:20]}.pt"
    path = None if folder is None else Path(folder) / name
    if path is not None and path.is_file():
        saved = torch.load(path, weights_only=False, map_location="cpu")
        log(f"classifier: reusing {path}")
        return saved["classifier"], saved["losses"]
    c = config
    if c.threads:
        torch.set_num_threads(c.threads)
    generator = seed_everything(c.seed)
    trainer = Trainer(c, len(dataset.classes))
    limit = c.max_train_mixtures
    pooled = replace(
        c, max_train_mixtures=None if limit is None else limit * len(dataset.conditions)
    )
    loader = mixture_loader(dataset, split, pooled, generator, shuffle=True)
    valid = _valid_split(dataset, split)
    log("weak-sep: pretraining one classifier on all conditions")
    losses = train_classifier(
        trainer,
        loader,
        c.classifier_epochs,
        c.classifier_learning_rate,
        log,
        c.classifier_silence,
        c.seed,
        valid and mixture_loader(dataset, valid, pooled, generator, shuffle=False),
        c.classifier_patience,
    )
    weights = {k: v.cpu() for k, v in trainer.classifier.state_dict().items()}
    if path is not None:
        buf = io.BytesIO()
        torch.save({"classifier": weights, "losses": losses}, buf)
        write_bytes(path.parent, path.name, buf.getvalue())
    return weights, losses


def freeze(network: torch.nn.Module) -> None:
    """Evaluation mode, no gradients: the classifier once pretrained."""
    network.eval()
    for p in network.parameters():
        p.requires_grad_(False)


def _epoch(trainer: Trainer, loader, margin: float, opt=None) -> dict[str, float]:
    sums: dict[str, float] = {}
    n = 0
    trainer.separator.train(opt is not None)
    with torch.set_grad_enabled(opt is not None):
        for audio, labels in loader:
            terms = trainer.loss_terms(audio, labels.to(trainer.device), margin)
            if opt is not None:
                opt.zero_grad()
                terms["total"].backward()
                opt.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(labels)
            n += len(labels)
    return {k: v / n for k, v in sums.items()}


@dataclass
class Progress:
    """Where training stands: history, best validation loss and weights, epochs without gain."""

    history: dict[str, Any]
    best: float = float("inf")
    best_state: dict[str, torch.Tensor] | None = None
    stale: int = 0


def save_checkpoint(path: Path, trainer: Trainer, opt, generator, progress: Progress) -> None:
    """Everything a resumed run needs, written atomically."""
    buf = io.BytesIO()
    torch.save(
        {
            "separator": trainer.separator.state_dict(),
            "classifier": trainer.classifier.state_dict(),
            "optimizer": opt.state_dict(),
            "progress": asdict(progress),
            "torch_rng": torch.get_rng_state(),
            "loader_rng": generator.get_state(),
        },
        buf,
    )
    write_bytes(path.parent, path.name, buf.getvalue())


def load_checkpoint(path: Path, trainer: Trainer, opt, generator) -> Progress:
    """Restore networks (classifier frozen), optimiser and random states from ``path``."""
    state = torch.load(path, weights_only=False, map_location=trainer.device)
    trainer.separator.load_state_dict(state["separator"])
    trainer.classifier.load_state_dict(state["classifier"])
    freeze(trainer.classifier)
    opt.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    generator.set_state(state["loader_rng"])
    return Progress(**state["progress"])


def _valid_split(dataset: GeneratedDataset, split: str) -> str | None:
    """The split that validates training on ``split``: ``valid`` when there is one."""
    return "valid" if "valid" in dataset.splits and split != "valid" else None


def fit(
    config: WeakSepConfig,
    dataset: GeneratedDataset,
    split: str,
    workdir: Path | None,
    log: Callable[[str], None] = print,
    condition: str | None = None,
    classifier: tuple[dict[str, torch.Tensor], list[float]] | None = None,
) -> tuple[Trainer, dict[str, Any]]:
    """Seed, build and train both networks on one background condition's mixtures (as the
    paper trains one model per condition; all conditions pooled with ``condition=None``).

    The margin is that condition's own training-set average unless the config fixes
    one. ``classifier``: pretrained weights and their BCE history to freeze and use
    (see :func:`pretrain_shared_classifier`); None pretrains one on this condition.
    Returns the networks and the history (loss terms, margin, condition).
    """
    c = config
    if c.threads:
        torch.set_num_threads(c.threads)
    generator = seed_everything(c.seed)
    trainer = Trainer(c, len(dataset.classes))
    margin = c.margin if c.margin is not None else training_margin(dataset, split, condition, c)
    train_loader = mixture_loader(dataset, split, c, generator, shuffle=True, condition=condition)
    valid = _valid_split(dataset, split)
    valid_loader = (
        mixture_loader(dataset, valid, c, generator, shuffle=False, condition=condition)
        if valid
        else None
    )
    ckpt = None if workdir is None else Path(workdir) / "checkpoint.pt"
    opt = torch.optim.Adam(trainer.separator.parameters(), lr=c.learning_rate)
    if ckpt is not None and ckpt.is_file():
        progress = load_checkpoint(ckpt, trainer, opt, generator)
        log(f"resuming from {ckpt} after epoch {len(progress.history['epochs'])}")
    else:
        progress = Progress(
            {"classifier": [], "epochs": [], "margin": margin, "condition": condition}
        )
        if classifier is not None:
            trainer.classifier.load_state_dict(classifier[0])
            freeze(trainer.classifier)
            progress.history["classifier"] = list(classifier[1])
        else:
            progress.history["classifier"] = train_classifier(
                trainer,
                train_loader,
                c.classifier_epochs,
                c.classifier_learning_rate,
                log,
                c.classifier_silence,
                c.seed,
                valid_loader,
                c.classifier_patience,
            )
    first = len(progress.history["epochs"])
    # A unit that stopped early stays stopped when resumed.
    for epoch in range(first, c.epochs if progress.stale < c.patience else first):
        train_terms = _epoch(trainer, train_loader, margin, opt)
        valid_terms = _epoch(trainer, valid_loader, margin) if valid_loader else train_terms
        progress.history["epochs"].append({"train": train_terms, "valid": valid_terms})
        terms = ", ".join(f"{k} {v:.4f}" for k, v in train_terms.items())
        log(f"epoch {epoch + 1}/{c.epochs}: {terms} | valid total {valid_terms['total']:.4f}")
        if valid_terms["total"] < progress.best:
            progress.best, progress.stale = valid_terms["total"], 0
            progress.best_state = {k: v.clone() for k, v in trainer.separator.state_dict().items()}
        else:
            progress.stale += 1
        if ckpt is not None:
            save_checkpoint(ckpt, trainer, opt, generator, progress)
        if progress.stale >= c.patience:
            log(f"early stopping after epoch {epoch + 1} (patience {c.patience})")
            break
    if progress.best_state is not None:
        trainer.separator.load_state_dict(progress.best_state)
    trainer.separator.eval()
    return trainer, progress.history
