"""metrics.py against a deliberately simple reference scorer (plain loops over rows, no
vectorisation, no float32) on random submissions; and one frozen score.json of a fixed
small case, so that any change to a metric shows as a diff."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sssle_bench.metrics import ScoreSettings, score

FIGURES = ("mae_present_db", "median_present_db", "p90_present_db", "bias_db", "mae_all_db",
           "precision", "recall", "f1")  # fmt: skip


def _quantile(values: list[float], q: float) -> float | None:
    """numpy's default (linear) quantile, by hand."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def reference_figures(rows: list[dict], s: ScoreSettings) -> dict[str, float | None]:
    """Every figure of one group of rows (``present``, ``true``, ``pred``), one row at a
    time: levels below the floor (and absent truths) count at the floor; a prediction
    above the presence threshold is a detection."""
    errors, signed, all_errors = [], [], []
    tp = fp = fn = 0
    for r in rows:
        pred = max(r["pred"], s.floor_db)
        true = max(r["true"], s.floor_db) if r["present"] else s.floor_db
        if r["present"] and math.isnan(r["true"]):
            true = s.floor_db
        all_errors.append(abs(pred - true))
        detected = r["pred"] > s.presence_threshold_db
        if r["present"]:
            errors.append(abs(pred - true))
            signed.append(pred - true)
            tp += detected
            fn += not detected
        else:
            fp += detected
    return {
        "mae_present_db": _ratio(sum(errors), len(errors)),
        "median_present_db": _quantile(errors, 0.5),
        "p90_present_db": _quantile(errors, 0.9),
        "bias_db": _ratio(sum(signed), len(signed)),
        "mae_all_db": _ratio(sum(all_errors), len(all_errors)),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def reference_score(rows: list[dict], s: ScoreSettings) -> dict[str, dict[str, dict]]:
    """Overall, per condition and per class, as plain dicts of figures."""
    out: dict[str, dict[str, dict]] = {"overall": {"all": reference_figures(rows, s)}}
    for key, column in (("by_condition", "condition"), ("by_class", "class")):
        names = list(dict.fromkeys(r[column] for r in rows))
        out[key] = {n: reference_figures([r for r in rows if r[column] == n], s) for n in names}
    return out


LEVEL = st.floats(-110.0, 0.0, allow_nan=False)
PRED = st.one_of(LEVEL, st.just(-math.inf))


@st.composite
def submissions(draw):
    """A random ground truth (mixtures x conditions x classes, presence and levels) and a
    prediction per row (absent predictions included)."""
    n_mix = draw(st.integers(1, 6))
    conditions = draw(st.sampled_from([["none"], ["none", "bg-20"], ["bg0", "none", "bg-50"]]))
    classes = draw(st.sampled_from([["a"], ["a", "b"], ["dog", "car", "saw"]]))
    rows = []
    for m in range(n_mix):
        for c in conditions:
            for k in classes:
                present = draw(st.booleans())
                rows.append(
                    {
                        "mixture_id": f"m{m}",
                        "condition": c,
                        "class": k,
                        "present": present,
                        "true": draw(LEVEL) if present else math.nan,
                        "pred": draw(PRED),
                    }
                )
    floor = draw(st.sampled_from([-100.0, -80.0]))
    threshold = draw(st.sampled_from([-60.0, -40.0]))
    return rows, ScoreSettings(floor_db=floor, presence_threshold_db=threshold, bootstrap=0)


def frames(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    truth = pd.DataFrame(
        {
            "mixture_id": [r["mixture_id"] for r in rows],
            "condition": [r["condition"] for r in rows],
            "class": [r["class"] for r in rows],
            "present": [int(r["present"]) for r in rows],
            "level_dbfs_a": [r["true"] for r in rows],
            "level_dbfs": [r["true"] for r in rows],
        }
    )
    return truth, pd.DataFrame({"level_db": [r["pred"] for r in rows]})


@settings(max_examples=150, deadline=None)
@given(submissions())
def test_metrics_equal_the_reference_scorer_on_random_submissions(case):
    rows, s = case
    got = score(*frames(rows), s)
    want = reference_score(rows, s)
    for key, groups in want.items():
        assert list(got[key]) == list(groups), key
        for name, figures in groups.items():
            for fig in FIGURES:
                value = got[key][name][fig]["value"]
                expected = figures[fig]
                if expected is None:
                    assert value is None, (key, name, fig)
                else:
                    # metrics.py sums per-pair statistics in float32
                    assert value == pytest.approx(expected, rel=1e-5, abs=2e-4), (key, name, fig)


#: A fixed small case: 4 mixtures x 2 conditions x 3 classes with hand-picked levels.
FROZEN_ROWS = [
    {"mixture_id": f"m{m}", "condition": c, "class": k, "present": (m + i + j) % 3 != 0,
     "true": -20.0 - 7.0 * m - 3.0 * i - 5.0 * j if (m + i + j) % 3 != 0 else math.nan,
     "pred": [-18.5, -math.inf, -70.0, -33.25, -41.0, -26.0][(m + 2 * i + j) % 6] - m}
    for m in range(4) for i, c in enumerate(["none", "bg-20"])
    for j, k in enumerate(["dog", "car", "saw"])
]  # fmt: skip
FROZEN = Path(__file__).parent / "data" / "frozen_score.json"


def test_a_frozen_score_document_is_unchanged():
    """Every figure and 95% CI (1000 resamples, seed 0) of a fixed case, as committed in
    tests/data/frozen_score.json: a change to any metric, to the bootstrap or to the
    document's layout shows as a diff. Regenerate it only for an intended change
    (``SSSLE_FREEZE=1 pytest tests/test_metrics_reference.py``) and say why."""
    import os

    doc = score(*frames(FROZEN_ROWS), ScoreSettings(bootstrap=1000, seed=0))
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    if os.environ.get("SSSLE_FREEZE") == "1":
        FROZEN.parent.mkdir(exist_ok=True)
        FROZEN.write_text(text)
    frozen = json.loads(FROZEN.read_text())

    def close(a, b, where: str) -> None:
        if isinstance(a, dict):
            assert sorted(a) == sorted(b), where
            for k in a:
                close(a[k], b[k], f"{where}.{k}")
        elif isinstance(a, float) and isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-9), where
        else:
            assert a == b, where

    close(json.loads(text), frozen, "score")


def test_confidence_intervals_equal_an_exact_bootstrap_by_the_reference_scorer():
    """Every figure's 95% CI of every group: the reference scorer applied to each resample
    (the rows of each mixture repeated as often as the resample draws it, the draws being
    metrics.py's own), then percentiles. Mean-type figures to float32 sums, median and
    p90 to their histogram bins (0.02 dB below 30 dB, 0.5 above)."""
    import numpy as np

    from .conftest import score_draws

    rng = np.random.default_rng(11)
    n_mix, n_res, seed = 30, 120, 4
    rows = []
    for m in range(n_mix):
        for c in ["none", "bg-20"]:
            for k in ["dog", "car", "saw"]:
                present = bool(rng.random() < 0.6)
                true = float(rng.uniform(-70, -20)) if present else math.nan
                if rng.random() < 0.15:
                    pred = -math.inf
                elif present:
                    pred = true + float(rng.normal(0, 4))
                else:
                    pred = float(rng.uniform(-90, -40))
                rows.append({"mixture_id": f"m{m:02d}", "condition": c, "class": k,
                             "present": present, "true": true, "pred": pred})  # fmt: skip
    s = ScoreSettings(bootstrap=n_res, seed=seed)
    got = score(*frames(rows), s)
    w = score_draws(seed, n_mix, n_res)
    resampled = [
        reference_score([r for r in rows for _ in range(int(w[i][int(r["mixture_id"][1:])]))], s)
        for i in range(n_res)
    ]
    checked = 0
    for key, groups in resampled[0].items():
        for name in groups:
            for fig in FIGURES:
                sample = [d[key][name][fig] for d in resampled if d[key].get(name)]
                sample = [v for v in sample if v is not None]
                lo, hi = np.quantile(sample, [0.025, 0.975])
                ci = got[key][name][fig]
                if fig in ("median_present_db", "p90_present_db"):
                    tol = 0.5 if hi >= 29.9 else 0.02
                else:
                    tol = 1e-4
                assert abs(ci["ci_low"] - lo) <= tol, (key, name, fig, ci, lo)
                assert abs(ci["ci_high"] - hi) <= tol, (key, name, fig, ci, hi)
                checked += 1
    assert checked == (1 + 2 + 3) * len(FIGURES)
