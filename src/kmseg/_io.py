"""Stage 1 — input: read an image file into pixels, alpha and a mask of the pixels to cluster.

One entry point, :func:`load_image`, returns a :class:`LoadedImage`; :func:`read_image` is a thin
wrapper that returns one array, as :func:`skimage.io.imread` does. Every file is read with

* :mod:`tifffile` when it is a TIFF (keeps 16-bit and float samples and every band; a GeoTIFF's
  extra bands stay data, and its GDAL nodata value masks pixels out); palette, CMYK, YCbCr and
  other photometric interpretations tifffile leaves raw go to Pillow instead;
* :func:`imagecodecs.png_decode` when it is a 16-bit PNG (Pillow truncates those to 8 bits);
* Pillow otherwise (JPEG, PNG, WebP, BMP, GIF, ICO and everything else it opens), converting
  palette, bilevel, CMYK (through its embedded ICC profile when there is one), YCbCr, LAB and HSV
  images to gray or RGB.

The EXIF orientation is applied to every format (exactly as :func:`PIL.ImageOps.exif_transpose`
does), the alpha channel is split from the colour channels, and every failure is an
:class:`~kmseg._errors.ImageReadError` whose one-line message names the file.

Decompression bombs: an image of more than ``max_pixels`` pixels is rejected before it is
decoded (default :data:`DEFAULT_MAX_PIXELS`, Pillow's own error threshold). Pillow's limit stays
on; when the caller allows more, ``PIL.Image.MAX_IMAGE_PIXELS`` is raised for the duration of
the read only, under a lock, and restored afterwards.
"""

from __future__ import annotations

import contextlib
import io
import logging
import numbers
import os
import re
import stat
import struct
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import _codecs
from ._decoder_output import HeldOutput, held_stderr
from ._errors import ImageReadError, ImageTooLargeError, ParameterError, with_source

__all__ = ["DEFAULT_MAX_PIXELS", "LoadedImage", "load_image", "read_image"]

#: Largest image (width * height) read by default: ``2 * PIL.Image.MAX_IMAGE_PIXELS`` as Pillow
#: ships it (178,956,970), the size at which Pillow itself raises ``DecompressionBombError``.
DEFAULT_MAX_PIXELS: int = 2 * (1024 * 1024 * 1024 // 4 // 3)
#: Most bands (samples per pixel) read from a TIFF: hyperspectral sensors have 200-450.
MAX_BANDS = 1024

_SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_HEADER_BYTES = 1 << 20  # where an AVIF's ispe boxes are looked for
# Pillow formats whose Image.open reads the header only (the others may decode a frame).
_LAZY_OPENING = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "PSD")
_PNG_COLOUR_TYPES = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}  # the ones a 16-bit PNG can have
_BOMB_HINT = "pass max_pixels=None (CLI: --max-pixels 0) to lift it"
# What Pillow, tifffile and imagecodecs raise on truncated or corrupt data (imagecodecs' codec
# errors are RuntimeErrors; tifffile's TiffFileError is a ValueError).
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    RuntimeError,
)

# Pillow modes read as they are; and those converted first (target mode).
_PILLOW_NATIVE = frozenset({"L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
_PILLOW_CONVERT = {
    "1": "L",
    "La": "LA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "PA": "RGBA",
    "P": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}

# EXIF orientation -> (transpose, flip rows, flip columns), applied in that order; the same
# transforms as PIL.ImageOps.exif_transpose (5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90).
_ORIENTATIONS = {
    2: (False, False, True),
    3: (False, True, True),
    4: (False, True, False),
    5: (True, False, False),
    6: (True, False, True),
    7: (True, True, True),
    8: (True, True, False),
}

# TIFF: photometric interpretations and sample sizes tifffile gives as image data; other files
# (palette, CMYK, YCbCr, CIELab, bilevel or 2- and 4-bit, ...) are read by Pillow.
_TIFF_MINISWHITE, _TIFF_MINISBLACK, _TIFF_RGB = 0, 1, 2
_TIFF_GEOKEYS, _TIFF_GDAL_NODATA = 34735, 42113
# ModelPixelScale, ModelTiepoint, ModelTransformation, GeoKeyDirectory, GeoDoubleParams,
# GeoAsciiParams: the CRS and the pixel-to-map transform.
_TIFF_GEOTAGS = (33550, 33922, 34264, 34735, 34736, 34737)
# Bytes of segments raster_strips reads (and decodes) at a time.
_STRIP_READ_BYTES = 1 << 24
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

_PILLOW_LIMIT_LOCK = threading.RLock()


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


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An image file read by :func:`load_image`.

    Attributes
    ----------
    pixels : (M, N) or (M, N, C) ndarray
        The colour or band channels (no alpha), upright (EXIF orientation applied), in the file's
        own dtype: uint8, uint16, float32 or float64. C-contiguous and writeable.
    alpha : (M, N) ndarray or None
        The file's alpha channel, in the dtype of ``pixels``; None when the file has no
        transparency.
    mask : (M, N) bool ndarray or None
        True where the pixel takes part in clustering: alpha not 0 and, in a TIFF with a
        GDAL_NODATA tag, not the nodata value in every band. None when every pixel takes part.
    source : str
        The path as given.
    description : str
        Short human text for reports, e.g. ``"JPEG RGB 8-bit"`` or ``"TIFF 4-band uint8"``.
    georef : GeoReference or None
        A GeoTIFF's georeferencing (CRS, transform) and nodata, which outputs keep; None for
        other files.
    pixel_list : bool
        True for an ``(N, C)`` array of pixels given as such (held as an ``(N, 1, C)`` image):
        results come back as ``(N,)`` labels.
    decoder_messages : tuple of str
        What the file's decoders printed while reading it (e.g. libtiff's "Using code not yet
        in table" about a damaged LZW strip): kept here and in reports, never shown.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    mask: np.ndarray | None
    source: str
    description: str
    georef: GeoReference | None = None
    pixel_list: bool = False
    decoder_messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class GeoReference:
    """A GeoTIFF's georeferencing: its GeoTIFF tags, copied as they are into raster outputs
    (so the CRS and transform are the input's, with no GDAL needed), and its nodata value."""

    tags: tuple[tuple[int, int, int, object], ...]  # (code, TIFF type, count, value)
    nodata: float | None

    def extratags(self, nodata: float | None) -> list[tuple[int, int, int, object, bool]]:
        """:func:`tifffile.imwrite` ``extratags``: these tags and a GDAL_NODATA of ``nodata``."""
        tags = [(*tag, True) for tag in self.tags]
        if nodata is not None:
            text = repr(nodata) if not float(nodata).is_integer() else str(int(nodata))
            tags.append((_TIFF_GDAL_NODATA, 2, len(text) + 1, text, True))
        return tags


class _Decoded(NamedTuple):
    """What one reader returns, before orientation and masking (private)."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    nodata: np.ndarray | None  # (M, N) bool, True where every band equals GDAL nodata
    description: str
    orientation: object  # the raw EXIF/TIFF Orientation value, if any
    georef: GeoReference | None = None


def load_image(
    path: str | os.PathLike[str],
    *,
    frame: int = 0,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    bands: Sequence[int] | None = None,
) -> LoadedImage:
    """Read an image file: pixels, alpha channel and the mask of pixels to cluster.

    Parameters
    ----------
    path : str or os.PathLike
        The image file: JPEG, PNG (8 or 16 bits), TIFF (any number of bands, 8/16-bit integer or
        float samples, GeoTIFF), WebP, BMP, GIF, ICO or any other format Pillow opens.
    frame : int, optional
        Frame of an animated GIF, WebP or PNG, or page of a multi-page TIFF, from 0 (default 0).
    max_pixels : int or None, optional
        Largest width * height read (default :data:`DEFAULT_MAX_PIXELS`, 178,956,970, Pillow's
        own limit); larger files are rejected before decoding. None lifts the limit.
    bands : sequence of int, optional
        Band numbers to keep, in this order, counted from 1 as GDAL and rasterio count them
        (e.g. ``(4, 3, 2)``: near infrared, red, green of a 4-band R, G, B, NIR raster); the
        alpha channel is not a band. Default: every band.

    Returns
    -------
    LoadedImage
        ``pixels`` (M, N) or (M, N, C) upright, in the file's dtype (uint8, uint16, float32 or
        float64); ``alpha`` (M, N) or None; ``mask`` (M, N) bool or None (True where
        ``alpha != 0`` and not GDAL nodata); ``source``; ``description``.

    Raises
    ------
    ParameterError
        If ``frame`` is not an int >= 0, ``max_pixels`` is not a positive int or None,
        ``path`` is not a str or os.PathLike, or ``bands`` are not band numbers of the file.
    ImageReadError
        If the file does not exist, is a directory, cannot be opened (permission denied), is
        empty (0 bytes), is not an image Pillow or tifffile can read, is truncated or corrupt
        (e.g. a TIFF page without ImageWidth or ImageLength, or whose size, sample or layout
        tags hold several values), has zero width or height or no band, has more than
        ``max_pixels`` pixels (or more than Pillow's limit, which is lifted only when
        ``max_pixels`` exceeds it), has no frame ``frame``, or has a pixel mode or sample type
        kmseg cannot use. The decoders' warnings and log lines about a malformed file stay
        inside the read (the first Pillow warning completes the message of a failed read).

    Notes
    -----
    Bilevel images become uint8 0/255; palette images RGB (RGBA when the file declares
    transparency); CMYK images RGB through their embedded ICC profile (else Pillow's
    conversion); 32-bit and other integer images uint16 when every value fits, else float64.
    Gray TIFFs stored white-is-zero are inverted when integer, kept as stored when float. An 8-bit
    or 16-bit gray or RGB PNG with a tRNS colour key gets an alpha channel (0 where the pixel
    equals the key). A TIFF's extra sample is alpha only when ExtraSamples says so and the file
    is not a GeoTIFF. The input file is only read.

    Examples
    --------
    >>> from importlib.resources import files
    >>> image = load_image(files("kmseg") / "data" / "coffee.jpg")
    >>> image.pixels.shape, image.pixels.dtype, image.alpha, image.mask
    ((400, 600, 3), dtype('uint8'), None, None)
    >>> image.description
    'JPEG RGB 8-bit'
    """
    source = _check_path(path)
    if "\0" in source:  # os.stat and open() raise ValueError on it
        raise ImageReadError(with_source("no such file: a path cannot contain a NUL byte",
                                         source.replace("\0", "\\0")))
    frame = _check_frame(frame)
    max_pixels = _check_max_pixels(max_pixels)
    bands = _check_bands(bands)
    with (
        _open_file(source) as fh,
        held_stderr() as printed,
        _read_errors(source, printed),
        _QUIET_TIFFFILE.held(),
    ):
        head = fh.read(64)
        decoded = _read_other(fh, source, frame, max_pixels, head)
        if decoded is None and head.startswith(_TIFF_MAGIC):
            decoded = _read_tiff(fh, source, frame, max_pixels)
        if decoded is None:
            fh.seek(0)
            decoded = _read_pillow(fh, source, frame, max_pixels, head)
    _check_pixels(decoded.pixels, source)
    if bands is not None:
        decoded = decoded._replace(pixels=_select_bands(decoded.pixels, bands, source))
    return _finish(decoded, source, printed.messages)


def read_image(
    path: str | os.PathLike[str],
    *,
    frame: int = 0,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    bands: Sequence[int] | None = None,
) -> np.ndarray:
    """Read an image file into one array, alpha last, like :func:`skimage.io.imread`.

    Parameters
    ----------
    path : str or os.PathLike
        The image file (any format :func:`load_image` reads).
    frame : int, optional
        Frame of an animation or page of a multi-page TIFF, from 0 (default 0).
    max_pixels : int or None, optional
        Largest width * height read (default :data:`DEFAULT_MAX_PIXELS`); None lifts the limit.
    bands : sequence of int, optional
        Band numbers to keep, from 1 (see :func:`load_image`).

    Returns
    -------
    (M, N) or (M, N, C) ndarray
        The upright pixels in the file's dtype, with the alpha channel appended as the last
        channel when the file has one (gray + alpha -> (M, N, 2), RGBA -> (M, N, 4)).

    Raises
    ------
    ParameterError
        If ``frame``, ``max_pixels`` or ``path`` has a wrong value or type.
    ImageReadError
        If the file cannot be read as an image, for any of the reasons :func:`load_image` lists.

    See Also
    --------
    load_image : the same read, with pixels, alpha and mask apart.

    Examples
    --------
    >>> from importlib.resources import files
    >>> read_image(files("kmseg") / "data" / "coffee.jpg").shape
    (400, 600, 3)
    """
    image = load_image(path, frame=frame, max_pixels=max_pixels, bands=bands)
    if image.alpha is None:
        return image.pixels
    colour = image.pixels if image.pixels.ndim == 3 else image.pixels[..., np.newaxis]
    return np.concatenate([colour, image.alpha[..., np.newaxis]], axis=-1)


# --- validation and file access ------------------------------------------------------------


def _check_path(path: object) -> str:
    if not isinstance(path, (str, bytes, os.PathLike)):
        msg = f"path must be a str or os.PathLike naming an image file, got {type(path).__name__}"
        raise ParameterError(msg)
    return os.fsdecode(path)


def _check_frame(frame: object) -> int:
    if isinstance(frame, bool) or not isinstance(frame, numbers.Integral):
        raise ParameterError(f"frame must be an int >= 0, got {frame!r}")
    if frame < 0:
        raise ParameterError(f"frame must be >= 0 (frames are numbered from 0), got {frame}")
    return int(frame)


def _check_bands(bands: object) -> tuple[int, ...] | None:
    if bands is None:
        return None
    if isinstance(bands, (str, bytes)) or not isinstance(bands, Sequence):
        raise ParameterError(f"bands must be a sequence of band numbers from 1, got {bands!r}")
    numbers_ = tuple(bands)
    if not numbers_ or not all(isinstance(b, numbers.Integral) and not isinstance(b, bool)
                               and b >= 1 for b in numbers_):
        raise ParameterError(f"bands must be band numbers from 1, got {list(numbers_)!r}")
    return tuple(int(b) for b in numbers_)


def _select_bands(pixels: np.ndarray, bands: tuple[int, ...], source: str) -> np.ndarray:
    n_bands = _bands(pixels)
    if max(bands) > n_bands:
        raise ParameterError(with_source(
            f"band {max(bands)} asked for, but the image has {n_bands} band(s) (numbered from 1)",
            source))
    stacked = pixels if pixels.ndim == 3 else pixels[..., np.newaxis]
    return _squeeze(np.ascontiguousarray(stacked[..., [b - 1 for b in bands]]))


def _check_max_pixels(max_pixels: object) -> int | None:
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral):
        raise ParameterError(f"max_pixels must be a positive int or None, got {max_pixels!r}")
    if max_pixels <= 0:
        msg = f"max_pixels must be a positive int, got {max_pixels}; pass None for no limit"
        raise ParameterError(msg)
    return int(max_pixels)


def _open_file(source: str) -> IO[bytes]:
    """Open ``source`` read-only, turning every reason it cannot be read into ImageReadError."""
    if os.path.isdir(source):
        raise ImageReadError(with_source("is a directory, not an image file", source))
    mode = stat.S_IFREG
    with contextlib.suppress(OSError):  # a missing file is reported by open() below
        mode = os.stat(source).st_mode
    if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
        raise ImageReadError(with_source("not a regular file (a pipe, socket or device); "
                                         "give an image file", source))
    try:
        fh = open(source, "rb")  # the caller closes it: `with _open_file(...) as fh`
    except FileNotFoundError:
        raise ImageReadError(with_source("no such file", source)) from None
    except PermissionError:
        raise ImageReadError(with_source("permission denied", source)) from None
    except OSError as exc:
        raise ImageReadError(with_source(f"cannot open: {exc.strerror or exc}", source)) from exc
    if os.fstat(fh.fileno()).st_size == 0:
        fh.close()
        raise ImageReadError(with_source("empty file (0 bytes)", source))
    return fh


@contextlib.contextmanager
def _read_errors(source: str, printed: HeldOutput | None = None) -> Iterator[None]:
    """Turn what the decoders raise into one-line ImageReadErrors naming ``source``; the first
    line a C decoder printed completes the message of a failed decode."""
    try:
        yield
    except ImageReadError as exc:
        if exc.__cause__ is not None:
            exc.args = (str(exc) + _printed_note(printed),)
        raise
    except Image.DecompressionBombError as exc:
        raise _pillow_bomb(exc, source) from exc
    except UnidentifiedImageError as exc:
        msg = "not an image file Pillow or tifffile can read"
        raise ImageReadError(with_source(msg, source)) from exc
    except MemoryError as exc:
        raise ImageReadError(with_source("not enough memory to decode the image", source)) from exc
    except _DECODE_ERRORS as exc:
        msg = f"truncated or corrupt image data: {_reason(exc)}{_printed_note(printed)}"
        raise ImageReadError(with_source(msg, source)) from exc
    except Exception as exc:  # a decoder's own failure on odd data (TypeError, ZeroDivision...)
        msg = (f"the decoder failed on this file ({type(exc).__name__}: {_reason(exc)})"
               f"{_printed_note(printed)}")
        raise ImageReadError(with_source(msg, source)) from exc


def _printed_note(printed: HeldOutput | None) -> str:
    lines = printed.lines() if printed is not None else []
    return f" (decoder said: {lines[0]})" if lines else ""


def _reason(exc: BaseException) -> str:
    """An exception's message on one line (its class name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _too_large(source: str, what: str, limit: int, unit: str = "pixels") -> ImageTooLargeError:
    msg = f"{what} exceeds the decompression-bomb limit of {limit:,} {unit}; {_BOMB_HINT}"
    return ImageTooLargeError(with_source(msg, source), what)


def _pillow_bomb(exc: Exception, source: str, max_pixels: int | None = None) -> ImageTooLargeError:
    """Pillow's own DecompressionBombError (it gives only the pixel count), naming the
    caller's limit when there is one (Pillow's is the larger)."""
    found = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(exc))
    if found is None:
        return ImageTooLargeError(with_source(f"{exc}; {_BOMB_HINT}", source))
    pixels, limit = (int(group) for group in found.groups())
    return _too_large(source, f"{pixels:,} pixels", max_pixels or limit)


def _check_size(width: int, height: int, source: str, max_pixels: int | None) -> None:
    if not all(isinstance(n, numbers.Integral) for n in (width, height)):
        msg = f"corrupt image size: width {width!r}, height {height!r} (not whole numbers)"
        raise ImageReadError(with_source(msg, source))
    if width <= 0 or height <= 0:
        raise ImageReadError(with_source(f"zero width or height ({width}x{height})", source))
    if max_pixels is not None and width * height > max_pixels:
        raise _too_large(source, f"{width}x{height} = {width * height:,} pixels", max_pixels)


def _check_values(page: object, source: str, max_pixels: int | None) -> None:
    """The bomb limit counts pixels of up to 4 samples (RGBA): a page of many bands or a
    volume (ImageDepth) may decode to at most 4 * max_pixels values."""
    values = page.imagewidth * page.imagelength * page.samplesperpixel * max(page.imagedepth, 1)
    if max_pixels is not None and values > 4 * max_pixels:
        what = (f"{page.imagewidth}x{page.imagelength} pixels x {page.samplesperpixel} samples"
                f"{f' x {page.imagedepth} planes' if page.imagedepth > 1 else ''} = "
                f"{values:,} values")
        raise _too_large(source, what, 4 * max_pixels, "values (4 per pixel)")


def _check_frame_range(frame: int, n_frames: int, source: str) -> None:
    if frame >= n_frames:
        frames = (
            "1 frame (frame 0)" if n_frames == 1 else f"{n_frames} frames (0 to {n_frames - 1})"
        )
        raise ImageReadError(
            with_source(f"frame {frame} out of range: the file has {frames}", source)
        )


@contextlib.contextmanager
def _pillow_limit(max_pixels: int | None) -> Iterator[None]:
    """Let Pillow open up to ``max_pixels`` pixels inside the block; silence its bomb warning.

    Pillow's global ``MAX_IMAGE_PIXELS`` is changed only when ``max_pixels`` exceeds Pillow's
    error threshold (or is None), under a lock, and always restored.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if not _lifts_pillow_limit(max_pixels):
            yield
            return
        with _PILLOW_LIMIT_LOCK:
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                yield
            finally:
                Image.MAX_IMAGE_PIXELS = saved


def _lifts_pillow_limit(max_pixels: int | None) -> bool:
    if max_pixels is None or max_pixels > DEFAULT_MAX_PIXELS:
        return True
    current = Image.MAX_IMAGE_PIXELS
    return current is not None and max_pixels > 2 * current


# --- Formats beyond Pillow and tifffile (see _codecs) ------------------------------------------


def _read_other(
    fh: IO[bytes], source: str, frame: int, max_pixels: int | None, head: bytes
) -> _Decoded | None:
    """Camera RAW and JPEG XL files; None for the others, after checks Pillow cannot make."""
    suffix = os.path.splitext(source)[1].lower()
    if suffix in _codecs.RAW_SUFFIXES:
        _check_frame_range(frame, 1, source)
        pixels = _codecs.read_raw(
            source, source, lambda width, height: _check_size(width, height, source, max_pixels)
        )
        return _Decoded(pixels, None, None, "camera RAW RGB 8-bit", None)
    problem = _codecs.not_raster(head, suffix)
    if problem:
        raise ImageReadError(with_source(problem, source))
    fh.seek(0)
    if _codecs.is_jxl(head):
        return _read_jxl(fh.read(), source, frame, max_pixels)
    brand = _codecs.heif_brand(head)
    hint = _codecs.use_heif() if brand == "HEIF" else None
    if hint:
        raise ImageReadError(with_source(hint, source))
    if brand == "AVIF":  # a too-large AVIF is "cannot identify" to Pillow: say why first
        _check_avif_size(_codecs.isobmff_size(fh.read(_HEADER_BYTES)), source, max_pixels)
    return None


def _read_jxl(data: bytes, source: str, frame: int, max_pixels: int | None) -> _Decoded:
    size = _codecs.jxl_size(data)
    if size is None:
        raise ImageReadError(with_source("truncated or corrupt JPEG XL header", source))
    _check_size(*size, source, max_pixels)
    frames = _codecs.decode_jxl(data, frame)
    if frame:
        _check_frame_range(frame, len(frames), source)
    pixels, alpha = _split_alpha(_supported_dtype(frames[frame], source))
    description = f"JPEG XL {_bands(pixels)}-band {_bits(pixels.dtype)}"
    if len(frames) > 1:
        description += f" frame {frame} of {len(frames)}"
    return _Decoded(pixels, alpha, None, description, None)


def _split_alpha(data: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Gray + alpha or RGB + alpha (2 or 4 channels) -> colour, alpha."""
    if data.ndim == 3 and data.shape[-1] in (2, 4):
        return _squeeze(data[..., :-1]), data[..., -1]
    return _squeeze(data), None


def _check_avif_size(size: tuple[int, int] | None, source: str, max_pixels: int | None) -> None:
    if size is None:
        return
    _check_size(*size, source, max_pixels)
    if size[0] * size[1] > _codecs.AVIF_MAX_PIXELS:
        what = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels"
        message = (f"{what}: more than the AVIF decoder (libavif) reads "
                   f"({_codecs.AVIF_MAX_PIXELS:,} pixels, 16384 x 16384)")
        raise ImageTooLargeError(with_source(message, source), what)


# --- Pillow (and 16-bit PNG) ------------------------------------------------------------------


def _read_pillow(
    fh: IO[bytes], source: str, frame: int, max_pixels: int | None, head: bytes
) -> _Decoded:
    with (
        _pillow_limit(max_pixels),
        _pillow_failures(source),
        _open_pillow(fh, source, max_pixels) as im,
    ):
        _check_size(*im.size, source, max_pixels)
        _check_ghostscript(im, source)
        n_frames = getattr(im, "n_frames", 1) or 1  # a PSD without layers has "0 frames"
        _check_frame_range(frame, n_frames, source)
        if frame:
            im.seek(frame)
            _check_size(*im.size, source, max_pixels)
        mode, fmt = im.mode, im.format
        if head.startswith(_PNG_MAGIC) and len(head) > 25 and head[24] == 16 and n_frames == 1:
            mode = _PNG_COLOUR_TYPES.get(head[25], mode)
            orientation = _exif_orientation(im)
            fh.seek(0)
            pixels, alpha, conversion = _png16_arrays(fh.read(), im, head[25], source)
        else:
            im.load()
            orientation = _exif_orientation(im)
            pixels, alpha, conversion = _pillow_arrays(im, source)
    description = f"{fmt} {mode}{conversion} {_bits(pixels.dtype)}"
    if n_frames > 1:
        description += f" frame {frame} of {n_frames}"
    return _Decoded(pixels, alpha, None, description, orientation)


@contextlib.contextmanager
def _pillow_failures(source: str) -> Iterator[None]:
    """Keep Pillow's warnings about the file inside the block; its failures as ImageReadErrors.

    Pillow warns about malformed metadata it skips ("Tag data larger than file", "Corrupt EXIF
    data", ...): those warnings are recorded, never shown (nor raised under ``-W error``), and
    the first completes the message when the read fails. Besides the usual decode errors, Pillow
    raises TypeError on some malformed headers (a TIFF page without dimensions).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except (ImageReadError, UnidentifiedImageError, Image.DecompressionBombError, MemoryError):
            raise
        except (TypeError, *_DECODE_ERRORS) as exc:
            notes = [" ".join(str(w.message).split()) for w in caught
                     if not issubclass(w.category, Image.DecompressionBombWarning)]
            note = f" (Pillow warned: {notes[0]})" if notes and notes[0] else ""
            msg = f"truncated or corrupt image data: {_reason(exc)}{note}"
            raise ImageReadError(with_source(msg, source)) from exc


def _check_ghostscript(im: Image.Image, source: str) -> None:
    """Pillow renders EPS files with Ghostscript, and fails at decoding time without it."""
    from PIL import EpsImagePlugin

    if im.format == "EPS" and not EpsImagePlugin.has_ghostscript():
        message = ("an EPS (PostScript) file is read through Ghostscript, which is not installed: "
                   "install it (apt install ghostscript, brew install ghostscript)")
        raise ImageReadError(with_source(message, source))


def _open_pillow(fh: IO[bytes], source: str, max_pixels: int | None) -> Image.Image:
    """Image.open; Pillow's decompression-bomb error as an ImageTooLargeError that names the
    width and height when the header can be read again cheaply.

    Only formats whose opening reads just the header are opened again without the limit:
    opening a GIF or an ICO allocates the whole frame (2-4 GB for a 200-byte bomb).
    """
    try:
        return Image.open(fh)
    except Image.DecompressionBombError as bomb:
        try:
            fh.seek(0)
            with _pillow_limit(None), Image.open(fh, formats=_LAZY_OPENING) as im:
                size = im.size
        except Exception:  # another format, or a header that cannot be read: Pillow's count
            raise _pillow_bomb(bomb, source, max_pixels) from bomb
        _check_size(*size, source, max_pixels)
        raise _pillow_bomb(bomb, source, max_pixels) from bomb


def _exif_orientation(im: Image.Image) -> object:
    """The EXIF Orientation value Pillow reads (as exif_transpose does); 1 if unreadable."""
    try:
        return im.getexif().get(0x0112, 1)
    except Exception:  # corrupt EXIF must not make the image unreadable
        return 1


def _pillow_arrays(im: Image.Image, source: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Pixels, alpha and conversion note (" -> RGB") of a loaded Pillow image."""
    mode = im.mode
    if mode == "CMYK":
        im, conversion = _cmyk_to_rgb(im)
    elif "transparency" in im.info and mode in ("P", "L", "RGB"):
        im = im.convert("LA" if mode == "L" else "RGBA")
        conversion = f" -> {im.mode}"
    elif mode in _PILLOW_CONVERT:
        im = im.convert(_PILLOW_CONVERT[mode])
        conversion = f" -> {im.mode}"
    elif mode in _PILLOW_NATIVE:
        conversion = ""
    else:
        raise ImageReadError(with_source(f"unsupported image mode {mode!r}", source))
    array = _supported_dtype(np.asarray(im), source)
    if im.mode in ("LA", "RGBA"):
        return _squeeze(array[..., :-1]), array[..., -1], conversion
    return array, None, conversion


def _cmyk_to_rgb(im: Image.Image) -> tuple[Image.Image, str]:
    """CMYK to sRGB through the embedded ICC profile, else Pillow's plain conversion."""
    icc = im.info.get("icc_profile")
    if icc:
        from PIL import ImageCms

        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, profile, srgb, outputMode="RGB"), " -> RGB (ICC)"
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken or non-CMYK profile: fall back to the plain conversion
    return im.convert("RGB"), " -> RGB"


def _png16_arrays(
    data: bytes, im: Image.Image, colour_type: int, source: str
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """A 16-bit PNG decoded by imagecodecs: uint16 pixels and alpha (its own, or from tRNS)."""
    import imagecodecs

    array = imagecodecs.png_decode(data)
    if array.shape[:2] != (im.height, im.width) or colour_type not in _PNG_COLOUR_TYPES:
        msg = f"16-bit PNG decoded to shape {array.shape}, not {im.height}x{im.width}"
        raise ImageReadError(with_source(f"truncated or corrupt image data: {msg}", source))
    array = _supported_dtype(array, source)
    n_colour = 3 if colour_type in (2, 6) else 1
    conversion = ""
    if array.ndim == 3 and array.shape[-1] == n_colour + 1:
        pixels, alpha = array[..., :n_colour], array[..., n_colour]
        if colour_type in (0, 2):  # png_decode applied the tRNS key itself
            conversion = f" -> {_PNG_COLOUR_TYPES[colour_type + 4]}"
    else:
        pixels, alpha = array, _key_alpha(array, im.info.get("transparency"))
        if alpha is not None:
            conversion = f" -> {_PNG_COLOUR_TYPES[colour_type + 4]}"
    return _squeeze(pixels), alpha, conversion


def _key_alpha(pixels: np.ndarray, key: object) -> np.ndarray | None:
    """Alpha from a tRNS colour key: 0 where the pixel equals ``key``, full scale elsewhere."""
    if key is None:
        return None
    hit = pixels == np.asarray(key, dtype=np.float64)
    if hit.ndim == 3:
        hit = hit.all(axis=-1)
    return np.where(hit, 0, np.iinfo(pixels.dtype).max).astype(pixels.dtype)


# --- TIFF by tifffile ---------------------------------------------------------------------------


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

    Raises
    ------
    ImageReadError
        The TIFF cannot be streamed: unreadable, not gray/RGB/multi-band samples of 8 bits or
        more, bands stored apart (planar), alpha, or a rotated (Orientation) page; or it claims
        more than ``max_pixels`` pixels (None: no limit), the decompression-bomb limit that
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


# --- shared ---------------------------------------------------------------------------------


def _supported_dtype(array: np.ndarray, source: str) -> np.ndarray:
    """The array in native byte order as uint8, uint16, float32 or float64.

    bool -> uint8 0/255; float16 -> float32; other integers -> uint8 (1-byte, all in 0..255),
    uint16 (all in 0..65535) or else float64.
    """
    dtype = array.dtype
    if dtype.kind in "uif" and not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    if array.dtype in _SUPPORTED_DTYPES:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    if array.dtype.kind == "f" and array.dtype.itemsize < 4:
        return array.astype(np.float32)
    if array.dtype.kind in "iu":
        low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
        if low >= 0 and high <= 255 and array.dtype.itemsize == 1:
            return array.astype(np.uint8)
        return array.astype(np.uint16 if low >= 0 and high <= 65535 else np.float64)
    raise ImageReadError(with_source(f"unsupported sample type {array.dtype}", source))


def _check_pixels(pixels: np.ndarray, source: str) -> None:
    """Every image kmseg returns has rows, columns and at least one band."""
    problem = None
    if pixels.ndim not in (2, 3):
        problem = "unsupported image layout"
    elif pixels.ndim == 3 and pixels.shape[-1] == 0:
        problem = "image without any band (0 samples per pixel)"
    elif 0 in pixels.shape[:2]:
        problem = "zero width or height"
    if problem:
        raise ImageReadError(with_source(f"{problem}: decoded shape {pixels.shape}", source))


def _squeeze(pixels: np.ndarray) -> np.ndarray:
    """(M, N, 1) -> (M, N); other shapes unchanged."""
    return pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels


def _bands(pixels: np.ndarray) -> int:
    return 1 if pixels.ndim == 2 else pixels.shape[-1]


def _bits(dtype: np.dtype) -> str:
    return {"u": f"{8 * dtype.itemsize}-bit", "f": f"{8 * dtype.itemsize}-bit float"}[dtype.kind]


def _orient(array: np.ndarray, orientation: object) -> np.ndarray:
    """Apply an EXIF orientation (2..8) to the first two axes; other values change nothing."""
    if not isinstance(orientation, numbers.Integral) or orientation not in _ORIENTATIONS:
        return array
    transpose, flip_rows, flip_columns = _ORIENTATIONS[orientation]
    if transpose:
        array = array.swapaxes(0, 1)
    if flip_rows:
        array = array[::-1]
    if flip_columns:
        array = array[:, ::-1]
    return array


def _finish(decoded: _Decoded, source: str, messages: tuple[str, ...]) -> LoadedImage:
    """Orient pixels, alpha and nodata alike; build the mask; make arrays C-contiguous."""

    def upright(array: np.ndarray) -> np.ndarray:
        return np.require(_orient(array, decoded.orientation), requirements=("C", "W"))

    pixels = upright(decoded.pixels)
    alpha = None if decoded.alpha is None else upright(decoded.alpha)
    keep = None if alpha is None else alpha != 0
    if decoded.nodata is not None:
        excluded = _orient(decoded.nodata, decoded.orientation)
        keep = ~excluded if keep is None else keep & ~excluded
    mask = None if keep is None or keep.all() else np.ascontiguousarray(keep)
    return LoadedImage(pixels, alpha, mask, source, decoded.description, decoded.georef,
                       decoder_messages=messages)
