"""weak-sep speed on CPU: inference real-time factor and training mixtures/s.

    python benchmarks/bench_model.py [--preset paper|cpu] [--unet-channels N]

Inference: 4 s clips at 16 kHz, batch 16, with 1 thread and with all threads;
RTF = seconds of audio per second of compute (target: >= 100x on one core).
Training: mixtures/s of one separator step (forward + backward, batch 8);
validation: mixtures/s of the loss terms without gradients. Minutes per epoch at
1,000 training and 500 validation mixtures follow from the two.
Random weights: speed does not depend on training.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.estimator import WeakSep
from sssle_bench.estimators.weak_sep.networks import freeze
from sssle_bench.estimators.weak_sep.objective import Model
from sssle_bench.executors import available_cores

CLASSES = ["car_horn", "dog_bark", "gun_shot", "jackhammer", "siren"]
SR, SECONDS = 16000, 4.0


def make(preset: str, overrides: dict) -> WeakSep:
    est = WeakSep(preset=preset, **overrides)
    est.classes = CLASSES
    model = Model(est.cfg, len(CLASSES))
    model.separator.eval()
    model.classifier.eval()
    est.models = {"none": model}
    return est


def inference_rtf(est: WeakSep, threads: int, batch: int = 16, repeats: int = 3) -> float:
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    audios = [
        rng.standard_normal(int(SR * SECONDS)).astype(np.float32) * 0.05 for _ in range(batch)
    ]
    est.predict_batch(audios, SR, [None] * batch)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        est.predict_batch(audios, SR, [None] * batch)
    return batch * repeats * SECONDS / (time.perf_counter() - start)


def training_rates(
    preset: str, overrides: dict, threads: int, batch: int = 8, steps: int = 6
) -> tuple[float, float]:
    """Mixtures/s of training steps and of validation (loss terms, no gradients)."""
    torch.set_num_threads(threads)
    model = Model(make_config({"preset": preset, **overrides}), len(CLASSES))
    freeze(model.classifier)
    opt = torch.optim.Adam(model.separator.parameters(), 1e-4)
    audio = torch.randn(batch, int(SR * SECONDS)) * 0.05
    labels = (torch.rand(batch, len(CLASSES)) > 0.4).float()

    def step() -> None:
        terms = model.loss_terms(audio, labels, 0.3, torch.ones(batch))
        opt.zero_grad()
        terms["total"].backward()
        opt.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    train = batch * steps / (time.perf_counter() - start)
    model.separator.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(steps):
            model.loss_terms(audio, labels, 0.3, torch.ones(batch))
    return train, batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="cpu", choices=["cpu", "paper"])
    parser.add_argument("--unet-channels", type=int, help="override the preset's U-Net width")
    args = parser.parse_args()
    overrides = {} if args.unet_channels is None else {"unet_channels": args.unet_channels}
    cores = available_cores()
    est = make(args.preset, overrides)
    print(f"preset {args.preset} {overrides or ''}, {cores} cores")
    print(f"inference RTF, 1 thread      : {inference_rtf(est, 1):8.1f}x real time")
    print(f"inference RTF, {cores} threads     : {inference_rtf(est, cores):8.1f}x real time")
    train, valid = training_rates(args.preset, overrides, cores)
    print(f"training, {cores} threads     : {train:8.2f} mixtures/s")
    print(f"validation, {cores} threads   : {valid:8.2f} mixtures/s")
    minutes = (1000 / train + 500 / valid) / 60
    print(f"epoch at 1,000 + 500 mixtures: {minutes:8.2f} min")


if __name__ == "__main__":
    main()
