"""Plain Scaper as a client of our JAMS: the folders ``scaper.generate_from_jams`` needs.

Each mixture's JAMS stores ``fg_path = "foreground"`` and every event's
``source_file = "{label}/{clip file}"`` (the fold is not part of it). Scaper
rebuilds a source path as ``fg_path/{label}/{clip file}``, so it needs one
folder per label, not UrbanSound8K's ``audio/fold*/`` layout.
:func:`stage_scaper_folders` lays that out as symlinks into the data home::

    folders = stage_scaper_folders(DATASET, DATA_HOME, OUT)
    scaper.generate_from_jams(DATASET / "jams/test/test_000000.jams", "fg.wav",
                              fg_path=folders.foreground, bg_path=folders.background)

which renders the mixture's foreground: the ``none`` condition's mixture
within one 16-bit step, unless full-scale protection scaled that mixture
(its ``gain_db`` in ``mixtures/{split}.csv`` is then below 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..paths import make_dir
from ..recipe import load_recipe
from .runner import select_sources
from .scene import JAMS_BG_PATH, JAMS_FG_PATH, stage_clips


@dataclass(frozen=True)
class ScaperFolders:
    """Where to point Scaper: ``fg_path`` and ``bg_path`` of ``generate_from_jams``."""

    foreground: Path
    background: Path


def stage_scaper_folders(dataset: Path, data_home: Path, out: Path) -> ScaperFolders:
    """Stage every clip a dataset's recipe uses as ``out/foreground/{label}/{file}``.

    ``out/background`` is left empty (our JAMS hold no Scaper background event:
    backgrounds are mixed by sssle-bench). The recipe is the dataset's own
    ``recipe.toml``; clips come from ``data_home`` (symlinks, nothing copied).
    """
    recipe = load_recipe(Path(dataset) / "recipe.toml")
    sources = select_sources(recipe, data_home)
    clips = pd.concat(sources.clips.values())
    foreground = stage_clips(clips, recipe, Path(out), JAMS_FG_PATH)
    return ScaperFolders(foreground, make_dir(Path(out), JAMS_BG_PATH))
