"""TOML files: what ``dumps_toml`` writes, ``tomllib`` reads back equal, whatever the keys
and strings hold; ``read_toml`` names the file it cannot read."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sssle_bench.errors import SssleError
from sssle_bench.toml_files import dumps_toml, read_toml

scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),  # inf and -0.0 included; TOML's nan never equals itself
    st.text(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4))
tables = st.recursive(
    st.dictionaries(st.text(), values, max_size=4),
    lambda inner: st.dictionaries(st.text(), st.one_of(values, inner), max_size=4),
    max_leaves=12,
)


def typed(x: object) -> object:
    """``x`` with every scalar's type and repr, keys sorted: 0.0 and -0.0, 1 and 1.0, True
    and 1 compare equal in Python, not here (tables come after plain keys in the file)."""
    if isinstance(x, dict):
        return sorted((k, typed(v)) for k, v in x.items())
    if isinstance(x, list):
        return [typed(v) for v in x]
    return (type(x).__name__, repr(x))


@given(tables)
def test_any_nested_table_reads_back_equal(data: dict):
    back = tomllib.loads(dumps_toml(data))
    assert back == data
    assert typed(back) == typed(data)


def test_hand_written_output():
    data = {"name": 'say "hi"\n', "n": 3, "x": -0.5, "ok": True, "a.b": [1, 2]}
    data["sub"] = {"deep": {"k": "v"}, "empty": {}}
    assert dumps_toml(data) == (
        'name = "say \\"hi\\"\\u000A"\nn = 3\nx = -0.5\nok = true\n"a.b" = [1, 2]\n'
        '\n[sub.deep]\nk = "v"\n\n[sub.empty]\n'
    )
    assert math.isinf(tomllib.loads(dumps_toml({"x": -math.inf}))["x"])


def test_what_toml_cannot_hold_is_refused():
    with pytest.raises(TypeError, match="NoneType"):
        dumps_toml({"x": None})


def test_read_toml_names_the_file(tmp_path: Path):
    with pytest.raises(SssleError, match=r"^config not found: .*missing\.toml$"):
        read_toml(tmp_path / "missing.toml", "config")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"x = \xff")
    with pytest.raises(SssleError, match=r"bad\.toml: not valid TOML in UTF-8"):
        read_toml(bad, "config")
    bad.write_text("x = = 1", encoding="utf-8")
    with pytest.raises(SssleError, match=r"bad\.toml: not valid TOML in UTF-8"):
        read_toml(bad, "config")
    bad.write_text('x = 1\n[t]\ny = "z"\n', encoding="utf-8")
    assert read_toml(bad, "config") == {"x": 1, "t": {"y": "z"}}
