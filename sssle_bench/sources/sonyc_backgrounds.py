"""SONYC-Backgrounds (Zenodo 5129078): loader and soundata-utility download.

Layout (``DATA_HOME/SONYC-Backgrounds/``)::

    {train,valid,test}/{SS}_{YYYY-MM-DD}_{HH}_{II}.wav

sensor index, recording date, hour, instance; 550 mono 48 kHz 16-bit 10 s
clips (330/110/110), no sensor in two splits.
"""

from __future__ import annotations

import re
import shutil
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

FOLDER = "SONYC-Backgrounds"
SPLITS = ("train", "valid", "test")
FILENAME_RE = re.compile(
    r"^(?P<sensor>\d+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<hour>\d{2})_(?P<instance>\d+)\.wav$"
)


def dataset_dir(data_home: Path) -> Path:
    """``DATA_HOME/SONYC-Backgrounds``."""
    return data_home / FOLDER


def load_backgrounds(
    data_home: Path, *, skip_bad: bool = False, headers: bool = True
) -> tuple[pd.DataFrame, list[str]]:
    """All background clips, sorted by split then file name.

    Returns
    -------
    (pd.DataFrame, list[str])
        Columns ``file`` (``split/name.wav``, relative to the dataset folder),
        ``path``, ``split``, ``sensor``, ``date``, ``hour``, ``instance`` (+
        ``duration_s`` seconds, ``sample_rate`` Hz, ``channels`` with
        ``headers``), and the problems skipped under ``skip_bad``. A file whose
        name breaks the pattern is a problem like an unreadable one.
    """
    root = require_dir(
        dataset_dir(data_home),
        "SONYC-Backgrounds",
        "run `sssle-bench download sonyc-backgrounds` or pass --data-home",
    )
    rows, problems = [], []
    for split in SPLITS:
        folder = require_dir(
            root / split,
            f"SONYC-Backgrounds split '{split}'",
            "an incomplete copy: run `sssle-bench download sonyc-backgrounds --force-overwrite`",
        )
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.is_dir():
                continue
            match = FILENAME_RE.match(path.name)
            if match is None:
                msg = f"{path}: name does not match SS_YYYY-MM-DD_HH_II.wav"
                if not skip_bad:
                    raise SssleError(msg)
                problems.append(msg)
                continue
            rows.append(
                {
                    "file": f"{split}/{path.name}",
                    "path": str(path),
                    "split": split,
                    "sensor": int(match["sensor"]),
                    "date": match["date"],
                    "hour": int(match["hour"]),
                    "instance": int(match["instance"]),
                }
            )
    table = pd.DataFrame(
        rows, columns=["file", "path", "split", "sensor", "date", "hour", "instance"]
    )
    if not headers:
        return table, problems
    table, bad = read_headers(table, skip_bad)
    return table, problems + bad


def check_release(table: pd.DataFrame) -> list[str]:
    """Compare a loaded copy with the published release; return the differences."""
    facts = source_archive_facts()["sonyc_backgrounds"]
    problems = []
    for split, expected in facts["splits"].items():
        got = int((table["split"] == split).sum())
        if got != expected:
            problems.append(f"split {split}: {got} clips, release has {expected}")
    shared = table.groupby("sensor")["split"].nunique()
    for sensor in shared[shared > 1].index:
        problems.append(f"sensor {sensor} appears in more than one split")
    return problems


def remote_metadata():
    """soundata ``RemoteFileMetadata`` of the release archive (URL, MD5 from ``metadata/``)."""
    from soundata.download_utils import RemoteFileMetadata

    facts = source_archive_facts()["sonyc_backgrounds"]
    return RemoteFileMetadata(filename=facts["archive"], url=facts["url"], checksum=facts["md5"])


def download(data_home: Path, *, force_overwrite: bool = False, cleanup: bool = False) -> list[str]:
    """Download and unpack SONYC-Backgrounds into ``DATA_HOME/SONYC-Backgrounds``.

    Uses soundata's download utilities (MD5-checked fetch, untar). An archive
    that unpacks into a nested ``SONYC-Backgrounds/`` folder is flattened.
    Returns the differences from the published release (empty when complete).
    """
    from .._compat import import_soundata_download_utils

    download_utils = import_soundata_download_utils()
    target = dataset_dir(data_home)
    remote = remote_metadata()
    check_reachable([remote.url], "SONYC-Backgrounds download")
    try:
        with download_into(target):
            target.mkdir(parents=True, exist_ok=True)
            download_utils.download_tar_file(remote, str(target), force_overwrite, cleanup)
    except OSError as exc:
        raise SssleError(f"SONYC-Backgrounds download into {target} failed: {exc}") from exc
    nested = target / FOLDER
    if nested.is_dir():
        for child in sorted(nested.iterdir()):
            dest = target / child.name
            if dest.exists():
                shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
            shutil.move(str(child), str(dest))
        nested.rmdir()
    table, problems = load_backgrounds(data_home, skip_bad=True)
    return problems + check_release(table)
