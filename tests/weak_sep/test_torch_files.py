"""A model folder's torch files come from strangers: each condition's weights are taken
only when they are what this package writes; anything else is one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sssle_bench.errors import SssleError
from sssle_bench.estimators.weak_sep.torch_files import condition_weights, read_model_folder

PATH = Path("model.pt")
PARTS = ("separator", "classifier")


def test_a_conditions_weights_are_returned_as_saved():
    weights = {"separator": {"w": 1}, "classifier": {"w": 2}}
    saved = {"conditions": {"none": weights, "bg-20": {"separator": {}}}}
    assert condition_weights(saved, "none", PATH, PARTS) is weights
    assert condition_weights(saved, "bg-20", PATH) == {"separator": {}}  # no parts asked


@pytest.mark.parametrize(
    "conditions",
    [
        {"bg-20": {"separator": {}, "classifier": {}}},  # the condition is missing
        {"none": {"separator": {}}},  # a part is missing
        {"none": ["separator", "classifier"]},  # not a dictionary
        ["none"],  # not per condition
    ],
)
def test_anything_else_is_one_line_naming_the_file(conditions):
    with pytest.raises(SssleError, match=r"^model\.pt: no weights of condition 'none'$"):
        condition_weights({"conditions": conditions}, "none", PATH, PARTS)


def test_a_hostile_condition_name_is_shortened_in_the_message():
    with pytest.raises(SssleError) as info:
        condition_weights({"conditions": {}}, "x" * 5000 + "\n<script>", PATH)
    assert len(str(info.value)) < 300 and "\n" not in str(info.value)


class _Planted:
    """An object whose unpickling would run code: a hostile model file's payload."""

    def __reduce__(self):
        return (print, ("planted code ran",))


def _model_folder(tmp_path: Path, blob: str, saved: object) -> Path:
    (tmp_path / "estimator.json").write_text(blob, encoding="utf-8")
    torch.save(saved, tmp_path / "model.pt")
    return tmp_path


GOOD_JSON = '{"config": {"preset": "cpu"}, "classes": ["dog"], "conditions": ["none"]}'


def test_a_model_folder_is_its_json_and_its_weights(tmp_path):
    folder = _model_folder(tmp_path, GOOD_JSON, {"conditions": {"none": {"w": torch.ones(2)}}})
    blob, saved, path = read_model_folder(folder, "weak-sep model")
    assert blob["classes"] == ["dog"] and blob["conditions"] == ["none"]
    assert path == folder / "model.pt"
    assert torch.equal(saved["conditions"]["none"]["w"], torch.ones(2))


@pytest.mark.parametrize(
    ("blob", "saved", "message"),
    [
        (
            '{"config": {}, "classes": ["dog"]}',
            {"conditions": {}},
            r"estimator\.json: no conditions",
        ),
        ('{"config": {}, "classes": "dog", "conditions": []}', {"conditions": {}}, "no classes"),
        (
            GOOD_JSON.replace('"dog"', '"../../x"'),
            {"conditions": {}},
            "class '../../x' is not a safe",
        ),
        (
            GOOD_JSON.replace('["none"]', '["none", 3]'),
            {"conditions": {}},
            "condition 3 is not a safe",
        ),
        (
            GOOD_JSON.replace('["dog"]', '["dog", "dog"]'),
            {"conditions": {}},
            "a class is listed twice",
        ),
        (GOOD_JSON, {"weights": {}}, r"model\.pt: not a weak-sep model .* \(no conditions\)"),
        (GOOD_JSON, {"conditions": _Planted()}, r"model\.pt: .*refused unread .*could run code"),
    ],
)
def test_a_hostile_model_folder_is_one_line_naming_its_file(tmp_path, capsys, blob, saved, message):
    folder = _model_folder(tmp_path, blob, saved)
    with pytest.raises(SssleError, match=message) as info:
        read_model_folder(folder, "weak-sep model")
    assert "\n" not in str(info.value)
    assert "planted code ran" not in capsys.readouterr().out
