"""weak-sep training and inference throughput on one accelerator (or the CPU), on random
audio: what a GPU run of the talk's experiment can afford (issue 24's sizing).

    python experiments/device/throughput.py --device cuda --seconds 240 --out OUT.json

For each preset (``cpu``: the 4-channel U-Net; ``paper``: the original's networks) and
batch size, separator training steps (forward, backward, Adam; the frozen critic inside
the objective) are timed after warm-up, then inference (masks and the classifier, as
``predict`` runs them). ``--concurrent N`` also times N training processes sharing the
device, the way several variants would train at once. Random weights and audio: speed
does not depend on training. Every figure is a median of timed repeats; the whole run
stops adding measurements when ``--seconds`` is spent. ``--device cpu --seconds 20``
is the toy-size check that the script works.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.objective import Model

CLASSES = 5
SR, SECONDS = 16000, 4.0


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def training_step(preset: str, device: str, batch: int):
    """A function that runs one separator training step (forward, backward, Adam; the
    frozen critic inside the objective) on a fixed random batch, and waits for it."""
    model = Model(make_config({"preset": preset, "device": device}), CLASSES)
    for p in model.classifier.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(model.separator.parameters(), 1e-4)
    audio = (torch.randn(batch, int(SR * SECONDS)) * 0.05).to(device)
    labels = (torch.rand(batch, CLASSES) > 0.4).float().to(device)
    flags = torch.ones(batch, device=device)

    def step() -> None:
        terms = model.loss_terms(audio, labels, 0.3, flags)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        _sync(device)

    return step


def training_rate(preset: str, device: str, batch: int, steps: int = 5) -> float:
    """Training mixtures/s of one separator (median of ``steps`` timed steps)."""
    step = training_step(preset, device, batch)
    times = []
    for i in range(steps + 2):
        start = time.perf_counter()
        step()
        if i >= 2:  # two warm-up steps
            times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


@torch.inference_mode()
def inference_rtf(preset: str, device: str, batch: int, repeats: int = 5) -> float:
    """Seconds of audio per second of masks + classifier (median of ``repeats``)."""
    model = Model(make_config({"preset": preset, "device": device}), CLASSES)
    model.separator.eval()
    model.classifier.eval()
    audio = (torch.randn(batch, int(SR * SECONDS)) * 0.05).to(device)
    times = []
    for i in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        mag, feats = model.spectra(audio)
        (model.separator(feats) * mag[:, None]).sum().item()
        model.classify(mag).sum().item()
        _sync(device)
        if i >= 1:
            times.append(time.perf_counter() - start)
    return batch * SECONDS / statistics.median(times)


def _worker(args: tuple[str, str, int, float, mp.Queue]) -> None:
    try:
        _train_until(*args)
    except torch.OutOfMemoryError:
        args[-1].put("out of memory")


def _train_until(preset: str, device: str, batch: int, until: float, queue: mp.Queue) -> None:
    step = training_step(preset, device, batch)
    step()  # the warm-up
    done, start = 0, time.time()
    while not done or time.time() < until:  # at least one timed step
        step()
        done += batch
    queue.put(done / max(time.time() - start, 1e-9))


def concurrent_rate(preset: str, device: str, batch: int, n: int, seconds: float) -> float:
    """Total training mixtures/s of ``n`` processes training at once on ``device``."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    until = time.time() + seconds
    procs = [
        ctx.Process(target=_worker, args=((preset, device, batch, until, queue),)) for _ in range(n)
    ]
    for p in procs:
        p.start()
    rates = [queue.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    if any(isinstance(r, str) for r in rates):
        raise torch.OutOfMemoryError("a training process ran out of memory")
    return float(sum(rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--batches", default="8,32,128")
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    deadline = time.time() + args.seconds
    info = {
        "device": args.device,
        "name": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "cpu": platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    rows = []

    def record(**row) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    for preset in ("cpu", "paper"):
        for batch in (int(b) for b in args.batches.split(",")):
            if time.time() > deadline:
                break
            try:
                rate = training_rate(preset, args.device, batch)
                rtf = inference_rtf(preset, args.device, batch)
            except torch.OutOfMemoryError:
                record(preset=preset, batch=batch, error="out of memory")
                continue
            record(preset=preset, batch=batch, train_mix_per_s=rate, inference_rtf=rtf)
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()  # the worker processes need the memory this one cached
        if args.concurrent > 1 and time.time() + 30 < deadline:
            batch = 32
            try:
                one = concurrent_rate(preset, args.device, batch, 1, 15)
                many = concurrent_rate(preset, args.device, batch, args.concurrent, 20)
            except torch.OutOfMemoryError:
                record(preset=preset, batch=batch, processes=args.concurrent, error="out of memory")
                continue
            record(
                preset=preset,
                batch=batch,
                processes=args.concurrent,
                one_process_mix_per_s=one,
                all_processes_mix_per_s=many,
            )
    result = {"machine": info, "rows": rows}
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
