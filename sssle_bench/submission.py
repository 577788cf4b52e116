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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .dataset import load_manifest
from .errors import CONTROL, SssleError, excerpt

COLUMNS = ("mixture_id", "condition", "class", "level_db")
KEYS = ["mixture_id", "condition", "class"]
#: Optional columns of the predictions CSV (the time-resolved clip descriptor).
OPTIONAL = ("lafmax_db",)
#: The optional interval predictions file beside ``predictions.csv``.
INTERVALS = "intervals.csv"
INTERVAL_COLUMNS = ("mixture_id", "condition", "class", "interval", "laeq_db")
INTERVAL_KEYS = ["mixture_id", "condition", "class", "interval"]
#: Largest level (dB re full scale) a prediction may state.
MAX_LEVEL_DB = 20.0
SUPERVISION = ("none", "weak", "strong", "oracle")
_NAN_WORDS = {"nan", "na", "n/a", "null", "none"}
_SHOW = 5


@dataclass(frozen=True)
class Validation:
    """Result of validating a submission against the truth keys."""

    problems: tuple[str, ...]
    #: the truth's keys and the value column(s) as floats (-inf = absent), in truth order
    #: (``level_db`` and, when submitted, ``lafmax_db``; or ``laeq_db`` of intervals)
    predictions: pd.DataFrame
    n_missing: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: sha256 of the predictions file's bytes (set by :func:`validate_file`).
    sha256: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


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
    """Read a predictions CSV as strings (no values parsed yet): :func:`parse_predictions`."""
    return parse_predictions(read_file_bytes(path, "predictions file"), path)


def parse_predictions(raw: bytes, path: Path, columns: tuple[str, ...] = COLUMNS) -> pd.DataFrame:
    """The bytes of a predictions CSV as a frame of strings.

    Windows line endings and a UTF-8 BOM are handled; a semicolon- or
    tab-separated file is refused with a message saying what to change.
    """
    text = decode_text(raw, path)
    header = text.split("\n", 1)[0].strip("\r")
    if "," not in header and (";" in header or "\t" in header):
        sep = "semicolon" if ";" in header else "tab"
        raise SssleError(
            f"{path}: line 1 is {sep}-separated ({excerpt(header)}); "
            f"write a comma-separated file with columns {', '.join(columns)}"
        )
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SssleError(f"{path}: not a readable CSV ({exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _lines(rows: np.ndarray) -> str:
    """File line numbers (header = 1) of 0-based data rows, a few shown."""
    shown = ", ".join(str(int(r) + 2) for r in rows[:_SHOW])
    more = f" and {len(rows) - _SHOW} more" if len(rows) > _SHOW else ""
    return f"line{'s' if len(rows) > 1 else ''} {shown}{more}"


def parse_levels(values: pd.Series) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Parse ``level_db`` strings; empty/-inf = absent (-inf). Returns levels and bad rows."""
    text = values.str.strip()
    lower = text.str.lower()
    levels = pd.to_numeric(text.where(text != "", "-inf"), errors="coerce").to_numpy(float)
    nan_word = lower.isin(_NAN_WORDS).to_numpy()
    bad_number = np.isnan(levels) & ~nan_word
    problems = {
        "not a number": np.flatnonzero(bad_number),
        "NaN (write -inf or leave empty for absent)": np.flatnonzero(nan_word),
        "+inf": np.flatnonzero(np.isposinf(levels)),
        f"above +{MAX_LEVEL_DB:g} dB": np.flatnonzero(
            np.isfinite(levels) & (levels > MAX_LEVEL_DB)
        ),
    }
    return levels, problems


def validate(frame: pd.DataFrame, truth_keys: pd.DataFrame, allow_missing: bool) -> Validation:
    """Check a predictions frame (strings) against the truth's (mixture, condition, class)
    keys; ``lafmax_db`` is checked (as ``level_db`` is) when the file has that column."""
    values = ("level_db", *(c for c in OPTIONAL if c in frame.columns))
    return _validate_rows(frame, truth_keys, KEYS, COLUMNS, values, allow_missing)


def validate_intervals(
    frame: pd.DataFrame, truth_keys: pd.DataFrame, allow_missing: bool
) -> Validation:
    """Check an interval predictions frame (strings) against the truth's (mixture,
    condition, class, interval) keys (:func:`load_truth_intervals`)."""
    return _validate_rows(
        frame, truth_keys, INTERVAL_KEYS, INTERVAL_COLUMNS, ("laeq_db",), allow_missing
    )


_LABELS = {"mixture_id": "mixture id", "condition": "condition", "class": "class"}


def _interval_numbers(
    keys: pd.DataFrame, truth_keys: pd.DataFrame, problems: list[str]
) -> pd.DataFrame:
    """``keys`` with ``interval`` as integers; a value that is not a whole number >= 0, or
    lies past its mixture's last interval (compared as a number, before any conversion:
    1e23 is past, not an overflow), is a problem and matches no truth row (-1)."""
    number = pd.to_numeric(keys["interval"], errors="coerce").to_numpy(float)
    bad = ~(np.isfinite(number) & (number == np.floor(number)) & (number >= 0))
    if bad.any():
        problems.append(f"interval not a whole number >= 0 at {_lines(np.flatnonzero(bad))}")
    spans = truth_keys.groupby(["mixture_id", "condition"], observed=True)["interval"].max()
    last = keys[["mixture_id", "condition"]].merge(
        spans.rename("last").reset_index().astype({"mixture_id": str, "condition": str}),
        on=["mixture_id", "condition"],
        how="left",
    )["last"]
    known = last.notna().to_numpy()
    beyond = ~bad & known & (number > last.fillna(-1).to_numpy(float))
    if beyond.any():
        problems.append(
            f"interval past the mixture's last interval at {_lines(np.flatnonzero(beyond))}"
        )
    usable = ~bad & ~beyond & known
    return keys.assign(interval=np.where(usable, number, -1).astype(np.int64))


def _validate_rows(
    frame: pd.DataFrame,
    truth_keys: pd.DataFrame,
    keys: list[str],
    columns: tuple[str, ...],
    values: tuple[str, ...],
    allow_missing: bool,
) -> Validation:
    """Every problem of a table of predictions (strings) keyed like ``truth_keys``: missing
    columns, unknown keys, duplicates, bad numbers, missing rows; the parsed values in
    truth order."""
    missing_cols = [c for c in columns if c not in frame.columns]
    if missing_cols:
        return Validation(
            (
                f"missing column(s): {', '.join(missing_cols)} "
                f"(found: {excerpt(', '.join(frame.columns))})",
            ),
            pd.DataFrame(columns=[*keys, *values]),
        )
    problems: list[str] = []
    key_frame = frame[keys].apply(lambda s: s.str.strip())
    for col, label in _LABELS.items():
        known = pd.Index(truth_keys[col].unique())
        unknown = ~key_frame[col].isin(known).to_numpy()
        if unknown.any():
            names = pd.unique(key_frame[col][unknown])[:_SHOW]
            where = _lines(np.flatnonzero(unknown))
            problems.append(f"unknown {label}(s) {', '.join(map(excerpt, names))} at {where}")
    if "interval" in keys:
        key_frame = _interval_numbers(key_frame, truth_keys, problems)
    what = "(" + ", ".join(k.replace("mixture_id", "mixture") for k in keys) + ")"
    dup = key_frame.duplicated(keep="first").to_numpy()
    if dup.any():
        problems.append(f"duplicate {what} at {_lines(np.flatnonzero(dup))}")
    parsed = {}
    for column in values:
        parsed[column], bad = parse_levels(frame[column])
        for why, rows in bad.items():
            if rows.size:
                problems.append(f"{column} {why} at {_lines(rows)}")
    preds = key_frame.assign(**parsed)[~dup]
    merged = truth_keys[keys].merge(preds, on=keys, how="left", indicator=True)
    absent = (merged.pop("_merge") == "left_only").to_numpy()
    n_missing = int(absent.sum())
    notes = []
    if n_missing:
        first = merged.loc[absent, keys].head(3).astype(str).agg(" ".join, axis=1).map(excerpt)
        noun = "pair(s)" if keys == KEYS else "row(s)"
        msg = f"{n_missing} {what} {noun} missing, e.g. {'; '.join(first)}"
        if allow_missing:
            notes.append(msg + " (scored as absent)")
        else:
            problems.append(msg + " (pass --allow-missing to score them as absent)")
    for column in values:
        merged[column] = merged[column].fillna(-np.inf)
    return Validation(tuple(problems), merged, n_missing, tuple(notes))


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


def validate_file(
    path: Path, dataset: Path, split: str, allow_missing: bool = False
) -> tuple[Validation, pd.DataFrame]:
    """Read and validate a predictions CSV against a dataset split; returns (result, truth).

    The result's ``sha256`` is that of the bytes read, the ones validated.
    """
    truth = load_truth(dataset, split)
    raw = read_file_bytes(path, "predictions file")
    result = validate(parse_predictions(raw, path), truth, allow_missing)
    return replace(result, sha256=hashlib.sha256(raw).hexdigest()), truth


def validate_intervals_file(
    path: Path, dataset: Path, split: str, allow_missing: bool = False
) -> tuple[Validation, pd.DataFrame]:
    """Read and validate an interval predictions CSV; returns (result, interval truth)."""
    truth = load_truth_intervals(dataset, split)
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
