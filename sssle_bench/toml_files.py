"""TOML files: reading one with a clear error, and writing nested dicts of scalars and
lists (recipes, configs, submissions' ``meta.toml``) so that ``tomllib`` reads them back
equal."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from .errors import SssleError


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's data; one clear error naming ``what`` (``recipe``, ``config``...) and the
    file if it is missing, not UTF-8 or not valid TOML."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SssleError(f"{what} not found: {path}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SssleError(f"{path}: not valid TOML in UTF-8 ({exc})") from exc


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    """A bare key when TOML allows one, else a quoted key."""
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Write nested dicts of scalars and lists as TOML (tables after plain keys).

    Keys that are not bare TOML keys are quoted, so any string key reads back equal.
    """
    lines = [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)
    ]
    for k, v in data.items():
        if isinstance(v, dict):
            name = f"{prefix}{_toml_key(k)}"
            if not v or any(not isinstance(x, dict) for x in v.values()):
                lines += ["", f"[{name}]"]
            lines.append(dumps_toml(v, prefix=f"{name}.").rstrip("\n"))
    return "\n".join(line for line in lines) + "\n"
