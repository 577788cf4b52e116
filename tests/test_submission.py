"""Submission validation: every problem named with its line, encodings and separators."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from sssle_bench.cli import main
from sssle_bench.errors import SssleError
from sssle_bench.submission import read_predictions, validate_file
from sssle_bench.validation import validate


def perfect(ds: Path, split: str = "test") -> pd.DataFrame:
    truth = pd.read_csv(ds / "ground_truth" / f"{split}.csv")
    pred = truth[["mixture_id", "condition", "class"]].copy()
    pred["level_db"] = truth["level_dbfs_a"].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    return pred


def write(frame: pd.DataFrame, path: Path, **kwargs) -> Path:
    frame.to_csv(path, index=False, **kwargs)
    return path


def test_perfect_submission_is_valid_and_scores_zero(toy_dataset: Path, tmp_path: Path):
    path = write(perfect(toy_dataset), tmp_path / "p.csv")
    result, truth = validate_file(path, toy_dataset, "test")
    assert result.ok and result.n_missing == 0
    runner = CliRunner()
    out = tmp_path / "score.json"
    res = runner.invoke(
        main,
        ["score", str(path), "--truth", str(toy_dataset), "--out", str(out), "--bootstrap", "50"],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 2
    # a submission of schema-1 form (no LAFmax column, no intervals.csv): no time-resolved part
    assert doc["time_resolved"] == {"lafmax": None, "intervals": None}
    assert (
        doc["truth"]["recipe_hash"]
        == json.loads((toy_dataset / "manifest.json").read_text())["recipe_hash"]
    )
    assert doc["overall"]["all"]["mae_present_db"]["value"] == pytest.approx(0.0, abs=1e-4)
    # A perfect prediction of a present source quieter than -60 dB counts as a miss.
    truth = pd.read_csv(toy_dataset / "ground_truth" / "test.csv")
    present = truth[truth["present"] == 1]
    recall = (present["level_dbfs_a"].round(4) > -60).mean()
    assert doc["overall"]["all"]["precision"]["value"] == pytest.approx(1.0)
    assert doc["overall"]["all"]["f1"]["value"] == pytest.approx(2 * recall / (1 + recall))
    assert set(doc["by_condition"]) == {"none", "bg-50", "bg-20", "bg0"}
    assert set(doc["by_class"]) == {"car_horn", "dog_bark", "gun_shot", "jackhammer", "siren"}
    # the terminal table: overall, then a row per condition and per class, each its MAE
    table = [line for line in res.output.splitlines()[2:] if line and not line.startswith("wrote")]
    rows = {line.split()[0]: line.split()[1] for line in table}
    assert [r for r in rows if r != "overall"] == [*doc["by_condition"], *doc["by_class"]]
    for name, group in [*doc["by_condition"].items(), *doc["by_class"].items()]:
        assert rows[name] == f"{group['mae_present_db']['value']:.2f}"


def test_every_problem_is_reported_with_lines(toy_dataset: Path, tmp_path: Path):
    pred = perfect(toy_dataset)
    pred.loc[0, "mixture_id"] = "test_999999"
    pred.loc[1, "class"] = "cat"
    pred.loc[2, "level_db"] = "loud"
    pred.loc[3, "level_db"] = "nan"
    pred.loc[4, "level_db"] = "inf"
    pred.loc[5, "level_db"] = "25"
    pred = pd.concat([pred, pred.iloc[[10]]])
    pred = pred.drop(index=[20])
    result, _ = validate_file(write(pred, tmp_path / "p.csv"), toy_dataset, "test")
    text = "\n".join(result.problems)
    assert "unknown mixture id(s) 'test_999999' at line 2" in text
    assert "unknown class(s) 'cat' at line 3" in text
    assert "level_db not a number at line 4" in text
    assert "level_db NaN" in text and "at line 5" in text
    assert "level_db +inf at line 6" in text
    assert "level_db above +20 dB at line 7" in text
    assert "duplicate (mixture, condition, class) at line" in text
    # rows 0, 1 and 20 do not match a truth key: three pairs missing
    assert "3 (mixture, condition, class) pair(s) missing" in text
    assert len(result.problems) == 8


def test_missing_columns(toy_dataset: Path, tmp_path: Path):
    pred = perfect(toy_dataset).rename(columns={"level_db": "level"})
    result, _ = validate_file(write(pred, tmp_path / "p.csv"), toy_dataset, "test")
    assert result.problems == (
        "missing column(s): level_db (found: 'mixture_id, condition, class, level')",
    )


def test_allow_missing_scores_them_as_absent(toy_dataset: Path, tmp_path: Path):
    pred = perfect(toy_dataset).iloc[7:]
    path = write(pred, tmp_path / "p.csv")
    assert not validate_file(path, toy_dataset, "test")[0].ok
    result, _ = validate_file(path, toy_dataset, "test", allow_missing=True)
    assert result.ok and result.n_missing == 7
    assert np.isneginf(result.predictions["level_db"].iloc[:7]).all()


def test_bom_crlf_and_utf16_are_read_correctly(toy_dataset: Path, tmp_path: Path):
    pred = perfect(toy_dataset)
    text = pred.to_csv(index=False)
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (tmp_path / "crlf.csv").write_bytes(text.replace("\n", "\r\n").encode())
    (tmp_path / "u16.csv").write_bytes(text.encode("utf-16"))
    for name in ["bom.csv", "crlf.csv", "u16.csv"]:
        frame = read_predictions(tmp_path / name)
        assert list(frame.columns) == ["mixture_id", "condition", "class", "level_db"], name
        truth = pd.read_csv(toy_dataset / "ground_truth" / "test.csv")
        assert validate(frame, truth, False).ok, name


def test_semicolons_and_bad_encoding_get_clear_messages(toy_dataset: Path, tmp_path: Path):
    pred = perfect(toy_dataset)
    semi = write(pred, tmp_path / "semi.csv", sep=";")
    with pytest.raises(SssleError, match="semicolon-separated.*write a comma-separated file"):
        read_predictions(semi)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("mixture_id,condition,class,level_db\nm\xe9,none,a,-3\n".encode("latin-1"))
    with pytest.raises(SssleError, match="not UTF-8 text .*save the CSV as UTF-8"):
        read_predictions(latin)
    res = CliRunner().invoke(main, ["validate", str(semi), "--truth", str(toy_dataset)])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_score_refuses_invalid_submission(toy_dataset: Path, tmp_path: Path):
    pred = perfect(toy_dataset)
    pred.loc[0, "level_db"] = "NaN"
    path = write(pred, tmp_path / "p.csv")
    res = CliRunner().invoke(main, ["score", str(path), "--truth", str(toy_dataset)])
    assert res.exit_code == 2 and "invalid submission" in res.output


@given(st.lists(st.floats(min_value=-200, max_value=20, allow_nan=False), min_size=1, max_size=30))
def test_parse_levels_round_trips_valid_numbers(values):
    from sssle_bench.validation import parse_levels

    text = pd.Series([repr(v) for v in values] + ["", "-inf", " -12.5 "])
    levels, problems = parse_levels(text)
    assert all(rows.size == 0 for rows in problems.values())
    np.testing.assert_array_equal(levels[: len(values)], np.array(values))
    assert np.isneginf(levels[-3]) and np.isneginf(levels[-2]) and levels[-1] == -12.5


@given(st.text(alphabet="abcxyz!?", min_size=1, max_size=5))
def test_parse_levels_flags_words(word):
    from sssle_bench.validation import parse_levels

    levels, problems = parse_levels(pd.Series(["-3", word]))
    flagged = {k for k, rows in problems.items() if rows.tolist() == [1]}
    assert flagged and levels[0] == -3.0


# The fast read (key columns categorical, levels parsed by the CSV parser) and the
# reference read (every cell a string) must give the same validation on any file.
_KEYS = pd.DataFrame(
    [(m, c, k) for m in ("m0", "m1", "007") for c in ("none", "bg-20") for k in ("dog", "1.0")],
    columns=["mixture_id", "condition", "class"],
).astype("category")
_HOSTILE_CELLS = ["", " ", "-inf", "inf", "Infinity", "nan", "NaN", "NA", "abc", " 3 ", "3 ",
                  "1e400", "25", "0x10", "-0", "1_0", "\u0663", "20.0000001", "-12.5"]  # fmt: skip
_cell = st.one_of(
    st.sampled_from(_HOSTILE_CELLS),
    st.floats(min_value=-150, max_value=30, allow_nan=False).map(repr),
)
_key = st.sampled_from(
    ["m0", "m1", "007", "7", " m0", "m1 ", "mx", "", "none", "bg-20", "dog", "1.0", "1"]
)


@given(
    rows=st.lists(st.tuples(_key, _key, _key, _cell, _cell), max_size=25),
    perfect_prefix=st.integers(0, len(_KEYS)),
    lafmax=st.booleans(),
    tail=st.sampled_from(["", "\n", "\nm0,none,dog", "\nm0,none,dog,1,2,3"]),
    allow=st.booleans(),
)
def test_fast_read_validates_exactly_as_the_string_read(rows, perfect_prefix, lafmax, tail, allow):
    from sssle_bench.submission import parse_predictions

    header = "mixture_id,condition,class,level_db" + (",lafmax_db" if lafmax else "")
    good = [(*k, "-20.5", "-10") for k in _KEYS.astype(str).values.tolist()[:perfect_prefix]]
    lines = [",".join(r[: 4 + lafmax]) for r in [*good, *rows]]
    raw = ("\n".join([header, *lines]) + tail).encode()
    results = []
    for typed in (True, False):
        try:
            frame = parse_predictions(raw, Path("p.csv"), typed=typed)
        except SssleError as exc:
            results.append(str(exc))
            continue
        v = validate(frame, _KEYS, allow)
        results.append((v.problems, v.n_missing, v.notes, v.predictions.astype(str).to_dict()))
    assert results[0] == results[1]


def test_fast_read_is_taken_for_a_clean_file_and_hostile_layouts_match_the_reference():
    from sssle_bench.submission import parse_predictions

    clean = b"mixture_id,condition,class,level_db\nm0,none,dog,-3\nm0,none,1.0,\n"
    frame = parse_predictions(clean, Path("p.csv"))
    assert frame["level_db"].dtype == np.float64 and frame["class"].dtype == "category"
    v = validate(frame, _KEYS, allow_missing=True)
    assert v.ok and v.n_missing == len(_KEYS) - 2
    assert v.predictions["level_db"].tolist()[:2] == [-3.0, -np.inf]
    # a column named twice once stripped: one problem, not a crash
    twice = b"mixture_id, mixture_id,condition,class,level_db\nm0,m0,none,dog,-3\n"
    v = validate(parse_predictions(twice, Path("p.csv")), _KEYS, allow_missing=True)
    assert v.problems == ("column(s) named twice: 'mixture_id'",)
    # an unparseable level is a problem and reads as absent, never NaN
    bad = b"mixture_id,condition,class,level_db\nm0,none,dog,nan\n"
    v = validate(parse_predictions(bad, Path("p.csv")), _KEYS, allow_missing=True)
    assert v.problems == ("level_db NaN (write -inf or leave empty for absent) at line 2",)
    assert np.isneginf(v.predictions["level_db"].to_numpy()).all()
