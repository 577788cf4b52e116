"""Prediction CSVs: reading (encodings, separators, line endings) and validation.

A submission is ``mixture_id, condition, class, level_db``: one row per
(mixture, condition, class of the vocabulary) of the scored split.
``level_db`` is the predicted level in dB re full scale; ``-inf`` or an empty
cell means "absent". Validation reports every problem at once, each naming
file line numbers (the header is line 1).
"""

from __future__ import annotations

import io
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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

    @property
    def ok(self) -> bool:
        return not self.problems


def decode_text(path: Path) -> str:
    """File text: UTF-8 (a BOM is dropped) or UTF-16 with BOM; else a clear error."""
    raw = Path(path).read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SssleError(
            f"{path}: not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); "
            "save the CSV as UTF-8"
        ) from exc


def read_predictions(path: Path) -> pd.DataFrame:
    """Read a predictions CSV as strings (no parsing of values yet).

    Windows line endings and a UTF-8 BOM are handled; a semicolon- or
    tab-separated file is refused with a message saying what to change.
    """
    text = decode_text(path)
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
    frame.columns = [c.strip() for c in frame.columns]
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


def load_truth(dataset: Path, split: str) -> pd.DataFrame:
    """A generated dataset's ground truth for one split, in file order."""
    path = Path(dataset) / "ground_truth" / f"{split}.csv"
    if not path.is_file():
        raise SssleError(
            f"{path} not found: --truth must be a generated dataset with split {split!r}"
        )
    return pd.read_csv(
        path, dtype={"mixture_id": "category", "condition": "category", "class": "category"}
    )


def validate_file(
    path: Path, dataset: Path, split: str, allow_missing: bool = False
) -> tuple[Validation, pd.DataFrame]:
    """Read and validate a predictions CSV against a dataset split; returns (result, truth)."""
    truth = load_truth(dataset, split)
    return validate(read_predictions(path), truth, allow_missing), truth


def read_meta(path: Path) -> dict[str, Any]:
    """``meta.toml`` beside a submission (method, short_name, authors, url, supervision...)."""
    if not Path(path).is_file():
        return {}
    try:
        meta = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SssleError(f"{path}: not valid TOML ({exc})") from exc
    sup = meta.get("supervision")
    if sup is not None and sup not in SUPERVISION:
        raise SssleError(f"{path}: supervision {sup!r} is not one of {', '.join(SUPERVISION)}")
    return meta
