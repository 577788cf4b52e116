"""Reading the torch files of a model folder: weights only, never code.

A model folder (and a shared or downloaded checkpoint folder) comes from whoever
wrote it. ``torch.load`` with ``weights_only=True`` unpickles tensors, numbers,
strings and containers only: a planted pickle that would run code is refused,
and so is every file that is not what this package writes.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ...errors import SssleError, excerpt
from ...paths import check_names
from ..base import read_estimator_json


def load_torch_file(
    path: Path, what: str, keys: tuple[str, ...], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """The dictionary saved in ``path`` (a ``what``, e.g. "training checkpoint"), which must
    hold ``keys``; one :class:`SssleError` line naming the file otherwise (a pickle that
    would run code, a truncated or foreign file, a missing key)."""
    try:
        saved = torch.load(Path(path), weights_only=True, map_location=map_location)
    except pickle.UnpicklingError as exc:
        raise SssleError(
            f"{path}: not a {what} this tool wrote, refused unread (it holds more than "
            "tensors, numbers and text: a pickle that could run code); delete it to train again"
        ) from exc
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SssleError(
            f"{path}: not a {what} this tool wrote, refused unread ({excerpt(reason, 100)}); "
            "delete it to train again"
        ) from exc
    missing = [k for k in keys if not isinstance(saved, dict) or k not in saved]
    if missing:
        raise SssleError(
            f"{path}: not a {what} this tool wrote (no {', '.join(missing)}); "
            "delete it to train again"
        )
    return saved


def load_weights(network: torch.nn.Module, state: Any, path: Path, what: str) -> None:
    """``network.load_state_dict(state)``; one line naming ``path`` if the weights do not
    fit the network (another configuration, or a tampered file)."""
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError, AttributeError) as exc:
        raise SssleError(
            f"{path}: its {what} weights do not fit this configuration "
            f"({excerpt(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 100)}); "
            "delete it to train again"
        ) from exc


def condition_weights(
    saved: dict[str, Any], condition: str, path: Path, parts: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The weights that a model file's ``saved["conditions"]`` (read from ``path``) holds
    for ``condition``: a dictionary, with the keys ``parts`` if given; one line naming the
    file otherwise."""
    by_condition = saved["conditions"]
    weights = by_condition.get(condition) if isinstance(by_condition, dict) else None
    if not isinstance(weights, dict) or set(parts) - set(weights):
        raise SssleError(f"{path}: no weights of condition {excerpt(condition)}")
    return weights


def read_model_folder(directory: Path, what: str) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """A per-condition model folder of a separator estimator (a ``what``, e.g. "weak-sep
    model"): its ``estimator.json`` (config, classes, conditions: checked for type, each
    class and condition a safe name, none twice), the
    dictionary its ``model.pt`` holds (weights only, with ``conditions``) and that file's
    path, for :func:`condition_weights`."""
    fields = {"config": dict, "classes": list, "conditions": list}
    where = Path(directory) / "estimator.json"
    blob = read_estimator_json(where, fields)
    for key, kind in (("classes", "class"), ("conditions", "condition")):
        check_names(blob[key], kind, str(where))
        if len(set(blob[key])) != len(blob[key]):
            raise SssleError(f"{where}: a {kind} is listed twice in {key}")
    path = Path(directory) / "model.pt"
    return blob, load_torch_file(path, what, ("conditions",)), path
