"""Stage 1 — input: read an image file into pixels, alpha and a mask of the pixels to cluster.

One entry point, :func:`load_image`, returns a :class:`LoadedImage`; :func:`read_image` is a thin
wrapper that returns one array, as :func:`skimage.io.imread` does. One module per family of
readers (``_pillow``, ``_tiff``, ``_codecs`` for the formats beyond both), what they share in
``_common``, the order they are tried in ``_read``. Every file is read with

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

from ._common import DEFAULT_MAX_PIXELS, MAX_BANDS, GeoReference, LoadedImage
from ._raster import RasterInfo, raster_info, raster_rows, raster_strips
from ._read import load_image, read_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_BANDS",
    "GeoReference",
    "LoadedImage",
    "RasterInfo",
    "load_image",
    "raster_info",
    "raster_rows",
    "raster_strips",
    "read_image",
]
