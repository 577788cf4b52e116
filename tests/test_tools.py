"""The analysis scripts under experiments/tools/ whose numbers results/ quotes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sssle_bench.errors import SssleError
from sssle_bench.metrics import ScoreSettings

from .conftest import REPO


def _tool(name: str):
    tools = str(REPO / "experiments" / "tools")
    if tools not in sys.path:  # the tools import each other from beside them, as scripts do
        sys.path.insert(0, tools)
    spec = importlib.util.spec_from_file_location(
        name, REPO / "experiments" / "tools" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pairs(errors: dict[str, list[float]], condition: str = "none") -> pd.DataFrame:
    """Present pairs: mixture id -> its sources' absolute errors (dB)."""
    rows = [(m, condition, f"c{k}", e) for m, errs in errors.items() for k, e in enumerate(errs)]
    return pd.DataFrame(rows, columns=["mixture_id", "condition", "class", "abs_err_db"])


def test_learning_curve_means_seeds_and_pairs_differences():
    tool = _tool("learning_curve")
    mixtures = [f"m{i}" for i in range(6)]
    rng = np.random.default_rng(0)
    counts = [1, 2, 1, 3, 2, 1]

    def run(offset: float) -> dict[str, list[float]]:
        return {
            m: list(offset + rng.uniform(0, 2, n)) for m, n in zip(mixtures, counts, strict=True)
        }

    s0, s1, other, prior = run(1.0), run(2.0), run(0.5), run(3.0)
    runs = {
        ("a", 10, 0): _pairs(s0),
        ("a", 10, 1): _pairs(s1),
        ("b", 10, 0): _pairs(other),
        ("a", 30, 0): _pairs(s0),
    }
    settings = ScoreSettings(bootstrap=200)
    curve, paired = tool.condition_table(runs, ("prior", _pairs(prior)), "none", settings)

    def mae(errors: dict[str, list[float]]) -> float:
        flat = [e for errs in errors.values() for e in errs]
        return sum(flat) / len(flat)

    def row(frame: pd.DataFrame, **keys) -> pd.Series:
        hit = frame
        for k, v in keys.items():
            hit = hit[hit[k].isna()] if v is None else hit[hit[k] == v]
        assert len(hit) == 1, keys
        return hit.iloc[0]

    # the mean of two seeds is the mean of their MAEs; every value lies in its interval
    mean = row(curve, method="a", size=10, seed=None)
    assert mean["mae_db"] == pytest.approx((mae(s0) + mae(s1)) / 2, abs=1e-12)
    assert row(curve, method="a", size=10, seed=1)["mae_db"] == pytest.approx(mae(s1), abs=1e-12)
    assert row(curve, method="prior", size=0, seed=None)["mae_db"] == pytest.approx(mae(prior))
    assert ((curve["low_db"] <= curve["mae_db"]) & (curve["mae_db"] <= curve["high_db"])).all()
    # a method with one seed: its mean is that seed
    assert row(curve, method="b", size=10, seed=None)["mae_db"] == pytest.approx(mae(other))
    # paired: a - b at the same size (seed means), each minus the reference, s0 - s1
    diff = row(paired, size=10, a="a", b="b")
    assert diff["diff_db"] == pytest.approx((mae(s0) + mae(s1)) / 2 - mae(other), abs=1e-12)
    assert row(paired, size=30, a="a", b="prior")["diff_db"] == pytest.approx(mae(s0) - mae(prior))
    spread = row(paired, size=10, a="a s0", b="a s1")
    assert spread["diff_db"] == pytest.approx(mae(s0) - mae(s1), abs=1e-12)
    assert spread["low_db"] <= spread["diff_db"] <= spread["high_db"]
    assert len(paired[(paired["size"] == 30) & (paired["b"] == "b")]) == 0  # no b at 30
    # another condition's pairs and a run scored on other sources are refused
    runs[("b", 10, 0)] = _pairs({**other, "m0": [1.0] * 5})
    with pytest.raises(SystemExit, match="other present pairs"):
        tool.condition_table(runs, ("prior", _pairs(prior)), "none", settings)
    curve, _ = tool.condition_table(
        {("a", 10, 0): _pairs(s0, "bg-20")}, ("prior", _pairs(prior, "bg-20")), "bg-20", settings
    )
    assert row(curve, method="a", size=10, seed=0)["mae_db"] == pytest.approx(mae(s0))


def test_condition_pairs_needs_every_row_of_the_conditions_asked(toy_dataset: Path, tmp_path: Path):
    tool = _tool("paired_by_condition")
    settings = ScoreSettings(bootstrap=0)
    truth = pd.read_csv(toy_dataset / "ground_truth" / "test.csv")
    pred = truth[["mixture_id", "condition", "class"]].assign(level_db=-30.0)
    present = truth[truth["present"] == 1]

    def pairs_of(frame: pd.DataFrame, conditions: list[str] | None) -> pd.DataFrame:
        folder = tmp_path / f"sub{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        frame.to_csv(folder / "predictions.csv", index=False)
        return tool.condition_pairs(folder, toy_dataset, "test", settings, conditions)

    wanted = ["none", "bg-20"]
    expected = present[present["condition"].isin(wanted)]
    for frame in (pred, pred[pred["condition"].isin(wanted)]):  # every condition, or exactly these
        pairs = pairs_of(frame, wanted)
        assert sorted(pairs["condition"].unique()) == ["bg-20", "none"]
        assert len(pairs) == len(expected)
        errors = np.sort(pairs["abs_err_db"].to_numpy())
        assert np.allclose(errors, np.sort(np.abs(expected["level_dbfs_a"].to_numpy() + 30.0)))
    # a row missing from a condition asked for, in either form of file: refused
    some = pred[pred["condition"].isin(wanted)]
    for frame in (pred.drop(index=some.index[0]), some.iloc[1:]):
        with pytest.raises(SystemExit, match="invalid submission"):
            pairs_of(frame, wanted)
    assert len(pairs_of(pred, None)) == len(present)


def test_learning_curve_refuses_two_submissions_of_one_size_and_seed(
    toy_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    tool = _tool("learning_curve")
    truth = pd.read_csv(toy_dataset / "ground_truth" / "test.csv")
    pred = truth[["mixture_id", "condition", "class"]].assign(level_db=-30.0)
    for name in ("a-n10-s0", "a-n10-s0-again"):
        folder = tmp_path / name
        folder.mkdir()
        pred.to_csv(folder / "predictions.csv", index=False)
        (folder / "meta.toml").write_text("[parameters]\nmax_train_mixtures = 10\nseed = 0\n")
    argv = [
        "learning_curve.py", str(toy_dataset), "--method", f"a={tmp_path}/a-n*",
        "--reference", f"prior={tmp_path}/a-n10-s0", "--conditions", "none", "--out",
        str(tmp_path / "out"),
    ]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit, match="a second a submission of size 10, seed 0"):
        tool.main()
    assert not (tmp_path / "out").exists()


def _fake_run(root: Path) -> None:
    """A run folder as ``experiment run`` leaves it mid-training: one variant with a
    finished and a started condition, a done critic and one still pretraining."""
    files = {
        "models/v1/experiment_config.json": b"{}",
        "models/v1/conditions/none/checkpoint.pt": b"ck-none",
        "models/v1/conditions/none/progress.json": b'{"epochs": 3}',
        "models/v1/conditions/none/model.pt": b"not carried",
        "models/v1/conditions/bg-20/progress.json": b"no checkpoint yet",
        "cache/classifier-aa.pt": b"critic a",
        "cache/checkpoint-classifier-aa.pt": b"stale checkpoint of a",
        "cache/checkpoint-classifier-bb.pt": b"critic b, pretraining",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def test_carry_state_snapshot_and_restore_round_trip(tmp_path: Path):
    tool = _tool("carry_state")
    run, state, new = tmp_path / "run", tmp_path / "state", tmp_path / "new"
    _fake_run(run)
    assert tool.snapshot(run, state, ["v1"]) == [
        "checkpoint-classifier-bb.pt",
        "classifier-aa.pt",
        "v1/experiment_config.json",
        "v1/none/checkpoint.pt",
        "v1/none/progress.json",
    ]
    assert tool.snapshot(run, state, ["v1"]) == []  # nothing new: nothing written
    (run / "models/v1/conditions/none/checkpoint.pt").write_bytes(b"ck-none epoch 4")
    assert tool.snapshot(run, state, ["v1"]) == ["v1/none/checkpoint.pt"]
    assert tool.restore(state, new, ["v1"]) == [
        "cache/checkpoint-classifier-bb.pt",
        "cache/classifier-aa.pt",
        "models/v1/experiment_config.json",
        "models/v1/conditions/none/checkpoint.pt",
        "models/v1/conditions/none/progress.json",
    ]
    assert (new / "models/v1/conditions/none/checkpoint.pt").read_bytes() == b"ck-none epoch 4"
    assert (new / "cache/classifier-aa.pt").read_bytes() == b"critic a"


def test_carry_state_refuses_links_unsafe_names_and_unstarted_variants(tmp_path: Path):
    tool = _tool("carry_state")
    run, state = tmp_path / "run", tmp_path / "state"
    _fake_run(run)
    with pytest.raises(SssleError, match="not a safe name"):
        tool.snapshot(run, state, ["../v1"])
    with pytest.raises(SssleError, match="has this variant started"):
        tool.snapshot(run, state, ["v2"])
    secret = tmp_path / "secret"
    secret.write_bytes(b"outside")
    ckpt = run / "models/v1/conditions/none/checkpoint.pt"
    ckpt.unlink()
    ckpt.symlink_to(secret)
    with pytest.raises(SssleError, match="symlink"):
        tool.snapshot(run, state, ["v1"])


def test_carry_state_localize_replaces_only_the_dataset_table():
    tool = _tool("carry_state")
    text = (
        'name = "x"\n\n[dataset]\nrecipe = "../r.toml"\nsynthetic = "medium"\n'
        'save_sources = true\n\n[base]\nconditions = ["none"]\n'
    )
    out = tool.localize(text, Path('/data/d "1"'))
    assert out == (
        'name = "x"\n\n[dataset]\npath = "/data/d \\"1\\""\n\n[base]\nconditions = ["none"]\n'
    )
    assert tomllib.loads(out)["dataset"] == {"path": '/data/d "1"'}
    with pytest.raises(SssleError, match="one \\[dataset\\] table, found 0"):
        tool.localize('name = "x"\n', Path("/d"))


def test_recalibrate_takes_each_condition_and_class_mean_error_out():
    tool = _tool("recalibrate")
    pairs = pd.DataFrame(
        {
            "mixture_id": ["a", "b", "a", "b"],
            "condition": ["none", "none", "bg-20", "bg-20"],
            "class": ["dog", "dog", "dog", "dog"],
            "true_db": [-30.0, -40.0, -30.0, -40.0],
            "pred_db": [-31.0, -42.0, -33.5, -42.5],
        }
    )
    table = tool.offsets(pairs)
    assert table.to_dict("list") == {
        "condition": ["bg-20", "none"],
        "class": ["dog", "dog"],
        "offset_db": [-3.0, -1.5],
        "sources": [2, 2],
    }
    predictions = pd.DataFrame(
        {
            "mixture_id": ["c", "c", "c"],
            "condition": ["none", "bg-20", "bg-20"],
            "class": ["dog", "dog", "siren"],
            "level_db": [-20.0, -20.0, -20.0],
            "lafmax_db": [-10.0, -10.0, -10.0],
        }
    )
    out = tool.shifted(predictions, table)
    assert out.columns.tolist() == predictions.columns.tolist()
    assert out["level_db"].tolist() == [-18.5, -17.0, -20.0]  # siren: no offset fitted
    assert out["lafmax_db"].tolist() == [-8.5, -7.0, -10.0]


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (SssleError("x.csv: no column 'class'"), "error: x.csv: no column 'class'"),
        (
            FileNotFoundError(2, "No such file or directory", "/d/m.json"),
            "error: /d/m.json: No such file or directory",
        ),
        (SssleError("\x1b[31mforged"), "error: \\x1b[31mforged"),
    ],
)
def test_a_tools_user_error_is_one_line_and_exit_code_2(capsys, error, line):
    def main():
        raise error

    with pytest.raises(SystemExit) as info:
        _tool("tool_main").run_tool(main)
    assert info.value.code == 2
    assert capsys.readouterr().err == line + "\n"


def test_a_tools_bug_is_still_a_traceback_and_success_exits_0():
    run_tool = _tool("tool_main").run_tool
    with pytest.raises(ZeroDivisionError):
        run_tool(lambda: 1 / 0)
    with pytest.raises(SystemExit) as info:
        run_tool(lambda: None)
    assert info.value.code == 0


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in (REPO / "experiments" / "tools").glob("*.py"))
)
def test_every_tool_runs_its_main_through_run_tool(name):
    if name == "tool_main":
        return
    source = (REPO / "experiments" / "tools" / f"{name}.py").read_text(encoding="utf-8")
    assert source.rstrip().endswith('if __name__ == "__main__":\n    run_tool(main)'), name


def test_a_tool_given_a_missing_dataset_says_so_in_one_line(tmp_path: Path):
    submissions = REPO / "results" / "learning-curve" / "submissions"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "tools" / "learning_curve.py"),
            str(tmp_path / "absent"),
            "--method",
            f"both={submissions}/both-n300-s0",
            "--reference",
            f"class-prior={submissions}/class-prior",
            "--conditions",
            "none",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    missing = tmp_path / "absent" / "manifest.json"
    assert result.stderr == f"error: {missing} not found: not a complete sssle-bench dataset\n"
    assert not (tmp_path / "out").exists()
