"""The critic: the clip classifier, pretrained on mixtures with clip labels, then frozen.

Each pretraining batch may be extended with clips whose labels are known without
looking inside any mixture: near-silent clips ("no class") and background-only
clips ("no class"; "background present" for a classifier with a background
output). One classifier may serve every condition's separator
(:func:`pretrain_shared_classifier`), cached under a name that proves its inputs.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ...audio import read_audio
from ...dataset import GeneratedDataset, background_tracks
from ...errors import SssleError
from ...levels import to_mono
from ...paths import write_bytes
from .config import WeakSepConfig
from .data import mixture_loader, seed_everything, valid_split
from .losses import classifier_targets
from .networks import freeze
from .objective import Model
from .torch_files import load_torch_file, load_weights


@dataclass(frozen=True)
class Extras:
    """Clips added to each pretraining batch, as fractions of its size: near-silent clips
    (the batch's first mixtures scaled by a gain in [0, 1e-3]) and background-only clips
    drawn from ``pool`` (saved background tracks)."""

    silence: float = 0.0
    background: float = 0.0
    pool: tuple[Path, ...] = ()


def pretraining_extras(
    config: WeakSepConfig,
    dataset: GeneratedDataset,
    split: str,
    conditions: tuple[str, ...] | None = None,
) -> Extras:
    """The extra clips of ``config`` for pretraining on ``split`` (``conditions``: None =
    all); background clips need a dataset generated with ``--save-sources``."""
    pool: tuple[Path, ...] = ()
    if config.classifier_background > 0:
        pool = tuple(background_tracks(dataset, split, conditions))
        if not pool:
            raise SssleError(
                f"weak-sep: classifier_background needs saved background tracks of the {split} "
                f"split's background conditions; generate {dataset.root} with --save-sources "
                "or set classifier_background = 0"
            )
    return Extras(config.classifier_silence, config.classifier_background, pool)


def extra_clips(
    audio: torch.Tensor,
    labels: torch.Tensor,
    background: torch.Tensor,
    extras: Extras,
    draws: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The batch ``(audio (B, n), labels (B, K), background (B,))`` plus its extra clips,
    all labelled "no class"; silent clips have no background, background clips have one.
    Gains and background picks are drawn from ``draws`` (silence first). Also returns
    each clip's gain ``(B',)`` relative to the clip it was made from (a silent clip's is
    its scale factor, every other clip's 1)."""
    n, k = len(labels), labels.shape[1]
    parts = [(audio, labels, background, torch.ones(n))]
    quiet = int(round(extras.silence * n))
    if quiet:
        gains = torch.rand(quiet, 1, generator=draws) * 1e-3
        silent = (audio[:quiet] * gains, torch.zeros(quiet, k), torch.zeros(quiet), gains[:, 0])
        parts.append(silent)
    count = int(round(extras.background * n)) if extras.pool else 0
    if count:
        picks = torch.randint(len(extras.pool), (count,), generator=draws).tolist()
        clips = [to_mono(read_audio(extras.pool[i])[0]).astype(np.float32) for i in picks]
        ones = torch.ones(count)
        parts.append((torch.from_numpy(np.stack(clips)), torch.zeros(count, k), ones, ones))
    return tuple(torch.cat(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]


def _classifier_bce(
    model: Model, loader, extras: Extras, draws: torch.Generator, opt=None
) -> float:
    """Mean BCE of the classifier over one pass of ``loader`` with its extra clips (a
    training epoch with ``opt``)."""
    model.classifier.train(opt is not None)
    with_background = model.config.background_critic
    total, n = 0.0, 0
    with torch.set_grad_enabled(opt is not None):
        for batch in loader:
            audio, labels, background, gain = extra_clips(*batch, extras, draws)
            target = classifier_targets(labels, background, with_background).to(model.device)
            mag, _ = model.spectra(audio)
            # each clip judged at the scale of the clip it was made from
            scale = model.floor_reference(mag)
            if scale is not None:
                scale = scale / gain.to(mag).clamp(min=1e-12)
            loss = torch.nn.functional.binary_cross_entropy(model.classify(mag, scale), target)
            if opt is not None:
                opt.zero_grad()
                loss.backward()
                opt.step()
            total, n = total + float(loss.detach()) * len(target), n + len(target)
    return total / max(n, 1)


def train_classifier(
    model: Model,
    loader,
    epochs: int,
    lr: float,
    log,
    extras: Extras = Extras(),
    seed: int = 0,
    valid=None,
    patience: int | None = None,
    valid_extras: Extras = Extras(),
    checkpoint: Path | None = None,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Pretrain the CRNN on mixtures with clip labels (BCE), then freeze it.

    ``extras``: clips added to every batch (:class:`Extras`, drawn from a generator
    seeded with ``seed``): with silent clips the frozen critic says "no class" on
    silence instead of guessing, with background clips on background alone. With a
    ``valid`` loader and a ``patience``, training stops after ``patience`` epochs
    without a lower validation BCE (``valid_extras`` added, the same clips every
    epoch) and the best epoch's weights are kept (the original's schedule). Returns
    the training BCE per epoch run.

    ``checkpoint``: a file written after every epoch (weights, optimiser, losses, best
    epoch, and the random states: torch's, the extra clips', and ``generator``, the
    loader's shuffle); a run that finds it continues after its last epoch, to the
    weights an uninterrupted run reaches.
    """
    opt = torch.optim.Adam(model.classifier.parameters(), lr=lr)
    draws = torch.Generator().manual_seed(seed)
    state = _ClassifierProgress()
    if checkpoint is not None and checkpoint.is_file():
        state = _load_classifier_checkpoint(checkpoint, model, opt, draws, generator)
        log(f"classifier: resuming from {checkpoint} after epoch {len(state.losses)}")
    for epoch in range(len(state.losses), epochs):
        if patience is not None and state.stale >= patience:
            break
        state.losses.append(_classifier_bce(model, loader, extras, draws, opt))
        line = f"classifier epoch {epoch + 1}/{epochs}: bce {state.losses[-1]:.4f}"
        if valid is not None and patience is not None:
            fixed = torch.Generator().manual_seed(seed)
            score = _classifier_bce(model, valid, valid_extras, fixed)
            line += f" | valid bce {score:.4f}"
            if score < state.best:
                state.best, state.stale = score, 0
                state.best_state = {k: v.clone() for k, v in model.classifier.state_dict().items()}
            else:
                state.stale += 1
        log(line)
        if checkpoint is not None:
            save_classifier_checkpoint(checkpoint, model, opt, draws, generator, state)
        if patience is not None and state.stale >= patience:
            log(f"classifier: early stopping after epoch {epoch + 1} (patience {patience})")
            break
    if state.best_state:
        model.classifier.load_state_dict(state.best_state)
    freeze(model.classifier)
    return state.losses


@dataclass
class _ClassifierProgress:
    """Where classifier pretraining stands: BCE per epoch, best validation BCE and its
    weights (empty: none yet), epochs without gain."""

    losses: list[float] = field(default_factory=list)
    best: float = float("inf")
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    stale: int = 0


_CLASSIFIER_CHECKPOINT_KEYS = ("classifier", "optimizer", "progress", "rng")


def save_classifier_checkpoint(
    path: Path,
    model: Model,
    opt: torch.optim.Optimizer,
    draws: torch.Generator,
    generator: torch.Generator | None,
    state: _ClassifierProgress,
) -> None:
    """Everything a resumed pretraining needs, written atomically."""
    rng = {"torch": torch.get_rng_state(), "draws": draws.get_state()}
    if generator is not None:
        rng["loader"] = generator.get_state()
    buf = io.BytesIO()
    torch.save(
        {
            "classifier": model.classifier.state_dict(),
            "optimizer": opt.state_dict(),
            "progress": asdict(state),
            "rng": rng,
        },
        buf,
    )
    write_bytes(path.parent, path.name, buf.getvalue())


def _load_classifier_checkpoint(
    path: Path,
    model: Model,
    opt: torch.optim.Optimizer,
    draws: torch.Generator,
    generator: torch.Generator | None,
) -> _ClassifierProgress:
    """Restore :func:`save_classifier_checkpoint`'s state (weights only, checked)."""
    saved = load_torch_file(path, "classifier checkpoint", _CLASSIFIER_CHECKPOINT_KEYS)
    progress, rng = saved["progress"], saved["rng"]
    fields = set(_ClassifierProgress.__dataclass_fields__)
    if not isinstance(progress, dict) or set(progress) != fields or not isinstance(rng, dict):
        raise SssleError(f"{path}: not a classifier checkpoint this tool wrote; delete it")
    losses = progress["losses"]
    if not isinstance(losses, list) or not all(isinstance(v, float) for v in losses):
        raise SssleError(f"{path}: its losses are not a list of numbers; delete it")
    load_weights(model.classifier, saved["classifier"], path, "classifier")
    try:
        opt.load_state_dict(saved["optimizer"])
        torch.set_rng_state(rng["torch"])
        draws.set_state(rng["draws"])
        if generator is not None:
            generator.set_state(rng["loader"])
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise SssleError(f"{path}: its optimiser or random state is unreadable; delete it") from exc
    return _ClassifierProgress(**progress)


def pretraining_limit(config: WeakSepConfig, n_conditions: int) -> int | None:
    """How many mixtures classifier pretraining reads over ``n_conditions`` conditions:
    ``classifier_max_mixtures`` (else ``max_train_mixtures``) per condition; None = all."""
    per_condition = config.classifier_max_mixtures
    if per_condition is None:
        per_condition = config.max_train_mixtures
    return None if per_condition is None else per_condition * n_conditions


def pretrain(
    model: Model,
    dataset: GeneratedDataset,
    split: str,
    config: WeakSepConfig,
    generator: torch.Generator,
    log: Callable[[str], None],
    condition: str | None = None,
    checkpoint: Path | None = None,
) -> list[float]:
    """Pretrain ``model``'s classifier on ``split``'s mixtures of ``condition`` (None:
    every condition; :func:`pretraining_limit` of them) with the config's extra clips,
    validated on the valid split when the config has a patience; returns the training
    BCE per epoch. ``checkpoint``: see :func:`train_classifier`."""
    conditions = None if condition is None else (condition,)
    c = replace(
        config, max_train_mixtures=pretraining_limit(config, len(conditions or dataset.conditions))
    )
    loader = mixture_loader(dataset, split, c, generator, shuffle=True, condition=condition)
    valid = valid_split(dataset, split)
    use_valid = valid is not None and c.classifier_patience is not None
    return train_classifier(
        model,
        loader,
        c.classifier_epochs,
        c.classifier_learning_rate,
        log,
        pretraining_extras(c, dataset, split, conditions),
        c.seed,
        mixture_loader(dataset, valid, c, generator, False, condition) if use_valid else None,
        c.classifier_patience,
        pretraining_extras(c, dataset, valid, conditions) if use_valid else Extras(),
        checkpoint,
        generator,
    )


#: Config fields the separator alone uses: they do not change the pretrained classifier.
SEPARATOR_ONLY = frozenset(
    {
        "unet_channels",
        "unet_kernel",
        "unet_levels",
        "separator_arch",
        "silence_ratio",
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
        "warm_start",
        "warm_start_epochs",
    }
)


def classifier_key(config: WeakSepConfig, dataset: GeneratedDataset, split: str) -> str:
    """sha256 of everything the shared classifier depends on: the config fields it uses
    and the training split's ground truth (by its manifest hash).

    Its pretraining set is :func:`pretraining_limit`: ``classifier_max_mixtures`` where
    set (then ``max_train_mixtures``, the separators' alone, is left out of the key),
    else ``max_train_mixtures`` (and the key is the one from before the field existed).
    """
    relevant = {k: v for k, v in asdict(config).items() if k not in SEPARATOR_ONLY}
    if relevant["classifier_max_mixtures"] is None:
        del relevant["classifier_max_mixtures"]
    else:
        del relevant["max_train_mixtures"]
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
    """One classifier on every condition's training mixtures (:func:`pretraining_limit`),
    saved as ``folder/classifier-{key}.pt`` (:func:`classifier_key`) and
    reused from there only by a run whose key is the same (an experiment's variants
    that differ in separator settings share one).

    Returns its weights and per-epoch BCE. A classifier that has only heard loud
    backgrounds cannot judge clean separated sources; pooled, it hears all of them.
    """
    name = f"classifier-{classifier_key(config, dataset, split)[:20]}.pt"
    path = None if folder is None else Path(folder) / name
    if path is not None and path.is_file():
        saved = load_torch_file(path, "pretrained classifier", ("classifier", "losses"))
        losses = saved["losses"]
        if not isinstance(losses, list) or not all(isinstance(v, float) for v in losses):
            raise SssleError(f"{path}: its losses are not a list of numbers; delete it")
        with torch.random.fork_rng():
            load_weights(
                Model(config, len(dataset.classes)).classifier,
                saved["classifier"],
                path,
                "classifier",
            )
        log(f"classifier: reusing {path}")
        return saved["classifier"], losses
    c = config
    if c.threads:
        torch.set_num_threads(c.threads)
    generator = seed_everything(c.seed)
    model = Model(c, len(dataset.classes))
    log("weak-sep: pretraining one classifier on all conditions")
    checkpoint = None if path is None else path.with_name(f"checkpoint-{name}")
    losses = pretrain(model, dataset, split, c, generator, log, checkpoint=checkpoint)
    weights = {k: v.cpu() for k, v in model.classifier.state_dict().items()}
    if path is not None:
        buf = io.BytesIO()
        torch.save({"classifier": weights, "losses": losses}, buf)
        write_bytes(path.parent, path.name, buf.getvalue())
    return weights, losses
