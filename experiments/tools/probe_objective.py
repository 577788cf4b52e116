"""What the weak-sep objective prefers: its total loss at reference masks, per condition.

    python experiments/tools/probe_objective.py DATASET [--preset cpu] [--threads 2]
        [--classifier FILE | --cache DIR] [--mixtures 24] [--set KEY=VALUE ...]

DATASET must hold isolated sources (`generate --save-sources`; the demo's toy
dataset does). Pretrains the shared classifier exactly as weak-sep does (or
loads a pretrained ``classifier-*.pt``, such as the shipped checkpoints'), then
prints, for each condition, the training margin and the mean total loss of 24
test mixtures at oracle, "absorb the background", "equal split" and all-zero
masks (``losses.reference_masks``), each set's total minus the oracle's with a 95%
paired bootstrap CI over the mixtures, and each term at the oracle and absorb masks.
``--cache DIR`` keeps the pretrained classifier there as weak-sep does
(``classifier-{key}.pt``), so probes of variants that differ only in the separator's
objective (``--set use_margin=false`` ...) share one; ``--mixtures`` sets how many test
mixtures per condition are averaged.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path

import numpy as np
import torch
from tool_main import run_tool

from sssle_bench.dataset import GeneratedDataset
from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.critic import pretrain_shared_classifier
from sssle_bench.estimators.weak_sep.data import training_margin
from sssle_bench.estimators.weak_sep.networks import freeze
from sssle_bench.estimators.weak_sep.objective import Model, objective_per_mixture
from sssle_bench.significance import paired_bootstrap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classifier", type=Path, help="a pretrained classifier-*.pt")
    parser.add_argument("--cache", type=Path, help="keep or reuse the pretrained classifier here")
    parser.add_argument("--mixtures", type=int, default=24, help="test mixtures per condition")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides KEY=TOML")
    args = parser.parse_args()
    start = time.perf_counter()
    ds = GeneratedDataset(args.dataset)
    overrides = tomllib.loads("\n".join(args.set))
    config = make_config({"preset": args.preset, "threads": args.threads, **overrides})
    if args.classifier is None:
        if args.cache is not None:
            args.cache.mkdir(parents=True, exist_ok=True)
        weights, _ = pretrain_shared_classifier(config, ds, "train", args.cache, log=lambda s: None)
    else:
        weights = torch.load(args.classifier, weights_only=True)["classifier"]
    model = Model(config, len(ds.classes))
    model.classifier.load_state_dict(weights)
    freeze(model.classifier)
    torch.set_num_threads(args.threads)
    masks = ("oracle", "absorb", "equal", "zero")
    terms, gaps = {}, []
    print("| condition | margin | oracle | absorb | equal | zero |")
    print("|---|---|---|---|---|---|")
    for condition in ds.conditions:
        margin = training_margin(ds, "train", condition, config)
        values = objective_per_mixture(model, ds, "test", condition, n=args.mixtures)
        total = {m: {t: float(np.mean(v)) for t, v in values[m].items()} for m in masks}
        print(f"| {condition} | {margin:.3f} | " + " | ".join(
            f"{total[k]['total']:.2f}" for k in masks) + " |")  # fmt: skip
        terms[condition] = total
        # each mask set's total minus the oracle's, paired over the same mixtures
        stack = np.stack([values[m]["total"] for m in masks])
        ones = np.ones(stack.shape[1])
        diff, low, high = paired_bootstrap(stack, ones, 1000, seed=0)
        gaps.append((condition, [(diff[i, 0], low[i, 0], high[i, 0]) for i in (1, 2, 3)]))
    print(f"\neach minus the oracle's total, mean over {args.mixtures} mixtures [95% paired "
          "bootstrap CI]; > 0: the oracle is cheaper")  # fmt: skip
    print("| condition | absorb - oracle | equal - oracle | zero - oracle |")
    print("|---|---|---|---|")
    for condition, cells in gaps:
        print(f"| {condition} | " + " | ".join(
            f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]" for d, lo, hi in cells) + " |")  # fmt: skip
    for mask in ("oracle", "absorb"):
        print(f"\nterms at the {mask} masks (unweighted):")
        for condition, total in terms.items():
            print(f"  {condition}: " + ", ".join(f"{k} {v:.3f}" for k, v in total[mask].items()))
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    run_tool(main)
