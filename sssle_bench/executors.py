"""Where parallel work runs: the local process pool of ``--jobs``, or any
``concurrent.futures.Executor`` (a Dask ``distributed`` cluster among them).

Library functions take ``executor=``; :func:`run_tasks` is the one place that
fans work out. With an executor, tasks go in chunks through ``executor.map``,
so results come back in task order whatever order the workers finish in.
:func:`dask_executor` connects to a running Dask scheduler (``--scheduler``)
and first checks, on every worker, the paths the work needs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .errors import SssleError

#: Environment variable read when ``--scheduler`` is not given (Dask's own name for it).
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
INSTALL_HINT = "pip install 'sssle-bench[dask]' (Dask distributed)"


def worker_name() -> str:
    """This process as a Dask worker address, else ``host pid N``."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"{socket.gethostname()} pid {os.getpid()}"


#: glibc's ``mallopt`` parameter for the mmap threshold, and the value set on Dask workers.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 64 * 2**20


@cache
def tune_dask_worker_allocator() -> bool:
    """On a Dask worker (Linux, glibc): raise malloc's mmap threshold to 64 MiB, once.

    Dask starts workers with ``MALLOC_TRIM_THRESHOLD_`` set, which switches off glibc's
    dynamic mmap threshold: every array above 128 KiB (a 4 s clip is 512 KiB) is then
    mmapped, page-faulted and unmapped again, and rendering ran 1.8x slower than in a
    plain process (measured, benchmarks/README.md). True if the threshold was set.
    """
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False


#: Linux ``prctl`` option: the signal a process gets when the thread that started it ends.
_PR_SET_PDEATHSIG = 1


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when ``parent`` (the process that started it)
    dies, even by SIGKILL, which runs no clean-up: Linux's parent-death signal where there
    is one, and a thread that watches the parent everywhere. Without it a killed run
    leaves its workers (each holding its memory) waiting for work forever."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _pool(jobs: int, method: str) -> ProcessPoolExecutor:
    """A process pool whose workers end with this process (:func:`die_with_parent`)."""
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context(method),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )


def _apply_chunk(fn: Callable[[Any], Any], chunk: Sequence[Any]) -> list[Any]:
    """Run a chunk of tasks; a file-system error names the worker and the path."""
    tune_dask_worker_allocator()
    try:
        return [fn(task) for task in chunk]
    except OSError as exc:
        where = f" {exc.filename}:" if exc.filename else ""
        raise SssleError(f"worker {worker_name()}:{where} {exc.strerror or exc}") from exc


def _chunks(tasks: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def run_tasks(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    jobs: int = 1,
    desc: str = "",
    executor: Executor | None = None,
    workers: int | None = None,
    unit: str = "mix",
    start: str = "fork",
) -> Iterator[Any]:
    """``fn(task)`` for every task, results in task order, with a progress bar.

    ``executor``: any ``concurrent.futures.Executor``; tasks travel in chunks of up to
    8 (about 4 chunks per worker, ``workers`` defaulting to ``jobs``). Without one,
    a process pool of ``jobs`` started by ``start`` (``"spawn"`` where the work uses
    torch, whose thread pools do not survive a fork; in this process when ``jobs``
    is 1).
    """
    bar = tqdm(total=len(tasks), desc=desc, unit=unit, dynamic_ncols=True, leave=True)
    try:
        if executor is None and (jobs <= 1 or len(tasks) <= 1):
            for task in tasks:
                yield fn(task)
                bar.update()
            return
        n = max(1, workers or jobs)
        size = max(1, min(8, len(tasks) // (4 * n)))
        own = executor is None
        pool = executor or _pool(jobs, start)
        try:
            chunks = _chunks(tasks, size)
            for results in pool.map(_apply_chunk, [fn] * len(chunks), chunks):
                yield from results
                bar.update(len(results))
        except BaseException:
            if own:
                pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            if own:
                pool.shutdown(wait=True)
    finally:
        bar.close()


def run_spawned(fn: Callable[..., Any], calls: Sequence[tuple], jobs: int) -> Iterator[int]:
    """``fn(*args)`` for each ``args`` of ``calls``, ``jobs`` at a time in spawned worker
    processes (fresh interpreters: torch's thread pools do not survive a fork); yields
    each call's index as it finishes and raises the first error met."""
    with _pool(jobs, "spawn") as pool:
        futures = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
        for future in as_completed(futures):
            future.result()
            yield futures[future]


def check_paths(
    readable: Sequence[str], writable: Sequence[str], dask_worker: Any = None
) -> str | None:
    """On a worker: None if every ``readable`` folder can be listed (and its first file
    opened) and every ``writable`` folder takes a file; else one line naming the worker
    and the path. (``Client.run`` passes ``dask_worker``, the worker itself.)"""
    name = str(dask_worker.address) if dask_worker is not None else worker_name()
    for folder in readable:
        try:
            entries = sorted(os.listdir(folder))
            first = next((e for e in entries if os.path.isfile(os.path.join(folder, e))), None)
            if first is not None:
                with open(os.path.join(folder, first), "rb") as fh:
                    fh.read(1)
        except OSError as exc:
            return f"worker {name} cannot read {folder}: {exc.strerror or exc}"
    for folder in writable:
        probe = os.path.join(folder, f".sssle-probe-{uuid.uuid4().hex}")
        try:
            os.makedirs(folder, exist_ok=True)
            with open(probe, "wb") as fh:
                fh.write(b"ok")
            os.remove(probe)
        except OSError as exc:
            return f"worker {name} cannot write {folder}: {exc.strerror or exc}"
    return None


def check_workers(
    executor: Executor, readable: Sequence[Path] = (), writable: Sequence[Path] = ()
) -> None:
    """Raise :class:`SssleError` with the first worker that cannot use the paths.

    On a Dask executor every worker is asked (``Client.run``); on any other
    executor, one task is."""
    args = ([str(p) for p in readable], [str(p) for p in writable])
    client = getattr(executor, "_client", None)
    if client is not None and hasattr(client, "run"):
        answers = client.run(check_paths, *args)
        problems = [answers[w] for w in sorted(answers) if answers[w]]
    else:
        problems = [p for p in [executor.submit(check_paths, *args).result()] if p]
    if problems:
        raise SssleError(problems[0])


@contextmanager
def dask_executor(
    address: str, readable: Sequence[Path] = (), writable: Sequence[Path] = ()
) -> Iterator[tuple[Executor, int]]:
    """Connect to the Dask scheduler at ``address``; yield ``(executor, worker threads)``
    after checking the paths on every worker (:func:`check_workers`)."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise SssleError(f"--scheduler needs Dask distributed: {INSTALL_HINT}") from exc
    try:
        client = Client(address, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise SssleError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    try:
        threads = sum(client.nthreads().values())
        if threads == 0:
            raise SssleError(f"the Dask scheduler at {address} has no workers")
        executor = client.get_executor()
        check_workers(executor, readable, writable)
        yield executor, threads
    finally:
        client.close()
