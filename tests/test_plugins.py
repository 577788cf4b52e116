"""A third-party method installed as an entry-point plug-in, trained, predicted and scored."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sssle_bench.cli import main
from sssle_bench.estimators import available

from .conftest import REPO


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch) -> str:
    """Install docs/adding-a-method.md's example as a distribution with an entry point."""
    doc = (REPO / "docs" / "adding-a-method.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    assert len(code.strip().splitlines()) < 40
    (tmp_path / "loudest_share.py").write_text(code)
    info = tmp_path / "loudest_share-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: loudest-share\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[sssle_bench.estimators]\nloudest-share = loudest_share:LoudestShare\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "loudest-share"
    sys.modules.pop("loudest_share", None)


def test_plugin_is_discovered_trained_and_scored(plugin: str, toy_dataset: Path, tmp_path: Path):
    assert plugin in available()
    runner = CliRunner()
    listed = runner.invoke(main, ["estimators"])
    assert "loudest-share" in listed.output and "class-prior" in listed.output
    models, subs = tmp_path / "m", tmp_path / "s"
    res = runner.invoke(main, ["train", plugin, str(toy_dataset), "--out", str(models)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        main, ["predict", plugin, str(toy_dataset), "--model", str(models), "--out", str(subs)]
    )
    assert res.exit_code == 0, res.output
    assert 'supervision = "strong"' in (subs / "meta.toml").read_text()
    res = runner.invoke(
        main,
        ["score", str(subs / "predictions.csv"), "--truth", str(toy_dataset), "--bootstrap", "0"],
    )
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[2].startswith("overall")


def test_unknown_estimator_is_one_line(toy_dataset: Path, tmp_path: Path):
    res = CliRunner().invoke(main, ["train", "nope", str(toy_dataset), "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "unknown estimator 'nope' (available: class-prior" in res.output
