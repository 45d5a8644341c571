"""Photos through Pillow (JPEG, PNG, WebP, GIF, BMP, ICO, HEIC with pillow-heif, AVIF, ...):
modes converted to gray or RGB, CMYK through its ICC profile, 16-bit PNG by imagecodecs
(Pillow would truncate it), EXIF orientation read, Pillow's own bomb limit kept on.
"""

from __future__ import annotations

import contextlib
import io
import struct
import threading
import warnings
from collections.abc import Iterator
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from .._errors import ImageReadError, with_source
from ._common import (
    _DECODE_ERRORS,
    DEFAULT_MAX_PIXELS,
    _bits,
    _check_frame_range,
    _check_size,
    _Decoded,
    _pillow_bomb,
    _reason,
    _squeeze,
    _supported_dtype,
)

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# Pillow formats whose Image.open reads the header only (the others may decode a frame).
_LAZY_OPENING = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "PSD")


_PNG_COLOUR_TYPES = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}  # the ones a 16-bit PNG can have


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


_PILLOW_LIMIT_LOCK = threading.RLock()


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


def _read_pillow(
    fh: IO[bytes], source: str, frame: int, max_pixels: int | None, head: bytes
) -> _Decoded:
    with (
        _pillow_limit(max_pixels),
        _pillow_failures(source),
        _open_pillow(fh, source, max_pixels, head) as im,
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
    if im.format != "EPS":  # the plugin's import costs 6 ms
        return
    from PIL import EpsImagePlugin

    if not EpsImagePlugin.has_ghostscript():
        message = ("an EPS (PostScript) file is read through Ghostscript, which is not installed: "
                   "install it (apt install ghostscript, brew install ghostscript)")
        raise ImageReadError(with_source(message, source))


def _open_pillow(
    fh: IO[bytes], source: str, max_pixels: int | None, head: bytes
) -> Image.Image:
    """Image.open; Pillow's decompression-bomb error as an ImageTooLargeError that names the
    width and height when the header can be read again cheaply.

    Only formats whose opening reads just the header are opened again without the limit:
    opening a GIF or an ICO allocates the whole frame (2-4 GB for a 200-byte bomb).
    """
    try:
        im = _open_first_jpeg(fh, head)
        return Image.open(fh) if im is None else im
    except Image.DecompressionBombError as bomb:
        try:
            fh.seek(0)
            with _pillow_limit(None), Image.open(fh, formats=_LAZY_OPENING) as im:
                size = im.size
        except Exception:  # another format, or a header that cannot be read: Pillow's count
            raise _pillow_bomb(bomb, source, max_pixels) from bomb
        _check_size(*size, source, max_pixels)
        raise _pillow_bomb(bomb, source, max_pixels) from bomb


def _open_first_jpeg(fh: IO[bytes], head: bytes) -> Image.Image | None:
    """A JPEG opened as Image.open opens it, when no Pillow plugin is loaded yet; else None.

    Image.open first imports the plugins of BMP, GIF, JPEG, PPM and PNG (15 ms of a 0.3 s
    ``kmseg segment`` of a JPEG); a JPEG needs only its own. Image.open would try BMP, DIB and
    GIF first, whose signatures a JPEG's cannot match, then JPEG: the same factory, bomb check
    and image. Whatever Image.open would go on from (another format to try) is left to it.
    """
    bomb_check = getattr(Image, "_decompression_bomb_check", None)
    if Image.ID or bomb_check is None or not head.startswith(b"\xff\xd8\xff"):
        return None
    from PIL import JpegImagePlugin  # registers the JPEG format

    factory, accept = Image.OPEN[JpegImagePlugin.JpegImageFile.format]
    if accept is not None and accept(head[:16]) is not True:
        return None
    fh.seek(0)
    try:
        im = factory(fh, "")
    except (SyntaxError, IndexError, TypeError, struct.error):  # Image.open tries on
        fh.seek(0)
        return None
    bomb_check(im.size)
    im._exclusive_fp = False  # as Image.open leaves a file it was given
    return im


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
