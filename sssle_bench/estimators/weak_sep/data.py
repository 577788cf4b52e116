"""What weak-sep training reads: the batches of a split and condition, the split that
validates it, the seeded shuffle, and the training set's margin (from the ground-truth
levels and the mixtures' magnitudes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...audio import read_audio
from ...dataset import GeneratedDataset, evenly_spaced, has_background, torch_dataset
from ...levels import db_to_power, to_mono
from ...recipe import NO_BACKGROUND
from .config import WeakSepConfig
from .losses import non_silent_frames
from .networks import magnitude


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's weight initialisation; return the generator that shuffles batches."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def mixture_loader(dataset, split, config, generator, shuffle, condition=None):
    """Batches of (audio, labels, background flags) of one condition (all with None), as
    training reads them; ``max_train_mixtures`` keeps an evenly spaced subset."""
    ds = torch_dataset(dataset, split, None if condition is None else (condition,))
    if config.max_train_mixtures is not None and len(ds) > config.max_train_mixtures:
        ds = torch.utils.data.Subset(ds, evenly_spaced(len(ds), config.max_train_mixtures))
    return torch.utils.data.DataLoader(
        ds, batch_size=config.batch_size, shuffle=shuffle, generator=generator
    )


def valid_split(dataset: GeneratedDataset, split: str) -> str | None:
    """The split that validates training on ``split``: ``valid`` when there is one."""
    return "valid" if "valid" in dataset.splits and split != "valid" else None


def validation_loader(
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


def dataset_margin(mixture_energy, source_energy) -> float:
    """Average fraction of mixture energy not explained by the vocabulary's sources."""
    mixture_energy, source_energy = np.asarray(mixture_energy), np.asarray(source_energy)
    frac = 1.0 - source_energy / np.maximum(mixture_energy, 1e-20)
    return float(np.clip(frac, 0.0, 1.0).mean())


def magnitude_margin(energy_margin: float) -> float:
    """The energy margin (fraction of mixture energy left to background) as a fraction of
    the mixture *magnitude* a mask method may leave unexplained.

    With amplitude masks ``M_k = sqrt(e_k / E)`` of sources holding ``1 - m`` of the
    energy, ``sum_k M_k >= sqrt(1 - m)``, so ``1 - sqrt(1 - m)`` bounds the oracle
    masks' magnitude residual: they are never penalised for it.
    """
    return 1.0 - (1.0 - min(max(energy_margin, 0.0), 1.0)) ** 0.5


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
        db_to_power(truth["level_dbfs"])
        .fillna(0.0)
        .groupby([truth["mixture_id"], truth["condition"]])
        .sum()
    )
    mix = db_to_power(mixes.loc[src.index, "mixture_dbfs"])
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
    if NO_BACKGROUND not in dataset.conditions:
        return magnitude_margin(energy_margin(dataset, split, condition))
    truth = dataset.truth(split)
    energy = db_to_power(truth["level_dbfs"]).fillna(0.0)
    sources = energy.groupby([truth["mixture_id"], truth["condition"]]).sum()
    ids = sorted(dataset.table(split)["mixture_id"].unique())
    ids = [ids[i] for i in evenly_spaced(len(ids), config.max_train_mixtures)]
    wanted = set(ids)
    # Only the chosen mixtures' audio is read (mixture_infos reads the tables, no audio).
    paths = {
        (info.mixture_id, info.condition): path
        for info, path in dataset.mixture_infos(split)
        if info.mixture_id in wanted and info.condition in {NO_BACKGROUND, *conditions}
    }

    def l1(path: Path) -> torch.Tensor:
        audio = to_mono(read_audio(path)[0]).astype(np.float32)
        mag, _ = magnitude(torch.from_numpy(audio)[None], config.n_fft, config.hop)
        return mag[0]

    clean = {key: l1(paths[(key, NO_BACKGROUND)]) for key in ids}
    fractions = []
    for cond in conditions:
        if not has_background(cond):
            fractions += [0.0] * len(clean)
            continue
        for key in ids:
            x = l1(paths[(key, cond)])
            frames = non_silent_frames(x[None], config.silence_ratio)[0]
            ratio = sources[(key, cond)] / max(sources[(key, NO_BACKGROUND)], 1e-30)
            kept = float((clean[key] * frames).sum()) * ratio**0.5
            fractions.append(min(max(1.0 - kept / max(float((x * frames).sum()), 1e-30), 0.0), 1.0))
    return float(np.mean(fractions)) if fractions else 0.0
