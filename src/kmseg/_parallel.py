"""Threads for the compiled kernels, which release the GIL.

Used by the compress stage (pixels split between threads) and the cluster stage (independent
runs side by side). At most two threads: the target machines have 2 cores, and a parallel
loop's barrier stalled for whole seconds there when the other core was busy.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

_MAX_THREADS = 2

T = TypeVar("T")


def n_threads() -> int:
    """How many threads to use: the cores available, at most _MAX_THREADS, or the
    ``KMSEG_THREADS`` environment variable (a batch's worker processes set it to 1: the pool
    already keeps every core busy)."""
    wanted = os.environ.get("KMSEG_THREADS", "")
    if wanted.isdigit() and int(wanted) >= 1:
        return int(wanted)
    return max(1, min(os.cpu_count() or 1, _MAX_THREADS))


def split(n: int, min_items: int) -> list[slice]:
    """Contiguous slices of ``0..n``, one per thread (just one below ``min_items`` items)."""
    workers = n_threads() if n >= min_items else 1
    bounds = np.linspace(0, n, workers + 1).astype(int)
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def run(jobs: list[Callable[[], T]]) -> list[T]:
    """Results of GIL-free calls, run on up to n_threads() threads, in the order given; the
    first exception raised is raised here, once every thread has stopped.

    The calling thread works too, beside helper threads started for the call and taken in
    order by whichever thread is free. Plain threads, not a pool: one starts in ~0.1 ms, and
    importing concurrent.futures took 13 ms of a whole 0.3 s ``kmseg segment``.
    """
    if len(jobs) <= 1 or n_threads() == 1:
        return [job() for job in jobs]
    results: list = [None] * len(jobs)
    errors: list[BaseException] = []
    stopped: list[bool] = []  # set when the caller leaves early (Ctrl-C): helpers take no more
    queue = iter(enumerate(jobs))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                taken = None if errors or stopped else next(queue, None)
            if taken is None:
                return
            try:
                results[taken[0]] = taken[1]()
            except BaseException as error:  # raised again in the caller
                with lock:
                    errors.append(error)

    helpers = [threading.Thread(target=work, name="kmseg", daemon=True)
               for _ in range(min(len(jobs), n_threads()) - 1)]
    for helper in helpers:
        helper.start()
    try:
        work()
    finally:
        stopped.append(True)
        for helper in helpers:
            helper.join()
    if errors:
        raise errors[0]
    return results


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # inspects the loaded libraries once (0.4 ms), then 10 us


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread inside kmseg (restored after): its products here are small, and
    OpenBLAS's idle threads spin on the cores kmseg's own threads need (60 BSDS photos: 7.6 s
    with the default BLAS threads, 5.7 s with one)."""
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


@contextlib.contextmanager
def collections_paused() -> Iterator[None]:
    """Python's garbage collector off inside (its state restored after): imports that create
    many long-lived objects (dask.distributed: 0.24 s instead of 0.29-0.37) set off full
    collections that find nothing to free.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@functools.cache
def skip_final_collections() -> None:
    """At this process's exit, skip the interpreter's last garbage collections.

    They walk every object alive, to free nothing that the end of the process does not free:
    a whole ``kmseg segment`` on a 481x321 photo took 0.73 s with this, 0.88 s without (median
    of 8 runs each, interleaved). ``gc.freeze`` at exit, after the other exit handlers, takes
    the objects out of those collections. Registered once per process, in processes kmseg runs
    (the command line, Dask workers).
    """
    atexit.register(gc.freeze)
