"""Generation speed: ours vs the naive way, and ours at --jobs 1 vs --jobs 2.

The naive way renders the foreground with a fresh Scaper ``generate`` per
mixture *per condition* (saving Scaper's isolated events, as the original
research scripts did), mixes the background in a separate read-modify-write
pass per condition, and computes per-class levels from the event files. Ours
renders each foreground once and writes all four conditions, their ground
truth and JAMS from it.

    python benchmarks/bench_generate.py [--limit 20]
    python benchmarks/bench_generate.py --scheduler [--limit 40]

Prints mixtures/s (a "mixture" = one scene in all four conditions) and ratios.
``--scheduler``: instead, a 2-worker Dask LocalCluster (one thread each) against
``--jobs 2`` in the same run, the per-task overhead of the cluster (a no-op chunk
round trip) and each worker's peak memory (RSS).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from sssle_bench._compat import import_scaper
from sssle_bench.generate.render import background_segment
from sssle_bench.generate.runner import (
    generate_dataset,
    select_sources,
    split_sizes,
    stage_contexts,
)
from sssle_bench.generate.scene import render_scene
from sssle_bench.levels import dbfs, dbfs_a, lufs
from sssle_bench.recipe import load_recipe
from sssle_bench.sources.synthetic import make_synthetic_sources

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "recipes" / "toy.toml"


def naive(home: Path, work: Path, limit: int) -> int:
    """Per (mixture, condition): a fresh Scaper render saving the isolated events, a
    background read-modify-write pass, and a ground-truth pass over the event files."""
    scaper = import_scaper()
    recipe = load_recipe(TOY)
    contexts = stage_contexts(recipe, select_sources(recipe, home), work, "staging")
    n = 0
    for split, size in split_sizes(recipe, limit).items():
        ctx = contexts[split]
        for i in range(size):
            for cond in recipe.conditions:
                scene = render_scene(ctx, i)  # fresh Scaper instantiate + render
                path = work / f"{split}_{i}_{cond.id}.wav"
                events = work / f"{split}_{i}_{cond.id}_events"
                jams_path = work / f"{split}_{i}_{cond.id}.jams"
                jams_path.write_text(scene.jams_text)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    scaper.generate_from_jams(
                        str(jams_path),
                        str(path),
                        fg_path=ctx.fg_path,
                        bg_path=ctx.bg_path,
                        save_isolated_events=True,
                        isolated_events_path=str(events),
                    )
                if cond.lufs is not None:
                    fg, sr = sf.read(path)
                    bg = background_segment(ctx, scene)
                    bg *= 10 ** ((cond.lufs - lufs(bg, sr)) / 20)
                    mix = fg + bg
                    sf.write(path, mix / max(1.0, np.max(np.abs(mix)) / 0.99), sr, "PCM_16")
                per_class: dict[str, np.ndarray] = {}
                for event in sorted(events.glob("*.wav")):
                    x, sr = sf.read(event)
                    label = event.stem.split("_", 1)[1]
                    per_class[label] = per_class.get(label, 0) + x
                _ = {k: (dbfs(v), dbfs_a(v, sr)) for k, v in per_class.items()}
            n += 1
    return n


def ours(home: Path, out: Path, limit: int, jobs: int) -> int:
    generate_dataset(TOY, out, home, jobs=jobs, limit=limit, echo=lambda s: None)
    return sum(split_sizes(load_recipe(TOY), limit).values())


def timed(fn, *args) -> float:
    start = time.perf_counter()
    n = fn(*args)
    return n / (time.perf_counter() - start)


def _noop(x: int) -> int:
    return x


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dask_comparison(limit: int) -> None:
    """--jobs 2 against a 2-worker LocalCluster, same data, same run."""
    from distributed import Client, LocalCluster

    from sssle_bench.executors import run_tasks

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        home = make_synthetic_sources(tmp / "home", seed=0)
        ours(home, tmp / "warmup", 1, 1)
        rate_jobs = timed(ours, home, tmp / "j2", limit, 2)
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            executor = client.get_executor(pure=False)

            def on_dask(home: Path, out: Path, limit: int) -> int:
                generate_dataset(
                    TOY, out, home, limit=limit, echo=lambda s: None, executor=executor, workers=2
                )
                return sum(split_sizes(load_recipe(TOY), limit).values())

            on_dask(home, tmp / "dask-warmup", 4)  # every worker imports and warms up
            rate_dask = timed(on_dask, home, tmp / "dask", limit)
            n = 400
            start = time.perf_counter()
            list(run_tasks(_noop, list(range(n)), 1, "no-op", executor, workers=2))
            overhead = (time.perf_counter() - start) / (n / 8) * 1000  # per chunk of 8
            peaks = client.run(_peak_rss_mb)
    print(f"mixtures (x4 conditions): {3 * limit}")
    print(f"--jobs 2            : {rate_jobs:6.2f} mixtures/s")
    ratio = rate_dask / rate_jobs
    print(f"Dask, 2 workers     : {rate_dask:6.2f} mixtures/s  ({ratio:.2f}x --jobs 2)")
    print(f"per-task overhead   : {overhead:.1f} ms per task (a no-op chunk round trip)")
    print("peak RSS per worker : " + ", ".join(f"{v:.0f} MB" for _, v in sorted(peaks.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=20, help="mixtures per split")
    parser.add_argument(
        "--scheduler", action="store_true", help="compare a 2-worker Dask LocalCluster"
    )
    args = parser.parse_args()
    if args.scheduler:
        dask_comparison(args.limit)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        home = make_synthetic_sources(tmp / "home", seed=0)
        ours(home, tmp / "warmup", 1, 1)  # imports, caches
        shutil.rmtree(tmp / "warmup")
        (tmp / "naive").mkdir()
        rate_naive = timed(naive, home, tmp / "naive", args.limit)
        rate_1 = timed(ours, home, tmp / "j1", args.limit, 1)
        rate_2 = timed(ours, home, tmp / "j2", args.limit, 2)
    print(f"mixtures (x4 conditions): {3 * args.limit}")
    print(f"naive, 1 process : {rate_naive:6.2f} mixtures/s")
    print(f"ours, --jobs 1   : {rate_1:6.2f} mixtures/s  ({rate_1 / rate_naive:.2f}x naive)")
    print(f"ours, --jobs 2   : {rate_2:6.2f} mixtures/s  ({rate_2 / rate_1:.2f}x --jobs 1)")


if __name__ == "__main__":
    main()
