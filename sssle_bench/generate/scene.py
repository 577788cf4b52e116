"""One mixture's foreground scene, sampled and rendered once with Scaper.

Randomness: every mixture has its own ``numpy.random.SeedSequence((recipe
seed, crc32(split), index))``. Its first child drives a ``numpy`` Generator
(event count, background file and offset), its second seeds Scaper's
``RandomState`` (labels, source files, times, loudness). Nothing reads global
random state, and every file list is sorted before anything is drawn from it,
so a mixture depends only on (recipe, split, index) and the source data.
"""

from __future__ import annotations

import os
import threading
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._compat import import_scaper
from ..errors import SssleError
from ..paths import check_name, inside, is_safe_name, make_dir
from ..recipe import Dist, Recipe

#: Scaper, sox and ``warnings.catch_warnings`` are not thread-safe: one render at a time
#: per process. Parallelism comes from processes (``--jobs``, Dask workers with
#: ``--nthreads 1``); threads of one process take turns here instead of crashing.
SCAPER_LOCK = threading.Lock()

#: What Scaper raises on unreadable source audio or a JAMS it cannot parse (besides its own
#: ScaperError, added where Scaper is imported).
SCAPER_READ_ERRORS: tuple[type[BaseException], ...] = (RuntimeError, OSError, ValueError)


def scaper_errors(scaper: Any) -> tuple[type[BaseException], ...]:
    """Scaper's and JAMS's own exception types."""
    import jams

    return (scaper.scaper_exceptions.ScaperError, jams.exceptions.JamsError)


#: Key of our own block in the Scaper annotation's sandbox.
SANDBOX_KEY = "sssle_bench"
#: Portable folder names written into the JAMS in place of this machine's staging paths.
JAMS_FG_PATH = "foreground"
JAMS_BG_PATH = "background"


@dataclass(frozen=True)
class BackgroundFile:
    """A SONYC-Backgrounds file: path relative to the data home, frames, rate (Hz)."""

    file: str
    frames: int
    sample_rate: int


@dataclass(frozen=True)
class SplitContext:
    """Everything a worker needs to render mixtures of one split (small, picklable)."""

    recipe: Recipe
    split: str
    data_home: str
    fg_path: str
    bg_path: str
    backgrounds: tuple[BackgroundFile, ...]


@dataclass(frozen=True)
class Scene:
    """A rendered foreground: JAMS, one mono float track per event, the background pick."""

    jam: Any
    labels: tuple[str, ...]
    event_audio: tuple[np.ndarray, ...]
    events: tuple[dict[str, Any], ...]
    background: BackgroundFile
    background_offset: int
    jams_text: str


def mixture_id(split: str, index: int) -> str:
    """``{split}_{index:06d}``, e.g. ``train_000042``."""
    return f"{split}_{index:06d}"


def mixture_seed(recipe_seed: int, split: str, index: int) -> np.random.SeedSequence:
    """The mixture's own seed sequence (crc32 keeps split names stable across recipes)."""
    return np.random.SeedSequence([recipe_seed, zlib.crc32(split.encode("utf-8")), index])


def sample_event_count(count: Dist, rng: np.random.Generator) -> int:
    """Events in a mixture: ``("ztpoisson", lam)`` (Poisson given >= 1) or ``("range", lo, hi)``."""
    if count[0] == "range":
        return int(rng.integers(count[1], count[2] + 1))
    while True:
        n = int(rng.poisson(count[1]))
        if n > 0:
            return n


def choose_background(
    backgrounds: tuple[BackgroundFile, ...], duration_s: float, rng: np.random.Generator
) -> tuple[BackgroundFile, int]:
    """Pick a background file (from the sorted list) and a start offset in its samples."""
    bg = backgrounds[int(rng.integers(len(backgrounds)))]
    needed = int(np.ceil(duration_s * bg.sample_rate))
    return bg, int(rng.integers(max(bg.frames - needed, 0) + 1))


def split_clips(clips: pd.DataFrame, recipe: Recipe, split: str, data_home: Path) -> pd.DataFrame:
    """A split's UrbanSound8K rows: the recipe's classes and salience, the split's folds.

    Raises (before anything is written) if a class has no clip in the split.
    """
    spec = recipe.split(split)
    chosen = clips[
        clips["fold"].isin(spec.folds)
        & clips["salience"].isin(recipe.salience)
        & clips["class"].isin(recipe.classes)
    ]
    for label in recipe.classes:
        if not (chosen["class"] == label).any():
            raise SssleError(
                f"split {split!r}: UrbanSound8K folds {list(spec.folds)} have no clip of class "
                f"{label!r} with salience {list(recipe.salience)} in {data_home}"
            )
    return chosen


def stage_split(clips: pd.DataFrame, recipe: Recipe, root: Path, staging: str) -> tuple[Path, Path]:
    """Lay out a split's clips (from :func:`split_clips`) as Scaper wants them.

    Writes ``root/staging/fg/{label}/{file}`` symlinks (:func:`stage_clips`) and
    an empty ``root/staging/bg`` (backgrounds are mixed by us, not by Scaper).
    Returns ``(fg_path, bg_path)``.
    """
    bg = make_dir(root, f"{staging}/bg")
    return stage_clips(clips, recipe, root, f"{staging}/fg"), bg


def stage_clips(clips: pd.DataFrame, recipe: Recipe, root: Path, folder: str) -> Path:
    """``root/folder/{label}/{file}`` symlinks to each clip of the recipe's classes.

    Every path is checked to stay inside ``root``; existing correct links are kept.
    Returns ``root/folder``.
    """
    for label in recipe.classes:
        make_dir(root, f"{folder}/{check_name(label, 'class', 'recipe')}")
        for path in sorted(clips.loc[clips["class"] == label, "path"]):
            name = check_name(Path(path).name, "clip file name", str(path))
            link = inside(root, f"{folder}/{label}/{name}")
            target = os.path.abspath(path)
            if link.is_symlink() and os.readlink(link) == target:
                continue
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target)
    return Path(root) / folder


def _scaper(recipe: Recipe, fg_path: str, bg_path: str, random_state: Any = None) -> Any:
    scaper = import_scaper()
    sc = scaper.Scaper(recipe.duration_s, fg_path, bg_path, random_state=random_state)
    sc.sr = recipe.sample_rate
    sc.n_channels = 1
    # Event loudness in the recipe is absolute LUFS: with ref_db = 0 Scaper's snr *is* LUFS.
    sc.ref_db = 0
    return sc


def clip_files(fg_path: str, label: str) -> list[str]:
    """A class's source clips as Scaper lists them (sorted absolute paths of files)."""
    folder = os.path.join(fg_path, label)
    return sorted(
        f for f in (os.path.join(folder, n) for n in os.listdir(folder)) if os.path.isfile(f)
    )


def distinct_clips(
    clips: dict[str, list[str]], n_events: int, rng: np.random.Generator, where: str
) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """``n_events`` (label, source file) Scaper tuples, no clip twice, for a mixture with
    more events than some class has clips.

    Scaper 1.6.5 with ``allow_repeated_source=False`` loops forever once every clip of
    the drawn class is used (it compares the class's clip count with the clips used by
    *all* classes). Such a mixture draws its events here instead: each a class uniformly
    among those with a clip left, then one of its unused clips uniformly. Mixtures with
    at most as many events as the smallest class has clips never need this and keep
    Scaper's own draw."""
    left = {c: list(files) for c, files in clips.items()}
    picks = []
    for _ in range(n_events):
        open_classes = [c for c in sorted(left) if left[c]]
        if not open_classes:
            raise SssleError(
                f"{where}: {n_events} events with allow_repeated_source = false, but the "
                f"split has only {sum(len(f) for f in clips.values())} clips"
            )
        label = open_classes[int(rng.integers(len(open_classes)))]
        clip = left[label].pop(int(rng.integers(len(left[label]))))
        picks.append((("const", label), ("const", clip)))
    return picks


def render_scene(ctx: SplitContext, index: int) -> Scene:
    """Sample and render mixture ``index`` of the split's foreground with Scaper."""
    recipe, ev = ctx.recipe, ctx.recipe.events
    ours, theirs = mixture_seed(recipe.seed, ctx.split, index).spawn(2)
    rng = np.random.default_rng(ours)
    n_events = sample_event_count(ev.count, rng)
    background, offset = choose_background(ctx.backgrounds, recipe.duration_s, rng)
    state = np.random.RandomState(int(theirs.generate_state(1)[0]))
    sc = _scaper(recipe, ctx.fg_path, ctx.bg_path, random_state=state)
    picks = [(("choose", []), ("choose", []))] * n_events
    if not ev.allow_repeated_source:
        clips = {c: clip_files(ctx.fg_path, c) for c in recipe.classes}
        if n_events > min(len(f) for f in clips.values()):
            picks = distinct_clips(clips, n_events, rng, mixture_id(ctx.split, index))
    for label, source_file in picks:
        sc.add_event(
            label=label,
            source_file=source_file,
            source_time=ev.source_time,
            event_time=ev.event_time,
            event_duration=ev.event_duration,
            snr=ev.loudness_lufs,
            pitch_shift=ev.pitch_shift,
            time_stretch=ev.time_stretch,
        )
    with SCAPER_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, jam, _, event_audio = sc.generate(
            allow_repeated_label=ev.allow_repeated_label,
            allow_repeated_source=ev.allow_repeated_source,
            disable_instantiation_warnings=True,
            disable_sox_warnings=True,
        )
    ann = jam.annotations.search(namespace="scaper")[0]
    ann.sandbox.update(
        **{
            SANDBOX_KEY: {
                "mixture_id": mixture_id(ctx.split, index),
                "split": ctx.split,
                "index": index,
                "background_file": background.file,
                "background_offset_samples": offset,
            }
        }
    )
    return _scene(jam, event_audio, background, offset, jams_text=None)


def check_jams_sources(ctx: SplitContext, jams_text: str, where: str) -> None:
    """Refuse a JAMS whose events leave the vocabulary or the data home.

    Each event must be a foreground event with a label of the recipe and a
    ``source_file`` of the form ``{label}/{file}`` naming a clip of the split
    that resolves inside the data home; the background pick must be well formed.
    """
    import json

    try:
        doc = json.loads(jams_text)
        ann = next(a for a in doc["annotations"] if a.get("namespace") == "scaper")
        events = [obs["value"] for obs in ann["data"]]
        info = ann["sandbox"][SANDBOX_KEY]
    except (ValueError, KeyError, TypeError, AttributeError, StopIteration) as exc:
        raise SssleError(f"{where}: not a Scaper JAMS written by sssle-bench ({exc!r})") from exc
    home = os.path.abspath(ctx.data_home).rstrip(os.sep) + os.sep
    for value in events:
        label = value.get("label") if isinstance(value, dict) else None
        if label not in ctx.recipe.classes:
            raise SssleError(
                f"{where}: event label {label!r} is not a class of the recipe "
                f"({', '.join(ctx.recipe.classes)})"
            )
        if value.get("role") != "foreground":
            raise SssleError(f"{where}: event role {value.get('role')!r} is not 'foreground'")
        source = value.get("source_file")
        parts = source.split("/") if isinstance(source, str) else []
        if len(parts) != 2 or parts[0] != label or not is_safe_name(parts[1]):
            raise SssleError(
                f"{where}: source_file {source!r} is not '{label}/<clip file>' for label {label!r}"
            )
        # Staged links point at the data home's own listing of the split's clips.
        staged = Path(ctx.fg_path) / source
        if not (staged.is_symlink() and staged.is_file() and os.readlink(staged).startswith(home)):
            raise SssleError(
                f"{where}: source_file {source!r} is not a clip of split {ctx.split!r} "
                f"in the data home {ctx.data_home}"
            )
    offset = info.get("background_offset_samples") if isinstance(info, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise SssleError(f"{where}: background_offset_samples {offset!r} is not an integer >= 0")


def render_scene_from_jams(ctx: SplitContext, jams_text: str, where: str = "JAMS") -> Scene:
    """Re-render a foreground from its JAMS (Scaper's ``generate_from_jams``).

    ``where`` names the JAMS file in errors. Labels and source files are checked
    first (:func:`check_jams_sources`), so nothing outside the vocabulary or the
    data home is ever read or written.
    """
    import tempfile

    scaper = import_scaper()
    check_jams_sources(ctx, jams_text, where)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scene.jams"
        path.write_text(jams_text, encoding="utf-8")
        with SCAPER_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _, jam, _, event_audio = scaper.generate_from_jams(
                    str(path), fg_path=ctx.fg_path, bg_path=ctx.bg_path
                )
            except (*SCAPER_READ_ERRORS, *scaper_errors(scaper)) as exc:
                raise SssleError(f"{where}: Scaper could not render it ({exc})") from exc
    info = jam.annotations.search(namespace="scaper")[0].sandbox[SANDBOX_KEY]
    by_file = {b.file: b for b in ctx.backgrounds}
    if info["background_file"] not in by_file:
        raise SssleError(
            f"{where}: background_file {info['background_file']!r} is not a SONYC-Backgrounds "
            f"file of split {ctx.split!r} in the data home"
        )
    return _scene(
        jam,
        event_audio,
        by_file[info["background_file"]],
        info["background_offset_samples"],
        jams_text=jams_text,
    )


def _scene(
    jam: Any, event_audio: list, bg: BackgroundFile, offset: int, jams_text: str | None
) -> Scene:
    """Collect a rendered scene; a fresh one (no ``jams_text``) gets portable JAMS paths."""
    portable = jams_text is None
    ann = jam.annotations.search(namespace="scaper")[0]
    labels, events = [], []
    for obs in ann.data:
        v = obs.value
        labels.append(v["label"])
        events.append(
            {
                "class": v["label"],
                "source_file": os.path.realpath(v["source_file"]),
                "source_time": v["source_time"],
                "event_time": v["event_time"],
                "event_duration": v["event_duration"],
                "snr": v["snr"],
                "pitch_shift": v["pitch_shift"],
                "time_stretch": v["time_stretch"],
            }
        )
        if portable:
            v["source_file"] = "/".join(Path(v["source_file"]).parts[-2:])
    if portable:
        ann.sandbox.scaper.update(fg_path=JAMS_FG_PATH, bg_path=JAMS_BG_PATH)
    audio = tuple(np.asarray(a, dtype=np.float64).reshape(-1) for a in event_audio)
    if portable:
        jams_text = jam.dumps(indent=None)
    return Scene(jam, tuple(labels), audio, tuple(events), bg, int(offset), jams_text)
