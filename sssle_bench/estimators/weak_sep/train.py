"""Training a weak-sep separator on one condition: its margin, then every epoch with every
loss; seeded and resumable.

Each epoch logs its loss terms, saves ``checkpoint.pt`` (weights, optimiser,
history, random states) in the work folder and keeps the best weights by
validation loss; a rerun with the same work folder resumes from the checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...audio import read_audio
from ...dataset import GeneratedDataset, background_name, has_background
from ...errors import SssleError
from ...executors import run_spawned
from ...levels import to_mono
from ...paths import remove_file, write_bytes
from ..progress import TrainingProgress, epoch_seconds, write_progress
from .config import WeakSepConfig
from .critic import pretrain
from .losses import dataset_margin, magnitude_margin, non_silent_frames, reference_masks
from .models import magnitude
from .torch_files import load_torch_file, load_weights
from .trainer import Trainer, freeze, mixture_loader, seed_everything, valid_split


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


def objective_at_reference_masks(
    trainer: Trainer,
    dataset: GeneratedDataset,
    split: str,
    condition: str,
    n: int = 24,
    terms: bool = False,
) -> dict[str, Any]:
    """Mean total loss over the first ``n`` mixtures of ``condition`` at each of
    :func:`~.losses.reference_masks` (needs a dataset with saved sources), with the
    training split's margin of that condition: what the objective prefers. With
    ``terms``: every loss term's mean (a dict per mask set) instead of the total."""
    margin = training_margin(dataset, "train", condition, trainer.config)

    def mag(audio: np.ndarray) -> torch.Tensor:
        return trainer.spectra(torch.from_numpy(audio.astype(np.float32))[None])[0][0]

    sums: dict[str, dict[str, list[float]]] = {}
    flag = torch.tensor([float(has_background(condition))])
    for i, mix in enumerate(dataset.mixtures(split, (condition,))):
        if i == n:
            break
        x = mag(mix.audio)
        tracks = dataset.sources(mix)
        path = mix.sources_dir / background_name(mix.audio_path)
        background = mag(to_mono(read_audio(path)[0])) if path.is_file() else torch.zeros_like(x)
        labels = torch.tensor([float(mix.labels[c]) for c in dataset.classes])
        sources = torch.stack(
            [mag(tracks[c]) if c in tracks else torch.zeros_like(x) for c in dataset.classes]
        )
        for name, masks in reference_masks(sources, background, labels).items():
            with torch.no_grad():
                values = trainer.objective(
                    x[None], masks.clamp(0, 1)[None], labels[None], margin, flag
                )
            for term, value in values.items():
                sums.setdefault(name, {}).setdefault(term, []).append(float(value))
    means = {name: {t: float(np.mean(v)) for t, v in d.items()} for name, d in sums.items()}
    return means if terms else {name: d["total"] for name, d in means.items()}


def _epoch(trainer: Trainer, loader, margin: float, opt=None) -> dict[str, float]:
    sums: dict[str, float] = {}
    n = 0
    trainer.separator.train(opt is not None)
    with torch.set_grad_enabled(opt is not None):
        for audio, labels, background in loader:
            terms = trainer.loss_terms(audio, labels.to(trainer.device), margin, background)
            if opt is not None:
                opt.zero_grad()
                terms["total"].backward()
                opt.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(labels)
            n += len(labels)
    return {k: v / n for k, v in sums.items()}


def _valid_loader(
    dataset: GeneratedDataset,
    split: str,
    config: WeakSepConfig,
    generator: torch.Generator,
    condition: str | None,
):
    """The batches that validate training on ``split`` (in order); None without a
    validation split."""
    valid = valid_split(dataset, split)
    if valid is None:
        return None
    return mixture_loader(dataset, valid, config, generator, shuffle=False, condition=condition)


def validation_terms(
    trainer: Trainer,
    dataset: GeneratedDataset,
    split: str,
    condition: str | None,
    margin: float,
) -> dict[str, float] | None:
    """The loss terms of ``trainer``'s networks, as they stand, on the mixtures that
    validate training on ``split`` (one pass in order, no gradients, nothing drawn at
    random): the ``valid`` figures :func:`fit` records after an epoch that left these
    weights. None when the dataset has no validation split."""
    loader = _valid_loader(dataset, split, trainer.config, torch.Generator(), condition)
    return None if loader is None else _epoch(trainer, loader, margin)


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


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of a state dict's tensors (names and bytes, in name order)."""
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


#: What a training checkpoint holds (:func:`save_checkpoint`).
CHECKPOINT_KEYS = ("separator", "classifier", "optimizer", "progress", "torch_rng", "loader_rng")


def _read_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """A training checkpoint's contents, weights only (:func:`.torch_files.load_torch_file`)."""
    state = load_torch_file(path, "training checkpoint", CHECKPOINT_KEYS, device)
    progress = state["progress"]
    fields = set(Progress.__dataclass_fields__)
    if not isinstance(progress, dict) or set(progress) != fields:
        raise SssleError(f"{path}: not a training checkpoint this tool wrote; delete it")
    if not isinstance(progress["history"], dict):
        raise SssleError(f"{path}: its training history is not a table; delete it")
    return state


def _started_from(path: Path) -> str | None:
    """The warm start digest a checkpoint records (None: it started from scratch)."""
    return _read_checkpoint(path)["progress"]["history"].get("warm_start_sha256")


def load_checkpoint(path: Path, trainer: Trainer, opt, generator) -> Progress:
    """Restore networks (classifier frozen), optimiser and random states from ``path``."""
    state = _read_checkpoint(path, trainer.device)
    load_weights(trainer.separator, state["separator"], path, "separator")
    load_weights(trainer.classifier, state["classifier"], path, "classifier")
    freeze(trainer.classifier)
    try:
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        generator.set_state(state["loader_rng"])
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise SssleError(f"{path}: its optimiser or random state is unreadable; delete it") from exc
    return Progress(**state["progress"])


def fit(
    config: WeakSepConfig,
    dataset: GeneratedDataset,
    split: str,
    workdir: Path | None,
    log: Callable[[str], None] = print,
    condition: str | None = None,
    classifier: tuple[dict[str, torch.Tensor], list[float]] | None = None,
    separator_init: dict[str, torch.Tensor] | None = None,
) -> tuple[Trainer, dict[str, Any]]:
    """Seed, build and train both networks on one background condition's mixtures (as the
    paper trains one model per condition; all conditions pooled with ``condition=None``).

    The margin is that condition's own training-set average unless the config fixes
    one. ``classifier``: pretrained weights and their BCE history to freeze and use
    (see :func:`pretrain_shared_classifier`); None pretrains one on this condition.
    ``separator_init``: weights a fresh separator starts from (``warm_start``).
    Returns the networks and the history (loss terms, margin, condition).
    """
    c = config
    if c.threads:
        torch.set_num_threads(c.threads)
    generator = seed_everything(c.seed)
    trainer = Trainer(c, len(dataset.classes))
    margin = c.margin if c.margin is not None else training_margin(dataset, split, condition, c)
    train_loader = mixture_loader(dataset, split, c, generator, shuffle=True, condition=condition)
    valid_loader = _valid_loader(dataset, split, c, generator, condition)
    ckpt = None if workdir is None else Path(workdir) / "checkpoint.pt"
    opt = torch.optim.Adam(trainer.separator.parameters(), lr=c.learning_rate)
    start = None if separator_init is None else weights_digest(separator_init)
    if ckpt is not None and ckpt.is_file() and _started_from(ckpt) != start:
        # a checkpoint warm-started from other weights belongs to another run
        log(f"{ckpt} did not start from this warm start: training {condition} again")
        remove_file(ckpt.parent, ckpt.name)
    if ckpt is not None and ckpt.is_file():
        progress = load_checkpoint(ckpt, trainer, opt, generator)
        log(f"resuming from {ckpt} after epoch {len(progress.history['epochs'])}")
    else:
        progress = Progress(
            {"classifier": [], "epochs": [], "margin": margin, "condition": condition}
        )
        if separator_init is not None:
            trainer.separator.load_state_dict(separator_init)
            progress.history["warm_start"] = c.warm_start
            progress.history["warm_start_sha256"] = start
        if classifier is not None:
            trainer.classifier.load_state_dict(classifier[0])
            freeze(trainer.classifier)
            progress.history["classifier"] = list(classifier[1])
        else:
            progress.history["classifier"] = pretrain(
                trainer,
                dataset,
                split,
                c,
                generator,
                log,
                condition,
                None if ckpt is None else ckpt.with_name("checkpoint-classifier.pt"),
            )
    first = len(progress.history["epochs"])
    # A unit that stopped early stays stopped when resumed.
    for epoch in range(first, c.epochs if progress.stale < c.patience else first):
        start_s = time.perf_counter()
        train_terms = _epoch(trainer, train_loader, margin, opt)
        valid_terms = _epoch(trainer, valid_loader, margin) if valid_loader else train_terms
        seconds = time.perf_counter() - start_s
        progress.history["epochs"].append(
            {"train": train_terms, "valid": valid_terms, "seconds": seconds}
        )
        terms = ", ".join(f"{k} {v:.4f}" for k, v in train_terms.items())
        log(f"epoch {epoch + 1}/{c.epochs}: {terms} | valid total {valid_terms['total']:.4f}")
        if valid_terms["total"] < progress.best:
            progress.best, progress.stale = valid_terms["total"], 0
            progress.best_state = {k: v.clone() for k, v in trainer.separator.state_dict().items()}
        else:
            progress.stale += 1
        if ckpt is not None:
            save_checkpoint(ckpt, trainer, opt, generator, progress)
            epochs = progress.history["epochs"]
            best = min(range(len(epochs)), key=lambda i: epochs[i]["valid"]["total"])
            report = TrainingProgress(
                len(epochs), c.epochs, best + 1, progress.stale, c.patience, epoch_seconds(epochs)
            )
            write_progress(ckpt.parent, report)
        if progress.stale >= c.patience:
            log(f"early stopping after epoch {epoch + 1} (patience {c.patience})")
            break
    if progress.best_state is not None:
        trainer.separator.load_state_dict(progress.best_state)
    trainer.separator.eval()
    return trainer, progress.history


def _fit_condition(
    config: WeakSepConfig,
    root: Path,
    split: str,
    workdir: Path,
    condition: str,
    classifier: tuple[dict[str, torch.Tensor], list[float]] | None,
    separator_init: dict[str, torch.Tensor] | None = None,
) -> None:
    """One condition's :func:`fit` in a worker process; its checkpoint is the result."""
    fit(
        config,
        GeneratedDataset(root),
        split,
        workdir / "conditions" / condition,
        lambda line: print(f"[{condition}] {line}", flush=True),
        condition,
        classifier,
        separator_init,
    )


def fit_in_parallel(
    config: WeakSepConfig,
    dataset: GeneratedDataset,
    split: str,
    workdir: Path,
    conditions: tuple[str, ...] | list[str],
    classifier: tuple[dict[str, torch.Tensor], list[float]] | None,
    jobs: int,
    separator_init: dict[str, torch.Tensor] | None = None,
) -> None:
    """Train the conditions' models ``jobs`` at a time in spawned processes, each into its
    checkpoint under ``workdir/conditions/{condition}``; a later :func:`fit` of a condition
    then only loads its finished checkpoint. Each condition's model is seeded on its own,
    so the weights are those of a serial run."""
    calls = [
        (config, dataset.root, split, workdir, c, classifier, separator_init) for c in conditions
    ]
    for _ in run_spawned(_fit_condition, calls, jobs):
        pass
