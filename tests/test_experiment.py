"""Experiments as a command: every variant trained, judged on the test split, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sssle_bench.cli import main
from sssle_bench.errors import SssleError
from sssle_bench.experiment import check_configs, load_experiment, parse_experiment

from .conftest import REPO

TINY = {"preset": "cpu", "epochs": 1, "classifier_epochs": 1, "batch_size": 4}


def _write(path: Path, dataset: Path, variants: dict[str, str]) -> Path:
    lines = [
        'name = "two"',
        'method = "weak-sep"',
        "[dataset]",
        f'path = "{dataset}"',
        "[base]",
        *(f"{k} = {json.dumps(v)}" for k, v in TINY.items()),
        *[f"[variants.{name}]\n{body}" for name, body in variants.items()],
        "[figures]",
        f"pair = {json.dumps(list(variants))}",
        "[score]",
        "bootstrap = 50",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


VARIANTS = {
    "plain": "energy_resolutions = []\nuse_margin = false\nbackground_classification = false",
    "both": "use_margin = true\nbackground_classification = true",
}


def test_an_experiment_trains_scores_and_resumes(toy_dataset: Path, tmp_path: Path):
    spec = _write(tmp_path / "e.toml", toy_dataset, VARIANTS)
    out = tmp_path / "run"
    first = CliRunner().invoke(main, ["experiment", str(spec), "--out", str(out), "--jobs", "1"])
    assert first.exit_code == 0, first.output
    board = pd.read_csv(out / "leaderboard" / "leaderboard.csv")
    assert sorted(board["method"]) == ["both", "plain"]
    # judged on the held-out test split
    score = json.loads((out / "leaderboard" / "scores" / "both.json").read_text())
    assert score["truth"]["split"] == "test"
    assert (out / "figures" / "pair.png").read_bytes()[:4] == b"\x89PNG"
    summary = (out / "summary.md").read_text()
    assert (
        summary.splitlines()[0] == "| variant | " + " | ".join(score["by_condition"]) + " | all |"
    )
    both = score["by_condition"]["bg-20"]["mae_present_db"]
    assert f"| {both['value']:.2f} [{both['ci_low']:.2f}, {both['ci_high']:.2f}] |" in summary
    stamp = (out / "models" / "both" / "model.pt").stat().st_mtime_ns
    again = CliRunner().invoke(main, ["experiment", str(spec), "--out", str(out), "--jobs", "1"])
    assert again.exit_code == 0, again.output
    assert "both: trained" in again.output and "training" not in again.output
    assert (out / "models" / "both" / "model.pt").stat().st_mtime_ns == stamp
    # An edited variant is never silently served by its old model.
    _write(spec, toy_dataset, {**VARIANTS, "both": VARIANTS["both"] + "\nepochs = 2"})
    edited = CliRunner().invoke(main, ["experiment", str(spec), "--out", str(out)])
    assert edited.exit_code == 2 and "trained with another config" in edited.output


def test_parallel_variants_share_one_classifier_and_match_a_serial_run(
    toy_dataset: Path, tmp_path: Path
):
    variants = {**VARIANTS, "res1": 'energy_resolutions = [["mel", "clip"]]'}
    spec = _write(tmp_path / "e.toml", toy_dataset, variants)
    runs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        result = CliRunner().invoke(
            main, ["experiment", str(spec), "--out", str(out), "--jobs", jobs]
        )
        assert result.exit_code == 0, result.output
        # the classifier does not depend on the separator settings: trained once, shared
        assert len(list((out / "cache").glob("classifier-*.pt"))) == 1
        runs[jobs] = {
            v: (out / "submissions" / v / "predictions.csv").read_bytes() for v in variants
        }
    assert runs["1"] == runs["2"]
    assert len(set(runs["1"].values())) == 3  # three variants, three models


def test_shipped_experiments_are_valid():
    for name in ("synth-ablation", "waspaa2021"):
        experiment = load_experiment(REPO / "experiments" / f"{name}.toml")
        check_configs(experiment)
        assert {"pishdadian2020", "energy", "background", "both"} <= set(experiment.variants)
        assert set(experiment.figures) == {
            "baseline-comparison",
            "resolution-ablation",
            "background-ablation",
        }
    synth = load_experiment(REPO / "experiments" / "synth-ablation.toml")
    assert synth.recipe == (REPO / "recipes" / "synth-medium.toml").resolve()
    assert synth.synthetic == "medium"


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda r: r["variants"].update({"../x": {}}), "variant name '../x'"),
        (lambda r: r.update({"name": "/abs"}), "name '/abs'"),
        (lambda r: r["figures"].update({"f": ["nope"]}), "figures.f must list variants"),
        (lambda r: r.update({"extra": 1}), "unknown key(s) extra"),
        (lambda r: r["dataset"].update({"recipe": "r.toml"}), "exactly one of path"),
        (lambda r: r["variants"]["a"].update({"epochs": "x"}), "variant 'a'"),
    ],
)
def test_bad_experiment_files_are_one_clear_error(toy_dataset: Path, edit, needle: str):
    raw = {
        "name": "e",
        "dataset": {"path": str(toy_dataset)},
        "base": dict(TINY),
        "variants": {"a": {}},
        "figures": {},
    }
    edit(raw)
    with pytest.raises(SssleError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        check_configs(parse_experiment(raw, Path(".")))
