"""Is a trained sup-sep model at its loss's optimum, or stuck? Per class, on one split.

    python experiments/tools/probe_sup_sep.py MODEL_DIR DATASET [--split valid]
        [--conditions none,bg-20] [--limit 60]

For each condition's separator, on ``--limit`` evenly spaced mixtures of ``--split``
(with their saved sources): the mean mask of each class in the frames where its isolated
source sounds and where it does not, and each class's term of the supervised training
loss (``sup_sep.losses.separation_terms``, mean over clips: L1 on window-scaled magnitudes,
the model's class-prior frame weights from its ``history.json``) for three masks: the
model's, the ideal ratio mask ``min(|S_k| / |X|, 1)`` and the zero mask. A model whose
term equals the zero mask's, while the ideal ratio mask's is far lower, has collapsed to
silence for that class although its loss prefers separating it. Prints Markdown tables
(loss terms x 1e4).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tool_main import run_tool

from sssle_bench.dataset import GeneratedDataset
from sssle_bench.errors import SssleError
from sssle_bench.estimators.sup_sep.estimator import Clips, SupSep
from sssle_bench.estimators.sup_sep.losses import active_frames, prior_weights, separation_terms
from sssle_bench.estimators.weak_sep.losses import non_silent_frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--conditions", default="none,bg-20")
    ap.add_argument("--limit", type=int, default=60)
    args = ap.parse_args()
    try:
        est = SupSep.load(args.model)
        history = json.loads((args.model / "history.json").read_text())
    except (SssleError, OSError, ValueError) as exc:
        raise SystemExit(f"{args.model}: not a readable sup-sep model ({exc})") from exc
    dataset = GeneratedDataset(args.dataset)
    for condition in args.conditions.split(","):
        clips = Clips(dataset, args.split, condition, args.limit)
        priors = torch.tensor(history[condition]["priors"])
        with torch.no_grad():
            x, src, feats = est._spectra(clips.audio, clips.tracks)
            masks = est.separators[condition](feats)
        frames = non_silent_frames(x, est.cfg.silence_ratio)
        active = active_frames(src)
        weights = prior_weights(active, priors)
        ideal = (src / (x[:, None] + 1e-12)).clamp(0.0, 1.0)
        terms = {
            name: separation_terms(x, m, src, frames, weights).mean(dim=0)
            for name, m in (("model", masks), ("ideal", ideal), ("zero", torch.zeros_like(masks)))
        }
        print(f"\n{condition} ({len(clips.audio)} {args.split} mixtures)\n")
        print("| class | mask, sounding | mask, silent | term: model | ideal ratio | zero |")
        print("|---|---|---|---|---|---|")
        for k, name in enumerate(est.classes):
            on = active[:, k, :] > 0
            frame_mask = masks[:, k].mean(dim=1)
            cells = [f"{float(frame_mask[on].mean()):.3f}", f"{float(frame_mask[~on].mean()):.3f}"]
            cells += [f"{float(terms[t][k]) * 1e4:.2f}" for t in ("model", "ideal", "zero")]
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    run_tool(main)
