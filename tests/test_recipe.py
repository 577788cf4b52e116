"""Recipes: the shipped ones parse; every validation error names its key."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sssle_bench.errors import SssleError
from sssle_bench.recipe import LIMITS, condition_id, load_recipe, parse_recipe

from .conftest import REPO


def paper_raw() -> dict:
    return tomllib.loads((REPO / "recipes" / "waspaa2021.toml").read_text())


def test_paper_recipe_matches_the_paper():
    r = load_recipe(REPO / "recipes" / "waspaa2021.toml")
    assert (r.sample_rate, r.duration_s, r.salience) == (16000, 4.0, (1,))
    assert r.classes == ("car_horn", "dog_bark", "gun_shot", "jackhammer", "siren")
    assert [(s.name, s.folds, s.backgrounds, s.count) for s in r.splits] == [
        ("train", (1, 2, 3, 4, 5, 6), "train", 50000),
        ("valid", (7, 8), "valid", 10000),
        ("test", (9, 10), "test", 10000),
    ]
    assert r.events.count == ("ztpoisson", 5)
    assert r.events.event_time == ("uniform", 0.0, 4.0)
    # the original's spec, resources/scaper_specs/pishdadian2020_lambda5.json (docs/datasets.md)
    assert r.events.loudness_lufs == ("uniform", -30.0, -25.0)
    assert (r.events.source_time, r.events.event_duration) == (("const", 0.0), ("const", 4.0))
    assert (r.events.allow_repeated_label, r.events.allow_repeated_source) == (True, False)
    assert r.events.pitch_shift is None and r.events.time_stretch is None
    assert [c.id for c in r.conditions] == ["none", "bg-50", "bg-20", "bg0"]
    assert [c.lufs for c in r.conditions] == [None, -50.0, -20.0, 0.0]


def test_toy_has_the_paper_shape():
    """The toy world keeps the project's first event loudness and Scaper's default repeat
    switch (its hash, and so the demo's shipped checkpoints, stay valid); the medium world
    follows the paper's event distribution in every value."""
    paper = load_recipe(REPO / "recipes" / "waspaa2021.toml")
    toy = load_recipe(REPO / "recipes" / "toy.toml")
    medium = load_recipe(REPO / "recipes" / "synth-medium.toml")
    assert toy.classes == paper.classes and toy.conditions == paper.conditions
    assert medium.events == paper.events
    first = replace(paper.events, loudness_lufs=("uniform", -44.0, -20.0))
    assert toy.events == replace(first, allow_repeated_source=True)
    assert toy.hash().startswith("57fa3bfd")
    assert [s.folds for s in toy.splits] == [s.folds for s in paper.splits]
    assert sum(s.count for s in toy.splits) == 300


def test_resolved_toml_round_trips_and_hash_is_stable():
    r = load_recipe(REPO / "recipes" / "waspaa2021.toml")
    again = parse_recipe(tomllib.loads(r.to_toml()))
    assert again == r and again.hash() == r.hash()
    raw = paper_raw()
    raw["seed"] += 1
    assert parse_recipe(raw).hash() != r.hash()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.update(colour="blue"), "colour: unknown key"),
        (lambda r: r["splits"]["train"].update(fold=[1]), "splits.train.fold: unknown key"),
        (lambda r: r.update(sample_rate="16k"), "sample_rate: expected int, got '16k'"),
        (lambda r: r.update(duration_s=-1), "duration_s: must be > 0"),
        (
            lambda r: r["events"].update(loudness_lufs=["uniform", -20, -44]),
            "events.loudness_lufs: uniform min -20 > max -44",
        ),
        (lambda r: r["events"].update(event_time=["gauss", 0, 1]), "events.event_time: expected"),
        (lambda r: r["events"].update(count=["range", 3, 1]), "events.count: range min 3 > max 1"),
        (lambda r: r.update(classes=["car_horn", "cat"]), "classes: unknown class 'cat'"),
        (lambda r: r["splits"]["valid"].update(count=0), "splits.valid.count: empty split"),
        (
            lambda r: r["splits"]["test"].update(folds=[6, 9]),
            "splits.test.folds: fold 6 is also used by split 'train'",
        ),
        (lambda r: r["splits"]["test"].update(folds=[11]), "fold 11 is not in 1..10"),
        (lambda r: r["splits"]["test"].update(backgrounds="eval"), "splits.test.backgrounds"),
        (lambda r: r.update(conditions=["none", "loud"]), "conditions: 'loud'"),
        (lambda r: r.update(subtype="PCM_8"), "subtype: 'PCM_8' not allowed"),
        (lambda r: r["events"].pop("event_time"), "events.event_time: missing"),
        (lambda r: r.pop("seed"), "seed: missing"),
    ],
)
def test_validation_names_key_and_problem(edit, message: str):
    raw = paper_raw()
    edit(raw)
    with pytest.raises(SssleError) as info:
        parse_recipe(raw, source="x.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("x.toml: invalid recipe")


def test_all_problems_reported_at_once():
    raw = paper_raw()
    raw["colour"] = 1
    raw["classes"] = ["cat"]
    with pytest.raises(SssleError) as info:
        parse_recipe(raw)
    assert "colour: unknown key" in str(info.value) and "unknown class 'cat'" in str(info.value)


def test_missing_and_broken_files(tmp_path: Path):
    with pytest.raises(SssleError, match="recipe not found"):
        load_recipe(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(SssleError, match="not valid TOML"):
        load_recipe(bad)


@given(st.one_of(st.none(), st.integers(-90, 20).map(float), st.floats(-90, 20, allow_nan=False)))
def test_condition_ids_round_trip(lufs):
    cid = condition_id(lufs)
    assert cid == "none" if lufs is None else float(cid[2:]) == pytest.approx(lufs, rel=1e-5)


SAFE_NAMES = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True)
CLASS_NAMES = sorted(
    ["car_horn", "dog_bark", "gun_shot", "jackhammer", "siren", "street_music", "drilling"]
)


def _within(key: str) -> st.SearchStrategy:
    """Numbers inside the recipe's allowed range for ``key`` (:data:`LIMITS`)."""
    lo, hi = LIMITS[key]
    return st.floats(lo, hi, allow_nan=False) | st.integers(int(np.ceil(lo)), int(np.floor(hi)))


def _dist(key: str) -> st.SearchStrategy:
    value = _within(key)
    return st.one_of(
        st.tuples(st.just("const"), value),
        st.tuples(st.just("choose"), st.lists(value | st.text(max_size=5), max_size=4)),
        st.tuples(st.just("uniform"), value, value).map(lambda t: (t[0], min(t[1:]), max(t[1:]))),
        st.tuples(st.just("normal"), value, st.floats(0, 10)),
        st.tuples(st.just("truncnorm"), value, st.floats(0, 10), value, value).map(
            lambda t: (*t[:3], min(t[3:]), max(t[3:]))
        ),
    ).map(lambda t: [t[0], *t[1:]] if t[0] != "choose" else ["choose", list(t[1])])


_EVENT_RANGE = {
    "event_time": "time_s",
    "source_time": "time_s",
    "event_duration": "time_s",
    "loudness_lufs": "loudness_lufs",
    "pitch_shift": "pitch_shift",
    "time_stretch": "time_stretch",
}


@st.composite
def raw_recipes(draw) -> dict:
    """Valid raw recipe data: any name text, safe split names, disjoint folds, unique ids."""
    n_splits = draw(st.integers(1, 3))
    names = draw(st.lists(SAFE_NAMES, min_size=n_splits, max_size=n_splits, unique=True))
    folds = draw(st.permutations(list(range(1, 11))))
    splits = {
        name: {
            "folds": folds[3 * i : 3 * i + 3],
            "backgrounds": draw(st.sampled_from(["train", "valid", "test"])),
            "count": draw(st.integers(1, 10**6)),
        }
        for i, name in enumerate(names)
    }
    lufs = draw(st.lists(st.integers(-80, 0), max_size=4, unique=True))
    fmt = draw(st.sampled_from(["wav", "flac"]))
    return {
        "name": draw(st.text(max_size=20)),
        "version": draw(st.integers(1, 100)),
        "seed": draw(st.integers(0, 2**63 - 1)),
        "sample_rate": draw(st.integers(8000, 192000)),
        "duration_s": draw(st.floats(0.1, 600)),
        "classes": draw(st.lists(st.sampled_from(CLASS_NAMES), min_size=1, unique=True)),
        "salience": draw(st.lists(st.sampled_from([1, 2]), min_size=1, max_size=2, unique=True)),
        "audio_format": fmt,
        "subtype": draw(st.sampled_from(["PCM_16", "PCM_24"])),
        "conditions": draw(st.booleans()) * ["none"] + [float(x) for x in lufs] or ["none"],
        "splits": splits,
        "events": {
            "count": draw(st.sampled_from([["ztpoisson", 3.5], ["range", 1, 4], ["ztpoisson", 1]])),
            **{
                key: draw(_dist(_EVENT_RANGE[key]))
                for key in ["event_time", "source_time", "event_duration", "loudness_lufs"]
            },
            **{
                key: draw(_dist(_EVENT_RANGE[key]))
                for key in draw(st.sets(st.sampled_from(["pitch_shift", "time_stretch"])))
            },
        },
    }


@given(raw_recipes())
def test_to_toml_round_trips_any_valid_recipe(raw: dict):
    recipe = parse_recipe(raw)
    text = recipe.to_toml()
    again = parse_recipe(tomllib.loads(text))
    assert again == recipe
    assert again.hash() == recipe.hash()


@pytest.mark.parametrize(
    "name", ["../../escape", "/abs", "Train", "a/b", ".hidden", "..", "", "x" * 65, "tr ain"]
)
def test_split_names_that_are_not_safe_path_names_are_refused(name: str):
    raw = paper_raw()
    raw["splits"] = {name: raw["splits"]["train"]}
    with pytest.raises(SssleError, match="is not a safe name"):
        parse_recipe(raw)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_numbers_are_refused(bad: float):
    raw = paper_raw()
    raw["events"]["loudness_lufs"] = ["uniform", -40.0, bad]
    raw["duration_s"] = bad
    with pytest.raises(SssleError) as err:
        parse_recipe(raw)
    assert "finite" in str(err.value) and "duration_s" in str(err.value)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.update(duration_s=1e7), "duration_s: 10000000.0 is outside the allowed range"),
        (
            lambda r: r["events"].update(loudness_lufs=["uniform", 100, 200]),
            "events.loudness_lufs: 100 is outside the allowed range [-100, 0]",
        ),
        (lambda r: r.update(conditions=["none", 12]), "conditions: 12.0 is outside"),
        (lambda r: r.update(sample_rate=100), "sample_rate: 100 is outside"),
        (lambda r: r.update(interval_s=1e-6), "interval_s: 1e-06 is outside"),
        (lambda r: r["events"].update(count=["range", 1, 10**6]), "events.count: 1000000 is"),
        (lambda r: r["events"].update(event_time=["uniform", -5.0, 4.0]), "events.event_time"),
    ],
)
def test_physically_meaningless_values_are_refused_with_their_range(edit, message: str):
    """A recipe that would exhaust memory (a 10^7 s mixture) or silently misbehave (events
    at +100 LUFS, which Scaper clips and every background drowns) is refused."""
    raw = paper_raw()
    edit(raw)
    with pytest.raises(SssleError, match=re.escape(message)):
        parse_recipe(raw)
