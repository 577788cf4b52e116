"""weak-sep's networks: the original's layer by layer, the inference copy (networks.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch  # the [model] extra; `make test` installs it (CPU build)

from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.networks import (
    folded_for_inference,
    make_separator,
    mel_filterbank,
)


def test_mel_filterbank_shape_and_partition():
    fb = mel_filterbank(16000, 512, 40)
    assert fb.shape == (40, 257) and fb.min() >= 0 and fb.max() <= 1
    assert np.all(fb[:, 10:200].sum(axis=0) > 0.5)


@pytest.mark.parametrize("arch,levels", [("compact", 3), ("original", 3)])
def test_the_inference_copy_folds_batch_norms_and_gives_the_same_masks(arch, levels):
    config = make_config({"separator_arch": arch, "unet_channels": 4, "unet_levels": levels})
    torch.manual_seed(0)
    net = make_separator(config, 3)
    net.train()
    with torch.no_grad():  # BatchNorm statistics far from the identity
        for _ in range(3):
            net(torch.randn(2, 1, 257, 67) * 3 + 1)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded = folded_for_inference(net)
    x = torch.randn(2, 1, 257, 67)
    with torch.no_grad():
        masks, fast = net(x), folded(x)
    assert torch.allclose(fast, masks, atol=1e-6) and not torch.equal(fast, torch.zeros_like(fast))
    norms = [m for m in folded.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # only the compact U-Net's input normalisation follows no convolution
    assert len(norms) == (1 if arch == "compact" else 0)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert net.training is False and any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_the_original_crnn_shape_and_its_half_on_silence():
    """The original classifier without bias says 0.5 for every class on silence whatever
    its weights (why the compact one is a deliberate deviation); with the bias the
    paper's configs pass, it has bias vectors and can say otherwise."""
    from sssle_bench.estimators.weak_sep.objective import Model

    config = make_config({"preset": "paper"})
    assert config.classifier_arch == "original" and config.classifier_bias
    biased = Model(config, 5).classifier
    assert sum(p.ndim == 1 for p in biased.parameters()) == 3 + 4 + 1  # convs, BiLSTM, fc
    model = Model(make_config({"preset": "paper", "classifier_bias": False}), 5)
    model.classifier.eval()
    with torch.no_grad():
        silence = model.classify(model.spectra(torch.zeros(2, 64000))[0])
        noise = model.classify(model.spectra(torch.randn(2, 64000) * 0.1)[0])
    assert silence.shape == (2, 5) and torch.all(silence == 0.5)
    assert noise.shape == (2, 5) and torch.all((noise > 0) & (noise < 1))
    assert not torch.all(noise == 0.5)
    assert all(p.ndim > 1 for p in model.classifier.parameters())  # no bias vectors


def test_the_original_unet_layer_by_layer():
    """``UNetSpectrogramSeparator(n_blocks=3, init_channels=64)`` of the paper's configs:
    the same convolutions (shapes in PyTorch's weight layout), ReLU throughout, a
    BatchNorm then sigmoid output block, and the input size restored exactly."""
    from torch import nn

    from sssle_bench.estimators.weak_sep.objective import Model

    config = make_config({"preset": "paper"})
    assert config.separator_arch == "original" and config.unet_levels == 4
    unet = Model(config, 5).separator
    convs = [m.weight.shape for m in unet.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [(64, 1, 5, 5), (128, 64, 5, 5), (256, 128, 5, 5), (512, 256, 5, 5)]
    ups = [m.weight.shape for m in unet.modules() if isinstance(m, nn.ConvTranspose2d)]
    # the first up block has no skip; the others and the output block take [skip, x]
    assert ups == [(512, 256, 5, 5), (512, 128, 5, 5), (256, 64, 5, 5), (128, 5, 5, 5)]
    kinds = [type(m).__name__ for m in unet.modules() if not list(m.children())]
    assert "LeakyReLU" not in kinds and kinds.count("ReLU") == 7
    assert kinds[-3:] == ["ConvTranspose2d", "BatchNorm2d", "Sigmoid"]
    small = Model(make_config({"preset": "paper", "unet_channels": 4}), 5)
    small.separator.eval()
    for frames in (126, 125):
        _, feats = small.spectra(torch.randn(2, (frames - 1) * 128) * 0.1)
        assert feats.shape == (2, 1, 257, frames)
        masks = small.separator(feats)
        assert masks.shape == (2, 5, 257, frames)
        assert torch.all((masks > 0) & (masks < 1))
