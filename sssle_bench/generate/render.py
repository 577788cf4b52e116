"""One mixture end to end: scene -> background -> conditions -> encoded files -> rows.

Ground truth is computed from the decoded bytes of each class track, i.e. from
exactly what is (or, without ``--save-sources``, would be) written, after the
format's quantisation and any full-scale protection.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import encode, read_audio, resample
from ..levels import (
    TimeLevels,
    db_to_power,
    dbfs,
    dbfs_a,
    interval_bounds,
    lufs,
    time_levels,
    to_mono,
)
from .mix import class_tracks, fit_length, mix_condition
from .scene import Scene, SplitContext, mixture_id

#: Receives (path relative to the dataset folder, file bytes); returns nothing.
Sink = Callable[[str, bytes], None]


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def background_segment(ctx: SplitContext, scene: Scene) -> np.ndarray:
    """The mixture's background: mono, at the recipe's rate, exactly the mixture's length."""
    recipe, bg = ctx.recipe, scene.background
    n_src = int(np.ceil(recipe.duration_s * bg.sample_rate))
    x, sr = read_audio(Path(ctx.data_home) / bg.file, scene.background_offset, None)
    x = fit_length(to_mono(x), n_src)
    n = int(round(recipe.duration_s * recipe.sample_rate))
    return fit_length(resample(x, sr, recipe.sample_rate), n)


def _level(x: np.ndarray, sr: int) -> tuple[float, float]:
    return dbfs(x), dbfs_a(x, sr)


@dataclass(frozen=True)
class TrackLevels:
    """Every ground-truth level of one decoded track: dBFS and the A-weighted descriptors."""

    dbfs: float
    a: TimeLevels


def _track_levels(x: np.ndarray, sr: int, interval_s: float, fast_max: bool = True) -> TrackLevels:
    return TrackLevels(dbfs(x), time_levels(x, sr, interval_s, fast_max))


def _truth_rows(
    keys: dict[str, str],
    classes: tuple[str, ...],
    counts: dict[str, int],
    levels: dict[str, TrackLevels],
    mixture_dbfs: float,
) -> list[dict[str, Any]]:
    """Ground-truth rows of one (mixture, condition): every class, empty levels when absent.
    ``energy_share``: the class track's energy over the mixture's."""
    rows = []
    for label in classes:
        lv = levels.get(label)
        rows.append(
            {
                **keys,
                "class": label,
                "present": int(lv is not None),
                "n_events": counts[label],
                "level_dbfs": None if lv is None else lv.dbfs,
                "level_dbfs_a": None if lv is None else lv.a.dbfs_a,
                "lafmax_db": None if lv is None else lv.a.lafmax_db,
                "energy_share": None if lv is None else db_to_power(lv.dbfs - mixture_dbfs),
            }
        )
    return rows


def _interval_rows(
    keys: dict[str, str],
    sources: dict[str, TimeLevels | None],
    bounds: list[tuple[int, int]],
    sr: int,
) -> list[dict[str, Any]]:
    """One row per (source, interval); ``laeq_db`` empty where the source is silent."""
    rows = []
    for source, lv in sources.items():
        for i, (a, b) in enumerate(bounds):
            value = None if lv is None else float(lv.laeq_db[i])
            rows.append(
                {
                    **keys,
                    "class": source,
                    "interval": i,
                    "t_start_s": a / sr,
                    "t_end_s": b / sr,
                    "laeq_db": None if value is None or np.isinf(value) else value,
                }
            )
    return rows


def _encode_tracks(
    tracks: dict[str, np.ndarray], sr: int, fmt: str, subtype: str, interval_s: float
) -> dict[str, tuple[bytes, TrackLevels]]:
    """Each class track's file bytes and the levels of its decoded samples, by class."""
    out = {}
    for label, track in sorted(tracks.items()):
        data, decoded = encode(track, sr, fmt, subtype)
        out[label] = (data, _track_levels(decoded, sr, interval_s))
    return out


def _events(ctx: SplitContext, scene: Scene, mid: str) -> list[dict[str, Any]]:
    """One row per event; levels over the event's active span, before protection."""
    sr, home = ctx.recipe.sample_rate, os.path.realpath(ctx.data_home)
    rows = []
    for ev, audio in zip(scene.events, scene.event_audio, strict=True):
        start = int(ev["event_time"] * sr)
        stretch = ev["time_stretch"] or 1.0
        span = audio[start : start + max(1, int(round(ev["event_duration"] * stretch * sr)))]
        d, a = _level(span, sr)
        rows.append(
            {
                "mixture_id": mid,
                **ev,
                "source_file": os.path.relpath(ev["source_file"], home),
                "event_dbfs": d,
                "event_dbfs_a": a,
            }
        )
    return rows


def render_mixture(
    ctx: SplitContext, index: int, scene: Scene, sink: Sink, save_sources: bool
) -> dict[str, Any]:
    """Mix, encode and hand every file of one mixture to ``sink``; return its CSV rows.

    Returns a JSON-able record: ``ground_truth``, ``mixtures`` and ``events``
    rows (raw floats) and ``files`` (relative path -> sha256).
    """
    recipe, split = ctx.recipe, ctx.split
    sr, fmt, subtype = recipe.sample_rate, recipe.audio_format, recipe.subtype
    ext = f".{fmt}"
    mid = mixture_id(split, index)
    n = int(round(recipe.duration_s * sr))
    tracks = class_tracks(scene.labels, scene.event_audio, n)
    counts = {c: scene.labels.count(c) for c in recipe.classes}
    segment = background_segment(ctx, scene)
    raw_lufs = lufs(segment, sr)
    files: dict[str, str] = {}

    def put(rel: str, data: bytes) -> None:
        files[rel] = sha256(data)
        sink(rel, data)

    gt_rows, mix_rows, interval_rows = [], [], []
    bounds = interval_bounds(n, sr, recipe.interval_s)
    # Conditions without protection share identical class tracks: encode and measure once.
    encoded_tracks: dict[float, dict[str, tuple[bytes, TrackLevels]]] = {}
    for cond in recipe.conditions:
        gain = 0.0 if cond.lufs is None else cond.lufs - raw_lufs
        cm = mix_condition(cond, tracks, segment, gain)
        audio_rel = f"audio/{split}/{cond.id}/{mid}{ext}"
        data, mixture = encode(cm.mixture, sr, fmt, subtype)
        put(audio_rel, data)
        src_dir = f"sources/{split}/{cond.id}/{mid}"
        if cm.gain_db not in encoded_tracks:
            encoded_tracks[cm.gain_db] = _encode_tracks(
                cm.tracks, sr, fmt, subtype, recipe.interval_s
            )
        levels = {}
        for label, (data, level) in encoded_tracks[cm.gain_db].items():
            levels[label] = level
            if save_sources:
                put(f"{src_dir}/{label}{ext}", data)
        bg_lufs, bg_levels = None, None
        if cm.background is not None:
            data, decoded = encode(cm.background, sr, fmt, subtype)
            bg_lufs = lufs(decoded, sr)
            bg_levels = time_levels(decoded, sr, recipe.interval_s, fast_max=False)
            if save_sources:
                put(f"{src_dir}/background{ext}", data)
        keys = {"mixture_id": mid, "split": split, "condition": cond.id}
        mix_levels = _track_levels(mixture, sr, recipe.interval_s, fast_max=False)
        d, a = mix_levels.dbfs, mix_levels.a.dbfs_a
        gt_rows += _truth_rows(keys, recipe.classes, counts, levels, d)
        per_source: dict[str, TimeLevels | None] = {
            c: levels[c].a if c in levels else None for c in recipe.classes
        }
        per_source |= {"background": bg_levels, "mixture": mix_levels.a}
        interval_rows += _interval_rows(keys, per_source, bounds, sr)
        row = {
            **keys,
            "audio_path": audio_rel,
            "duration_s": recipe.duration_s,
            "sample_rate": sr,
            "mixture_dbfs": d,
            "mixture_dbfs_a": a,
            "mixture_lufs": lufs(mixture, sr),
            "background_file": scene.background.file,
            "background_offset_s": scene.background_offset / scene.background.sample_rate,
            "background_lufs": bg_lufs,
            "gain_db": cm.gain_db,
        }
        if save_sources:
            row["sources_dir"] = src_dir
        mix_rows.append(row)
    put(f"jams/{split}/{mid}.jams", scene.jams_text.encode("utf-8"))
    return {
        "mixture_id": mid,
        "ground_truth": gt_rows,
        "mixtures": mix_rows,
        "events": _events(ctx, scene, mid),
        "intervals": interval_rows,
        "files": files,
    }
