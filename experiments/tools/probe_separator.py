"""What a trained weak-sep separator has learned, on one condition of a test split.

    python experiments/tools/probe_separator.py MODEL_DIR DATASET --condition none [--limit 200]
    python experiments/tools/probe_separator.py CHECKPOINT.pt DATASET --config CONFIG.toml ...

For the condition's model: the energy-weighted mean mask of present and of absent
classes (presence learned?), the sum over present classes of the masks and of their
squares (how much of the mixture the sources explain), and the signed and absolute
level error (A-weighted dB) of present sources, overall, per class and per energy share
of the source in the mixture; beside it, the class-prior of the same condition's
training split on the same mixtures (the floor to beat), and the frozen critic's
per-class AUC on these mixtures (can it tell the class's presence at all?). On a
dataset with saved sources, also the mean mask of a present class in the bins where
its source dominates (more than twice the background's magnitude) and elsewhere:
does the separator select its source's bins, or pass one constant gain? A training
checkpoint (``conditions/*/checkpoint.pt``, its current weights) can be probed
instead of a saved model, with the config it was trained with.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tool_main import run_tool

from sssle_bench.audio import read_audio
from sssle_bench.dataset import GeneratedDataset
from sssle_bench.estimators.run import load_trained, read_config
from sssle_bench.estimators.spectral import spectrogram_levels
from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.objective import Model
from sssle_bench.levels import to_mono
from sssle_bench.metrics import roc_auc
from sssle_bench.significance import paired_bootstrap, per_mixture


def load_separator(path: Path, condition: str, config: Path | None) -> Model:
    """A saved model's networks of ``condition``, or a checkpoint's with its ``config``."""
    if config is None:
        return load_trained("weak-sep", path).models[condition]
    model = Model(make_config(read_config(config)), 5)
    state = torch.load(path, weights_only=True, map_location="cpu")
    model.separator.load_state_dict(state["separator"])
    model.classifier.load_state_dict(state["classifier"])
    model.separator.eval()
    model.classifier.eval()
    return model


def dominance(masks: np.ndarray, mix, ds: GeneratedDataset, model: Model):
    """Mean mask of each present class where its source dominates the background (more
    than twice its magnitude) and elsewhere; empty without saved sources."""
    if mix.sources_dir is None:
        return []
    path = mix.sources_dir / f"background{mix.audio_path.suffix}"
    if not path.is_file():
        return []

    def mag(audio: np.ndarray) -> np.ndarray:
        return model.spectra(torch.from_numpy(audio.astype(np.float32))[None])[0][0].numpy()

    background = mag(to_mono(read_audio(path)[0]))
    out = []
    for c, track in ds.sources(mix).items():
        k = ds.classes.index(c)
        own = mag(track) > 2 * background
        if own.sum() > 20:
            out.append((float(masks[k][own].mean()), float(masks[k][~own].mean())))
    return out


def probe(
    model_dir: Path, dataset: Path, condition: str, limit: int, config: Path | None = None
) -> pd.DataFrame:
    """One row per present (mixture, class): error, energy share; masks summarised in attrs."""
    torch.set_num_threads(1)
    ds = GeneratedDataset(dataset)
    model = load_separator(model_dir, condition, config)
    train = ds.truth("train")
    train = train[(train["condition"] == condition) & (train["present"] == 1)]
    prior = train.groupby("class")["level_dbfs_a"].median()
    rows, present_mask, absent_mask, sums, squares, dominated = [], [], [], [], [], []
    probs, labels = [], []
    for i, mix in enumerate(ds.mixtures("test", (condition,))):
        if i == limit:
            break
        with torch.no_grad():
            mag, feats = model.spectra(torch.from_numpy(mix.audio.astype(np.float32))[None])
            masks = model.separator(feats)[0].numpy()
            probs.append(model.classify(mag)[0].numpy())
        x = mag[0].numpy()
        energy = x**2 / np.sum(x**2)
        levels = spectrogram_levels(masks * x, mix.audio.size, mix.sample_rate, "A")
        on = np.array([mix.labels[c] for c in ds.classes])
        labels.append(on)
        weighted = (masks * energy).sum(axis=(1, 2))
        present_mask += list(weighted[on])
        absent_mask += list(weighted[~on])
        dominated += dominance(masks, mix, ds, model)
        sums.append(float((masks[on].sum(axis=0) * energy).sum()))
        squares.append(float(((masks[on] ** 2).sum(axis=0) * energy).sum()))
        mix_db = 10 * np.log10(np.mean(mix.audio**2))
        for k, c in enumerate(ds.classes):
            if on[k]:
                true = mix.levels_dbfs_a[c]
                share = 10 ** ((mix.levels_dbfs[c] - mix_db) / 10)
                rows.append((i, c, share, levels[k] - true, prior.get(c, np.nan) - true))
    columns = ["mixture", "class", "share", "error_db", "prior_error_db"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs = {
        "mask_present": float(np.mean(present_mask)),
        "mask_absent": float(np.mean(absent_mask)),
        "sum_present": float(np.mean(sums)),
        "sum_squares_present": float(np.mean(squares)),
        "mixtures": min(i + 1, limit),
        "mask_dominant": np.mean(dominated, axis=0).tolist() if dominated else None,
        "critic_auc": {
            c: roc_auc(np.array(labels)[:, k], np.array(probs)[:, k])
            for k, c in enumerate(ds.classes)
        },
    }
    return frame


def summary(errors: pd.DataFrame) -> pd.DataFrame:
    """Count, bias and MAE (dB) of weak-sep, and the class-prior's MAE, per index group."""
    groups = errors.groupby(level=0, observed=True)
    return pd.DataFrame(
        {
            "n": groups.size(),
            "bias_db": groups["error_db"].mean(),
            "mae_db": groups["error_db"].agg(lambda e: e.abs().mean()),
            "prior_mae_db": groups["prior_error_db"].agg(lambda e: e.abs().mean()),
        }
    ).round(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--condition", default="none")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--config", type=Path, help="the config of a probed checkpoint")
    args = parser.parse_args()
    f = probe(args.model, args.dataset, args.condition, args.limit, args.config)
    a = f.attrs
    columns = ["error_db", "prior_error_db"]
    print(f"{args.model} on {a['mixtures']} test mixtures of {args.condition}:")
    print(
        f"energy-weighted mean mask: present {a['mask_present']:.3f}, absent "
        f"{a['mask_absent']:.3f}; present sources explain {a['sum_present']:.3f} of the "
        f"mixture (sum of masks), {a['sum_squares_present']:.3f} (sum of squared masks)"
    )
    print(
        f"present sources: MAE {f['error_db'].abs().mean():.2f} dB, bias "
        f"{f['error_db'].mean():+.2f} dB; class-prior on the same: MAE "
        f"{f['prior_error_db'].abs().mean():.2f} dB, bias {f['prior_error_db'].mean():+.2f} dB"
    )
    if a["mask_dominant"] is not None:
        own, rest = a["mask_dominant"]
        print(
            f"mask of a present class where its source dominates: {own:.3f}, elsewhere {rest:.3f}"
        )
    aucs = " ".join(f"{c} {v:.2f}" for c, v in a["critic_auc"].items())
    print(f"frozen critic's AUC on these mixtures: {aucs}")
    order = sorted(set(f["mixture"]))
    per = [per_mixture(f["mixture"].to_numpy(), f[c].abs().to_numpy(), order) for c in columns]
    diff, low, high = paired_bootstrap(np.stack([s for s, _ in per]), per[0][1], 1000, 0)
    print(
        f"weak-sep minus class-prior: {diff[0, 1]:+.2f} dB, 95% paired bootstrap interval "
        f"[{low[0, 1]:+.2f}, {high[0, 1]:+.2f}] (mixtures resampled)"
    )
    print(summary(f.set_index("class")[columns]).to_string())
    bins = pd.cut(f["share"], [0, 0.05, 0.2, 0.5, 0.8, 1.01])
    print(summary(f.set_index(bins)[columns].rename_axis("energy share")).to_string())


if __name__ == "__main__":
    run_tool(main)
