"""The dataset README from a stranger's manifest: every value inert, nothing missing
crashes it."""

from __future__ import annotations

import re

from sssle_bench.generate.readme import FIELD_CHARS, dataset_readme

HOSTILE = {
    "recipe": "x\n<script>alert(1)</script> [click](http://evil)",
    "recipe_hash": "`rm -rf ~`" + "a" * 64,
    "splits": {"test": 3},
    "conditions": ["none"],
    "classes": ["dog_bark"],
    "versions": {"sssle-bench": "1.0 | **forged** " + "z" * 500},
    "options": {"limit": "<img src=x>"},
    "sources": {"Evil<b>": {"files": "[link](x)"}, "NotAMapping": 7},
}


def test_a_hostile_manifest_becomes_inert_markdown():
    text = dataset_readme(HOSTILE)
    unescaped = re.sub(r"\\.", "", text)  # what Markdown reads as markup
    for raw in ("<script>", "[click](", "<img", "<b>", "[link](", "**forged**", "`rm"):
        assert raw not in unescaped, raw
    assert text.startswith("# x \\<script\\>alert(1)\\</script\\> \\[click\\](http://evil): ")
    assert "\\[link\\](x) files" in text and "NotAMapping (? files" in text
    assert "z" * (FIELD_CHARS - 20) in text and "z" * FIELD_CHARS not in text


def test_a_manifest_without_optional_fields_still_gets_a_readme():
    bare = {k: HOSTILE[k] for k in ("recipe_hash", "splits", "conditions", "classes")}
    text = dataset_readme(bare)
    assert text.startswith("# ?: ") and "sssle-bench ? from" in text
