"""Checking estimator configs before any work starts: every field's type and range.

A config value comes from a user's TOML, so each is checked against the type the
estimator declares (a dataclass annotation or a default value's type) and an
optional closed range; every problem is reported at once, naming the key.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from ..errors import SssleError

#: (low, high) inclusive bounds; None = unbounded on that side.
Range = tuple[float | None, float | None]


def type_problem(value: Any, hint: Any) -> bool:
    """True if ``value`` does not fit the type ``hint`` (int is accepted where float is)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return all(type_problem(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is not None
    if hint is float:
        return not isinstance(value, int | float) or isinstance(value, bool)
    if hint is int:
        return not isinstance(value, int) or isinstance(value, bool)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return True
        if len(args) == 2 and args[1] is Ellipsis:
            return any(type_problem(v, args[0]) for v in value)
        return len(args) != len(value) or any(
            type_problem(v, h) for v, h in zip(value, args, strict=True)
        )
    return not isinstance(value, hint)


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is None and hasattr(hint, "__name__"):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "None")


def check_options(
    owner: str,
    values: dict[str, Any],
    hints: dict[str, Any],
    ranges: dict[str, Range],
    choices: dict[str, tuple[Any, ...]] | None = None,
) -> None:
    """Raise one :class:`SssleError` listing every value of the wrong type or out of range."""
    problems = []
    for key, value in values.items():
        if key in hints and type_problem(value, hints[key]):
            problems.append(f"{key}: expected {_type_name(hints[key])}, got {value!r}")
            continue
        low, high = ranges.get(key, (None, None))
        if value is not None and (
            (low is not None and value < low) or (high is not None and value > high)
        ):
            span = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
            problems.append(f"{key}: {value!r} is outside {span}")
        allowed = (choices or {}).get(key)
        if allowed is not None and value not in allowed:
            problems.append(f"{key}: {value!r} is not one of {', '.join(map(repr, allowed))}")
    if len(problems) == 1:
        raise SssleError(f"{owner} config: {problems[0]}")
    if problems:
        raise SssleError(f"{owner} config:\n  - " + "\n  - ".join(problems))
