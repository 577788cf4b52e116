"""Properties 4-7: determinism, regeneration, resume, verify."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sssle_bench.cli import main
from sssle_bench.errors import SssleError
from sssle_bench.generate.check import regenerate_dataset, verify_dataset
from sssle_bench.generate.runner import Shard

from ..conftest import REPO, TOY, generate, generate_command, kill_mid_run, tree_digest


@pytest.fixture(scope="module")
def plain(synthetic_home: Path, tmp_path_factory) -> Path:
    """Toy recipe, 3 mixtures per split, no sources, one process."""
    return generate(tmp_path_factory.mktemp("plain") / "ds", synthetic_home)


def test_jobs_do_not_change_a_byte(plain: Path, synthetic_home: Path, tmp_path: Path):
    two = generate(tmp_path / "two", synthetic_home, jobs=2)
    assert tree_digest(two) == tree_digest(plain)


def test_global_random_state_is_never_read(plain: Path, synthetic_home: Path, tmp_path: Path):
    np.random.seed(12345)
    random.seed(678)
    again = generate(tmp_path / "again", synthetic_home)
    assert tree_digest(again) == tree_digest(plain)


def test_shards_into_one_folder_equal_unsharded(plain: Path, synthetic_home: Path, tmp_path: Path):
    out = tmp_path / "sharded"
    generate(out, synthetic_home, shard=Shard(0, 2))
    assert not (out / "manifest.json").exists()
    generate(out, synthetic_home, shard=Shard(1, 2))
    assert tree_digest(out) == tree_digest(plain)


def test_limit_gives_the_first_mixtures_of_the_full_run(
    plain: Path, synthetic_home: Path, tmp_path: Path
):
    small = generate(tmp_path / "small", synthetic_home, limit=2)
    small_files = tree_digest(
        small, skip=(".sssle", "manifest", "README", "ground_truth", "mixtures", "events")
    )
    full_files = tree_digest(plain)
    assert small_files and all(full_files[k] == v for k, v in small_files.items())
    for kind in ["ground_truth", "mixtures", "events"]:
        a = pd.read_csv(small / kind / "train.csv")
        b = pd.read_csv(plain / kind / "train.csv")
        pd.testing.assert_frame_equal(
            a, b[b["mixture_id"].isin(a["mixture_id"])].reset_index(drop=True)
        )


def test_regenerate_matches_every_sha256(toy_dataset: Path, synthetic_home: Path, tmp_path: Path):
    assert regenerate_dataset(toy_dataset, synthetic_home, dest=tmp_path / "re", echo=print) == []
    assert tree_digest(tmp_path / "re") == tree_digest(toy_dataset)


def test_regenerate_warns_when_versions_differ(plain: Path, synthetic_home: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(plain, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["versions"]["scaper"] = "0.0.1"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    said = []
    regenerate_dataset(copy, synthetic_home, echo=said.append)
    assert any(m.startswith("warning: scaper 1.6.5 differs from 0.0.1") for m in said)


def test_regenerate_detects_an_edited_jams(plain: Path, synthetic_home: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(plain, copy)
    jams_file = copy / "jams" / "test" / "test_000001.jams"
    jam = json.loads(jams_file.read_text())
    jam["annotations"][0]["data"][0]["value"]["snr"] += 3.0
    jams_file.write_text(json.dumps(jam))
    problems = regenerate_dataset(copy, synthetic_home, echo=lambda s: None)
    assert "audio/test/none/test_000001.wav: regenerated file differs from the manifest" in problems
    assert not any("test_000000" in p for p in problems)


def test_verify_reports_a_corrupt_file_and_a_wrong_csv_value(toy_dataset: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(toy_dataset, copy)
    wav = copy / "audio" / "valid" / "bg-20" / "valid_000002.wav"
    data = bytearray(wav.read_bytes())
    data[-64000:] = bytes(64000)
    wav.write_bytes(bytes(data))
    csv = copy / "ground_truth" / "train.csv"
    truth = pd.read_csv(csv)
    first = truth.index[truth["present"] == 1][0]
    truth.loc[first, "level_dbfs"] += 5.0
    truth.to_csv(csv, index=False, float_format="%.6f")
    problems = verify_dataset(copy, full=True)
    assert "audio/valid/bg-20/valid_000002.wav: checksum mismatch" in problems
    assert "ground_truth/train.csv: checksum mismatch" in problems
    row = truth.loc[first]
    assert any(
        p.startswith(
            f"ground_truth/train.csv: {row.mixture_id} {row.condition} {row['class']} level_dbfs"
        )
        for p in problems
    )
    assert any(
        p.startswith("mixtures/valid.csv: valid_000002 bg-20 mixture_dbfs") for p in problems
    )
    result = CliRunner().invoke(main, ["verify", str(copy)])
    assert result.exit_code == 2 and "checksum mismatch" in result.output


def test_verify_of_an_intact_dataset_passes(plain: Path):
    result = CliRunner().invoke(main, ["verify", str(plain), "--full"])
    assert result.exit_code == 0, result.output


def test_a_dataset_explains_itself_in_a_readme_outside_its_manifest(
    plain: Path, synthetic_home: Path, tmp_path: Path
):
    """README.md: the recipe, every split's size, the conditions, the commands and the
    source datasets' licences; not a listed file (the identity and bytes are unchanged),
    rebuilt by regenerate, written into a dataset that lacks one by a rerun."""
    import shutil

    manifest = json.loads((plain / "manifest.json").read_text())
    assert "README.md" not in manifest["files"]
    text = (plain / "README.md").read_text()
    assert text.startswith(f"# {manifest['recipe']}: ")
    for split, n in manifest["splits"].items():
        assert f"{split} {n}" in text
    assert ", ".join(manifest["conditions"]) in text and "sssle-bench verify DIR" in text
    assert "CC BY-NC 3.0" in text and "CC BY 4.0" in text
    assert regenerate_dataset(plain, synthetic_home, dest=tmp_path / "re", echo=print) == []
    assert (tmp_path / "re" / "README.md").read_text() == text
    old = tmp_path / "old"
    shutil.copytree(plain, old)
    (old / "README.md").unlink()
    generate(old, synthetic_home)
    assert (old / "README.md").read_text() == text


def test_resume_after_sigkill(plain: Path, synthetic_home: Path, tmp_path: Path):
    out = tmp_path / "killed"
    cmd = generate_command(out, synthetic_home, "--limit", "3", "--jobs", "1")
    kill_mid_run(cmd, out, parts=4)
    parts = out / ".sssle" / "parts"
    done = sorted(parts.rglob("*.json"))
    assert 4 <= len(done) < 9, "the run was not interrupted mid-way"
    assert not (out / "manifest.json").exists()
    # Nothing partial under a final name: every visible WAV decodes to its full length.
    import soundfile as sf

    for wav in (out / "audio").rglob("*.wav"):
        assert sf.info(str(wav)).frames == 64000, wav
    first = out / "audio" / "train" / "none" / "train_000000.wav"
    stamp = first.stat().st_mtime_ns
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    assert f"({len(done)} already done)" in result.stdout
    assert first.stat().st_mtime_ns == stamp
    assert tree_digest(out) == tree_digest(plain)


def test_refuses_a_folder_of_another_recipe(plain: Path, synthetic_home: Path, tmp_path: Path):
    import shutil

    out = tmp_path / "ds"
    shutil.copytree(plain, out)
    other = tmp_path / "other.toml"
    other.write_text(TOY.read_text().replace("seed = 7", "seed = 8"))
    with pytest.raises(SssleError, match="holds a dataset of a different recipe"):
        generate(out, synthetic_home, recipe=other)
    generate(out, synthetic_home, recipe=other, overwrite=True)
    assert (
        json.loads((out / "manifest.json").read_text())["recipe_hash"]
        != json.loads((plain / "manifest.json").read_text())["recipe_hash"]
    )
    assert verify_dataset(out) == []


def test_cli_errors_are_one_line(synthetic_home: Path, tmp_path: Path):
    runner = CliRunner()
    missing = runner.invoke(
        main,
        [
            "generate",
            str(TOY),
            "--out",
            str(tmp_path / "a"),
            "--data-home",
            str(tmp_path / "nowhere"),
            "--limit",
            "1",
        ],
    )
    assert missing.exit_code == 2 and missing.output.startswith("error: UrbanSound8K not found")
    no_clips = tmp_path / "s2.toml"
    no_clips.write_text(TOY.read_text().replace("salience = [1]", "salience = [2]"))
    result = runner.invoke(
        main,
        [
            "generate",
            str(no_clips),
            "--out",
            str(tmp_path / "b"),
            "--data-home",
            str(synthetic_home),
            "--limit",
            "1",
        ],
    )
    assert result.exit_code == 2 and "have no clip of class" in result.output
    bad_shard = runner.invoke(
        main, ["generate", str(TOY), "--out", str(tmp_path / "c"), "--shard", "2/2"]
    )
    assert bad_shard.exit_code == 2 and "--shard" in bad_shard.output
    not_ds = runner.invoke(main, ["verify", str(tmp_path)])
    assert not_ds.exit_code == 2 and "manifest.json not found" in not_ds.output


@pytest.mark.parametrize("fmt, subtype", [("flac", "PCM_24"), ("wav", "FLOAT")])
def test_other_audio_formats(synthetic_home: Path, tmp_path: Path, fmt: str, subtype: str):
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        TOY.read_text().replace(
            'audio_format = "wav"\nsubtype = "PCM_16"',
            f'audio_format = "{fmt}"\nsubtype = "{subtype}"',
        )
    )
    out = generate(tmp_path / "ds", synthetic_home, recipe=recipe, limit=1, save_sources=True)
    import soundfile as sf

    info = sf.info(str(out / "audio" / "test" / "bg0" / f"test_000000.{fmt}"))
    assert info.subtype == subtype
    assert verify_dataset(out, full=True) == []
