"""Public reader for generated datasets: mixtures with audio, clip labels and ground truth.

Used by the estimators themselves (and by anyone training a method)::

    ds = GeneratedDataset("my_dataset")
    for mix in ds.mixtures("train"):
        mix.audio, mix.sample_rate, mix.labels, mix.levels_dbfs_a

``labels`` (clip-level presence) is all a weakly supervised method may use;
``levels_*`` and :meth:`GeneratedDataset.sources` are the strong ground truth.
With torch installed, :func:`torch_dataset` wraps a split as a
``torch.utils.data.Dataset``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .audio import read_audio
from .errors import SssleError
from .levels import to_mono
from .paths import check_name, check_names, check_relative
from .recipe import NO_BACKGROUND, Recipe, load_recipe


@dataclass(frozen=True)
class MixtureInfo:
    """What identifies a mixture and its clip-level labels (no levels); ``interval_s``: the
    dataset's interval length (s) for time-resolved predictions (LAeq per interval)."""

    mixture_id: str
    split: str
    condition: str
    labels: dict[str, bool]
    interval_s: float = 1.0


@dataclass(frozen=True)
class Mixture:
    """One mixture in one condition: mono audio (full scale 1.0), labels and ground truth."""

    info: MixtureInfo
    audio: np.ndarray
    sample_rate: int
    levels_dbfs: dict[str, float]
    levels_dbfs_a: dict[str, float]
    sources_dir: Path | None
    audio_path: Path

    @property
    def labels(self) -> dict[str, bool]:
        return self.info.labels


def load_manifest(root: Path) -> dict[str, Any]:
    """A generated dataset's ``manifest.json``, checked (:func:`check_manifest`).

    :class:`SssleError` if it is missing, unreadable or not a dataset manifest.
    """
    path = Path(root) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SssleError(f"{path} not found: not a complete sssle-bench dataset") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SssleError(f"{path}: not valid JSON ({exc})") from exc
    except OSError as exc:
        raise SssleError(f"{path}: unreadable ({exc})") from exc
    return check_manifest(manifest, str(path))


def check_manifest(manifest: Any, where: str) -> dict[str, Any]:
    """Check a manifest's structure and every name in it that becomes a path.

    Splits, conditions and classes must be safe names, every listed file a
    relative path of safe components; split sizes are integers >= 0.
    """
    if not isinstance(manifest, dict):
        raise SssleError(f"{where}: not an sssle-bench dataset manifest (not a JSON object)")
    kinds = {
        "recipe_hash": str,
        "splits": dict,
        "conditions": list,
        "classes": list,
        "files": dict,
        "options": dict,
    }
    for key, kind in kinds.items():
        if not isinstance(manifest.get(key), kind):
            raise SssleError(
                f"{where}: not an sssle-bench dataset manifest "
                f"({key!r} missing or not a {kind.__name__})"
            )
    for split, n in manifest["splits"].items():
        check_name(split, "split", where)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise SssleError(f"{where}: split {split!r} size {n!r} is not an integer >= 0")
    check_names(manifest["conditions"], "condition", where)
    check_names(manifest["classes"], "class", where)
    for rel, digest in manifest["files"].items():
        check_relative(rel, where)
        if not isinstance(digest, str):
            raise SssleError(f"{where}: sha256 of {rel!r} is not a string")
    return manifest


class GeneratedDataset:
    """A dataset folder written by ``sssle-bench generate``."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.manifest: dict[str, Any] = load_manifest(self.root)
        self.classes: tuple[str, ...] = tuple(self.manifest["classes"])
        self.conditions: tuple[str, ...] = tuple(self.manifest["conditions"])
        self.splits: tuple[str, ...] = tuple(self.manifest["splits"])
        self.has_sources: bool = bool(self.manifest["options"]["save_sources"])

    @cached_property
    def recipe(self) -> Recipe:
        """The dataset's resolved recipe (``recipe.toml``), read when first asked for."""
        return load_recipe(self.root / "recipe.toml")

    @property
    def interval_s(self) -> float:
        """Interval length (s) of the time-resolved ground truth (the recipe's ``interval_s``)."""
        return self.recipe.interval_s

    def _check_split(self, split: str) -> None:
        if split not in self.splits:
            raise SssleError(f"{self.root} has no split {split!r} (has {', '.join(self.splits)})")

    def truth(self, split: str) -> pd.DataFrame:
        """Long ground truth of a split (one row per mixture, condition, class)."""
        self._check_split(split)
        return pd.read_csv(self.root / "ground_truth" / f"{split}.csv")

    def interval_truth(self, split: str) -> pd.DataFrame:
        """The split's LAeq per interval (one row per mixture, condition, source, interval;
        sources: the classes, ``background`` and ``mixture``)."""
        self._check_split(split)
        return pd.read_csv(self.root / "ground_truth" / f"{split}_intervals.csv")

    def table(self, split: str) -> pd.DataFrame:
        """The split's ``mixtures`` CSV (one row per mixture and condition)."""
        self._check_split(split)
        return pd.read_csv(self.root / "mixtures" / f"{split}.csv")

    def wide(self, split: str, column: str, truth: pd.DataFrame | None = None) -> pd.DataFrame:
        """A truth column pivoted to one row per (mixture_id, condition), one column per class.

        ``truth`` (the split's :meth:`truth`) saves reading it again.
        """
        truth = self.truth(split) if truth is None else truth
        wide = truth.pivot(index=["mixture_id", "condition"], columns="class", values=column)
        return wide[list(self.classes)]

    def _rows(
        self,
        split: str,
        conditions: tuple[str, ...] | None,
        ids: Collection[str] | None = None,
    ) -> Iterator[tuple[Any, Any]]:
        """``(row, wide truth columns)`` of the split's table, optionally some conditions
        and some mixture ids."""
        table = self.table(split)
        if conditions is not None:
            table = table[table["condition"].isin(conditions)]
        if ids is not None:
            table = table[table["mixture_id"].isin(set(ids))]
        truth = self.truth(split)
        wide = {c: self.wide(split, c, truth) for c in ("present", "level_dbfs", "level_dbfs_a")}
        for row in table.itertuples(index=False):
            yield row, wide

    def _info(self, split: str, row: Any, wide: dict[str, pd.DataFrame]) -> MixtureInfo:
        key = (row.mixture_id, row.condition)
        present = {c: bool(wide["present"].loc[key, c]) for c in self.classes}
        return MixtureInfo(row.mixture_id, split, row.condition, present, self.interval_s)

    def mixture_infos(self, split: str) -> list[tuple[MixtureInfo, Path]]:
        """``(info, audio path)`` of every mixture of ``split``, in file order, no audio read."""
        return [
            (self._info(split, row, wide), self.root / row.audio_path)
            for row, wide in self._rows(split, None)
        ]

    def mixtures(
        self,
        split: str,
        conditions: tuple[str, ...] | None = None,
        ids: Collection[str] | None = None,
    ) -> Iterator[Mixture]:
        """Every mixture of ``split`` (in file order), optionally only some conditions and
        some mixture ids (the others' audio is not read)."""
        for row, wide in self._rows(split, conditions, ids):
            key = (row.mixture_id, row.condition)
            audio, sr = read_audio(self.root / row.audio_path)
            sources = getattr(row, "sources_dir", None)
            yield Mixture(
                info=self._info(split, row, wide),
                audio=to_mono(audio),
                sample_rate=sr,
                levels_dbfs={c: float(wide["level_dbfs"].loc[key, c]) for c in self.classes},
                levels_dbfs_a={c: float(wide["level_dbfs_a"].loc[key, c]) for c in self.classes},
                sources_dir=None if sources is None or pd.isna(sources) else self.root / sources,
                audio_path=self.root / row.audio_path,
            )

    def sources(self, mixture: Mixture) -> dict[str, np.ndarray]:
        """Isolated class tracks of a mixture (needs a dataset generated with --save-sources)."""
        if mixture.sources_dir is None:
            raise SssleError(
                f"{self.root} has no isolated sources: generate it with --save-sources"
            )
        ext = mixture.audio_path.suffix
        return {
            c: to_mono(read_audio(mixture.sources_dir / f"{c}{ext}")[0])
            for c in self.classes
            if mixture.labels[c]
        }


def evenly_spaced(n: int, limit: int | None) -> list[int]:
    """Indices of ``limit`` of ``n`` items spread evenly from the first (``i * n // limit``),
    or all of them when ``limit`` is None or not smaller: the subset a ``max_train_mixtures``
    style cap keeps, the same for every method that applies it."""
    if limit is None or n <= limit:
        return list(range(n))
    return [i * n // limit for i in range(limit)]


def has_background(condition: str) -> bool:
    """Whether a condition's mixtures hold a background (every condition but ``none``)."""
    return condition != NO_BACKGROUND


def background_name(audio_path: str | Path) -> str:
    """The file name of a mixture's saved background track (a dataset generated with
    ``--save-sources``): in its sources folder, in the mixture's audio format."""
    return f"background{Path(audio_path).suffix}"


def torch_dataset(dataset: GeneratedDataset, split: str, conditions: tuple[str, ...] | None = None):
    """A lazy ``torch.utils.data.Dataset`` of ``(audio[n] float32, labels[K] float32,
    background float32)``.

    Audio is read from disk per item; labels are the clip-level presence labels;
    ``background`` is 1 for a mixture of a condition with a background, else 0 (a
    clip-level label too: the condition is known).
    """
    import torch
    from torch.utils.data import Dataset

    table = dataset.table(split)
    if conditions is not None:
        table = table[table["condition"].isin(conditions)].reset_index(drop=True)
    present = dataset.wide(split, "present")
    keys = list(zip(table["mixture_id"], table["condition"], strict=True))
    labels = torch.tensor(present.loc[keys].to_numpy(dtype=np.float32))
    flags = torch.tensor([float(has_background(c)) for c in table["condition"]])
    paths = [dataset.root / p for p in table["audio_path"]]

    class _Split(Dataset):
        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, i: int):
            audio = to_mono(read_audio(paths[i])[0]).astype(np.float32)
            return torch.from_numpy(audio), labels[i], flags[i]

    return _Split()


def background_tracks(
    dataset: GeneratedDataset, split: str, conditions: tuple[str, ...] | None = None
) -> list[Path]:
    """The saved background tracks of a split's mixtures of conditions with a background,
    sorted (empty for a dataset generated without ``--save-sources``)."""
    table = dataset.table(split)
    if conditions is not None:
        table = table[table["condition"].isin(conditions)]
    if "sources_dir" not in table:
        return []
    rows = table[table["condition"].map(has_background) & table["sources_dir"].notna()]
    where = f"{dataset.root}/mixtures/{split}.csv"
    return sorted(
        dataset.root / check_relative(f"{d}/{background_name(a)}", where)
        for d, a in zip(rows["sources_dir"], rows["audio_path"], strict=True)
    )
