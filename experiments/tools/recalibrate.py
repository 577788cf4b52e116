"""Take each class's mean level error on one split out of a submission of another.

    python experiments/tools/recalibrate.py DATASET --fit VALID_SUBMISSION \
        --apply TEST_SUBMISSION --out OUT_SUBMISSION [--fit-split valid]

A diagnostic, not a method: is a model's error a constant offset per condition and class
(a read-out that is low or high everywhere) or does it not separate? ``--fit``: the
model's predictions on ``--fit-split`` (``predict --split valid``); for every condition
and class, the mean of predicted minus true level over the sources present there (dB,
the scoring's weighting) is subtracted from that condition and class's ``level_db``
(and ``lafmax_db``) in ``--apply``. The result is written as a submission (the same
``meta.toml``, ``-recal`` added to its method's and short name) and printed as a table of
the offsets. Score it and compare it with ``paired_by_condition.py`` as any other.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from paired_by_condition import condition_pairs
from tool_main import run_tool

from sssle_bench.metrics import ScoreSettings
from sssle_bench.paths import write_text
from sssle_bench.toml_files import read_toml

KEYS = ["condition", "class"]


def offsets(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per condition and class of present pairs (``condition_pairs``): the mean of
    predicted minus true level (dB) and how many sources it rests on."""
    error = (pairs["pred_db"] - pairs["true_db"]).rename("error")
    table = pd.concat([pairs[KEYS], error], axis=1).groupby(KEYS)["error"]
    return table.agg(offset_db="mean", sources="size").reset_index()


def shifted(predictions: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` with each condition and class's offset subtracted from its
    ``level_db`` and ``lafmax_db`` (0 where ``table`` has none), in the same row order."""
    out = predictions.merge(table[[*KEYS, "offset_db"]], on=KEYS, how="left", sort=False)
    shift = out.pop("offset_db").fillna(0.0)
    for column in ("level_db", "lafmax_db"):
        if column in out:
            out[column] = out[column] - shift
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--fit", type=Path, required=True, help="submission on --fit-split")
    parser.add_argument("--fit-split", default="valid")
    parser.add_argument("--apply", type=Path, required=True, help="submission to correct")
    parser.add_argument("--apply-split", default="test")
    parser.add_argument("--conditions", help="comma-separated (default: all)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    settings, wanted = ScoreSettings(), args.conditions and args.conditions.split(",")
    table = offsets(condition_pairs(args.fit, args.dataset, args.fit_split, settings, wanted))
    condition_pairs(args.apply, args.dataset, args.apply_split, settings, wanted)  # validates
    out = shifted(pd.read_csv(args.apply / "predictions.csv"), table)
    meta = read_toml(args.apply / "meta.toml", "meta.toml")
    old = meta["method"]
    text = (args.apply / "meta.toml").read_text(encoding="utf-8")
    write_text(args.out, "meta.toml", text.replace(f'"{old}"', f'"{old}-recal"'))
    write_text(args.out, "predictions.csv", out.to_csv(index=False, float_format="%.4f"))
    print("| condition | class | offset (dB) | sources |\n|---|---|---|---|")
    for row in table.itertuples(index=False):
        print(f"| {row[0]} | {row[1]} | {row.offset_db:+.2f} | {row.sources} |")


if __name__ == "__main__":
    run_tool(main)
