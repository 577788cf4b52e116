"""What the weak-sep objective prefers: its total loss at reference masks, per condition.

    python experiments/tools/probe_objective.py DATASET [--preset cpu] [--threads 2]
        [--classifier FILE] [--set KEY=VALUE ...]

DATASET must hold isolated sources (`generate --save-sources`; the demo's toy
dataset does). Pretrains the shared classifier exactly as weak-sep does (or
loads a pretrained ``classifier-*.pt``, such as the shipped checkpoints'), then
prints, for each condition, the training margin and the mean total loss of 24
test mixtures at oracle, "absorb the background", "equal split" and all-zero
masks (``losses.reference_masks``), and each term at the oracle and absorb masks.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path

import torch

from sssle_bench.dataset import GeneratedDataset
from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.critic import pretrain_shared_classifier
from sssle_bench.estimators.weak_sep.data import training_margin
from sssle_bench.estimators.weak_sep.networks import freeze
from sssle_bench.estimators.weak_sep.objective import Model, objective_at_reference_masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classifier", type=Path, help="a pretrained classifier-*.pt")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides KEY=TOML")
    args = parser.parse_args()
    start = time.perf_counter()
    ds = GeneratedDataset(args.dataset)
    overrides = tomllib.loads("\n".join(args.set))
    config = make_config({"preset": args.preset, "threads": args.threads, **overrides})
    if args.classifier is None:
        weights, _ = pretrain_shared_classifier(config, ds, "train", None, log=lambda s: None)
    else:
        weights = torch.load(args.classifier, weights_only=True)["classifier"]
    model = Model(config, len(ds.classes))
    model.classifier.load_state_dict(weights)
    freeze(model.classifier)
    torch.set_num_threads(args.threads)
    terms = {}
    print("| condition | margin | oracle | absorb | equal | zero |")
    print("|---|---|---|---|---|---|")
    for condition in ds.conditions:
        margin = training_margin(ds, "train", condition, config)
        total = objective_at_reference_masks(model, ds, "test", condition, terms=True)
        cells = " | ".join(
            f"{total[k]['total']:.2f}" for k in ("oracle", "absorb", "equal", "zero")
        )
        print(f"| {condition} | {margin:.3f} | {cells} |")
        terms[condition] = total
    for mask in ("oracle", "absorb"):
        print(f"\nterms at the {mask} masks (unweighted):")
        for condition, total in terms.items():
            print(f"  {condition}: " + ", ".join(f"{k} {v:.3f}" for k, v in total[mask].items()))
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
