"""``sssle-bench measure`` on recordings no dataset holds: long, odd rates, stereo,
clipped, silent, corrupt, empty, too short, NaN; calibration; resuming."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from sssle_bench.cli import main
from sssle_bench.estimators.weak_sep.shipped import checkpoint_dir
from sssle_bench.recordings.run import recording_names

MODEL = str(checkpoint_dir())


def _noise(seconds: float, rate: int, channels: int = 1, level: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(rate + channels)
    return rng.normal(0, level, (int(seconds * rate), channels))


def _measure(*args: str) -> tuple[int, str]:
    base = ["measure", "--method", "weak-sep", "--model", MODEL, "--condition", "none"]
    result = CliRunner().invoke(main, [*base, *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("recordings")
    sf.write(d / "Street Corner 44k stereo.wav", _noise(9.3, 44100, 2), 44100)
    sf.write(d / "odd.flac", _noise(8.0, 11025), 11025)
    sf.write(d / "clipped.wav", np.clip(_noise(8.0, 16000, level=2.0), -1, 1), 16000)
    sf.write(d / "silent.wav", np.zeros(16000 * 8), 16000)
    nan = _noise(8.0, 16000)
    nan[5000] = np.nan
    sf.write(d / "nan.wav", nan, 16000, subtype="FLOAT")
    sf.write(d / "short.wav", _noise(2.0, 16000), 16000)
    sf.write(d / "empty.wav", np.zeros((0, 1)), 16000)
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    return d


GOOD = ["Street Corner 44k stereo.wav", "odd.flac", "clipped.wav", "silent.wav"]
BAD = {
    "nan.wav": "NaN or infinite sample at 0.312 s",
    "short.wav": "shorter than one 4 s clip",
    "empty.wav": "",
    "corrupt.wav": "unreadable audio file",
}


def test_bad_recordings_get_one_line_each_and_the_others_are_measured(
    recordings: Path, tmp_path: Path
):
    paths = [str(recordings / n) for n in [*GOOD, *BAD]]
    code, output = _measure(*paths, "--out", str(tmp_path / "m"))
    assert code == 2 and output.rstrip().endswith("4 of 8 recordings were not measured")
    skipped = [line for line in output.splitlines() if "skipped: " in line]
    assert len(skipped) == 4
    for name, why in BAD.items():
        assert any(name in line and why in line for line in skipped), name
    summary = pd.read_csv(tmp_path / "m" / "summary.csv")
    assert summary["name"].unique().tolist() == [
        "street-corner-44k-stereo",
        "odd",
        "clipped",
        "silent",
    ]
    assert set(summary["source"]) == {
        "car_horn",
        "dog_bark",
        "gun_shot",
        "jackhammer",
        "siren",
        "mixture",
    }
    silent = summary[summary["name"] == "silent"].set_index("source")
    assert silent.loc["mixture", "laeq_dbfs"] == -np.inf
    clipped = summary[summary["name"] == "clipped"].set_index("source")
    assert clipped.loc["mixture", "laeq_dbfs"] > -3.0  # a clipped recording reads loud
    folder = tmp_path / "m" / "street-corner-44k-stereo"
    spans = pd.read_csv(folder / "intervals.csv")
    mix = spans[spans["source"] == "mixture"]
    assert len(mix) == 10 and mix["end_s"].iloc[-1] == pytest.approx(9.3)
    assert (folder / "levels.png").read_bytes()[:4] == b"\x89PNG"
    meta = json.loads((folder / "measure.json").read_text())
    assert meta["native_rate"] == 44100 and meta["channels"] == 2 and meta["rate"] == 16000


def test_calibration_turns_every_level_into_db_spl(recordings: Path, tmp_path: Path):
    path = str(recordings / "odd.flac")
    assert _measure(path, "--out", str(tmp_path / "fs"))[0] == 0
    assert _measure(path, "--out", str(tmp_path / "spl"), "--calibration-db", "94")[0] == 0
    fs = pd.read_csv(tmp_path / "fs" / "odd" / "intervals.csv")
    spl = pd.read_csv(tmp_path / "spl" / "odd" / "intervals.csv")
    assert "laeq_dbfs" in fs and "laeq_dbspl" in spl and "laeq_dbfs" not in spl
    np.testing.assert_allclose(spl["laeq_dbspl"], fs["laeq_dbfs"] + 94, atol=0.011)
    table = tmp_path / "cal.csv"
    table.write_text("recording,offset_db\nodd.flac,90.5\n")
    code, output = _measure(
        path,
        str(recordings / "clipped.wav"),
        "--out",
        str(tmp_path / "f"),
        "--calibration",
        str(table),
    )
    assert code == 2 and "no calibration offset for 'clipped.wav'" in output
    by_file = pd.read_csv(tmp_path / "f" / "odd" / "summary.csv")
    base = pd.read_csv(tmp_path / "fs" / "odd" / "summary.csv")
    np.testing.assert_allclose(by_file["lafmax_dbspl"], base["lafmax_dbfs"] + 90.5, atol=0.011)


def test_a_rerun_skips_what_was_measured_with_the_same_inputs(recordings: Path, tmp_path: Path):
    path, out = str(recordings / "odd.flac"), str(tmp_path / "m")
    assert _measure(path, "--out", out)[0] == 0
    before = (tmp_path / "m" / "odd" / "intervals.csv").read_bytes()
    code, output = _measure(path, "--out", out)
    assert code == 0 and "measured before with the same inputs" in output
    code, output = _measure(path, "--out", out, "--interval-s", "2")
    assert code == 0 and "measured before" not in output
    after = pd.read_csv(tmp_path / "m" / "odd" / "intervals.csv")
    assert len(after[after["source"] == "mixture"]) == 4
    assert before != (tmp_path / "m" / "odd" / "intervals.csv").read_bytes()


@pytest.mark.parametrize("command", ["measure", "audit"])
def test_a_model_with_several_conditions_needs_one_chosen(
    recordings: Path, tmp_path: Path, command: str
):
    args = [
        command,
        str(recordings / "odd.flac"),
        str(recordings / "clipped.wav"),
        "--method",
        "weak-sep",
        "--model",
        MODEL,
        "--out",
        str(tmp_path / "m"),
    ]
    if command == "audit":
        args += ["--events", str(recordings)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "choose one with --condition" in result.output
    assert not (tmp_path / "m").exists()


def test_recording_names_are_safe_and_distinct():
    paths = [Path("a/Kerb Side.WAV"), Path("b/kerb side.wav"), Path("../..wav"), Path("é.wav")]
    assert recording_names(paths) == ["kerb-side", "kerb-side-2", "recording", "recording-2"]


def test_a_long_recording_is_read_a_clip_at_a_time(
    toy_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Ten minutes at 22.05 kHz through a class-prior trained here (its marker records the
    toy world's 16 kHz and 4 s clips): no read is longer than a clip and the resampling
    filter's margin, every minute interval is there, and the class prior's constant
    stands for every interval (a method that does not listen)."""
    from sssle_bench.audio import read_audio
    from sssle_bench.recordings import stream

    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", 22050, 1, "PCM_16") as f:
        for _ in range(10):
            f.write(_noise(60.0, 22050))
    model = tmp_path / "cp"
    result = CliRunner().invoke(
        main, ["train", "class-prior", str(toy_dataset), "--out", str(model)]
    )
    assert result.exit_code == 0, result.output
    longest = []

    def spy(p, start=0, stop=None):
        longest.append(stop - start)
        return read_audio(p, start, stop)

    monkeypatch.setattr(stream, "read_audio", spy)
    args = [
        "measure",
        str(path),
        "--method",
        "class-prior",
        "--model",
        str(model),
        "--out",
        str(tmp_path / "m"),
        "--interval-s",
        "60",
        "--condition",
        "bg-20",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert len(longest) == 150 and max(longest) <= 4 * 22050 + 500  # filter margin, grid
    spans = pd.read_csv(tmp_path / "m" / "long" / "intervals.csv")
    mix = spans[spans["source"] == "mixture"]
    assert list(mix["start_s"]) == [60.0 * k for k in range(10)]
    meta = json.loads((tmp_path / "m" / "long" / "measure.json").read_text())
    assert meta["rate"] == 16000 and meta["clip_s"] == 4.0
    dog = spans[spans["source"] == "dog_bark"]["laeq_dbfs"]
    assert dog.nunique() == 1
