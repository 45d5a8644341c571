"""Batches: many images on a local process pool, with progress, per-file errors and resumption.

:func:`run_batch` segments every image of a list of files, folders (searched recursively for
image files) and glob patterns into one output folder. Each image is a separate task on a
process pool; a bad file is reported (one line, and in ``OUTDIR/errors.json``) and the batch goes
on. Inputs are only read. Folders and patterns never yield kmseg's own outputs (those under
``outdir``, and those a kmseg report beside them lists), so a batch run again, into a folder
inside its input folder or into the input folder itself, finds the same images.

Each image's JSON report (written last) lists its files and records the settings that made
them (``"batch_settings"``, see :mod:`kmseg.batch._settings`). Run again, a batch skips an image
whose outputs are complete and were made with the same settings, and redoes the others: outputs
a killed batch left incomplete (every file is written atomically, so none is half written),
and outputs made with other settings (another ``k``, ``space``, ``seed``, palette, regions on or
off, ...); a file of the old outputs that the new ones do not replace (``_regions.png`` once
regions are off) is removed. ``force=True`` redoes every image.

With ``shared_palette=True`` the colour histograms of all images are summed (map-reduce), one
palette is fitted on them, and every image is labelled with it; ``palette=`` applies a saved
one (:meth:`kmseg.KMeansSegmenter.save`). A shared palette is fitted on every image of the
batch, complete or not, each time: outputs made with the same palette are skipped, and adding
an image (which changes the palette) redoes them all.
"""

from __future__ import annotations

import bisect
import glob
import itertools
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .._errors import ParameterError
from .._options import IMAGE_SUFFIXES
from .._tasks import executor, run_all

__all__ = ["BatchReport", "find_images", "run_batch"]



@dataclass
class BatchReport:
    """What a batch did.

    Attributes
    ----------
    done : list of str
        Images segmented by this run (those redone included).
    redone : dict of str to str
        Of ``done``, the images whose complete outputs were replaced, and why: the settings
        that changed (``"k 6 -> 3, seed 0 -> 1"``, ``"another palette"``), ``"forced"``
        (``force=True``, same settings) or ``"settings not recorded"`` (outputs of a kmseg
        older than these records).
    skipped : list of str
        Images whose outputs were complete and made with the same settings.
    failed : dict of str to str
        Images that failed, and the one-line error.
    seconds, startup_seconds : float
        Wall time of the batch, and of starting its workers (a Dask ``LocalCluster``).
    """

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    redone: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    startup_seconds: float = 0.0


@dataclass(frozen=True)
class _Job:
    source: str
    outdir: str
    stem: str
    old_files: tuple[str, ...] = ()  # files of the outputs this job replaces
    protect: tuple[str, ...] = ()  # inputs in outdir named like this job's outputs


class _Previous(NamedTuple):
    """What the output folder holds for one image, from its JSON report."""

    complete: bool  # the report and every file it lists are there
    settings: Any  # the recorded settings (None if not recorded)
    files: tuple[str, ...]  # the files the report lists


def find_images(inputs: Sequence[str | os.PathLike], *,
                outdir: str | os.PathLike | None = None) -> list[tuple[Path, Path]]:
    """``(file, output subfolder)`` of every image: files as given, folders searched
    recursively (image files only, their relative folders kept), glob patterns expanded.

    Folders and patterns leave out kmseg's own outputs, so that a batch run again does not
    segment what it wrote: everything under ``outdir`` (unless the folder searched is itself
    in ``outdir``, as with ``-o`` the input folder), and every file that a kmseg JSON report
    beside it lists (``<stem>.json``, whose ``"files"`` name ``<stem>_labels.png``, ...). A
    photo named ``x_labels.png`` with no such report is an input; a file given by name always is.

    Parameters
    ----------
    inputs : sequence of str or path
        Files (taken whatever their suffix), folders (searched recursively for files with an
        image suffix) and glob patterns (every file they match; ``**`` matches any folders).
    outdir : str or path, optional
        The batch's output folder: folders and patterns leave out the files under it (see
        above). None: only the outputs that kmseg reports list are left out.

    Returns
    -------
    list of (Path, Path)
        ``(file, output subfolder)`` in the order of ``inputs``, each folder's and pattern's
        files sorted by path: the subfolder is the file's folder relative to the folder
        searched (``Path(".")`` for a file given by name or matched by a pattern). A file
        found twice is listed twice.

    Raises
    ------
    ParameterError
        An input that is neither a file, a folder nor a pattern that matches something.
    """
    found: list[tuple[Path, Path]] = []
    skip = _Outputs(outdir)
    for entry in map(str, inputs):
        path = Path(entry)
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if (file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES
                        and not skip(file, path)):
                    found.append((file, file.parent.relative_to(path)))
        elif path.is_file():
            found.append((path, Path()))
        elif glob.has_magic(entry) and (matches := sorted(glob.glob(entry, recursive=True))):
            root = Path(*itertools.takewhile(lambda part: not glob.has_magic(part), path.parts))
            found.extend((Path(m), Path()) for m in matches
                         if Path(m).is_file() and not skip(Path(m), root))
        else:
            raise ParameterError(f"{entry}: no such file, folder or matching pattern")
    return found


class _Outputs:
    """Whether a file found in a folder searched is one of kmseg's outputs (see
    :func:`find_images`); the reports read once each."""

    def __init__(self, outdir: str | os.PathLike | None) -> None:
        self.outdir = None if outdir is None else Path(outdir).resolve()
        self.listed: dict[Path, frozenset[str]] = {}

    def __call__(self, file: Path, searched: Path) -> bool:
        if self.outdir is not None and file.resolve().is_relative_to(self.outdir) \
                and not searched.resolve().is_relative_to(self.outdir):
            return True
        # Its report is <stem>.json, stem a part of its name before one of its "_".
        name = file.name
        return any(name in self._listed(file.parent / f"{name[:i]}.json")
                   for i, char in enumerate(name) if char == "_" and i > 0)

    def _listed(self, report: Path) -> frozenset[str]:
        """The files a kmseg JSON report lists (none if it is not one)."""
        if report not in self.listed:
            names: frozenset[str] = frozenset()
            if report.is_file():
                try:
                    content = json.loads(report.read_text())
                    if isinstance(content, dict) and "kmseg_version" in content:
                        names = frozenset(str(value) for value in content["files"].values())
                except (OSError, ValueError, KeyError, TypeError, AttributeError):
                    pass
            self.listed[report] = names
        return self.listed[report]


def run_batch(
    inputs: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    *,
    workers: int | None = None,
    palette: str | os.PathLike | None = None,
    shared_palette: bool = False,
    force: bool = False,
    progress: bool = True,
    scheduler: str | None = None,
    **segment_kwargs: Any,
) -> BatchReport:
    """Segment every image of ``inputs`` into ``outdir`` (see the module docstring).

    Parameters
    ----------
    inputs : sequence of str or path
        Files, folders, glob patterns (kmseg's outputs left out of folders and patterns: see
        :func:`find_images`).
    outdir : str or path
        Output folder; an input found in a sub-folder ``a/b`` of a folder input writes to
        ``outdir/a/b``.
    workers : int, optional
        Processes (default: the number of cores).
    palette : str or path, optional
        A saved palette to apply instead of clustering each image.
    shared_palette : bool
        Fit one palette on all images (summed histograms), then label each with it.
    force : bool
        Redo every image, even those whose outputs are complete and made with the same
        settings (``report.redone`` says ``"forced"`` for them).
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
        Images segmented (``done``; of those, ``redone``: outputs replaced, and why), skipped
        as complete with the same settings (``skipped``), and failed (``failed``).

    Raises
    ------
    ParameterError
        Bad inputs or parameters (checked before any work).
    OutputError
        ``outdir`` cannot be created or written.
    """
    from .._segment import KMeansSegmenter
    from .._write import output_folder

    start = time.perf_counter()
    if palette is not None and shared_palette:
        raise ParameterError("give palette or shared_palette, not both")
    images = find_images(inputs, outdir=outdir)
    if not images:
        raise ParameterError("no image to segment in " + ", ".join(map(str, inputs)))
    _check_kwargs(segment_kwargs)
    model = KMeansSegmenter.load(palette) if palette is not None else None
    outdir = output_folder(Path(outdir))
    _remove_stale_temporaries(outdir)
    started = time.perf_counter()
    with executor(scheduler, workers) as pool:
        startup = time.perf_counter() - started
        report = _run(pool, images, outdir, model, shared_palette, force, progress,
                      segment_kwargs)
    report.seconds, report.startup_seconds = time.perf_counter() - start, startup
    return report


def _run(pool, images, outdir, model, shared_palette, force, progress,
         segment_kwargs) -> BatchReport:
    from .._options import resolve_preset
    from .._segment import KMeansSegmenter
    from .._write import atomic_write
    from ._settings import image_settings, palette_settings

    candidates, report = _plan(images, outdir)
    if shared_palette:
        options = {name: value for name, value in segment_kwargs.items()
                   if name in KMeansSegmenter().get_params()}
        options |= resolve_preset(False, k=segment_kwargs.get("k"),
                                  space=segment_kwargs.get("space"))
        # Every image, complete or not: the palette of a resumed batch is the first run's.
        model = _fit_shared(KMeansSegmenter(**options), [job.source for job, _ in candidates],
                            pool, report, progress)
    settings = image_settings(segment_kwargs) if model is None else palette_settings(model)
    jobs, stale = _decide(candidates, settings, force, report)
    items = [(model, segment_kwargs, settings, job) for job in jobs]
    for (*_, job), _, error in run_all(_segment_task, items, pool, name=_source,
                                       what="segment", progress=progress):
        if error is None:
            report.done.append(job.source)
            if job.source in stale:
                report.redone[job.source] = stale[job.source]
        else:
            report.failed[job.source] = error
    errors = [{"file": source, "error": error} for source, error in report.failed.items()]
    atomic_write(outdir / "errors.json",
                 lambda p: p.write_text(json.dumps(errors, indent=2) + "\n"))
    return report


def _plan(images: list[tuple[Path, Path]], outdir: Path):
    """``(job, what its outputs hold now)`` of each image, and a report with the stem clashes
    and outputs that would overwrite an input."""
    report = BatchReport()
    candidates: list[tuple[_Job, _Previous]] = []
    taken: dict[Path, str] = {}
    inputs = {file.resolve() for file, _ in images}
    names: dict[Path, list[str]] = {}
    for path in sorted(inputs):
        names.setdefault(path.parent, []).append(path.name)
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
            continue
        previous = _previous(json_path)
        # Only the report's own files, named after the stem, never an input, are ever removed.
        old_files = tuple(name for name in previous.files
                          if Path(name).name == name and name.startswith(f"{file.stem}_")
                          and (folder / name).resolve() not in inputs)
        protect = _named_like_outputs(names, folder.resolve(), file.stem)
        job = _Job(str(file), str(folder), file.stem, old_files, protect)
        candidates.append((job, previous))
    return candidates, report


def _decide(candidates: list[tuple[_Job, _Previous]], settings: dict[str, Any], force: bool,
            report: BatchReport) -> tuple[list[_Job], dict[str, str]]:
    """Jobs to run (complete outputs with the same settings go to ``report.skipped``), and
    why each complete output is redone."""
    from ._settings import FORCED, changes

    jobs: list[_Job] = []
    stale: dict[str, str] = {}
    for job, previous in candidates:
        if job.source in report.failed:  # left out of the shared palette
            continue
        if previous.complete:
            reason = changes(previous.settings, settings) or (FORCED if force else "")
            if not reason:
                report.skipped.append(job.source)
                continue
            stale[job.source] = reason
        jobs.append(job)
    return jobs, stale


# The temporary files of kmseg's atomic writes: ".<name>.<8 random characters><suffix>".
_TEMPORARY = re.compile(r"^\.(?P<name>.+(?P<suffix>\.[A-Za-z0-9]+))\.[a-z0-9_]{8}(?P=suffix)$")


def _remove_stale_temporaries(outdir: Path) -> None:
    """Delete what a killed batch left half written (never renamed into place)."""
    for path in outdir.rglob(".*"):
        if path.is_file() and _TEMPORARY.match(path.name):
            path.unlink(missing_ok=True)


def _named_like_outputs(names: dict[Path, list[str]], folder: Path, stem: str) -> tuple[str, ...]:
    """Inputs in ``folder`` named ``<stem>_*`` (e.g. ``p0_segmented.png`` beside ``p0.png``),
    which the outputs of ``stem`` must not write over; ``names`` holds sorted names per folder."""
    in_folder = names.get(folder, [])
    first = bisect.bisect_left(in_folder, f"{stem}_")
    last = bisect.bisect_left(in_folder, f"{stem}`")  # "`" follows "_" in code point order
    return tuple(str(folder / name) for name in in_folder[first:last])


def _previous(json_path: Path) -> _Previous:
    """What an image's report says: whether its outputs are all there (the report is written
    last), the settings that made them, the files it lists."""
    from ._settings import RECORD_KEY

    try:
        report = json.loads(json_path.read_text())
        files = tuple(report["files"].values())
        complete = all((json_path.parent / name).is_file() for name in files)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return _Previous(False, None, ())
    return _Previous(complete, report.get(RECORD_KEY), files)


def _segment_task(args: tuple[Any, dict[str, Any], dict[str, Any], _Job]) -> None:
    """One image, in a worker process: segment (or apply the palette), save with the settings
    in its report, and remove the files of its previous outputs that were not replaced."""
    from .._segment import segment
    from ._settings import recorded

    model, segment_kwargs, settings, job = args
    seg = model.segment(job.source) if model is not None else segment(job.source,
                                                                     **segment_kwargs)
    written = recorded(seg, settings).save(job.outdir, stem=job.stem, protect=job.protect)
    kept = {path.name for path in written.values()}
    for name in job.old_files:
        if name not in kept:
            (Path(job.outdir) / name).unlink(missing_ok=True)


def _source(item: tuple) -> str:
    """The file a batch task's item is about (its last element: a job or a path)."""
    last = item[-1]
    return last.source if isinstance(last, _Job) else str(last)


def _histogram_task(args: tuple[Any, str]):
    """One image's colour histogram and kind, in a worker process."""
    from ..io import load_image

    model, source = args
    loaded = load_image(source)
    return (loaded.pixels.dtype, loaded.pixels.shape[2:], *model.image_histogram(loaded))


def _fit_shared(model, sources: list[str], pool, report: BatchReport, progress: bool):
    """Sum the histograms of every image (in the pool), fit one palette on the sum."""
    import numpy as np

    from .._compress import pool_histograms
    from ..io import LoadedImage

    pooled, kind = None, None
    items = [(model, source) for source in sources]
    for (_, source), result, error in run_all(_histogram_task, items, pool, name=_source,
                                              what="histograms", progress=progress):
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
        pooled = pool_histograms(pooled, values, counts)
    if pooled is None:
        raise ParameterError("no readable image for the shared palette")
    like = LoadedImage(np.zeros((1, 1, *kind[1]), dtype=kind[0]), None, None, kind[2], "")
    return model.fit_histogram(*pooled, like=like)


def _check_kwargs(segment_kwargs: dict[str, Any]) -> None:
    """Fail before any work on options kmseg.segment would refuse for every image."""
    import inspect

    from .._segment import segment
    from .._validation import check_param

    unknown = set(segment_kwargs) - set(inspect.signature(segment).parameters)
    if unknown:
        raise ParameterError(f"unknown segment options: {', '.join(sorted(unknown))}")
    for name, value in segment_kwargs.items():
        check_param(name, value)
