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


def _aggregate(value: torch.Tensor, aggregation: str, n_frames: torch.Tensor) -> torch.Tensor:
    """``(B, M, T)`` magnitudes (zero in silent frames): per bin (``tf``), the mean over bands
    of each frame (``frame``, ours), the mean over non-silent frames of each band
    (``spectrum``, the original's ``spectrum`` target), or the mean over bands and
    non-silent frames (``clip``, the original's ``energy``). The original divides its
    ``spectrum`` and ``energy`` sums by all frames, silent ones included
    (``transform_spec_to_target`` with ``energy_masking=False``); here by the non-silent
    ones, so a clip's silence does not shrink its terms (docs/weak-sep.md)."""
    if aggregation == "tf":
        return value
    if aggregation == "frame":
        return value.mean(dim=1, keepdim=True)
    over_time = value.sum(dim=2, keepdim=True) / n_frames[:, None, None]
    return over_time if aggregation == "spectrum" else over_time.mean(dim=1, keepdim=True)


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
    by the count of aggregated non-silent elements (bands x frames, frames, bands, 1);
    mean over the batch. ``(linear, tf)`` without margin is the Pishdadian et al.
    mixture term.

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
    mix = x * frames[:, None, :]
    # sum_k X * M_k over a set of classes is X * (sum_k M_k): masks are summed first, so
    # the filterbank sees (B, F, T) tensors, not one per class.
    present_mask = torch.einsum("bk,bkft->bft", labels, masks)
    absent_mask = torch.einsum("bk,bkft->bft", 1 - labels, masks)
    parts = [mix, mix * present_mask, mix * absent_mask]
    if filterbank is not None:
        parts = [torch.einsum("mf,bft->bmt", filterbank, v) for v in parts]
    n_frames = frames.sum(dim=1).clamp(min=1.0)
    mix, present, absent = (_aggregate(v, aggregation, n_frames) for v in parts)
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
            "spectrum": torch.full_like(n_frames, mix.shape[1]),
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
    """Classifier on separated sources ``probs (B, K, O)``: source k of a present class
    should hold only class k; a source of an absent class should hold nothing.

    As in the original (``cdsd/train_separator.py``): one BCE per separated source
    (mean over the batch and the O outputs), *summed* over the K sources. With a
    background output (``O = K + 1``, ``background_critic``) its target is 0 for every
    source: a separated source holds no background.
    """
    k, outputs = labels.shape[1], probs.shape[2]
    eye = torch.eye(k, outputs, dtype=probs.dtype, device=probs.device)
    target = eye[None] * labels[:, :, None]
    per_source = binary_cross_entropy(probs.clamp(_EPS, 1 - _EPS), target, reduction="none")
    return per_source.mean(dim=(0, 2)).sum()


def background_loss(probs: torch.Tensor, background: torch.Tensor | None = None) -> torch.Tensor:
    """Classifier on the residual (background) ``(B, O)``: no in-vocabulary class. With a
    background output (``background`` ``(B,)`` given, ``O = K + 1``) the residual should
    also hold the background where the condition has one (target ``background``)."""
    target = torch.zeros_like(probs)
    if background is not None:
        target[:, -1] = background
    return binary_cross_entropy(probs.clamp(_EPS, 1 - _EPS), target)


def classifier_targets(
    labels: torch.Tensor, background: torch.Tensor, with_background: bool
) -> torch.Tensor:
    """Pretraining targets: the clip labels ``(B, K)``, plus the background flag ``(B,)``
    as a last column when the classifier has a background output."""
    return torch.cat([labels, background[:, None]], dim=1) if with_background else labels
