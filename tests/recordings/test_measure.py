"""The stitching rule: which clip every step's level comes from, the energy means, the
last step cut by the end of the recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sssle_bench.errors import SssleError
from sssle_bench.estimators.base import Prediction
from sssle_bench.levels import interval_bounds, power_to_db, time_levels
from sssle_bench.recordings.measure import MIXTURE, MeasureSettings, make_grid, measure_recording
from sssle_bench.recordings.stream import open_recording

RATE = 1000


class Tagger:
    """Reports, for every step of every clip, a level that names the clip and the step:
    ``-(100 * clip + position)`` dB, and the clip's number as its LAFmax."""

    name = "tagger"

    def __init__(self, hop: int):
        self.hop = hop

    def predict_batch(self, audios, sr, infos):
        out = []
        for x, info in zip(audios, infos, strict=True):
            clip = int(info.mixture_id.split("@")[1]) // self.hop
            count = len(interval_bounds(x.size, sr, info.interval_s))
            tags = -(100.0 * clip + np.arange(count))
            out.append(Prediction({"tag": -1.0}, {"tag": -float(clip)}, {"tag": tags}))
        return out


def _recording(tmp_path: Path, seconds: float, amplitude=None) -> Path:
    n = int(seconds * RATE)
    x = np.random.default_rng(0).normal(0, 0.1, n)
    if amplitude is not None:
        x *= amplitude(np.arange(n) / RATE)
    path = tmp_path / "r.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    return path


def test_every_step_comes_from_the_clip_whose_centre_is_nearest(tmp_path: Path):
    """4 s clips, 2 s hop, 1 s steps, 10 s: clips start at 0, 2, 4, 6 s; the first clip
    gives steps 0-2, the last 7-9, the others their middle half."""
    rec = open_recording(_recording(tmp_path, 10), RATE)
    settings = MeasureSettings(interval_s=1.0, overlap=0.5, clip_s=4.0)
    levels = measure_recording(Tagger(2 * RATE), rec, settings)
    db = power_to_db(levels.power[:, 0])
    expected = [-0, -1, -2, -101, -102, -201, -202, -301, -302, -303]
    np.testing.assert_allclose(db, expected, atol=1e-9)
    assert levels.sources == ("tag", MIXTURE)
    assert levels.lafmax_db[0] == 0.0  # the maximum over the clips' (-0, -1, -2, -3)


def test_intervals_and_the_whole_are_energy_means_of_steps(tmp_path: Path):
    rec = open_recording(_recording(tmp_path, 10), RATE)
    settings = MeasureSettings(interval_s=2.0, overlap=0.5, clip_s=4.0)
    levels = measure_recording(Tagger(2 * RATE), rec, settings)
    grid = make_grid(settings, RATE)
    assert grid.step == 2 * RATE  # gcd(4 s, 2 s, 2 s)
    spans = levels.intervals(grid.step, 2 * RATE)
    tag = spans[spans["source"] == "tag"]
    # 2 s steps now: clip 0 gives steps 0 (0-2 s) and 1; clip 1 step 2 ... (tags by position)
    np.testing.assert_allclose(tag["laeq_db"], [0, -1, -101, -201, -301], atol=1e-9)
    four = levels.intervals(grid.step, 4 * RATE)
    four_tag = four[four["source"] == "tag"]["laeq_db"].to_numpy()
    expect = 10 * np.log10((10 ** (0 / 10) + 10 ** (-1 / 10)) / 2)
    assert four_tag[0] == pytest.approx(expect, abs=1e-9)
    whole = levels.summary().set_index("source").loc["tag", "laeq_db"]
    powers = 10 ** (np.array([0, -1, -101, -201, -301]) / 10)
    assert whole == pytest.approx(10 * np.log10(powers.mean()), abs=1e-9)


def test_the_mixture_row_is_the_recordings_own_level(tmp_path: Path):
    """Noise whose amplitude steps every second, 9.5 s long (the last step is cut by the
    end): the mixture's LAeq per second equals that of the whole recording measured at
    once, to 0.05 dB (the clips' own A-weighting differs only at their edges)."""
    path = _recording(tmp_path, 9.5, lambda t: 10 ** (-(np.floor(t) % 4) * 6 / 20))
    rec = open_recording(path, RATE)
    levels = measure_recording(Tagger(2 * RATE), rec, MeasureSettings(clip_s=4.0))
    spans = levels.intervals(RATE, RATE)
    mix = spans[spans["source"] == MIXTURE]
    truth = time_levels(sf.read(path)[0], RATE, 1.0)
    assert len(mix) == 10 and mix["end_s"].iloc[-1] == 9.5
    np.testing.assert_allclose(mix["laeq_db"], truth.laeq_db, atol=0.05)
    whole = levels.summary().set_index("source").loc[MIXTURE, "laeq_db"]
    assert whole == pytest.approx(truth.dbfs_a, abs=0.05)


def test_shorter_than_a_clip_and_impossible_grids_are_refused(tmp_path: Path):
    rec = open_recording(_recording(tmp_path, 3), RATE)
    with pytest.raises(SssleError, match="shorter than one 4 s clip"):
        measure_recording(Tagger(2 * RATE), rec, MeasureSettings(clip_s=4.0))
    with pytest.raises(SssleError, match="share no step"):
        make_grid(MeasureSettings(interval_s=0.0137, clip_s=4.0), 16000)
