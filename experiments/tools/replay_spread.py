"""How far the shipped model's first epochs move across CPU kernels, and across a seed.

Replays what ``tests/test_shipped.py`` replays (the shared classifier's first epoch;
the ``none`` separator's first epoch from the shipped classifier; ``bg-20``'s first
epoch warm-started from the shipped ``none`` separator) on the demo's toy world and
prints every figure beside the shipped one, as JSON. Run it once per kernel choice,
e.g.::

    for isa in default avx2 avx512; do
        ATEN_CPU_CAPABILITY=$isa python experiments/tools/replay_spread.py WORLD --tag $isa
    done

``--seed 1`` replays with another seed: the distance a real change moves the figures,
which the test's tolerance must stay well below. ``WORLD``: the toy recipe generated in
full with ``--save-sources`` (``sssle-bench generate recipes/toy.toml --save-sources``
on ``make-synthetic-sources --seed 0``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from tool_main import run_tool

from sssle_bench.dataset import GeneratedDataset
from sssle_bench.demo import weak_sep_config
from sssle_bench.estimators.run import load_trained, train
from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.critic import pretrain_shared_classifier
from sssle_bench.estimators.weak_sep.shipped import checkpoint_dir, read_provenance
from sssle_bench.estimators.weak_sep.train import fit, validation_terms


def shipped_validation(world: Path) -> dict[str, float]:
    """Each shipped model's validation terms recomputed (forward passes only), named
    ``shipped.{condition}.{term}``."""
    ds = GeneratedDataset(world)
    model = load_trained("weak-sep", checkpoint_dir())
    history = json.loads((checkpoint_dir() / "history.json").read_text())
    figures = {}
    for cond, net in model.models.items():
        terms = validation_terms(net, ds, "train", cond, history[cond]["margin"])
        for term, value in terms.items():
            figures[f"shipped.{cond}.{term}"] = value
    return figures


def replay(world: Path, seed: int) -> dict[str, float]:
    """The replayed figures, named ``classifier`` and ``{condition}.{part}.{term}``."""
    shipped_dir = checkpoint_dir()
    prov = read_provenance(shipped_dir)
    ds = GeneratedDataset(world)
    quiet = {"log": lambda s: None}
    base = {**weak_sep_config(), "seed": seed}
    figures: dict[str, float] = {}
    cfg = make_config({**base, "classifier_epochs": 1})
    _, bce = pretrain_shared_classifier(cfg, ds, "train", None, **quiet)
    figures["classifier"] = bce[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model"
        out.mkdir()
        shutil.copy(shipped_dir / prov["classifier_file"], out)
        est = train("weak-sep", ds.root, out, {**base, "epochs": 1, "conditions": ["none"]})
        epoch = est.state["history"]["none"]["epochs"][0]
    for part, terms in epoch.items():
        for term, value in terms.items():
            figures[f"none.{part}.{term}"] = value
    saved = torch.load(shipped_dir / prov["classifier_file"], weights_only=True)
    model = torch.load(shipped_dir / "model.pt", weights_only=True)
    none = model["conditions"]["none"]["separator"]
    one = make_config({**base, "epochs": 1})
    _, history = fit(
        one,
        ds,
        "train",
        None,
        lambda s: None,
        "bg-20",
        (saved["classifier"], saved["losses"]),
        none,
    )
    for part, terms in history["epochs"][0].items():
        for term, value in terms.items():
            figures[f"bg-20.{part}.{term}"] = value
    return figures


def shipped_figures() -> dict[str, float]:
    """The same figures from the shipped ``history.json``."""
    history = json.loads((checkpoint_dir() / "history.json").read_text())
    figures = {"classifier": history["none"]["classifier"][0]}
    for cond, h in history.items():
        best = min(range(len(h["epochs"])), key=lambda i: h["epochs"][i]["valid"]["total"])
        for term, value in h["epochs"][best]["valid"].items():
            figures[f"shipped.{cond}.{term}"] = value
    for cond in ("none", "bg-20"):
        for part, terms in history[cond]["epochs"][0].items():
            for term, value in terms.items():
                figures[f"{cond}.{part}.{term}"] = value
    return figures


GROUPS = {
    "shipped models' validation terms (forward only)": "shipped.",
    "classifier's first epoch": "classifier",
    "none: first epoch, training terms": "none.train.",
    "none: first epoch, validation terms": "none.valid.",
    "bg-20: first epoch (warm start), all terms": "bg-20.",
}


def summarise(path: Path) -> str:
    """A Markdown table of the largest relative distance to the shipped figures per group
    and run (the runs JSON lines this script printed)."""
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    head = "| run | kernels | " + " | ".join(GROUPS) + " |"
    lines = [head, "|" + "---|" * (len(GROUPS) + 2)]
    for run in runs:
        rel = run["rel_to_shipped"]
        cells = []
        for prefix in GROUPS.values():
            values = [v for k, v in rel.items() if k.startswith(prefix)]
            cells.append(f"{max(values):.1e}" if values else "-")
        env = ", ".join(f"{k}={v}" for k, v in run["env"].items() if v) or "defaults"
        lines.append(f"| {run['tag']} | {run['capability']} ({env}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("world", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="")
    parser.add_argument(
        "--forward-only", action="store_true", help="only the shipped models' validation terms"
    )
    parser.add_argument(
        "--summarise", action="store_true", help="WORLD is a file of runs: print their table"
    )
    args = parser.parse_args()
    if args.summarise:
        print(summarise(args.world), end="")
        return
    got = shipped_validation(args.world)
    if not args.forward_only:
        got |= replay(args.world, args.seed)
    ref = shipped_figures()
    rel = {k: abs(got[k] - ref[k]) / abs(ref[k]) for k in got if ref.get(k)}
    print(
        json.dumps(
            {
                "tag": args.tag,
                "seed": args.seed,
                "env": {k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA")},
                "torch": torch.__version__,
                "capability": torch.backends.cpu.get_cpu_capability(),
                "figures": got,
                "rel_to_shipped": rel,
                "max_rel": max(rel.values()),
            }
        )
    )


if __name__ == "__main__":
    run_tool(main)
