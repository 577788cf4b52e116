"""Recipes: the TOML description of a dataset, parsed into frozen dataclasses.

A recipe fixes everything that decides a dataset's content: seed, sample rate
(Hz), duration (s), class vocabulary, salience filter, which UrbanSound8K
folds and SONYC-Backgrounds split feed each dataset split, mixture counts,
event distributions in Scaper's tuple vocabulary (``["const", v]``,
``["choose", [...]]``, ``["uniform", lo, hi]``, ``["normal", mu, sigma]``,
``["truncnorm", mu, sigma, lo, hi]``), event loudness as absolute integrated
loudness in LUFS, background conditions (LUFS, or ``"none"``) and the output
audio format. See ``recipes/waspaa2021.toml`` for an annotated example. Every
number must lie in its physically meaningful range (:data:`LIMITS`): a recipe
that would exhaust memory or silently misbehave is refused with the range.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .audio import FORMATS
from .errors import SssleError
from .paths import NAME_RULE, is_safe_name
from .sources.common import class_table
from .sources.sonyc_backgrounds import SPLITS as BACKGROUND_SPLITS
from .toml_files import dumps_toml, read_toml

Dist = tuple[Any, ...]

#: Physically meaningful ranges (inclusive) of a recipe's numbers; a value outside is
#: refused with its range. Loudness in LUFS (full scale is 0), times in s, rates in Hz.
LIMITS: dict[str, tuple[float, float]] = {
    "sample_rate": (8000, 192000),
    "duration_s": (0.1, 600.0),
    "interval_s": (0.01, 600.0),
    "count": (1, 10_000_000),
    "loudness_lufs": (-100.0, 0.0),
    "conditions": (-100.0, 0.0),
    "events.count": (1, 1000),
    "time_s": (0.0, 600.0),
    "pitch_shift": (-24.0, 24.0),
    "time_stretch": (0.1, 10.0),
}

_DIST_ARITY = {"const": 1, "choose": 1, "uniform": 2, "normal": 2, "truncnorm": 4}
_COUNT_ARITY = {"ztpoisson": 1, "range": 2}
_TOP_KEYS = {
    "name",
    "version",
    "seed",
    "sample_rate",
    "duration_s",
    "interval_s",
    "classes",
    "salience",
    "audio_format",
    "subtype",
    "conditions",
    "splits",
    "events",
}
_SPLIT_KEYS = {"folds", "backgrounds", "count"}
_EVENT_KEYS = {
    "count",
    "event_time",
    "source_time",
    "event_duration",
    "loudness_lufs",
    "pitch_shift",
    "time_stretch",
}
#: Scaper's sampling switches (``Scaper.generate``), true unless a recipe says false: may
#: one mixture hold two events of one class, or two events cut from one source clip.
_EVENT_FLAGS = ("allow_repeated_label", "allow_repeated_source")
_REQUIRED_EVENT_KEYS = _EVENT_KEYS - {"pitch_shift", "time_stretch"}


@dataclass(frozen=True)
class SplitSpec:
    """One dataset split: UrbanSound8K folds, SONYC-Backgrounds split, mixture count."""

    name: str
    folds: tuple[int, ...]
    backgrounds: str
    count: int


@dataclass(frozen=True)
class EventSpec:
    """Foreground-event distributions (Scaper tuples); times in s, loudness in LUFS; and
    Scaper's two sampling switches (:data:`_EVENT_FLAGS`)."""

    count: Dist
    event_time: Dist
    source_time: Dist
    event_duration: Dist
    loudness_lufs: Dist
    pitch_shift: Dist | None = None
    time_stretch: Dist | None = None
    allow_repeated_label: bool = True
    allow_repeated_source: bool = True


@dataclass(frozen=True)
class Condition:
    """A background condition: id (``none``, ``bg-20``...) and background LUFS (None = none)."""

    id: str
    lufs: float | None


@dataclass(frozen=True)
class Recipe:
    """A parsed, validated recipe. ``conditions`` keeps the recipe's order."""

    name: str
    version: int
    seed: int
    sample_rate: int
    duration_s: float
    classes: tuple[str, ...]
    salience: tuple[int, ...]
    audio_format: str
    subtype: str
    splits: tuple[SplitSpec, ...]
    events: EventSpec
    conditions: tuple[Condition, ...]
    #: Length (s) of the consecutive intervals of the time-resolved ground truth (LAeq).
    interval_s: float = 1.0

    def split(self, name: str) -> SplitSpec:
        """The split called ``name``."""
        for spec in self.splits:
            if spec.name == name:
                return spec
        raise SssleError(f"recipe {self.name!r} has no split {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain TOML-able data (the resolved form)."""
        events: dict[str, Any] = {
            k: list(v)
            for k, v in asdict(self.events).items()
            if v is not None and k not in _EVENT_FLAGS
        }
        # A switch left at Scaper's default is omitted: recipes written before the switches
        # existed keep their hash (and the datasets and checkpoints made from them).
        events.update({k: False for k in _EVENT_FLAGS if not getattr(self.events, k)})
        return {
            "name": self.name,
            "version": self.version,
            "seed": self.seed,
            "sample_rate": self.sample_rate,
            "duration_s": self.duration_s,
            "interval_s": self.interval_s,
            "classes": list(self.classes),
            "salience": list(self.salience),
            "audio_format": self.audio_format,
            "subtype": self.subtype,
            "conditions": ["none" if c.lufs is None else c.lufs for c in self.conditions],
            "splits": {
                s.name: {"folds": list(s.folds), "backgrounds": s.backgrounds, "count": s.count}
                for s in self.splits
            },
            "events": events,
        }

    def to_toml(self) -> str:
        """The resolved recipe as TOML text; :func:`parse_recipe` reads it back equal."""
        return dumps_toml(self.to_dict())

    def hash(self) -> str:
        """sha256 of the resolved recipe's canonical JSON: equal recipes, equal hash."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


#: The condition without background: its id in datasets and its keyword in recipes.
NO_BACKGROUND = "none"


def condition_id(lufs: float | None) -> str:
    """``none`` for no background, else ``bg<LUFS>`` (``bg-50``, ``bg0``, ``bg-12.5``)."""
    return NO_BACKGROUND if lufs is None else f"bg{lufs:g}"


def load_recipe(path: Path) -> Recipe:
    """Read and validate a recipe file; :class:`SssleError` lists every problem."""
    return parse_recipe(read_toml(path, "recipe"), source=str(path))


def parse_recipe(raw: dict[str, Any], source: str = "recipe") -> Recipe:
    """Validate raw TOML data into a :class:`Recipe`, reporting all problems at once."""
    problems: list[str] = []
    _unknown(raw, _TOP_KEYS, "", problems)
    get = _Getter(raw, "", problems)
    known = set(class_table()["class"])
    classes = tuple(get.list_of("classes", str))
    for c in classes:
        if c not in known:
            problems.append(f"classes: unknown class {c!r} (known: {', '.join(sorted(known))})")
    if len(set(classes)) != len(classes):
        problems.append("classes: listed twice")
    salience = tuple(get.list_of("salience", int))
    for s in salience:
        if s not in (1, 2):
            problems.append(f"salience: {s} is not 1 (foreground) or 2 (background)")
    audio_format = get.value("audio_format", str, "wav")
    subtype = get.value("subtype", str, "PCM_16")
    if audio_format not in FORMATS:
        problems.append(f"audio_format: {audio_format!r} is not one of {sorted(FORMATS)}")
    elif subtype not in FORMATS[audio_format]:
        problems.append(
            f"subtype: {subtype!r} not allowed for {audio_format} {FORMATS[audio_format]}"
        )
    recipe = Recipe(
        name=get.value("name", str),
        version=get.value("version", int, 1),
        seed=get.value("seed", int),
        sample_rate=get.positive("sample_rate", int),
        duration_s=float(get.positive("duration_s", (int, float)) or 0.0),
        classes=classes,
        salience=salience,
        audio_format=audio_format,
        subtype=subtype,
        splits=_parse_splits(raw.get("splits"), problems),
        events=_parse_events(raw.get("events"), problems),
        conditions=_parse_conditions(raw.get("conditions"), problems),
        interval_s=float(get.positive("interval_s", (int, float), 1.0) or 1.0),
    )
    _check_ranges(recipe, problems)
    if len(problems) == 1:
        raise SssleError(f"{source}: invalid recipe: {problems[0]}")
    if problems:
        raise SssleError(f"{source}: invalid recipe:\n  - " + "\n  - ".join(problems))
    return recipe


def _dist_values(dist: Dist | None) -> list[float]:
    """The numbers bounding what a distribution draws: a constant, the choices, uniform
    and truncnorm bounds, a normal's mean (its tails are the recipe author's choice)."""
    if not dist:
        return []
    name, args = dist[0], list(dist[1:])
    values = {
        "const": args,
        "choose": args[0] if args else [],
        "uniform": args,
        "normal": args[:1],
        "truncnorm": args[2:],
        "ztpoisson": args,
        "range": args,
    }.get(name, [])
    return [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _check_ranges(recipe: Recipe, problems: list[str]) -> None:
    """Every number of ``recipe`` in its :data:`LIMITS` range; problems name the key."""

    def check(key: str, values: list[float], limit: str | None = None) -> None:
        lo, hi = LIMITS[limit or key]
        bad = [v for v in values if v is not None and not lo <= v <= hi]
        if bad:
            problems.append(f"{key}: {bad[0]!r} is outside the allowed range [{lo:g}, {hi:g}]")

    check("sample_rate", [recipe.sample_rate])
    check("duration_s", [recipe.duration_s])
    check("interval_s", [recipe.interval_s])
    for spec in recipe.splits:
        check(f"splits.{spec.name}.count", [spec.count], "count")
    check("conditions", [c.lufs for c in recipe.conditions])
    ev = recipe.events
    check("events.count", _dist_values(ev.count))
    check("events.loudness_lufs", _dist_values(ev.loudness_lufs), "loudness_lufs")
    for key in ("event_time", "source_time", "event_duration"):
        check(f"events.{key}", _dist_values(getattr(ev, key)), "time_s")
    check("events.pitch_shift", _dist_values(ev.pitch_shift), "pitch_shift")
    check("events.time_stretch", _dist_values(ev.time_stretch), "time_stretch")


class _Getter:
    """Typed access to one TOML table that records problems instead of raising."""

    def __init__(self, table: dict[str, Any], prefix: str, problems: list[str]):
        self.table, self.prefix, self.problems = table, prefix, problems

    def value(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                self.problems.append(f"{self.prefix}{key}: missing")
                return None
            return default
        v = self.table[key]
        if not isinstance(v, kind) or isinstance(v, bool):
            name = kind.__name__ if isinstance(kind, type) else "number"
            self.problems.append(f"{self.prefix}{key}: expected {name}, got {v!r}")
            return None
        return v

    def positive(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        v = self.value(key, kind, default)
        if v is not None and not (0 < v < math.inf):
            self.problems.append(f"{self.prefix}{key}: must be > 0 and finite, got {v}")
        return v

    def list_of(self, key: str, kind: type) -> list[Any]:
        v = self.value(key, list)
        if v is None:
            return []
        if not v:
            self.problems.append(f"{self.prefix}{key}: empty")
        bad = [x for x in v if not isinstance(x, kind) or isinstance(x, bool)]
        if bad:
            self.problems.append(f"{self.prefix}{key}: expected {kind.__name__} items, got {bad!r}")
        return [x for x in v if x not in bad]


def _unknown(table: dict[str, Any], allowed: set[str], prefix: str, problems: list[str]) -> None:
    for key in sorted(set(table) - allowed):
        problems.append(f"{prefix}{key}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _parse_splits(raw: Any, problems: list[str]) -> tuple[SplitSpec, ...]:
    if not isinstance(raw, dict) or not raw:
        problems.append("splits: missing or empty; add e.g. [splits.train]")
        return ()
    specs, owner = [], {}
    for name, table in raw.items():
        prefix = f"splits.{name}."
        if not is_safe_name(name):
            problems.append(f"splits: split name {name!r} is not a safe name ({NAME_RULE})")
            continue
        if not isinstance(table, dict):
            problems.append(f"splits.{name}: expected a table")
            continue
        _unknown(table, _SPLIT_KEYS, prefix, problems)
        get = _Getter(table, prefix, problems)
        folds = tuple(get.list_of("folds", int))
        for fold in folds:
            if not 1 <= fold <= 10:
                problems.append(f"{prefix}folds: fold {fold} is not in 1..10")
            elif fold in owner:
                problems.append(f"{prefix}folds: fold {fold} is also used by split {owner[fold]!r}")
            else:
                owner[fold] = name
        backgrounds = get.value("backgrounds", str)
        if backgrounds is not None and backgrounds not in BACKGROUND_SPLITS:
            problems.append(
                f"{prefix}backgrounds: {backgrounds!r} is not one of {BACKGROUND_SPLITS}"
            )
        count = get.value("count", int)
        if count is not None and count <= 0:
            problems.append(f"{prefix}count: empty split (count must be > 0, got {count})")
        specs.append(SplitSpec(name=name, folds=folds, backgrounds=backgrounds, count=count))
    return tuple(specs)


def _parse_events(raw: Any, problems: list[str]) -> EventSpec:
    if not isinstance(raw, dict):
        problems.append("events: missing table [events]")
        raw = {}
    _unknown(raw, _EVENT_KEYS | set(_EVENT_FLAGS), "events.", problems)
    flags = {}
    for key in _EVENT_FLAGS:
        flags[key] = raw.get(key, True)
        if not isinstance(flags[key], bool):
            problems.append(f"events.{key}: expected true or false, got {flags[key]!r}")
    for key in sorted(_REQUIRED_EVENT_KEYS - set(raw)):
        problems.append(f"events.{key}: missing")
    count = _check_dist(raw.get("count"), "events.count", _COUNT_ARITY, problems)
    if count and count[0] == "range" and count[1] < 1:
        problems.append("events.count: a mixture needs at least 1 event (range min >= 1)")
    if count and count[0] == "ztpoisson" and count[1] <= 0:
        problems.append("events.count: ztpoisson lambda must be > 0")
    dists = {
        key: _check_dist(raw.get(key), f"events.{key}", _DIST_ARITY, problems)
        for key in sorted(_EVENT_KEYS - {"count"})
        if key in raw
    }
    return (
        EventSpec(count=count, **dists, **flags)
        if all(k in dists for k in _REQUIRED_EVENT_KEYS - {"count"})
        else EventSpec(count, (), (), (), ())
    )


def _check_dist(raw: Any, key: str, arity: dict[str, int], problems: list[str]) -> Dist | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or raw[0] not in arity:
        problems.append(
            f"{key}: expected [name, ...] with name one of {sorted(arity)}, got {raw!r}"
        )
        return None
    name, args = raw[0], raw[1:]
    if len(args) != arity[name]:
        problems.append(f"{key}: {name!r} takes {arity[name]} parameter(s), got {len(args)}")
        return None
    if name == "choose":
        if not isinstance(args[0], list):
            problems.append(f"{key}: 'choose' takes a list of values")
            return None
        return (name, list(args[0]))
    if not all(_finite_number(a) for a in args):
        problems.append(f"{key}: parameters must be finite numbers, got {args!r}")
        return None
    if name == "uniform" and args[0] > args[1]:
        problems.append(f"{key}: uniform min {args[0]} > max {args[1]}")
    if name == "range" and args[0] > args[1]:
        problems.append(f"{key}: range min {args[0]} > max {args[1]}")
    if name == "truncnorm" and args[2] > args[3]:
        problems.append(f"{key}: truncnorm min {args[2]} > max {args[3]}")
    if name in ("normal", "truncnorm") and args[1] < 0:
        problems.append(f"{key}: standard deviation must be >= 0")
    return (name, *args)


def _finite_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _parse_conditions(raw: Any, problems: list[str]) -> tuple[Condition, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append('conditions: expected a non-empty list such as ["none", -50, -20, 0]')
        return ()
    out = []
    for item in raw:
        if item == NO_BACKGROUND:
            out.append(Condition(condition_id(None), None))
        elif isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(item):
            out.append(Condition(condition_id(float(item)), float(item)))
        else:
            problems.append(f'conditions: {item!r} is neither "none" nor a LUFS number')
    ids = [c.id for c in out]
    if len(set(ids)) != len(ids):
        problems.append("conditions: listed twice")
    return tuple(out)
