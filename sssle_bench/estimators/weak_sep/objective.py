"""One weak-sep model: its two networks (the separator and the frozen classifier that
judges it, the critic) and the objective that trains the separator, every loss term for
any masks; and what that objective prefers among reference masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...audio import read_audio
from ...dataset import GeneratedDataset, background_name, has_background
from ...levels import to_mono
from ..spectral import window as sqrt_hann
from .config import WeakSepConfig
from .data import training_margin
from .losses import (
    background_loss,
    consistency_loss,
    critic_loss,
    non_silent_frames,
    reference_masks,
)
from .networks import (
    CRNN,
    OriginalCRNN,
    log_mel,
    make_separator,
    mel_filterbank,
    mel_scale,
    separator_spectra,
)


class Model:
    """One weak-sep model: the separator, the classifier (frozen once pretrained: the
    critic) and the fixed tensors (mel filterbank) of one configuration, and the objective
    (:meth:`objective`) that trains the separator."""

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
        """The mel scale (:func:`~.networks.mel_scale`) of clips ``(B, F, T)`` that
        :meth:`classify` judges other spectrograms by with ``classifier_floor =
        "mixture"``; None (nothing computed) for any other classifier floor."""
        if self.config.classifier_arch == "original" or self.config.classifier_floor != "mixture":
            return None
        return mel_scale(mag, self.filterbanks["mel"])

    def classify(self, mag: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """Clip-level presence probabilities ``(B, K)`` of magnitude spectrograms (window-
        scaled linear magnitude for the original CRNN, log-mel for the compact one).

        ``reference`` ``(B,)``: the mel scale (:func:`~.networks.mel_scale`) of the clip
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


def objective_at_reference_masks(
    model: Model,
    dataset: GeneratedDataset,
    split: str,
    condition: str,
    n: int = 24,
    terms: bool = False,
) -> dict[str, Any]:
    """Mean total loss over the first ``n`` mixtures of ``condition`` at each of
    :func:`~.losses.reference_masks` (needs a dataset with saved sources), with the
    training split's margin of that condition: what the objective prefers. With
    ``terms``: every loss term's mean (a dict per mask set) instead of the total."""
    values = objective_per_mixture(model, dataset, split, condition, n)
    means = {name: {t: float(np.mean(v)) for t, v in d.items()} for name, d in values.items()}
    return means if terms else {name: d["total"] for name, d in means.items()}


def objective_per_mixture(
    model: Model, dataset: GeneratedDataset, split: str, condition: str, n: int = 24
) -> dict[str, dict[str, np.ndarray]]:
    """Every loss term of each of the first ``n`` mixtures of ``condition`` at each of
    :func:`~.losses.reference_masks`: ``{mask set: {term: (n,) array}}``, mixtures in
    the split's order (see :func:`objective_at_reference_masks`)."""
    margin = training_margin(dataset, "train", condition, model.config)

    def mag(audio: np.ndarray) -> torch.Tensor:
        return model.spectra(torch.from_numpy(audio.astype(np.float32))[None])[0][0]

    sums: dict[str, dict[str, list[float]]] = {}
    flag = torch.tensor([float(has_background(condition))])
    for i, mix in enumerate(dataset.mixtures(split, (condition,))):
        if i == n:
            break
        x = mag(mix.audio)
        tracks = dataset.sources(mix)
        path = mix.sources_dir / background_name(mix.audio_path)
        background = mag(to_mono(read_audio(path)[0])) if path.is_file() else torch.zeros_like(x)
        labels = torch.tensor([float(mix.labels[c]) for c in dataset.classes])
        sources = torch.stack(
            [mag(tracks[c]) if c in tracks else torch.zeros_like(x) for c in dataset.classes]
        )
        for name, masks in reference_masks(sources, background, labels).items():
            with torch.no_grad():
                values = model.objective(
                    x[None], masks.clamp(0, 1)[None], labels[None], margin, flag
                )
            for term, value in values.items():
                sums.setdefault(name, {}).setdefault(term, []).append(float(value))
    return {name: {t: np.array(v) for t, v in d.items()} for name, d in sums.items()}
