"""The entry points: :func:`load_image` tries the readers in order (the formats of
:mod:`._codecs`, then tifffile for TIFFs, then Pillow) and :func:`read_image` returns one array.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .._errors import ImageReadError, with_source
from ._codecs import (
    _read_other,
)
from ._common import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    _check_bands,
    _check_frame,
    _check_max_pixels,
    _check_path,
    _check_pixels,
    _finish,
    _open_file,
    _read_errors,
    _select_bands,
)
from ._decoder_output import held_stderr
from ._pillow import (
    _read_pillow,
)
from ._tiff import (
    _QUIET_TIFFFILE,
    _TIFF_MAGIC,
    _read_tiff,
)


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
