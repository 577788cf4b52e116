"""sup-sep's supervised loss on hand-made tensors: the original's L1 terms, the
non-silent frames, the class-prior weights and the "l2" ablation."""

from __future__ import annotations

import pytest
import torch

from sssle_bench.estimators.sup_sep.losses import (
    active_frames,
    prior_weights,
    separation_loss,
    separation_terms,
)


def test_separation_loss_on_a_hand_made_clip():
    """2 bins x 2 frames, mixture 1 everywhere; class 0's source 0.5 in both frames, class
    1's 1.0 in frame 0 only; masks 0.25 and 1. Per element |S - X M|: class 0: 0.25 x 4;
    class 1: 0 in frame 0, 1 in frame 1 (x2 bins). Over 2 frames x 2 bins: 1/4 + 2/4."""
    x = torch.ones(1, 2, 2)
    sources = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]], [[1.0, 0.0], [1.0, 0.0]]]])
    masks = torch.stack([torch.full((2, 2), 0.25), torch.ones(2, 2)])[None]
    frames = torch.ones(1, 2)
    assert float(separation_loss(separation_terms(x, masks, sources, frames))) == pytest.approx(
        0.25 + 0.5
    )
    # frame 1 silent: only frame 0 counts, over 1 frame x 2 bins: (0.25 x 2 + 0) / 2
    silent = torch.tensor([[1.0, 0.0]])
    assert float(separation_loss(separation_terms(x, masks, sources, silent))) == pytest.approx(
        0.25
    )
    # class-prior weights: class 1 sounds in frame 0 only; p = (0.5, 0.25)
    active = active_frames(sources)
    assert active.tolist() == [[[1.0, 1.0], [1.0, 0.0]]]
    w = prior_weights(active, torch.tensor([0.5, 0.25]))
    assert torch.allclose(w, torch.tensor([[[2.0, 2.0], [4.0, 1 / 0.75]]]))
    # class 0: 0.25 x 2 per frame x weight 2 = 2 over 4; class 1: frame 1 (1 + 1) / 0.75 over 4
    expected = 2 * 0.25 * 4 / 4 + (2 / 0.75) / 4
    terms = separation_terms(x, masks, sources, frames, w)
    assert float(separation_loss(terms)) == pytest.approx(expected)
    # per class (the probe's terms): class 0 2 x 0.25 x 4 / 4, class 1 (2 / 0.75) / 4
    assert terms.shape == (1, 2)
    assert terms[0].tolist() == pytest.approx([0.5, (2 / 0.75) / 4])
    assert float(separation_terms(x, masks, sources, silent)[0, 1]) == 0.0
    # the "l2" ablation squares the same errors (class 0 0.25^2 x 4 / 4, class 1 (1 + 1) /
    # 4) and divides by the mean mixture magnitude, 1 here and 2 with everything doubled
    squared = separation_terms(x, masks, sources, frames, distance="l2")
    assert squared[0].tolist() == pytest.approx([0.0625, 0.5])
    doubled = separation_terms(2 * x, masks, 2 * sources, frames, distance="l2")
    assert doubled[0].tolist() == pytest.approx([2 * 0.0625, 2 * 0.5])  # linear, as L1
    assert separation_terms(2 * x, masks, 2 * sources, frames)[0].tolist() == pytest.approx(
        [2 * 0.25, 2 * 0.5]
    )
