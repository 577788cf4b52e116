"""The weak-sep loss terms, pure functions of tensors.

Shapes: mixture magnitude ``x`` ``(B, F, T)``; masks ``(B, K, F, T)``; clip
labels ``(B, K)`` in {0, 1}; ``frames`` ``(B, T)`` non-silent frame weights.
Consistency terms work on (window-scaled) linear magnitudes, as the original
code does; a resolution is a filterbank (linear bins or mel bands) and an
aggregation (per bin, per frame, per clip).
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


def magnitude_margin(energy_margin: float) -> float:
    """The energy margin (fraction of mixture energy left to background) as a fraction of
    the mixture *magnitude* a mask method may leave unexplained.

    With amplitude masks ``M_k = sqrt(e_k / E)`` of sources holding ``1 - m`` of the
    energy, ``sum_k M_k >= sqrt(1 - m)``, so ``1 - sqrt(1 - m)`` bounds the oracle
    masks' magnitude residual: they are never penalised for it.
    """
    return 1.0 - (1.0 - min(max(energy_margin, 0.0), 1.0)) ** 0.5


def _aggregate(value: torch.Tensor, aggregation: str, n_frames: torch.Tensor) -> torch.Tensor:
    """``(B, M, T)`` magnitudes (zero in silent frames): per bin (``tf``), the mean over bands
    of each frame (``frame``), or the mean over bands and non-silent frames (``clip``)."""
    if aggregation == "tf":
        return value
    if aggregation == "frame":
        return value.mean(dim=1, keepdim=True)
    return value.mean(dim=1, keepdim=True).sum(dim=2, keepdim=True) / n_frames[:, None, None]


def consistency_loss(
    x: torch.Tensor,
    masks: torch.Tensor,
    labels: torch.Tensor,
    frames: torch.Tensor,
    filterbank: torch.Tensor | None = None,
    aggregation: str = "tf",
    margin: float | None = None,
    relative: bool = False,
) -> torch.Tensor:
    """Mixture consistency at one resolution, in the original's domain (``cdsd/losses.py``,
    ``mixture_loss`` / ``mixture_margin_asymmetric_loss``).

    Magnitudes of non-silent frames go through ``filterbank`` ``(M, F)`` (None: linear
    bins) and are aggregated (:func:`_aggregate`). Per clip: the L1 norm of the
    residual ``D = X - sum_present X_k`` plus the L1 norm of ``sum_absent X_k``, divided
    by the count of aggregated non-silent elements (bands x frames, frames, 1); mean
    over the batch. ``(linear, tf)`` without margin is the Pishdadian et al. mixture term.

    ``margin`` (a fraction of the clip's aggregated mixture L1): the asymmetric margin.
    As in the original's ``mixture_margin_asymmetric_loss``, the clip's summed
    underestimate ``sum relu(D)`` is reduced by the margin before it counts, and any
    overestimate ``relu(-D)`` always counts; so present sources may leave the
    background's share of the clip unexplained, wherever it lies, but never exceed the
    mixture. (The original subtracts a constant such as 8e-3 from an L1 sum over ~128k
    bins, which makes its margin effectively zero; here it is ``margin`` x the clip's
    own mixture L1, the paper's intent.)

    ``relative``: divide each clip's sums by the L1 norm of its aggregated mixture
    instead of the element count: the loss becomes a fraction of the mixture,
    whatever the scene's loudness (a deviation; see ``consistency_scale``).
    """
    weight = frames[:, None, :]
    mix = x * weight
    src = x[:, None] * masks * weight[:, None]
    if filterbank is not None:
        mix = torch.einsum("mf,bft->bmt", filterbank, mix)
        src = torch.einsum("mf,bkft->bkmt", filterbank, src)
    on = labels[:, :, None, None]
    n_frames = frames.sum(dim=1).clamp(min=1.0)
    mix, present, absent = (
        _aggregate(v, aggregation, n_frames)
        for v in (mix, (src * on).sum(dim=1), (src * (1 - on)).sum(dim=1))
    )
    residual = mix - present
    under = torch.relu(residual).sum(dim=(1, 2))
    if margin is not None:
        under = torch.relu(under - margin * mix.sum(dim=(1, 2)))
    error = under + torch.relu(-residual).sum(dim=(1, 2))
    if relative:
        count = mix.sum(dim=(1, 2)) + _EPS
    else:
        count = {
            "tf": n_frames * mix.shape[1],
            "frame": n_frames,
            "clip": torch.ones_like(n_frames),
        }[aggregation]
    per_clip = (error + absent.abs().sum(dim=(1, 2))) / count
    return per_clip.mean()


def reference_masks(
    sources: torch.Tensor, background: torch.Tensor, labels: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The masks an objective is judged at, from isolated magnitude spectrograms.

    ``sources`` ``(K, F, T)`` (zeros for absent classes), ``background`` ``(F, T)``,
    ``labels`` ``(K,)``. ``oracle``: ratio masks ``|S_k| / (sum_j |S_j| + |B|)``;
    ``absorb``: the present sources also share the background equally; ``equal``:
    ``1 / n_present`` for each present class; ``zero``: nothing. All ``(K, F, T)``.
    """
    total = sources.sum(dim=0) + background + _EPS
    on = labels[:, None, None].to(sources.dtype)
    n = on.sum().clamp(min=1.0)
    return {
        "oracle": sources / total,
        "absorb": (sources + on * background / n) / total,
        "equal": on.expand_as(sources) / n,
        "zero": torch.zeros_like(sources),
    }


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
