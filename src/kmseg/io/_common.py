"""What every reader shares: the :class:`LoadedImage` it returns (and a GeoTIFF's
:class:`GeoReference`), file access, the pixel limit and the wording of read errors, sample
types, orientation.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import re
import stat
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from .._errors import ImageReadError, ImageTooLargeError, ParameterError, with_source
from ._decoder_output import HeldOutput

#: Largest image (width * height) read by default: ``2 * PIL.Image.MAX_IMAGE_PIXELS`` as Pillow
#: ships it (178,956,970), the size at which Pillow itself raises ``DecompressionBombError``.
DEFAULT_MAX_PIXELS: int = 2 * (1024 * 1024 * 1024 // 4 // 3)


#: Most bands (samples per pixel) read from a TIFF: hyperspectral sensors have 200-450.
MAX_BANDS = 1024


_SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)


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


_TIFF_GEOKEYS, _TIFF_GDAL_NODATA = 34735, 42113


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
    except ParameterError:  # a wrong option (a band the file has not), not bad data
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


def _check_frame_range(frame: int, n_frames: int, source: str) -> None:
    if frame >= n_frames:
        frames = (
            "1 frame (frame 0)" if n_frames == 1 else f"{n_frames} frames (0 to {n_frames - 1})"
        )
        raise ImageReadError(
            with_source(f"frame {frame} out of range: the file has {frames}", source)
        )


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


def check_voxels(shape: tuple[int, ...], max_voxels: int | None, source: str) -> None:
    """ImageTooLargeError when ``shape`` holds more than ``max_voxels`` voxels."""
    voxels = int(np.prod([int(n) for n in shape], dtype=np.float64))
    if max_voxels is not None and voxels > max_voxels:
        what = f"{' x '.join(str(int(n)) for n in shape)} = {voxels:,} voxels"
        raise ImageTooLargeError(with_source(f"{what}, more than the limit of "
                                             f"{max_voxels:,}", source), what)
