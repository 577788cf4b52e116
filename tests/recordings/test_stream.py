"""Reading a recording clip by clip at another rate equals resampling it whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sssle_bench.audio import resample
from sssle_bench.errors import SssleError
from sssle_bench.levels import to_mono
from sssle_bench.recordings.stream import open_recording, read_span


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
def test_spans_equal_the_whole_file_resampled(tmp_path: Path, rate: int):
    x = np.random.default_rng(rate).uniform(-0.5, 0.5, (rate * 3 + 17, 2))
    path = tmp_path / "a.wav"
    sf.write(path, x, rate, subtype="FLOAT")
    rec = open_recording(path, 16000)
    whole = resample(to_mono(sf.read(path, always_2d=True)[0]), rate, 16000)
    assert rec.frames == whole.size
    n = rec.frames
    for start, stop in [(0, 5000), (1234, 40000), (30000, n), (40000, n + 500), (n - 3, n + 10)]:
        expected = np.zeros(stop - start)
        piece = whole[start:stop]
        expected[: piece.size] = piece
        np.testing.assert_allclose(read_span(rec, start, stop), expected, rtol=0, atol=1e-12)


def test_a_nan_sample_is_named_with_its_time(tmp_path: Path):
    x = np.zeros(32000)
    x[24000] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    rec = open_recording(tmp_path / "nan.wav", 16000)
    assert read_span(rec, 0, 16000).shape == (16000,)  # the first second is clean
    with pytest.raises(SssleError, match=r"nan.wav: a NaN or infinite sample at 1.500 s"):
        read_span(rec, 16000, 32000)
