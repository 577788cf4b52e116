"""Command-line interface: a thin click layer over the library.

Heavy modules (scaper, jams, torch) are imported inside the commands that need
them, so ``sssle-bench --help`` and ``recipe check`` start fast. The package's
own :class:`~sssle_bench.errors.SssleError` becomes one line on stderr and exit
status 2; nothing a user can cause ends in a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .errors import SssleError, user_message
from .executors import SCHEDULER_ENV

data_home_option = click.option(
    "--data-home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding UrbanSound8K/ and SONYC-Backgrounds/ "
    "(default: $SSSLE_DATA_HOME, else ~/sssle_data).",
)


def usage_line(exc: click.UsageError) -> str:
    """A click usage error as one line: the message, then where to read the usage."""
    ctx = exc.ctx
    where = f"{ctx.command_path} --help" if ctx is not None else "sssle-bench --help"
    message = " ".join(exc.format_message().split())
    return f"error: {message} (see '{where}')"


class _Group(click.Group):
    """Turns SssleError and OSError into a one-line message and exit code 2; click's
    usage errors too (one line instead of usage, hint and message)."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            no_args = getattr(click.exceptions, "NoArgsIsHelpError", ())
            if isinstance(exc, no_args) and exc.ctx is not None:  # a bare group: its help
                click.echo(exc.ctx.get_help())
            else:
                click.echo(usage_line(exc), err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (SssleError, OSError) as exc:
            click.echo(user_message(exc), err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted; rerun the same command to resume", err=True)
            sys.exit(130)


@click.group(cls=_Group)
@click.version_option(package_name="sssle-bench")
def main() -> None:
    """sssle-bench: datasets, scoring and baselines for source-specific sound level estimation."""


def _all_cores(ctx: click.Context, param: click.Parameter, value: int | None) -> int:
    """``--jobs`` default: every core this process may run on."""
    if value is not None:
        return value
    from .executors import available_cores

    return available_cores()


jobs_option = click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    callback=_all_cores,
    help="Worker processes (default: all cores).",
)


scheduler_option = click.option(
    "--scheduler",
    default=None,
    envvar=SCHEDULER_ENV,
    help="Run on a Dask distributed cluster: its scheduler's address, e.g. "
    f"tcp://host:8786 (default: ${SCHEDULER_ENV}; without either, local processes). "
    "Its workers must see the data and output folders at the same paths.",
)


@contextmanager
def _engine(
    scheduler: str | None, readable: tuple[Path, ...] = (), writable: tuple[Path, ...] = ()
) -> Iterator[tuple[Any, int | None]]:
    """``(executor, worker threads)`` of the Dask cluster at ``scheduler`` (paths checked on
    every worker), or ``(None, None)`` for the local process pool."""
    if not scheduler:
        yield None, None
        return
    from .executors import dask_executor

    click.echo(f"running on the Dask cluster at {scheduler}")
    with dask_executor(scheduler, readable, writable) as engine:
        yield engine


@main.command("make-synthetic-sources")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Data home to write (UrbanSound8K/ and SONYC-Backgrounds/).",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--size",
    type=click.Choice(["small", "medium"]),
    default="small",
    show_default=True,
    help="small: a few clips (unit tests); medium: UrbanSound8K's real counts and structure.",
)
@jobs_option
def make_synthetic_sources_cmd(out: Path, seed: int, size: str, jobs: int) -> None:
    """Write synthetic stand-ins for both source datasets, in their real layouts."""
    from .sources.synthetic import make_synthetic_sources

    if out.is_file():
        raise SssleError(f"--out {out} is a file, not a folder")
    make_synthetic_sources(out, seed, size=size, jobs=jobs)
    click.echo(f"wrote {size} synthetic sources to {out} (use --data-home {out})")


@main.command("download")
@click.argument("dataset", type=click.Choice(["urbansound8k", "sonyc-backgrounds"]))
@data_home_option
@click.option("--force-overwrite", is_flag=True, help="Download again even if files exist.")
@click.option("--cleanup", is_flag=True, help="Delete the archive after unpacking.")
def download_cmd(
    dataset: str, data_home: Path | None, force_overwrite: bool, cleanup: bool
) -> None:
    """Download and validate a source dataset into the data home."""
    from .sources import resolve_data_home, sonyc_backgrounds, urbansound8k

    home = resolve_data_home(data_home)
    if dataset == "urbansound8k":
        urbansound8k.download(home, force_overwrite=force_overwrite, cleanup=cleanup)
        click.echo(f"UrbanSound8K downloaded and validated in {urbansound8k.dataset_dir(home)}")
        return
    problems = sonyc_backgrounds.download(home, force_overwrite=force_overwrite, cleanup=cleanup)
    for p in problems:
        click.echo(f"warning: {p}", err=True)
    click.echo(f"SONYC-Backgrounds downloaded to {sonyc_backgrounds.dataset_dir(home)}")


@main.command("sources")
@data_home_option
@click.option("--skip-bad", is_flag=True, help="Skip (and list) missing or unreadable files.")
def sources_cmd(data_home: Path | None, skip_bad: bool) -> None:
    """Check a data home and summarise both source datasets."""
    from .sources import resolve_data_home, sonyc_backgrounds, urbansound8k

    home = resolve_data_home(data_home)
    clips, bad = urbansound8k.load_clips(home, skip_bad=skip_bad)
    bgs, bad_bg = sonyc_backgrounds.load_backgrounds(home, skip_bad=skip_bad)
    for p in bad + bad_bg:
        click.echo(f"skipped: {p}", err=True)
    click.echo(f"UrbanSound8K: {len(clips)} clips in {clips['fold'].nunique()} folds")
    counts = clips.groupby("class").size()
    for label, n in counts.items():
        click.echo(f"  {label:<18} {n}")
    click.echo(f"SONYC-Backgrounds: {len(bgs)} clips")
    for split, n in bgs.groupby("split", sort=False).size().items():
        click.echo(f"  {split:<18} {n}")


@main.group("recipe")
def recipe_group() -> None:
    """Inspect recipes."""


@recipe_group.command("check")
@click.argument("recipe_file", type=click.Path(path_type=Path))
def recipe_check(recipe_file: Path) -> None:
    """Validate RECIPE_FILE and print the resolved recipe."""
    from .recipe import load_recipe

    recipe = load_recipe(recipe_file)
    click.echo(recipe.to_toml(), nl=False)
    click.echo(f"# recipe hash: {recipe.hash()}")


@main.command("generate")
@click.argument("recipe_file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Dataset folder to write (resumes an interrupted run of the same recipe).",
)
@data_home_option
@jobs_option
@click.option(
    "--shard",
    default="0/1",
    show_default=True,
    help="K/N: render only mixtures with index % N == K (several runs, one --out).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Only the first N mixtures of each split (identical to a full run's first N).",
)
@click.option(
    "--save-sources",
    is_flag=True,
    help="Also write each class's isolated track and the background track.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a different dataset found in --out, or delete the mixtures it holds "
    "beyond a smaller --limit.",
)
@scheduler_option
def generate_cmd(
    recipe_file: Path,
    out: Path,
    data_home: Path | None,
    jobs: int,
    shard: str,
    limit: int | None,
    save_sources: bool,
    overwrite: bool,
    scheduler: str | None,
) -> None:
    """Generate the dataset described by RECIPE_FILE."""
    from .generate.runner import Shard, generate_dataset
    from .sources import resolve_data_home

    home = resolve_data_home(data_home)
    with _engine(scheduler, (home,), (out,)) as (executor, workers):
        done = generate_dataset(
            recipe_file,
            out,
            home,
            jobs=jobs,
            shard=Shard.parse(shard),
            limit=limit,
            save_sources=save_sources,
            overwrite=overwrite,
            echo=click.echo,
            executor=executor,
            workers=workers,
        )
    if done:
        click.echo(f"dataset complete: {out}")


@main.command("verify")
@click.argument("dataset_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--full", is_flag=True, help="Also recompute every level from the audio.")
@jobs_option
@scheduler_option
def verify_cmd(dataset_dir: Path, full: bool, jobs: int, scheduler: str | None) -> None:
    """Check a dataset's files against its manifest (and, with --full, its levels)."""
    from .generate.check import verify_dataset

    with _engine(scheduler if full else None, (dataset_dir,)) as (executor, workers):
        problems = verify_dataset(dataset_dir, full, jobs, executor, workers)
    for p in problems:
        click.echo(p)
    if problems:
        raise SssleError(f"{len(problems)} problem(s) in {dataset_dir}")
    click.echo(f"{dataset_dir}: OK" + (" (levels recomputed from audio)" if full else ""))


@main.command("regenerate")
@click.argument("dataset_dir", type=click.Path(file_okay=False, path_type=Path))
@data_home_option
@click.option(
    "--out",
    "dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write the rebuilt dataset here.",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Write again every missing or damaged file of the dataset, from its regenerated "
    "bytes when they are the manifest's (nothing else is touched).",
)
@jobs_option
@scheduler_option
def regenerate_cmd(
    dataset_dir: Path,
    data_home: Path | None,
    dest: Path | None,
    repair: bool,
    jobs: int,
    scheduler: str | None,
) -> None:
    """Rebuild a dataset from its JAMS + manifest and check every sha256, of the rebuilt
    files and of the files on disk (--repair: mend the dataset in place)."""
    from .generate.check import regenerate_dataset
    from .sources import resolve_data_home

    home = resolve_data_home(data_home)
    writable = (dest,) if dest is not None else (dataset_dir,)
    with _engine(scheduler, (home, dataset_dir), writable) as (executor, workers):
        problems = regenerate_dataset(
            dataset_dir,
            home,
            dest=dest,
            repair=repair,
            jobs=jobs,
            echo=click.echo,
            executor=executor,
            workers=workers,
        )
    for p in problems:
        click.echo(p)
    if problems:
        raise SssleError(f"{len(problems)} problem(s) in {dataset_dir} after regeneration")
    click.echo(
        f"{dataset_dir}: every file regenerated bit for bit, and every file on disk has "
        "the manifest's sha256" + (" (repaired)" if repair else "")
    )


@main.command("scaper-folders")
@click.argument("dataset_dir", type=click.Path(file_okay=False, path_type=Path))
@data_home_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to hold foreground/{label}/{file} links and an empty background/.",
)
def scaper_folders_cmd(dataset_dir: Path, data_home: Path | None, out: Path) -> None:
    """Stage the label folders plain Scaper needs to render a dataset's JAMS."""
    from .generate.scaper_folders import stage_scaper_folders
    from .sources import resolve_data_home

    folders = stage_scaper_folders(dataset_dir, resolve_data_home(data_home), out)
    jams = dataset_dir / "jams" / "SPLIT" / "MIXTURE.jams"
    click.echo(f"staged {folders.foreground} and {folders.background}; in Python:")
    click.echo(
        f"  scaper.generate_from_jams({str(jams)!r}, 'foreground.wav', "
        f"fg_path={str(folders.foreground)!r}, bg_path={str(folders.background)!r})"
    )


truth_option = click.option(
    "--truth",
    "truth_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="A generated dataset folder (its ground_truth/ is scored against).",
)
split_option = click.option("--split", default="test", show_default=True)
allow_missing_option = click.option(
    "--allow-missing", is_flag=True, help="Score missing (mixture, condition, class) as absent."
)


weighting_option = click.option(
    "--weighting",
    type=click.Choice(["A", "Z"], case_sensitive=False),
    default="A",
    show_default=True,
    help="A: score against level_dbfs_a; Z: against level_dbfs.",
)
bootstrap_option = click.option(
    "--bootstrap",
    type=int,
    default=1000,
    show_default=True,
    help="Resamples of mixtures for 95% CIs (0: off).",
)
bootstrap_seed_option = click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap."
)


intervals_option = click.option(
    "--intervals",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Interval predictions CSV (default: intervals.csv beside PREDICTIONS, if any).",
)


@main.command("validate")
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@truth_option
@split_option
@allow_missing_option
@intervals_option
def validate_cmd(
    predictions: Path, truth_dir: Path, split: str, allow_missing: bool, intervals: Path | None
) -> None:
    """Check a predictions CSV (and its interval predictions) against a dataset split;
    list every problem."""
    from .scoring import load_intervals
    from .submission import validate_file

    for path in (predictions, intervals):
        if path is not None and not path.is_file():
            raise SssleError(f"{path} not found")
    result, truth = validate_file(predictions, truth_dir, split, allow_missing)
    checked = [(predictions, result, f"{len(truth)} pairs")]
    spans = load_intervals(predictions, truth_dir, split, allow_missing, intervals)
    if spans is not None:
        checked.append((spans[0], spans[1], f"{len(spans[2])} class intervals"))
    bad = 0
    for path, res, _ in checked:
        for note in res.notes:
            click.echo(f"note: {path}: {note}")
        for problem in res.problems:
            click.echo(f"{path}: {problem}")
        bad += len(res.problems)
    if bad:
        raise SssleError(f"invalid submission ({bad} problem(s))")
    for path, _, what in checked:
        click.echo(f"{path}: valid ({what}, split {split})")


@main.command("score")
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@truth_option
@split_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write score.json here.",
)
@weighting_option
@click.option("--floor-db", type=float, default=-100.0, show_default=True)
@click.option("--presence-threshold-db", type=float, default=-60.0, show_default=True)
@bootstrap_option
@bootstrap_seed_option
@allow_missing_option
@intervals_option
def score_cmd(
    predictions: Path,
    truth_dir: Path,
    split: str,
    out: Path | None,
    weighting: str,
    floor_db: float,
    presence_threshold_db: float,
    bootstrap: int,
    seed: int,
    allow_missing: bool,
    intervals: Path | None,
) -> None:
    """Score a predictions CSV (absolute level error, presence, bias, bootstrap CIs), and
    its time-resolved descriptors when submitted (LAFmax column, interval LAeq file)."""
    from .metrics import ScoreSettings
    from .scoring import format_table, score_submission, write_json

    for path in (predictions, intervals):
        if path is not None and not path.is_file():
            raise SssleError(f"{path} not found")
    settings = ScoreSettings(weighting.upper(), floor_db, presence_threshold_db, bootstrap, seed)
    doc = score_submission(predictions, truth_dir, split, settings, allow_missing, intervals)
    if doc["counts"]["missing_scored_as_absent"]:
        click.echo(
            f"note: {doc['counts']['missing_scored_as_absent']} missing pair(s) scored as absent"
        )
    spans = doc["time_resolved"]["intervals"]
    if spans and spans["counts"]["missing_scored_as_absent"]:
        click.echo(
            f"note: {spans['counts']['missing_scored_as_absent']} missing interval row(s) "
            "scored as absent"
        )
    click.echo(format_table(doc))
    if out is not None:
        write_json(doc, out)
        click.echo(f"wrote {out}")


@main.command("leaderboard")
@click.argument("submissions", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@truth_option
@split_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@weighting_option
@bootstrap_option
@bootstrap_seed_option
@click.option(
    "--audit",
    "audit_specs",
    multiple=True,
    metavar="METHOD=DIR",
    help="Show an `sssle-bench audit` you ran (its --out folder) beside METHOD's MAE (repeatable).",
)
@click.option(
    "--condition",
    "conditions",
    multiple=True,
    help="Judge only this background condition (repeatable; default: all); every "
    "submission then holds exactly these conditions' rows (`predict --condition`).",
)
def leaderboard_cmd(
    submissions: tuple[Path, ...],
    truth_dir: Path,
    split: str,
    out: Path,
    weighting: str,
    bootstrap: int,
    seed: int,
    audit_specs: tuple[str, ...],
    conditions: tuple[str, ...],
) -> None:
    """Rank SUBMISSIONS (folders with predictions.csv [+ meta.toml]) on one dataset."""
    from .leaderboard import build_leaderboard
    from .metrics import ScoreSettings

    audits = {}
    for spec in audit_specs:
        method, sep, folder = spec.partition("=")
        if not sep or not method or not folder:
            raise SssleError(f"--audit {spec!r}: give METHOD=DIR")
        audits[method] = Path(folder)
    settings = ScoreSettings(weighting=weighting.upper(), bootstrap=bootstrap, seed=seed)
    build_leaderboard(
        list(submissions),
        truth_dir,
        out,
        split,
        settings,
        echo=click.echo,
        audits=audits,
        conditions=tuple(dict.fromkeys(conditions)) or None,
    )
    click.echo((out / "leaderboard.md").read_text(encoding="utf-8"))
    click.echo(f"leaderboard: {out / 'index.html'}")


@main.command("train")
@click.argument("name")
@click.argument("dataset_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Model folder to write.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Estimator config (TOML).",
)
@click.option("--split", default="train", show_default=True)
@click.option(
    "--condition",
    default=None,
    help="Train only this background condition's model (weak-sep trains one per condition; "
    "default: all).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Parts trained at a time in worker processes (weak-sep: conditions; same weights).",
)
def train_cmd(
    name: str,
    dataset_dir: Path,
    out: Path,
    config_file: Path | None,
    split: str,
    condition: str | None,
    jobs: int,
) -> None:
    """Train estimator NAME on DATASET_DIR (see `sssle-bench estimators`)."""
    from .estimators.run import read_config, train

    config = read_config(config_file)
    if condition is not None:
        config = {**config, "conditions": [condition]}
    train(name, dataset_dir, out, config, split, jobs=jobs)
    click.echo(f"trained {name}: {out}")


@main.command("predict")
@click.argument("name")
@click.argument("dataset_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), required=True
)
@click.option("--split", default="test", show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Submission folder (predictions.csv + meta.toml).",
)
@click.option(
    "--condition",
    "conditions",
    multiple=True,
    help="Predict only this background condition's mixtures (repeatable; default: all). "
    "Score such a file with --allow-missing, rank it with `leaderboard --condition`.",
)
@jobs_option
@scheduler_option
def predict_cmd(
    name: str,
    dataset_dir: Path,
    model_dir: Path,
    split: str,
    out: Path,
    conditions: tuple[str, ...],
    jobs: int,
    scheduler: str | None,
) -> None:
    """Predict every mixture and condition of a split into a submission folder."""
    from .estimators.run import predict

    with _engine(scheduler, (dataset_dir, model_dir)) as (executor, workers):
        predict(
            name,
            dataset_dir,
            model_dir,
            out,
            split,
            click.echo,
            executor,
            workers,
            conditions or None,
            jobs,
        )


#: ``--sample-rate`` of measure and audit.
model_rate_option = click.option(
    "--sample-rate",
    type=click.IntRange(min=8000, max=192000),
    default=None,
    help="The model's rate (Hz), for a model that does not record it.",
)


def recordings_method_model(command: Any) -> Any:
    """The RECORDINGS argument and ``--method`` / ``--model`` of measure and audit."""
    command = click.option(
        "--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), required=True
    )(command)
    command = click.option(
        "--method", "name", required=True, help="A trained method, e.g. weak-sep."
    )(command)
    return click.argument("recordings", nargs=-1, required=True, type=click.Path(path_type=Path))(
        command
    )


@main.command("measure")
@recordings_method_model
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="One folder per recording (intervals.csv, summary.csv, levels.png), summary.csv.",
)
@click.option(
    "--interval-s",
    type=click.FloatRange(min=0.01, max=86400),
    default=1.0,
    show_default=True,
    help="Length of the intervals whose LAeq is reported (s).",
)
@click.option(
    "--overlap",
    type=click.FloatRange(min=0.0, max=1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Overlap of consecutive clips, a fraction of the clip length (0.5: each clip's "
    "middle half is used; half the speed).",
)
@click.option(
    "--condition",
    default=None,
    help="Which per-condition model reads the recordings (needed when there are several).",
)
@click.option(
    "--calibration-db",
    type=click.FloatRange(min=-300, max=300),
    default=None,
    help="dB SPL of 0 dBFS for every recording: levels are then written in dB SPL.",
)
@click.option(
    "--calibration",
    "calibration_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV with columns recording (file name), offset_db: one offset per recording.",
)
@click.option(
    "--clip-s",
    type=click.FloatRange(min=0.1, max=600),
    default=None,
    help="Clip length (s); default: the model's training clips.",
)
@model_rate_option
def measure_cmd(
    recordings: tuple[Path, ...],
    name: str,
    model_dir: Path,
    out: Path,
    interval_s: float,
    overlap: float,
    condition: str | None,
    calibration_db: float | None,
    calibration_file: Path | None,
    clip_s: float | None,
    sample_rate: int | None,
) -> None:
    """Measure each source's level in recordings (WAV or FLAC, any rate, channels and
    length) with a trained method: LAeq per interval and over the whole recording, and
    LAFmax, per source and for the mixture; in dBFS, or dB SPL with a calibration."""
    from .recordings.measure import MeasureSettings
    from .recordings.run import measure_recordings, read_calibration

    if calibration_db is not None and calibration_file is not None:
        raise SssleError("give --calibration-db or --calibration, not both")
    calibration = read_calibration(calibration_file) if calibration_file else calibration_db
    settings = MeasureSettings(interval_s, overlap, condition, clip_s)
    failures = measure_recordings(
        list(recordings), name, model_dir, out, settings, calibration, sample_rate, click.echo
    )
    if failures:
        raise SssleError(f"{len(failures)} of {len(recordings)} recordings were not measured")


@main.command("audit")
@recordings_method_model
@click.option(
    "--events",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Isolated events to inject: a dataset generated with --save-sources, or a folder "
    "of CLASS/*.wav clips.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for audit.csv (per recording) and summary.csv (per check).",
)
@click.option("--condition", default=None, help="Which per-condition model to audit.")
@model_rate_option
def audit_cmd(
    recordings: tuple[Path, ...],
    name: str,
    model_dir: Path,
    events: Path,
    out: Path,
    condition: str | None,
    sample_rate: int | None,
) -> None:
    """Check a method on recordings without ground truth: gain equivariance, injected
    events, superposition, segmentation; an error in dB per check with a 95% interval."""
    from .recordings.measure import MeasureSettings
    from .recordings.run import audit_recordings

    settings = MeasureSettings(condition=condition)
    audit_recordings(
        list(recordings), name, model_dir, out, settings, events, sample_rate, click.echo
    )


@main.command("estimators")
def estimators_cmd() -> None:
    """List the registered estimators (entry-point group sssle_bench.estimators)."""
    from .estimators import available

    for name, ep in available().items():
        click.echo(f"{name:<24} {ep.value}")


class _RunByDefault(click.Group):
    """``experiment FILE --out DIR`` is ``experiment run FILE --out DIR``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@main.group("experiment", cls=_RunByDefault)
def experiment_group() -> None:
    """Run an experiment (`experiment FILE --out DIR`, resumable) or see where a run
    stands (`experiment status DIR`)."""


@experiment_group.command("status")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
def experiment_status_cmd(run_dir: Path) -> None:
    """What a run folder holds: each variant's state, every condition model's epochs,
    training time so far and at most left, and whether a process is running it."""
    from .experiment import experiment_status, format_status

    click.echo(format_status(*experiment_status(run_dir)))


@experiment_group.command("run")
@click.argument("experiment_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for models, submissions, leaderboard and figures (resumes a run).",
)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    help="Train and predict only this variant (repeatable; one cluster job each, one --out).",
)
@jobs_option
def experiment_cmd(experiment_file: Path, out: Path, variants: tuple[str, ...], jobs: int) -> None:
    """Train every variant of an experiment, predict, score and compare (resumable)."""
    from .experiment import load_experiment, run_experiment

    experiment = load_experiment(experiment_file)
    page = run_experiment(experiment, out, jobs, echo=click.echo, only=variants)
    if page is not None:
        click.echo(f"experiment done: {page} and {out / 'figures'}")


@main.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sssle_demo"),
    show_default=True,
    help="Folder for everything the demo makes.",
)
@jobs_option
@click.option(
    "--retrain",
    is_flag=True,
    help="Train weak-sep by the recorded command instead of using its shipped checkpoints.",
)
def demo_cmd(out: Path, jobs: int, retrain: bool) -> None:
    """Run the pipeline end to end on built-in synthetic data (resumable)."""
    from .demo import run_demo

    run_demo(out, jobs, echo=click.echo, retrain=retrain)


if __name__ == "__main__":  # pragma: no cover
    main()
