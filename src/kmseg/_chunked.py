"""Rasters larger than memory: one palette for the whole raster, read and written in strips.

A TIFF (BigTIFF, tiled or in strips, any band count) is read three times, one horizontal strip
at a time (:func:`kmseg.io.raster_strips`): the first pass adds up the colour histograms of the
strips and fits one palette (k-means once, on the exact histogram of the whole raster); the
second labels every strip by its nearest centre and writes the label raster tile by tile; the
third paints the labels. Labels are therefore the same in every strip — unlike clustering each
tile on its own (as Earth Engine's per-tile clusterers do), a colour gets one label everywhere —
and memory follows the strip size, not the raster.

With ``output="zarr"`` the strips are tasks instead, on the local process pool or a Dask
cluster (``scheduler``): each worker reads its own rows (random access), the histograms come
back and are summed, and each worker writes its labels and painted rows into zarr arrays,
whose chunks no two strips share. A TIFF cannot be written by several processes at once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._compress import pool_histograms
from ._errors import ImageReadError, KmsegError, OutputError, ParameterError, with_source
from ._labels import label_dtype, masked_label
from ._result import cast_like
from ._samples import is_spatial, makes_regions
from ._segment import KMeansSegmenter
from ._write import atomic_directory, atomic_write, output_folder
from .io import (
    DEFAULT_MAX_PIXELS,
    GeoReference,
    LoadedImage,
    RasterInfo,
    raster_info,
    raster_rows,
    raster_strips,
)

# Above this many pixels a TIFF is segmented in strips even without --chunked: the whole-image
# path holds the pixels, their codes and the labels at once (~9 bytes a pixel for RGB).
CHUNKED_FROM = 100_000_000
# Pixels per strip: ~50 MB of RGB, 16.7 MP -- as many as the largest photos, whose whole-image
# timings the strips then match.
STRIP_PIXELS = 1 << 24
# Output tiles and their compression (zlib level 1: label maps shrink ~20x, at ~1 GB/s).
_TILE = 256
_COMPRESSION = ("zlib", {"level": 1})


@dataclass
class ChunkedResult:
    """What :func:`segment_chunked` did."""

    info: RasterInfo
    model: KMeansSegmenter
    sizes: np.ndarray  # (k,) pixels per cluster
    n_strips: int
    files: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def segment_chunked(
    source: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    *,
    model: KMeansSegmenter,
    bands: Sequence[int] | None = None,
    refit: bool = True,
    strip_pixels: int = STRIP_PIXELS,
    protect: Sequence[str | os.PathLike[str]] = (),
    output: str = "tiff",
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> ChunkedResult:
    """Segment a TIFF of any size with one palette, strip by strip.

    Files in ``outdir``: ``<stem>_labels.tif`` (tiled BigTIFF, uint8 or uint16 labels, the
    masked label where the raster has GDAL nodata), ``<stem>_segmented.tif`` (tiled BigTIFF,
    each pixel painted with its centre) and ``<stem>.json`` (palette, sizes, compactness,
    timings). A GeoTIFF's georeferencing is copied into both rasters. With ``output="zarr"``:
    ``<stem>_labels.zarr`` and ``<stem>_segmented.zarr`` (zarr v3 arrays in 256 x 256 chunks;
    attributes ``nodata`` and, for a GeoTIFF, its ``geotiff_tags`` as ``[code, type, count,
    value]``).

    Parameters
    ----------
    source : str or path
        A TIFF that :func:`kmseg.io.raster_info` accepts.
    outdir : str or path
        Output folder, created if needed; the outputs are named after ``source``'s stem.
    model : KMeansSegmenter
        Colour-only parameters (no position, texture, smoothing or superpixels); fitted here.
    bands : sequence of int, optional
        Band numbers to cluster, from 1.
    refit : bool
        False: ``model`` is already fitted (a saved palette); the histogram pass is skipped.
    strip_pixels : int
        About how many pixels are read at a time (per worker).
    protect : sequence of str or path
        Files besides ``source`` that no output may replace (e.g. other inputs that live in
        ``outdir``); default none.
    output : {"tiff", "zarr"}
        The outputs' format. Zarr arrays are written by several workers at once.
    scheduler : str, optional
        With ``output="zarr"``: a Dask scheduler (``"tcp://host:port"``) or ``"local"`` (a
        ``LocalCluster``); None: the local process pool. The workers must see ``source``
        and ``outdir`` at the same paths.
    workers : int, optional
        Processes of the local pool or LocalCluster (default: one per core).
    progress : bool
        A progress bar of the strips on stderr (zarr outputs).
    max_pixels : int or None
        Decompression-bomb limit, as :func:`kmseg.load_image`'s: a raster claiming more pixels
        is refused before any strip is read (None lifts it, for real gigapixel rasters).

    Returns
    -------
    ChunkedResult
        ``info`` (the :class:`kmseg.io.RasterInfo` of ``source``), ``model`` (the same object,
        fitted), ``sizes`` (``(k,)`` int64 pixels per cluster, masked pixels left out),
        ``n_strips`` (strips the raster was read in), ``files`` (``"labels"``, ``"segmented"``
        and ``"json"`` to their paths) and ``timings`` (seconds per pass).

    Raises
    ------
    ImageReadError
        ``source`` is not a TIFF that can be read in strips, or has more than ``max_pixels``.
    ParameterError
        Bad model parameters, bands or output; k exceeds the raster's distinct colours; a
        scheduler without ``output="zarr"``; zarr (or, for Dask, distributed) not installed.
    OutputError
        ``outdir`` cannot be written, or an output would replace an input.
    """
    start = time.perf_counter()
    if is_spatial(model.get_params()) or makes_regions(model.get_params()):
        raise ParameterError(with_source(
            "a raster segmented in strips takes colour features only (no position, texture, "
            "smoothing, superpixels or regions)", str(source)))
    info = raster_info(source, max_pixels=max_pixels)
    if info is None:
        raise ImageReadError(with_source("only TIFF files can be segmented in strips",
                                         str(source)))
    if output not in ("tiff", "zarr"):
        raise ParameterError(f"output must be 'tiff' or 'zarr', not {output!r}")
    if scheduler is not None and output != "zarr":
        raise ParameterError("on Dask the outputs are zarr arrays: use output='zarr'")
    outdir = output_folder(Path(outdir))
    stem = Path(source).stem
    suffix = ".tif" if output == "tiff" else ".zarr"
    paths = {role: outdir / f"{stem}{end}" for role, end in
             (("labels", f"_labels{suffix}"), ("segmented", f"_segmented{suffix}"),
              ("json", ".json"))}
    inputs = {Path(p).resolve() for p in (source, *protect)}
    for path in paths.values():
        if path.resolve() in inputs:
            raise OutputError(f"{path}: refusing to overwrite an input file")
    if output == "zarr":
        return _segment_to_zarr(info, paths, model, bands, refit, strip_pixels, scheduler,
                                workers, progress, start)
    rows = max(1, strip_pixels // info.shape[1])

    def strips() -> Iterator:
        return raster_strips(source, rows=rows, bands=bands)

    timings = {}
    if refit:
        pooled, like = None, None
        for _, strip in strips():
            like = like or strip
            pooled = pool_histograms(pooled, *model.image_histogram(strip, like=like))
        timings["histogram"] = time.perf_counter() - start
        _fit_palette(model, pooled, like, str(source))
        timings["cluster"] = time.perf_counter() - start - timings["histogram"]

    sizes = np.zeros(model.k, dtype=np.int64)
    dtype = label_dtype(model.k)

    n_strips = 0

    def label_strips() -> Iterator[np.ndarray]:
        nonlocal n_strips
        for _, strip in strips():
            n_strips += 1
            labels = model.predict(strip)
            valid = labels != masked_label(dtype)
            sizes[:] += np.bincount(labels[valid], minlength=model.k)
            yield labels

    atomic_write(paths["labels"], lambda p: _write_tiled(
        p, _tiles(label_strips()), info.shape, dtype, 1, info.georef, masked_label(dtype)))
    timings["labels"] = time.perf_counter() - start - sum(timings.values())
    palette = _palette(model, dtype, info.dtype)

    painted = (palette[labels.pixels] for _, labels in raster_strips(paths["labels"], rows=rows))
    atomic_write(paths["segmented"], lambda p: _write_tiled(
        p, _tiles(painted), info.shape, info.dtype, palette.shape[1], info.georef, None))
    timings["segmented"] = time.perf_counter() - start - sum(timings.values())
    return _finish(ChunkedResult(info, model, sizes, n_strips, paths, timings))


def _finish(result: ChunkedResult) -> ChunkedResult:
    atomic_write(result.files["json"], lambda p: p.write_text(
        json.dumps(_report(result), indent=2, default=str) + "\n"))
    return result


def _segment_to_zarr(
    info: RasterInfo, paths: dict[str, Path], model: KMeansSegmenter,
    bands: Sequence[int] | None, refit: bool, strip_pixels: int, scheduler: str | None,
    workers: int | None, progress: bool, start: float,
) -> ChunkedResult:
    """The strips as tasks on a pool of processes or a Dask cluster; zarr outputs."""
    try:
        import zarr
    except ImportError:
        raise ParameterError("zarr outputs need the 'dask' extra: pip install distributed zarr "
                             "(or pip install '.[dask]' in the kmseg folder)") from None
    from ._tasks import executor, run_all

    # Strips of whole output chunks: no two workers write to one chunk.
    rows = max(1, strip_pixels // info.shape[1] // _TILE) * _TILE
    tops = range(0, info.shape[0], rows)
    source, timings = info.source, {}
    with executor(scheduler, workers) as pool:
        timings["start-up"] = time.perf_counter() - start

        def run(task, items: list, what: str) -> Iterator:
            for _, result, error in run_all(task, items, pool, name=_strip_name, what=what,
                                            unit="strip", progress=progress):
                if error is not None:
                    raise ImageReadError(error)
                yield result

        if refit:
            pooled = None
            for values, counts in run(_strip_histogram,
                                      [(source, top, rows, bands, model) for top in tops],
                                      "histograms"):
                pooled = pool_histograms(pooled, values, counts)
            # The raster's dtype: a histogram of many 16-bit or float values holds float bins.
            channels = pooled[0].shape[1]
            like_shape = (1, 1) if channels == 1 else (1, 1, channels)
            like = LoadedImage(np.zeros(like_shape, dtype=info.dtype), None, None, source, "")
            timings["histogram"] = time.perf_counter() - start - sum(timings.values())
            _fit_palette(model, pooled, like, str(source))
            timings["cluster"] = time.perf_counter() - start - sum(timings.values())
        dtype = label_dtype(model.k)
        palette = _palette(model, dtype, info.dtype)
        attributes = {"nodata": masked_label(dtype)} | (
            {} if info.georef is None else {"geotiff_tags": [list(tag) for tag in
                                                             info.georef.tags]})

        def write(labels_path: Path, painted_path: Path) -> np.ndarray:
            chunks = (_TILE, _TILE)
            zarr.create_array(labels_path, shape=info.shape, chunks=chunks, dtype=dtype,
                              fill_value=masked_label(dtype), attributes=attributes)
            # One channel: (rows, columns), as the BigTIFF path writes it.
            channels = () if palette.shape[1] == 1 else (palette.shape[1],)
            zarr.create_array(painted_path, shape=(*info.shape, *channels),
                              chunks=(*chunks, *channels), dtype=info.dtype, fill_value=0,
                              attributes=attributes)
            items = [(source, top, rows, bands, model, str(labels_path), str(painted_path),
                      palette) for top in tops]
            return sum(run(_label_strip, items, "strips"), np.zeros(model.k, dtype=np.int64))

        sizes = atomic_directory(paths["labels"], lambda labels: atomic_directory(
            paths["segmented"], lambda painted: write(labels, painted)))
        timings["labels"] = time.perf_counter() - start - sum(timings.values())
    return _finish(ChunkedResult(info, model, sizes, len(tops), paths, timings))


def _strip_name(args: tuple) -> str:
    """Which rows of which raster a strip task is about."""
    source, top, rows = args[:3]
    return f"{source}, rows {top}-{top + rows - 1}"


def _strip_histogram(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Task: the colour histogram of one strip."""
    source, top, rows, bands, model = args
    return model.image_histogram(raster_rows(source, top=top, rows=rows, bands=bands))


def _label_strip(args: tuple) -> np.ndarray:
    """Task: label and paint one strip into the zarr arrays; the pixels per cluster."""
    import zarr

    source, top, rows, bands, model, labels_path, painted_path, palette = args
    labels = model.predict(raster_rows(source, top=top, rows=rows, bands=bands))
    zarr.open_array(labels_path, mode="r+")[top:top + len(labels)] = labels
    painted = zarr.open_array(painted_path, mode="r+")
    painted[top:top + len(labels)] = palette[labels].reshape(len(labels), *painted.shape[1:])
    valid = labels[labels != masked_label(labels.dtype)]
    return np.bincount(valid, minlength=model.k)


def _palette(model: KMeansSegmenter, labels: np.dtype, pixels: np.dtype) -> np.ndarray:
    """Colour of each label value, in the raster's dtype; masked pixels (the largest label)
    paint 0."""
    palette = np.zeros((masked_label(labels) + 1, model.centers_.shape[1]), dtype=pixels)
    palette[:model.k] = cast_like(model.centers_, pixels)
    return palette


def _tiles(strips: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Strips of any heights, top to bottom, cut into output tiles row by row; the rows below
    the last whole tile row wait for the next strip, and edge tiles are padded."""
    carry = None
    for strip in strips:
        rows = strip if carry is None else np.concatenate([carry, strip])
        whole = len(rows) // _TILE * _TILE
        yield from _tile_row_major(rows[:whole])
        carry = rows[whole:]
    if carry is not None and len(carry):
        yield from _tile_row_major(carry)


def _tile_row_major(rows: np.ndarray) -> Iterator[np.ndarray]:
    for top in range(0, rows.shape[0], _TILE):
        for left in range(0, rows.shape[1], _TILE):
            tile = rows[top:top + _TILE, left:left + _TILE]
            if tile.shape[:2] != (_TILE, _TILE):
                padded = np.zeros((_TILE, _TILE, *rows.shape[2:]), dtype=rows.dtype)
                padded[:tile.shape[0], :tile.shape[1]] = tile
                tile = padded
            yield tile


def _write_tiled(
    path: Path, tiles: Iterator[np.ndarray], shape: tuple[int, int], dtype: np.dtype,
    channels: int, georef: GeoReference | None, nodata: float | None,
) -> None:
    import tifffile

    extratags = (georef or GeoReference((), None)).extratags(nodata)
    with tifffile.TiffWriter(path, bigtiff=True) as writer:
        writer.write(tiles, shape=(*shape, channels) if channels > 1 else shape, dtype=dtype,
                     tile=(_TILE, _TILE), photometric="rgb" if channels == 3 else "minisblack",
                     planarconfig="contig" if channels > 1 else None,
                     compression=_COMPRESSION[0], compressionargs=_COMPRESSION[1],
                     extratags=extratags)


def _report(result: ChunkedResult) -> dict:
    from ._version import __version__

    model = result.model
    return {
        "kmseg_version": __version__,
        "source": result.info.source,
        "input": {"shape": [*result.info.shape, result.info.bands],
                  "dtype": str(result.info.dtype), "description": result.info.description},
        "chunked": {"strips": result.n_strips},
        "k": model.k,
        "space": model.space_,
        "params": model._fitted_params() | {"init": str(model.init)},
        "centers": model.centers_.tolist(),
        "feature_centers": model.cluster_centers_.tolist(),
        "sizes": result.sizes.tolist(),
        "compactness": model.inertia_,
        "n_iter": model.n_iter_,
        "converged": model.converged_,
        "masked_label": masked_label(label_dtype(model.k)),
        "timings_s": result.timings,
        "files": {role: path.name for role, path in result.files.items()},
    }


def _fit_palette(model: KMeansSegmenter, pooled: tuple[np.ndarray, np.ndarray],
                 like: LoadedImage, source: str) -> None:
    """Fit the palette on the raster's summed histogram; errors name the raster."""
    try:
        model.fit_histogram(*pooled, like=like)
    except KmsegError as error:
        raise type(error)(with_source(str(error), source)) from None
