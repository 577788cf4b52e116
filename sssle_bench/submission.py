"""Prediction CSVs: reading (encodings, separators, line endings) and validation.

A submission is ``mixture_id, condition, class, level_db``: one row per
(mixture, condition, class of the vocabulary) of the scored split.
``level_db`` is the predicted level in dB re full scale; ``-inf`` or an empty
cell means "absent". Validation reports every problem at once, each naming
file line numbers (the header is line 1).
"""

from __future__ import annotations

import hashlib
import io
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .dataset import load_manifest
from .errors import SssleError

COLUMNS = ("mixture_id", "condition", "class", "level_db")
KEYS = ["mixture_id", "condition", "class"]
#: Largest level (dB re full scale) a prediction may state.
MAX_LEVEL_DB = 20.0
SUPERVISION = ("none", "weak", "strong", "oracle")
_NAN_WORDS = {"nan", "na", "n/a", "null", "none"}
_SHOW = 5


@dataclass(frozen=True)
class Validation:
    """Result of validating a submission against the truth keys."""

    problems: tuple[str, ...]
    predictions: pd.DataFrame  # KEYS + level_db (float, -inf = absent), in truth order
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


def parse_predictions(raw: bytes, path: Path) -> pd.DataFrame:
    """The bytes of a predictions CSV as a frame of strings.

    Windows line endings and a UTF-8 BOM are handled; a semicolon- or
    tab-separated file is refused with a message saying what to change.
    """
    text = decode_text(raw, path)
    header = text.split("\n", 1)[0].strip("\r")
    if "," not in header and (";" in header or "\t" in header):
        sep = "semicolon" if ";" in header else "tab"
        raise SssleError(
            f"{path}: line 1 is {sep}-separated ({header!r}); "
            f"write a comma-separated file with columns {', '.join(COLUMNS)}"
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
    """Check a predictions frame (strings) against the truth's (mixture, condition, class) keys."""
    missing_cols = [c for c in COLUMNS if c not in frame.columns]
    if missing_cols:
        return Validation(
            (f"missing column(s): {', '.join(missing_cols)} (found: {', '.join(frame.columns)})",),
            pd.DataFrame(columns=[*KEYS, "level_db"]),
        )
    problems: list[str] = []
    keys = frame[KEYS].apply(lambda s: s.str.strip())
    for col, label in [
        ("mixture_id", "mixture id"),
        ("condition", "condition"),
        ("class", "class"),
    ]:
        known = pd.Index(truth_keys[col].unique())
        unknown = ~keys[col].isin(known).to_numpy()
        if unknown.any():
            names = pd.unique(keys[col][unknown])[:_SHOW]
            where = _lines(np.flatnonzero(unknown))
            problems.append(f"unknown {label}(s) {', '.join(map(repr, names))} at {where}")
    dup = keys.duplicated(keep="first").to_numpy()
    if dup.any():
        problems.append(f"duplicate (mixture, condition, class) at {_lines(np.flatnonzero(dup))}")
    levels, bad = parse_levels(frame["level_db"])
    for what, rows in bad.items():
        if rows.size:
            problems.append(f"level_db {what} at {_lines(rows)}")
    preds = keys.assign(level_db=levels)[~dup]
    merged = truth_keys[KEYS].merge(preds, on=KEYS, how="left", indicator=True)
    absent = (merged.pop("_merge") == "left_only").to_numpy()
    n_missing = int(absent.sum())
    notes = []
    if n_missing:
        first = merged.loc[absent, KEYS].head(3).astype(str).agg(" ".join, axis=1)
        msg = f"{n_missing} (mixture, condition, class) pair(s) missing, e.g. {'; '.join(first)}"
        if allow_missing:
            notes.append(msg + " (scored as absent)")
        else:
            problems.append(msg + " (pass --allow-missing to score them as absent)")
    merged["level_db"] = merged["level_db"].fillna(-np.inf)
    return Validation(tuple(problems), merged, n_missing, tuple(notes))


def truth_file(split: str) -> str:
    """A split's ground-truth CSV, relative to the dataset folder."""
    return f"ground_truth/{split}.csv"


def load_truth(dataset: Path, split: str) -> pd.DataFrame:
    """A generated dataset's ground truth for one split, in file order.

    The CSV must carry the sha256 its ``manifest.json`` lists, so a truncated or
    edited ground truth is never scored against.
    """
    manifest = load_manifest(dataset)
    if split not in manifest["splits"]:
        raise SssleError(f"{dataset} has no split {split!r} (has {', '.join(manifest['splits'])})")
    path = Path(dataset) / truth_file(split)
    raw = read_file_bytes(path, "ground truth")
    if hashlib.sha256(raw).hexdigest() != manifest["files"].get(truth_file(split)):
        raise SssleError(
            f"{path}: differs from the sha256 in {Path(dataset) / 'manifest.json'} "
            "(edited or truncated?); run `sssle-bench verify` on the dataset"
        )
    return pd.read_csv(
        io.BytesIO(raw),
        dtype={"mixture_id": "category", "condition": "category", "class": "category"},
    )


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


def read_meta(path: Path) -> dict[str, Any]:
    """``meta.toml`` beside a submission (method, short_name, authors, url, supervision...).

    Empty without one; one clear error if it is unreadable, not TOML, or a field
    has the wrong type.
    """
    if not Path(path).exists():
        return {}
    try:
        meta = tomllib.loads(decode_text(read_file_bytes(path, "meta.toml"), path))
    except tomllib.TOMLDecodeError as exc:
        raise SssleError(f"{path}: not valid TOML ({exc})") from exc
    for key in ("method", "short_name", "authors", "url", "supervision", "description"):
        if key in meta and not isinstance(meta[key], str):
            raise SssleError(f"{path}: {key} must be a string, got {meta[key]!r}")
    if "parameters" in meta and not isinstance(meta["parameters"], dict):
        raise SssleError(f"{path}: [parameters] must be a table, got {meta['parameters']!r}")
    sup = meta.get("supervision")
    if sup is not None and sup not in SUPERVISION:
        raise SssleError(f"{path}: supervision {sup!r} is not one of {', '.join(SUPERVISION)}")
    return meta
