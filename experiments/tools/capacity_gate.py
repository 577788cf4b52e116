"""The capacity gate of weak-sep (issue 23): can the separator network separate at all?

    python experiments/tools/capacity_gate.py DATASET --class-prior SUB/predictions.csv \
        --out DIR --widths 4,8,16 [--levels 3] [--train 1000] [--epochs 30] [--threads 2]

For each U-Net width (``unet_channels``; ``--levels`` stride-2 levels), ``sup-sep`` (the
same network trained on the isolated sources, strong supervision) is trained on
``--train`` evenly spaced ``none`` training mixtures to early stopping (its best
validation epoch kept), then scored on the test split's ``none`` mixtures against the
class-prior: per class, the MAE over present sources (A-weighted dB) with its 95%
bootstrap interval, and the paired difference to the class-prior with its 95% paired
interval (mixtures resampled). A width passes when every class's paired interval lies
below zero. Also: parameters, training mixtures per second (median epoch), training
wall time, and inference speed on one thread (x real time, 4 s clips).

``--arch original --levels 4 --widths 64`` is the original's U-Net (9.6M parameters).
Resumable: each width trains into ``DIR/w{width}`` (per-epoch checkpoints) and its
predictions are kept in ``DIR/w{width}/predictions.csv``. Writes ``DIR/gate.json`` and
prints the Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from paired_by_condition import condition_pairs, interval  # beside this script
from tool_main import run_tool

from sssle_bench.dataset import GeneratedDataset
from sssle_bench.estimators.run import load_trained, train
from sssle_bench.metrics import ScoreSettings


def none_predictions(model, dataset: GeneratedDataset, path: Path) -> None:
    """The model's clip levels for every ``none`` test mixture, as a predictions CSV."""
    rows = []
    mixes = list(dataset.mixtures("test", ("none",)))
    for start in range(0, len(mixes), 16):
        chunk = mixes[start : start + 16]
        preds = model.predict_batch(
            [m.audio for m in chunk], chunk[0].sample_rate, [m.info for m in chunk]
        )
        for mix, pred in zip(chunk, preds, strict=True):
            for cls, level in pred.levels.items():
                rows.append((mix.info.mixture_id, "none", cls, level))
    frame = pd.DataFrame(rows, columns=["mixture_id", "condition", "class", "level_db"])
    frame.to_csv(path, index=False)


def inference_speed(model, dataset: GeneratedDataset, n: int = 40) -> float:
    """Seconds of audio per second of ``predict_batch`` on one thread (x real time)."""
    mixes = list(dataset.mixtures("test", ("none",)))[:n]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.predict_batch(
            [m.audio for m in mixes[:4]], mixes[0].sample_rate, [m.info for m in mixes[:4]]
        )
        start = time.perf_counter()
        model.predict_batch([m.audio for m in mixes], mixes[0].sample_rate, [m.info for m in mixes])
        wall = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return sum(m.audio.size / m.sample_rate for m in mixes) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--class-prior", type=Path, required=True, help="its predictions.csv")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--widths", default="4,8,16")
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument(
        "--arch", default="compact", help="separator_arch: compact, or original (the paper's)"
    )
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    settings = ScoreSettings(bootstrap=args.bootstrap)
    dataset = GeneratedDataset(args.dataset)
    prior = condition_pairs(args.class_prior, args.dataset, "test", settings, ["none"])
    classes = list(dataset.classes)
    results = []
    for width in [int(w) for w in args.widths.split(",")]:
        folder = args.out / (f"w{width}" if args.arch == "compact" else f"{args.arch}-w{width}")
        config = {
            "preset": "cpu",
            "separator_arch": args.arch,
            "unet_channels": width,
            "unet_levels": args.levels,
            "max_train_mixtures": args.train,
            "conditions": ["none"],
            "epochs": args.epochs,
            "patience": args.patience,
            "learning_rate": args.lr,
            "batch_size": args.batch,
            "threads": args.threads,
            "device": args.device,
        }
        start = time.perf_counter()
        model = (
            load_trained("sup-sep", folder)
            if (folder / "model.pt").is_file()
            else train("sup-sep", args.dataset, folder, config)
        )
        wall = time.perf_counter() - start
        history = json.loads((folder / "history.json").read_text())["none"]["epochs"]
        per_epoch = statistics.median(e["train_seconds"] for e in history)
        predictions = folder / "predictions.csv"
        if not predictions.is_file():
            none_predictions(model, dataset, predictions)
        ours = condition_pairs(predictions, args.dataset, "test", settings, ["none"])
        row = {
            "arch": args.arch,
            "width": width,
            "levels": args.levels,
            "parameters": sum(p.numel() for p in model.separators["none"].parameters()),
            "epochs": len(history),
            "best_epoch": 1 + int(np.argmin([e.get("valid", e["train"]) for e in history])),
            "train_mixtures": args.train,
            "train_mixtures_per_s": args.train / per_epoch,
            "train_wall_s": sum(e["train_seconds"] for e in history),
            "run_wall_s": wall,
            "inference_x_real_time_1_thread": inference_speed(model, dataset),
            "classes": {},
        }
        for cls in classes:
            a = ours[ours["class"] == cls]
            b = prior[prior["class"] == cls]
            mae = interval(a, None, settings)
            diff = interval(a, b, settings)
            row["classes"][cls] = {"mae": mae, "minus_class_prior": diff, "n": len(a)}
        row["passes"] = all(c["minus_class_prior"][2] < 0 for c in row["classes"].values())
        results.append(row)
        (args.out / "gate.json").write_text(json.dumps(results, indent=1))
        print(f"width {width}: {'passes' if row['passes'] else 'fails'}", flush=True)
    prior_mae = {c: interval(prior[prior["class"] == c], None, settings) for c in classes}
    print(table(results, classes, prior_mae))


def table(results: list[dict], classes: list[str], prior: dict) -> str:
    """The gate as Markdown: one row per width, then the class-prior's row."""
    head = "| network (width x levels) | parameters | " + " | ".join(
        f"{c}: MAE, minus class-prior" for c in classes
    )
    head += " | training mixtures/s | inference x real time (1 thread) | passes |"
    lines = [head, "|---" * (len(classes) + 5) + "|"]
    for r in results:
        cells = []
        for c in classes:
            m, d = r["classes"][c]["mae"], r["classes"][c]["minus_class_prior"]
            cells.append(
                f"{m[0]:.2f} [{m[1]:.2f}, {m[2]:.2f}], {d[0]:+.2f} [{d[1]:+.2f}, {d[2]:+.2f}]"
            )
        lines.append(
            f"| {r['arch']} {r['width']} x {r['levels']} | {r['parameters']:,} | "
            + " | ".join(cells)
            + f" | {r['train_mixtures_per_s']:.1f} | {r['inference_x_real_time_1_thread']:.0f} | "
            + ("yes" if r["passes"] else "no")
            + " |"
        )
    cells = [f"{prior[c][0]:.2f} [{prior[c][1]:.2f}, {prior[c][2]:.2f}]" for c in classes]
    lines.append("| class-prior | - | " + " | ".join(cells) + " | - | - | - |")
    return "\n".join(lines)


if __name__ == "__main__":
    run_tool(main)
