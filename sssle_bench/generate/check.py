"""``verify`` (a dataset against its manifest and its own audio) and ``regenerate``.

``verify_dataset`` checks that every file in the manifest is present with its
sha256 and that nothing else is there; with ``full`` it also recomputes from
the audio every level the CSVs state: mixture levels from the mixtures, and,
when the dataset has isolated sources, each class's level and presence, and
that tracks plus background sum to the mixture.

``regenerate_dataset`` re-renders every mixture from its JAMS and the source
data (Scaper's ``generate_from_jams``), rebuilds the CSVs and compares the
sha256 of every file with the manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ..audio import read_audio
from ..dataset import load_manifest
from ..errors import SssleError
from ..executors import run_tasks
from ..levels import TimeLevels, dbfs, lufs, time_levels, to_mono
from ..paths import write_bytes
from ..recipe import Recipe, load_recipe
from .render import render_mixture, sha256
from .runner import (
    OUTPUT_NAMES,
    README,
    STATE_DIR,
    dataset_tables,
    package_versions,
    select_sources,
    stage_contexts,
    write_readme,
)
from .scene import mixture_id, render_scene_from_jams

#: Tolerance (dB) for a level recomputed from audio against the CSV.
LEVEL_TOLERANCE_DB = 0.01
#: Tolerance (full scale) for tracks + background against the mixture, after quantisation.
SUM_TOLERANCE = 1e-3


def damaged_files(out: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """Each listed file that is missing or differs from its sha256: relative path -> why
    (``missing`` or ``checksum mismatch``), in manifest order."""
    damaged = {}
    for rel, expected in manifest["files"].items():
        path = out / rel
        if not path.is_file():
            damaged[rel] = "missing"
        elif sha256(path.read_bytes()) != expected:
            damaged[rel] = "checksum mismatch"
    return damaged


def verify_files(out: Path, manifest: dict[str, Any]) -> Iterator[str]:
    """Presence and sha256 of every listed file; files on disk that are not listed."""
    listed = manifest["files"]
    for rel, why in damaged_files(out, manifest).items():
        yield f"{rel}: {why}"
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if (
            path.is_file()
            and rel not in listed
            and rel not in ("manifest.json", README)
            and not rel.startswith(STATE_DIR)
        ):
            yield f"{rel}: not in the manifest"


def _close(a: float, b: float) -> bool:
    if pd.isna(a) or pd.isna(b):
        return pd.isna(a) and pd.isna(b)
    return abs(a - b) <= LEVEL_TOLERANCE_DB or (np.isinf(a) and a == b)


def _verify_intervals(
    split: str, row: Any, source: str, levels: TimeLevels, intervals: pd.DataFrame, where: str
) -> list[str]:
    """A source's interval LAeq in ``{split}_intervals.csv`` against its recomputed values."""
    problems = []
    for i, value in enumerate(levels.laeq_db):
        stated = intervals.loc[(source, i), "laeq_db"] if (source, i) in intervals.index else None
        value = np.nan if np.isinf(value) else float(value)
        if stated is None or not _close(stated, value):
            problems.append(
                f"ground_truth/{split}_intervals.csv: {row.mixture_id} {row.condition} {source} "
                f"interval {i} laeq_db {stated} but {where} reads {value:.4f}"
            )
    return problems


def _silent_intervals(split: str, row: Any, source: str, intervals: pd.DataFrame) -> list[str]:
    """An absent source's interval rows: each must say silent (``laeq_db`` empty)."""
    if source not in intervals.index.get_level_values(0):
        return []
    stated = intervals.loc[source, "laeq_db"]
    return [
        f"ground_truth/{split}_intervals.csv: {row.mixture_id} {row.condition} {source} "
        f"interval {i} laeq_db {value} but the source is absent"
        for i, value in stated[stated.notna()].items()
    ]


def _verify_mixture(
    task: tuple[str, str, dict[str, Any], pd.DataFrame, bool, pd.DataFrame, float],
) -> list[str]:
    """Worker: every problem of one mixture row: its levels and interval LAeq, absent
    classes' intervals silent, and, if its sources are saved, every class's levels, Fast
    maximum, energy share and intervals."""
    out, split, fields, sub, sources, intervals, interval_s = task
    row = SimpleNamespace(**fields)
    mix, sr = read_audio(Path(out) / row.audio_path)
    levels = time_levels(mix, sr, interval_s, fast_max=False)
    problems = [
        f"mixtures/{split}.csv: {row.mixture_id} {row.condition} {column} "
        f"{getattr(row, column)} but {row.audio_path} reads {value:.4f}"
        for column, value in [
            ("mixture_dbfs", dbfs(mix)),
            ("mixture_dbfs_a", levels.dbfs_a),
            ("mixture_lufs", lufs(mix, sr)),
        ]
        if not _close(getattr(row, column), value)
    ]
    problems += _verify_intervals(split, row, "mixture", levels, intervals, row.audio_path)
    for label in sub.index[sub["present"] == 0]:
        problems += _silent_intervals(split, row, label, intervals)
    if pd.isna(fields.get("background_lufs")):  # condition "none": no background
        problems += _silent_intervals(split, row, "background", intervals)
    if sources:
        problems += list(_verify_sources(Path(out), split, row, mix, sub, intervals, interval_s))
    return problems


def verify_levels(
    out: Path,
    split: str,
    jobs: int = 1,
    executor: Executor | None = None,
    workers: int | None = None,
) -> Iterator[str]:
    """Recompute the split's mixture levels and interval LAeq (and, with sources, every
    class's descriptors) from audio, one task per mixture (``jobs``/``executor``/``workers``
    as in generate)."""
    recipe = load_recipe(out / "recipe.toml")
    mixes = pd.read_csv(out / "mixtures" / f"{split}.csv")
    truth = pd.read_csv(out / "ground_truth" / f"{split}.csv")
    by_pair = {
        key: frame.set_index("class") for key, frame in truth.groupby(["mixture_id", "condition"])
    }
    spans = pd.read_csv(out / "ground_truth" / f"{split}_intervals.csv")
    span_pairs = {
        key: frame.set_index(["class", "interval"])
        for key, frame in spans.groupby(["mixture_id", "condition"])
    }
    empty = spans.iloc[:0].set_index(["class", "interval"])
    sources = "sources_dir" in mixes.columns
    tasks = []
    for row in mixes.to_dict("records"):
        key = (row["mixture_id"], row["condition"])
        spans_of = span_pairs.get(key, empty)
        tasks.append((str(out), split, row, by_pair[key], sources, spans_of, recipe.interval_s))
    for problems in run_tasks(_verify_mixture, tasks, jobs, f"verify {split}", executor, workers):
        yield from problems


def _verify_sources(
    out: Path,
    split: str,
    row: Any,
    mix: np.ndarray,
    sub: pd.DataFrame,
    intervals: pd.DataFrame,
    interval_s: float,
) -> Iterator[str]:
    """Class levels, Fast maxima, energy shares, interval LAeq and presence from the
    isolated tracks; tracks + background == mixture."""
    folder = out / row.sources_dir
    total = np.zeros_like(mix)
    ext = Path(row.audio_path).suffix
    mix_energy = float(np.sum(to_mono(mix) ** 2))
    for label, t in sub.iterrows():
        path = folder / f"{label}{ext}"
        if bool(t["present"]) != path.is_file():
            state = "exists" if path.is_file() else "is missing"
            yield (
                f"ground_truth/{split}.csv: {row.mixture_id} {row.condition} {label} "
                f"present={t['present']} but {path.relative_to(out)} {state}"
            )
            continue
        if not path.is_file():
            continue
        x, sr = read_audio(path)
        total += x
        levels = time_levels(x, sr, interval_s)
        share = float(np.sum(to_mono(x) ** 2)) / mix_energy if mix_energy > 0 else np.nan
        for column, value, close in [
            ("level_dbfs", dbfs(x), _close),
            ("level_dbfs_a", levels.dbfs_a, _close),
            ("lafmax_db", levels.lafmax_db, _close),
            ("energy_share", share, _close_share),
        ]:
            if not close(t[column], value):
                yield (
                    f"ground_truth/{split}.csv: {row.mixture_id} {row.condition} {label} "
                    f"{column} {t[column]} but {path.relative_to(out)} reads {value:.6f}"
                )
        yield from _verify_intervals(
            split, row, label, levels, intervals, str(path.relative_to(out))
        )
    bg = folder / f"background{ext}"
    if bg.is_file():
        x, sr = read_audio(bg)
        total += x
        yield from _verify_intervals(
            split,
            row,
            "background",
            time_levels(x, sr, interval_s, False),
            intervals,
            str(bg.relative_to(out)),
        )
    err = float(np.max(np.abs(total - mix)))
    if err > SUM_TOLERANCE:
        yield f"{row.audio_path}: sources + background differ from the mixture by {err:.2e}"


def _close_share(a: float, b: float) -> bool:
    """Energy shares agree to the CSV's 6 decimals (and relatively, for tiny shares)."""
    if pd.isna(a) or pd.isna(b):
        return pd.isna(a) and pd.isna(b)
    return abs(a - b) <= 2e-6 + 1e-3 * abs(b)


def verify_dataset(
    out: Path,
    full: bool = False,
    jobs: int = 1,
    executor: Executor | None = None,
    workers: int | None = None,
) -> list[str]:
    """Every problem found in a dataset folder (empty list: the dataset is intact).

    ``full``: also recompute every level from the audio, ``jobs`` processes at a time
    or on ``executor`` (``workers``: its parallelism)."""
    out = Path(out)
    manifest = load_manifest(out)
    problems = list(verify_files(out, manifest))
    if full:
        for split in manifest["splits"]:
            problems += list(verify_levels(out, split, jobs, executor, workers))
    return problems


def _regen_task(
    task: tuple[Any, int, str, str, bool, str | None, dict[str, str] | None],
) -> dict[str, Any]:
    """Worker: re-render one mixture from its JAMS; write its files under ``dest`` if given.

    ``repair`` (the manifest's sha256 of each damaged file, with ``dest`` the dataset
    itself): write only those files, and only when the regenerated bytes are the
    manifest's."""
    ctx, index, jams_path, jams_text, save_sources, dest, repair = task
    scene = render_scene_from_jams(ctx, jams_text, where=jams_path)

    def sink(rel: str, data: bytes) -> None:
        if dest is None or repair is not None and sha256(data) != repair.get(rel):
            return
        write_bytes(Path(dest), rel, data)

    return render_mixture(ctx, index, scene, sink, save_sources)


def _read_jams(out: Path, split: str, index: int) -> tuple[str, str]:
    """(path, text) of a mixture's JAMS; a clear error if it is missing or not text."""
    path = out / "jams" / split / f"{mixture_id(split, index)}.jams"
    try:
        return str(path), path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SssleError(f"{path}: missing; the dataset cannot be regenerated without it") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SssleError(f"{path}: unreadable ({exc})") from exc


def regenerate_dataset(
    out: Path,
    data_home: Path,
    *,
    dest: Path | None = None,
    repair: bool = False,
    jobs: int = 1,
    echo: Callable[[str], None] = print,
    executor: Executor | None = None,
    workers: int | None = None,
) -> list[str]:
    """Re-render a dataset from its JAMS + manifest; return every problem: each file whose
    regenerated bytes differ from the manifest's sha256, then each file of the dataset
    on disk that is missing or differs from it (:func:`verify_files`).

    ``executor``/``workers``: as in :func:`~.runner.generate_dataset`.

    With ``dest`` the rebuilt dataset is also written there. With ``repair`` the
    dataset is mended in place: every missing or damaged file is written again from
    its regenerated bytes when they are the manifest's (nothing else is touched), and
    what is still wrong afterwards is returned. Warns (through ``echo``) when package
    versions or source files differ from the manifest's.
    """
    out = Path(out)
    dest = None if dest is None else Path(dest)
    if repair and dest is not None:
        raise SssleError("--repair mends the dataset in place: leave out --out")
    manifest, recipe = _manifest_and_recipe(out, echo)
    if dest is not None:
        _check_dest(out, dest)
    save_sources = manifest["options"]["save_sources"]
    expected = manifest["files"]
    damaged = damaged_files(out, manifest) if repair else {}
    if repair:
        shown = "; ".join(f"{rel}: {why}" for rel, why in list(damaged.items())[:3])
        echo(f"repairing {len(damaged)} file(s)" + (f": {shown}" if damaged else ""))
    sources = select_sources(recipe, data_home)
    contexts = stage_contexts(recipe, sources, dest or out, f"{STATE_DIR}/regen-staging")
    for name, fp in sources.fingerprints.items():
        if manifest["sources"].get(name) != fp:
            echo(f"warning: the {name} files in {data_home} differ from those used to generate")
    records: dict[str, list[dict[str, Any]]] = {}
    writes = str(out) if repair else dest and str(dest)
    to_mend = {rel: expected[rel] for rel in damaged}
    for split, n in manifest["splits"].items():
        tasks = [
            (
                contexts[split],
                i,
                *_read_jams(out, split, i),
                save_sources,
                writes,
                to_mend if repair else None,
            )
            for i in range(n)
        ]
        records[split] = list(
            run_tasks(_regen_task, tasks, jobs, f"regenerate {split}", executor, workers)
        )
    problems = _rebuild_tables(records, recipe, expected, out, dest, to_mend)
    if dest is not None:
        write_bytes(dest, "manifest.json", (out / "manifest.json").read_bytes())
        write_readme(dest, manifest)
    hint = "" if repair else "; `sssle-bench regenerate --repair` writes it again"
    on_disk = [
        f"{p} in {out}" + ("" if p.endswith("not in the manifest") else hint)
        for p in verify_files(out, manifest)
    ]
    return problems + on_disk


def _rebuild_tables(
    records: dict[str, list[dict[str, Any]]],
    recipe: Recipe,
    expected: dict[str, str],
    out: Path,
    dest: Path | None,
    to_mend: dict[str, str],
) -> list[str]:
    """Rebuild the dataset's tables and recipe.toml from the regenerated mixtures'
    ``records``, write them to ``dest`` (or mend those of ``to_mend``, path -> sha256,
    in ``out``), and return every file whose rebuilt sha256 is not ``expected``'s."""
    rebuilt = {
        rel: sha for recs in records.values() for rec in recs for rel, sha in rec["files"].items()
    }
    tables = dataset_tables(records)
    tables["recipe.toml"] = recipe.to_toml().encode("utf-8")
    for rel, data in tables.items():
        rebuilt[rel] = sha256(data)
        if dest is not None:
            write_bytes(dest, rel, data)
        elif rel in to_mend and rebuilt[rel] == to_mend[rel]:
            write_bytes(out, rel, data)
    problems = [
        f"{rel}: not rebuilt"
        if rel not in rebuilt
        else f"{rel}: regenerated file differs from the manifest"
        for rel in sorted(set(expected) | set(rebuilt))
        if rebuilt.get(rel) != expected.get(rel)
    ]
    return problems


def _manifest_and_recipe(out: Path, echo: Callable[[str], None]) -> tuple[dict[str, Any], Recipe]:
    """A dataset's manifest and its recipe, checked against each other (the recipe's hash,
    its splits); warns when this machine's package versions differ from the manifest's."""
    manifest = load_manifest(out)
    current = package_versions()
    for name, was in manifest["versions"].items():
        if current.get(name) != was:
            echo(
                f"warning: {name} {current.get(name)} differs from {was} used to generate; "
                "audio may not match bit for bit"
            )
    recipe = load_recipe(out / "recipe.toml")
    if recipe.hash() != manifest["recipe_hash"]:
        raise SssleError(f"{out / 'recipe.toml'} does not match the manifest's recipe hash")
    unknown = sorted(set(manifest["splits"]) - {s.name for s in recipe.splits})
    if unknown:
        raise SssleError(f"{out / 'manifest.json'}: split(s) {unknown} are not in recipe.toml")
    return manifest, recipe


def _check_dest(out: Path, dest: Path) -> None:
    """``--out`` of regenerate: not the dataset itself, nor inside it, nor a non-empty folder."""
    src, dst = out.resolve(), dest.resolve()
    if dst == src or src in dst.parents:
        raise SssleError(f"--out {dest} is inside the dataset {out}; choose a folder outside it")
    if dest.is_file():
        raise SssleError(f"--out {dest} is a file, not a folder")
    rerun = (dest / STATE_DIR / "regen-staging").is_dir()
    if dest.is_dir() and any(
        p.name not in OUTPUT_NAMES if rerun else p.name != STATE_DIR for p in dest.iterdir()
    ):
        raise SssleError(
            f"--out {dest} holds other files; choose an empty folder or a previous regenerate --out"
        )
