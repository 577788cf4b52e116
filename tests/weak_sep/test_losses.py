"""weak-sep's loss terms on hand-made tensors (losses.py)."""

from __future__ import annotations

import math

import pytest
import torch  # the [model] extra; `make test` installs it (CPU build)

from sssle_bench.estimators.weak_sep import losses


def hand_made():
    """One clip, 2 bins x 2 frames of magnitude 1; mask 0.5 for class 0, 0.25 for class 1."""
    x = torch.ones(1, 2, 2)
    masks = torch.stack([torch.full((2, 2), 0.5), torch.full((2, 2), 0.25)])[None]
    labels = torch.tensor([[1.0, 0.0]])
    frames = torch.ones(1, 2)
    return x, masks, labels, frames


def test_mixture_term_is_the_l1_residual_over_non_silent_bins():
    x, masks, labels, frames = hand_made()
    # per bin: |1 - 0.5| for the present class + |0.25| given to the absent one
    assert float(losses.consistency_loss(x, masks, labels, frames)) == pytest.approx(0.75)
    # silent frames do not count, in the sum nor in the count of bins
    frames = torch.tensor([[1.0, 0.0]])
    x2 = x.clone()
    x2[:, :, 1] = 100.0
    assert float(losses.consistency_loss(x2, masks, labels, frames)) == pytest.approx(0.75)
    # absolute, not relative: twice the magnitude, twice the loss (the original's L1)
    assert float(losses.consistency_loss(2 * x, masks, labels, torch.ones(1, 2))) == (
        pytest.approx(1.5)
    )


def test_mixture_margin_on_hand_made_values():
    x, masks, labels, frames = hand_made()

    def loss(m, margin):
        return float(losses.consistency_loss(x, m, labels, frames, None, "tf", margin))

    # residual 1 - 0.5 = 0.5 per bin: a 0.3 margin leaves 0.2; the absent class's 0.25 stays
    assert loss(masks, 0.3) == pytest.approx(0.45)
    # a residual within the margin costs nothing; overestimating always costs
    assert loss(masks, 0.6) == pytest.approx(0.25)
    over = torch.stack([torch.full((2, 2), 1.5), torch.zeros(2, 2)])[None]
    assert loss(over, 0.6) == pytest.approx(0.5)
    # zero margin: the plain mixture term
    assert loss(masks, 0.0) == loss(masks, None)


def test_consistency_aggregations_differ_where_errors_cancel():
    x, _, labels, frames = hand_made()
    absent = torch.zeros(2, 2)

    def loss(present, aggregation, fb=None):
        m = torch.stack([present, absent])[None]
        return float(losses.consistency_loss(x, m, labels, frames, fb, aggregation))

    # over- and under-estimates within each frame (rows are bins, columns frames)
    within_frames = torch.tensor([[1.5, 0.5], [0.5, 1.5]])
    assert loss(within_frames, "tf") == pytest.approx(0.5)
    assert loss(within_frames, "frame") == pytest.approx(0.0)
    assert loss(within_frames, "clip") == pytest.approx(0.0)
    # ... and across frames: only the clip level lets them cancel
    across_frames = torch.tensor([[1.5, 0.5], [1.5, 0.5]])
    assert loss(across_frames, "frame") == pytest.approx(0.5)
    assert loss(across_frames, "clip") == pytest.approx(0.0)
    # a filterbank sums magnitudes into bands: one band of both bins holds 2, the source 1
    one_band = torch.tensor([[1.0, 1.0]])
    assert loss(torch.full((2, 2), 0.5), "tf", one_band) == pytest.approx(1.0)


def test_non_silent_frames_by_magnitude_sum():
    # frame magnitude sums 1, 0.05, 0.005, 0: >= 1 % of the largest keeps the first two
    x = torch.tensor([[[1.0, 0.05, 0.005, 0.0]]])
    assert losses.non_silent_frames(x, 0.01).tolist() == [[1.0, 1.0, 0.0, 0.0]]
    # two bins of 0.006 sum to 0.012: a frame counts by its sum over frequency
    x = torch.tensor([[[1.0, 0.006], [0.0, 0.006]]])
    assert losses.non_silent_frames(x, 0.01).tolist() == [[1.0, 1.0]]


def test_classifier_losses():
    labels = torch.tensor([[1.0, 0.0]])
    perfect = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    assert float(losses.critic_loss(perfect, labels)) == pytest.approx(0.0, abs=1e-6)
    half = torch.full((1, 2, 2), 0.5)
    # ln 2 per separated source, summed over the 2 sources
    assert float(losses.critic_loss(half, labels)) == pytest.approx(2 * math.log(2), abs=1e-6)
    # source 0 (present) says class 1 with 0.5: -ln(0.5)/2 for it alone
    one_wrong = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]])
    assert float(losses.critic_loss(one_wrong, labels)) == pytest.approx(math.log(2) / 2, abs=1e-6)
    assert float(losses.background_loss(torch.zeros(1, 2))) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.background_loss(torch.full((1, 2), 0.5))) == pytest.approx(math.log(2))


def test_the_spectrum_aggregation_on_a_hand_made_clip():
    """The original's ``spectrum`` target: per band, the mean over (non-silent) frames.
    One clip, 2 bins x 2 frames of magnitude 1, class 0 present with mask 0.5 in frame 0
    and 1 in frame 1: the per-bin means of the residual are 0.25, 0.25; class 1 absent
    with mask 0.25: absent means 0.25, 0.25. L1 over 2 bins / 2 bins = 0.25 + 0.25."""
    x = torch.ones(1, 2, 2)
    masks = torch.stack([torch.tensor([[0.5, 1.0], [0.5, 1.0]]), torch.full((2, 2), 0.25)])[None]
    labels = torch.tensor([[1.0, 0.0]])
    frames = torch.ones(1, 2)
    loss = losses.consistency_loss(x, masks, labels, frames, None, "spectrum")
    assert float(loss) == pytest.approx(0.5)
    # "frame" (ours) aggregates over bins per frame instead: residual 0.5 then 0 per frame
    # -> L1 0.5 over 2 frames; absent 0.25 per frame -> 0.5 / 2; together 0.5
    assert float(losses.consistency_loss(x, masks, labels, frames, None, "frame")) == pytest.approx(
        0.5
    )
    # They differ once the residual changes sign across bins within a frame: with mask 1.5
    # in bin 0 of frame 0 the residuals there are -0.5 (bin 0) and +0.5 (bin 1). Per bin
    # they stay apart (-0.25, +0.25: error 0.5, plus absent 0.5, over 2 bins = 0.5); per
    # frame they cancel (0, 0: error 0, plus absent 0.5, over 2 frames = 0.25).
    masks[0, 0, 0, 0] = 1.5
    spectrum = float(losses.consistency_loss(x, masks, labels, frames, None, "spectrum"))
    frame = float(losses.consistency_loss(x, masks, labels, frames, None, "frame"))
    assert (spectrum, frame) == (pytest.approx(0.5), pytest.approx(0.25))


def test_reference_masks_on_hand_made_magnitudes():
    sources = torch.tensor([[[3.0]], [[1.0]], [[0.0]]])
    masks = losses.reference_masks(sources, torch.tensor([[4.0]]), torch.tensor([1.0, 1.0, 0.0]))
    assert masks["oracle"].flatten().tolist() == pytest.approx([0.375, 0.125, 0.0])
    assert masks["absorb"].flatten().tolist() == pytest.approx([0.625, 0.375, 0.0])
    assert masks["equal"].flatten().tolist() == [0.5, 0.5, 0.0]
    assert masks["zero"].abs().sum() == 0
