"""UrbanSound8K loader: real layout, synthetic stand-in, bad input, download."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from sssle_bench.errors import SssleError
from sssle_bench.sources import urbansound8k

#: Three rows as they appear in the official UrbanSound8K.csv.
REAL_ROWS = """slice_file_name,fsID,start,end,salience,fold,classID,class
100032-3-0-0.wav,100032,0.0,0.317551,1,5,3,dog_bark
100263-2-0-117.wav,100263,58.5,62.5,1,5,2,children_playing
102305-6-0-0.wav,102305,0.0,2.61,1,1,6,gun_shot
"""


def make_real_layout(home: Path) -> Path:
    """A three-clip copy in the official layout, as the real archive unpacks."""
    root = home / "UrbanSound8K"
    (root / "metadata").mkdir(parents=True)
    (root / "metadata" / "UrbanSound8K.csv").write_text(REAL_ROWS)
    for name, fold, dur, sr in [
        ("100032-3-0-0.wav", 5, 0.317551, 44100),
        ("100263-2-0-117.wav", 5, 4.0, 44100),
        ("102305-6-0-0.wav", 1, 2.61, 48000),
    ]:
        (root / "audio" / f"fold{fold}").mkdir(parents=True, exist_ok=True)
        sf.write(root / "audio" / f"fold{fold}" / name, np.full((int(dur * sr), 2), 0.1), sr)
    return home


def test_loader_reads_real_layout(tmp_path: Path):
    clips, problems = urbansound8k.load_clips(make_real_layout(tmp_path))
    assert problems == []
    assert list(clips["clip_id"]) == ["102305-6-0-0", "100032-3-0-0", "100263-2-0-117"]
    first = clips.iloc[0]
    assert (first["class"], first["fold"], first["salience"], first["sample_rate"]) == (
        "gun_shot",
        1,
        1,
        48000,
    )
    assert first["duration_s"] == pytest.approx(2.61, abs=1e-4)
    assert first["channels"] == 2


def test_synthetic_layout_equals_real_layout(synthetic_home: Path, tmp_path: Path):
    real, _ = urbansound8k.load_clips(make_real_layout(tmp_path))
    synth, _ = urbansound8k.load_clips(synthetic_home)
    assert list(synth.columns) == list(real.columns)
    assert list(synth.dtypes) == list(real.dtypes)
    csv = pd.read_csv(urbansound8k.metadata_csv(synthetic_home))
    assert tuple(csv.columns) == urbansound8k.CSV_COLUMNS
    folds = sorted(p.name for p in (synthetic_home / "UrbanSound8K" / "audio").iterdir())
    assert folds == sorted(f"fold{i}" for i in range(1, 11))
    pattern = re.compile(r"^(\d+)-(\d)-(\d+)-(\d+)\.wav$")
    for row in csv.itertuples():
        m = pattern.match(row.slice_file_name)
        assert m and int(m[1]) == row.fsID and int(m[2]) == row.classID
    assert set(synth["class"]) == set(pd.read_csv(urbansound8k.metadata_csv(tmp_path))["class"]) | {
        "air_conditioner",
        "car_horn",
        "drilling",
        "engine_idling",
        "jackhammer",
        "siren",
        "street_music",
    }
    assert set(synth["sample_rate"]) == {16000, 22050, 44100, 48000}
    assert set(synth["channels"]) == {1, 2}
    assert set(synth["salience"]) == {1, 2}
    assert synth["duration_s"].min() >= 0.3 - 1e-3 and synth["duration_s"].max() <= 4.0
    # Every (fold, class) has a salience-1 clip, so any fold split feeds every class.
    fg = synth[synth["salience"] == 1]
    assert fg.groupby("fold")["class"].nunique().eq(10).all()


def test_missing_folder_is_named(tmp_path: Path):
    with pytest.raises(SssleError, match=r"UrbanSound8K not found: .*UrbanSound8K is missing"):
        urbansound8k.load_clips(tmp_path)


@pytest.mark.parametrize("damage", ["missing", "empty", "garbage"])
def test_bad_file_is_named_or_skipped(tmp_path: Path, damage: str):
    home = make_real_layout(tmp_path)
    bad = home / "UrbanSound8K" / "audio" / "fold5" / "100032-3-0-0.wav"
    if damage == "missing":
        bad.unlink()
    elif damage == "empty":
        sf.write(bad, np.zeros((0, 1)), 16000)
    else:
        bad.write_bytes(b"not a wav file at all")
    with pytest.raises(SssleError, match=re.escape(str(bad))):
        urbansound8k.load_clips(home)
    clips, problems = urbansound8k.load_clips(home, skip_bad=True)
    assert len(clips) == 2 and len(problems) == 1 and str(bad) in problems[0]


def test_download_uses_soundata_remote_and_validates(tmp_path: Path, monkeypatch):
    """The real download path, with soundata's remote pointed at a local archive."""
    from soundata import core, download_utils
    from soundata.datasets import urbansound8k as sd_us8k

    src = make_real_layout(tmp_path / "src")
    archive = tmp_path / "remote" / "UrbanSound8K.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "UrbanSound8K", arcname="UrbanSound8K")
    clips = {}
    for wav in sorted((src / "UrbanSound8K" / "audio").rglob("*.wav")):
        rel = wav.relative_to(src / "UrbanSound8K").as_posix()
        clips[wav.stem] = {"audio": [rel, hashlib.md5(wav.read_bytes()).hexdigest()]}
    index_file = tmp_path / "remote" / "index.json"
    index_file.write_text(json.dumps({"version": "test", "clips": clips}))

    def md5(p: Path) -> str:
        return hashlib.md5(p.read_bytes()).hexdigest()

    index = core.Index(filename="index.json", url=index_file.as_uri(), checksum=md5(index_file))
    index.indexes_dir = str(tmp_path / "indexes")
    index.remote = download_utils.RemoteFileMetadata(
        filename="index.json",
        url=index_file.as_uri(),
        checksum=md5(index_file),
        destination_dir=index.indexes_dir,
    )
    monkeypatch.setitem(sd_us8k.INDEXES, "1.0", index)
    monkeypatch.setitem(
        sd_us8k.REMOTES,
        "all",
        download_utils.RemoteFileMetadata(
            filename="UrbanSound8K.tar.gz",
            url=archive.as_uri(),
            checksum=md5(archive),
            unpack_directories=["UrbanSound8K"],
        ),
    )

    home = tmp_path / "home"
    urbansound8k.download(home)
    loaded, _ = urbansound8k.load_clips(home)
    assert len(loaded) == 3

    # A corrupted file fails soundata's checksum validation, naming the clip.
    target = home / "UrbanSound8K" / "audio" / "fold1" / "102305-6-0-0.wav"
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(SssleError, match="bad checksum: 102305-6-0-0"):
        urbansound8k.download(home)

    # A wrong archive checksum is refused by soundata's downloader.
    monkeypatch.setitem(
        sd_us8k.REMOTES,
        "all",
        download_utils.RemoteFileMetadata(
            filename="UrbanSound8K.tar.gz",
            url=archive.as_uri(),
            checksum="0" * 32,
            unpack_directories=["UrbanSound8K"],
        ),
    )
    with pytest.raises(SssleError, match="download into .* failed"):
        urbansound8k.download(tmp_path / "other")
