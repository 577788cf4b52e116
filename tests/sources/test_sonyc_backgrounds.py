"""SONYC-Backgrounds loader, release facts and download."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sssle_bench.errors import SssleError
from sssle_bench.sources import sonyc_backgrounds, source_archive_facts


def test_release_facts_are_kept_in_metadata():
    facts = source_archive_facts()["sonyc_backgrounds"]
    assert facts["archive_bytes"] == 307_235_372
    assert facts["md5"] == "62f9f8549134afb1b831aae08eb19a4b"
    assert facts["splits"] == {"train": 330, "valid": 110, "test": 110}
    remote = sonyc_backgrounds.remote_metadata()
    assert remote.checksum == facts["md5"] and "5129078" in remote.url


def test_loader_reads_synthetic_split_folders(synthetic_home: Path):
    table, problems = sonyc_backgrounds.load_backgrounds(synthetic_home)
    assert problems == []
    assert list(table["split"]) == ["train"] * 2 + ["valid"] * 2 + ["test"] * 2
    assert (table["sample_rate"] == 48000).all() and (table["channels"] == 1).all()
    assert table.groupby("sensor")["split"].nunique().max() == 1
    assert all(sonyc_backgrounds.FILENAME_RE.match(Path(f).name) for f in table["file"])
    problems = sonyc_backgrounds.check_release(table)
    assert "split train: 2 clips, release has 330" in problems


def test_bad_name_is_reported(tmp_path: Path):
    for split in sonyc_backgrounds.SPLITS:
        (tmp_path / "SONYC-Backgrounds" / split).mkdir(parents=True)
    bad = tmp_path / "SONYC-Backgrounds" / "train" / "street.wav"
    sf.write(bad, np.zeros(4800), 48000)
    with pytest.raises(SssleError, match="street.wav: name does not match"):
        sonyc_backgrounds.load_backgrounds(tmp_path)
    table, problems = sonyc_backgrounds.load_backgrounds(tmp_path, skip_bad=True)
    assert table.empty and len(problems) == 1


def test_download_with_local_remote(synthetic_home: Path, tmp_path: Path, monkeypatch):
    from soundata.download_utils import RemoteFileMetadata

    archive = tmp_path / "SONYC-Backgrounds.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(synthetic_home / "SONYC-Backgrounds", arcname="SONYC-Backgrounds")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(
        sonyc_backgrounds,
        "remote_metadata",
        lambda: RemoteFileMetadata(
            filename="SONYC-Backgrounds.tar.gz", url=archive.as_uri(), checksum=md5
        ),
    )
    home = tmp_path / "home"
    problems = sonyc_backgrounds.download(home)
    table, _ = sonyc_backgrounds.load_backgrounds(home)
    assert len(table) == 6
    assert problems == [
        "split train: 2 clips, release has 330",
        "split valid: 2 clips, release has 110",
        "split test: 2 clips, release has 110",
    ]
    monkeypatch.setattr(
        sonyc_backgrounds,
        "remote_metadata",
        lambda: RemoteFileMetadata(
            filename="SONYC-Backgrounds.tar.gz", url=archive.as_uri(), checksum="f" * 32
        ),
    )
    with pytest.raises(SssleError, match="failed"):
        sonyc_backgrounds.download(tmp_path / "home2")
