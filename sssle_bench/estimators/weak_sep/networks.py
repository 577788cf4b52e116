"""Networks: the U-Net mask separator and the CRNN clip classifier, plus the STFT front end."""

from __future__ import annotations

import copy
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..spectral import window as sqrt_hann


def magnitude(audio: torch.Tensor, n_fft: int, hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear-magnitude and complex STFT ``(batch, bins, frames)`` (sqrt-Hann, centred)."""
    win = torch.from_numpy(sqrt_hann(n_fft)).to(audio.dtype).to(audio.device)
    spec = torch.stft(audio, n_fft, hop, window=win, center=True, return_complex=True)
    return spec.abs(), spec


def log_features(mag: torch.Tensor) -> torch.Tensor:
    """Log-compressed magnitude, the separator's input ``(batch, 1, bins, frames)``."""
    return torch.log(mag + 1e-4).unsqueeze(1)


#: The compact classifier's log floor: absolute, or relative to a reference clip's mean
#: mel-band magnitude (-80 dB below it).
LOG_FLOOR = 1e-4


def log_mel(
    mag: torch.Tensor, filterbank: torch.Tensor, reference: torch.Tensor | None = None
) -> torch.Tensor:
    """Log mel-band magnitude ``(batch, 1, bands, frames)``, the classifier's input.

    ``reference`` ``(batch,)``: the mean mel-band magnitude of the clip each input was
    taken from (a separated source: its mixture); the floor is then ``LOG_FLOOR`` times
    it, so scaling a source and its mixture together changes nothing but a constant.
    None: the absolute floor ``LOG_FLOOR``.
    """
    mel = torch.einsum("mf,bft->bmt", filterbank, mag)
    floor = LOG_FLOOR if reference is None else LOG_FLOOR * reference.clamp(min=1e-8)[:, None, None]
    return torch.log(mel + floor).unsqueeze(1)


def mel_scale(mag: torch.Tensor, filterbank: torch.Tensor) -> torch.Tensor:
    """Mean mel-band magnitude of each clip ``(batch,)``: the reference of :func:`log_mel`."""
    return torch.einsum("mf,bft->b", filterbank, mag) / (filterbank.shape[0] * mag.shape[-1])


class UNet(nn.Module):
    """``levels`` down / up blocks of k x k stride-2 convolutions (channels doubling from
    ``channels``), skip connections, one sigmoid mask per class."""

    def __init__(self, n_classes: int, channels: int = 64, kernel: int = 5, levels: int = 3):
        super().__init__()
        pad = kernel // 2
        c = [1] + [channels * 2**i for i in range(levels)]
        self.levels = levels
        self.down = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c[i], c[i + 1], kernel, 2, pad),
                nn.BatchNorm2d(c[i + 1]),
                nn.LeakyReLU(0.2),
            )
            for i in range(levels)
        )
        ups = []
        for i in range(levels, 0, -1):
            cin = c[i] if i == levels else 2 * c[i]
            cout = c[i - 1] if i > 1 else channels
            ups.append(
                nn.Sequential(
                    nn.ConvTranspose2d(cin, cout, kernel, 2, pad, output_padding=1),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(),
                )
            )
        self.up = nn.ModuleList(ups)
        self.head = nn.Conv2d(channels + 1, n_classes, 1)
        self.norm = nn.BatchNorm2d(1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, 1, bins, frames)`` log magnitude -> masks ``(B, classes, bins, frames)``."""
        _, _, f, t = features.shape
        step = 2**self.levels
        x = nn.functional.pad(self.norm(features), (0, (-t) % step, 0, (-f) % step))
        skips = [x]
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()
        # Transposed convolutions run ~3x faster on CPU in channels-last memory layout.
        last = torch.channels_last
        for block in self.up[:-1]:
            x = block(x.contiguous(memory_format=last))
            x = torch.cat([x, skips.pop().contiguous(memory_format=last)], dim=1)
        x = self.up[-1](x.contiguous(memory_format=last))
        # The 1x1 head on [x, input] without building that full-resolution concatenation
        # (the same sum, 1.2x faster inference): weights of x's channels, then the input's.
        w, c = self.head.weight[:, :, 0, 0], x.shape[1]
        logits = torch.einsum("bchw,kc->bkhw", x, w[:, :c]) + (
            w[:, c][None, :, None, None] * skips.pop() + self.head.bias[None, :, None, None]
        )
        return torch.sigmoid(logits)[:, :, :f, :t].contiguous()


class OriginalUNet(nn.Module):
    """The original code's ``UNetSpectrogramSeparator`` (``cdsd/models.py`` l. 103-255):
    an input block and ``levels - 1`` down blocks of 5x5 stride-2 convolutions, each with
    BatchNorm and ReLU (channels ``channels`` doubling per down block); up blocks of 5x5
    stride-2 transposed convolutions with BatchNorm and ReLU, the first without a skip
    connection, the others on ``[skip, x]``; an output block, a transposed convolution
    on ``[input block's output, x]`` to one channel per class, BatchNorm, sigmoid. Every
    transposed convolution restores its block's input size exactly (output padding 1 on
    even dimensions), so no input padding is needed.

    Input: log window-scaled magnitude ``(batch, 1, bins, frames)``
    (:func:`original_features`).
    """

    def __init__(self, n_classes: int, channels: int = 64, levels: int = 4):
        super().__init__()
        if levels < 2:
            raise ValueError("the original U-Net has an input block and at least one level")
        widths = [channels * 2**i for i in range(levels)]
        self.inc = self._down(1, widths[0])
        self.down = nn.ModuleList(self._down(a, b) for a, b in pairwise(widths))
        ups, cin = [], widths[-1]
        for i, cout in enumerate(reversed(widths[:-1])):
            ups.append(_OriginalUp(cin if i == 0 else 2 * cin, cout, nn.ReLU()))
            cin = cout
        self.up = nn.ModuleList(ups)
        self.outc = _OriginalUp(2 * widths[0], n_classes, nn.Sigmoid())

    @staticmethod
    def _down(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 5, 2, 2), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, 1, bins, frames)`` -> masks ``(B, classes, bins, frames)``."""
        sizes = [features.shape[2:]]
        x = self.inc(features)
        skips = [x]
        for block in self.down:
            sizes.append(x.shape[2:])
            x = block(x)
            skips.append(x)
        skips.pop()
        for i, block in enumerate(self.up):
            x = block(x if i == 0 else torch.cat([skips.pop(), x], dim=1), sizes.pop())
        return self.outc(torch.cat([skips.pop(), x], dim=1), sizes.pop())


class _OriginalUp(nn.Module):
    """Transposed 5x5 stride-2 convolution, BatchNorm, ``activation``; the output padding
    (1 on even target dimensions) is chosen per call so the output has ``size``."""

    def __init__(self, cin: int, cout: int, activation: nn.Module):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 5, 2, 2)
        self.norm = nn.BatchNorm2d(cout)
        self.activation = activation

    def forward(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        pad = tuple(int(n % 2 == 0) for n in size)
        x = nn.functional.conv_transpose2d(
            x, self.conv.weight, self.conv.bias, 2, 2, output_padding=pad
        )
        return self.activation(self.norm(x))


def folded_for_inference(net: nn.Module) -> nn.Module:
    """A copy of a separator for inference: evaluation mode, every BatchNorm that follows a
    convolution folded into that convolution's weights and bias (the same masks up to
    float rounding; a full-resolution pass over the feature maps fewer), activations in
    place. ``net`` itself is left as it is."""
    net = copy.deepcopy(net).eval()
    last = torch.channels_last

    def fold(conv: nn.Module, norm: nn.Module) -> nn.Module:
        transpose = isinstance(conv, nn.ConvTranspose2d)
        return fuse_conv_bn_eval(conv, norm, transpose).to(memory_format=last)  # type: ignore[arg-type]

    for module in net.modules():
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], nn.Conv2d | nn.ConvTranspose2d) and isinstance(
                    module[i + 1], nn.BatchNorm2d
                ):
                    module[i], module[i + 1] = fold(module[i], module[i + 1]), nn.Identity()
        elif isinstance(module, _OriginalUp):
            module.conv, module.norm = fold(module.conv, module.norm), nn.Identity()
        elif isinstance(module, nn.ReLU | nn.LeakyReLU):
            module.inplace = True  # no gradients to keep: overwrite the conv's output
    return net


def original_features(scaled: torch.Tensor) -> torch.Tensor:
    """The original separator's input: ``log(|X| + 1e-20)`` of the window-scaled magnitude
    (``LogMagnitude`` on ``Spectrogram(window_scaling=True)``), ``(batch, 1, bins, frames)``."""
    return torch.log(scaled + 1e-20).unsqueeze(1)


class CRNN(nn.Module):
    """Convolutions with pooling, a BiLSTM over time, one sigmoid per class (clip level).

    Input: log mel-band magnitudes (see :func:`log_mel`).
    """

    def __init__(
        self, n_classes: int, channels: tuple[int, int, int] = (32, 64, 128), hidden: int = 100
    ):
        super().__init__()
        layers, cin = [], 1
        for cout in channels:
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            cin = cout
        self.conv = nn.Sequential(*layers)
        self.norm = nn.BatchNorm2d(1)
        self.lstm = nn.LSTM(cin, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, n_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, 1, bands, frames)`` log mel -> presence probabilities ``(batch, classes)``."""
        x = self.conv(self.norm(features)).mean(dim=2).transpose(1, 2)
        x, _ = self.lstm(x)
        return torch.sigmoid(self.out(x).max(dim=1).values)


class OriginalCRNN(nn.Module):
    """The original code's ``CRNNSpectrogramClassifier`` (``cdsd/models.py`` l. 321-437):
    5x5 convolutions 32/64/128 without BatchNorm, ReLU, max pooling (2, 1), (2, 2),
    (2, 2) over (frequency, time), a BiLSTM over the flattened channels x remaining
    bins, a linear layer per frame, sigmoid, max over time.

    ``bias``: the class's default is bias-free (then it says exactly 0.5 for every
    class on digital silence); the configurations the paper trained
    (``resources/training_configs/*crnn_classifier_clip_lr1en4.json``) pass
    ``"bias": true``. Input: linear magnitude ``(batch, 1, bins, frames)``.
    """

    def __init__(
        self,
        n_classes: int,
        n_bins: int,
        channels: tuple[int, int, int] = (32, 64, 128),
        hidden: int = 100,
        bias: bool = False,
    ):
        super().__init__()
        layers, cin, bins = [], 1, n_bins
        for cout, pool in zip(channels, ((2, 1), (2, 2), (2, 2)), strict=True):
            layers += [
                nn.Conv2d(cin, cout, 5, padding=2, bias=bias),
                nn.ReLU(),
                nn.MaxPool2d(pool),
            ]
            cin, bins = cout, bins // pool[0]
        self.conv = nn.Sequential(*layers)
        self.lstm = nn.LSTM(cin * bins, hidden, batch_first=True, bidirectional=True, bias=bias)
        self.out = nn.Linear(2 * hidden, n_classes, bias=bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, 1, bins, frames)`` magnitude -> presence probabilities ``(batch, classes)``."""
        x = self.conv(features)
        b, c, f, t = x.shape
        x, _ = self.lstm(x.reshape(b, c * f, t).transpose(1, 2))
        return torch.sigmoid(self.out(x)).max(dim=1).values


def mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular mel filterbank ``(n_mels, n_fft // 2 + 1)`` (HTK mel scale)."""

    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = hz(np.linspace(mel(0.0), mel(sr / 2), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


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


def freeze(network: torch.nn.Module) -> None:
    """Evaluation mode, no gradients: the classifier once pretrained."""
    network.eval()
    for p in network.parameters():
        p.requires_grad_(False)
