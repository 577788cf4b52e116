"""The weak-sep loss terms, pure functions of tensors.

Shapes: mixture magnitude ``x`` ``(B, F, T)``; masks ``(B, K, F, T)``; clip
labels ``(B, K)`` in {0, 1}; ``frames`` ``(B, T)`` non-silent frame weights.
Energies are squared magnitudes, computed once per filterbank
(:func:`band_energies`) and aggregated per resolution.
"""

from __future__ import annotations

import torch
from torch.nn.functional import binary_cross_entropy

_EPS = 1e-8


def non_silent_frames(x: torch.Tensor, ratio: float) -> torch.Tensor:
    """1 for frames whose magnitude sum over frequency is >= ``ratio`` x the clip's largest
    frame sum, else 0 (the original's rule, ``cdsd/data.py``; on energy, 1 % drops most
    frames of quiet scenes)."""
    total = x.sum(dim=1)
    return (total >= ratio * total.max(dim=1, keepdim=True).values).to(x.dtype)


def _frame_mean(value: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Mean of ``(B, F, T)`` values over bins and non-silent frames."""
    weight = frames[:, None, :].expand_as(value)
    return (value * weight).sum() / (weight.sum() + _EPS)


def mixture_loss(x, masks, labels, frames) -> torch.Tensor:
    """L1(x - sum of present x*M_k) + L1(sum of absent x*M_k), over non-silent frames."""
    est = x[:, None] * masks
    on = labels[:, :, None, None]
    present = (x - (est * on).sum(dim=1)).abs()
    absent = (est * (1 - on)).sum(dim=1).abs()
    return _frame_mean(present, frames) + _frame_mean(absent, frames)


def magnitude_margin(energy_margin: float) -> float:
    """The energy margin (fraction of mixture energy left to background) as a fraction of
    the mixture *magnitude* a mask method may leave unexplained.

    With amplitude masks ``M_k = sqrt(e_k / E)`` of sources holding ``1 - m`` of the
    energy, ``sum_k M_k >= sqrt(1 - m)``, so ``1 - sqrt(1 - m)`` bounds the oracle
    masks' magnitude residual: they are never penalised for it.
    """
    return 1.0 - (1.0 - min(max(energy_margin, 0.0), 1.0)) ** 0.5


def mixture_margin_loss(x, masks, labels, frames, margin: float) -> torch.Tensor:
    """The mixture term with an asymmetric per-bin margin, in place of :func:`mixture_loss`.

    Present sources may leave up to ``margin`` x the mixture magnitude of a bin
    unexplained (the background's room); beyond it, and wherever they exceed the
    mixture, the L1 residual counts; absent sources' magnitude always counts.
    (The original code subtracts its margin once from a sum over all bins, which
    makes it effectively zero; this is the per-bin margin the paper describes.)
    """
    est = x[:, None] * masks
    on = labels[:, :, None, None]
    residual = x - (est * on).sum(dim=1)
    present = torch.relu(-residual) + torch.relu(residual - margin * x)
    absent = (est * (1 - on)).sum(dim=1).abs()
    return _frame_mean(present, frames) + _frame_mean(absent, frames)


def band_energies(x, masks, frames, filterbank):
    """Mixture and per-source energies ``(B, M, T)`` / ``(B, K, M, T)`` of non-silent frames
    through a filterbank ``(M, F)`` (None = linear bins)."""
    weight = frames[:, None, :]
    mix = x**2 * weight
    src = (x[:, None] * masks) ** 2 * weight[:, None]
    if filterbank is not None:
        mix = torch.einsum("mf,bft->bmt", filterbank, mix)
        src = torch.einsum("mf,bkft->bkmt", filterbank, src)
    return mix, src


def aggregate(energy: torch.Tensor, aggregation: str) -> torch.Tensor:
    """Keep each (band, frame) (``tf``), sum over bands (``frame``) or over both (``clip``)."""
    if aggregation == "tf":
        return energy
    if aggregation == "frame":
        return energy.sum(dim=-2, keepdim=True)
    return energy.sum(dim=(-2, -1), keepdim=True)


def active_consistency(mix_e, src_e, labels, aggregation: str, margin: float):
    """Relative energy residual of the present sources, with an asymmetric margin.

    ``rho = (E(x) - sum_present E(x*M_k)) / E(x)`` at the given aggregation:
    overestimating the mixture (rho < 0) is always penalised, underestimating
    only beyond ``margin`` (room for background and out-of-vocabulary sound).
    """
    mix, src = aggregate(mix_e, aggregation), aggregate(src_e, aggregation)
    rho = (mix - (src * labels[:, :, None, None]).sum(dim=1)) / (mix + _EPS)
    active = (mix > _EPS).to(mix.dtype)
    penalty = torch.relu(-rho) + torch.relu(rho - margin)
    return (penalty * active).sum() / (active.sum() + _EPS)


def inactive_consistency(mix_e, src_e, labels, aggregation: str):
    """Relative energy given to absent classes: ``sum_absent E(x*M_k) / E(x)``."""
    mix, src = aggregate(mix_e, aggregation), aggregate(src_e, aggregation)
    absent = (src * (1 - labels)[:, :, None, None]).sum(dim=1)
    active = (mix > _EPS).to(mix.dtype)
    return (absent / (mix + _EPS) * active).sum() / (active.sum() + _EPS)


def critic_loss(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Classifier on separated sources ``probs (B, K, K)``: source k of a present class
    should hold only class k; a source of an absent class should hold nothing.

    As in the original (``cdsd/train_separator.py``): one BCE per separated source
    (mean over the batch and the K class outputs), *summed* over the K sources.
    """
    k = labels.shape[1]
    eye = torch.eye(k, dtype=probs.dtype, device=probs.device)
    target = eye[None] * labels[:, :, None]
    per_source = binary_cross_entropy(probs.clamp(_EPS, 1 - _EPS), target, reduction="none")
    return per_source.mean(dim=(0, 2)).sum()


def background_loss(probs: torch.Tensor) -> torch.Tensor:
    """Classifier on the residual (background) ``(B, K)``: no in-vocabulary class."""
    return binary_cross_entropy(probs.clamp(_EPS, 1 - _EPS), torch.zeros_like(probs))


def dataset_margin(mixture_energy, source_energy) -> float:
    """Average fraction of mixture energy not explained by the vocabulary's sources."""
    import numpy as np

    mixture_energy, source_energy = np.asarray(mixture_energy), np.asarray(source_energy)
    frac = 1.0 - source_energy / np.maximum(mixture_energy, 1e-20)
    return float(np.clip(frac, 0.0, 1.0).mean())
