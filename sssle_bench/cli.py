"""Command-line interface: a thin click layer over the library.

Heavy modules (scaper, jams, torch) are imported inside the commands that need
them, so ``sssle-bench --help`` and ``recipe check`` start fast. The package's
own :class:`~sssle_bench.errors.SssleError` becomes one line on stderr and exit
status 2; nothing a user can cause ends in a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import SssleError

data_home_option = click.option(
    "--data-home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding UrbanSound8K/ and SONYC-Backgrounds/ "
    "(default: $SSSLE_DATA_HOME, else ~/sssle_data).",
)


class _Group(click.Group):
    """Turns SssleError (and a missing file) into a one-line message and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SssleError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted; rerun the same command to resume", err=True)
            sys.exit(130)


@click.group(cls=_Group)
@click.version_option(package_name="sssle-bench")
def main() -> None:
    """sssle-bench: datasets, scoring and baselines for source-specific sound level estimation."""


@main.command("make-synthetic-sources")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Data home to write (UrbanSound8K/ and SONYC-Backgrounds/).",
)
@click.option("--seed", type=int, default=0, show_default=True)
def make_synthetic_sources_cmd(out: Path, seed: int) -> None:
    """Write small synthetic stand-ins for both source datasets, in their real layouts."""
    from .sources.synthetic import make_synthetic_sources

    make_synthetic_sources(out, seed)
    click.echo(f"wrote synthetic sources to {out} (use --data-home {out})")


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


@main.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sssle_demo"),
    show_default=True,
    help="Folder for everything the demo makes.",
)
@click.option("--seed", type=int, default=0, show_default=True)
def demo_cmd(out: Path, seed: int) -> None:
    """Run the pipeline on built-in synthetic data (what exists of it so far)."""
    from .sources.synthetic import make_synthetic_sources

    home = out / "sources"
    click.echo(f"[1/1] synthetic sources -> {home}")
    make_synthetic_sources(home, seed)
    click.get_current_context().invoke(sources_cmd, data_home=home, skip_bad=False)


if __name__ == "__main__":  # pragma: no cover
    main()
