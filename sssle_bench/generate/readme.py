"""The README.md written into every generated dataset folder: what it is, its layout, how
to verify, regenerate and score it, and the licences of the source datasets.

It is written from the manifest alone and is not listed in it (like ``manifest.json``):
the dataset's identity and bytes are those of its listed files.
"""

from __future__ import annotations

from typing import Any

#: Licences of the real source datasets (docs/datasets.md).
LICENCES = {
    "UrbanSound8K": "Salamon, Jacoby and Bello, ACM Multimedia 2014; CC BY-NC 3.0 (no "
    "commercial use)",
    "SONYC-Backgrounds": "Cramer et al., Zenodo record 5129078 "
    "(https://doi.org/10.5281/zenodo.5129078); CC BY 4.0",
}


def dataset_readme(manifest: dict[str, Any]) -> str:
    """Markdown for a dataset folder, from its manifest (names are the manifest's own,
    which generation checked as safe names)."""
    splits = manifest["splits"]
    conditions = manifest["conditions"]
    options = manifest.get("options", {})
    sources = manifest.get("sources", {})
    counts = ", ".join(f"{name} {n}" for name, n in splits.items())
    lines = [
        f"# {manifest['recipe']}: an SSSLE dataset made by sssle-bench",
        "",
        f"Mixtures per split: {counts}, each in {len(conditions)} background conditions "
        f"({', '.join(conditions)}); classes: {', '.join(manifest['classes'])}. Generated "
        f"by sssle-bench {manifest['versions'].get('sssle-bench', '?')} from `recipe.toml` "
        f"(recipe hash `{manifest['recipe_hash'][:16]}...`)"
        + (f", first {options['limit']} mixtures per split" if options.get("limit") else "")
        + ".",
        "",
        "## Layout",
        "",
        "- `audio/{split}/{condition}/`: the mixtures, one file per mixture and condition;",
        "- `ground_truth/{split}.csv`: the level of every class in every mixture and "
        "condition (dBFS, A-weighted dBFS, LAFmax), computed from the written audio; "
        "`ground_truth/{split}_intervals.csv`: its LAeq per interval;",
        "- `mixtures/{split}.csv`, `events/{split}.csv`: each mixture's files and levels, "
        "each event's clip, onset and loudness;",
        "- `jams/{split}/`: the Scaper annotation of each mixture, from which it is rebuilt;",
    ]
    if options.get("save_sources"):
        lines.append(
            "- `sources/{split}/{condition}/`: each class's isolated track and the background "
            "track;"
        )
    lines += [
        "- `recipe.toml`: the resolved recipe; `manifest.json`: the sha256 of every file.",
        "",
        "Every column and file is described in sssle-bench's `docs/dataset-format.md`.",
        "",
        "## Use it",
        "",
        "```",
        "sssle-bench verify DIR --full             # every sha256; levels recomputed from audio",
        "sssle-bench regenerate DIR --data-home H  # rebuild every file from the JAMS, compare",
        "sssle-bench score PRED.csv --truth DIR    # score predictions of the test split",
        "```",
        "",
        "## Source data and licences",
        "",
    ]
    for name, facts in sources.items():
        licence = LICENCES.get(name, "see its own terms")
        files = facts.get("files", "?")
        lines.append(f"- {name} ({files} files in the pool the recipe draws from): {licence}.")
    lines += [
        "",
        "The mixtures are derived works of these recordings and carry their terms. A "
        "dataset generated from the synthetic stand-ins (`sssle-bench "
        "make-synthetic-sources`) holds no third-party audio: the names above are then "
        "only the layouts the stand-ins imitate.",
        "",
    ]
    return "\n".join(lines)
