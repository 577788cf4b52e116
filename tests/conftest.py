"""Shared fixtures, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from sssle_bench.sources.synthetic import make_synthetic_sources

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def synthetic_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic data home (seed 0); treat as read-only."""
    return make_synthetic_sources(tmp_path_factory.mktemp("synthetic") / "home", seed=0)


TOY = REPO / "recipes" / "toy.toml"


def score_draws(seed: int, n_mix: int, n_resamples: int):
    """The resample weights ``(n_resamples, n_mix)`` that ``metrics.score`` draws with
    ``ScoreSettings(seed=seed, bootstrap=n_resamples)`` (in chunks, which continue one
    stream: the same as one call), for tests that recompute its intervals by hand."""
    import numpy as np

    from sssle_bench.bootstrap import resample_weights

    return resample_weights(np.random.default_rng(seed), n_mix, n_resamples)


def tree_digest(root: Path, skip: tuple[str, ...] = (".sssle",)) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path -> digest), hidden state skipped."""
    import hashlib

    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith(skip)
    }


def generate(out: Path, home: Path, recipe: Path = TOY, **kwargs) -> Path:
    """Generate quietly into ``out`` (defaults: --limit 3, --jobs 1)."""
    from sssle_bench.generate.runner import generate_dataset

    kwargs.setdefault("limit", 3)
    kwargs.setdefault("jobs", 1)
    kwargs.setdefault("echo", lambda s: None)
    generate_dataset(recipe, out, home, **kwargs)
    return out


def generate_command(out: Path, home: Path, *options: str) -> list[str]:
    """``sssle-bench generate`` of the toy recipe into ``out`` as a subprocess command."""
    import sys

    return [
        sys.executable,
        "-m",
        "sssle_bench.cli",
        "generate",
        str(TOY),
        "--out",
        str(out),
        "--data-home",
        str(home),
        *options,
    ]


def parts_done(out: Path) -> int:
    """Mixtures a generation into ``out`` has finished (their records)."""
    parts = out / ".sssle" / "parts"
    return len(list(parts.rglob("*.json"))) if parts.exists() else 0


def kill_mid_run(cmd: list[str], out: Path, parts: int) -> None:
    """Run ``cmd`` and SIGKILL it once ``parts`` mixtures are done (at most 120 s); fails if
    it ended by itself first."""
    import os
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while parts_done(out) < parts and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="session")
def toy_dataset(synthetic_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy recipe, first 3 mixtures per split, with isolated sources; read-only."""
    return generate(tmp_path_factory.mktemp("toy") / "ds", synthetic_home, save_sources=True)


@pytest.fixture(scope="session")
def toy_full(synthetic_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole toy recipe (200/50/50 mixtures) with isolated sources: the demo's world,
    enough to learn from; read-only."""
    out = tmp_path_factory.mktemp("toy_full") / "ds"
    return generate(out, synthetic_home, limit=None, save_sources=True, jobs=2)
