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
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import SssleError
from ..executors import run_tasks
from ..paths import TEMP_SUFFIX, check_relative, inside, remove_file, write_bytes
from ..recipe import Recipe, load_recipe
from ..sources import sonyc_backgrounds, urbansound8k
from .readme import dataset_readme
from .render import render_mixture, sha256
from .scene import (
    BackgroundFile,
    SplitContext,
    mixture_id,
    render_scene,
    split_clips,
    stage_split,
)

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
    "README.md",
    STATE_DIR,
)
#: The dataset's README (written from the manifest, not listed in it).
README = "README.md"
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


@dataclass(frozen=True)
class SourceSelection:
    """The source files a recipe uses, read and checked before anything is written.

    ``clips[split]``: the split's UrbanSound8K rows (recipe classes, folds, salience);
    ``backgrounds[split]``: its SONYC-Backgrounds files; ``fingerprints``: per
    dataset, count and sha256 of the files used (see :func:`_fingerprint`).
    """

    data_home: Path
    clips: dict[str, pd.DataFrame]
    backgrounds: dict[str, tuple[BackgroundFile, ...]]
    fingerprints: dict[str, Any]


def select_sources(recipe: Recipe, data_home: Path, skip_bad: bool = False) -> SourceSelection:
    """Load both source datasets and pick each split's files; raise before any write."""
    clips, _ = urbansound8k.load_clips(data_home, skip_bad=skip_bad)
    bgs, _ = sonyc_backgrounds.load_backgrounds(data_home, skip_bad=skip_bad)
    chosen, backgrounds = {}, {}
    for spec in recipe.splits:
        chosen[spec.name] = split_clips(clips, recipe, spec.name, data_home)
        rows = bgs[bgs["split"] == spec.backgrounds]
        if rows.empty:
            raise SssleError(
                f"split {spec.name!r}: no SONYC-Backgrounds files in "
                f"{sonyc_backgrounds.dataset_dir(data_home) / spec.backgrounds}"
            )
        backgrounds[spec.name] = tuple(
            BackgroundFile(f"{sonyc_backgrounds.FOLDER}/{f}", int(round(d * sr)), int(sr))
            for f, d, sr in zip(rows["file"], rows["duration_s"], rows["sample_rate"], strict=True)
        )
    fg_used = pd.concat(chosen.values()).sort_values("path")
    bg_used = bgs[bgs["split"].isin([s.backgrounds for s in recipe.splits])]
    fingerprints = {
        urbansound8k.FOLDER: _fingerprint(fg_used["path"], data_home),
        sonyc_backgrounds.FOLDER: _fingerprint(bg_used["path"], data_home),
    }
    return SourceSelection(Path(data_home), chosen, backgrounds, fingerprints)


def stage_contexts(
    recipe: Recipe, sources: SourceSelection, root: Path, staging: str
) -> dict[str, SplitContext]:
    """Stage every split's clips under ``root/staging`` (symlinks) and build the contexts."""
    contexts = {}
    for spec in recipe.splits:
        fg, bg = stage_split(sources.clips[spec.name], recipe, root, f"{staging}/{spec.name}")
        contexts[spec.name] = SplitContext(
            recipe,
            spec.name,
            str(sources.data_home),
            str(fg),
            str(bg),
            sources.backgrounds[spec.name],
        )
    return contexts


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
        write_bytes(Path(out), rel, data)

    record = render_mixture(ctx, index, render_scene(ctx, index), sink, save_sources)
    write_bytes(Path(out), part_path(ctx.split, index), json.dumps(record, allow_nan=True).encode())
    return index, written


def part_path(split: str, index: int) -> str:
    """Where mixture ``index``'s record lives, relative to the dataset folder."""
    return f"{STATE_DIR}/parts/{split}/{mixture_id(split, index)}.json"


def _state(recipe: Recipe, save_sources: bool) -> dict[str, Any]:
    """What ``.sssle/state.json`` holds for a dataset of ``recipe``."""
    return {"recipe_hash": recipe.hash(), "save_sources": save_sources}


def check_output_dir(out: Path, recipe: Recipe, save_sources: bool, overwrite: bool) -> bool:
    """Refuse to mix datasets: ``out`` must be empty, or hold this recipe's dataset (then
    True is returned).

    Only reads; :func:`claim_output_dir` writes the state once every input is checked.
    """
    state_file = out / STATE_DIR / "state.json"
    expected = _state(recipe, save_sources)
    if state_file.is_file():
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            state = {}
        if state == expected:
            return True
        why = (
            f"a dataset of a different recipe ({str(state.get('recipe_hash', '?'))[:12]})"
            if state.get("recipe_hash") != expected["recipe_hash"]
            else f"a dataset generated with save_sources={state.get('save_sources')}"
        )
    elif out.is_file():
        raise SssleError(f"--out {out} is a file, not a folder")
    elif out.exists() and any(out.iterdir()):
        why = "files that are not an sssle-bench dataset"
    else:
        return False
    if not overwrite:
        raise SssleError(f"{out} holds {why}; choose another --out or pass --overwrite")
    return False


def claim_output_dir(out: Path, recipe: Recipe, save_sources: bool) -> None:
    """Make ``out`` this recipe's dataset folder (after :func:`check_output_dir` allowed it)."""
    state_file = out / STATE_DIR / "state.json"
    expected = _state(recipe, save_sources)
    if state_file.is_file() and state_file.read_text(encoding="utf-8") == json.dumps(expected):
        return
    if out.exists():
        for name in OUTPUT_NAMES:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    write_bytes(out, f"{STATE_DIR}/state.json", json.dumps(expected).encode("utf-8"))


def _clean_temp_files(out: Path) -> None:
    for tmp in out.rglob(f".*{TEMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)


def _record_files(part: Path, out: Path) -> list[str] | None:
    """The files a mixture record lists (each checked to be a safe relative path inside
    ``out``); None if the record is unreadable (the mixture is then rendered again)."""
    try:
        record = json.loads(part.read_text(encoding="utf-8"))
        files = record["files"]
    except (OSError, ValueError, UnicodeDecodeError, TypeError, KeyError):
        return None
    if not isinstance(files, dict):
        return None
    return [str(inside(out, check_relative(rel, str(part)))) for rel in files]


def beyond_limit(out: Path, sizes: dict[str, int]) -> dict[Path, list[str]]:
    """The records of mixtures past each split's size (e.g. before a smaller ``--limit``)
    and the files each lists. Only reads: every path is checked (safe, inside ``out``)
    before anything is deleted, so a hostile record is refused with nothing removed."""
    doomed: dict[Path, list[str]] = {}
    for split, n in sizes.items():
        folder = out / STATE_DIR / "parts" / split
        if not folder.is_dir():
            continue
        for part in sorted(folder.glob(f"{split}_*.json")):
            index = part.stem.rsplit("_", 1)[-1]
            if index.isdigit() and int(index) >= n:
                doomed[part] = _record_files(part, out) or []
    return doomed


def prune(out: Path, doomed: dict[Path, list[str]]) -> int:
    """Delete the mixtures :func:`beyond_limit` listed (files, then record); how many."""
    for part, files in doomed.items():
        for path in files:
            remove_file(out, Path(path).relative_to(out))
        part.unlink()
    return len(doomed)


def _refuse_shrinking(out: Path, doomed: dict[Path, list[str]], sizes: dict[str, int]) -> None:
    """A smaller dataset than ``out`` holds deletes mixtures: only when asked."""
    names = [p.stem for p in doomed]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    files = sum(len(f) for f in doomed.values())
    raise SssleError(
        f"{out} holds {len(doomed)} mixture(s) beyond the requested split sizes "
        f"({', '.join(f'{k} {v}' for k, v in sizes.items())}): {shown}; generating would "
        f"delete them and their {files} file(s). Pass --overwrite to delete them, "
        "or choose another --out"
    )


def is_done(out: Path, split: str, index: int) -> bool:
    """True if mixture ``index`` has its record and every file the record lists exists
    (a deleted file makes it to do again; its content is checked by ``verify``)."""
    part = out / part_path(split, index)
    if not part.is_file():
        return False
    files = _record_files(part, out)
    return files is not None and all(os.path.isfile(f) for f in files)


def _tables_current(
    out: Path, sizes: dict[str, int], save_sources: bool, limit: int | None
) -> bool:
    """True if ``out``'s manifest already describes these split sizes and options."""
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return manifest.get("splits") == sizes and manifest.get("options") == {
        "save_sources": save_sources,
        "limit": limit,
    }


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
    executor: Executor | None = None,
    workers: int | None = None,
) -> bool:
    """Generate (or resume) a dataset. Returns True when it is complete (CSVs + manifest).

    Every input (recipe, data home, output folder) is read and checked before
    the first write, so a refused run leaves ``out`` as it found it.
    ``executor``: render on it instead of the process pool of ``jobs`` (any
    ``concurrent.futures.Executor``, e.g. a Dask cluster's; its workers must see
    ``data_home`` and ``out`` at the same paths); ``workers``: its parallelism. Each
    task renders a few mixtures straight into ``out`` and returns their sizes; the
    tables and manifest are built here, from the records, in index order.
    """
    if jobs < 1:
        raise SssleError(f"--jobs must be >= 1, got {jobs}")
    if limit is not None and limit < 1:
        raise SssleError(f"--limit must be >= 1, got {limit}")
    recipe = load_recipe(recipe_path)
    out = Path(out)
    sources = select_sources(recipe, data_home)
    sizes = split_sizes(recipe, limit)
    same = check_output_dir(out, recipe, save_sources, overwrite)
    doomed = beyond_limit(out, sizes) if same else {}
    if doomed and not overwrite:
        _refuse_shrinking(out, doomed, sizes)
    claim_output_dir(out, recipe, save_sources)
    _clean_temp_files(out)
    contexts = stage_contexts(recipe, sources, out, f"{STATE_DIR}/staging")
    pruned = prune(out, doomed)
    start, rendered, skipped, written = time.monotonic(), 0, 0, 0
    for split, n in sizes.items():
        todo = [i for i in range(shard.k, n, shard.n) if not is_done(out, split, i)]
        skipped += len(range(shard.k, n, shard.n)) - len(todo)
        tasks = [(contexts[split], i, str(out), save_sources) for i in todo]
        for _, nbytes in run_tasks(_render_task, tasks, jobs, split, executor, workers):
            rendered += 1
            written += nbytes
    complete = all(is_done(out, split, i) for split, n in sizes.items() for i in range(n))
    if (
        complete
        and not rendered
        and not pruned
        and _tables_current(out, sizes, save_sources, limit)
    ):
        echo(f"nothing to do: all {sum(sizes.values())} mixtures already generated in {out}")
        if not (out / README).is_file():  # a dataset made before datasets had one
            write_readme(out, json.loads((out / "manifest.json").read_text(encoding="utf-8")))
        return True
    if complete:
        written += write_dataset_tables(
            out, recipe, sizes, sources.fingerprints, save_sources, limit
        )
    seconds = time.monotonic() - start
    echo(
        f"{rendered} mixtures rendered ({skipped} already done"
        + (f", {pruned} beyond --limit removed" if pruned else "")
        + f") x {len(recipe.conditions)} conditions in {seconds:.1f} s, "
        f"{written / 1e6:.1f} MB written"
        + ("" if complete else "; dataset incomplete (other shards still to run)")
    )
    return complete


def read_records(out: Path, sizes: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """All mixture records of each split, in index order."""
    return {
        split: [json.loads((out / part_path(split, i)).read_text()) for i in range(n)]
        for split, n in sizes.items()
    }


def dataset_tables(records: dict[str, list[dict[str, Any]]]) -> dict[str, bytes]:
    """The CSV files of a dataset (``ground_truth/``, ``mixtures/``, ``events/``; the
    time-resolved ground truth as ``ground_truth/{split}_intervals.csv``) as bytes."""
    tables = {}
    where = {
        "ground_truth": "ground_truth/{}.csv",
        "mixtures": "mixtures/{}.csv",
        "events": "events/{}.csv",
        "intervals": "ground_truth/{}_intervals.csv",
    }
    for split, recs in records.items():
        for kind, pattern in where.items():
            frame = pd.DataFrame([row for rec in recs for row in rec[kind]])
            text = frame.to_csv(index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n")
            tables[pattern.format(split)] = text.encode("utf-8")
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
        write_bytes(out, rel, data)
        files[rel] = sha256(data)
    manifest = build_manifest(recipe, sizes, fingerprints, files, save_sources, limit)
    blob = (json.dumps(manifest, indent=1) + "\n").encode("utf-8")
    write_bytes(out, "manifest.json", blob)
    return sum(len(d) for d in extra.values()) + len(blob) + write_readme(out, manifest)


def write_readme(out: Path, manifest: dict[str, Any]) -> int:
    """Write the dataset's ``README.md`` (not listed in the manifest); its size in bytes."""
    data = dataset_readme(manifest).encode("utf-8")
    write_bytes(out, README, data)
    return len(data)
