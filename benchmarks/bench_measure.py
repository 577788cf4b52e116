"""Speed of ``sssle-bench measure``: a long recording through weak-sep's cpu preset.

    python benchmarks/bench_measure.py [--minutes 10] [--threads 2] [--overlap 0.5 0]

Writes a recording of ``--minutes`` of noise at 44.1 kHz in stereo (what a sensor's
WAV may be), builds a weak-sep model of the cpu preset with untrained weights (speed
does not depend on the weights) for the toy world's five classes, and measures the
recording with each ``--overlap`` (1 s intervals). Prints the wall time, the real-time
factor (recording seconds per wall second; issue 26's goal: >= 100 with the default
overlap on 2 cores) and the peak resident memory, and where the time goes: reading and
resampling, the method, the mixture's own levels.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--overlap", type=float, nargs="+", default=[0.5, 0.0])
    args = parser.parse_args()

    import torch

    from sssle_bench.estimators.weak_sep.estimator import WeakSep
    from sssle_bench.estimators.weak_sep.objective import Model
    from sssle_bench.recordings import measure as measure_module
    from sssle_bench.recordings import stream
    from sssle_bench.recordings.measure import MeasureSettings, measure_recording
    from sssle_bench.recordings.stream import open_recording

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    est = WeakSep(preset="cpu")
    est.classes = ["car_horn", "dog_bark", "gun_shot", "jackhammer", "siren"]
    model = Model(est.cfg, len(est.classes))
    model.separator.eval()
    model.classifier.eval()
    est.models = {"none": model}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        rate, seconds = 44100, args.minutes * 60
        with sf.SoundFile(path, "w", rate, 2, "PCM_16") as f:
            rng = np.random.default_rng(0)
            for _ in range(int(seconds // 60)):
                f.write(rng.normal(0, 0.05, (rate * 60, 2)))
        rec = open_recording(path, est.cfg.sample_rate)
        for overlap in args.overlap:
            spent = {"read": 0.0, "mixture": 0.0}

            def timed(fn, key, spent=spent):
                def wrapper(*a, **k):
                    t = time.perf_counter()
                    try:
                        return fn(*a, **k)
                    finally:
                        spent[key] += time.perf_counter() - t

                return wrapper

            read, levels = stream.read_span, measure_module.time_levels
            stream.read_span = timed(read, "read")
            measure_module.time_levels = timed(levels, "mixture")
            try:
                start = time.perf_counter()
                settings = MeasureSettings(interval_s=1.0, overlap=overlap, clip_s=4.0)
                measure_recording(est, rec, settings)
                wall = time.perf_counter() - start
            finally:
                stream.read_span, measure_module.time_levels = read, levels
            method = wall - spent["read"] - spent["mixture"]
            print(
                f"overlap {overlap:g}: {seconds:.0f} s of audio in {wall:.1f} s wall = "
                f"{seconds / wall:.0f}x real time ({args.threads} threads); read+resample "
                f"{spent['read']:.1f} s, method {method:.1f} s, mixture levels "
                f"{spent['mixture']:.1f} s"
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
