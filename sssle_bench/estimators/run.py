"""Train an estimator on a dataset; predict a split into a submission folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..dataset import GeneratedDataset
from ..errors import SssleError
from ..paths import remove_file, write_text
from ..recipe import dumps_toml, read_toml
from . import estimator_class

BATCH = 16


def read_config(path: Path | None) -> dict[str, Any]:
    """An estimator config file (TOML); empty without one."""
    return {} if path is None else read_toml(path, "config")


def train(
    name: str,
    dataset_dir: Path,
    out: Path,
    config: dict[str, Any],
    split: str = "train",
    cache: Path | None = None,
):
    """Fit ``name`` on ``dataset_dir``'s ``split`` and save it in ``out``.

    ``cache``: a folder where parts reusable across models (weak-sep's pretrained
    classifier) are kept, each under a name that proves its inputs."""
    est = estimator_class(name)(**config)
    # A long fit may keep checkpoints here and resume from them.
    est.workdir = Path(out)
    if cache is not None:
        est.cache_dir = Path(cache)
    est.fit(GeneratedDataset(dataset_dir), split)
    est.save(Path(out))
    write_text(
        Path(out),
        "sssle_estimator.json",
        json.dumps({"name": name, "supervision": est.supervision}),
    )
    return est


def load_trained(name: str, model_dir: Path):
    """The estimator ``name`` trained into ``model_dir``; one clear error if it is not there,
    is another method's, or its files are unreadable."""
    cls = estimator_class(name)
    marker = model_dir / "sssle_estimator.json"
    if not marker.is_file():
        raise SssleError(f"{model_dir} holds no trained estimator (run `sssle-bench train` first)")
    try:
        saved = json.loads(marker.read_text(encoding="utf-8"))["name"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise SssleError(f"{marker}: unreadable ({exc!r}); train the model again") from exc
    if saved != name:
        raise SssleError(f"{model_dir} holds a {saved!r} model, not {name!r}")
    try:
        return cls.load(model_dir)
    except SssleError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError) as exc:
        raise SssleError(
            f"{model_dir}: the saved {name} model is unreadable ({type(exc).__name__}: {exc}); "
            "train it again"
        ) from exc


def predict(
    name: str,
    dataset_dir: Path,
    model_dir: Path,
    out: Path,
    split: str = "test",
    echo: Callable[[str], None] = print,
) -> Path:
    """Write ``out/predictions.csv`` (every condition) and ``out/meta.toml``."""
    est = load_trained(name, Path(model_dir))
    ds = GeneratedDataset(dataset_dir)
    rows: list[tuple[str, str, str, float]] = []
    batch: list = []
    table = ds.table(split)
    bar = tqdm(total=len(table), desc=f"predict {name}", unit="mix", dynamic_ncols=True)

    def flush() -> None:
        levels = est.predict_batch(
            [m.audio for m in batch], batch[0].sample_rate, [m.info for m in batch]
        )
        for mix, lv in zip(batch, levels, strict=True):
            rows.extend(
                (mix.info.mixture_id, mix.info.condition, c, lv.get(c, -np.inf)) for c in ds.classes
            )
        bar.update(len(batch))
        batch.clear()

    for mix in ds.mixtures(split):
        batch.append(mix)
        if len(batch) == BATCH:
            flush()
    if batch:
        flush()
    bar.close()
    out = Path(out)
    frame = pd.DataFrame(rows, columns=["mixture_id", "condition", "class", "level_db"])
    # A score.json left from earlier predictions would describe other numbers.
    if remove_file(out, "score.json"):
        echo(f"removed {out / 'score.json'}: it scored the previous predictions")
    write_text(out, "predictions.csv", frame.to_csv(index=False, float_format="%.4f"))
    meta = {
        "method": name,
        "short_name": name,
        "supervision": est.supervision,
        "description": est.description,
        "parameters": {k: v for k, v in est.config.items() if v is not None},
    }
    write_text(out, "meta.toml", dumps_toml(meta))
    echo(f"wrote {out / 'predictions.csv'} ({len(frame)} rows)")
    return out
