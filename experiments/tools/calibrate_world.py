"""Calibrate a synthetic world with methods that do not learn from weak labels.

On a dataset generated with ``--save-sources`` (e.g. ``recipes/synth-medium.toml``
on ``make-synthetic-sources --size medium``), scores on the test split:

- ``ideal-ratio-mask``: each source read from the mixture through its ideal ratio
  mask (isolated tracks and background known): the ceiling of mask methods;
- ``nmf``: supervised NMF, dictionaries from the isolated training sources;
- ``class-prior``: each class's median training level where it is mostly present;
- ``oracle-presence-split``: true presence, the mixture level split equally.

    python experiments/tools/calibrate_world.py DATASET --out DIR

Writes the submissions and a leaderboard under DIR and prints the per-condition
MAE table (Markdown) that docs/datasets.md quotes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tool_main import run_tool

from sssle_bench.dataset import GeneratedDataset
from sssle_bench.estimators.run import predict, train
from sssle_bench.estimators.spectral import ideal_ratio_mask_levels
from sssle_bench.leaderboard import build_leaderboard
from sssle_bench.metrics import ScoreSettings
from sssle_bench.paths import write_text
from sssle_bench.toml_files import dumps_toml

METHODS = {
    "class-prior": {},
    "oracle-presence-split": {},
    "nmf": {"components": 8, "train_iterations": 60, "predict_iterations": 40},
}


def ideal_ratio_mask_submission(dataset: Path, out: Path, split: str = "test") -> Path:
    """Predictions of the ideal-ratio-mask read-out for every mixture and condition."""
    ds = GeneratedDataset(dataset)
    rows = []
    for mix in ds.mixtures(split):
        bg = mix.sources_dir / f"background{mix.audio_path.suffix}"
        background = sf.read(bg)[0] if bg.exists() else None
        levels = ideal_ratio_mask_levels(
            mix.audio, ds.sources(mix), background, mix.sample_rate, "A"
        )
        rows += [
            (mix.info.mixture_id, mix.info.condition, c, levels.get(c, -np.inf)) for c in ds.classes
        ]
    frame = pd.DataFrame(rows, columns=["mixture_id", "condition", "class", "level_db"])
    write_text(out, "predictions.csv", frame.to_csv(index=False, float_format="%.4f"))
    meta = {
        "method": "ideal-ratio-mask",
        "supervision": "oracle",
        "description": "levels read through the ideal ratio mask of the isolated sources",
    }
    write_text(out, "meta.toml", dumps_toml(meta))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    subs = []
    for name, config in METHODS.items():
        start = time.monotonic()
        model, sub = args.out / "models" / name, args.out / "submissions" / name
        if not (model / "sssle_estimator.json").is_file():
            train(name, args.dataset, model, config)
        if not (sub / "predictions.csv").is_file():
            predict(name, args.dataset, model, sub, echo=print)
        print(f"{name}: {time.monotonic() - start:.0f} s")
        subs.append(sub)
    irm = args.out / "submissions" / "ideal-ratio-mask"
    if not (irm / "predictions.csv").is_file():
        ideal_ratio_mask_submission(args.dataset, irm)
    subs.append(irm)
    board = args.out / "leaderboard"
    table = build_leaderboard(subs, args.dataset, board, "test", ScoreSettings(), echo=print)
    conditions = [c for c in table.columns if c.startswith("mae_present_db_")]
    docs = {p.stem: p for p in (board / "scores").glob("*.json")}
    print(f"\n{len(docs)} methods; leaderboard: {board / 'index.html'}\n")
    header = [
        "method",
        "supervision",
        "all",
        *[c.removeprefix("mae_present_db_") for c in conditions],
    ]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for _, row in table.iterrows():
        cells = [row["method"], row["supervision"], f"{row['mae_present_db']:.2f}"]
        cells += [f"{row[c]:.2f}" for c in conditions]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    run_tool(main)
