"""The talk's main comparison on one machine in one command, sized to a wall-time budget
(issue 24 item 4): on a lent GPU machine through ``talk_comparison.sh``, or at toy size on
a CPU to check it works.

    python experiments/device/talk_comparison.py --size medium --device cuda --minutes 8.5 --out OUT
    python experiments/device/talk_comparison.py --size toy --device cpu --minutes 6 --out OUT

Steps, each timed:

1. the world and the dataset, with ``--jobs`` processes: ``medium``, the medium synthetic
   world (seed 0) and ``recipes/synth-medium.toml`` (3,000 / 500 / 500 mixtures x 4
   conditions); ``toy``, the small world and ``recipes/toy.toml`` (200 / 50 / 50). The
   ground truth's sha256 go to ``hashes.txt``: compare them with the same world generated
   anywhere else (the same hashes, the same data).
2. a throughput probe (``throughput.py``): ``--parallel`` + 1 processes training the
   preset's separator at once on the device, for a few seconds, on random audio.
3. epochs sized so that training ends within the budget: what is left of ``--minutes``
   after steps 1-2 and ``--reserve-s`` (predicting, scoring) goes 15% to the shared
   classifier and 85% to the separators (at most 40 epochs, early stopping at the
   preset's patience).
4. the experiment (the variants of ``experiments/waspaa2021.toml``'s
   ``baseline-comparison`` figure: pishdadian2020, energy, background, both; one model
   per condition, ``--parallel`` variants at a time) and, beside it, ``sup-sep`` (the
   same network with strong supervision) and the class-prior;
5. predictions of the test split, the leaderboard of all six, and paired differences
   (``experiments/tools/paired_by_condition.py``).

``OUT`` receives 8 files: ``summary.md`` (machine, times, sizing, MAE per method and
condition, the paired differences), ``timings.json``, ``hashes.txt``,
``histories.json`` (every model's per-epoch losses and seconds), ``results.tar.gz``
(every submission's predictions and the leaderboard's tables), ``log.txt`` (every
command's output) and, from step 1, ``generate.err``; ``experiment.toml``, the
experiment file that ran. Exits non-zero if a step fails, after writing what it has.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from sssle_bench.experiment import load_experiment  # noqa: E402

SIZES = {
    "toy": ("small", REPO / "recipes/toy.toml"),
    "medium": ("medium", REPO / "recipes/synth-medium.toml"),
}
#: Share of the training time given to the shared classifier's pretraining.
CLASSIFIER_SHARE = 0.15
#: The probe's rate is discounted by this much (data loading, validation, warm-up).
SAFETY = 0.8
#: A validation pass costs about a third of a training pass per mixture (forward only).
VALID_COST = 1 / 3
#: A classifier training step costs about this much of a separator step, which holds
#: the U-Net and K+1 classifier passes (the critic).
CLASSIFIER_STEP = 1 / 3
MAX_EPOCHS = 40
#: The experiment whose comparison runs, and its figure that names the variants.
PAPER, FIGURE = "experiments/waspaa2021.toml", "baseline-comparison"


class Run:
    """Timed steps; every command's output appended to ``log.txt``."""

    def __init__(self, out: Path, work: Path) -> None:
        self.out, self.work = out, work
        self.start = time.time()
        self.phases: dict[str, float] = {}
        self.log = out / "log.txt"

    def elapsed(self) -> float:
        return time.time() - self.start

    def say(self, text: str) -> None:
        line = f"[{self.elapsed():6.0f} s] {text}"
        print(line, flush=True)
        with self.log.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def cli(self, *args: str, stderr: Path | None = None) -> subprocess.Popen:
        """Start ``sssle-bench ARGS`` (this interpreter), its output into the log."""
        self.say("sssle-bench " + " ".join(args))
        log = self.log.open("a", encoding="utf-8")
        err = log if stderr is None else stderr.open("a", encoding="utf-8")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(
            [sys.executable, "-m", "sssle_bench.cli", *args], stdout=log, stderr=err, env=env
        )

    def wait(self, name: str, *procs: subprocess.Popen) -> None:
        """Wait for ``procs``, record the phase's wall seconds, fail on a non-zero exit."""
        t0 = time.time()
        codes = [p.wait() for p in procs]
        self.phases[name] = round(time.time() - t0, 1)
        self.say(f"{name}: {self.phases[name]} s")
        if any(codes):
            raise RuntimeError(f"{name} failed (exit {codes}); see log.txt")


def size_epochs(
    seconds: float,
    rate: float,
    processes: int,
    models: int,
    conditions: int,
    train: int,
    valid: int,
) -> tuple[int, int]:
    """(classifier epochs, separator epochs) that fit ``seconds`` of training.

    ``rate``: separator training mixtures/s of ``processes`` processes together. The
    classifier pretrains alone first on every condition's ``train`` mixtures (the device
    to itself); then each process trains ``models`` models one after another (a
    variant's condition models, of as many variants as it gets), each an epoch of
    ``train`` mixtures and a validation pass over ``valid``."""
    classifier = int(CLASSIFIER_SHARE * seconds * SAFETY * rate / CLASSIFIER_STEP)
    classifier //= train * conditions
    separator = int(
        (1 - CLASSIFIER_SHARE) * seconds / epoch_seconds(rate, processes, models, train, valid)
    )
    return max(1, min(MAX_EPOCHS, classifier)), max(1, min(MAX_EPOCHS, separator))


def epoch_seconds(rate: float, processes: int, models: int, train: int, valid: int) -> float:
    """Seconds one process takes for one epoch of each of its ``models`` (see
    :func:`size_epochs`)."""
    return models * (train + VALID_COST * valid) / (SAFETY * rate / processes)


def split_counts(dataset: Path) -> tuple[dict[str, int], int]:
    """Mixtures per split and condition of a generated dataset, and its conditions."""
    from sssle_bench.dataset import GeneratedDataset

    ds = GeneratedDataset(dataset)
    n = len(ds.conditions)
    return {s: len(ds.mixture_infos(s)) // n for s in ("train", "valid", "test")}, n


def machine(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "device": device,
        "cpu": platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
        info["gpu_memory_mib"] = torch.cuda.get_device_properties(0).total_memory // 2**20
    return info


def experiment_file(base: dict[str, Any], dataset: Path) -> str:
    """The experiment that runs: waspaa2021.toml's baseline-comparison variants (their
    overrides as written there) on ``dataset``, every variant on ``base``."""
    from sssle_bench.toml_files import dumps_toml

    paper = load_experiment(REPO / PAPER)
    names = paper.figures[FIGURE]
    return dumps_toml(
        {
            "name": "talk-comparison",
            "description": "the talk's main comparison, sized to a wall-time budget",
            "method": "weak-sep",
            "dataset": {"path": str(dataset)},
            "base": base,
            "variants": {n: paper.variants[n] for n in names},
            "figures": {FIGURE: list(names)},
            "score": {"bootstrap": 1000},
        }
    )


def histories(models: Path) -> dict[str, Any]:
    """Every trained model's history (weak-sep and sup-sep save one in the model folder)."""
    found = {}
    for path in sorted(models.glob("*/history.json")):
        found[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="medium")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--preset", default="cpu", help="weak-sep/sup-sep preset")
    parser.add_argument("--minutes", type=float, default=8.5, help="whole run's wall time")
    parser.add_argument("--reserve-s", type=float, default=150.0, help="kept for steps 5")
    parser.add_argument("--parallel", type=int, default=4, help="variants at a time")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--work", type=Path, default=Path("/tmp/talk"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    run = Run(args.out, args.work)
    timings: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    try:
        _steps(run, args, timings)
    finally:
        timings["phases_s"] = run.phases
        timings["total_s"] = round(run.elapsed(), 1)
        (args.out / "timings.json").write_text(json.dumps(timings, indent=1) + "\n")
        run.say(f"total: {timings['total_s']} s")


def _steps(run: Run, args: argparse.Namespace, timings: dict[str, Any]) -> None:
    from throughput import concurrent_rate

    timings["machine"] = machine(args.device)
    run.say(json.dumps(timings["machine"]))
    world, recipe = SIZES[args.size]
    home, dataset, jobs = args.work / "home", args.work / "dataset", str(args.jobs)
    run.wait(
        "world",
        run.cli(
            "make-synthetic-sources",
            "--out",
            str(home),
            "--size",
            world,
            "--seed",
            "0",
            "--jobs",
            jobs,
        ),
    )
    generate = run.cli(
        "generate",
        str(recipe),
        "--out",
        str(dataset),
        "--data-home",
        str(home),
        "--jobs",
        jobs,
        "--save-sources",
        stderr=args.out / "generate.err",
    )
    run.wait("generate", generate)
    truth = sorted((dataset / "ground_truth").glob("*.csv")) + [dataset / "manifest.json"]
    hashes = subprocess.run(
        ["sha256sum", *[str(p.relative_to(dataset)) for p in truth]],
        cwd=dataset,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (args.out / "hashes.txt").write_text(hashes)
    counts, conditions = split_counts(dataset)
    processes = args.parallel + 1  # the variants and sup-sep
    t0 = time.time()
    rate = concurrent_rate(args.preset, args.device, 8, processes, 15.0)
    run.phases["probe"] = round(time.time() - t0, 1)
    seconds = args.minutes * 60 - run.elapsed() - args.reserve_s
    variants = len(load_experiment(REPO / PAPER).figures[FIGURE])
    models = -(-variants // args.parallel) * conditions  # per process, one after another
    classifier_epochs, epochs = size_epochs(
        seconds, rate, processes, models, conditions, counts["train"], counts["valid"]
    )
    one_epoch = epoch_seconds(rate, processes, models, counts["train"], counts["valid"])
    if one_epoch > (1 - CLASSIFIER_SHARE) * seconds:
        run.say(
            f"warning: one epoch of every model needs about {one_epoch:.0f} s, more than "
            "the budget leaves; training 1 epoch anyway (the run will overrun)"
        )
    timings["sizing"] = {
        "probe_mix_per_s": round(rate, 1),
        "one_epoch_s": round(one_epoch, 1),
        "processes": processes,
        "training_budget_s": round(seconds, 1),
        "classifier_epochs": classifier_epochs,
        "epochs": epochs,
        "mixtures": counts,
        "conditions": conditions,
    }
    run.say(f"sizing: {json.dumps(timings['sizing'])}")
    threads = max(1, args.jobs // processes)
    shared = {"preset": args.preset, "device": args.device, "epochs": epochs, "threads": threads}
    base = {**shared, "classifier_epochs": classifier_epochs}
    exp_file = args.out / "experiment.toml"
    exp_file.write_text(experiment_file(base, dataset))
    sup_config = args.work / "sup-sep.toml"
    from sssle_bench.toml_files import dumps_toml

    sup_config.write_text(dumps_toml(shared))
    models, subs = args.work / "models", args.work / "submissions"
    exp = run.cli(
        "experiment",
        "run",
        str(exp_file),
        "--out",
        str(args.work / "exp"),
        "--jobs",
        str(args.parallel),
    )
    sup = run.cli(
        "train",
        "sup-sep",
        str(dataset),
        "--out",
        str(models / "sup-sep"),
        "--config",
        str(sup_config),
    )
    prior = run.cli("train", "class-prior", str(dataset), "--out", str(models / "class-prior"))
    run.wait("train (and predict the variants)", exp, sup, prior)
    for name in ("sup-sep", "class-prior"):
        run.wait(
            f"predict {name}",
            run.cli(
                "predict",
                name,
                str(dataset),
                "--model",
                str(models / name),
                "--out",
                str(subs / name),
            ),
        )
    variants = list(
        json.loads((args.work / "exp" / "experiment.json").read_text(encoding="utf-8"))["variants"]
    )
    named = {v: args.work / "exp" / "submissions" / v for v in variants}
    named |= {n: subs / n for n in ("sup-sep", "class-prior")}
    board = args.work / "leaderboard"
    run.wait(
        "leaderboard",
        run.cli(
            "leaderboard", *map(str, named.values()), "--truth", str(dataset), "--out", str(board)
        ),
    )
    pairs = [
        ("both", "pishdadian2020"),
        *[(v, "class-prior") for v in variants],
        ("sup-sep", "class-prior"),
        ("both", "sup-sep"),
    ]
    t0 = time.time()
    paired = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments/tools/paired_by_condition.py"),
            str(dataset),
            *[f"--sub={n}={p}" for n, p in named.items()],
            *[f"--pair={a},{b}" for a, b in pairs],
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    run.phases["paired"] = round(time.time() - t0, 1)
    found = histories(args.work / "exp" / "models") | histories(models)
    (args.out / "histories.json").write_text(json.dumps(found, indent=1) + "\n")
    with tarfile.open(args.out / "results.tar.gz", "w:gz") as tar:
        for name, sub in named.items():
            tar.add(sub / "predictions.csv", f"submissions/{name}/predictions.csv")
        for table in ("leaderboard.csv", "leaderboard.md", "pairwise.csv"):
            tar.add(board / table, f"leaderboard/{table}")
    summary = [
        f"# The talk's comparison, {args.size} size, on {timings['machine'].get('gpu', 'cpu')}",
        "",
        f"Machine: `{json.dumps(timings['machine'])}`",
        "",
        f"Sizing: `{json.dumps(timings['sizing'])}`",
        "",
        f"Phases (s): `{json.dumps(run.phases)}`; total {run.elapsed():.0f} s.",
        "",
        "## Leaderboard (test split)",
        "",
        (board / "leaderboard.md").read_text(encoding="utf-8"),
        "## Paired differences of MAE over present sources (A - B, dB, 95% paired CI)",
        "",
        paired,
    ]
    (args.out / "summary.md").write_text("\n".join(summary))


if __name__ == "__main__":
    main()
