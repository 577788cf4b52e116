"""Experiments as a command: every variant trained, judged on the test split, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sssle_bench.cli import main
from sssle_bench.errors import SssleError
from sssle_bench.estimators import estimator_class
from sssle_bench.experiment import (
    check_configs,
    load_experiment,
    parse_experiment,
    variant_config,
)

from .conftest import REPO

TINY = {"preset": "cpu", "epochs": 1, "classifier_epochs": 1, "batch_size": 4, "unet_channels": 4}


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
    status = CliRunner().invoke(main, ["experiment", "status", str(out)])
    assert status.exit_code == 0, status.output
    assert "not running" in status.output and "2 variants: 2 scored" in status.output
    row = next(line for line in status.output.splitlines() if line.startswith("| both |"))
    done = ", ".join(f"{c} 1/1, best 1 done" for c in score["by_condition"])
    assert row.startswith(f"| both | scored | {done} | ")
    stamp = (out / "models" / "both" / "model.pt").stat().st_mtime_ns
    again = CliRunner().invoke(main, ["experiment", str(spec), "--out", str(out), "--jobs", "1"])
    assert again.exit_code == 0, again.output
    assert "both: trained" in again.output and "training" not in again.output
    assert (out / "models" / "both" / "model.pt").stat().st_mtime_ns == stamp
    # An edited variant is never silently served by its old model.
    _write(spec, toy_dataset, {**VARIANTS, "both": VARIANTS["both"] + "\nepochs = 2"})
    edited = CliRunner().invoke(main, ["experiment", str(spec), "--out", str(out)])
    assert edited.exit_code == 2 and "trained with another config" in edited.output


def test_an_experiment_stopped_inside_a_variant_resumes_to_the_same_model(
    toy_dataset: Path, tmp_path: Path, monkeypatch
):
    """Stopped after a variant's first epoch (its checkpoint written), the same command
    continues from that epoch; the predictions are those of an uninterrupted run. While
    stopped, `experiment status` shows where it stands."""
    import sssle_bench.estimators.weak_sep.train as weak_train

    spec = _write(
        tmp_path / "e.toml",
        toy_dataset,
        {"only": 'epochs = 2\nconditions = ["none"]\nwarm_start = ""'},
    )
    args = ["experiment", str(spec), "--jobs", "1", "--out"]
    whole = CliRunner().invoke(main, [*args, str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    real = weak_train.write_progress

    def stop_after_the_first_epoch(folder, progress):
        real(folder, progress)
        raise KeyboardInterrupt

    monkeypatch.setattr(weak_train, "write_progress", stop_after_the_first_epoch)
    out = tmp_path / "stopped"
    stopped = CliRunner().invoke(main, [*args, str(out)])
    assert stopped.exit_code == 130 and "rerun the same command" in stopped.output
    status = CliRunner().invoke(main, ["experiment", "status", str(out)])
    assert "1 variant: 0 scored, 0 trained, 0 training, 1 stopped, 0 waiting" in status.output
    assert "| only | stopped | none 1/2, best 1 |" in status.output
    assert "not running" in status.output
    monkeypatch.setattr(weak_train, "write_progress", real)
    resumed = CliRunner().invoke(main, [*args, str(out)])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming from" in resumed.output
    csv = Path("submissions", "only", "predictions.csv")
    assert (out / csv).read_bytes() == (tmp_path / "whole" / csv).read_bytes()


def test_variants_trained_for_some_conditions_are_predicted_and_judged_on_those(
    toy_dataset: Path, tmp_path: Path
):
    """Models of two of the four conditions: the predictions hold those conditions' rows
    (weak-sep has no model to choose for the others) and the leaderboard judges those."""
    spec = _write(
        tmp_path / "e.toml",
        toy_dataset,
        {"sub": 'conditions = ["none", "bg-20"]\nuse_margin = true'},
    )
    out = tmp_path / "run"
    run = CliRunner().invoke(main, ["experiment", str(spec), "--out", str(out), "--jobs", "1"])
    assert run.exit_code == 0, run.output
    predictions = pd.read_csv(out / "submissions" / "sub" / "predictions.csv")
    assert sorted(predictions["condition"].unique()) == ["bg-20", "none"]
    score = json.loads((out / "leaderboard" / "scores" / "sub.json").read_text())
    assert sorted(score["by_condition"]) == ["bg-20", "none"]
    assert score["truth"]["conditions"] == ["none", "bg-20"]
    truth = pd.read_csv(toy_dataset / "ground_truth" / "test.csv")
    judged = truth[truth["condition"].isin(["none", "bg-20"]) & (truth["present"] == 1)]
    assert score["overall"]["all"]["n_present"] == len(judged)


def test_variants_training_different_conditions_are_refused_before_training(
    toy_dataset: Path, tmp_path: Path
):
    spec = _write(
        tmp_path / "e.toml",
        toy_dataset,
        {"a": 'conditions = ["none"]', "b": 'conditions = ["none", "bg-20"]'},
    )
    out = tmp_path / "run"
    run = CliRunner().invoke(main, ["experiment", str(spec), "--out", str(out), "--jobs", "1"])
    assert run.exit_code == 2 and run.output.startswith("error:")
    assert "variants train different conditions (none; none, bg-20)" in run.output
    assert len(run.output.strip().splitlines()) == 1
    assert not (out / "models").exists()


def test_variants_run_as_separate_jobs_then_one_leaderboard(toy_dataset: Path, tmp_path: Path):
    """``--variant`` trains and predicts one variant into a shared folder (a cluster job
    each); the leaderboard comes once every variant has its predictions, and is the one a
    single run builds."""
    spec = _write(tmp_path / "e.toml", toy_dataset, VARIANTS)
    out = tmp_path / "run"
    args = ["experiment", str(spec), "--out", str(out), "--jobs", "1", "--variant"]
    first = CliRunner().invoke(main, [*args, "plain"])
    assert first.exit_code == 0, first.output
    assert "leaderboard: waiting for both" in first.output
    assert not (out / "models" / "both").exists() and not (out / "leaderboard").exists()
    assert not list(out.glob("running*.json"))  # its marker went with it
    stamp = (out / "models" / "plain" / "model.pt").stat().st_mtime_ns
    second = CliRunner().invoke(main, [*args, "both"])
    assert second.exit_code == 0, second.output
    assert (out / "models" / "plain" / "model.pt").stat().st_mtime_ns == stamp  # left alone
    board = pd.read_csv(out / "leaderboard" / "leaderboard.csv")
    whole = tmp_path / "whole"
    single = CliRunner().invoke(main, ["experiment", str(spec), "--out", str(whole)])
    assert single.exit_code == 0, single.output
    assert board.equals(pd.read_csv(whole / "leaderboard" / "leaderboard.csv"))
    wrong = CliRunner().invoke(main, [*args, "nope"])
    assert wrong.exit_code == 2
    assert wrong.output.strip() == "error: no variant 'nope' in two: its variants are plain, both"


def test_status_says_whether_the_run_is_alive(tmp_path: Path):
    import os

    from sssle_bench.experiment import PLAN, RUNNING, experiment_status

    plan = {"name": "x", "method": "weak-sep", "variants": {"a": {"conditions": ["none"]}}}
    (tmp_path / PLAN).write_text(json.dumps(plan))
    host = __import__("socket").gethostname()
    (tmp_path / RUNNING).write_text(json.dumps({"pid": os.getpid(), "host": host}))
    assert experiment_status(tmp_path)[1] == f"running (process {os.getpid()})"
    (tmp_path / RUNNING).write_text(json.dumps({"pid": 2**22 + 12345, "host": host}))
    assert experiment_status(tmp_path)[1].startswith("not running")
    (tmp_path / RUNNING).write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    assert "another machine" in experiment_status(tmp_path)[1]
    # a --variant job's own marker: alive if any job is
    (tmp_path / "running-a.json").write_text(json.dumps({"pid": os.getpid(), "host": host}))
    assert experiment_status(tmp_path)[1] == f"running (process {os.getpid()})"
    # a plan is a stranger's file: its names are checked before they become paths
    plan["variants"] = {"../up": {"conditions": ["none"]}}
    (tmp_path / PLAN).write_text(json.dumps(plan))
    with pytest.raises(SssleError, match="not a safe name"):
        experiment_status(tmp_path)


def test_status_estimates_time_left_from_models_on_as_many_mixtures(tmp_path: Path):
    """A learning curve's sizes train at different speeds: a waiting variant's epochs are
    timed by the models on as many mixtures, else per training mixture of the others."""
    import os
    import socket

    from sssle_bench.estimators.progress import TrainingProgress, write_progress
    from sssle_bench.experiment import PLAN, experiment_status

    def spec(mixtures: int | None, epochs: int) -> dict:
        return {"conditions": ["none"], "epochs": epochs, "mixtures": mixtures}

    plan = {
        "name": "curve",
        "method": "weak-sep",
        "variants": {"a": spec(100, 10), "b": spec(300, 10), "c": spec(100, 4), "d": spec(None, 2)},
    }
    (tmp_path / PLAN).write_text(json.dumps(plan))
    write_progress(
        tmp_path / "models" / "a" / "conditions" / "none",
        TrainingProgress(3, 10, 3, 0, 5, (10.0, 12.0, 11.0)),
    )
    marker = {"pid": os.getpid(), "host": socket.gethostname()}
    (tmp_path / "running-c.json").write_text(json.dumps(marker))
    _, _, statuses = experiment_status(tmp_path)
    got = {v.variant: (v.state, v.seconds_left) for v in statuses}
    assert got["a"] == ("stopped", pytest.approx(7 * 11.0))  # its own median epoch
    # "training" only while a process that may train it lives: its own job's marker, one
    # that lists it, the whole run's, or one that cannot be checked from here
    for name, blob in (
        ("running-a.json", marker),
        ("running-a-b.json", {**marker, "variants": ["a", "b"]}),
        ("running.json", marker),
        ("running-a.json", {"pid": 1, "host": "elsewhere"}),
    ):
        (tmp_path / name).write_text(json.dumps(blob))
        assert experiment_status(tmp_path)[2][0].state == "training", name
        (tmp_path / name).unlink()
    (tmp_path / "running-b-c.json").write_text(json.dumps({**marker, "variants": ["b", "c"]}))
    assert experiment_status(tmp_path)[2][0].state == "stopped"
    (tmp_path / "running-b-c.json").unlink()
    assert got["c"] == ("starting", pytest.approx(4 * 11.0))  # a's size: a's epochs
    assert got["b"] == ("waiting", pytest.approx(10 * 0.11 * 300))  # 0.11 s per mixture
    assert got["d"] == ("waiting", pytest.approx(2 * 11.0))  # size unknown: every epoch
    # a marker that is a link (out of the folder) is not followed
    (tmp_path / "elsewhere.json").write_text(json.dumps(marker))
    (tmp_path / "running-c.json").unlink()
    (tmp_path / "running-c.json").symlink_to(tmp_path / "elsewhere.json")
    assert experiment_status(tmp_path)[2][2].state == "waiting"
    # plans written before sizes were recorded: every epoch's median, as before
    for entry in plan["variants"].values():
        del entry["mixtures"]
    (tmp_path / PLAN).write_text(json.dumps(plan))
    assert experiment_status(tmp_path)[2][1].seconds_left == pytest.approx(10 * 11.0)


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
    # the learning curve: each variant is its name's size and seed, on none and bg-20,
    # with patience and epoch cap of 625 and 7,500 optimizer steps (batch 8) at every size,
    # the patience never fewer than 5 validations (2 let validation noise stop a run)
    for name in ("learning-curve", "learning-curve-sup"):
        curve = load_experiment(REPO / "experiments" / f"{name}.toml")
        check_configs(curve)
        for variant in curve.variants:
            config = variant_config(curve, variant)
            size, seed = variant.rsplit("-n", 1)[1].split("-s")
            assert (config["max_train_mixtures"], config["seed"]) == (int(size), int(seed))
            assert config["conditions"] == ["none", "bg-20"]
            cfg = estimator_class(curve.method)(**config).cfg
            # bg-20 starts from the none model (from scratch sup-sep's collapsed)
            assert (cfg.batch_size, cfg.warm_start) == (8, "none")
            steps = -(-int(size) // 8)
            schedule = (-(-7500 // steps), max(5, -(-625 // steps)))
            assert (config["epochs"], config["patience"]) == schedule
            if name == "learning-curve":
                assert (config["classifier_epochs"], config["classifier_patience"]) == schedule
    # the learning-rate, loss and width runs are sup-sep-n300-s0 of the curve with one resolved
    # value changed each
    sup = load_experiment(REPO / "experiments" / "learning-curve-sup.toml")
    base = estimator_class("sup-sep")(**variant_config(sup, "sup-sep-n300-s0")).config
    for file, change in (
        ("sup-sep-lr", {"learning_rate": (3e-3, 1e-3)}),
        ("sup-sep-loss", {"distance": ("l1", "l2")}),
        ("sup-sep-width", {"unet_channels": (16, 32)}),
    ):
        single = load_experiment(REPO / "experiments" / f"{file}.toml")
        (name,) = single.variants
        changed = estimator_class(single.method)(**variant_config(single, name)).config
        assert {k: (base[k], changed[k]) for k in base if base[k] != changed[k]} == change
        assert set(changed) == set(base)
        assert (single.recipe, single.synthetic, single.save_sources) == (
            sup.recipe,
            sup.synthetic,
            True,
        )
    paper = load_experiment(REPO / "experiments" / "waspaa2021.toml")
    curve = load_experiment(REPO / "experiments" / "learning-curve.toml")
    for variant, overrides in curve.variants.items():
        method = variant.split("-n")[0]
        assert {k: overrides[k] for k in paper.variants[method]} == paper.variants[method]


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


#: Every variant of the talk's comparison and ablations: its consistency terms, each with
#: its share of ``weight_consistency`` (the average over the listed terms), and whether
#: the margin and the residual's background classification are on.
MEL3 = {("mel", "tf"): 1 / 3, ("mel", "spectrum"): 1 / 3, ("mel", "clip"): 1 / 3}
COMPOSITION = {
    "pishdadian2020": ({("linear", "tf"): 1.0}, False, False),
    "energy": (MEL3, False, False),
    "background": ({("linear", "tf"): 1.0}, True, True),
    "both": (MEL3, True, True),
    "res1": ({("mel", "clip"): 1.0}, True, True),
    "res2": ({("mel", "tf"): 0.5, ("mel", "clip"): 0.5}, True, True),
    "linear": (
        {("linear", "tf"): 1 / 3, ("linear", "spectrum"): 1 / 3, ("linear", "clip"): 1 / 3},
        True,
        True,
    ),
    "margin-only": (MEL3, True, False),
}


@pytest.mark.parametrize("name", ["synth-ablation.toml", "waspaa2021.toml"])
def test_every_variant_computes_exactly_its_listed_consistency_terms(name: str):
    """Issue 23: a linear TF term was always added beside the listed resolutions, so
    ``res1`` had 2 terms and every augmented variant twice the consistency weight. Here
    each variant's terms and effective weights are the table's, and the objective, on
    random masks, is exactly those terms plus the classification terms."""
    import torch

    from sssle_bench.estimators.weak_sep.config import make_config
    from sssle_bench.estimators.weak_sep.losses import consistency_loss, non_silent_frames
    from sssle_bench.estimators.weak_sep.objective import Model, effective_weights

    experiment = load_experiment(REPO / "experiments" / name)
    assert set(experiment.variants) == set(COMPOSITION)
    for variant, (shares, margin, background) in COMPOSITION.items():
        config = make_config({**variant_config(experiment, variant), "device": "cpu"})
        weight = config.weight_consistency
        assert weight == {"synth-ablation.toml": 10.0, "waspaa2021.toml": 100.0}[name]
        got = effective_weights(config)
        assert got == pytest.approx({k: weight * v for k, v in shares.items()}), variant
        assert (config.use_margin, config.background_classification) == (margin, background)

        torch.manual_seed(0)
        model = Model(config, 5)
        x = torch.rand(2, config.n_fft // 2 + 1, 12) + 0.01
        masks = torch.rand(2, 5, *x.shape[1:]) / 5
        labels = torch.tensor([[1.0, 0, 1, 0, 0], [0, 1, 1, 1, 0]])
        with torch.no_grad():
            terms = model.objective(x, masks, labels, 0.2, torch.ones(2))
        frames = non_silent_frames(x, config.silence_ratio)
        expected = sum(
            w
            * consistency_loss(
                x / model.window_sum,
                masks,
                labels,
                frames,
                model.filterbanks[fb],
                agg,
                0.2 if margin else None,
                config.consistency_scale == "relative",
            )
            for (fb, agg), w in got.items()
        )
        classification = config.weight_critic * terms["critic"] + (
            config.weight_background * terms["background"] if background else 0.0
        )
        rest = float((terms["total"] - classification).detach())  # float32: relative 1e-5
        assert rest == pytest.approx(float(expected), rel=1e-5), variant
        assert ("background" in terms) == background
