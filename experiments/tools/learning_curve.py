"""MAE against training-set size, per condition: a learning curve from submissions.

    python experiments/tools/learning_curve.py DATASET \
        --method "both=RUN/submissions/both-n*" \
        --method "pishdadian2020=RUN/submissions/pishdadian2020-n*" \
        --method "sup-sep=SUP/submissions/sup-sep-n*" \
        --reference class-prior=PRIOR/submission \
        --conditions none,bg-20 --out results/learning-curve

Each ``--method NAME=GLOB`` names the submission folders of one method; a folder's
training-set size and seed are read from its ``meta.toml`` (``max_train_mixtures``,
``seed``), so folders not predicted yet are simply absent. A method at one size is the
mean of its seeds (per mixture: the mean of the seeds' absolute errors). ``--reference``
is one submission drawn across all sizes (the class-prior: fitted on the whole training
split).

Every interval is a 95% paired bootstrap over the condition's test mixtures (the same
resamples for every row, as the leaderboard's ``pairwise.csv``). Writes to ``--out``:
``learning-curve.png`` (one panel per condition: each method's seed mean with its band,
its seeds as dots, the reference as a band), ``learning-curve.csv`` (every method, size
and seed, and the seed means: MAE and interval, dB) and ``paired.csv`` (per condition and
size: each method minus each other and minus the reference, seed means; and seed 0
minus seed 1 of each method); prints both tables as Markdown.
"""

from __future__ import annotations

import argparse
import glob
import io
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
from paired_by_condition import condition_pairs  # beside this script
from tool_main import run_tool

from sssle_bench.metrics import ScoreSettings
from sssle_bench.significance import paired_bootstrap, per_mixture

#: A run: (method, training-set size, seed); seed None is the mean of the seeds.
Run = tuple[str, int, int | None]


def read_run(folder: Path) -> tuple[int, int]:
    """``(max_train_mixtures, seed)`` of a submission folder, from its ``meta.toml``."""
    try:
        with open(folder / "meta.toml", "rb") as f:
            parameters = tomllib.load(f).get("parameters", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SystemExit(f"{folder}: no readable meta.toml ({exc})") from exc
    size, seed = parameters.get("max_train_mixtures"), parameters.get("seed")
    if not isinstance(size, int) or not isinstance(seed, int):
        raise SystemExit(f"{folder}: meta.toml has no whole max_train_mixtures and seed")
    return size, seed


def condition_table(
    runs: dict[Run, pd.DataFrame],
    reference: tuple[str, pd.DataFrame],
    condition: str,
    settings: ScoreSettings,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One condition's curve rows (method, size, seed, MAE, interval; seed None: the
    mean of the seeds, size 0: the reference) and paired rows (a minus b, interval).

    All rows share one set of bootstrap resamples of the condition's mixtures."""
    ref_name, ref_pairs = reference

    def part(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["condition"] == condition]

    order = sorted(set(part(ref_pairs)["mixture_id"]))
    sums: dict[Run, np.ndarray] = {}
    counts = None
    for run, frame in [*runs.items(), ((ref_name, 0, None), ref_pairs)]:
        rows = part(frame)
        s, c = per_mixture(rows["mixture_id"].to_numpy(), rows["abs_err_db"].to_numpy(), order)
        if counts is not None and not np.array_equal(c, counts):
            raise SystemExit(f"{run[0]}: other present pairs than the reference in {condition}")
        sums[run], counts = s, c
    for method, size in sorted({(m, n) for m, n, _ in runs}):
        seeds = [sums[r] for r in runs if r[:2] == (method, size)]
        sums[(method, size, None)] = np.mean(seeds, axis=0)
    keys = list(sums)
    stack = np.vstack([np.zeros(len(order)), *(sums[k] for k in keys)])
    diff, low, high = paired_bootstrap(stack, counts, settings.bootstrap, settings.seed)

    def cell(i: int, j: int) -> tuple[float, float, float]:
        return float(diff[i, j]), float(low[i, j]), float(high[i, j])

    index = {k: i + 1 for i, k in enumerate(keys)}
    curve = pd.DataFrame(
        [(m, condition, n, s, *cell(index[(m, n, s)], 0)) for m, n, s in keys],
        columns=["method", "condition", "size", "seed", "mae_db", "low_db", "high_db"],
    )
    paired = []
    means = [k for k in keys if k[2] is None and k[1] > 0]
    ref = index[(ref_name, 0, None)]
    for a_i, a in enumerate(means):
        others = [b for b in means[a_i + 1 :] if b[1] == a[1]]
        for b in others:
            paired.append((condition, a[1], a[0], b[0], *cell(index[a], index[b])))
        paired.append((condition, a[1], a[0], ref_name, *cell(index[a], ref)))
        seeds = sorted(s for m, n, s in keys if (m, n) == a[:2] and s is not None)
        if len(seeds) >= 2:
            s0, s1 = (a[0], a[1], seeds[0]), (a[0], a[1], seeds[1])
            paired.append(
                (
                    condition,
                    a[1],
                    f"{a[0]} s{seeds[0]}",
                    f"{a[0]} s{seeds[1]}",
                    *cell(index[s0], index[s1]),
                )
            )
    columns = ["condition", "size", "a", "b", "diff_db", "low_db", "high_db"]
    return curve, pd.DataFrame(paired, columns=columns)


def plot(curve: pd.DataFrame, reference: str) -> bytes:
    """One panel per condition: MAE (dB) against training mixtures per condition (log
    axis), each method's seed mean with its 95% band (and bars, seen where a method has
    one size) and its seeds as dots; the reference as a horizontal band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = list(dict.fromkeys(curve["condition"]))
    fig, axes = plt.subplots(1, len(conditions), figsize=(5 * len(conditions), 4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, condition in zip(axes, conditions, strict=True):
        rows = curve[curve["condition"] == condition]
        learned = rows[rows["size"] > 0]
        sizes = sorted(set(learned["size"]))
        ref = rows[rows["method"] == reference].iloc[0]
        ax.axhspan(ref["low_db"], ref["high_db"], color="0.85")
        ax.axhline(ref["mae_db"], color="0.4", ls="--", label=reference)
        for k, (method, group) in enumerate(learned.groupby("method", sort=False)):
            color = f"C{k}"
            mean = group[group["seed"].isna()].sort_values("size")
            ax.plot(mean["size"], mean["mae_db"], "-o", color=color, label=method)
            ax.fill_between(mean["size"], mean["low_db"], mean["high_db"], color=color, alpha=0.2)
            mae = mean["mae_db"]
            spread = [mae - mean["low_db"], mean["high_db"] - mae]
            ax.errorbar(mean["size"], mae, yerr=spread, fmt="none", color=color, capsize=4)
            seeds = group[group["seed"].notna()]
            ax.plot(seeds["size"], seeds["mae_db"], ".", color=color, alpha=0.6)
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_title(condition)
        ax.set_xlabel("training mixtures per condition")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("MAE over present sources (dB)")
    axes[-1].legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def markdown(curve: pd.DataFrame, paired: pd.DataFrame) -> str:
    """The curve's seed means (and seeds) and the paired differences as Markdown."""

    def ci(row: pd.Series, signed: bool) -> str:
        f = "+.2f" if signed else ".2f"
        return f"{row['value']:{f}} [{row['low_db']:{f}}, {row['high_db']:{f}}]"

    c = curve.assign(value=curve["mae_db"])
    c["run"] = c["seed"].map(lambda s: "mean" if pd.isna(s) else f"s{int(s)}")
    lines = ["| condition | method | size | run | MAE (dB) [95% CI] |", "|---|---|---|---|---|"]
    for _, r in c.iterrows():
        size = "-" if r["size"] == 0 else str(r["size"])
        lines.append(f"| {r['condition']} | {r['method']} | {size} | {r['run']} | {ci(r, False)} |")
    p = paired.assign(value=paired["diff_db"])
    lines += [
        "",
        "| condition | size | A - B | MAE difference (dB) [95% paired CI] |",
        "|---|---|---|---|",
    ]
    for _, r in p.iterrows():
        lines.append(f"| {r['condition']} | {r['size']} | {r['a']} - {r['b']} | {ci(r, True)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--method", action="append", required=True, help="NAME=GLOB")
    parser.add_argument("--reference", required=True, help="NAME=SUBMISSION_DIR")
    parser.add_argument("--conditions", required=True, help="comma-separated")
    parser.add_argument("--split", default="test")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if any("=" not in s for s in [*args.method, args.reference]):
        parser.error("--method takes NAME=GLOB, --reference NAME=SUBMISSION_DIR")
    settings = ScoreSettings(bootstrap=args.bootstrap)
    conditions = args.conditions.split(",")
    runs: dict[Run, pd.DataFrame] = {}
    for spec in args.method:
        name, pattern = spec.split("=", 1)
        for folder in map(Path, sorted(glob.glob(pattern))):
            size, seed = read_run(folder)
            if (name, size, seed) in runs:
                raise SystemExit(
                    f"{folder}: a second {name} submission of size {size}, seed {seed}"
                )
            runs[(name, size, seed)] = condition_pairs(
                folder, args.dataset, args.split, settings, conditions
            )
    if not runs:
        parser.error("no submission folder matched --method")
    ref_name, ref_dir = args.reference.split("=", 1)
    reference = (
        ref_name,
        condition_pairs(Path(ref_dir), args.dataset, args.split, settings, conditions),
    )
    parts = [condition_table(runs, reference, c, settings) for c in conditions]
    curve = pd.concat([p[0] for p in parts], ignore_index=True)
    paired = pd.concat([p[1] for p in parts], ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    seed = curve["seed"].map(lambda s: "mean" if pd.isna(s) else str(int(s)))
    curve.assign(seed=seed).to_csv(
        args.out / "learning-curve.csv", index=False, float_format="%.4f"
    )
    paired.to_csv(args.out / "paired.csv", index=False, float_format="%.4f")
    (args.out / "learning-curve.png").write_bytes(plot(curve, ref_name))
    print(markdown(curve, paired))


if __name__ == "__main__":
    run_tool(main)
