"""Generate, regenerate, verify and predict on a Dask cluster (``distributed.LocalCluster``,
two worker processes): the same bytes as ``--jobs 1``, resumable, robust to a lost worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from sssle_bench.errors import SssleError
from sssle_bench.executors import check_workers, dask_executor
from sssle_bench.generate.check import regenerate_dataset, verify_dataset

from .conftest import generate, generate_command, kill_mid_run, parts_done, tree_digest

LIMIT = 6


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as c:
        yield c


@pytest.fixture(scope="module")
def reference(synthetic_home: Path, tmp_path_factory) -> Path:
    """The toy dataset (first 6 mixtures per split, with sources) made with --jobs 1."""
    out = tmp_path_factory.mktemp("dask_ref") / "ds"
    return generate(out, synthetic_home, limit=LIMIT, save_sources=True)


def test_generate_on_a_cluster_is_byte_identical_to_jobs_1(
    cluster, reference: Path, synthetic_home: Path, tmp_path: Path
):
    with dask_executor(cluster.scheduler_address, (synthetic_home,), (tmp_path,)) as (ex, n):
        assert n == 2
        generate(
            tmp_path / "ds", synthetic_home, limit=LIMIT, save_sources=True, executor=ex, workers=n
        )
        assert verify_dataset(tmp_path / "ds", full=True, executor=ex, workers=n) == []
        assert (
            regenerate_dataset(
                reference, synthetic_home, executor=ex, workers=n, echo=lambda s: None
            )
            == []
        )
    assert tree_digest(tmp_path / "ds") == tree_digest(reference)


def test_a_killed_client_resumes(cluster, reference: Path, synthetic_home: Path, tmp_path: Path):
    out = tmp_path / "ds"
    options = ("--limit", str(LIMIT), "--save-sources", "--scheduler", cluster.scheduler_address)
    cmd = generate_command(out, synthetic_home, *options)
    kill_mid_run(cmd, out, parts=3)
    assert not (out / "manifest.json").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "already done" in done.stdout
    assert tree_digest(out) == tree_digest(reference)


def test_a_worker_killed_mid_run_is_retried(reference: Path, synthetic_home: Path, tmp_path: Path):
    out = tmp_path / "ds"
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as local,
        Client(local) as client,
    ):
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]

        def kill_when_started() -> None:
            deadline = time.monotonic() + 120
            while parts_done(out) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(pids[victim], signal.SIGKILL)

        killer = threading.Thread(target=kill_when_started)
        killer.start()
        generate(
            out,
            synthetic_home,
            limit=LIMIT,
            save_sources=True,
            executor=client.get_executor(pure=False),
            workers=2,
        )
        killer.join()
        assert victim not in client.run(os.getpid) or client.run(os.getpid)[victim] != pids[victim]
    assert tree_digest(out) == tree_digest(reference)


def _unreadable(folder: str) -> None:
    """Make ``folder`` unreadable to this worker process only (a lost mount, say)."""
    import sssle_bench.executors as executors

    real = executors.os.listdir

    def listdir(path):
        if str(path) == folder:
            raise PermissionError(13, "Permission denied", folder)
        return real(path)

    executors.os.listdir = listdir


def test_a_worker_that_cannot_read_the_data_home_stops_the_client(
    synthetic_home: Path, tmp_path: Path
):
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as local,
        Client(local) as client,
    ):
        worker = sorted(client.nthreads())[1]
        client.run(_unreadable, str(synthetic_home), workers=[worker])
        with pytest.raises(SssleError) as err:
            check_workers(client.get_executor(), (synthetic_home,), (tmp_path,))
    assert str(err.value) == (f"worker {worker} cannot read {synthetic_home}: Permission denied")


def test_scheduler_without_dask_says_how_to_install(monkeypatch, tmp_path: Path):
    from click.testing import CliRunner

    from sssle_bench.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)
    result = CliRunner().invoke(
        main, ["verify", str(tmp_path), "--full", "--scheduler", "tcp://127.0.0.1:1"]
    )
    assert result.exit_code == 2
    assert "pip install 'sssle-bench[dask]'" in result.output


def test_predict_on_a_cluster_writes_the_same_file(cluster, reference: Path, tmp_path: Path):
    from sssle_bench.estimators.run import predict, train

    train("class-prior", reference, tmp_path / "model", {})
    quiet = lambda s: None  # noqa: E731
    predict("class-prior", reference, tmp_path / "model", tmp_path / "local", "test", quiet)
    with dask_executor(cluster.scheduler_address, (reference,)) as (executor, n):
        predict(
            "class-prior",
            reference,
            tmp_path / "model",
            tmp_path / "dask",
            "test",
            quiet,
            executor,
            n,
        )
    local = (tmp_path / "local" / "predictions.csv").read_bytes()
    assert (tmp_path / "dask" / "predictions.csv").read_bytes() == local
    assert local.count(b"\n") == 1 + 6 * 4 * 5  # header + mixtures x conditions x classes


def test_any_executor_will_do(reference: Path, synthetic_home: Path, tmp_path: Path):
    """A thread pool is a ``concurrent.futures.Executor`` too."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        generate(tmp_path / "ds", synthetic_home, limit=LIMIT, save_sources=True, executor=pool)
        assert verify_dataset(tmp_path / "ds", full=True, executor=pool) == []
    assert tree_digest(tmp_path / "ds") == tree_digest(reference)


def test_dask_workers_get_a_sane_allocator(cluster):
    """Dask's MALLOC_TRIM_THRESHOLD_ pins glibc's mmap threshold at 128 KiB (1.8x slower
    rendering); our tasks raise it on workers, and only there."""
    from sssle_bench.executors import tune_dask_worker_allocator

    assert tune_dask_worker_allocator() is False  # not a worker: left alone
    with Client(cluster.scheduler_address) as client:
        assert client.submit(tune_dask_worker_allocator, pure=False).result() is True
