"""A TIFF raster read in strips, for the chunked path (rasters larger than memory): what
:func:`raster_strips` will read (:func:`raster_info`, from the tags alone), the strips top to
bottom, and any rows by random access (:func:`raster_rows`, for separate workers).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .._errors import ImageReadError, with_source
from ._common import (
    _TIFF_GEOKEYS,
    GeoReference,
    LoadedImage,
    _check_bands,
    _check_path,
    _check_pixels,
    _check_size,
    _open_file,
    _read_errors,
    _select_bands,
    _squeeze,
)
from ._tiff import (
    _QUIET_TIFFFILE,
    _TIFF_MAGIC,
    _check_tiff_tags,
    _gdal_nodata,
    _georeference,
    _nodata_hits,
    _tiff_failures,
    _tifffile_reads,
)

# Bytes of segments raster_strips reads (and decodes) at a time.
_STRIP_READ_BYTES = 1 << 24


@dataclass(frozen=True)
class RasterInfo:
    """What :func:`raster_strips` will read from a TIFF, known without reading any pixel."""

    source: str
    shape: tuple[int, int]  # rows, columns
    dtype: np.dtype
    bands: int
    georef: GeoReference | None
    description: str

    @property
    def pixels(self) -> int:
        return self.shape[0] * self.shape[1]


def raster_info(
    path: str | os.PathLike[str], *, max_pixels: int | None = None
) -> RasterInfo | None:
    """The first page of a TIFF that :func:`raster_strips` can stream, or None when ``path`` is
    not a TIFF (other formats are read whole).

    Only the TIFF's header and tags are read, no pixel.

    Parameters
    ----------
    path : str or os.PathLike
        The file; whether it is a TIFF is told by its first bytes, not its name.
    max_pixels : int or None, default None
        Decompression-bomb limit: a TIFF whose first page claims more pixels is refused. None:
        no limit.

    Returns
    -------
    RasterInfo or None
        The page's ``source`` (``path`` as a str), ``shape`` (rows, columns), sample
        ``dtype``, ``bands`` (samples per pixel), ``georef`` (a GeoTIFF's tags and nodata, or
        None) and ``description``; None when ``path`` is not a TIFF.

    Raises
    ------
    ParameterError
        ``path`` is not a str or os.PathLike.
    ImageReadError
        ``path`` cannot be opened (missing, a folder, an empty file). The TIFF cannot be
        streamed: unreadable, not gray/RGB/multi-band samples of 8 bits or more, bands stored
        apart (planar), alpha, or a rotated (Orientation) page; or it claims more than
        ``max_pixels`` pixels (None: no limit), the decompression-bomb limit that
        :func:`load_image` applies to whole images.
    """
    source = _check_path(path)
    with _open_file(source) as fh, _read_errors(source), _QUIET_TIFFFILE.held():
        if not fh.read(4).startswith(_TIFF_MAGIC):
            return None
        import tifffile

        fh.seek(0)
        with _tiff_failures(fh, source), tifffile.TiffFile(fh) as tif:
            page = _check_streamable(tif, source)
            _check_size(page.imagewidth, page.imagelength, source, max_pixels)
            geotiff = _TIFF_GEOKEYS in page.tags
            return RasterInfo(source, (page.imagelength, page.imagewidth), page.dtype,
                              page.samplesperpixel, _georeference(page) if geotiff else None,
                              f"TIFF {page.samplesperpixel}-band {page.dtype}"
                              + (" (GeoTIFF)" if geotiff else ""))


def raster_strips(
    path: str | os.PathLike[str], *, rows: int, bands: Sequence[int] | None = None
) -> Iterator[tuple[int, LoadedImage]]:
    """A TIFF's first page as horizontal strips, top to bottom: ``(first row, strip)``.

    A strip holds about ``rows`` full rows (whole tiles or TIFF strips); only the segments of one
    strip are decoded at a time (by :meth:`tifffile.TiffPage.segments`, on threads), so memory
    follows the strip, not the image. Each strip is a :class:`LoadedImage` whose mask leaves out
    GDAL nodata, with ``bands`` chosen as :func:`load_image` does.

    Parameters
    ----------
    path : str or os.PathLike
        A TIFF that :func:`raster_info` accepts.
    rows : int
        About how many rows a strip holds: rounded down to whole segments (tiles or TIFF
        strips), and at least one segment's rows. The last strip holds the rows left.
    bands : sequence of int, optional
        Band numbers to keep, from 1, in this order (default: every band).

    Yields
    ------
    top : int
        The strip's first row in the raster.
    strip : LoadedImage
        Its ``(h, W)`` or ``(h, W, C)`` pixels in the file's dtype (``h`` rows, ``C`` the
        bands kept), and a mask that is False on GDAL nodata (None when no pixel of the strip
        is nodata).

    Raises
    ------
    ImageReadError
        The file cannot be read, or is not a TIFF that :func:`raster_info` accepts.
    ParameterError
        ``path`` is not a str or os.PathLike, ``bands`` is not a sequence of band numbers
        from 1, or it asks for a band past the raster's last.
    """
    bands = _check_bands(bands)
    with _streamable_page(path) as (source, page):
        height, width = page.imagelength, page.imagewidth
        segment_rows = page.chunks[0]
        rows = max(segment_rows, rows // segment_rows * segment_rows)
        nodata = _gdal_nodata(page)
        shape = (rows, width, page.samplesperpixel)
        buffer, top = np.zeros(shape, dtype=page.dtype), 0
        # Decoded a few segments at a time (tifffile reads 256 MB ahead by default).
        for data, (_, _, y, x, _), _ in page.segments(buffersize=_STRIP_READ_BYTES):
            if y >= top + rows:  # the segment starts the next strip
                yield top, _strip(buffer, source, nodata, bands)
                buffer, top = np.zeros(shape, dtype=page.dtype), top + rows
            if data is None:  # a sparse file's missing segment stays 0
                continue
            h = min(data.shape[1], height - y)
            w = min(data.shape[2], width - x)
            buffer[y - top:y - top + h, x:x + w] = data[0, :h, :w]
        yield top, _strip(buffer[:height - top], source, nodata, bands)


def raster_rows(
    path: str | os.PathLike[str], *, top: int, rows: int, bands: Sequence[int] | None = None
) -> LoadedImage:
    """Rows ``top:top + rows`` of a TIFF's first page, as :func:`raster_strips` gives them.

    Random access, for strips read by separate workers: only the segments (tiles or TIFF
    strips) of those rows are read and decoded, through tifffile's zarr store (needs zarr).

    Parameters
    ----------
    path : str or os.PathLike
        A TIFF that :func:`raster_info` accepts.
    top : int
        First row, from 0.
    rows : int
        How many rows; fewer are returned when the raster ends before ``top + rows``.
    bands : sequence of int, optional
        Band numbers to keep, from 1, in this order (default: every band).

    Returns
    -------
    LoadedImage
        The ``(h, W)`` or ``(h, W, C)`` pixels in the file's dtype (``h`` rows, ``C`` the
        bands kept), and a mask that is False on GDAL nodata (None when no pixel of these rows
        is nodata).

    Raises
    ------
    ImageReadError
        The file cannot be read, or is not a TIFF that :func:`raster_info` accepts.
    ParameterError
        ``path`` is not a str or os.PathLike, ``bands`` is not a sequence of band numbers
        from 1, or it asks for a band past the raster's last.
    """
    import zarr

    bands = _check_bands(bands)
    with _streamable_page(path) as (source, page), page.aszarr() as store:
        data = zarr.open_array(store, mode="r")[top:top + rows]
        data = data.reshape(data.shape[0], data.shape[1], page.samplesperpixel)
        return _strip(data, source, _gdal_nodata(page), bands)


@contextlib.contextmanager
def _streamable_page(path: str | os.PathLike[str]) -> Iterator[tuple[str, object]]:
    """The file's name and its TIFF's first page, open, once checked to be readable in strips
    (read errors inside the block are reported as such)."""
    import tifffile

    source = _check_path(path)
    with _open_file(source) as fh, _read_errors(source), contextlib.ExitStack() as stack:
        fh.seek(0)
        # Not around the caller's block, which runs at the yield.
        with _QUIET_TIFFFILE.held(), _tiff_failures(fh, source):
            tif = stack.enter_context(tifffile.TiffFile(fh))
            page = _check_streamable(tif, source)
        yield source, page


def _check_streamable(tif: object, source: str) -> object:
    if not tif.pages:
        raise ImageReadError(with_source("truncated or corrupt image data: no image", source))
    page = tif.pages[0]
    _check_tiff_tags(page, source, 0, 1)
    if (not _tifffile_reads(page) or page.planarconfig != 1 or page.tags.valueof(274, 1) != 1
            or page.dtype not in (np.uint8, np.uint16, np.float32, np.float64)):
        raise ImageReadError(with_source(
            "this TIFF cannot be read in strips (needs gray, RGB or multi-band uint8, uint16 or "
            "float samples, stored interleaved and upright)", source))
    if _TIFF_GEOKEYS not in page.tags and any(kind in (1, 2) for kind in page.extrasamples):
        raise ImageReadError(with_source("a TIFF with alpha cannot be read in strips", source))
    return page


def _strip(
    data: np.ndarray, source: str, nodata: float | None, bands: tuple[int, ...] | None
) -> LoadedImage:
    nodata_hits = _nodata_hits(data, nodata)
    pixels = _squeeze(data)
    if bands is not None:
        pixels = _select_bands(pixels, bands, source)
    mask = None if nodata_hits is None else np.ascontiguousarray(~nodata_hits)
    _check_pixels(pixels, source)
    return LoadedImage(np.require(pixels, requirements=("C", "W")), None, mask, source,
                       "TIFF strip")
