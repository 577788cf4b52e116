"""Leaderboard: ranking, tables, refusal to mix datasets, the HTML page in Chromium."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sssle_bench.cli import main
from sssle_bench.errors import SssleError
from sssle_bench.generate.check import verify_dataset
from sssle_bench.leaderboard import build_leaderboard
from sssle_bench.metrics import ScoreSettings


@pytest.fixture(scope="module")
def submissions(toy_dataset: Path, tmp_path_factory) -> list[Path]:
    """Three methods: truth + 1 dB noise, truth + 6 dB noise, a constant -35 dB."""
    root = tmp_path_factory.mktemp("subs")
    truth = pd.read_csv(toy_dataset / "ground_truth" / "test.csv")
    rng = np.random.default_rng(0)
    folders = []
    for name, noise in [("close", 1.0), ("rough", 6.0), ("constant", None)]:
        folder = root / name
        folder.mkdir()
        pred = truth[["mixture_id", "condition", "class"]].copy()
        if noise is None:
            pred["level_db"] = -35.0
        else:
            noisy = truth["level_dbfs_a"] + rng.normal(0, noise, len(truth))
            pred["level_db"] = np.where(truth["present"] == 1, noisy, -np.inf)
        pred.to_csv(folder / "predictions.csv", index=False)
        folders.append(folder)
    (folders[0] / "meta.toml").write_text(
        'method = "Close <b>one</b>"\nsupervision = "oracle"\nauthors = "Test"\n'
    )
    return folders


@pytest.fixture(scope="module")
def board(submissions: list[Path], toy_dataset: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("board")
    build_leaderboard(
        submissions, toy_dataset, out, settings=ScoreSettings(bootstrap=100), echo=lambda s: None
    )
    return out


def test_ranked_csv_and_markdown(board: Path):
    table = pd.read_csv(board / "leaderboard.csv")
    # The oracle method is a reference: listed after the ranked methods, without a rank.
    assert list(table["method"]) == ["rough", "constant", "Close <b>one</b>"]
    assert list(table["rank"].fillna(0)) == [1, 2, 0]
    for col in [
        "rank",
        "method",
        "supervision",
        "mae_present_db",
        "ci_low",
        "ci_high",
        "f1",
        "bias_db",
        "mae_present_db_none",
        "mae_present_db_bg-50",
        "mae_present_db_bg-20",
        "mae_present_db_bg0",
    ]:
        assert col in table.columns
    assert (table["ci_low"] <= table["mae_present_db"]).all()
    assert (table["mae_present_db"] <= table["ci_high"]).all()
    assert table.loc[2, "supervision"] == "oracle"
    assert r"| ref | - | Close \<b\>one\</b\> | oracle |" in (board / "leaderboard.md").read_text()
    assert sorted(p.name for p in (board / "plots").iterdir()) == [
        "class_heatmap.png",
        "mae_by_condition.png",
        "mae_by_level.png",
        "predicted_vs_true.png",
    ]


def test_page_is_self_contained(board: Path):
    page = (board / "index.html").read_text()
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert page.count('src="data:image/png;base64,') == 4
    assert "Close &lt;b&gt;one&lt;/b&gt;" in page  # metadata is escaped


def test_a_submissions_own_score_json_is_never_read(submissions, toy_dataset: Path, tmp_path: Path):
    """Whatever a submission folder's score.json says (another dataset, made-up figures,
    not JSON at all), the leaderboard scores the predictions."""
    fresh = build_leaderboard(
        [submissions[1]], toy_dataset, tmp_path / "ref", settings=ScoreSettings(bootstrap=0)
    )
    for i, content in enumerate(
        [
            json.dumps({"truth": {"recipe": "other", "recipe_hash": "f" * 64}}),
            '{"truth": {"rec',
            "[1, 2]",
        ]
    ):
        folder = tmp_path / f"sub{i}"
        shutil.copytree(submissions[1], folder)
        (folder / "score.json").write_text(content)
        said: list[str] = []
        table = build_leaderboard(
            [folder], toy_dataset, tmp_path / f"out{i}", settings=ScoreSettings(bootstrap=0),
            echo=said.append,
        )  # fmt: skip
        assert said == [f"scoring {folder}"]
        assert table.loc[0, "mae_present_db"] == fresh.loc[0, "mae_present_db"]


def test_a_rebuild_reuses_the_scores_the_leaderboard_kept(
    submissions, toy_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from sssle_bench.leaderboard import build

    settings, out = ScoreSettings(bootstrap=0), tmp_path / "out"
    said: list[str] = []
    build_leaderboard(submissions, toy_dataset, out, settings=settings, echo=said.append)
    assert said == [f"scoring {f}" for f in submissions]
    cached = sorted((out / ".cache").glob("score-*.json"))
    assert len(cached) == 3
    said.clear()
    build_leaderboard(submissions, toy_dataset, out, settings=settings, echo=said.append)
    assert said == []
    # a kept document that does not prove its key is not reused
    doc = json.loads(cached[0].read_text())
    cached[0].write_text(json.dumps({**doc, "cache_key": "0" * 64}))
    build_leaderboard(submissions, toy_dataset, out, settings=settings, echo=said.append)
    assert len(said) == 1
    # documents computed by another version of the figures are not reused either
    said.clear()
    monkeypatch.setattr(build, "FIGURES_VERSION", build.FIGURES_VERSION + 1)
    build_leaderboard(submissions, toy_dataset, out, settings=settings, echo=said.append)
    assert said == [f"scoring {f}" for f in submissions]


def test_cli_errors(toy_dataset: Path, tmp_path: Path):
    res = CliRunner().invoke(
        main,
        ["leaderboard", str(tmp_path), "--truth", str(toy_dataset), "--out", str(tmp_path / "o")],
    )
    assert res.exit_code == 2 and "no predictions.csv" in res.output


def _mae(folder: Path, truth: Path, out: Path, said: list[str]) -> float:
    table = build_leaderboard(
        [folder], truth, out, settings=ScoreSettings(bootstrap=0), echo=said.append
    )
    return float(table.loc[0, "mae_present_db"])


def test_other_predictions_in_the_same_folder_are_scored_again(
    submissions, toy_dataset: Path, tmp_path: Path
):
    """The reported case of old: score some predictions, copy others over them."""
    folder, out = tmp_path / "sub", tmp_path / "board"
    shutil.copytree(submissions[2], folder)
    said: list[str] = []
    constant = _mae(folder, toy_dataset, out, said)
    shutil.copy(submissions[1] / "predictions.csv", folder / "predictions.csv")
    said.clear()
    shown = _mae(folder, toy_dataset, out, said)
    assert shown == pytest.approx(_mae(submissions[1], toy_dataset, tmp_path / "fresh", []))
    assert shown != pytest.approx(constant) and said == [f"scoring {folder}"]


def test_another_ground_truth_of_the_recipe_is_scored_again(
    submissions, toy_dataset: Path, tmp_path: Path
):
    folder, out = tmp_path / "sub", tmp_path / "board"
    shutil.copytree(submissions[1], folder)
    _mae(folder, toy_dataset, out, [])
    # The same recipe and keys, another ground truth (as a --limit run would have).
    other = tmp_path / "other"
    shutil.copytree(toy_dataset, other, symlinks=True)
    gt = other / "ground_truth" / "test.csv"
    truth = pd.read_csv(gt)
    truth["level_dbfs_a"] += 1.0
    truth.to_csv(gt, index=False)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["files"]["ground_truth/test.csv"] = hashlib.sha256(gt.read_bytes()).hexdigest()
    (other / "manifest.json").write_text(json.dumps(manifest))
    said: list[str] = []
    _mae(folder, other, out, said)
    assert said == [f"scoring {folder}"]


def test_an_edited_ground_truth_is_never_scored(submissions, toy_dataset: Path, tmp_path: Path):
    other = tmp_path / "other"
    shutil.copytree(toy_dataset, other, symlinks=True)
    gt = other / "ground_truth" / "test.csv"
    gt.write_bytes(gt.read_bytes()[:-40])
    res = CliRunner().invoke(
        main, ["score", str(submissions[0] / "predictions.csv"), "--truth", str(other)]
    )
    assert res.exit_code == 2 and "differs from the sha256" in res.output


def test_everything_is_checked_before_any_scoring(submissions, toy_dataset: Path, tmp_path: Path):
    said: list[str] = []
    twin = tmp_path / "twin"
    shutil.copytree(submissions[0], twin)
    with pytest.raises(SssleError, match="are both called 'Close <b>one</b>'"):
        build_leaderboard(
            [submissions[0], submissions[1], twin], toy_dataset, tmp_path / "o", echo=said.append
        )
    with pytest.raises(SssleError, match="no such submission folder"):
        build_leaderboard(
            [submissions[0], tmp_path / "gone"], toy_dataset, tmp_path / "o", echo=said.append
        )
    assert said == [] and not (tmp_path / "o").exists()


@pytest.mark.parametrize("where", [".", "leaderboard", "ground_truth/board"])
def test_out_inside_the_dataset_is_refused(
    submissions, toy_dataset: Path, tmp_path: Path, where: str
):
    copy = tmp_path / "ds"
    shutil.copytree(toy_dataset, copy, symlinks=True)
    with pytest.raises(SssleError, match="is inside the dataset"):
        build_leaderboard(submissions[:1], copy, copy / where, echo=lambda s: None)
    assert verify_dataset(copy) == []


def test_stale_scores_are_removed_from_out(submissions, toy_dataset: Path, tmp_path: Path):
    out = tmp_path / "o"
    settings = ScoreSettings(bootstrap=0)
    build_leaderboard(submissions, toy_dataset, out, settings=settings, echo=lambda s: None)
    assert len(list((out / "scores").glob("*.json"))) == 3
    build_leaderboard(submissions[1:], toy_dataset, out, settings=settings, echo=lambda s: None)
    assert sorted(p.name for p in (out / "scores").glob("*.json")) == [
        "constant.json",
        "rough.json",
    ]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(*args: str, profile: Path) -> str:
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    done = subprocess.run([*flags, *args], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_page_renders_in_headless_chromium(board: Path, tmp_path: Path):
    assert CHROMIUM, (
        "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    )
    url = (board / "index.html").as_uri()
    dom = _chromium("--dump-dom", url, profile=tmp_path / "profile")
    assert dom.count('<tr class="method-row">') == 3
    assert dom.count("<img") == 4
    shot = tmp_path / "page.png"
    _chromium("--window-size=1400,1600", f"--screenshot={shot}", url, profile=tmp_path / "p2")
    assert shot.stat().st_size > 20_000


#: Appended to a copy of the page: records whether it scrolls sideways and row heights.
_PROBE = """<script>
var rows = Array.from(document.querySelectorAll('tr.method-row')).map(r => r.offsetHeight);
document.body.dataset.overflow = document.documentElement.scrollWidth > window.innerWidth;
document.body.dataset.rowspan = Math.max(...rows) / Math.min(...rows);
</script>"""


def test_page_for_a_reader_at_1400_px(submissions, toy_dataset: Path, tmp_path: Path):
    assert CHROMIUM, (
        "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    )
    long = tmp_path / "long"
    shutil.copytree(submissions[1], long)
    (long / "meta.toml").write_text(
        'method = "Weakly supervised separation with energy consistency (Cramer 2021)"\n'
        'short_name = "weak-sep"\nsupervision = "weak"\n'
        '[parameters]\npreset = "cpu"\nenergy_resolutions = [["mel", "tf"], ["mel", "clip"]]\n'
    )
    out = tmp_path / "board"
    settings = ScoreSettings(bootstrap=0)
    build_leaderboard(
        [submissions[0], long, submissions[2]],
        toy_dataset,
        out,
        settings=settings,
        echo=lambda s: None,
    )
    page = (out / "index.html").read_text()
    markdown = (out / "leaderboard.md").read_text()
    assert "None" not in markdown and "None" not in page
    assert "{'" not in page  # parameters are a list for a reader, not a Python dict
    assert "<li>energy_resolutions = [[mel, tf], [mel, clip]]</li>" in page
    assert (
        'title="Weakly supervised separation with energy consistency (Cramer 2021)">weak-sep<'
        in page
    )
    assert "<h2>Oracle references</h2>" in page and page.count('<td data-value="">ref</td>') == 1
    f1 = pd.read_csv(out / "leaderboard.csv")["f1"].iloc[0]
    assert f">{f1:.3f}</td>" in page
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"))
    dom = _chromium("--window-size=1400,1000", "--dump-dom", probe.as_uri(), profile=tmp_path / "p")
    assert 'data-overflow="false"' in dom
    assert 'data-rowspan="1"' in dom  # every method on one line


def _audit(folder: Path, text: str) -> Path:
    folder.mkdir()
    (folder / "summary.csv").write_text(text)
    return folder


def test_an_audit_shows_beside_its_methods_mae(submissions, toy_dataset: Path, tmp_path: Path):
    audit = _audit(
        tmp_path / "audit",
        "check,error_db,ci_low,ci_high,recordings\ngain,15.0,15.0,15.0,6\n"
        "injection,,,,0\nsegmentation,0.25,0.1,0.4,6\n",
    )
    out = tmp_path / "b"
    result = CliRunner().invoke(
        main,
        [
            "leaderboard",
            *map(str, submissions),
            "--truth",
            str(toy_dataset),
            "--out",
            str(out),
            "--bootstrap",
            "0",
            "--audit",
            f"rough={audit}",
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "leaderboard.csv").set_index("method")
    assert table.loc["rough", "audit_gain_db"] == 15.0
    assert table.loc["rough", "audit_segmentation_db"] == 0.25
    assert np.isnan(table.loc["rough", "audit_injection_db"])
    assert np.isnan(table.loc["constant", "audit_gain_db"])
    assert "audit_gain_db" in (out / "leaderboard.md").read_text()
    page = (out / "index.html").read_text()
    assert "audit, no ground truth (dB)" in page and 'data-value="15.0"' in page


@pytest.mark.parametrize(
    ("text", "method", "message"),
    [
        ("check,error_db\ngain,1.0\n", "nobody", "'nobody', not a method of this leaderboard"),
        ("check,error_db\ngain,=1+1\n", "rough", "is not a number of dB"),
        ("check,error_db\ngain,-3\n", "rough", "is not a number of dB"),
        ("check,error_db\n../x,1\n", "rough", "is not a distinct safe name"),
        ("level,error\ngain,1\n", "rough", "not an audit summary"),
    ],
)
def test_a_hostile_audit_summary_is_refused_before_any_scoring(
    submissions, toy_dataset: Path, tmp_path: Path, text: str, method: str, message: str
):
    audit = _audit(tmp_path / "audit", text)
    with pytest.raises(SssleError, match=re.escape(message)):
        build_leaderboard(
            submissions,
            toy_dataset,
            tmp_path / "b",
            settings=ScoreSettings(bootstrap=0),
            echo=lambda s: None,
            audits={method: audit},
        )
    assert not (tmp_path / "b").exists()


def test_a_linked_audit_summary_is_not_read(submissions, toy_dataset: Path, tmp_path: Path):
    real = _audit(tmp_path / "real", "check,error_db\ngain,1\n")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "summary.csv").symlink_to(real / "summary.csv")
    with pytest.raises(SssleError, match="no audit summary"):
        build_leaderboard(
            submissions,
            toy_dataset,
            tmp_path / "b",
            echo=lambda s: None,
            audits={"rough": linked},
        )
