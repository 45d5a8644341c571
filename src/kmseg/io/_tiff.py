"""TIFF and rasters through tifffile: 16-bit and float samples, any number of bands, GeoTIFF
tags and GDAL nodata; layout tags checked before decoding (a raster read in strips for the
chunked path is :mod:`._raster`'s).
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import struct
import threading
from collections.abc import Iterator
from typing import IO

import numpy as np

from .._errors import ImageReadError, with_source
from ._common import (
    _DECODE_ERRORS,
    _TIFF_GDAL_NODATA,
    _TIFF_GEOKEYS,
    MAX_BANDS,
    GeoReference,
    _bands,
    _check_frame_range,
    _check_size,
    _Decoded,
    _reason,
    _squeeze,
    _supported_dtype,
    _too_large,
)

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


# TIFF: photometric interpretations and sample sizes tifffile gives as image data; other files
# (palette, CMYK, YCbCr, CIELab, bilevel or 2- and 4-bit, ...) are read by Pillow.
_TIFF_MINISWHITE, _TIFF_MINISBLACK, _TIFF_RGB = 0, 1, 2


# ModelPixelScale, ModelTiepoint, ModelTransformation, GeoKeyDirectory, GeoDoubleParams,
# GeoAsciiParams: the CRS and the pixel-to-map transform.
_TIFF_GEOTAGS = (33550, 33922, 34264, 34735, 34736, 34737)


# TIFF tags that lay out the pixel data: those that must hold one whole number (when present),
# and those with one number per sample, which must all be equal (neither tifffile nor Pillow
# reads samples of different sizes or types).
_TIFF_ONE_VALUE = {
    256: "ImageWidth",
    257: "ImageLength",
    259: "Compression",
    262: "PhotometricInterpretation",
    277: "SamplesPerPixel",
    278: "RowsPerStrip",
    284: "PlanarConfiguration",
    317: "Predictor",
    322: "TileWidth",
    323: "TileLength",
    32997: "ImageDepth",
}


# (name, largest sound value): sample sizes up to 64 bits; SampleFormat 1 (uint) to 6.
_TIFF_PER_SAMPLE = {258: ("BitsPerSample", 64), 339: ("SampleFormat", 6)}


# struct codes of the TIFF field types (rationals as two numbers each; ASCII and UNDEFINED as
# bytes), and how many IFDs (and tags in one) a diagnosis reads at most.
_TIFF_TYPES = {1: "B", 2: "s", 3: "H", 4: "I", 5: "II", 6: "b", 7: "s", 8: "h", 9: "i",
               10: "ii", 11: "f", 12: "d", 13: "I", 16: "Q", 17: "q", 18: "Q"}


_IFD_SCAN_LIMIT = 4096


class _QuietTifffile(logging.Filter):
    """Holds back tifffile's log records in a thread while it reads a file for kmseg.

    tifffile logs a line for every malformed tag or offset it skips (hundreds in a fuzzed file);
    kmseg reports what stops a read as one :class:`~kmseg._errors.ImageReadError` instead. Other
    threads, and this one outside kmseg's reads, log as before.
    """

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self._local, "depth", 0)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1


_QUIET_TIFFFILE = _QuietTifffile()


logging.getLogger("tifffile").addFilter(_QUIET_TIFFFILE)


def _check_values(page: object, source: str, max_pixels: int | None) -> None:
    """The bomb limit counts pixels of up to 4 samples (RGBA): a page of many bands or a
    volume (ImageDepth) may decode to at most 4 * max_pixels values."""
    values = page.imagewidth * page.imagelength * page.samplesperpixel * max(page.imagedepth, 1)
    if max_pixels is not None and values > 4 * max_pixels:
        what = (f"{page.imagewidth}x{page.imagelength} pixels x {page.samplesperpixel} samples"
                f"{f' x {page.imagedepth} planes' if page.imagedepth > 1 else ''} = "
                f"{values:,} values")
        raise _too_large(source, what, 4 * max_pixels, "values (4 per pixel)")


def _read_tiff(fh: IO[bytes], source: str, frame: int, max_pixels: int | None) -> _Decoded | None:
    """A TIFF page by tifffile; None when the page is for Pillow (palette, CMYK, YCbCr, ...)."""
    import tifffile

    fh.seek(0)
    with _tiff_failures(fh, source), tifffile.TiffFile(fh) as tif:
        n_pages = len(tif.pages)
        if not n_pages:
            msg = "truncated or corrupt image data: no image in the TIFF file"
            raise ImageReadError(with_source(msg, source))
        _check_frame_range(frame, n_pages, source)
        page = tif.pages[frame]
        _check_tiff_tags(page, source, frame, n_pages)
        if not _tifffile_reads(page):
            # Pillow reads the page, after going through every page to count them.
            for index in range(n_pages):
                _check_tiff_tags(tif.pages[index], source, index, n_pages)
            return None
        _check_size(page.imagewidth, page.imagelength, source, max_pixels)
        _check_values(page, source, max_pixels)
        geotiff = _TIFF_GEOKEYS in tif.pages[0].tags
        data = _channels_last(page.asarray(), page.axes, source)
        nodata = _nodata_hits(data, _gdal_nodata(page))
        data = _supported_dtype(data, source)
        pixels, alpha = _tiff_alpha(data, page, geotiff)
        orientation = page.tags.valueof(274, 1)
        # The transform maps stored rows and columns: only an upright page keeps it.
        georef = _georeference(page) if geotiff and orientation in (None, 1) else None
    description = f"TIFF {_bands(pixels)}-band {pixels.dtype}"
    description += " + alpha" if alpha is not None else ""
    description += " (GeoTIFF)" if geotiff else ""
    if n_pages > 1:
        description += f" page {frame} of {n_pages}"
    return _Decoded(pixels, alpha, nodata, description, orientation, georef)


def _georeference(page: object) -> GeoReference | None:
    """The GeoTIFF tags of a page (CRS and transform) and its nodata; None without GeoKeys."""
    tags = tuple((tag.code, int(tag.dtype), tag.count, tag.value)
                 for tag in page.tags.values() if tag.code in _TIFF_GEOTAGS)
    if not any(code == _TIFF_GEOKEYS for code, *_ in tags):
        return None
    return GeoReference(tags, _gdal_nodata(page))


def _tifffile_reads(page: object) -> bool:
    """Whether tifffile gives this page as image data (gray or RGB, 8 bits a sample or more)."""
    bits = page.bitspersample  # a tuple when the samples differ in size
    return (
        page.photometric in (_TIFF_MINISWHITE, _TIFF_MINISBLACK, _TIFF_RGB)
        and isinstance(bits, numbers.Integral)
        and bits >= 8
        and page.imagedepth == 1
    )


@contextlib.contextmanager
def _tiff_failures(fh: IO[bytes], source: str) -> Iterator[None]:
    """What tifffile fails on, in plain words when the IFDs (read here directly) show a layout
    tag tifffile did not expect (several values, none, 0 samples); else its TypeError as a
    corrupt TIFF, and its other errors as they are (for :func:`_read_errors`)."""
    try:
        yield
    except (TypeError, *_DECODE_ERRORS) as exc:
        if isinstance(exc, ImageReadError):
            raise
        try:
            problem = _ifd_layout_problem(fh)
        except (OSError, ValueError, OverflowError, struct.error):
            problem = None
        if problem is None and not isinstance(exc, TypeError):
            raise
        msg = problem or f"corrupt TIFF: {_reason(exc)}"
        raise ImageReadError(with_source(msg, source)) from exc


def _check_tiff_tags(page: object, source: str, index: int, n_pages: int) -> None:
    """Raise ImageReadError when a tag that lays out the pixels of a TIFF page is missing (the
    image size) or malformed: several values where there is one, or samples that differ."""
    tags = page.tags
    codes = (*_TIFF_ONE_VALUE, *_TIFF_PER_SAMPLE)
    problem = _layout_problem({code: tags.get(code).value for code in codes if code in tags})
    if problem:
        where = f" (page {index} of {n_pages})" if n_pages > 1 else ""
        raise ImageReadError(with_source(problem + where, source))


def _layout_problem(values: dict[int, object]) -> str | None:
    """What is wrong, in plain words, with the layout tags of one TIFF page (``values``: tag
    code -> value, as tifffile gives it, for the tags present); None when nothing is."""
    missing = [_TIFF_ONE_VALUE[code] for code in (256, 257) if code not in values]
    if missing:
        return f"TIFF without image dimensions: no {' or '.join(missing)} tag"
    for code, name in _TIFF_ONE_VALUE.items():
        problem = _value_problem(values.get(code), one=True)
        if problem:
            return f"corrupt TIFF: the {name} tag {problem}"
    if values.get(277) == 0:
        return "corrupt TIFF: the SamplesPerPixel tag holds 0 (an image without any band)"
    if values.get(277, 1) > MAX_BANDS:
        return (f"unsupported TIFF: {values[277]:,} samples per pixel (kmseg reads at most "
                f"{MAX_BANDS:,} bands; hyperspectral scenes have a few hundred)")
    for code in (278, 322, 323):  # strips or tiles of no rows or columns (in a real image)
        if values.get(code) == 0 and values[256] and values[257]:
            return f"corrupt TIFF: the {_TIFF_ONE_VALUE[code]} tag holds 0"
    tile = values.get(322, 0) * values.get(323, 0)
    if tile > 16 * max(values[256] * values[257], 1 << 16):  # tiles pad an image, not more
        return (f"corrupt TIFF: tiles of {values[322]}x{values[323]} for an image of "
                f"{values[256]}x{values[257]}")
    for code, (name, largest) in _TIFF_PER_SAMPLE.items():
        value = values.get(code)
        problem = _value_problem(value, one=False)
        if problem:
            sound = isinstance(value, tuple) and all(
                isinstance(v, numbers.Integral) and 1 <= v <= largest for v in value)
            kind = "unsupported TIFF (samples of different kinds)" if sound else "corrupt TIFF"
            return f"{kind}: the {name} tag {problem}"
    return None


def _value_problem(value: object, *, one: bool) -> str | None:
    """What is wrong with a tag's value: it must hold whole numbers, one of them (``one``) or
    all equal (one per sample). None when it does, or the tag is absent (``value`` None)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        return f"holds {value[:20]!r}, not a number" if value else "holds no value"
    values = value if isinstance(value, tuple) else (value,)
    if not values:
        return "holds no value"
    whole = all(isinstance(v, numbers.Integral) for v in values)
    shown = ", ".join(str(int(v)) if whole else repr(v) for v in values[:6])
    shown = f"({shown}{', ...' if len(values) > 6 else ''})"
    if not whole:
        return f"holds {shown}, not whole numbers"
    if len(values) > 1 and (one or len(set(values)) > 1):
        return f"holds several values {shown}"
    return None


def _ifd_layout_problem(fh: IO[bytes]) -> str | None:
    """The first layout problem (:func:`_layout_problem`) in a TIFF's chain of IFDs, read from
    the file itself, for files tifffile fails on before kmseg sees their tags; None if none."""
    fh.seek(0)
    head = fh.read(16)
    order = "<" if head[:2] == b"II" else ">"
    big = head[2:4] in (b"+\x00", b"\x00+")
    word, size = ("Q", 8) if big else ("I", 4)  # offsets and counts; a value fits in `size`
    (offset,) = struct.unpack(order + word, head[8:16] if big else head[4:8])
    seen: set[int] = set()
    index = 0
    while offset and offset not in seen and index < _IFD_SCAN_LIMIT:
        seen.add(offset)
        fh.seek(offset)
        (n_tags,) = struct.unpack(order + ("Q" if big else "H"), fh.read(8 if big else 2))
        if n_tags > _IFD_SCAN_LIMIT:  # not an IFD (tifffile refuses as many tags)
            return None
        entry = 4 + 2 * size
        block = fh.read(n_tags * entry)
        next_at = fh.tell()
        if len(block) < n_tags * entry:
            return None
        entries = {}
        for start in range(0, len(block), entry):
            code, kind, count = struct.unpack_from(order + "HH" + word, block, start)
            entries.setdefault(code, (kind, count, block[start + 4 + size:start + entry]))
        codes = (*_TIFF_ONE_VALUE, *_TIFF_PER_SAMPLE)
        values = {code: _ifd_value(fh, order, size, *entries[code])
                  for code in codes if code in entries}
        problem = _layout_problem({code: v for code, v in values.items() if v is not None})
        if problem:
            return f"{problem} (page {index})" if index else problem
        fh.seek(next_at)
        next_offset = fh.read(size)
        if len(next_offset) < size:
            return None
        (offset,) = struct.unpack(order + word, next_offset)
        index += 1
    return None


def _ifd_value(
    fh: IO[bytes], order: str, size: int, kind: int, count: int, field: bytes
) -> object:
    """An IFD entry's value much as tifffile gives it: a number, a tuple (of up to 7 values:
    enough to show), bytes (text); None for a type tifffile skips."""
    code = _TIFF_TYPES.get(kind)
    if code is None:  # tifffile skips such an entry too
        return None
    count = min(count, 20 if code == "s" else 7)  # enough to show (and compare)
    nbytes = count * struct.calcsize(order + code)
    if nbytes > size:
        fh.seek(struct.unpack(order + ("Q" if size == 8 else "I"), field)[0])
        field = fh.read(nbytes)
    if len(field) < nbytes:  # the value lies past the end of the file: tifffile skips it
        return None
    if code == "s":
        return field[:nbytes].rstrip(b"\x00")
    values = struct.unpack(order + code * count, field[:nbytes])
    if kind in (5, 10):  # rationals: numerator, denominator pairs
        pairs = zip(values[::2], values[1::2], strict=True)
        values = tuple(n / d if d else float("nan") for n, d in pairs)
    return values[0] if len(values) == 1 else values


def _channels_last(data: np.ndarray, axes: str, source: str) -> np.ndarray:
    if axes in ("YX", "YXS"):
        return data
    if axes == "SYX":  # planar configuration SEPARATE
        return np.moveaxis(data, 0, -1)
    raise ImageReadError(with_source(f"unsupported TIFF layout (axes {axes!r})", source))


def _gdal_nodata(page: object) -> float | None:
    """The GDAL_NODATA tag (an ASCII number) as a float, or None."""
    text = page.tags.valueof(_TIFF_GDAL_NODATA)
    try:
        return float(str(text).strip("\x00 "))
    except ValueError:
        return None


def _nodata_hits(data: np.ndarray, nodata: float | None) -> np.ndarray | None:
    """(M, N) bool: True where every band equals ``nodata``; None when no pixel does."""
    if nodata is None:
        return None
    if np.isnan(nodata):
        if data.dtype.kind != "f":
            return None
        hits = np.isnan(data)
    else:
        hits = data == nodata
    if hits.ndim == 3:
        hits = hits.all(axis=-1)
    return hits if hits.any() else None


def _tiff_alpha(
    data: np.ndarray, page: object, geotiff: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Split the alpha sample (ExtraSamples 1 or 2, never in a GeoTIFF) from the colour bands."""
    n_colour = 3 if page.photometric == _TIFF_RGB else 1
    extras = () if geotiff else tuple(page.extrasamples)
    index = next((n_colour + i for i, kind in enumerate(extras) if kind in (1, 2)), None)
    if data.ndim == 2 or index is None or index >= data.shape[-1]:
        alpha = None
        pixels = _squeeze(data)
    else:
        alpha = data[..., index]
        pixels = _squeeze(np.delete(data, index, axis=-1))
    if page.photometric == _TIFF_MINISWHITE and pixels.dtype.kind == "u":
        pixels = np.iinfo(pixels.dtype).max - pixels  # 0 is white: store gray upright
    if alpha is not None and extras[index - n_colour] == 1:
        pixels = _unpremultiply(pixels, alpha)
    return pixels, alpha


def _unpremultiply(pixels: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Undo associated (premultiplied) alpha: colour * full scale / alpha where alpha > 0."""
    full = float(np.iinfo(pixels.dtype).max) if pixels.dtype.kind == "u" else 1.0
    weight = alpha.astype(np.float64)
    if pixels.ndim == 3:
        weight = weight[..., np.newaxis]
    with np.errstate(divide="ignore", invalid="ignore"):
        colour = np.where(weight > 0, pixels * (full / weight), pixels)
    if pixels.dtype.kind == "u":
        colour = np.clip(np.rint(colour), 0, full)
    return colour.astype(pixels.dtype)
