"""Can a scaled copy's level be computed by arithmetic instead of measured? (issue 27)

For backgrounds of a data home, each 4 s segment is brought to -20 and -50 LUFS and
written as PCM_16 (decoded again), as generation writes a condition's background.
Prints how far the -50 copy's measured dBFS(A) is from the -20 copy's minus 30 dB, and
how often that changes the 4-decimal ground truth.

    python benchmarks/check_scaled_levels.py DATA_HOME [--files 40]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from sssle_bench.audio import encode
from sssle_bench.levels import db_to_gain, dbfs_a, lufs, to_mono


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("home", type=Path)
    parser.add_argument("--files", type=int, default=40)
    args = parser.parse_args()
    files = sorted((args.home / "SONYC-Backgrounds").rglob("*.wav"))[: args.files]
    diffs, flips = [], []
    for path in files:
        x, sr = sf.read(path)
        x = to_mono(x)[: 4 * sr]
        raw = lufs(x, sr)
        loud = dbfs_a(encode(x * db_to_gain(-20 - raw), sr, "wav", "PCM_16")[1], sr)
        quiet = dbfs_a(encode(x * db_to_gain(-50 - raw), sr, "wav", "PCM_16")[1], sr)
        diffs.append(abs(quiet - (loud - 30)))
        flips.append(f"{quiet:.4f}" != f"{loud - 30:.4f}")
    print(f"{len(files)} backgrounds: median |measured - arithmetic| {np.median(diffs):.2e} dB")
    print(f"4-decimal ground truth changed in {100 * np.mean(flips):.1f} % of them")


if __name__ == "__main__":
    main()
