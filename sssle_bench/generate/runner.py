"""The whole dataset: parallel, sharded, resumable generation and its manifest.

Each finished mixture leaves a record in ``DIR/.sssle/parts/{split}/{id}.json``,
written (atomically) only after all of its files; a rerun skips mixtures that
have one. When every mixture of every split has a record, the CSVs and
``manifest.json`` are assembled from the records in index order, so the
result does not depend on ``--jobs``, ``--shard`` or interruptions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from ..audio import atomic_write_bytes
from ..errors import SssleError
from ..recipe import Recipe, load_recipe
from ..sources import sonyc_backgrounds, urbansound8k
from .render import render_mixture, sha256
from .scene import BackgroundFile, SplitContext, mixture_id, render_scene, stage_split

FORMAT = "sssle-bench-dataset"
FORMAT_VERSION = 1
STATE_DIR = ".sssle"
#: Everything generation writes at the top of a dataset folder.
OUTPUT_NAMES = (
    "audio",
    "jams",
    "sources",
    "ground_truth",
    "mixtures",
    "events",
    "recipe.toml",
    "manifest.json",
    STATE_DIR,
)
#: Packages whose versions change the audio; ``regenerate`` warns when they differ.
PINNED_PACKAGES = ("sssle-bench", "scaper", "pyloudnorm", "numpy", "scipy", "soundfile")
CSV_FLOAT_FORMAT = "%.6f"


@dataclass(frozen=True)
class Shard:
    """Mixture ``index`` belongs to shard ``k`` of ``n`` when ``index % n == k``."""

    k: int = 0
    n: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            k, n = (int(x) for x in text.split("/"))
        except ValueError as exc:
            raise SssleError(f"--shard: expected K/N such as 0/2, got {text!r}") from exc
        if not 0 <= k < n:
            raise SssleError(f"--shard: need 0 <= K < N, got {text!r}")
        return cls(k, n)


def split_sizes(recipe: Recipe, limit: int | None) -> dict[str, int]:
    """Mixtures per split, capped by ``limit``."""
    return {s.name: s.count if limit is None else min(s.count, limit) for s in recipe.splits}


def package_versions() -> dict[str, str]:
    """Versions of the packages whose output the dataset depends on."""
    return {name: version(name) for name in PINNED_PACKAGES}


def prepare_contexts(
    recipe: Recipe, data_home: Path, staging: Path, skip_bad: bool = False
) -> tuple[dict[str, SplitContext], dict[str, Any]]:
    """Load and stage the source data for every split; return contexts and fingerprints."""
    clips, _ = urbansound8k.load_clips(data_home, skip_bad=skip_bad)
    bgs, _ = sonyc_backgrounds.load_backgrounds(data_home, skip_bad=skip_bad)
    contexts, used_clips = {}, []
    for spec in recipe.splits:
        fg, bg = stage_split(clips, recipe, spec.name, data_home, staging)
        rows = bgs[bgs["split"] == spec.backgrounds]
        if rows.empty:
            raise SssleError(
                f"split {spec.name!r}: no SONYC-Backgrounds files in "
                f"{sonyc_backgrounds.dataset_dir(data_home) / spec.backgrounds}"
            )
        backgrounds = tuple(
            BackgroundFile(f"{sonyc_backgrounds.FOLDER}/{f}", int(round(d * sr)), int(sr))
            for f, d, sr in zip(rows["file"], rows["duration_s"], rows["sample_rate"], strict=True)
        )
        contexts[spec.name] = SplitContext(
            recipe, spec.name, str(data_home), str(fg), str(bg), backgrounds
        )
        used_clips.append(
            clips[
                clips["fold"].isin(spec.folds)
                & clips["salience"].isin(recipe.salience)
                & clips["class"].isin(recipe.classes)
            ]
        )
    fg_used = pd.concat(used_clips).sort_values("path")
    bg_used = bgs[bgs["split"].isin([s.backgrounds for s in recipe.splits])]
    fingerprints = {
        urbansound8k.FOLDER: _fingerprint(fg_used["path"], data_home),
        sonyc_backgrounds.FOLDER: _fingerprint(bg_used["path"], data_home),
    }
    return contexts, fingerprints


def _fingerprint(paths: Iterable[str], data_home: Path) -> dict[str, Any]:
    """Count and sha256 of (relative path, size) of the source files a dataset uses."""
    h, n = hashlib.sha256(), 0
    for path in sorted(paths):
        rel = os.path.relpath(path, data_home)
        h.update(f"{rel}\t{os.path.getsize(path)}\n".encode())
        n += 1
    return {"files": n, "sha256": h.hexdigest()}


def _render_task(task: tuple[SplitContext, int, str, bool]) -> tuple[int, int]:
    """Worker: render one mixture, write its files, then its record. Returns (index, bytes)."""
    ctx, index, out, save_sources = task
    written = 0

    def sink(rel: str, data: bytes) -> None:
        nonlocal written
        written += len(data)
        atomic_write_bytes(Path(out) / rel, data)

    record = render_mixture(ctx, index, render_scene(ctx, index), sink, save_sources)
    part = Path(out) / STATE_DIR / "parts" / ctx.split / f"{mixture_id(ctx.split, index)}.json"
    atomic_write_bytes(part, json.dumps(record, allow_nan=True).encode("utf-8"))
    return index, written


def run_parallel(fn: Callable[[Any], Any], tasks: list[Any], jobs: int, desc: str) -> Iterator[Any]:
    """Apply ``fn`` to ``tasks`` (in a process pool when ``jobs`` > 1) with a progress bar."""
    bar = tqdm(total=len(tasks), desc=desc, unit="mix", dynamic_ncols=True, leave=True)
    try:
        if jobs <= 1 or len(tasks) <= 1:
            for task in tasks:
                yield fn(task)
                bar.update()
            return
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
            try:
                for result in pool.map(
                    fn, tasks, chunksize=max(1, min(8, len(tasks) // (4 * jobs)))
                ):
                    yield result
                    bar.update()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    finally:
        bar.close()


def check_output_dir(out: Path, recipe: Recipe, save_sources: bool, overwrite: bool) -> None:
    """Refuse to mix datasets: ``out`` must be empty, or hold this recipe's dataset."""
    state_file = out / STATE_DIR / "state.json"
    expected = {"recipe_hash": recipe.hash(), "save_sources": save_sources}
    if state_file.is_file():
        state = json.loads(state_file.read_text())
        if state == expected:
            return
        why = (
            f"a dataset of a different recipe ({state.get('recipe_hash', '?')[:12]})"
            if state.get("recipe_hash") != expected["recipe_hash"]
            else f"a dataset generated with save_sources={state.get('save_sources')}"
        )
    elif out.exists() and any(out.iterdir()):
        why = "files that are not an sssle-bench dataset"
    else:
        why = None
    if why is not None:
        if not overwrite:
            raise SssleError(f"{out} holds {why}; choose another --out or pass --overwrite")
        for name in OUTPUT_NAMES:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    atomic_write_bytes(state_file, json.dumps(expected).encode("utf-8"))


def _clean_temp_files(out: Path) -> None:
    for tmp in out.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def generate_dataset(
    recipe_path: Path,
    out: Path,
    data_home: Path,
    *,
    jobs: int = 1,
    shard: Shard = Shard(),
    limit: int | None = None,
    save_sources: bool = False,
    overwrite: bool = False,
    echo: Callable[[str], None] = print,
) -> bool:
    """Generate (or resume) a dataset. Returns True when it is complete (CSVs + manifest)."""
    recipe = load_recipe(recipe_path)
    out = Path(out)
    check_output_dir(out, recipe, save_sources, overwrite)
    _clean_temp_files(out)
    contexts, fingerprints = prepare_contexts(recipe, data_home, out / STATE_DIR / "staging")
    sizes = split_sizes(recipe, limit)
    start, rendered, skipped, written = time.monotonic(), 0, 0, 0
    for split, n in sizes.items():
        parts = out / STATE_DIR / "parts" / split
        todo = [
            i
            for i in range(shard.k, n, shard.n)
            if not (parts / f"{mixture_id(split, i)}.json").is_file()
        ]
        skipped += len(range(shard.k, n, shard.n)) - len(todo)
        tasks = [(contexts[split], i, str(out), save_sources) for i in todo]
        for _, nbytes in run_parallel(_render_task, tasks, jobs, desc=split):
            rendered += 1
            written += nbytes
    complete = all(
        (out / STATE_DIR / "parts" / split / f"{mixture_id(split, i)}.json").is_file()
        for split, n in sizes.items()
        for i in range(n)
    )
    if complete:
        written += write_dataset_tables(out, recipe, sizes, fingerprints, save_sources, limit)
    seconds = time.monotonic() - start
    echo(
        f"{rendered} mixtures rendered ({skipped} already done) x {len(recipe.conditions)} "
        f"conditions in {seconds:.1f} s, {written / 1e6:.1f} MB written"
        + ("" if complete else "; dataset incomplete (other shards still to run)")
    )
    return complete


def read_records(out: Path, sizes: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """All mixture records of each split, in index order."""
    return {
        split: [
            json.loads(
                (out / STATE_DIR / "parts" / split / f"{mixture_id(split, i)}.json").read_text()
            )
            for i in range(n)
        ]
        for split, n in sizes.items()
    }


def dataset_tables(records: dict[str, list[dict[str, Any]]]) -> dict[str, bytes]:
    """The CSV files of a dataset (``ground_truth/``, ``mixtures/``, ``events/``) as bytes."""
    tables = {}
    for split, recs in records.items():
        for kind in ("ground_truth", "mixtures", "events"):
            frame = pd.DataFrame([row for rec in recs for row in rec[kind]])
            text = frame.to_csv(index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n")
            tables[f"{kind}/{split}.csv"] = text.encode("utf-8")
    return tables


def build_manifest(
    recipe: Recipe,
    sizes: dict[str, int],
    fingerprints: dict[str, Any],
    files: dict[str, str],
    save_sources: bool,
    limit: int | None,
) -> dict[str, Any]:
    """The manifest: recipe hash, versions, source fingerprints, sha256 of every file."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "recipe": recipe.name,
        "recipe_hash": recipe.hash(),
        "versions": package_versions(),
        "options": {"save_sources": save_sources, "limit": limit},
        "splits": sizes,
        "conditions": [c.id for c in recipe.conditions],
        "classes": list(recipe.classes),
        "sources": fingerprints,
        "files": dict(sorted(files.items())),
    }


def write_dataset_tables(
    out: Path,
    recipe: Recipe,
    sizes: dict[str, int],
    fingerprints: dict[str, Any],
    save_sources: bool,
    limit: int | None,
) -> int:
    """Assemble the CSVs, the resolved recipe and the manifest from the records."""
    records = read_records(out, sizes)
    extra = dataset_tables(records)
    extra["recipe.toml"] = recipe.to_toml().encode("utf-8")
    files = {
        rel: sha for recs in records.values() for rec in recs for rel, sha in rec["files"].items()
    }
    for rel, data in extra.items():
        atomic_write_bytes(out / rel, data)
        files[rel] = sha256(data)
    manifest = build_manifest(recipe, sizes, fingerprints, files, save_sources, limit)
    blob = (json.dumps(manifest, indent=1) + "\n").encode("utf-8")
    atomic_write_bytes(out / "manifest.json", blob)
    return sum(len(d) for d in extra.values()) + len(blob)
