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

import torch

from ...dataset import GeneratedDataset
from ...errors import SssleError
from ...executors import run_spawned
from ...paths import remove_file, write_bytes
from ..progress import TrainingProgress, epoch_seconds, write_progress
from .config import WeakSepConfig
from .critic import pretrain
from .data import mixture_loader, seed_everything, training_margin, validation_loader
from .networks import freeze
from .objective import Model
from .torch_files import load_torch_file, load_weights


def _epoch(model: Model, loader, margin: float, opt=None) -> dict[str, float]:
    sums: dict[str, float] = {}
    n = 0
    model.separator.train(opt is not None)
    with torch.set_grad_enabled(opt is not None):
        for audio, labels, background in loader:
            terms = model.loss_terms(audio, labels.to(model.device), margin, background)
            if opt is not None:
                opt.zero_grad()
                terms["total"].backward()
                opt.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(labels)
            n += len(labels)
    return {k: v / n for k, v in sums.items()}


def validation_terms(
    model: Model,
    dataset: GeneratedDataset,
    split: str,
    condition: str | None,
    margin: float,
) -> dict[str, float] | None:
    """The loss terms of ``model``'s networks, as they stand, on the mixtures that
    validate training on ``split`` (one pass in order, no gradients, nothing drawn at
    random): the ``valid`` figures :func:`fit` records after an epoch that left these
    weights. None when the dataset has no validation split."""
    loader = validation_loader(dataset, split, model.config, torch.Generator(), condition)
    return None if loader is None else _epoch(model, loader, margin)


@dataclass
class Progress:
    """Where training stands: history, best validation loss and weights, epochs without gain."""

    history: dict[str, Any]
    best: float = float("inf")
    best_state: dict[str, torch.Tensor] | None = None
    stale: int = 0


def save_checkpoint(path: Path, model: Model, opt, generator, progress: Progress) -> None:
    """Everything a resumed run needs, written atomically."""
    buf = io.BytesIO()
    torch.save(
        {
            "separator": model.separator.state_dict(),
            "classifier": model.classifier.state_dict(),
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


def load_checkpoint(path: Path, model: Model, opt, generator) -> Progress:
    """Restore networks (classifier frozen), optimiser and random states from ``path``."""
    state = _read_checkpoint(path, model.device)
    load_weights(model.separator, state["separator"], path, "separator")
    load_weights(model.classifier, state["classifier"], path, "classifier")
    freeze(model.classifier)
    try:
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        generator.set_state(state["loader_rng"])
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise SssleError(f"{path}: its optimiser or random state is unreadable; delete it") from exc
    return Progress(**state["progress"])


def _critic(
    model: Model,
    classifier: tuple[dict[str, torch.Tensor], list[float]] | None,
    dataset: GeneratedDataset,
    split: str,
    condition: str | None,
    *,
    generator: torch.Generator,
    log: Callable[[str], None],
    checkpoint: Path | None,
) -> list[float]:
    """Load and freeze the given pretrained ``classifier`` (weights, BCE history) into
    ``model``, or pretrain one on ``dataset``'s ``split`` in ``condition`` (checkpointed
    at ``checkpoint``); returns its BCE history."""
    if classifier is not None:
        model.classifier.load_state_dict(classifier[0])
        freeze(model.classifier)
        return list(classifier[1])
    return pretrain(model, dataset, split, model.config, generator, log, condition, checkpoint)


def fit(
    config: WeakSepConfig,
    dataset: GeneratedDataset,
    split: str,
    workdir: Path | None,
    log: Callable[[str], None] = print,
    condition: str | None = None,
    classifier: tuple[dict[str, torch.Tensor], list[float]] | None = None,
    separator_init: dict[str, torch.Tensor] | None = None,
) -> tuple[Model, dict[str, Any]]:
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
    model = Model(c, len(dataset.classes))
    margin = c.margin if c.margin is not None else training_margin(dataset, split, condition, c)
    train_loader = mixture_loader(dataset, split, c, generator, shuffle=True, condition=condition)
    valid_loader = validation_loader(dataset, split, c, generator, condition)
    ckpt = None if workdir is None else Path(workdir) / "checkpoint.pt"
    opt = torch.optim.Adam(model.separator.parameters(), lr=c.learning_rate)
    start = None if separator_init is None else weights_digest(separator_init)
    if ckpt is not None and ckpt.is_file() and _started_from(ckpt) != start:
        # a checkpoint warm-started from other weights belongs to another run
        log(f"{ckpt} did not start from this warm start: training {condition} again")
        remove_file(ckpt.parent, ckpt.name)
    if ckpt is not None and ckpt.is_file():
        progress = load_checkpoint(ckpt, model, opt, generator)
        log(f"resuming from {ckpt} after epoch {len(progress.history['epochs'])}")
    else:
        history = {"classifier": [], "epochs": [], "margin": margin, "condition": condition}
        progress = Progress(history)
        if separator_init is not None:
            model.separator.load_state_dict(separator_init)
            history.update(warm_start=c.warm_start, warm_start_sha256=start)
        critic_ckpt = None if ckpt is None else ckpt.with_name("checkpoint-classifier.pt")
        history["classifier"] = _critic(
            model,
            classifier,
            dataset,
            split,
            condition,
            generator=generator,
            log=log,
            checkpoint=critic_ckpt,
        )
    first = len(progress.history["epochs"])
    # A unit that stopped early stays stopped when resumed.
    for epoch in range(first, c.epochs if progress.stale < c.patience else first):
        start_s = time.perf_counter()
        train_terms = _epoch(model, train_loader, margin, opt)
        valid_terms = _epoch(model, valid_loader, margin) if valid_loader else train_terms
        seconds = time.perf_counter() - start_s
        progress.history["epochs"].append(
            {"train": train_terms, "valid": valid_terms, "seconds": seconds}
        )
        terms = ", ".join(f"{k} {v:.4f}" for k, v in train_terms.items())
        log(f"epoch {epoch + 1}/{c.epochs}: {terms} | valid total {valid_terms['total']:.4f}")
        if valid_terms["total"] < progress.best:
            progress.best, progress.stale = valid_terms["total"], 0
            progress.best_state = {k: v.clone() for k, v in model.separator.state_dict().items()}
        else:
            progress.stale += 1
        if ckpt is not None:
            save_checkpoint(ckpt, model, opt, generator, progress)
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
        model.separator.load_state_dict(progress.best_state)
    model.separator.eval()
    return model, progress.history


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
