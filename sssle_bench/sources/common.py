"""What every source loader shares: the data home, the class table, archive facts."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tomllib
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from importlib.resources import files
from pathlib import Path

import pandas as pd

from ..audio import audio_info
from ..errors import SssleError

#: Environment variable naming the default data home.
DATA_HOME_ENV = "SSSLE_DATA_HOME"


def resolve_data_home(data_home: str | os.PathLike[str] | None) -> Path:
    """The data home: the argument, else ``$SSSLE_DATA_HOME``, else ``~/sssle_data``."""
    if data_home is not None:
        return Path(data_home).expanduser()
    env = os.environ.get(DATA_HOME_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / "sssle_data"


@cache
def class_table() -> pd.DataFrame:
    """UrbanSound8K's ten classes: columns ``class_id`` (int) and ``class`` (str)."""
    text = files("sssle_bench.metadata").joinpath("urbansound8k_classes.csv")
    with text.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


@cache
def source_archive_facts() -> dict:
    """Static facts (archive names, sizes, checksums) of the real source datasets."""
    raw = files("sssle_bench.metadata").joinpath("source_archives.toml").read_bytes()
    return tomllib.loads(raw.decode("utf-8"))


#: Seconds a download waits for its host to accept a connection before saying it cannot.
CONNECT_TIMEOUT_S = 10.0


def check_reachable(urls: Iterable[str], what: str) -> None:
    """Before a download writes anything: every http(s) host of ``urls`` accepts a
    connection (within :data:`CONNECT_TIMEOUT_S`); else one :class:`SssleError` line
    saying which host could not be reached (``file:`` URLs are not checked)."""
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S):
                pass
        except OSError as exc:
            raise SssleError(
                f"{what}: cannot reach {parts.hostname}:{port} "
                f"({getattr(exc, 'strerror', None) or exc or 'timed out'}); check the network "
                "connection (or proxy) and run the command again; nothing was written"
            ) from exc


@contextmanager
def download_into(target: Path) -> Iterator[Path]:
    """The folder a download writes: if the download fails and the folder did not exist
    before it, the folder (with whatever the failed download left in it) is removed, so
    a failed download leaves nothing behind. soundata's own multi-line error log is kept
    quiet: the error that ends the download says what went wrong."""
    existed = target.exists()
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield target
    except BaseException:
        if not existed and target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        logging.disable(previous)


def require_dir(path: Path, what: str, hint: str) -> Path:
    """Return ``path`` if it is a directory, else raise naming it and what to do."""
    if not path.is_dir():
        raise SssleError(f"{what} not found: {path} is missing ({hint})")
    return path


def read_headers(table: pd.DataFrame, skip_bad: bool) -> tuple[pd.DataFrame, list[str]]:
    """Add ``duration_s``, ``sample_rate`` and ``channels`` from each file's header.

    Each row's ``path`` must name an existing, readable, non-empty audio file.
    With ``skip_bad`` such rows are dropped and described in the returned list;
    without it the first one raises :class:`SssleError` naming the file.
    """
    durations, rates, channels, keep, problems = [], [], [], [], []
    for path in table["path"]:
        try:
            if not Path(path).is_file():
                raise SssleError(f"{path}: listed but missing")
            info = audio_info(Path(path))
        except SssleError as exc:
            if not skip_bad:
                raise
            problems.append(str(exc))
            keep.append(False)
            continue
        keep.append(True)
        durations.append(info.frames / info.samplerate)
        rates.append(int(info.samplerate))
        channels.append(int(info.channels))
    out = table.loc[keep].copy()
    out["duration_s"] = durations
    out["sample_rate"] = rates
    out["channels"] = channels
    return out.reset_index(drop=True), problems
