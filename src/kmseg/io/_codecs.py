"""Stage 1 — input, the formats beyond Pillow and tifffile: recognise them from their first bytes.

:mod:`kmseg.io` reads every file; this module tells it what a file is when Pillow's own plugins
are not enough, and reads an image's size from its header before anything is decoded, so the
decompression-bomb limit holds for these formats too:

* HEIC/HEIF (iPhone photos) through pillow-heif's Pillow plugin, registered on first use;
* AVIF: Pillow decodes it, but refuses a too-large image as "cannot identify"; its size is read
  from the ISOBMFF ``ispe`` box so that the error says so;
* JPEG XL through :func:`imagecodecs.jpegxl_decode`, its size read from the codestream header;
* camera RAW (CR2, NEF, ARW, DNG, ...) through rawpy (LibRaw), when installed;
* documents and drawings (PDF, SVG, PostScript), which are not raster images: the message says
  what to install or run to get one.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from typing import IO

import numpy as np

from .._errors import ImageReadError, ImageTooLargeError, with_source
from ._common import (
    _bands,
    _bits,
    _check_frame_range,
    _check_size,
    _Decoded,
    _squeeze,
    _supported_dtype,
)

__all__ = [
    "AVIF_MAX_PIXELS",
    "RAW_SUFFIXES",
    "decode_jxl",
    "heif_brand",
    "is_jxl",
    "isobmff_size",
    "jxl_size",
    "not_raster",
    "read_raw",
    "use_heif",
]

# Camera RAW files (several are TIFFs whose first page is a small preview: never read them as
# TIFFs, which would cluster the thumbnail).
RAW_SUFFIXES = frozenset({
    ".3fr", ".arw", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".iiq", ".k25", ".kdc",
    ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".pef", ".raf", ".raw", ".rw2", ".rwl",
    ".sr2", ".srf", ".srw", ".x3f",
})
#: libavif's default image size limit (16384 x 16384): larger AVIFs cannot be decoded at all.
AVIF_MAX_PIXELS = 16384 * 16384

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs",
                b"mif1", b"msf1", b"mif2"}
_ISOBMFF_CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0}  # box -> bytes before its children
_JXL_CODESTREAM = b"\xff\x0a"
_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
# JPEG XL SizeHeader: the bits of each U32 distribution, and width / height per aspect ratio code.
_JXL_SIZE_BITS = (9, 13, 18, 30)
_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}

_INSTALL_HEIF = "HEIC/HEIF photos are read with pillow-heif: pip install pillow-heif"
_INSTALL_RAW = "camera RAW files are read with rawpy (LibRaw): pip install rawpy"


def heif_brand(head: bytes) -> str | None:
    """``"AVIF"`` or ``"HEIF"`` when ``head`` starts an ISOBMFF image file of that kind."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    brands = {head[8:12], *(head[i:i + 4] for i in range(16, len(head) - 3, 4))}
    if brands & _AVIF_BRANDS:
        return "AVIF"
    return "HEIF" if head[8:12] in _HEIF_BRANDS else None


def use_heif() -> str | None:
    """Register pillow-heif's Pillow plugin; the install hint when it is missing."""
    try:
        import pillow_heif
    except ImportError:
        return _INSTALL_HEIF
    pillow_heif.register_heif_opener()
    return None


def isobmff_size(data: bytes) -> tuple[int, int] | None:
    """The largest (width, height) an AVIF/HEIF file declares (``ispe`` boxes), or None.

    A grid image declares its tiles and the whole; the largest is the one the limit is about.
    """
    sizes = [struct.unpack_from(">II", data, start + 4)
             for kind, start, end in _walk_boxes(data, 0, len(data))
             if kind == b"ispe" and end - start >= 12]
    return max(sizes, key=lambda size: size[0] * size[1], default=None)


def _walk_boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in data[start:end], depth first."""
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1 and position + 16 <= end:
            size, header = struct.unpack_from(">Q", data, position + 8)[0], 16
        elif size == 0:
            size = end - position
        if size < header:
            return
        payload, box_end = position + header, min(position + size, end)
        yield kind, payload, box_end
        if kind in _ISOBMFF_CONTAINERS:
            yield from _walk_boxes(data, payload + _ISOBMFF_CONTAINERS[kind], box_end)
        position += size


def is_jxl(head: bytes) -> bool:
    """Whether ``head`` starts a JPEG XL file (bare codestream or container)."""
    return head.startswith((_JXL_CODESTREAM, _JXL_CONTAINER))


def jxl_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG XL file's SizeHeader; None when it is not JPEG XL.

    imagecodecs decodes JPEG XL but has no header-only call, and a 20-line reader of the
    SizeHeader (ISO/IEC 18181-1, section A.3) keeps a bomb from being decoded.
    """
    codestream = _jxl_codestream(data)
    if codestream is None or len(codestream) < 10:
        return None
    bits = _BitReader(codestream[2:])
    small = bits.read(1)
    height = (bits.read(5) + 1) * 8 if small else bits.read_u32() + 1
    ratio = bits.read(3)
    if ratio:
        numerator, denominator = _JXL_RATIOS[ratio]
        return height * numerator // denominator, height
    width = (bits.read(5) + 1) * 8 if small else bits.read_u32() + 1
    return width, height


def _jxl_codestream(data: bytes) -> bytes | None:
    """The start of the codestream: the file itself, or its first ``jxlc``/``jxlp`` boxes."""
    if data.startswith(_JXL_CODESTREAM):
        return data
    if not data.startswith(_JXL_CONTAINER):
        return None
    parts = [data[start + (4 if kind == b"jxlp" else 0):end]
             for kind, start, end in _walk_boxes(data, 0, len(data))
             if kind in (b"jxlc", b"jxlp")]
    codestream = b"".join(parts)
    return codestream if codestream.startswith(_JXL_CODESTREAM) else None


class _BitReader:
    """Bits from least to most significant within each byte, as JPEG XL stores them."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data[:16], "little")
        self._position = 0

    def read(self, n: int) -> int:
        value = (self._value >> self._position) & ((1 << n) - 1)
        self._position += n
        return value

    def read_u32(self) -> int:
        return self.read(_JXL_SIZE_BITS[self.read(2)])


def decode_jxl(data: bytes, frame: int, size: tuple[int, int]) -> np.ndarray:
    """JPEG XL frames as (F, M, N[, C]): frame 0 alone, else every frame (to know how many);
    ``size`` is the header's (width, height), which tells frames from rows."""
    import imagecodecs

    if frame == 0:
        return imagecodecs.jpegxl_decode(data, index=0)[np.newaxis]
    frames = imagecodecs.jpegxl_decode(data)
    single = frames.ndim == 2 or frames.shape[:2] in (size, size[::-1])
    return frames[np.newaxis] if single else frames


def read_raw(source: str, check_size: Callable[[int, int], None]) -> np.ndarray:
    """A camera RAW file developed by LibRaw (camera white balance, sRGB, 8 bits, upright)."""
    try:
        import rawpy
    except ImportError:
        raise ImageReadError(with_source(_INSTALL_RAW, source)) from None
    try:
        with rawpy.imread(source) as raw:
            check_size(raw.sizes.width, raw.sizes.height)
            return raw.postprocess(use_camera_wb=True)
    except rawpy.LibRawError as exc:
        message = f"not a camera RAW file LibRaw can read ({type(exc).__name__}: {exc})"
        raise ImageReadError(with_source(message, source)) from exc


def not_raster(head: bytes, suffix: str) -> str | None:
    """Why a document or drawing is not read, and how to make an image of it; None otherwise."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"%pdf-"):
        return ("a PDF document, not an image: render its page first, e.g. "
                "`pdftoppm -png -r 150 FILE page` (apt install poppler-utils) or "
                "`magick -density 150 FILE page.png`")
    if suffix in (".svg", ".svgz") or b"<svg" in text[:1024]:
        return ("an SVG drawing, not a raster image: rasterise it first, e.g. "
                "`rsvg-convert -w 2000 FILE -o drawing.png` (apt install librsvg2-bin)")
    return None


_HEADER_BYTES = 1 << 20  # where an AVIF's ispe boxes are looked for


def _read_other(
    fh: IO[bytes], source: str, frame: int, max_pixels: int | None, head: bytes
) -> _Decoded | None:
    """Camera RAW and JPEG XL files; None for the others, after checks Pillow cannot make."""
    suffix = os.path.splitext(source)[1].lower()
    if suffix in RAW_SUFFIXES:
        _check_frame_range(frame, 1, source)
        pixels = read_raw(source, lambda width, height: _check_size(width, height, source,
                                                                     max_pixels))
        return _Decoded(pixels, None, None, "camera RAW RGB 8-bit", None)
    problem = not_raster(head, suffix)
    if problem:
        raise ImageReadError(with_source(problem, source))
    fh.seek(0)
    if is_jxl(head):
        return _read_jxl(fh.read(), source, frame, max_pixels)
    brand = heif_brand(head)
    hint = use_heif() if brand == "HEIF" else None
    if hint:
        raise ImageReadError(with_source(hint, source))
    if brand == "AVIF":  # a too-large AVIF is "cannot identify" to Pillow: say why first
        _check_avif_size(isobmff_size(fh.read(_HEADER_BYTES)), source, max_pixels)
    return None


def _read_jxl(data: bytes, source: str, frame: int, max_pixels: int | None) -> _Decoded:
    size = jxl_size(data)
    if size is None:
        raise ImageReadError(with_source("truncated or corrupt JPEG XL header", source))
    _check_size(*size, source, max_pixels)
    frames = decode_jxl(data, frame, size)
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
    if size[0] * size[1] > AVIF_MAX_PIXELS:
        what = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels"
        message = (f"{what}: more than the AVIF decoder (libavif) reads "
                   f"({AVIF_MAX_PIXELS:,} pixels, 16384 x 16384)")
        raise ImageTooLargeError(with_source(message, source), what)
