"""Is weak-sep's frozen critic selective? Probability on silence and per-class AUC on
isolated test sources, for a classifier per condition vs one shared classifier, with and
without near-silent training clips.

    python experiments/tools/probe_classifier.py DATASET [--preset cpu] [--threads 2]

DATASET must be generated with ``--save-sources`` (the isolated test-split tracks are
the positives and negatives). Each classifier is pretrained exactly as weak-sep does
(``train_classifier`` / ``pretrain_shared_classifier``) with the preset's settings.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from tool_main import run_tool

from sssle_bench.dataset import GeneratedDataset
from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.critic import pretrain, pretrain_shared_classifier
from sssle_bench.estimators.weak_sep.data import seed_everything
from sssle_bench.estimators.weak_sep.objective import Model
from sssle_bench.metrics import roc_auc


def judge(model: Model, tracks: list[torch.Tensor], labels: np.ndarray) -> tuple[float, list]:
    """Largest class probability on 4 s of silence; per-class AUC on isolated tracks."""
    model.classifier.eval()
    with torch.inference_mode():
        silence = model.classify(model.spectra(torch.zeros(1, tracks[0].numel()))[0])[0]
        probs = torch.cat(
            [
                model.classify(model.spectra(torch.stack(tracks[i : i + 16]))[0])
                for i in range(0, len(tracks), 16)
            ]
        ).numpy()
    return float(silence.max()), [roc_auc(labels == k, probs[:, k]) for k in range(probs.shape[1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    ds = GeneratedDataset(args.dataset)
    tracks, labels = [], []
    for mix in ds.mixtures("test", conditions=(ds.conditions[0],)):
        for label, track in ds.sources(mix).items():
            tracks.append(torch.from_numpy(track.astype(np.float32)))
            labels.append(ds.classes.index(label))
    labels = np.array(labels)
    print(f"{len(tracks)} isolated test tracks; columns: {', '.join(ds.classes)}")
    for silence in (0.0, 0.25):
        config = make_config({"preset": args.preset, "threads": args.threads})
        config = make_config({**config.to_dict(), "classifier_silence": silence})
        for condition in ds.conditions:
            generator = seed_everything(config.seed)
            model = Model(config, len(ds.classes))
            pretrain(model, ds, "train", config, generator, lambda s: None, condition)
            top, aucs = judge(model, tracks, labels)
            print(
                f"silence clips {silence:.2f}, {condition:>6} only: silence max {top:.2f}, "
                f"AUC {' '.join(f'{a:.2f}' for a in aucs)}"
            )
        model = Model(config, len(ds.classes))
        weights, _ = pretrain_shared_classifier(config, ds, "train", None, lambda s: None)
        model.classifier.load_state_dict(weights)
        top, aucs = judge(model, tracks, labels)
        print(
            f"silence clips {silence:.2f}, shared     : silence max {top:.2f}, "
            f"AUC {' '.join(f'{a:.2f}' for a in aucs)}"
        )


if __name__ == "__main__":
    run_tool(main)
