"""UrbanSound8K: loader over the official layout and a soundata-backed download.

Layout (``DATA_HOME/UrbanSound8K/``)::

    metadata/UrbanSound8K.csv     slice_file_name,fsID,start,end,salience,fold,classID,class
    audio/fold1 .. fold10/*.wav   fsID-classID-occurrenceID-sliceID.wav
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import SssleError
from .common import (
    check_reachable,
    download_into,
    read_headers,
    require_dir,
    source_archive_facts,
)

#: Columns of the official metadata CSV, in order.
CSV_COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")

FOLDER = "UrbanSound8K"


def dataset_dir(data_home: Path) -> Path:
    """``DATA_HOME/UrbanSound8K``."""
    return data_home / FOLDER


def metadata_csv(data_home: Path) -> Path:
    """Path of the official metadata CSV inside a data home."""
    return dataset_dir(data_home) / "metadata" / "UrbanSound8K.csv"


def load_clips(
    data_home: Path, *, skip_bad: bool = False, headers: bool = True
) -> tuple[pd.DataFrame, list[str]]:
    """All clips of an UrbanSound8K copy, sorted by fold then file name.

    Parameters
    ----------
    data_home : Path
        Folder holding ``UrbanSound8K/``.
    skip_bad : bool
        Drop (and report) rows whose file is missing, unreadable or empty,
        instead of raising on the first.
    headers : bool
        Read every file's header for ``duration_s`` (seconds), ``sample_rate``
        (Hz) and ``channels``.

    Returns
    -------
    (pd.DataFrame, list[str])
        One row per clip with columns ``clip_id, path, class, class_id, fold,
        salience, fsID, start, end`` (+ header columns), and the problems skipped.
    """
    root = require_dir(
        dataset_dir(data_home),
        "UrbanSound8K",
        "run `sssle-bench download urbansound8k` or pass --data-home",
    )
    csv = metadata_csv(data_home)
    if not csv.is_file():
        raise SssleError(
            f"UrbanSound8K metadata not found: {csv} is missing "
            "(run `sssle-bench download urbansound8k` or pass --data-home)"
        )
    try:
        meta = pd.read_csv(csv)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise SssleError(f"{csv}: not a readable CSV ({exc})") from exc
    missing = [c for c in CSV_COLUMNS if c not in meta.columns]
    if missing:
        raise SssleError(f"{csv}: missing column(s) {', '.join(missing)}")
    table = pd.DataFrame(
        {
            "clip_id": meta["slice_file_name"].str.replace(r"\.wav$", "", regex=True),
            "path": [
                str(root / "audio" / f"fold{fold}" / name)
                for fold, name in zip(meta["fold"], meta["slice_file_name"], strict=True)
            ],
            "class": meta["class"].astype(str),
            "class_id": meta["classID"].astype(int),
            "fold": meta["fold"].astype(int),
            "salience": meta["salience"].astype(int),
            "fsID": meta["fsID"].astype(int),
            "start": meta["start"].astype(float),
            "end": meta["end"].astype(float),
        }
    ).sort_values(["fold", "clip_id"], kind="stable", ignore_index=True)
    if not headers:
        return table, []
    return read_headers(table, skip_bad)


def download(data_home: Path, *, force_overwrite: bool = False, cleanup: bool = False) -> None:
    """Download UrbanSound8K into ``DATA_HOME/UrbanSound8K`` and validate it, with soundata.

    soundata fetches the archive (MD5-checked), unpacks it into the official
    layout and validates every file against its index. Raises
    :class:`SssleError` listing missing files or bad checksums.
    """
    import soundata

    from .._compat import import_soundata_download_utils

    import_soundata_download_utils()
    facts = source_archive_facts()["urbansound8k"]
    target = dataset_dir(data_home)
    dataset = soundata.initialize(facts["soundata_name"], data_home=str(target))
    index = dataset._index_data.remote
    urls = [r.url for r in dataset.remotes.values()] + ([index.url] if index else [])
    check_reachable(urls, "UrbanSound8K download")
    try:
        with download_into(target):
            dataset.download(force_overwrite=force_overwrite, cleanup=cleanup)
    except OSError as exc:
        raise SssleError(f"UrbanSound8K download into {target} failed: {exc}") from exc
    missing, invalid = dataset.validate(verbose=False)
    problems = _flatten(missing, "missing") + _flatten(invalid, "bad checksum")
    if problems:
        shown = "; ".join(problems[:5])
        raise SssleError(
            f"UrbanSound8K in {target} failed validation ({len(problems)} problem(s)): {shown}"
        )


def _flatten(report: dict, what: str) -> list[str]:
    """Turn soundata's nested ``{kind: {clip_id: [paths]}}`` report into messages."""
    out: list[str] = []
    for group in report.values():
        for clip_id, paths in group.items():
            out.append(f"{what}: {clip_id} ({', '.join(map(str, paths))})")
    return out
