"""A model folder's torch files come from strangers: each condition's weights are taken
only when they are what this package writes; anything else is one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sssle_bench.errors import SssleError
from sssle_bench.estimators.weak_sep.torch_files import condition_weights

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
