"""The networks of one weak-sep model and its objective: the separator's loss terms for any
masks, with the frozen classifier as critic; the batches training reads.
"""

from __future__ import annotations

from typing import Any

import torch

from ...dataset import GeneratedDataset, torch_dataset
from ..spectral import window as sqrt_hann
from .config import WeakSepConfig
from .losses import background_loss, consistency_loss, critic_loss, non_silent_frames
from .models import (
    CRNN,
    OriginalCRNN,
    OriginalUNet,
    UNet,
    log_features,
    log_mel,
    magnitude,
    mel_filterbank,
    mel_scale,
    original_features,
)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's weight initialisation; return the generator that shuffles batches."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_separator(config: Any, n_classes: int) -> torch.nn.Module:
    """The U-Net of a config's ``separator_arch``, ``unet_channels``, ``unet_kernel`` and
    ``unet_levels`` (weak-sep's and sup-sep's configs name them alike), in channels-last
    memory layout (CPU convolutions and their gradients run 1.3-1.4x faster in it)."""
    if config.separator_arch == "original":
        net: torch.nn.Module = OriginalUNet(n_classes, config.unet_channels, config.unet_levels)
    else:
        net = UNet(n_classes, config.unet_channels, config.unet_kernel, config.unet_levels)
    return net.to(memory_format=torch.channels_last)


def separator_spectra(config: Any, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear magnitude ``(B, F, T)`` of audio ``(B, n)`` and the input features of the
    config's separator (log window-scaled magnitude for the original U-Net)."""
    mag, _ = magnitude(audio, config.n_fft, config.hop)
    if config.separator_arch == "original":
        return mag, original_features(mag / float(sqrt_hann(config.n_fft).sum()))
    return mag, log_features(mag)


class Trainer:
    """Holds the networks and the fixed tensors (mel filterbank) for one configuration."""

    def __init__(self, config: WeakSepConfig, n_classes: int):
        self.config = config
        #: Classifier outputs: one per class, plus "background present" with
        #: ``background_critic``.
        outputs = n_classes + int(config.background_critic)
        self.separator = make_separator(config, n_classes)
        if config.classifier_arch == "original":
            self.classifier = OriginalCRNN(
                outputs,
                config.n_fft // 2 + 1,
                config.classifier_channels,
                config.lstm_hidden,
                config.classifier_bias,
            )
        else:
            self.classifier = CRNN(outputs, config.classifier_channels, config.lstm_hidden)
        self.classifier.to(memory_format=torch.channels_last)
        mel = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels)
        self.device = torch.device(config.device)
        self.separator.to(self.device)
        self.classifier.to(self.device)
        self.filterbanks = {"linear": None, "mel": torch.from_numpy(mel).float().to(self.device)}
        self.window_sum = float(sqrt_hann(config.n_fft).sum())

    def spectra(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixture magnitude ``(B, F, T)`` and the separator's input features, on the device."""
        return separator_spectra(self.config, audio.to(self.device))

    def floor_reference(self, mag: torch.Tensor) -> torch.Tensor | None:
        """The mel scale (:func:`~.models.mel_scale`) of clips ``(B, F, T)`` that
        :meth:`classify` judges other spectrograms by with ``classifier_floor =
        "mixture"``; None (nothing computed) for any other classifier floor."""
        if self.config.classifier_arch == "original" or self.config.classifier_floor != "mixture":
            return None
        return mel_scale(mag, self.filterbanks["mel"])

    def classify(self, mag: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """Clip-level presence probabilities ``(B, K)`` of magnitude spectrograms (window-
        scaled linear magnitude for the original CRNN, log-mel for the compact one).

        ``reference`` ``(B,)``: the mel scale (:func:`~.models.mel_scale`) of the clip
        each spectrogram was taken from, for ``classifier_floor = "mixture"``; None: its
        own (a whole clip)."""
        if self.config.classifier_arch == "original":
            return self.classifier((mag / self.window_sum).unsqueeze(1))
        fb = self.filterbanks["mel"]
        if self.config.classifier_floor == "absolute":
            return self.classifier(log_mel(mag, fb))
        return self.classifier(
            log_mel(mag, fb, mel_scale(mag, fb) if reference is None else reference)
        )

    def loss_terms(
        self, audio: torch.Tensor, labels: torch.Tensor, margin: float, background: torch.Tensor
    ) -> dict:
        """Every separator loss term on one batch of audio (classifier frozen)."""
        x, feats = self.spectra(audio)
        return self.objective(x, self.separator(feats), labels, margin, background)

    def objective(
        self,
        x: torch.Tensor,
        masks: torch.Tensor,
        labels: torch.Tensor,
        margin: float,
        background: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Every loss term and their weighted ``total`` for any masks ``(B, K, F, T)`` of
        mixture magnitudes ``x`` ``(B, F, T)``; ``margin``: the fraction of each clip's
        mixture magnitude sources may leave out (:func:`training_margin`), used when
        ``use_margin``; ``background`` ``(B,)``: 1 where the mixture's condition has a
        background (used by ``background_critic``; None = no background)."""
        c = self.config
        frames = non_silent_frames(x, c.silence_ratio)
        # Window-scaled magnitudes (the original's `window_scaling`): a full-scale sinusoid
        # peaks at 0.5, so the loss weights mean what they mean in the original.
        scaled = x / self.window_sum
        # With a margin every resolution's term is the asymmetric margin term (as in the
        # original's margin configs); no symmetric term beside it cancels the margin.
        relative = c.consistency_scale == "relative"
        room = margin if c.use_margin else None
        terms = {
            "consistency": consistency_term(
                [
                    weight
                    * consistency_loss(
                        scaled, masks, labels, frames, self.filterbanks[fb], agg, room, relative
                    )
                    for fb, agg, weight in c.resolutions()
                ],
                x,
            )
        }
        b, k = labels.shape
        sources = (x[:, None] * masks).reshape(b * k, *x.shape[1:])
        # sources and residual are judged at their mixture's scale (classifier_floor)
        scale = self.floor_reference(x)
        probs = self.classify(sources, None if scale is None else scale.repeat_interleave(k))
        terms["critic"] = critic_loss(probs.reshape(b, k, -1), labels)
        if c.background_classification:
            residual = x * torch.clamp(1 - masks.sum(dim=1), min=0.0)
            flag = None
            if c.background_critic:
                flag = x.new_zeros(b) if background is None else background.to(x)
            terms["background"] = background_loss(self.classify(residual, scale), flag)
        weights = {
            "consistency": c.weight_consistency,
            "critic": c.weight_critic,
            "background": c.weight_background,
        }
        terms["total"] = sum(weights[n] * v for n, v in terms.items())
        return terms


def consistency_term(weighted: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The energy-consistency term: the mean of the resolutions' weighted terms (the
    original's ``create_average_of_losses``); zero without any resolution."""
    return torch.stack(weighted).mean() if weighted else x.new_zeros(())


def effective_weights(config: WeakSepConfig) -> dict[tuple[str, str], float]:
    """What each consistency term weighs in the total loss: ``weight_consistency`` x its
    own weight / the number of terms (docs/weak-sep.md tabulates them per variant)."""
    n = len(config.energy_resolutions)
    return {(fb, agg): config.weight_consistency * w / n for fb, agg, w in config.resolutions()}


def mixture_loader(dataset, split, config, generator, shuffle, condition=None):
    """Batches of (audio, labels, background flags) of one condition (all with None), as
    training reads them; ``max_train_mixtures`` keeps an evenly spaced subset."""
    ds = torch_dataset(dataset, split, None if condition is None else (condition,))
    limit = config.max_train_mixtures
    if limit is not None and len(ds) > limit:
        step = len(ds) / limit
        ds = torch.utils.data.Subset(ds, [int(i * step) for i in range(limit)])
    return torch.utils.data.DataLoader(
        ds, batch_size=config.batch_size, shuffle=shuffle, generator=generator
    )


def freeze(network: torch.nn.Module) -> None:
    """Evaluation mode, no gradients: the classifier once pretrained."""
    network.eval()
    for p in network.parameters():
        p.requires_grad_(False)


def valid_split(dataset: GeneratedDataset, split: str) -> str | None:
    """The split that validates training on ``split``: ``valid`` when there is one."""
    return "valid" if "valid" in dataset.splits and split != "valid" else None
