"""Plain Scaper as a client: the documented generate_from_jams call renders our JAMS."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from click.testing import CliRunner

from sssle_bench._compat import import_scaper
from sssle_bench.cli import main

ONE_16_BIT_STEP = 1 / 32768


def test_plain_scaper_renders_the_none_mixture_from_our_jams(
    toy_dataset: Path, synthetic_home: Path, tmp_path: Path
):
    out = tmp_path / "scaper"
    staged = CliRunner().invoke(
        main,
        ["scaper-folders", str(toy_dataset), "--data-home", str(synthetic_home), "--out", str(out)],
    )
    assert staged.exit_code == 0, staged.output
    assert f"fg_path={str(out / 'foreground')!r}" in staged.output
    scaper = import_scaper()  # plain Scaper 1.6.5; the shim only restores np.Inf for NumPy 2
    mixtures = pd.read_csv(toy_dataset / "mixtures" / "test.csv")
    unprotected = mixtures[(mixtures["condition"] == "none") & (mixtures["gain_db"] == 0.0)]
    assert len(unprotected) >= 2
    for row in unprotected.itertuples():
        wav = tmp_path / f"{row.mixture_id}.wav"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scaper.generate_from_jams(
                str(toy_dataset / "jams" / "test" / f"{row.mixture_id}.jams"),
                str(wav),
                fg_path=str(out / "foreground"),
                bg_path=str(out / "background"),
            )
        theirs, sr = sf.read(wav, always_2d=True)
        ours, our_sr = sf.read(toy_dataset / row.audio_path, always_2d=True)
        assert sr == our_sr and theirs.shape == ours.shape
        assert np.max(np.abs(theirs - ours)) <= ONE_16_BIT_STEP + 1e-12


def test_scaper_folders_hold_every_clip_of_the_recipe_by_label(
    toy_dataset: Path, synthetic_home: Path, tmp_path: Path
):
    from sssle_bench.generate.scaper_folders import stage_scaper_folders

    folders = stage_scaper_folders(toy_dataset, synthetic_home, tmp_path / "s")
    events = pd.concat(pd.read_csv(p) for p in (toy_dataset / "events").glob("*.csv"))
    for label, source in zip(events["class"], events["source_file"], strict=True):
        link = folders.foreground / label / Path(source).name
        assert link.is_symlink() and link.resolve() == (synthetic_home / source).resolve()
    assert list(folders.background.iterdir()) == []
