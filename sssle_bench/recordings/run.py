"""``sssle-bench measure``: recordings through a trained method into level tables and
figures, one folder per recording, resumable.

Each recording's results go to ``OUT/NAME/`` (``NAME``: its file name made a safe name,
:func:`recording_names`): ``intervals.csv`` (LAeq per source and interval),
``summary.csv`` (LAeq over the recording and LAFmax per source), ``levels.png`` and
``measure.json`` (what was measured, with what, and the key of its inputs). A rerun skips
a recording whose ``measure.json`` carries the same key (the sha256 of the recording, of
the model folder's files and of the settings), so an interrupted run loses at most the
recording it was on. ``OUT/summary.csv`` gathers the summaries of the run's recordings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..audio import resample
from ..errors import SssleError, csv_text, excerpt
from ..estimators.run import load_trained, trained_on
from ..levels import to_mono
from ..paths import is_safe_name, make_dir, sha256_file, write_bytes, write_text
from .measure import MIXTURE, MeasureSettings, SourceLevels, make_grid, measure_recording
from .stream import Recording, open_recording

#: Clip length (s) assumed for a model whose marker does not record its dataset's (the
#: recipes' ``duration_s``).
DEFAULT_CLIP_S = 4.0
MEASURE_JSON = "measure.json"


@dataclass(frozen=True)
class ModelReading:
    """How a model reads audio: rate (Hz) and clip length (s)."""

    rate: int
    clip_s: float


def model_reading(
    model_dir: Path, estimator: Any, rate: int | None, clip_s: float | None
) -> ModelReading:
    """The rate and clip length of a model: given, else what its marker records
    (:func:`~sssle_bench.estimators.run.trained_on`), else its config's ``sample_rate``
    and :data:`DEFAULT_CLIP_S`; :class:`SssleError` when no rate is known."""
    facts = trained_on(model_dir)
    config_rate = getattr(estimator, "config", {}).get("sample_rate")
    rate = rate or (facts.sample_rate if facts else None) or config_rate
    if not isinstance(rate, int):
        raise SssleError(
            f"{model_dir}: the model does not record the sample rate it was trained at "
            "(trained before sssle-bench recorded it); pass --sample-rate"
        )
    return ModelReading(rate, clip_s or (facts.clip_s if facts else DEFAULT_CLIP_S))


def _for_recordings(
    method: str, model_dir: Path, settings: MeasureSettings, rate: int | None
) -> tuple[Any, ModelReading, MeasureSettings]:
    """A trained method loaded to read recordings, how it reads them, and ``settings``
    with its clip length; :class:`SssleError` for a method that reads true labels, or a
    model with one network per condition and none chosen."""
    estimator = load_trained(method, model_dir)
    if estimator.supervision == "oracle":
        raise SssleError(f"{method} reads true labels, which a recording does not have")
    models = getattr(estimator, "models", None)
    if settings.condition is None and isinstance(models, dict) and len(models) > 1:
        raise SssleError(
            f"{model_dir} holds one {method} model per background condition "
            f"({', '.join(models)}); choose one with --condition"
        )
    reading = model_reading(model_dir, estimator, rate, settings.clip_s)
    return estimator, reading, replace(settings, clip_s=reading.clip_s)


def recording_names(paths: list[Path]) -> list[str]:
    """A safe, distinct folder name per recording: its file stem in lower case, every
    other character than ``a-z 0-9 _ . -`` as ``-``, at most 48 characters, ``-2``,
    ``-3`` ... for repeats."""
    names: list[str] = []
    for path in paths:
        stem = re.sub(r"[^a-z0-9_.-]", "-", path.stem.lower()).strip("-.")[:48] or "recording"
        if not stem[0].isalnum():
            stem = "r" + stem
        name, k = stem, 2
        while name in names:
            name, k = f"{stem}-{k}", k + 1
        names.append(name)
    return names


def model_digest(model_dir: Path) -> str:
    """sha256 over the model folder's regular files (names and bytes; links not followed)."""
    digest = hashlib.sha256()
    for path in sorted(Path(model_dir).rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest.update(str(path.relative_to(model_dir)).encode() + b"\0")
            digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def unit_of(calibration_db: float | None) -> str:
    """The unit of the levels written: ``dbfs`` (re full scale) or ``dbspl`` (calibrated)."""
    return "dbfs" if calibration_db is None else "dbspl"


def level_tables(
    levels: SourceLevels, step: int, interval: int, calibration_db: float | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The interval and summary tables of a measured recording, in its unit: every level
    column named ``..._dbfs`` or, with a calibration offset added, ``..._dbspl``."""
    unit, offset = unit_of(calibration_db), calibration_db or 0.0
    spans = levels.intervals(step, interval)
    summary = levels.summary()
    spans[f"laeq_{unit}"] = spans.pop("laeq_db") + offset
    for column in ("laeq", "lafmax"):
        summary[f"{column}_{unit}"] = summary.pop(f"{column}_db") + offset
    return spans, summary


def levels_figure(spans: pd.DataFrame, unit: str, title: str) -> bytes:
    """PNG of each source's LAeq per interval over time, the mixture's in black."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    column = f"laeq_{unit}"
    long = spans["end_s"].max() > 600
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for source, rows in spans.groupby("source", sort=False):
        t = (rows["start_s"] + rows["end_s"]) / 2 / (60 if long else 1)
        style = {"color": "black", "lw": 1.6} if source == MIXTURE else {"lw": 1.1}
        ax.plot(t, rows[column].where(rows[column] > -300), label=source, **style)
    ax.set_xlabel("time (min)" if long else "time (s)")
    ax.set_ylabel("LAeq, " + ("dBFS" if unit == "dbfs" else "dB SPL"))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _measure_one(
    estimator: Any,
    recording: Recording,
    name: str,
    settings: MeasureSettings,
    calibration_db: float | None,
    out: Path,
    meta: dict[str, Any],
) -> pd.DataFrame:
    """Measure one recording into ``out/name/``; its summary table."""
    from tqdm import tqdm

    grid = make_grid(settings, recording.rate)
    interval = round(settings.interval_s * recording.rate)
    clips = len(grid.clip_starts(recording.frames))
    with tqdm(total=clips, desc=name, unit="clip", dynamic_ncols=True, leave=False) as bar:
        levels = measure_recording(estimator, recording, settings, bar.update)
    spans, summary = level_tables(levels, grid.step, interval, calibration_db)
    folder = make_dir(out, name)
    write_text(folder, "intervals.csv", spans.to_csv(index=False, float_format="%.2f"))
    write_text(folder, "summary.csv", summary.to_csv(index=False, float_format="%.2f"))
    title = f"{name}: {meta['method']}, {settings.interval_s:g} s intervals"
    write_bytes(folder, "levels.png", levels_figure(spans, unit_of(calibration_db), title))
    write_text(folder, MEASURE_JSON, json.dumps(meta, indent=1))
    return summary


def _done(out: Path, name: str, key: str) -> pd.DataFrame | None:
    """The summary of a recording measured before with the same key, else None."""
    folder = out / name
    try:
        meta = json.loads((folder / MEASURE_JSON).read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("key") != key:
            return None
        return pd.read_csv(folder / "summary.csv")
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def measure_recordings(
    paths: list[Path],
    method: str,
    model_dir: Path,
    out: Path,
    settings: MeasureSettings,
    calibration: dict[str, float] | float | None = None,
    rate: int | None = None,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Measure every recording of ``paths`` into ``out`` (see the module); returns one
    line per recording that could not be measured (the others go on).

    ``calibration``: an offset in dB for every recording, or one per file name; a
    recording missing from such a mapping is an error of its own. ``rate``: the model's
    sample rate where its folder does not record it.
    """
    estimator, reading, settings = _for_recordings(method, Path(model_dir), settings, rate)
    make_grid(settings, reading.rate)  # refuse impossible settings before any work
    model_hash = model_digest(Path(model_dir))
    out = make_dir(Path(out))
    failures: list[str] = []
    summaries: list[pd.DataFrame] = []
    for path, name in zip(paths, recording_names(paths), strict=True):
        try:
            offset = calibration.get(path.name) if isinstance(calibration, dict) else calibration
            if isinstance(calibration, dict) and offset is None:
                raise SssleError(f"{path}: no calibration offset for {excerpt(path.name)}")
            recording = open_recording(path, reading.rate)
            key_blob = {
                "recording": sha256_file(path),
                "model": model_hash,
                "method": method,
                "settings": asdict(settings),
                "rate": reading.rate,
                "calibration_db": offset,
            }
            key = hashlib.sha256(json.dumps(key_blob, sort_keys=True).encode()).hexdigest()
            summary = _done(out, name, key)
            if summary is None:
                meta = {
                    "recording": str(path),
                    "duration_s": recording.duration_s,
                    "native_rate": recording.native_rate,
                    "channels": recording.channels,
                    "method": method,
                    "model": str(model_dir),
                    "rate": reading.rate,
                    **asdict(settings),
                    "calibration_db": offset,
                    "unit": unit_of(offset),
                    "key": key,
                }
                summary = _measure_one(estimator, recording, name, settings, offset, out, meta)
                echo(f"{path}: {recording.duration_s:.1f} s -> {out / name}")
            else:
                echo(f"{path}: measured before with the same inputs ({out / name})")
            summary.insert(0, "recording", csv_text(str(path)))
            summary.insert(1, "name", name)
            summaries.append(summary)
        except SssleError as exc:
            failures.append(str(exc))
            echo(f"skipped: {exc}")
    if summaries:
        table = pd.concat(summaries, ignore_index=True)
        write_text(out, "summary.csv", table.to_csv(index=False, float_format="%.2f"))
    return failures


def read_calibration(path: Path) -> dict[str, float]:
    """A calibration file: CSV with columns ``recording`` (a file name) and
    ``offset_db`` (dB SPL of 0 dBFS, a finite number)."""
    try:
        table = pd.read_csv(path, dtype={"recording": str})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise SssleError(f"{path}: unreadable calibration file ({excerpt(exc, 100)})") from exc
    if list(table.columns[:2]) != ["recording", "offset_db"]:
        raise SssleError(f"{path}: a calibration file has columns recording, offset_db")
    offsets = pd.to_numeric(table["offset_db"], errors="coerce")
    bad = ~offsets.between(-300, 300)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise SssleError(
            f"{path}: row {row + 2}: offset_db {excerpt(table['offset_db'].iloc[row])} is not "
            "a number of dB between -300 and 300"
        )
    if table["recording"].duplicated().any():
        raise SssleError(f"{path}: a recording is listed twice")
    return dict(zip(table["recording"], offsets.astype(float), strict=True))


def _mono_at(path: Path, rate: int) -> np.ndarray:
    """A whole audio file, mono, at ``rate`` Hz."""
    rec = open_recording(path, rate)
    return rec.read(0, rec.frames)


def load_events(source: Path, rate: int) -> dict[str, list[np.ndarray]]:
    """Isolated events per class at ``rate`` Hz for the injection check, from a generated
    dataset with saved sources (the test split's isolated tracks in ``none``) or a folder
    of labelled clips (``SOURCE/CLASS/*.wav`` or ``*.flac``, ``CLASS`` a safe name; links
    are not followed); at most 50 per class."""
    from ..dataset import GeneratedDataset
    from ..recipe import NO_BACKGROUND

    source = Path(source)
    events: dict[str, list[np.ndarray]] = {}
    if (source / "manifest.json").is_file():
        ds = GeneratedDataset(source)
        events = {c: [] for c in ds.classes}
        if not ds.has_sources:
            raise SssleError(f"{source}: generated without --save-sources: no isolated events")
        for mix in ds.mixtures("test", conditions=(NO_BACKGROUND,)):
            for c, track in ds.sources(mix).items():
                if c in events and len(events[c]) < 50 and np.any(track):
                    events[c].append(resample(to_mono(track), mix.sample_rate, rate))
        return events
    folders = sorted(source.iterdir()) if source.is_dir() else []
    for folder in folders:
        if is_safe_name(folder.name) and folder.is_dir() and not folder.is_symlink():
            files = sorted(
                p
                for p in folder.iterdir()
                if p.suffix.lower() in (".wav", ".flac") and p.is_file() and not p.is_symlink()
            )
            events[folder.name] = [_mono_at(p, rate) for p in files[:50]]
    if not any(events.values()):
        raise SssleError(f"{source}: no events (a dataset with sources, or CLASS/*.wav folders)")
    return events


def audit_recordings(
    paths: list[Path],
    method: str,
    model_dir: Path,
    out: Path,
    settings: MeasureSettings,
    events_from: Path,
    rate: int | None = None,
    echo: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Run every check of :mod:`.audit` on the recordings (each read whole at the model's
    rate); write ``out/audit.csv`` (per recording and check) and ``out/summary.csv``
    (per check, 95% bootstrap interval over recordings); return the summary."""
    from tqdm import tqdm

    from .audit import Clip, audit_clips, audit_summary

    estimator, reading, settings = _for_recordings(method, Path(model_dir), settings, rate)
    events = load_events(events_from, reading.rate)
    clips = []
    for path, name in zip(paths, recording_names(paths), strict=True):
        try:
            clips.append(Clip(name, _mono_at(path, reading.rate)))
        except SssleError as exc:
            echo(f"skipped: {exc}")
    if len(clips) < 2:
        raise SssleError("the audit needs at least two readable recordings (superposition)")
    with tqdm(total=len(clips), desc=f"audit {method}", unit="recording") as bar:
        table = audit_clips(estimator, clips, reading.rate, settings, events, bar.update)
    summary = audit_summary(table)
    out = make_dir(Path(out))
    write_text(out, "audit.csv", table.to_csv(index=False, float_format="%.3f"))
    write_text(out, "summary.csv", summary.to_csv(index=False, float_format="%.3f"))
    for row in summary.itertuples():
        echo(
            f"{row.check:<14} {row.error_db:6.2f} dB [{row.ci_low:.2f}, {row.ci_high:.2f}] "
            f"over {row.recordings} recordings"
        )
    return summary
