"""sup-sep's supervised loss as pure functions of tensors: the original's
``separation_loss`` (``cdsd/losses.py`` l. 238-288), its per-class terms, the
class-prior frame weights and the frames where a source sounds."""

from __future__ import annotations

import torch


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
