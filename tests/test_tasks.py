"""Where tasks run: the process pool and a Dask LocalCluster, chunks, per-item errors."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from kmseg._errors import ImageReadError
from kmseg._tasks import chunks, executor, run_all


def _square(item: int | str) -> int:
    if item == "bad":
        raise ValueError("not a number")
    if item == "unreadable":
        raise ImageReadError("unreadable: not an image")
    return item * item


def _label(item: int | str) -> str:
    return f"item {item}"


@pytest.mark.parametrize("scheduler", [None, "local"])
def test_each_item_gets_its_result_or_one_line_of_error(scheduler):
    if scheduler is not None:
        pytest.importorskip("distributed", reason="the dask extra is not installed")
    # On Dask the first task carries 4 items: the two bad ones fail alone, not their task.
    items = [0, "bad", 1, "unreadable", *range(2, 30)]
    with executor(scheduler, 2) as pool:
        outcomes = {item: (result, error) for item, result, error in
                    run_all(_square, items, pool, name=_label, progress=False)}
    assert outcomes == {i: (i * i, None) for i in range(30)} | {
        "bad": (None, "item bad: unexpected ValueError: not a number"),
        "unreadable": (None, "unreadable: not an image")}


def test_local_cluster_workers_are_set_up_like_the_pool():
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    ours = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    with executor("local", 1) as pool:
        threads = pool.submit(os.getenv, "KMSEG_THREADS").result()
        trim = pool.submit(os.getenv, "MALLOC_TRIM_THRESHOLD_").result()
        # Registered its gc.freeze at exit: the cluster's close waits for no last collection.
        exit_hook = pool.submit(_skip_registered, None).result()
        profiler = pool.submit(_dask_setting, "distributed.worker.profile.enabled").result()
    assert threads == "1" and exit_hook
    assert profiler is False  # no dashboard reads it; its samples take the GIL from the photos
    # Not Dask's 65536 (freed memory handed back at once; each photo faults its pages anew).
    assert trim == ours


def _dask_setting(name: str):
    import dask.config

    return dask.config.get(name)


def _skip_registered(_) -> bool:
    from kmseg import _parallel

    return _parallel.skip_final_collections.cache_info().currsize == 1


@pytest.mark.parametrize(("n", "largest", "workers"),
                         [(200, 8, 2), (60, 8, 2), (10, 8, 2), (7, 1, 2), (1, 8, 4), (30, 8, 8)])
def test_chunks_cover_the_items_in_order_and_shrink_to_one(n, largest, workers):
    parts = chunks(list(range(n)), largest, workers)
    assert [item for part in parts for item in part] == list(range(n))
    sizes = [len(part) for part in parts]
    assert max(sizes) <= largest and sizes == sorted(sizes, reverse=True) and sizes[-1] == 1
    # By hand, 10 items on 2 workers: a quarter of the rest per worker, rounded up, is 2 of 10,
    # then 1 of 8 and each after.
    assert [len(c) for c in chunks(list(range(10)), 8, 2)] == [2] + [1] * 8


def test_pool_workers_end_when_the_batch_is_killed(tmp_path):
    """kill -9 of a batch leaves no worker behind (they held 230-300 MB each)."""
    psutil = pytest.importorskip("psutil")
    from PIL import Image

    import kmseg

    photo = Image.open(kmseg.data.sample_path()).resize((320, 240))
    (tmp_path / "in").mkdir()
    for i in range(12):
        photo.rotate(20 * i).save(tmp_path / "in" / f"p{i}.png")
    command = [sys.executable, "-m", "kmseg", "batch", str(tmp_path / "in"), "-o",
               str(tmp_path / "out"), "-k", "8", "--attempts", "200", "--workers", "2",
               "--no-progress"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    workers = []
    try:
        batch = psutil.Process(process.pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((tmp_path / "out").glob("*.json")):
            time.sleep(0.05)  # until the workers are busy with photos
        workers = batch.children(recursive=True)
        assert len(workers) >= 2 and process.poll() is None, "kill it while the workers run"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        _, alive = psutil.wait_procs(workers, timeout=5)
        alive = [w for w in alive if _running(psutil, w)]
        assert alive == []
    finally:
        for worker in workers:
            with contextlib.suppress(psutil.Error):
                worker.kill()
        process.kill()
        process.wait()


def _running(psutil, process) -> bool:
    """Alive and not a zombie (an orphan's exit its new parent has not reaped yet)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
