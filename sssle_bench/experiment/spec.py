"""The experiment file: its keys, checked, and each variant's config (``Experiment``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SssleError
from ..paths import check_name
from ..toml_files import read_toml

_TOP_KEYS = {"name", "description", "dataset", "method", "base", "variants", "figures", "score"}
_DATASET_KEYS = {"path", "recipe", "data_home", "synthetic", "save_sources", "jobs"}


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment file (see the package docstring); paths resolved against it."""

    name: str
    description: str
    dataset_path: Path | None
    recipe: Path | None
    data_home: Path | None
    synthetic: str | None
    save_sources: bool
    method: str
    base: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    figures: dict[str, tuple[str, ...]]
    train_split: str
    test_split: str
    bootstrap: int


def load_experiment(path: Path) -> Experiment:
    """Read and check an experiment file; one clear error naming the key at fault."""
    path = Path(path)
    return parse_experiment(read_toml(path, "experiment file"), path.parent, str(path))


def _table(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise SssleError(f"{where}: [{key}] must be a table, got {value!r}")
    return value


def parse_experiment(raw: dict[str, Any], root: Path, where: str = "experiment") -> Experiment:
    """Validate raw TOML data; relative dataset paths are taken from ``root``."""
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise SssleError(f"{where}: unknown key(s) {', '.join(unknown)}")
    name = check_name(raw.get("name"), "name", where)
    dataset = _table(raw, "dataset", where)
    if sorted(set(dataset) - _DATASET_KEYS):
        raise SssleError(
            f"{where}: unknown [dataset] key(s) {sorted(set(dataset) - _DATASET_KEYS)}"
        )
    if ("path" in dataset) == ("recipe" in dataset):
        raise SssleError(f"{where}: [dataset] needs exactly one of path (a dataset) or recipe")
    synthetic = dataset.get("synthetic")
    if synthetic not in (None, "small", "medium"):
        raise SssleError(f"{where}: dataset.synthetic {synthetic!r} is not small or medium")
    variants = _table(raw, "variants", where)
    if not variants:
        raise SssleError(f"{where}: no [variants.NAME] table")
    for variant, overrides in variants.items():
        check_name(variant, "variant name", where)
        if not isinstance(overrides, dict):
            raise SssleError(f"{where}: variants.{variant} must be a table")
    figures = {}
    for group, members in _table(raw, "figures", where).items():
        check_name(group, "figure name", where)
        if not isinstance(members, list) or not members or any(m not in variants for m in members):
            raise SssleError(f"{where}: figures.{group} must list variants of this file")
        figures[group] = tuple(members)
    score = _table(raw, "score", where)

    def resolve(key: str) -> Path | None:
        return None if key not in dataset else (root / str(dataset[key])).resolve()

    return Experiment(
        name=name,
        description=str(raw.get("description", "")),
        dataset_path=resolve("path"),
        recipe=resolve("recipe"),
        data_home=resolve("data_home"),
        synthetic=synthetic,
        save_sources=bool(dataset.get("save_sources", False)),
        method=str(raw.get("method", "weak-sep")),
        base=_table(raw, "base", where),
        variants={v: dict(o) for v, o in variants.items()},
        figures=figures,
        train_split=check_name(score.get("train_split", "train"), "train_split", where),
        test_split=check_name(score.get("test_split", "test"), "test_split", where),
        bootstrap=int(score.get("bootstrap", 1000)),
    )


def variant_config(experiment: Experiment, variant: str) -> dict[str, Any]:
    """The full config of a variant: the shared ``base`` with the variant's overrides."""
    return {**experiment.base, **experiment.variants[variant]}


def check_configs(experiment: Experiment) -> None:
    """Build every variant's estimator once, so a bad config fails before any work."""
    from ..estimators import estimator_class

    cls = estimator_class(experiment.method)
    for variant in experiment.variants:
        try:
            cls(**variant_config(experiment, variant))
        except SssleError as exc:
            raise SssleError(f"variant {variant!r}: {exc}") from exc
