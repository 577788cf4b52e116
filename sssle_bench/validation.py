"""Checking a table of predictions against the truth's keys: every problem at once.

The format: ``mixture_id, condition, class, level_db`` (one row per pair of the
scored split; ``level_db`` in dB re full scale, ``-inf`` or an empty cell for
"absent"; optional ``lafmax_db``), and for interval predictions
``mixture_id, condition, class, interval, laeq_db``. Problems name file line
numbers (the header is line 1).

The checks run as whole-column passes: a key column is compared through its
distinct values (a categorical column's categories, stripped once), rows through
integer codes, and the predictions are matched to the truth by array indexing;
nothing is done per row in Python. A value column arrives either parsed (floats,
NaN = empty cell: :func:`sssle_bench.submission.parse_predictions`'s fast read)
or as strings (its reference read), and both give the same result (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import SssleError, excerpt

COLUMNS = ("mixture_id", "condition", "class", "level_db")
KEYS = ["mixture_id", "condition", "class"]
#: Optional columns of the predictions CSV (the time-resolved clip descriptor).
OPTIONAL = ("lafmax_db",)
INTERVAL_COLUMNS = ("mixture_id", "condition", "class", "interval", "laeq_db")
INTERVAL_KEYS = ["mixture_id", "condition", "class", "interval"]
#: Every column that holds a level (dB re full scale), parsed as a number.
VALUE_COLUMNS = ("level_db", *OPTIONAL, "laeq_db")
#: Largest level (dB re full scale) a prediction may state.
MAX_LEVEL_DB = 20.0
_NAN_WORDS = {"nan", "na", "n/a", "null", "none"}
_SHOW = 5
_LABELS = {"mixture_id": "mixture id", "condition": "condition", "class": "class"}
#: A dense lookup table of the truth's keys is used up to this many slots per truth row.
_DENSE_SLOTS = 8


@dataclass(frozen=True)
class Validation:
    """Result of validating a submission against the truth keys."""

    problems: tuple[str, ...]
    #: the truth's keys and the value column(s) as floats (-inf = absent), in truth order
    #: (``level_db`` and, when submitted, ``lafmax_db``; or ``laeq_db`` of intervals)
    predictions: pd.DataFrame
    n_missing: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: sha256 of the predictions file's bytes (set by the file-level validators).
    sha256: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def _lines(rows: np.ndarray) -> str:
    """File line numbers (header = 1) of 0-based data rows, a few shown."""
    shown = ", ".join(str(int(r) + 2) for r in rows[:_SHOW])
    more = f" and {len(rows) - _SHOW} more" if len(rows) > _SHOW else ""
    return f"line{'s' if len(rows) > 1 else ''} {shown}{more}"


def _level_problems(levels: np.ndarray, bad_number: np.ndarray, nan_word: np.ndarray):
    """The problems of parsed levels (dB re full scale), as rows per reason."""
    return {
        "not a number": np.flatnonzero(bad_number),
        "NaN (write -inf or leave empty for absent)": np.flatnonzero(nan_word),
        "+inf": np.flatnonzero(np.isposinf(levels)),
        f"above +{MAX_LEVEL_DB:g} dB": np.flatnonzero(
            np.isfinite(levels) & (levels > MAX_LEVEL_DB)
        ),
    }


def parse_levels(values: pd.Series) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Levels (dB re full scale) of a level column: strings (empty/-inf = absent, -inf)
    or floats already parsed (NaN = an empty cell = absent). Returns levels and bad rows."""
    if pd.api.types.is_float_dtype(values.dtype):
        levels = values.to_numpy(float, copy=True)
        levels[np.isnan(levels)] = -np.inf
        none = np.zeros(len(levels), bool)
        return levels, _level_problems(levels, none, none)
    text = values.str.strip()
    levels = pd.to_numeric(text.where(text != "", "-inf"), errors="coerce").to_numpy(float)
    nan_word = text.str.lower().isin(_NAN_WORDS).to_numpy()
    return levels, _level_problems(levels, np.isnan(levels) & ~nan_word, nan_word)


def validate(frame: pd.DataFrame, truth_keys: pd.DataFrame, allow_missing: bool) -> Validation:
    """Check a predictions frame against the truth's (mixture, condition, class) keys;
    ``lafmax_db`` is checked (as ``level_db`` is) when the frame has that column."""
    values = ("level_db", *(c for c in OPTIONAL if c in frame.columns))
    return _validate_rows(frame, truth_keys, KEYS, COLUMNS, values, allow_missing)


def validate_intervals(
    frame: pd.DataFrame, truth_keys: pd.DataFrame, allow_missing: bool
) -> Validation:
    """Check an interval predictions frame against the truth's (mixture, condition, class,
    interval) keys (:func:`sssle_bench.submission.load_truth_intervals`)."""
    return _validate_rows(
        frame, truth_keys, INTERVAL_KEYS, INTERVAL_COLUMNS, ("laeq_db",), allow_missing
    )


def _distinct(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """A submitted key column (strings, or categorical strings) as codes: per row, the
    index of its stripped value among the column's distinct stripped values."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("category")
    stripped = pd.Index(values.cat.categories.astype(str)).str.strip()
    canonical, distinct = pd.factorize(stripped)
    return canonical.astype(np.int64)[values.cat.codes.to_numpy()], pd.Index(distinct)


def _truth_codes(truth: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """A truth key column's row codes and the values they index."""
    if not isinstance(truth.dtype, pd.CategoricalDtype):
        truth = truth.astype("category")
    return truth.cat.codes.to_numpy(np.int64), truth.cat.categories


def _radix(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """One int64 per row for a tuple of codes ``0 <= code < size`` (mixed radix)."""
    key = codes[0].astype(np.int64)  # a copy: updated in place below
    for column, n in zip(codes[1:], sizes[1:], strict=True):
        key *= n
        key += column
    return key


def _duplicates(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """Rows whose tuple of codes an earlier row has (codes ``0 <= code < size``)."""
    key, size = codes[0], sizes[0]
    for column, n in zip(codes[1:], sizes[1:], strict=True):
        if size * n >= 2**62:  # re-code densely before the product could overflow
            key, uniques = pd.factorize(key)
            size = len(uniques)
        key, size = key * n + column, size * n
    if size > _DENSE_SLOTS * len(key) + 1024:
        return pd.Series(key).duplicated(keep="first").to_numpy()
    # count each key; only rows of a key seen more than once need the ordered check
    shared = np.bincount(key, minlength=size)[key] > 1
    duplicate = np.zeros(len(key), bool)
    if shared.any():
        duplicate[shared] = pd.Series(key[shared]).duplicated(keep="first").to_numpy()
    return duplicate


def _match(truth_key: np.ndarray, key: np.ndarray, size: int) -> np.ndarray:
    """For each truth key, the index of the submitted row with that key (-1: none);
    submitted keys are distinct, all keys ``< size``."""
    if size <= _DENSE_SLOTS * (len(truth_key) + len(key)) + 1024:
        slots = np.full(size, -1, np.int64)
        slots[key] = np.arange(len(key))
        return slots[truth_key]
    return pd.Index(key).get_indexer(truth_key)


@dataclass(frozen=True)
class _Keys:
    """The keys of the truth and of the submission as integers of one space."""

    truth: np.ndarray  # per truth row
    rows: np.ndarray  # per submitted row; -1 for a key the truth does not have
    size: int  # every key is < size
    duplicate: np.ndarray  # per submitted row: an earlier row has the same stripped key


def _intervals(
    values: pd.Series, pair: np.ndarray, last: np.ndarray, problems: list[str]
) -> np.ndarray:
    """Row intervals as integers; a value that is not a whole number >= 0, or lies past
    its mixture's last interval (compared as a number, before any conversion: 1e23 is
    past, not an overflow), is a problem and matches no truth row (-1). ``pair`` is each
    row's (mixture, condition) slot in ``last`` (-1: not in the truth)."""
    rows, distinct = _distinct(values)
    number = pd.to_numeric(distinct, errors="coerce").to_numpy(float)[rows]
    bad = ~(np.isfinite(number) & (number == np.floor(number)) & (number >= 0))
    if bad.any():
        problems.append(f"interval not a whole number >= 0 at {_lines(np.flatnonzero(bad))}")
    limit = last[pair]
    beyond = ~bad & (limit >= 0) & (number > limit)
    if beyond.any():
        problems.append(
            f"interval past the mixture's last interval at {_lines(np.flatnonzero(beyond))}"
        )
    return np.where(~bad & ~beyond & (limit >= 0), number, -1).astype(np.int64)


def _encode(
    frame: pd.DataFrame, truth_keys: pd.DataFrame, keys: list[str], problems: list[str]
) -> _Keys:
    """The keys as integers; unknown names and bad intervals are added to ``problems``."""
    labelled = [c for c in keys if c in _LABELS]
    truth, rows, own, own_sizes, sizes = [], [], [], [], []
    for col in labelled:
        codes, distinct = _distinct(frame[col])
        truth_codes, categories = _truth_codes(truth_keys[col])
        # a value the truth holds (a category no truth row uses is unknown); index -1: False
        held = np.append(np.bincount(truth_codes, minlength=len(categories)) > 0, False)
        found = categories.get_indexer(distinct)
        found = np.where((found >= 0) & held[found], found, -1)[codes]
        unknown = np.flatnonzero(found < 0)
        if unknown.size:
            names = distinct[pd.unique(codes[unknown])[:_SHOW]]
            problems.append(
                f"unknown {_LABELS[col]}(s) {', '.join(map(excerpt, names))} at {_lines(unknown)}"
            )
        truth.append(truth_codes)
        rows.append(found)
        own.append(codes)
        own_sizes.append(len(distinct))
        sizes.append(len(categories))
    if "interval" in keys:
        last = np.full(sizes[0] * sizes[1] + 1, -1, np.int64)  # slot -1: not in the truth
        truth_interval = truth_keys["interval"].to_numpy(np.int64)
        np.maximum.at(last, _radix(truth[:2], sizes[:2]), truth_interval)
        both = (rows[0] >= 0) & (rows[1] >= 0)
        pair = np.where(both, _radix([np.maximum(r, 0) for r in rows[:2]], sizes[:2]), -1)
        interval = _intervals(frame["interval"], pair, last, problems)
        truth.append(truth_interval)
        rows.append(interval)
        own.append(interval + 1)
        sizes.append(int(truth_interval.max(initial=-1)) + 1)
        own_sizes.append(sizes[-1] + 1)
    key = _radix(rows, sizes)  # meaningless where a code is -1: those rows are set to -1
    for r in rows:
        key[r < 0] = -1
    size = int(np.prod(sizes, dtype=object))
    if size >= 2**62:
        raise SssleError(f"the truth has too many keys ({size}) to index")
    return _Keys(_radix(truth, sizes), key, size, _duplicates(own, own_sizes))


def _validate_rows(
    frame: pd.DataFrame,
    truth_keys: pd.DataFrame,
    keys: list[str],
    columns: tuple[str, ...],
    values: tuple[str, ...],
    allow_missing: bool,
) -> Validation:
    """Every problem of a table of predictions keyed like ``truth_keys``: missing
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
    twice = sorted(set(frame.columns[frame.columns.duplicated()]) & {*keys, *values})
    if twice:
        return Validation(
            (f"column(s) named twice: {excerpt(', '.join(twice))}",),
            pd.DataFrame(columns=[*keys, *values]),
        )
    problems: list[str] = []
    coded = _encode(frame, truth_keys, keys, problems)
    what = "(" + ", ".join(k.replace("mixture_id", "mixture") for k in keys) + ")"
    if coded.duplicate.any():
        problems.append(f"duplicate {what} at {_lines(np.flatnonzero(coded.duplicate))}")
    parsed = {}
    for column in values:
        parsed[column], bad = parse_levels(frame[column])
        for why, rows in bad.items():
            if rows.size:
                problems.append(f"{column} {why} at {_lines(rows)}")
    usable = np.flatnonzero((coded.rows >= 0) & ~coded.duplicate)
    at = _match(coded.truth, coded.rows[usable], coded.size)
    merged = truth_keys[keys].reset_index(drop=True)
    absent = at < 0
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
        # index -1 (no submitted row) reads the appended -inf: absent; so does a cell
        # that is no number (a problem already)
        column_values = np.append(parsed[column][usable], -np.inf)[at]
        column_values[np.isnan(column_values)] = -np.inf
        merged[column] = column_values
    return Validation(tuple(problems), merged, n_missing, tuple(notes))
