"""Train an estimator on a dataset; predict a split into a submission folder."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..audio import read_audio
from ..dataset import GeneratedDataset, MixtureInfo
from ..errors import SssleError, excerpt
from ..executors import available_cores, run_tasks
from ..levels import interval_bounds, to_mono
from ..paths import is_safe_name, remove_file, write_text
from ..submission import INTERVALS
from ..toml_files import dumps_toml, read_toml
from ..validation import COLUMNS, INTERVAL_COLUMNS, MAX_LEVEL_DB
from . import estimator_class
from .base import BaseEstimator, as_prediction

BATCH = 16

#: The file that says which method a model folder holds, and what it was trained on.
MARKER = "sssle_estimator.json"


@dataclass(frozen=True)
class TrainedOn:
    """What a model was trained on: its dataset's sample rate (Hz), clip length and
    interval (s), classes and background conditions. A recording is read at this rate,
    in clips of this length (``sssle-bench measure``)."""

    sample_rate: int
    clip_s: float
    interval_s: float
    classes: tuple[str, ...]
    conditions: tuple[str, ...]


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
    jobs: int = 1,
):
    """Fit ``name`` on ``dataset_dir``'s ``split`` and save it in ``out``.

    ``cache``: a folder where parts reusable across models (weak-sep's pretrained
    classifier) are kept, each under a name that proves its inputs. ``jobs``: worker
    processes for estimators that train parts in parallel (weak-sep: its conditions)."""
    est = estimator_class(name)(**config)
    # A long fit may keep checkpoints here and resume from them.
    est.workdir = Path(out)
    if cache is not None:
        est.cache_dir = Path(cache)
    if hasattr(est, "jobs"):
        est.jobs = jobs
    dataset = GeneratedDataset(dataset_dir)
    est.fit(dataset, split)
    est.save(Path(out))
    data = TrainedOn(
        dataset.recipe.sample_rate,
        dataset.recipe.duration_s,
        dataset.interval_s,
        dataset.classes,
        dataset.conditions,
    )
    blob = {"name": name, "supervision": est.supervision, "data": asdict(data)}
    write_text(Path(out), MARKER, json.dumps(blob))
    return est


def trained_on(model_dir: Path) -> TrainedOn | None:
    """The :class:`TrainedOn` a model folder's marker records; None for a model trained
    before markers recorded it (or one whose record is not a plausible one)."""
    try:
        blob = json.loads((Path(model_dir) / MARKER).read_text(encoding="utf-8"))["data"]
        facts = TrainedOn(
            blob["sample_rate"],
            blob["clip_s"],
            blob["interval_s"],
            tuple(blob["classes"]),
            tuple(blob["conditions"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    rate_ok = isinstance(facts.sample_rate, int) and 8000 <= facts.sample_rate <= 192000
    times_ok = all(
        isinstance(t, int | float) and 0.01 <= t <= 600.0 for t in (facts.clip_s, facts.interval_s)
    )
    names_ok = all(is_safe_name(n) for n in (*facts.classes, *facts.conditions))
    return facts if rate_ok and times_ok and names_ok else None


def load_trained(name: str, model_dir: Path):
    """The estimator ``name`` trained into ``model_dir``; one clear error if it is not there,
    is another method's, or its files are unreadable."""
    cls = estimator_class(name)
    marker = model_dir / MARKER
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


def _stamp(model_dir: str) -> float:
    """The model folder's marker mtime (0 when absent: loading then says what is wrong)."""
    marker = Path(model_dir) / MARKER
    return marker.stat().st_mtime if marker.is_file() else 0.0


@lru_cache(maxsize=2)
def _cached_model(name: str, model_dir: str, stamp: float):
    """One loaded model per worker process (``stamp``: the model's mtime, so a retrained
    model is loaded again)."""
    return load_trained(name, Path(model_dir))


#: One mixture's predicted rows: ``(mixture_id, condition, class, level_db, lafmax_db)``
#: per class and ``(mixture_id, condition, class, interval, laeq_db)`` per class interval.
Rows = tuple[list[tuple], list[tuple]]


def _check_predicted(
    name: str, info: MixtureInfo, values: dict[str, Any], what: str, missing_ok: bool = False
) -> None:
    """Every predicted value (a number or an array per class) is a level a submission may
    state: up to :data:`~sssle_bench.validation.MAX_LEVEL_DB`, or ``-inf`` (absent); NaN
    only where the descriptor may be left out (``missing_ok``). A broken or tampered
    model never becomes a submission."""
    for c, value in values.items():
        v = np.atleast_1d(np.asarray(value, dtype=float))
        bad = (np.isnan(v) & (not missing_ok)) | (v > MAX_LEVEL_DB)
        if bad.any():
            raise SssleError(
                f"{name}: predicted {what} {v[bad][0]:g} dB for class {excerpt(c)} of mixture "
                f"{info.mixture_id} ({info.condition}), not a level up to +{MAX_LEVEL_DB:g} dB "
                "(a broken or tampered model?); no submission written"
            )


def _prediction_rows(
    name: str, info: MixtureInfo, n: int, sr: int, classes: tuple[str, ...], result: Any
) -> Rows:
    """The rows of one mixture's prediction (``n`` samples at ``sr`` Hz); a time-resolved
    prediction with another number of intervals than the clip has is an error."""
    pred = as_prediction(result)
    lafmax = pred.lafmax or {}
    _check_predicted(name, info, pred.levels, "level")
    _check_predicted(name, info, lafmax, "LAFmax", missing_ok=True)
    _check_predicted(name, info, pred.intervals or {}, "interval LAeq")
    levels = [
        (info.mixture_id, info.condition, c, pred.levels.get(c, -np.inf), lafmax.get(c, np.nan))
        for c in classes
    ]
    spans: list[tuple] = []
    if pred.intervals is not None:
        count = len(interval_bounds(n, sr, info.interval_s))
        for c in classes:
            values = np.asarray(pred.intervals.get(c, np.full(count, -np.inf)), dtype=float)
            if values.shape != (count,):
                raise SssleError(
                    f"{name}: {values.size} interval levels of {c!r} for mixture "
                    f"{info.mixture_id} ({info.condition}), whose {n / sr:g} s make {count} "
                    f"intervals of {info.interval_s:g} s"
                )
            spans += [(info.mixture_id, info.condition, c, i, v) for i, v in enumerate(values)]
    return levels, spans


@lru_cache(maxsize=1)
def _share_cores(threads: int) -> None:
    """A pool worker's share of the cores, set once per worker (after its model is
    loaded): the BLAS and OpenMP pools of the libraries loaded (numpy's OpenBLAS;
    torch's, by a torch model), and torch's own threads. Without it every worker runs a
    pool as wide as the machine, and OpenBLAS's spinning threads make two NMF workers
    several times slower than one."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _predict_batch(
    task: tuple[str, str, tuple[str, ...], list[tuple[MixtureInfo, str]], int | None],
) -> list[Rows]:
    """Worker: the prediction rows (:data:`Rows`) of one batch of mixtures (``classes``:
    the dataset's, in order; ``threads``: a pool worker's share of the cores'
    threads, None to leave them)."""
    name, model_dir, classes, batch, threads = task
    est = _cached_model(name, model_dir, _stamp(model_dir))
    if threads is not None:
        _share_cores(threads)
    audio, rates = [], set()
    for _, path in batch:
        x, sr = read_audio(Path(path))
        audio.append(to_mono(x))
        rates.add(sr)
    if len(rates) != 1:
        raise SssleError(f"mixtures of one batch have sample rates {sorted(rates)}")
    sr = rates.pop()
    results = est.predict_batch(audio, sr, [info for info, _ in batch])
    return [
        _prediction_rows(name, info, x.size, sr, classes, result)
        for (info, _), x, result in zip(batch, audio, results, strict=True)
    ]


def _mixtures(
    ds: GeneratedDataset, split: str, conditions: tuple[str, ...] | None
) -> list[tuple[MixtureInfo, str]]:
    """The split's mixtures to predict (those of ``conditions``, None: all) with their
    audio's absolute path; an unknown condition is an error."""
    if conditions is not None:
        unknown = sorted(set(conditions) - set(ds.conditions))
        if unknown:
            raise SssleError(
                f"{ds.root}: no condition {excerpt(unknown[0])} (it has {', '.join(ds.conditions)})"
            )
    return [
        (info, str(path.resolve()))
        for info, path in ds.mixture_infos(split)
        if conditions is None or info.condition in conditions
    ]


def _write_submission(
    out: Path,
    rows: list[tuple],
    spans: list[tuple],
    est: BaseEstimator,
    name: str,
    echo: Callable[[str], None],
) -> Path:
    """``predictions.csv`` (with ``lafmax_db`` when any row has it), ``intervals.csv``
    (when there are ``spans``) and ``meta.toml`` of method ``name`` in ``out``; files
    left from earlier predictions that would describe other numbers are removed."""
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "lafmax_db"])
    if frame["lafmax_db"].isna().all():
        frame = frame.drop(columns="lafmax_db")
    # A score.json left from earlier predictions would describe other numbers, and an
    # intervals.csv left from them would be scored with these.
    if remove_file(out, "score.json"):
        echo(f"removed {out / 'score.json'}: it scored the previous predictions")
    if remove_file(out, INTERVALS) and not spans:
        echo(f"removed {out / INTERVALS}: it held the previous predictions' intervals")
    write_text(out, "predictions.csv", frame.to_csv(index=False, float_format="%.4f"))
    if spans:
        table = pd.DataFrame(spans, columns=list(INTERVAL_COLUMNS))
        write_text(out, INTERVALS, table.to_csv(index=False, float_format="%.4f"))
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


def predict(
    name: str,
    dataset_dir: Path,
    model_dir: Path,
    out: Path,
    split: str = "test",
    echo: Callable[[str], None] = print,
    executor: Executor | None = None,
    workers: int | None = None,
    conditions: tuple[str, ...] | None = None,
    jobs: int = 1,
) -> Path:
    """Write ``out/predictions.csv`` (every condition, or only ``conditions``: a model
    trained for some conditions; the file is then scored with ``--allow-missing``; with a
    ``lafmax_db`` column when the method predicts it), ``out/intervals.csv`` (when it
    predicts LAeq per interval) and ``out/meta.toml``.

    Mixtures are predicted in batches of :data:`BATCH` table rows, here, in ``jobs``
    processes (spawned once torch is loaded; the cores' threads shared out) or, with
    ``executor``, one batch per task on its workers (which must see the model and the
    dataset at the same paths); the file is the same either way (tested for every
    built-in method).
    """
    where = str(Path(model_dir).resolve())
    est = _cached_model(name, where, _stamp(where))
    ds = GeneratedDataset(dataset_dir)
    infos = _mixtures(ds, split, conditions)
    starts = range(0, len(infos), BATCH)
    pooled = executor is None and jobs > 1 and len(starts) > 1
    threads = max(1, available_cores() // jobs) if pooled else None
    tasks = [(name, where, ds.classes, infos[i : i + BATCH], threads) for i in starts]
    rows: list[tuple] = []
    spans: list[tuple] = []
    # forked workers start at once; torch's thread pools do not survive a fork
    start = "spawn" if "torch" in sys.modules else "fork"
    results = run_tasks(
        _predict_batch, tasks, jobs, f"predict {name}", executor, workers, "batch", start
    )
    for batch_rows in results:
        for levels, intervals in batch_rows:
            rows += levels
            spans += intervals
    return _write_submission(Path(out), rows, spans, est, name, echo)
