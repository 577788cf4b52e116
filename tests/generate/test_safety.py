"""Hostile datasets and odd command sequences: nothing is written outside its folder,
every refusal is one line naming the file and the value, and verify passes after
any sequence of accepted commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sssle_bench.cli import main
from sssle_bench.errors import SssleError
from sssle_bench.generate.check import regenerate_dataset, verify_dataset
from sssle_bench.paths import inside, write_bytes

from ..conftest import TOY, generate, tree_digest


@pytest.fixture(scope="module")
def small(synthetic_home: Path, tmp_path_factory) -> Path:
    """Toy recipe, 1 mixture per split, with isolated sources; copy before editing."""
    return generate(
        tmp_path_factory.mktemp("small") / "ds", synthetic_home, limit=1, save_sources=True
    )


def _copy(ds: Path, to: Path) -> Path:
    shutil.copytree(ds, to, symlinks=True)
    return to


def _edit_first_event(ds: Path, **value) -> Path:
    path = ds / "jams" / "train" / "train_000000.jams"
    jam = json.loads(path.read_text())
    jam["annotations"][0]["data"][0]["value"].update(value)
    path.write_text(json.dumps(jam))
    return path


def _regenerate_cli(ds: Path, home: Path, dest: Path):
    args = ["regenerate", str(ds), "--data-home", str(home), "--out", str(dest), "--jobs", "1"]
    return CliRunner().invoke(main, args)


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def _files_named(root: Path, fragment: str) -> list[Path]:
    return [p for p in root.rglob("*") if fragment in p.name]


@pytest.mark.parametrize(
    "label", ["../../../../somewhere/PWNED", "/tmp/PWNED", "car_horn/../PWNED", "PWNED"]
)
def test_jams_label_outside_the_vocabulary_is_refused_before_any_write(
    small: Path, synthetic_home: Path, tmp_path: Path, label: str
):
    ds = _copy(small, tmp_path / "ds")
    jams_path = _edit_first_event(ds, label=label)
    result = _regenerate_cli(ds, synthetic_home, tmp_path / "deep" / "er" / "new")
    _one_line_error(result, str(jams_path), repr(label))
    assert _files_named(tmp_path, "PWNED") == []
    assert not Path("/tmp/PWNED").exists()


@pytest.mark.parametrize(
    "source",
    [
        "/etc/passwd",
        "../../../../etc/passwd",
        "car_horn/../../../x.wav",
        "dog_bark/100032-3-0-0.wav",  # another label's folder
        "car_horn/not-a-clip.wav",  # not there
    ],
)
def test_jams_source_file_outside_the_data_home_or_missing_is_one_line(
    small: Path, synthetic_home: Path, tmp_path: Path, source: str
):
    ds = _copy(small, tmp_path / "ds")
    jam = json.loads((ds / "jams" / "train" / "train_000000.jams").read_text())
    label = jam["annotations"][0]["data"][0]["value"]["label"]
    jams_path = _edit_first_event(ds, source_file=source.replace("car_horn", label))
    result = _regenerate_cli(ds, synthetic_home, tmp_path / "new")
    _one_line_error(result, str(jams_path), "source_file")


def test_missing_jams_and_broken_jams_are_one_line(
    small: Path, synthetic_home: Path, tmp_path: Path
):
    ds = _copy(small, tmp_path / "ds")
    (ds / "jams" / "valid" / "valid_000000.jams").unlink()
    _one_line_error(_regenerate_cli(ds, synthetic_home, tmp_path / "a"), "valid_000000.jams")
    ds2 = _copy(small, tmp_path / "ds2")
    (ds2 / "jams" / "train" / "train_000000.jams").write_text('{"annotations": [')
    _one_line_error(_regenerate_cli(ds2, synthetic_home, tmp_path / "b"), "not a Scaper JAMS")


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda m: m["splits"].update({"../../escape": 1}), "split '../../escape'"),
        (lambda m: m["conditions"].append("../bg"), "condition '../bg'"),
        (lambda m: m["classes"].append("/abs"), "class '/abs'"),
        (lambda m: m["files"].update({"../../x.wav": "0" * 64}), "'../../x.wav'"),
        (lambda m: m["files"].update({"/etc/passwd": "0" * 64}), "'/etc/passwd'"),
        (lambda m: m.pop("files"), "'files' missing"),
        (lambda m: m["splits"].update({"train": -1}), "size -1"),
    ],
)
def test_hostile_manifests_are_refused_by_every_reader(
    small: Path, synthetic_home: Path, tmp_path: Path, edit, needle: str
):
    ds = _copy(small, tmp_path / "ds")
    manifest = json.loads((ds / "manifest.json").read_text())
    edit(manifest)
    (ds / "manifest.json").write_text(json.dumps(manifest))
    for args in (
        ["verify", str(ds)],
        ["regenerate", str(ds), "--data-home", str(synthetic_home), "--out", str(tmp_path / "n")],
        ["validate", str(tmp_path / "p.csv"), "--truth", str(ds)],
    ):
        (tmp_path / "p.csv").write_text("mixture_id,condition,class,level_db\n")
        _one_line_error(CliRunner().invoke(main, args), "manifest.json", needle)
    assert not (tmp_path / "n").exists()


def test_a_recipe_of_the_dataset_with_an_unsafe_split_is_refused(
    small: Path, synthetic_home: Path, tmp_path: Path
):
    ds = _copy(small, tmp_path / "ds")
    text = (ds / "recipe.toml").read_text().replace("[splits.test]", '[splits."../../escape"]')
    (ds / "recipe.toml").write_text(text)
    result = _regenerate_cli(ds, synthetic_home, tmp_path / "new")
    _one_line_error(result, "recipe.toml", "'../../escape'")


def test_generate_refuses_an_unsafe_split_before_writing(synthetic_home: Path, tmp_path: Path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(TOY.read_text().replace("[splits.test]", '[splits."../../escape"]'))
    out = tmp_path / "a" / "b" / "out"
    result = CliRunner().invoke(
        main, ["generate", str(recipe), "--out", str(out), "--data-home", str(synthetic_home)]
    )
    _one_line_error(result, "'../../escape'", "not a safe name")
    assert not (tmp_path / "a").exists() and not (tmp_path / "escape").exists()


def test_write_helper_refuses_every_escape(tmp_path: Path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    for rel in ["../x", "/etc/x", "sub/../../x", "link/x", "link/../../x", ".."]:
        with pytest.raises(SssleError, match="outside"):
            write_bytes(root, rel, b"no")
    assert list(outside.iterdir()) == [] and not (tmp_path / "x").exists()
    # A link as the *last* component is replaced by the write, never followed.
    write_bytes(root, "link", b"yes")
    assert (root / "link").read_bytes() == b"yes" and not (root / "link").is_symlink()
    assert list(outside.iterdir()) == []
    assert inside(root, "sub/./a/../b") == root / "sub/./a/../b"


def test_a_symlinked_output_folder_works_and_a_symlink_inside_it_is_refused(
    small: Path, synthetic_home: Path, tmp_path: Path
):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "out").symlink_to(real)
    generate(tmp_path / "out", synthetic_home, limit=1, save_sources=True)
    assert verify_dataset(real) == [] and tree_digest(real) == tree_digest(small)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    second = tmp_path / "second"
    second.mkdir()
    (second / "audio").symlink_to(elsewhere)
    (second / ".sssle").mkdir()
    state = json.loads((real / ".sssle" / "state.json").read_text())
    (second / ".sssle" / "state.json").write_text(json.dumps(state))
    with pytest.raises(SssleError, match="outside"):
        generate(second, synthetic_home, limit=1, save_sources=True)
    assert list(elsewhere.iterdir()) == []


def test_a_regenerate_into_the_dataset_itself_is_refused(small: Path, synthetic_home: Path):
    with pytest.raises(SssleError, match="inside the dataset"):
        regenerate_dataset(small, synthetic_home, dest=small / "copy", echo=lambda s: None)


def test_a_smaller_limit_deletes_nothing_unless_asked(synthetic_home: Path, tmp_path: Path):
    """The reported case: a smaller --limit deleted mixtures and exited 0. It is refused,
    says what it would delete, and deletes nothing."""
    out = generate(tmp_path / "ds", synthetic_home, limit=3)
    before = tree_digest(out, skip=())
    result = CliRunner().invoke(
        main,
        ["generate", str(TOY), "--out", str(out), "--data-home", str(synthetic_home)]
        + ["--limit", "1", "--jobs", "1"],
    )
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "holds 6 mixture(s) beyond the requested split sizes" in result.output
    assert "train_000001, train_000002, valid_000001 and 3 more" in result.output
    assert "30 file(s). Pass --overwrite to delete them" in result.output
    assert tree_digest(out, skip=()) == before


def test_a_hostile_record_is_refused_before_anything_is_pruned(
    synthetic_home: Path, tmp_path: Path
):
    out = generate(tmp_path / "ds", synthetic_home, limit=3)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    record = out / ".sssle" / "parts" / "test" / "test_000002.json"
    doc = json.loads(record.read_text())
    doc["files"]["../../precious.txt"] = "0" * 64
    record.write_text(json.dumps(doc))
    before = tree_digest(out, skip=())
    with pytest.raises(SssleError, match="not relative with safe components"):
        generate(out, synthetic_home, limit=2, overwrite=True)
    assert tree_digest(out, skip=()) == before and outside.read_text() == "keep me"


def test_a_smaller_limit_with_overwrite_prunes_so_verify_passes(
    synthetic_home: Path, tmp_path: Path
):
    out = tmp_path / "ds"
    generate(out, synthetic_home, limit=3)
    said: list[str] = []
    generate(out, synthetic_home, limit=2, echo=said.append, overwrite=True)
    assert "3 beyond --limit removed" in said[-1]
    assert verify_dataset(out, full=True) == []
    assert tree_digest(out) == tree_digest(generate(tmp_path / "two", synthetic_home, limit=2))
    generate(out, synthetic_home, limit=3)
    assert verify_dataset(out) == []


def test_a_refused_generate_leaves_no_state(synthetic_home: Path, tmp_path: Path):
    out = tmp_path / "ds"
    runner = CliRunner()
    bad = runner.invoke(
        main, ["generate", str(TOY), "--out", str(out), "--data-home", str(tmp_path / "none")]
    )
    assert bad.exit_code == 2 and not out.exists()
    other = tmp_path / "other.toml"
    other.write_text(TOY.read_text().replace("seed = 7", "seed = 8"))
    generate(out, synthetic_home, recipe=other, limit=1)
    assert verify_dataset(out) == []


@pytest.mark.parametrize("jobs", ["0", "-1", "x"])
def test_jobs_below_one_are_refused(tmp_path: Path, jobs: str):
    result = CliRunner().invoke(
        main, ["generate", str(TOY), "--out", str(tmp_path), "--jobs", jobs]
    )
    assert result.exit_code == 2 and "--jobs" in result.output
    assert "Traceback" not in result.output


def test_a_resume_with_nothing_to_do_writes_nothing(synthetic_home: Path, tmp_path: Path):
    out = generate(tmp_path / "ds", synthetic_home, limit=1)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    said: list[str] = []
    generate(out, synthetic_home, limit=1, echo=said.append)
    assert said == [f"nothing to do: all 3 mixtures already generated in {out}"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
