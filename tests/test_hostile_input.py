"""Every command, fed every kind of malformed input it can receive, answers in one clear
error line with exit status 2, never a traceback.

Kinds: missing, empty, truncated, wrong type, wrong encoding, a folder where a file
belongs (and the reverse), and hostile names. ``download`` is left out: its inputs are
a dataset name (a click choice) and a data home, and it goes to the network.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from sssle_bench.cli import main
from sssle_bench.dataset import check_manifest
from sssle_bench.errors import SssleError

from .conftest import TOY


@pytest.fixture(scope="module")
def bad(toy_dataset: Path, tmp_path_factory) -> dict[str, Path]:
    """Malformed inputs of every kind, by name."""
    root = tmp_path_factory.mktemp("bad")
    toy = TOY.read_text()
    files = {
        "empty": b"",
        "truncated_toml": toy[: len(toy) // 2].encode(),
        "wrong_type_toml": toy.replace("seed = 7", 'seed = "x"').encode(),
        "hostile_toml": toy.replace("[splits.test]", '[splits."../../x"]').encode(),
        "latin1": "mixture_id,condition,class,level_db\ntést,none,siren,-3\n".encode("latin-1"),
        "garbage": bytes(range(256)) * 4,
        "utf16_no_bom": "mixture_id,condition,class,level_db\n".encode("utf-16-le"),
        "header_only": b"mixture_id,condition,class,level_db\n",
        "truncated_csv": b"mixture_id,condition,class,level_db\ntest_000000,no",
        "wrong_type_csv": b"mixture_id,condition,class,level_db\ntest_000000,none,siren,loud\n",
        "semicolons": b"mixture_id;condition;class;level_db\n",
        "hostile_csv": b"mixture_id,condition,class,level_db\n../../x,../y,/etc/z,-3\n",
        "config_wrong_type": b'epochs = "x"\n',
        "config_unknown_key": b"epoch = 3\n",
        "config_bad_preset": b'preset = "../../paper"\n',
        "config_out_of_range": b"learning_rate = -1.0\nbatch_size = 0\n",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = root / name
        paths[name].write_bytes(data)
    paths["missing"] = root / "does-not-exist"
    paths["folder"] = root / "a-folder"
    paths["folder"].mkdir()
    datasets = {
        "ds_truncated_manifest": lambda m: m.write_text(m.read_text()[:100]),
        "ds_latin1_manifest": lambda m: m.write_bytes(b'{"x": "\xe9"}'),
        "ds_list_manifest": lambda m: m.write_text("[]"),
        "ds_hostile_manifest": lambda m: m.write_text(
            json.dumps({**json.loads(m.read_text()), "splits": {"../../x": 1}})
        ),
        "ds_no_manifest": lambda m: m.unlink(),
        "ds_truncated_truth": lambda m: (m.parent / "ground_truth" / "test.csv").write_text("m"),
    }
    for name, edit in datasets.items():
        paths[name] = root / name
        shutil.copytree(toy_dataset, paths[name], symlinks=True)
        edit(paths[name] / "manifest.json")
    model = root / "model"
    model.mkdir()
    (model / "sssle_estimator.json").write_text('{"name": "class-pr')
    paths["model_truncated"] = model
    other = root / "model_other"
    other.mkdir()
    (other / "sssle_estimator.json").write_text('{"name": "nmf"}')
    paths["model_other"] = other
    broken = root / "model_broken"
    broken.mkdir()
    (broken / "sssle_estimator.json").write_text('{"name": "class-prior"}')
    (broken / "estimator.json").write_text('{"config": ')
    paths["model_broken"] = broken
    sub = root / "sub"
    sub.mkdir()
    (sub / "predictions.csv").write_bytes(files["header_only"])
    paths["sub_header_only"] = sub
    # a valid predictions file, so that an intervals file is what is bad
    truth = (toy_dataset / "ground_truth" / "test.csv").read_text().splitlines()[1:]
    rows = [",".join([r.split(",")[0], r.split(",")[2], r.split(",")[3], "-30"]) for r in truth]
    paths["perfect"] = root / "perfect.csv"
    paths["perfect"].write_text("mixture_id,condition,class,level_db\n" + "\n".join(rows) + "\n")
    return paths


# (command builder, substring the error line must contain)
Case = tuple[Callable[[dict[str, Path], Path, Path, Path], list[str]], str]

DATASET_KINDS = [
    "missing",
    "folder",
    "ds_truncated_manifest",
    "ds_latin1_manifest",
    "ds_list_manifest",
    "ds_hostile_manifest",
    "ds_no_manifest",
    "empty",
]
PREDICTION_KINDS = [
    "missing",
    "folder",
    "empty",
    "truncated_csv",
    "wrong_type_csv",
    "latin1",
    "garbage",
    "utf16_no_bom",
    "header_only",
    "semicolons",
    "hostile_csv",
]
RECIPE_KINDS = [
    "missing",
    "folder",
    "empty",
    "truncated_toml",
    "wrong_type_toml",
    "hostile_toml",
    "latin1",
    "garbage",
]
CONFIG_KINDS = [
    "missing",
    "folder",
    "truncated_toml",
    "latin1",
    "garbage",
    "config_wrong_type",
    "config_unknown_key",
    "config_bad_preset",
    "config_out_of_range",
]


def _cases() -> list[tuple[str, Callable]]:
    cases: list[tuple[str, Callable]] = []
    for kind in RECIPE_KINDS:
        cases.append(
            (f"recipe-check-{kind}", lambda b, ds, home, t, k=kind: ["recipe", "check", str(b[k])])
        )
        cases.append(
            (
                f"generate-recipe-{kind}",
                lambda b, ds, home, t, k=kind: [
                    "generate",
                    str(b[k]),
                    "--out",
                    str(t / "o"),
                    "--data-home",
                    str(home),
                ],
            )
        )
    for kind in DATASET_KINDS:
        cases += [
            (f"verify-{kind}", lambda b, ds, home, t, k=kind: ["verify", str(b[k]), "--full"]),
            (
                f"regenerate-{kind}",
                lambda b, ds, home, t, k=kind: [
                    "regenerate",
                    str(b[k]),
                    "--data-home",
                    str(home),
                    "--out",
                    str(t / "re"),
                ],
            ),
            (
                f"validate-truth-{kind}",
                lambda b, ds, home, t, k=kind: [
                    "validate",
                    str(b["header_only"]),
                    "--truth",
                    str(b[k]),
                ],
            ),
            (
                f"train-dataset-{kind}",
                lambda b, ds, home, t, k=kind: [
                    "train",
                    "class-prior",
                    str(b[k]),
                    "--out",
                    str(t / "m"),
                ],
            ),
            (
                f"leaderboard-truth-{kind}",
                lambda b, ds, home, t, k=kind: [
                    "leaderboard",
                    str(b["sub_header_only"]),
                    "--truth",
                    str(b[k]),
                    "--out",
                    str(t / "lb"),
                ],
            ),
        ]
    for kind in PREDICTION_KINDS:
        cases += [
            (
                f"validate-{kind}",
                lambda b, ds, home, t, k=kind: ["validate", str(b[k]), "--truth", str(ds)],
            ),
            (
                f"score-{kind}",
                lambda b, ds, home, t, k=kind: [
                    "score",
                    str(b[k]),
                    "--truth",
                    str(ds),
                    "--out",
                    str(t / "s.json"),
                ],
            ),
            *[
                (
                    f"{command}-intervals-{kind}",
                    lambda b, ds, home, t, k=kind, c=command: [
                        c,
                        str(b["perfect"]),
                        "--truth",
                        str(ds),
                        "--intervals",
                        str(b[k]),
                    ],
                )
                for command in ("validate", "score")
            ],
        ]
    for kind in CONFIG_KINDS:
        cases.append(
            (
                f"train-config-{kind}",
                lambda b, ds, home, t, k=kind: [
                    "train",
                    "weak-sep",
                    str(ds),
                    "--out",
                    str(t / "m"),
                    "--config",
                    str(b[k]),
                ],
            )
        )
    for kind in ["missing", "model_truncated", "model_other", "model_broken", "empty"]:
        cases.append(
            (
                f"predict-model-{kind}",
                lambda b, ds, home, t, k=kind: [
                    "predict",
                    "class-prior",
                    str(ds),
                    "--model",
                    str(b[k]),
                    "--out",
                    str(t / "p"),
                ],
            )
        )
    cases += [
        (
            "train-unknown-method",
            lambda b, ds, home, t: ["train", "../x", str(ds), "--out", str(t)],
        ),
        (
            "predict-unknown-split",
            lambda b, ds, home, t: [
                "predict",
                "class-prior",
                str(ds),
                "--model",
                str(b["model_other"]),
                "--split",
                "../x",
                "--out",
                str(t / "p"),
            ],
        ),
        (
            "validate-unknown-split",
            lambda b, ds, home, t: [
                "validate",
                str(b["header_only"]),
                "--truth",
                str(ds),
                "--split",
                "../../x",
            ],
        ),
        (
            "score-truncated-truth",
            lambda b, ds, home, t: [
                "score",
                str(b["header_only"]),
                "--truth",
                str(b["ds_truncated_truth"]),
            ],
        ),
        (
            "sources-home-missing",
            lambda b, ds, home, t: ["sources", "--data-home", str(b["missing"])],
        ),
        ("sources-home-empty", lambda b, ds, home, t: ["sources", "--data-home", str(b["folder"])]),
        (
            "generate-home-missing",
            lambda b, ds, home, t: [
                "generate",
                str(TOY),
                "--out",
                str(t / "o"),
                "--data-home",
                str(b["missing"]),
            ],
        ),
        (
            "generate-out-is-a-file",
            lambda b, ds, home, t: [
                "generate",
                str(TOY),
                "--out",
                str(b["empty"]),
                "--data-home",
                str(home),
            ],
        ),
        (
            "make-sources-out-is-a-file",
            lambda b, ds, home, t: [
                "make-synthetic-sources",
                "--out",
                str(b["empty"]),
            ],
        ),
        ("demo-out-is-a-file", lambda b, ds, home, t: ["demo", "--out", str(b["empty"])]),
        *[
            (
                f"experiment-{kind}",
                lambda b, ds, home, t, k=kind: ["experiment", str(b[k]), "--out", str(t / "x")],
            )
            for kind in ("missing", "empty", "truncated_toml", "latin1", "garbage", "folder")
        ],
        (
            "leaderboard-no-folders",
            lambda b, ds, home, t: [
                "leaderboard",
                "--truth",
                str(ds),
                "--out",
                str(t / "lb"),
            ],
        ),
        (
            "leaderboard-out-is-a-file",
            lambda b, ds, home, t: [
                "leaderboard",
                str(b["sub_header_only"]),
                "--truth",
                str(ds),
                "--out",
                str(b["empty"]),
            ],
        ),
    ]
    return cases


CASES = _cases()


def test_the_predictions_beside_bad_intervals_are_valid(bad: dict[str, Path], toy_dataset: Path):
    """So the ``*-intervals-*`` cases fail on the intervals file, not on the predictions."""
    args = ["validate", str(bad["perfect"]), "--truth", str(toy_dataset)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("builder", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_no_traceback_one_error_line(
    builder, bad: dict[str, Path], toy_dataset: Path, synthetic_home: Path, tmp_path: Path
):
    args = builder(bad, toy_dataset, synthetic_home, tmp_path)
    result = CliRunner().invoke(main, args)
    assert isinstance(result.exception, SystemExit), (
        f"{args}: {type(result.exception).__name__}: {result.exception}\n{result.output}"
    )
    assert result.exit_code == 2, (args, result.output)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1, (args, result.output)


@pytest.mark.parametrize(
    ("key", "names", "message"),
    [
        ("classes", ["dog_bark", "../../x"], "class '../../x' is not a safe name"),
        ("conditions", ["none", 3], "condition 3 is not a safe name"),
    ],
)
def test_a_manifests_classes_and_conditions_must_be_safe_names(
    toy_dataset: Path, key: str, names: list, message: str
):
    manifest = json.loads((toy_dataset / "manifest.json").read_text())
    with pytest.raises(SssleError, match=f"^where: {message}"):
        check_manifest({**manifest, key: names}, "where")
    assert check_manifest(manifest, "where") == manifest
