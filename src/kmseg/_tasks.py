"""Where many tasks run: a local process pool or a Dask cluster, workers made ready, items
sent in chunks that shrink towards the end, one line of error per failed item, a progress bar.

Used by :mod:`kmseg.batch` (a task per image) and :mod:`kmseg._chunked` (a task per strip of a
raster). Every worker is one process on one core, its compiled kernels loaded before its first
task.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from ._errors import KmsegError, ParameterError

T = TypeVar("T")


@dataclass(frozen=True)
class Pool:
    """``submit`` and ``as_completed`` over a process pool or a Dask client, how many tasks run
    at once, and at most how many items go in one task."""

    submit: Callable
    as_completed: Callable
    workers: int
    chunk: int = 1


_DASK_CHUNK = 8


@contextlib.contextmanager
def executor(scheduler: str | None, workers: int | None) -> Iterator[Pool]:
    """Worker processes, ready, for the time of a ``with`` block.

    Parameters
    ----------
    scheduler : str or None
        None: a local process pool; ``"local"``: a Dask ``LocalCluster`` started and stopped
        here; ``"tcp://host:port"``: a running Dask scheduler.
    workers : int or None
        Processes of the pool or the LocalCluster (default: the number of cores).

    Raises
    ------
    ParameterError
        No dask.distributed, or a scheduler that cannot be reached.
    """
    workers = workers or os.cpu_count() or 1
    if scheduler is None:
        from concurrent.futures import as_completed

        with ProcessPoolExecutor(workers, initializer=_worker_setup,
                                 initargs=(False, os.getpid())) as processes:
            yield Pool(processes.submit, as_completed, workers)
        return
    from . import _parallel

    try:
        with _parallel.collections_paused():  # its import: 0.24 s instead of 0.29-0.37
            from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ParameterError("a Dask scheduler needs the 'dask' extra: pip install distributed "
                             "zarr (or pip install '.[dask]' in the kmseg folder)") from None
    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            import dask.config

            # Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which hands freed
            # memory back to the system at once, so every photo's buffers fault their pages in
            # anew: a BSDS photo took 37-39 ms in a worker against 32-33 ms without it (200
            # photos: 4.1-5.1 s of work against 3.6-3.9 s). This cluster has no dashboard, so
            # nothing reads what its workers' profiler (a stack sample every 10 ms), event-loop
            # tick (every 20 ms) and system monitor (every 0.5 s) record: they take the GIL
            # from the photos (200 photos: 3.8-4.0 s of work, 3.2-3.7 s without them). Its
            # workers' own logs stay quiet: a heartbeat racing the shutdown would print a
            # traceback after a batch that went fine.
            stack.enter_context(dask.config.set({
                "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                "distributed.worker.profile.enabled": False,
                "distributed.admin.tick.interval": "1s",
                "distributed.admin.system-monitor.interval": "5s"}))
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None, silence_logs=logging.CRITICAL))
            address = cluster.scheduler_address
        else:
            address = scheduler
        try:
            client = stack.enter_context(Client(address, timeout="10s"))
        except OSError as error:
            raise ParameterError(f"cannot reach the Dask scheduler at {address} "
                                 f"({error})") from None
        client.run(_worker_setup, True)  # its imports: part of the start-up
        # Dask spends ~10 ms on each task: a BSDS photo takes ~30 ms, so tasks carry several.
        yield Pool(lambda f, item: client.submit(f, item, pure=False),
                   lambda futures: as_completed(list(futures)),
                   workers=max(1, sum(client.nthreads().values())), chunk=_DASK_CHUNK)


def _worker_setup(quick_exit: bool = False, parent: int | None = None) -> None:
    """A worker process made ready: one process on one core (its kernels and BLAS on one
    thread: the processes keep the cores busy, --workers 1 leaves the others free, and
    OpenBLAS's idle threads spin: on 60 BSDS photos, 17 s of CPU for 8 s of work), kmseg's
    imports loaded with the garbage collector paused, and for a Dask worker, which ends as a
    whole interpreter does, no last collections at its exit.

    A pool's worker (``parent``: the pid of the process that made the pool) ends when that
    process does (:func:`_end_with`), first thing, so that even one killed while the worker
    loads its imports leaves none behind. Dask's workers are ended by their nanny."""
    if parent is not None:
        _end_with(parent)
    from . import _parallel

    with _parallel.collections_paused():  # imports included
        from threadpoolctl import threadpool_limits

        from . import _segment  # noqa: F401  (its libraries loaded before they are limited)

        os.environ["KMSEG_THREADS"] = "1"
        threadpool_limits(1)
    if quick_exit:
        _parallel.skip_final_collections()


_WATCH_SECONDS = 0.5


def _end_with(parent: int) -> None:
    """End this process (``os._exit``) within ``_WATCH_SECONDS`` of the death of ``parent``.

    A killed batch (``kill -9``) leaves its pool's workers alive otherwise: idle ones wait for
    tasks forever (their siblings hold the task pipe open), busy ones finish theirs first, each
    holding 230-300 MB. A daemon thread polls ``os.getppid()``: the worker's parent is
    ``parent`` (fork, spawn) or the fork server, which exits with ``parent`` (forkserver); a
    dead parent's children are handed to init or a subreaper, so the value changes. It also
    checks that ``parent`` still exists, for a parent killed before this ran. A poll is two
    system calls twice a second: nothing next to a photo's work, and no GIL held between polls.
    Not ``PR_SET_PDEATHSIG``: Linux only, and sent when the *thread* that forked the worker
    ends (a pool grown from another thread), not the process.
    """
    import threading
    import time

    watched = os.getppid()
    if watched != parent and not _exists(parent):
        os._exit(1)

    def watch() -> None:
        while os.getppid() == watched and _exists(parent):
            time.sleep(_WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="kmseg-end-with-parent", daemon=True).start()


def _exists(pid: int) -> bool:
    """Whether a process ``pid`` exists (a dead one not yet reaped does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: exists
        return True
    return True


def run_all(
    function: Callable[[T], Any],
    items: list[T],
    pool: Pool,
    *,
    name: Callable[[T], str] = str,
    what: str = "",
    unit: str = "file",
    progress: bool = True,
) -> Iterator[tuple[T, Any, str | None]]:
    """``(item, result, None)`` or ``(item, None, error)`` for each item, as they finish.

    ``function`` runs on the pool's workers, up to ``pool.chunk`` items per task (see
    :func:`chunks`); an item that raises gets its error as one line (a kmseg error as it is,
    anything else as ``"<name(item)>: unexpected <type>: <message>"``); the items of a task
    whose worker died get ``"<name(item)>: worker failed (...)"``. ``function`` and ``name``
    must pickle (module-level functions). A progress bar (``what``, counted in ``unit``) goes to
    stderr.
    """
    if not items:
        return
    bar = _progress_bar(len(items), what, unit) if progress else None
    try:
        futures = {pool.submit(_run_chunk, (function, name, chunk)): chunk
                   for chunk in chunks(items, pool.chunk, pool.workers)}
        for future in pool.as_completed(futures):
            chunk = futures[future]
            try:
                outcomes = future.result()
            except Exception as error:  # a crashed worker: report its items, go on
                outcomes = [(None, f"{name(item)}: worker failed ({error!r})")
                            for item in chunk]
            for item, (result, error) in zip(chunk, outcomes, strict=True):
                yield item, result, error
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()


def chunks(items: list[T], largest: int, workers: int) -> list[list[T]]:
    """Consecutive chunks of ``items``, at most ``largest`` long, shrinking to one item towards
    the end (guided scheduling: a quarter of what is left per worker), so that no worker is left
    with a long last task while the others idle. With fixed chunks of 8, one Dask worker of two
    finished 0.25 s after the other on 200 BSDS photos; a gigapixel raster's 60 strips went out
    as 8 tasks, 4 of them on each core."""
    parts, start = [], 0
    while start < len(items):
        size = max(1, min(largest, -(-(len(items) - start) // (4 * workers))))
        parts.append(items[start:start + size])
        start += size
    return parts


def _run_chunk(args: tuple[Callable, Callable, list]) -> list[tuple[Any, str | None]]:
    """``function`` on each item of a chunk, in a worker: ``(result, None)`` or ``(None,
    error)`` per item, so that one bad file does not fail its neighbours."""
    function, name, chunk = args
    outcomes: list[tuple[Any, str | None]] = []
    for item in chunk:
        try:
            outcomes.append((function(item), None))
        except KmsegError as error:
            outcomes.append((None, str(error)))
        except Exception as error:  # a kmseg bug, not bad input: say what, not where
            outcomes.append((None, f"{name(item)}: unexpected {type(error).__name__}: {error}"))
    return outcomes


def _progress_bar(total: int, what: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit=unit, file=sys.stderr, dynamic_ncols=True)
