"""Batches: many images on a local process pool, with progress, per-file errors and resumption.

:func:`run_batch` segments every image of a list of files, folders (searched recursively for
image files) and glob patterns into one output folder. Each image is a separate task on a
process pool; a bad file is reported (one line, and in ``OUTDIR/errors.json``) and the batch goes
on. A killed batch restarted with the same command skips the images whose outputs are complete
(their JSON report, written last, lists files that all exist) and redoes the others: every
file is written atomically, so nothing is ever half written. Inputs are only read.

With ``shared_palette=True`` the colour histograms of all images are summed (map-reduce), one
palette is fitted on them, and every image is labelled with it; ``palette=`` applies a saved
one (:meth:`kmseg.KMeansSegmenter.save`).
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import KmsegError, ParameterError

__all__ = ["BatchReport", "find_images", "run_batch"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")


@dataclass
class BatchReport:
    """What a batch did: images done now, skipped as already complete, failed (with why)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    startup_seconds: float = 0.0  # of those, starting the workers (a Dask LocalCluster)


@dataclass(frozen=True)
class _Job:
    source: str
    outdir: str
    stem: str


def find_images(inputs: Sequence[str | os.PathLike]) -> list[tuple[Path, Path]]:
    """``(file, output subfolder)`` of every image: files as given, folders searched
    recursively (image files only, their relative folders kept), glob patterns expanded.

    Raises
    ------
    ParameterError
        An input that is neither a file, a folder nor a pattern that matches something.
    """
    found: list[tuple[Path, Path]] = []
    for entry in map(str, inputs):
        path = Path(entry)
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
                    found.append((file, file.parent.relative_to(path)))
        elif path.is_file():
            found.append((path, Path()))
        elif glob.has_magic(entry) and (matches := sorted(glob.glob(entry, recursive=True))):
            found.extend((Path(m), Path()) for m in matches if Path(m).is_file())
        else:
            raise ParameterError(f"{entry}: no such file, folder or matching pattern")
    return found


def run_batch(
    inputs: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    *,
    workers: int | None = None,
    palette: str | os.PathLike | None = None,
    shared_palette: bool = False,
    progress: bool = True,
    scheduler: str | None = None,
    **segment_kwargs: Any,
) -> BatchReport:
    """Segment every image of ``inputs`` into ``outdir`` (see the module docstring).

    Parameters
    ----------
    inputs : sequence of str or path
        Files, folders, glob patterns.
    outdir : str or path
        Output folder; an input found in a sub-folder ``a/b`` of a folder input writes to
        ``outdir/a/b``.
    workers : int, optional
        Processes (default: the number of cores).
    palette : str or path, optional
        A saved palette to apply instead of clustering each image.
    shared_palette : bool
        Fit one palette on all images (summed histograms), then label each with it.
    progress : bool
        Show a progress bar (files done, rate, time left) on stderr.
    scheduler : str, optional
        Run on Dask instead of the local process pool: ``"tcp://host:port"`` (a running
        ``distributed`` scheduler) or ``"local"`` (a ``LocalCluster`` of ``workers``
        single-threaded processes, started and stopped here). Needs the ``dask`` extra.
    **segment_kwargs
        Passed to :func:`kmseg.segment` (``k``, ``space``, ``regions``, ...).

    Returns
    -------
    BatchReport

    Raises
    ------
    ParameterError
        Bad inputs or parameters (checked before any work).
    OutputError
        ``outdir`` cannot be created or written.
    """
    from .._save import output_folder
    from .._segment import KMeansSegmenter

    start = time.perf_counter()
    if palette is not None and shared_palette:
        raise ParameterError("give palette or shared_palette, not both")
    images = find_images(inputs)
    if not images:
        raise ParameterError("no image to segment in " + ", ".join(map(str, inputs)))
    _check_kwargs(segment_kwargs)
    model = KMeansSegmenter.load(palette) if palette is not None else None
    outdir = output_folder(Path(outdir))
    _remove_stale_temporaries(outdir)
    started = time.perf_counter()
    with _executor(scheduler, workers) as pool:
        startup = time.perf_counter() - started
        report = _run(pool, images, outdir, model, shared_palette, progress, segment_kwargs)
    report.seconds, report.startup_seconds = time.perf_counter() - start, startup
    return report


def _run(pool, images, outdir, model, shared_palette, progress, segment_kwargs) -> BatchReport:
    from .._save import atomic_write
    from .._segment import KMeansSegmenter, resolve_preset

    with_regions = bool(segment_kwargs.get("regions")) or (
        segment_kwargs.get("min_region") is not None)
    jobs, report = _plan(images, outdir, with_regions and model is None and not shared_palette)
    if shared_palette:
        options = {name: value for name, value in segment_kwargs.items()
                   if name in KMeansSegmenter().get_params()}
        options |= resolve_preset(False, k=segment_kwargs.get("k"),
                                  space=segment_kwargs.get("space"))
        model = _fit_shared(KMeansSegmenter(**options), [j.source for j in jobs], pool,
                            report, progress)
    items = [(model, segment_kwargs, job) for job in jobs if job.source not in report.failed]
    for (_, _, job), _, error in _map(_segment_task, items, pool, "segment", progress):
        if error is None:
            report.done.append(job.source)
        else:
            report.failed[job.source] = error
    errors = [{"file": source, "error": error} for source, error in report.failed.items()]
    atomic_write(outdir / "errors.json",
                 lambda p: p.write_text(json.dumps(errors, indent=2) + "\n"))
    return report


def _plan(images: list[tuple[Path, Path]], outdir: Path, regions: bool):
    """Jobs to run, and a report with the images already complete and the stem clashes."""
    report = BatchReport()
    jobs: list[_Job] = []
    taken: dict[Path, str] = {}
    inputs = {file.resolve() for file, _ in images}
    for file, sub in images:
        folder = outdir / sub
        json_path = folder / f"{file.stem}.json"
        if json_path in taken:
            report.failed[str(file)] = (f"{file}: its outputs would replace those of "
                                        f"{taken[json_path]} (same name)")
            continue
        taken[json_path] = str(file)
        if json_path.resolve() in inputs:
            report.failed[str(file)] = f"{file}: an output would overwrite an input"
        elif _complete(json_path, regions):
            report.skipped.append(str(file))
        else:
            jobs.append(_Job(str(file), str(folder), file.stem))
    return jobs, report


# The temporary files of kmseg's atomic writes: ".<name>.<8 random characters><suffix>".
_TEMPORARY = re.compile(r"^\.(?P<name>.+(?P<suffix>\.[A-Za-z0-9]+))\.[a-z0-9_]{8}(?P=suffix)$")


def _remove_stale_temporaries(outdir: Path) -> None:
    """Delete what a killed batch left half written (never renamed into place)."""
    for path in outdir.rglob(".*"):
        if path.is_file() and _TEMPORARY.match(path.name):
            path.unlink(missing_ok=True)


def _complete(json_path: Path, regions: bool) -> bool:
    """Whether an image's outputs are all there: the report (written last) and its files."""
    try:
        written = json.loads(json_path.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return ("regions" in written or not regions) and all(
        (json_path.parent / name).is_file() for name in written.values())


def _segment_task(args: tuple[Any, dict[str, Any], _Job]) -> None:
    """One image, in a worker process: segment (or apply the palette) and save."""
    from .._segment import segment

    model, segment_kwargs, job = args
    seg = model.segment(job.source) if model is not None else segment(job.source,
                                                                     **segment_kwargs)
    seg.save(job.outdir, stem=job.stem)


def _histogram_task(args: tuple[Any, str]):
    """One image's colour histogram and kind, in a worker process."""
    from .._io import load_image

    model, source = args
    loaded = load_image(source)
    return (loaded.pixels.dtype, loaded.pixels.shape[2:], *model.image_histogram(loaded))


def _fit_shared(model, sources: list[str], pool, report: BatchReport, progress: bool):
    """Sum the histograms of every image (in the pool), fit one palette on the sum."""
    import numpy as np

    from .._compress import pool as add_histograms
    from .._io import LoadedImage

    pooled, kind = None, None
    items = [(model, source) for source in sources]
    for (_, source), result, error in _map(_histogram_task, items, pool, "histograms",
                                           progress):
        if error is not None:
            report.failed[source] = error
            continue
        dtype, extra_shape, values, counts = result
        if kind is None:
            kind = (dtype, extra_shape, source)
        elif (dtype, extra_shape) != kind[:2]:
            report.failed[source] = (f"{source}: not the kind of image of {kind[2]} "
                                     "(dtype or channels); left out of the shared palette")
            continue
        pooled = add_histograms(pooled, values, counts)
    if pooled is None:
        raise ParameterError("no readable image for the shared palette")
    like = LoadedImage(np.zeros((1, 1, *kind[1]), dtype=kind[0]), None, None, kind[2], "")
    return model.fit_histogram(*pooled, like=like)


def _map(function: Callable, items: list, pool, what: str,
         progress: bool = True) -> Iterable[tuple[Any, Any, str | None]]:
    """``(item, result, None)`` or ``(item, None, error)`` for each item, as they finish, from
    ``function`` on the pool (processes or Dask), up to ``pool.chunk`` items per task; a
    progress bar on stderr."""
    if not items:
        return
    bar = _progress_bar(len(items), what) if progress else None
    chunks = _chunks(items, pool.chunk, pool.workers)
    try:
        futures = {pool.submit(_run_chunk, (function, chunk)): chunk for chunk in chunks}
        for future in pool.as_completed(futures):
            chunk = futures[future]
            try:
                outcomes = future.result()
            except Exception as error:  # a crashed worker: report its items, go on
                outcomes = [(None, f"{_name(item)}: worker failed ({error!r})")
                            for item in chunk]
            for item, (result, error) in zip(chunk, outcomes, strict=True):
                yield item, result, error
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()


def _chunks(items: list, largest: int, workers: int) -> list[list]:
    """Consecutive chunks of ``items``, at most ``largest`` long, shrinking to one item towards
    the end (guided scheduling: a quarter of what is left per worker), so that no worker is left
    with a long last task while the others idle. With fixed chunks of 8, one Dask worker of two
    finished 0.25 s after the other on 200 BSDS photos; a gigapixel raster's 60 strips went out
    as 8 tasks, 4 of them on each core."""
    chunks, start = [], 0
    while start < len(items):
        size = max(1, min(largest, -(-(len(items) - start) // (4 * workers))))
        chunks.append(items[start:start + size])
        start += size
    return chunks


def _run_chunk(args: tuple[Callable, list]) -> list[tuple[Any, str | None]]:
    """``function`` on each item of a chunk, in a worker: ``(result, None)`` or ``(None,
    error)`` per item, so that one bad file does not fail its neighbours."""
    function, chunk = args
    outcomes: list[tuple[Any, str | None]] = []
    for item in chunk:
        try:
            outcomes.append((function(item), None))
        except KmsegError as error:
            outcomes.append((None, str(error)))
        except Exception as error:
            outcomes.append((None, f"{_name(item)}: worker failed ({error!r})"))
    return outcomes


class _Pool:
    """``submit`` and ``as_completed`` over a process pool or a Dask client, how many tasks run
    at once, and at most how many items go in one task."""

    def __init__(self, submit: Callable, as_completed: Callable, workers: int,
                 chunk: int = 1) -> None:
        self.submit = submit
        self.as_completed = as_completed
        self.workers = workers
        self.chunk = chunk


_DASK_CHUNK = 8


@contextlib.contextmanager
def _executor(scheduler: str | None, workers: int | None) -> Iterator[_Pool]:
    workers = workers or os.cpu_count() or 1
    if scheduler is None:
        from concurrent.futures import as_completed

        with ProcessPoolExecutor(workers, initializer=_worker_setup) as executor:
            yield _Pool(executor.submit, as_completed, workers)
        return
    from .. import _parallel

    try:
        with _parallel.collections_paused():  # its import: 0.24 s instead of 0.29-0.37
            from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ParameterError("a Dask scheduler needs dask.distributed: pip install "
                             "'kmseg[dask]'") from None
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
        client.run(_worker_setup, True)  # its imports and kernels: part of the start-up
        # Dask spends ~10 ms on each task: a BSDS photo takes ~30 ms, so tasks carry several.
        yield _Pool(lambda f, item: client.submit(f, item, pure=False),
                    lambda futures: as_completed(list(futures)),
                    workers=max(1, sum(client.nthreads().values())), chunk=_DASK_CHUNK)


def _worker_setup(quick_exit: bool = False) -> None:
    """A worker process made ready: one process on one core (its kernels and BLAS on one
    thread: the processes keep the cores busy, --workers 1 leaves the others free, and
    OpenBLAS's idle threads spin: on 60 BSDS photos, 17 s of CPU for 8 s of work), kmseg's
    imports and compiled kernels loaded with the garbage collector paused (0.38 instead of
    0.50 s), and for a Dask worker, which ends as a whole interpreter does, no last collections
    at its exit (the cluster's close waited 0.40 s for two workers, 0.06 s with this)."""
    from .. import _parallel

    with _parallel.collections_paused():  # imports included
        from threadpoolctl import threadpool_limits

        from .._segment import warm_up

        os.environ["KMSEG_THREADS"] = "1"
        threadpool_limits(1)
        warm_up()
    if quick_exit:
        _parallel.skip_final_collections()


def _name(item: Any) -> str:
    job = item[-1] if isinstance(item, tuple) else item
    return job.source if isinstance(job, _Job) else str(job)


def _progress_bar(total: int, what: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit="file", file=sys.stderr, dynamic_ncols=True)


def _check_kwargs(segment_kwargs: dict[str, Any]) -> None:
    """Fail before any work on options kmseg.segment would refuse for every image."""
    import inspect

    from .._segment import check_param, segment

    unknown = set(segment_kwargs) - set(inspect.signature(segment).parameters)
    if unknown:
        raise ParameterError(f"unknown segment options: {', '.join(sorted(unknown))}")
    for name, value in segment_kwargs.items():
        check_param(name, value)
