"""Prediction CSVs: reading (encodings, separators, line endings) and validation.

A submission is ``mixture_id, condition, class, level_db``: one row per
(mixture, condition, class of the vocabulary) of the scored split.
``level_db`` is the predicted level in dB re full scale; ``-inf`` or an empty
cell means "absent". An optional ``lafmax_db`` column predicts each pair's
maximum A-weighted Fast level (dB re full scale). An optional second file,
``intervals.csv`` (``mixture_id, condition, class, interval, laeq_db``), predicts
each class's LAeq per ground-truth interval. Validation reports every problem at
once, each naming file line numbers (the header is line 1).
"""

from __future__ import annotations

import hashlib
import io
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .dataset import load_manifest
from .errors import CONTROL, SssleError, excerpt
from .validation import (
    COLUMNS,
    INTERVAL_COLUMNS,
    VALUE_COLUMNS,
    Validation,
    validate,
    validate_intervals,
)

#: The optional interval predictions file beside ``predictions.csv``.
INTERVALS = "intervals.csv"
SUPERVISION = ("none", "weak", "strong", "oracle")


def read_file_bytes(path: Path, what: str = "file") -> bytes:
    """A file's bytes; one clear error if it is missing, a folder or unreadable."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise SssleError(f"{path}: {what} not found") from exc
    except OSError as exc:
        raise SssleError(f"{path}: unreadable {what} ({exc.strerror or exc})") from exc


def decode_text(raw: bytes, path: Path) -> str:
    """File text: UTF-8 (a BOM is dropped) or UTF-16 with BOM; else a clear error."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SssleError(f"{path}: broken UTF-16 text ({exc.reason})") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SssleError(
            f"{path}: not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); "
            "save the CSV as UTF-8"
        ) from exc


def read_predictions(path: Path) -> pd.DataFrame:
    """Read a predictions CSV (no value checked yet): :func:`parse_predictions`."""
    return parse_predictions(read_file_bytes(path, "predictions file"), path)


def parse_predictions(
    raw: bytes, path: Path, columns: tuple[str, ...] = COLUMNS, typed: bool = True
) -> pd.DataFrame:
    """The bytes of a predictions CSV as a frame, for :mod:`sssle_bench.validation`.

    Windows line endings and a UTF-8 BOM are handled; a semicolon- or
    tab-separated file is refused with a message saying what to change. Key
    columns come as categorical strings as written, level columns as floats (NaN:
    an empty cell); if any level cell is not a number the CSV parser reads (a word,
    ``NaN``, spaces) the whole file comes as strings instead, whose checks name each
    bad line. ``typed=False`` always reads strings (the reference read: validation
    gives the same result from either).
    """
    # pandas parses UTF-8 bytes (strictly: bad bytes fail the fast read) faster than a str
    boms = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
    data = decode_text(raw, path).encode("utf-8") if raw.startswith(boms) else raw
    end = data.find(b"\n")
    header = decode_text(data[: end if end >= 0 else len(data)], path).strip("\r")
    if "," not in header and (";" in header or "\t" in header):
        sep = "semicolon" if ";" in header else "tab"
        raise SssleError(
            f"{path}: line 1 is {sep}-separated ({excerpt(header)}); "
            f"write a comma-separated file with columns {', '.join(columns)}"
        )
    frame = _read_typed(data, columns) if typed else None
    if frame is not None:
        return frame
    decode_text(data, path)  # one clear error if the file is not UTF-8
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SssleError(f"{path}: not a readable CSV ({exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_typed(data: bytes, columns: tuple[str, ...]) -> pd.DataFrame | None:
    """The CSV with key columns categorical and level columns float; None where only the
    string read can say what is wrong (a column name with spaces around it or missing,
    a level cell that is no number, a file the parser refuses)."""
    try:
        names = [str(c) for c in pd.read_csv(io.BytesIO(data), nrows=0).columns]
    except ValueError:
        return None
    if any(n != n.strip() for n in names) or not set(columns) <= set(names):
        return None
    values = [c for c in VALUE_COLUMNS if c in names]
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype={**dict.fromkeys(columns, "category"), **dict.fromkeys(values, "float64")},
            keep_default_na=False,
            na_values={c: [""] for c in values},
        )
    except ValueError:  # a level cell that is no number, a ragged row, ...
        return None
    # a first row longer than the header makes pandas take column 1 as the index and
    # shift the names; the string read reports what that does to the keys
    if not isinstance(frame.index, pd.RangeIndex):
        return None
    # pandas turns categories that all look like numbers into numbers ("007" -> 7): a
    # name column must keep its text (an interval is compared as a number anyway)
    names_kept = all(
        pd.api.types.is_string_dtype(frame[c].cat.categories)
        for c in columns
        if c not in values and c != "interval"
    )
    return frame if names_kept else None


def truth_file(split: str) -> str:
    """A split's ground-truth CSV, relative to the dataset folder."""
    return f"ground_truth/{split}.csv"


def intervals_truth_file(split: str) -> str:
    """A split's interval ground truth (LAeq per interval), relative to the dataset folder."""
    return f"ground_truth/{split}_intervals.csv"


_CATEGORIES = {"mixture_id": "category", "condition": "category", "class": "category"}


def _checked_csv(dataset: Path, split: str, relative: str) -> pd.DataFrame:
    """A ground-truth CSV of the dataset, read only if it carries the sha256 its
    ``manifest.json`` lists (a truncated or edited ground truth is never scored against)."""
    manifest = load_manifest(dataset)
    if split not in manifest["splits"]:
        raise SssleError(f"{dataset} has no split {split!r} (has {', '.join(manifest['splits'])})")
    path = Path(dataset) / relative
    if relative not in manifest["files"]:
        raise SssleError(
            f"{dataset} has no {relative} (generated before it existed?); "
            "generate the dataset again to score time-resolved predictions"
        )
    raw = read_file_bytes(path, "ground truth")
    if hashlib.sha256(raw).hexdigest() != manifest["files"][relative]:
        raise SssleError(
            f"{path}: differs from the sha256 in {Path(dataset) / 'manifest.json'} "
            "(edited or truncated?); run `sssle-bench verify` on the dataset"
        )
    return pd.read_csv(io.BytesIO(raw), dtype=_CATEGORIES)


def load_truth(dataset: Path, split: str) -> pd.DataFrame:
    """A generated dataset's ground truth for one split, in file order (sha256-checked)."""
    return _checked_csv(dataset, split, truth_file(split))


def load_truth_intervals(dataset: Path, split: str) -> pd.DataFrame:
    """The split's interval ground truth of the vocabulary's classes (the ``background``
    and ``mixture`` rows dropped), in file order, sha256-checked, with ``present`` = the
    class sounds in the interval (``laeq_db`` not empty)."""
    frame = _checked_csv(dataset, split, intervals_truth_file(split))
    keep = ~frame["class"].isin(["background", "mixture"]).to_numpy()
    frame = frame[keep].reset_index(drop=True)
    frame["class"] = frame["class"].cat.remove_unused_categories()
    return frame.assign(present=frame["laeq_db"].notna().astype(np.int8))


def only_conditions(truth: pd.DataFrame, conditions: tuple[str, ...] | None) -> pd.DataFrame:
    """The truth rows of ``conditions`` (all of them for None), in file order; a condition
    the split does not have is an error."""
    if conditions is None:
        return truth
    unknown = sorted(set(conditions) - set(truth["condition"].astype(str)))
    if unknown:
        raise SssleError(
            f"no condition {excerpt(unknown[0])} in the ground truth "
            f"(it has {', '.join(map(str, truth['condition'].cat.categories))})"
        )
    kept = truth[truth["condition"].isin(conditions).to_numpy()].reset_index(drop=True)
    kept["condition"] = kept["condition"].cat.remove_unused_categories()
    return kept


def validate_file(
    path: Path,
    dataset: Path,
    split: str,
    allow_missing: bool = False,
    conditions: tuple[str, ...] | None = None,
) -> tuple[Validation, pd.DataFrame]:
    """Read and validate a predictions CSV against a dataset split; returns (result, truth).

    ``conditions``: judge only these conditions (a model trained for some of them); the
    file must then hold exactly their rows. The result's ``sha256`` is that of the bytes
    read, the ones validated.
    """
    truth = only_conditions(load_truth(dataset, split), conditions)
    raw = read_file_bytes(path, "predictions file")
    result = validate(parse_predictions(raw, path), truth, allow_missing)
    return replace(result, sha256=hashlib.sha256(raw).hexdigest()), truth


def validate_intervals_file(
    path: Path,
    dataset: Path,
    split: str,
    allow_missing: bool = False,
    conditions: tuple[str, ...] | None = None,
) -> tuple[Validation, pd.DataFrame]:
    """Read and validate an interval predictions CSV; returns (result, interval truth).
    ``conditions`` as :func:`validate_file`."""
    truth = only_conditions(load_truth_intervals(dataset, split), conditions)
    raw = read_file_bytes(path, "interval predictions file")
    result = validate_intervals(
        parse_predictions(raw, path, INTERVAL_COLUMNS), truth, allow_missing
    )
    return replace(result, sha256=hashlib.sha256(raw).hexdigest()), truth


def submission_file(folder: Path, name: str, what: str) -> Path | None:
    """``folder / name`` if it is a regular file there, None if there is nothing by that name.

    A symbolic link (wherever it points), or anything that is not a regular file, is
    refused: a submission folder comes from a stranger, and a link to ``/etc/shadow``
    must not be read, let alone quoted in an error.
    """
    path = Path(folder) / name
    if path.is_symlink():
        raise SssleError(f"{path}: {what} is a symbolic link; submit the file itself")
    if not path.exists():
        return None
    if not path.is_file():
        raise SssleError(f"{path}: {what} is not a regular file")
    return path


def intervals_beside(predictions: Path) -> Path | None:
    """The ``intervals.csv`` in the predictions file's folder, if there is one (never a
    link: :func:`submission_file`)."""
    return submission_file(Path(predictions).parent, INTERVALS, "interval predictions file")


#: Longest ``method`` / ``short_name`` (characters); they become file names and table cells.
MAX_NAME_CHARS = {"method": 80, "short_name": 40}
#: Longest value of any other ``meta.toml`` text field (characters).
MAX_FIELD_CHARS = 2000
_TEXT_FIELDS = ("method", "short_name", "authors", "url", "supervision", "description")


def check_text(path: Path, key: str, value: str) -> None:
    """A meta text field ``key`` of the file ``path``: no control characters (a line break
    only in ``description``), not longer than its limit, a name not empty."""
    limit = MAX_NAME_CHARS.get(key, MAX_FIELD_CHARS)
    if len(value) > limit:
        raise SssleError(f"{path}: {key} has {len(value)} characters, more than {limit}")
    # a description may hold line breaks and tabs, nothing else may
    bad = CONTROL.search(re.sub("[\n\t]", "", value) if key == "description" else value)
    if bad:
        raise SssleError(
            f"{path}: {key} holds the control character {excerpt(bad.group())} "
            f"(in {excerpt(value)}); write plain text"
        )
    if key in MAX_NAME_CHARS and not value.strip():
        raise SssleError(f"{path}: {key} is empty")


def read_meta(path: Path) -> dict[str, Any]:
    """``meta.toml`` beside a submission (method, short_name, authors, url, supervision...).

    Empty without one; one clear error if it is a link, unreadable, not TOML, or a field
    has the wrong type, holds control characters or is too long
    (:data:`MAX_NAME_CHARS`, :data:`MAX_FIELD_CHARS`).
    """
    path = Path(path)
    if submission_file(path.parent, path.name, "meta.toml") is None:
        return {}
    try:
        meta = tomllib.loads(decode_text(read_file_bytes(path, "meta.toml"), path))
    except tomllib.TOMLDecodeError as exc:
        raise SssleError(f"{path}: not valid TOML ({exc})") from exc
    for key in _TEXT_FIELDS:
        if key in meta and not isinstance(meta[key], str):
            raise SssleError(f"{path}: {key} must be a string, got {excerpt(meta[key])}")
        if key in meta:
            check_text(path, key, meta[key])
    if "parameters" in meta and not isinstance(meta["parameters"], dict):
        raise SssleError(f"{path}: [parameters] must be a table, got {excerpt(meta['parameters'])}")
    sup = meta.get("supervision")
    if sup is not None and sup not in SUPERVISION:
        raise SssleError(
            f"{path}: supervision {excerpt(sup)} is not one of {', '.join(SUPERVISION)}"
        )
    return meta
