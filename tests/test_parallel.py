"""The helper threads: order, errors, runs inside runs, forked children."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time

import pytest

from kmseg import _parallel


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setattr(_parallel, "n_threads", lambda: 2)


def test_results_come_in_the_order_of_the_jobs_and_use_two_threads(two_threads):
    names = set()

    def job(i):
        names.add(threading.current_thread().name)
        time.sleep(0.01 * (5 - i))  # later jobs finish first
        return i * i

    assert _parallel.run([lambda i=i: job(i) for i in range(6)]) == [i * i for i in range(6)]
    assert len(names) == 2


def test_an_error_reaches_the_caller_and_the_pool_keeps_working(two_threads):
    def fail():
        raise ValueError("bad job")

    for first in (fail, lambda: 1):  # raised by the calling thread, then by the helper
        second = fail if first is not fail else (lambda: time.sleep(0.05))
        with pytest.raises(ValueError, match="bad job"):
            _parallel.run([first, second])
    assert _parallel.run([lambda: 1, lambda: 2, lambda: 3]) == [1, 2, 3]


def test_a_run_inside_a_run_does_not_wait_for_busy_helpers(two_threads):
    def outer(i):
        return sum(_parallel.run([lambda j=j: i * j for j in range(4)]))

    done: list = []
    worker = threading.Thread(target=lambda: done.append(
        _parallel.run([lambda i=i: outer(i) for i in range(4)])), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert done == [[6 * i for i in range(4)]]


def _in_child(queue):
    def job():
        time.sleep(0.05)  # long enough for the helper to take the other job
        return threading.current_thread().name

    queue.put(len(set(_parallel.run([job, job]))))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_a_forked_child_starts_its_own_helpers(two_threads):
    _parallel.run([lambda: 0, lambda: 0])  # the parent ran helpers before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_in_child, args=(queue,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0 and queue.get(timeout=5) == 2  # its own helper thread ran


def test_final_collections_are_skipped_at_exit():
    # An exit handler registered first runs last: it sees the objects frozen.
    code = ("import atexit, gc\n"
            "atexit.register(lambda: print(gc.get_freeze_count()))\n"
            "from kmseg import _parallel\n"
            "_parallel.skip_final_collections()\n"
            "_parallel.skip_final_collections()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert int(done.stdout) > 1000
    without = subprocess.run([sys.executable, "-c", code.rsplit("_parallel.skip", 2)[0]],
                             capture_output=True, text=True, check=True)
    assert int(without.stdout) == 0


def test_collections_are_paused_inside_and_restored_after():
    import gc

    assert gc.isenabled()
    with _parallel.collections_paused():
        assert not gc.isenabled()
        with _parallel.collections_paused():  # nested: the outer one restores
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()  # a caller that had it off keeps it off
    try:
        with _parallel.collections_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
