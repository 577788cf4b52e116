"""Carry a long experiment's training state between machines through a committed folder.

    python experiments/tools/carry_state.py snapshot RUN_DIR STATE_DIR VARIANT...
    python experiments/tools/carry_state.py restore STATE_DIR RUN_DIR VARIANT...
    python experiments/tools/carry_state.py localize EXPERIMENT_FILE DATASET OUT_FILE

A session's machine can be new, with an empty ``/tmp``: what a running variant has
trained survives only if it is committed. ``snapshot`` copies, from an ``experiment run``
folder, what resuming a variant needs: ``models/V/experiment_config.json`` (a model
folder resumes only under the same config), each condition's ``checkpoint.pt`` and
``progress.json``, and the run's shared critics (``cache/classifier-*.pt``; a
``checkpoint-classifier-*.pt`` while that critic is still pretraining, and not once it
is done). ``restore`` puts them back into a (new) run folder; the same ``experiment run``
command then resumes after the saved epoch. ``localize`` writes a copy of an experiment
file whose ``[dataset]`` is an already generated dataset (``path = DATASET``), so that
several run folders share one copy of the data.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from tool_main import run_tool

from sssle_bench.errors import SssleError
from sssle_bench.paths import check_name, write_bytes, write_text

CONFIG = "experiment_config.json"
CONDITION_FILES = ("checkpoint.pt", "progress.json")


def _critics(cache: Path) -> list[Path]:
    """The cache's critic files worth carrying: every finished ``classifier-X.pt`` and the
    checkpoint of a critic still pretraining (none for one that has finished)."""
    done = {p.name for p in cache.glob("classifier-*.pt")}
    return sorted(
        p
        for p in cache.glob("*classifier-*.pt")
        if p.name in done or (p.name.startswith("checkpoint-") and p.name[11:] not in done)
    )


def _same(a: Path, b: Path) -> bool:
    return b.is_file() and a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def _copy(src: Path, root: Path, rel: str) -> bool:
    """Copy ``src`` (not a link) to ``root / rel`` (atomically, inside ``root``) unless it
    is already there byte for byte; returns whether it wrote."""
    if src.is_symlink():
        raise SssleError(f"{src}: a symlink; refusing to follow it")
    if _same(src, root / rel):
        return False
    write_bytes(root, rel, src.read_bytes())
    return True


def snapshot(run_dir: Path, state: Path, variants: list[str]) -> list[str]:
    """Copy each variant's resumable state and the run's critics from ``run_dir`` into
    ``state`` (``V/experiment_config.json``, ``V/CONDITION/{checkpoint.pt,progress.json}``,
    ``classifier-*.pt``). Returns the paths written, relative to ``state``."""
    pairs = [(p, p.name) for p in _critics(run_dir / "cache")]
    for variant in variants:
        check_name(variant, "variant", "the command line")
        model = run_dir / "models" / variant
        if not (model / CONFIG).is_file():
            raise SssleError(f"{model}: no {CONFIG}; has this variant started?")
        pairs.append((model / CONFIG, f"{variant}/{CONFIG}"))
        for cond in sorted(p for p in (model / "conditions").glob("*") if p.is_dir()):
            if (cond / "checkpoint.pt").is_file():
                check_name(cond.name, "condition folder", str(cond.parent))
                pairs += [(cond / f, f"{variant}/{cond.name}/{f}") for f in CONDITION_FILES]
    return [rel for src, rel in pairs if _copy(src, state, rel)]


def restore(state: Path, run_dir: Path, variants: list[str]) -> list[str]:
    """Put each variant's state from ``state`` back into ``run_dir`` (the inverse of
    :func:`snapshot`). Returns the paths written, relative to ``run_dir``."""
    pairs = [(p, f"cache/{p.name}") for p in _critics(state)]
    for variant in variants:
        check_name(variant, "variant", "the command line")
        saved, model = state / variant, f"models/{variant}"
        if not (saved / CONFIG).is_file():
            raise SssleError(f"{saved}: no {CONFIG} to restore")
        pairs.append((saved / CONFIG, f"{model}/{CONFIG}"))
        for cond in sorted(p for p in saved.glob("*") if p.is_dir()):
            check_name(cond.name, "condition folder", str(cond.parent))
            pairs += [(cond / f, f"{model}/conditions/{cond.name}/{f}") for f in CONDITION_FILES]
    return [rel for src, rel in pairs if _copy(src, run_dir, rel)]


def localize(text: str, dataset: Path) -> str:
    """An experiment file's text with its ``[dataset]`` table replaced by
    ``path = "DATASET"`` (the table ends at a blank line or the next table). Other
    relative paths in the file would resolve against the copy's folder."""
    new, n = re.subn(
        r"^\[dataset\]\n(?:[^\[\n][^\n]*\n)*",
        lambda _: f"[dataset]\npath = {json.dumps(dataset.resolve().as_posix())}\n",
        text,
        flags=re.M,
    )
    if n != 1:
        raise SssleError(f"expected one [dataset] table, found {n}")
    return new


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, src, dst in (("snapshot", "run_dir", "state"), ("restore", "state", "run_dir")):
        p = sub.add_parser(name)
        p.add_argument(src, type=Path)
        p.add_argument(dst, type=Path)
        p.add_argument("variants", nargs="+")
    p = sub.add_parser("localize")
    p.add_argument("experiment_file", type=Path)
    p.add_argument("dataset", type=Path)
    p.add_argument("out_file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "localize":
        text = localize(args.experiment_file.read_text(), args.dataset)
        write_text(args.out_file.parent, args.out_file.name, text)
        print(f"wrote {args.out_file}")
        return
    if args.command == "snapshot":
        written = snapshot(args.run_dir, args.state, args.variants)
    else:
        written = restore(args.state, args.run_dir, args.variants)
    print("\n".join(written) if written else "nothing changed")


if __name__ == "__main__":
    run_tool(main)
