"""Shared by the weak-sep tests: the demo's frozen critic on the toy world."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch  # the [model] extra; `make test` installs it (CPU build)

from sssle_bench.estimators.weak_sep.config import make_config


@pytest.fixture(scope="module")
def selective(toy_full: Path):
    """The cpu preset's shared classifier as the demo's shipped checkpoints hold it: pretrained
    on this very toy world by the recorded command (tests/test_shipped.py reproduces its
    first epoch), frozen."""
    from sssle_bench.dataset import GeneratedDataset
    from sssle_bench.estimators.weak_sep.networks import freeze
    from sssle_bench.estimators.weak_sep.objective import Model
    from sssle_bench.estimators.weak_sep.shipped import check_checkpoints, checkpoint_dir

    ds = GeneratedDataset(toy_full)
    prov = check_checkpoints(checkpoint_dir(), ds)
    saved = torch.load(checkpoint_dir() / prov["classifier_file"], weights_only=True)
    config = make_config({"preset": "cpu", "threads": 2})
    model = Model(config, len(ds.classes))
    model.classifier.load_state_dict(saved["classifier"])
    freeze(model.classifier)
    return ds, model, saved["losses"]
