"""What weak-sep training reads: batches, the margin (data.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch  # the [model] extra; `make test` installs it (CPU build)

from sssle_bench.estimators.weak_sep import data


def test_magnitude_margin_covers_the_oracle_masks_residual():
    """Sources with 1 - m of the energy: amplitude masks sum to at least sqrt(1 - m)."""
    assert data.magnitude_margin(0.0) == 0.0 and data.magnitude_margin(1.0) == 1.0
    assert data.magnitude_margin(0.75) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    for _ in range(100):
        e = rng.random(4)  # three sources and a background, energies in one bin
        m = e[3] / e.sum()
        residual = 1 - np.sqrt(e[:3] / e.sum()).sum()
        assert residual <= data.magnitude_margin(m) + 1e-12


def test_dataset_margin():
    assert data.dataset_margin([1.0, 2.0], [0.5, 2.0]) == pytest.approx(0.25)
    assert data.dataset_margin([1.0], [3.0]) == 0.0


def test_torch_dataset_wrapper(toy_dataset: Path):
    from sssle_bench.dataset import GeneratedDataset, torch_dataset

    ds = GeneratedDataset(toy_dataset)
    split = torch_dataset(ds, "train")
    assert len(split) == 3 * 4
    audio, labels, background = split[5]
    assert audio.shape == (64000,) and audio.dtype == torch.float32
    truth = ds.wide("train", "present")
    mix = ds.table("train").iloc[5]
    assert (
        labels.tolist() == truth.loc[(mix["mixture_id"], mix["condition"])].astype(float).tolist()
    )
    flags = [float(split[i][2]) for i in range(len(split))]
    assert flags == [float(c != "none") for c in ds.table("train")["condition"]]
    assert sum(flags) == 3 * 3  # three background conditions
