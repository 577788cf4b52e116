"""The CLI: fast start, commands listed, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from sssle_bench.cli import main

from .conftest import REPO


def test_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ["download", "make-synthetic-sources", "recipe", "sources"]:
        assert command in result.output


def test_help_and_recipe_check_do_not_import_scaper_or_torch():
    code = (
        "import sys; from sssle_bench.cli import main\n"
        "try:\n    main(['recipe', 'check', 'recipes/toy.toml'])\n"
        "except SystemExit: pass\n"
        "assert 'scaper' not in sys.modules and 'torch' not in sys.modules, 'heavy import'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)


def test_recipe_check_prints_resolved_recipe():
    result = CliRunner().invoke(main, ["recipe", "check", str(REPO / "recipes" / "toy.toml")])
    assert result.exit_code == 0
    assert 'name = "toy"' in result.output and "# recipe hash: " in result.output


def test_bad_recipe_is_one_clear_error(tmp_path: Path):
    bad = tmp_path / "r.toml"
    bad.write_text((REPO / "recipes" / "toy.toml").read_text().replace("seed = 7", "seed = 'x'"))
    result = CliRunner().invoke(main, ["recipe", "check", str(bad)])
    assert result.exit_code == 2
    assert "seed: expected int" in result.output and "Traceback" not in result.output


def test_sources_summary_and_missing_home(synthetic_home: Path, tmp_path: Path):
    ok = CliRunner().invoke(main, ["sources", "--data-home", str(synthetic_home)])
    assert ok.exit_code == 0 and "UrbanSound8K: 120 clips in 10 folds" in ok.output
    missing = CliRunner().invoke(main, ["sources", "--data-home", str(tmp_path)])
    assert missing.exit_code == 2
    assert missing.output.startswith("error: UrbanSound8K not found")


def test_data_home_from_environment(synthetic_home: Path):
    result = CliRunner(env={"SSSLE_DATA_HOME": str(synthetic_home)}).invoke(main, ["sources"])
    assert result.exit_code == 0, result.output


def test_make_synthetic_sources_command(tmp_path: Path):
    result = CliRunner().invoke(main, ["make-synthetic-sources", "--out", str(tmp_path / "h")])
    assert result.exit_code == 0
    assert (tmp_path / "h" / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv").is_file()


def test_predict_some_conditions_from_the_command_line(toy_dataset: Path, tmp_path: Path):
    model, sub = str(tmp_path / "m"), str(tmp_path / "s")
    trained = CliRunner().invoke(main, ["train", "class-prior", str(toy_dataset), "--out", model])
    assert trained.exit_code == 0, trained.output
    args = ["predict", "class-prior", str(toy_dataset), "--model", model, "--out", sub]
    ok = CliRunner().invoke(main, [*args, "--condition", "bg-20", "--condition", "none"])
    assert ok.exit_code == 0, ok.output
    assert set(pd.read_csv(tmp_path / "s" / "predictions.csv")["condition"]) == {"none", "bg-20"}
    bad = CliRunner().invoke(main, [*args, "--condition", "bg-7"])
    assert bad.exit_code == 2 and bad.output.startswith("error:") and "bg-7" in bad.output
    # ranked on those conditions alone; a full leaderboard or a condition it lacks refuses
    board = ["leaderboard", sub, "--truth", str(toy_dataset), "--bootstrap", "20"]
    ranked = CliRunner().invoke(
        main, [*board, "--out", str(tmp_path / "b"), "--condition", "none", "--condition", "bg-20"]
    )
    assert ranked.exit_code == 0, ranked.output
    (score_file,) = (tmp_path / "b" / "scores").glob("*.json")
    doc = json.loads(score_file.read_text())
    assert sorted(doc["by_condition"]) == ["bg-20", "none"]
    assert doc["truth"]["conditions"] == ["none", "bg-20"]
    full = CliRunner().invoke(main, [*board, "--out", str(tmp_path / "c")])
    assert full.exit_code == 2 and "missing" in full.output
    odd = CliRunner().invoke(main, [*board, "--out", str(tmp_path / "d"), "--condition", "bg-7"])
    assert odd.exit_code == 2 and odd.output.startswith("error:") and "bg-7" in odd.output


def test_an_os_error_is_one_line_naming_the_path(toy_dataset: Path, tmp_path: Path):
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / "a-file" / "model"
    result = CliRunner().invoke(main, ["train", "class-prior", str(toy_dataset), "--out", str(out)])
    assert result.exit_code == 2
    assert result.output == f"error: {out}: Not a directory\n"
