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
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._compat import import_scaper
from ..errors import SssleError
from ..recipe import Dist, Recipe

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


def stage_split(
    clips: pd.DataFrame, recipe: Recipe, split: str, data_home: Path, staging: Path
) -> tuple[Path, Path]:
    """Lay out a split's foreground clips as Scaper wants them: ``fg/{label}/{file}``.

    The files are symlinks into the data home; only the recipe's classes, the
    split's folds and the recipe's salience values are staged. Returns
    ``(fg_path, bg_path)``; ``bg_path`` is an empty folder (backgrounds are
    mixed by us, not by Scaper). Raises if a class has no clip in the split.
    """
    spec = recipe.split(split)
    chosen = clips[clips["fold"].isin(spec.folds) & clips["salience"].isin(recipe.salience)]
    fg, bg = staging / split / "fg", staging / split / "bg"
    bg.mkdir(parents=True, exist_ok=True)
    for label in recipe.classes:
        rows = chosen[chosen["class"] == label]
        if rows.empty:
            raise SssleError(
                f"split {split!r}: UrbanSound8K folds {list(spec.folds)} have no clip of class "
                f"{label!r} with salience {list(recipe.salience)} in {data_home}"
            )
        folder = fg / label
        folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(rows["path"]):
            link = folder / Path(path).name
            target = os.path.abspath(path)
            if link.is_symlink() and os.readlink(link) == target:
                continue
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target)
    return fg, bg


def _scaper(recipe: Recipe, fg_path: str, bg_path: str, random_state: Any = None) -> Any:
    scaper = import_scaper()
    sc = scaper.Scaper(recipe.duration_s, fg_path, bg_path, random_state=random_state)
    sc.sr = recipe.sample_rate
    sc.n_channels = 1
    # Event loudness in the recipe is absolute LUFS: with ref_db = 0 Scaper's snr *is* LUFS.
    sc.ref_db = 0
    return sc


def render_scene(ctx: SplitContext, index: int) -> Scene:
    """Sample and render mixture ``index`` of the split's foreground with Scaper."""
    recipe, ev = ctx.recipe, ctx.recipe.events
    ours, theirs = mixture_seed(recipe.seed, ctx.split, index).spawn(2)
    rng = np.random.default_rng(ours)
    n_events = sample_event_count(ev.count, rng)
    background, offset = choose_background(ctx.backgrounds, recipe.duration_s, rng)
    state = np.random.RandomState(int(theirs.generate_state(1)[0]))
    sc = _scaper(recipe, ctx.fg_path, ctx.bg_path, random_state=state)
    for _ in range(n_events):
        sc.add_event(
            label=("choose", []),
            source_file=("choose", []),
            source_time=ev.source_time,
            event_time=ev.event_time,
            event_duration=ev.event_duration,
            snr=ev.loudness_lufs,
            pitch_shift=ev.pitch_shift,
            time_stretch=ev.time_stretch,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, jam, _, event_audio = sc.generate(
            disable_instantiation_warnings=True, disable_sox_warnings=True
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


def render_scene_from_jams(ctx: SplitContext, jams_text: str) -> Scene:
    """Re-render a foreground from its JAMS (Scaper's ``generate_from_jams``)."""
    import tempfile

    scaper = import_scaper()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scene.jams"
        path.write_text(jams_text, encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, jam, _, event_audio = scaper.generate_from_jams(
                str(path), fg_path=ctx.fg_path, bg_path=ctx.bg_path
            )
    info = jam.annotations.search(namespace="scaper")[0].sandbox[SANDBOX_KEY]
    by_file = {b.file: b for b in ctx.backgrounds}
    if info["background_file"] not in by_file:
        raise SssleError(f"background {info['background_file']} is not in the data home")
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
