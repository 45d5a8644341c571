"""Tests of kmseg.io: every mode and format against independent decoders, orientation, errors."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import cv2
import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from kmseg._errors import ImageReadError, ParameterError
from kmseg.io import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    _common,
    _pillow,
    load_image,
    raster_info,
    read_image,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus"
# File names for the corpus sweep; a placeholder when the corpus is absent, so that the
# corpus_dir fixture skips the test instead of pytest reporting an empty parameter set.
CORPUS_FILES = sorted(
    f"{folder}/{path.name}"
    for folder in ("odd", "multiband")
    if (CORPUS / folder).is_dir()
    for path in (CORPUS / folder).iterdir()
) or ["odd/absent"]
SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)


@pytest.fixture
def rgb(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def save_pillow(path: Path, array: np.ndarray, **kwargs: object) -> Path:
    Image.fromarray(array).save(path, **kwargs)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_trns(png: bytes, key: bytes) -> bytes:
    """Insert a tRNS chunk right after the IHDR chunk (which ends at byte 33)."""
    return png[:33] + png_chunk(b"tRNS", key) + png[33:]


def cv2_read(path: Path) -> np.ndarray:
    """OpenCV's decoder (independent of Pillow and imagecodecs), channels in RGB(A) order."""
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array.ndim == 3:
        array = cv2.cvtColor(
            array, cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB
        )
    return array


def patch_tiff_tag(
    data: bytes,
    code: int,
    *,
    values: tuple[int, ...] | None = None,
    new_code: int | None = None,
    page: int = 0,
) -> bytes:
    """A little-endian classic TIFF with one IFD entry of page ``page`` changed: its tag code
    (the tag then reads as absent) or its values (SHORTs, after the end of the file when they do
    not fit in the entry)."""
    out = bytearray(data)
    assert out[:4] == b"II*\x00"
    (offset,) = struct.unpack_from("<I", out, 4)
    for _ in range(page):
        (n_tags,) = struct.unpack_from("<H", out, offset)
        (offset,) = struct.unpack_from("<I", out, offset + 2 + 12 * n_tags)
    (n_tags,) = struct.unpack_from("<H", out, offset)
    for entry in range(offset + 2, offset + 2 + 12 * n_tags, 12):
        if struct.unpack_from("<H", out, entry)[0] != code:
            continue
        if new_code is not None:
            struct.pack_into("<H", out, entry, new_code)
        if values is not None:
            packed = struct.pack(f"<{len(values)}H", *values)
            field = packed.ljust(4, b"\x00") if len(packed) <= 4 else struct.pack("<I", len(out))
            out += b"" if len(packed) <= 4 else packed
            struct.pack_into("<HI4s", out, entry + 2, 3, len(values), field)
        return bytes(out)
    raise KeyError(code)


def tiny_tiff(path: Path, shape: tuple[int, ...] = (4, 5, 3), **patch: object) -> Path:
    """A small uint8 TIFF (RGB when 3-D) written by tifffile, with one tag patched."""
    data = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    tifffile.imwrite(path, data, photometric="rgb" if len(shape) == 3 else "minisblack")
    if patch:
        path.write_bytes(patch_tiff_tag(path.read_bytes(), **patch))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_loaded(image: LoadedImage) -> None:
    """Invariants every LoadedImage keeps."""
    pixels = image.pixels
    assert pixels.ndim in (2, 3)
    assert pixels.dtype in SUPPORTED_DTYPES
    assert pixels.flags.c_contiguous and pixels.flags.writeable
    assert min(pixels.shape[:2]) > 0
    if image.alpha is not None:
        assert image.alpha.shape == pixels.shape[:2]
        assert image.alpha.dtype == pixels.dtype
    if image.mask is not None:
        assert image.mask.shape == pixels.shape[:2]
        assert image.mask.dtype == np.bool_
        assert not image.mask.all()


# --- round trips, one per mode ----------------------------------------------------------------


def test_default_max_pixels_is_pillows_error_threshold() -> None:
    assert DEFAULT_MAX_PIXELS == 178_956_970 == 2 * Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize("suffix", ["png", "bmp", "webp", "tif"])
def test_rgb_round_trip(tmp_path: Path, rgb: np.ndarray, suffix: str) -> None:
    options = {"lossless": True} if suffix == "webp" else {}
    path = save_pillow(tmp_path / f"rgb.{suffix}", rgb, **options)
    image = load_image(path)
    check_loaded(image)
    np.testing.assert_array_equal(image.pixels, rgb)
    assert image.pixels.dtype == np.uint8
    assert image.alpha is None and image.mask is None
    assert image.source == str(path)


def test_rgb_png_matches_opencv(tmp_path: Path, rgb: np.ndarray) -> None:
    path = save_pillow(tmp_path / "rgb.png", rgb)
    np.testing.assert_array_equal(load_image(path).pixels, cv2_read(path))
    assert load_image(path).description == "PNG RGB 8-bit"


def test_gray_round_trip(tmp_path: Path, rgb: np.ndarray) -> None:
    gray = rgb[..., 0]
    image = load_image(save_pillow(tmp_path / "gray.png", gray))
    assert image.pixels.shape == gray.shape
    np.testing.assert_array_equal(image.pixels, gray)
    assert image.description == "PNG L 8-bit"


def test_rgba_splits_alpha_and_masks_transparent_pixels(tmp_path: Path, rgb: np.ndarray) -> None:
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[0, :3] = 0
    alpha[2, 2] = 128
    path = save_pillow(tmp_path / "rgba.png", np.dstack([rgb, alpha]))
    image = load_image(path)
    check_loaded(image)
    np.testing.assert_array_equal(image.pixels, rgb)
    np.testing.assert_array_equal(image.alpha, alpha)
    np.testing.assert_array_equal(image.mask, alpha != 0)
    np.testing.assert_array_equal(read_image(path), np.dstack([rgb, alpha]))


def test_opaque_alpha_is_kept_but_masks_nothing(tmp_path: Path, rgb: np.ndarray) -> None:
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    image = load_image(save_pillow(tmp_path / "opaque.png", np.dstack([rgb, alpha])))
    np.testing.assert_array_equal(image.alpha, alpha)
    assert image.mask is None


def test_gray_alpha(tmp_path: Path, rgb: np.ndarray) -> None:
    gray, alpha = rgb[..., 0], rgb[..., 1]
    path = save_pillow(tmp_path / "la.png", np.dstack([gray, alpha]))
    image = load_image(path)
    assert image.pixels.shape == gray.shape
    np.testing.assert_array_equal(image.pixels, gray)
    np.testing.assert_array_equal(image.alpha, alpha)
    assert read_image(path).shape == (*gray.shape, 2)
    np.testing.assert_array_equal(read_image(path), np.dstack([gray, alpha]))


def test_read_image_without_alpha_is_the_pixels(tmp_path: Path, rgb: np.ndarray) -> None:
    path = save_pillow(tmp_path / "rgb.png", rgb)
    np.testing.assert_array_equal(read_image(path), load_image(path).pixels)


def palette_image(rng: np.random.Generator) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    indices = rng.integers(0, 4, (6, 5), dtype=np.uint8)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    im = Image.fromarray(indices, mode="L").convert("P")
    im.putpalette(palette.ravel().tolist())
    return im, indices, palette


@pytest.mark.parametrize("suffix", ["png", "gif", "bmp"])
def test_palette_becomes_rgb(tmp_path: Path, rng: np.random.Generator, suffix: str) -> None:
    im, indices, palette = palette_image(rng)
    im.save(tmp_path / f"p.{suffix}")
    image = load_image(tmp_path / f"p.{suffix}")
    np.testing.assert_array_equal(image.pixels, palette[indices])
    assert image.alpha is None
    assert "P -> RGB 8-bit" in image.description


@pytest.mark.parametrize("suffix", ["png", "gif"])
def test_palette_with_transparency(tmp_path: Path, rng: np.random.Generator, suffix: str) -> None:
    im, indices, palette = palette_image(rng)
    im.save(tmp_path / f"p.{suffix}", transparency=2)
    image = load_image(tmp_path / f"p.{suffix}")
    np.testing.assert_array_equal(image.mask, indices != 2)
    np.testing.assert_array_equal(image.alpha, np.where(indices == 2, 0, 255))
    opaque = indices != 2
    np.testing.assert_array_equal(image.pixels[opaque], palette[indices][opaque])


def test_bilevel_becomes_0_255(tmp_path: Path, rng: np.random.Generator) -> None:
    bits = rng.random((9, 11)) > 0.5
    Image.fromarray(bits).save(tmp_path / "bits.png")
    image = load_image(tmp_path / "bits.png")
    assert image.pixels.dtype == np.uint8
    np.testing.assert_array_equal(image.pixels, np.where(bits, 255, 0))


def test_gray_colour_key_becomes_alpha(tmp_path: Path, rgb: np.ndarray) -> None:
    gray = rgb[..., 0].copy()
    gray[1, 1] = 7
    image = load_image(save_pillow(tmp_path / "key.png", gray, transparency=7))
    np.testing.assert_array_equal(image.pixels, gray)
    np.testing.assert_array_equal(image.mask, gray != 7)


def test_rgb_colour_key_becomes_alpha(tmp_path: Path, rgb: np.ndarray) -> None:
    rgb[2, 3] = rgb[0, 0] = (1, 2, 3)
    image = load_image(save_pillow(tmp_path / "key.png", rgb, transparency=(1, 2, 3)))
    key = (rgb == (1, 2, 3)).all(axis=-1)
    np.testing.assert_array_equal(image.pixels, rgb)
    np.testing.assert_array_equal(image.alpha, np.where(key, 0, 255))
    assert image.description == "PNG RGB -> RGBA 8-bit"


def test_16bit_gray_png(tmp_path: Path, rng: np.random.Generator) -> None:
    gray = rng.integers(0, 65536, (6, 9), dtype=np.uint16)
    path = save_pillow(tmp_path / "gray16.png", gray)  # Pillow writes I;16 as a 16-bit PNG
    image = load_image(path)
    assert image.pixels.dtype == np.uint16
    np.testing.assert_array_equal(image.pixels, gray)
    np.testing.assert_array_equal(image.pixels, cv2_read(path))


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_colour_png_keeps_16_bits(
    tmp_path: Path, rng: np.random.Generator, channels: int
) -> None:
    array = rng.integers(0, 65536, (6, 9, channels), dtype=np.uint16)
    path = tmp_path / "colour16.png"
    path.write_bytes(imagecodecs.png_encode(array))
    image = load_image(path)
    assert image.pixels.dtype == np.uint16  # Pillow alone would give 8 bits
    np.testing.assert_array_equal(image.pixels, array[..., :3])
    np.testing.assert_array_equal(read_image(path), cv2_read(path))
    if channels == 4:
        np.testing.assert_array_equal(image.alpha, array[..., 3])
        assert image.description == "PNG RGBA 16-bit"
    else:
        assert image.alpha is None
        assert image.description == "PNG RGB 16-bit"


def test_16bit_rgb_png_colour_key(tmp_path: Path, rng: np.random.Generator) -> None:
    array = rng.integers(0, 65536, (6, 9, 3), dtype=np.uint16)
    array[0, 0] = array[4, 5] = (65535, 1, 300)
    path = tmp_path / "key16.png"
    path.write_bytes(with_trns(imagecodecs.png_encode(array), struct.pack(">3H", 65535, 1, 300)))
    image = load_image(path)
    key = (array == (65535, 1, 300)).all(axis=-1)
    np.testing.assert_array_equal(image.pixels, array)
    assert image.alpha.dtype == np.uint16
    np.testing.assert_array_equal(image.alpha, np.where(key, 0, 65535))
    np.testing.assert_array_equal(image.mask, ~key)


def test_16bit_gray_png_colour_key(tmp_path: Path) -> None:
    gray = (np.arange(20, dtype=np.uint16) * 3000).reshape(4, 5)
    path = tmp_path / "key16.png"
    path.write_bytes(with_trns(imagecodecs.png_encode(gray), struct.pack(">H", 6000)))
    image = load_image(path)
    np.testing.assert_array_equal(image.pixels, gray)
    np.testing.assert_array_equal(image.mask, gray != 6000)
    assert image.description == "PNG L -> LA 16-bit"


def test_colour_key_alpha_without_png_decode_help() -> None:
    # png_decode applies tRNS itself today; the fallback computes the same alpha
    pixels = np.array([[[1, 2, 3], [1, 2, 4]]], np.uint16)
    np.testing.assert_array_equal(_pillow._key_alpha(pixels, (1, 2, 3)), [[0, 65535]])
    np.testing.assert_array_equal(_pillow._key_alpha(pixels[..., 0], 1), [[0, 0]])
    assert _pillow._key_alpha(pixels, None) is None


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_tiff_keeps_dtype(tmp_path: Path, rng: np.random.Generator, dtype: type) -> None:
    array = (rng.random((5, 6, 3)) * 60000).astype(dtype)
    tifffile.imwrite(tmp_path / "t.tif", array, photometric="rgb")
    image = load_image(tmp_path / "t.tif")
    assert image.pixels.dtype == dtype
    np.testing.assert_array_equal(image.pixels, array)


def test_16bit_tiff_matches_opencv(tmp_path: Path, rng: np.random.Generator) -> None:
    array = rng.integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "t.tif", array, photometric="rgb", compression="zlib")
    np.testing.assert_array_equal(
        load_image(tmp_path / "t.tif").pixels, cv2_read(tmp_path / "t.tif")
    )


def test_float32_gray_tiff(tmp_path: Path, rng: np.random.Generator) -> None:
    array = rng.standard_normal((7, 4)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", array)
    image = load_image(tmp_path / "f.tif")
    assert image.pixels.dtype == np.float32
    np.testing.assert_array_equal(image.pixels, array)
    with Image.open(tmp_path / "f.tif") as im:  # Pillow's own reading, mode F
        np.testing.assert_array_equal(image.pixels, np.asarray(im))


@pytest.mark.parametrize(("bands", "dtype"), [(4, np.uint8), (13, np.uint16), (2, np.uint8)])
def test_multiband_tiff_keeps_every_band(
    tmp_path: Path, rng: np.random.Generator, bands: int, dtype: type
) -> None:
    array = rng.integers(0, np.iinfo(dtype).max, (5, 6, bands), dtype=dtype)
    tifffile.imwrite(tmp_path / "b.tif", array, photometric="minisblack", planarconfig="contig")
    image = load_image(tmp_path / "b.tif")
    np.testing.assert_array_equal(image.pixels, array)
    assert image.alpha is None and image.mask is None
    assert image.description == f"TIFF {bands}-band {np.dtype(dtype)}"


def test_planar_separate_tiff(tmp_path: Path, rng: np.random.Generator) -> None:
    planes = rng.integers(0, 65536, (3, 5, 6), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "p.tif", planes, photometric="rgb", planarconfig="separate")
    with tifffile.TiffFile(tmp_path / "p.tif") as tif:
        assert tif.pages[0].planarconfig == 2
    np.testing.assert_array_equal(load_image(tmp_path / "p.tif").pixels, np.moveaxis(planes, 0, -1))


def test_tiff_unassociated_alpha(tmp_path: Path, rng: np.random.Generator) -> None:
    rgba = rng.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    rgba[0, 0, 3] = 0
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    image = load_image(tmp_path / "a.tif")
    np.testing.assert_array_equal(image.pixels, rgba[..., :3])
    np.testing.assert_array_equal(image.alpha, rgba[..., 3])
    np.testing.assert_array_equal(image.mask, rgba[..., 3] != 0)
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif"), rgba)


def test_tiff_associated_alpha_is_unpremultiplied(tmp_path: Path) -> None:
    straight = np.array([[[200, 100, 50], [10, 20, 30], [9, 9, 9]]], np.uint8)
    alpha = np.array([[255, 51, 0]], np.uint8)
    premultiplied = np.rint(straight * (alpha[..., None] / 255)).astype(np.uint8)
    data = np.dstack([premultiplied, alpha])
    tifffile.imwrite(tmp_path / "a.tif", data, photometric="rgb", extrasamples=["assocalpha"])
    image = load_image(tmp_path / "a.tif")
    np.testing.assert_array_equal(image.alpha, alpha)
    np.testing.assert_allclose(image.pixels[0, :2], straight[0, :2], atol=3)


def geotiff(path: Path, data: np.ndarray, nodata: str | None, **kwargs: object) -> Path:
    geokeys = (1, 1, 0, 1, 1024, 0, 1, 1)  # GeoKeyDirectory: one key, model type projected
    tags = [(34735, "H", len(geokeys), geokeys, True)]
    if nodata is not None:
        tags.append((42113, "s", 0, nodata, True))
    tifffile.imwrite(path, data, extratags=tags, **kwargs)
    return path


def test_geotiff_extra_band_is_data_and_nodata_is_masked(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    data = rng.integers(1, 256, (5, 6, 4), dtype=np.uint8)
    data[0, :2] = 0  # nodata in every band: excluded
    data[1, 1, :3] = 0  # nodata in three bands only: kept
    path = geotiff(tmp_path / "g.tif", data, "0", photometric="rgb", extrasamples=["unassalpha"])
    image = load_image(path)
    np.testing.assert_array_equal(image.pixels, data)
    assert image.alpha is None
    np.testing.assert_array_equal(image.mask, ~(data == 0).all(axis=-1))
    assert image.description == "TIFF 4-band uint8 (GeoTIFF)"


@pytest.mark.parametrize("nodata", [None, "-9999", "nan", "junk"])
def test_geotiff_without_matching_nodata_has_no_mask(
    tmp_path: Path, rng: np.random.Generator, nodata: str | None
) -> None:
    data = rng.integers(1, 256, (5, 6, 3), dtype=np.uint8)
    image = load_image(geotiff(tmp_path / "g.tif", data, nodata, photometric="rgb"))
    np.testing.assert_array_equal(image.pixels, data)
    assert image.mask is None


def test_geotiff_nan_nodata(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.random((5, 6)).astype(np.float32)
    data[2, 3] = np.nan
    image = load_image(geotiff(tmp_path / "g.tif", data, "nan"))
    assert not image.mask[2, 3] and image.mask.sum() == data.size - 1


def test_tiff_pages(tmp_path: Path, rng: np.random.Generator) -> None:
    pages = rng.integers(0, 256, (3, 4, 5), dtype=np.uint8)
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tif:
        for page in pages:
            tif.write(page)
    for index, page in enumerate(pages):
        image = load_image(tmp_path / "pages.tif", frame=index)
        np.testing.assert_array_equal(image.pixels, page)
        assert image.description.endswith(f"page {index} of 3")
    with pytest.raises(ImageReadError, match=r"pages\.tif: frame 3 out of range.* 3 frames"):
        load_image(tmp_path / "pages.tif", frame=3)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint32])
def test_integer_tiff_fits_uint16(tmp_path: Path, dtype: type) -> None:
    data = np.array([[0, 1, min(65535, np.iinfo(dtype).max)]], dtype)
    tifffile.imwrite(tmp_path / "i.tif", data)
    image = load_image(tmp_path / "i.tif")
    assert image.pixels.dtype == np.uint16
    np.testing.assert_array_equal(image.pixels, data)


def test_integer_tiff_out_of_uint16_becomes_float64(tmp_path: Path) -> None:
    data = np.array([[-5, 1, 70000]], np.int32)
    tifffile.imwrite(tmp_path / "i.tif", data)
    image = load_image(tmp_path / "i.tif")
    assert image.pixels.dtype == np.float64
    np.testing.assert_array_equal(image.pixels, data)


def test_supported_dtype_rules() -> None:
    assert _common._supported_dtype(np.array([True, False]), "x").tolist() == [255, 0]
    assert _common._supported_dtype(np.array([1], np.int8), "x").dtype == np.uint8
    assert _common._supported_dtype(np.array([1], np.float16), "x").dtype == np.float32
    swapped = np.array([1, 258], ">u2")
    assert _common._supported_dtype(swapped, "x").dtype.isnative
    assert _common._supported_dtype(swapped, "x").tolist() == [1, 258]


def test_miniswhite_tiff_is_inverted(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.integers(0, 256, (5, 6), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "w.tif", data, photometric="miniswhite")
    np.testing.assert_array_equal(load_image(tmp_path / "w.tif").pixels, 255 - data)
    with Image.open(tmp_path / "w.tif") as im:  # Pillow inverts 8-bit MINISWHITE too
        np.testing.assert_array_equal(load_image(tmp_path / "w.tif").pixels, np.asarray(im))


@pytest.mark.parametrize("mode", ["P", "CMYK", "LAB"])
def test_tiff_modes_pillow_reads(tmp_path: Path, rng: np.random.Generator, mode: str) -> None:
    if mode == "P":
        im, indices, palette = palette_image(rng)
        expected = palette[indices]
    else:
        im = Image.fromarray(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)).convert(mode)
        expected = np.asarray(im.convert("RGB"))
    im.save(tmp_path / "m.tif")
    image = load_image(tmp_path / "m.tif")
    assert image.description == f"TIFF {mode} -> RGB 8-bit"
    np.testing.assert_array_equal(image.pixels, expected)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path, rng: np.random.Generator) -> None:
    cmyk = Image.fromarray(rng.integers(0, 256, (8, 10, 4), dtype=np.uint8), mode="CMYK")
    cmyk.save(tmp_path / "cmyk.jpg", quality=95)
    image = load_image(tmp_path / "cmyk.jpg")
    assert image.pixels.shape == (8, 10, 3) and image.pixels.dtype == np.uint8
    assert image.description == "JPEG CMYK -> RGB 8-bit"
    with Image.open(tmp_path / "cmyk.jpg") as im:
        np.testing.assert_array_equal(image.pixels, np.asarray(im.convert("RGB")))


@pytest.mark.parametrize("mode", ["YCbCr", "HSV", "LAB"])
def test_other_colour_modes_become_rgb(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rgb: np.ndarray, mode: str
) -> None:
    # No common format stores HSV, so the conversion table is checked on an opened image
    im = Image.fromarray(rgb).convert(mode)
    pixels, alpha, conversion = _pillow._pillow_arrays(im, "x")
    np.testing.assert_array_equal(pixels, np.asarray(im.convert("RGB")))
    assert alpha is None and conversion == " -> RGB"


# --- EXIF orientation ---------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    rgba = np.arange(4 * 6 * 4, dtype=np.uint8).reshape(4, 6, 4)
    rgba[0, :, 3] = 0
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save_pillow(tmp_path / "o.png", rgba, exif=exif)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    image = load_image(path)
    check_loaded(image)
    np.testing.assert_array_equal(read_image(path), expected)
    np.testing.assert_array_equal(image.mask, expected[..., 3] != 0)
    assert image.pixels.shape[:2] == ((6, 4) if orientation >= 5 else (4, 6))


@pytest.mark.parametrize("orientation", [2, 6, 7])
def test_exif_orientation_jpeg_and_webp(tmp_path: Path, orientation: int) -> None:
    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[:8, :8] = 255  # a white corner shows where the top left went
    exif = Image.Exif()
    exif[0x0112] = orientation
    for name, options in [("o.jpg", {"quality": 95}), ("o.webp", {"lossless": True})]:
        path = save_pillow(tmp_path / name, rgb, exif=exif, **options)
        with Image.open(path) as im:
            expected = np.asarray(ImageOps.exif_transpose(im)).astype(int)
        assert np.abs(load_image(path).pixels.astype(int) - expected).max() == 0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_tiff_orientation_tag(tmp_path: Path, orientation: int) -> None:
    data = np.arange(4 * 6 * 3, dtype=np.uint16).reshape(4, 6, 3)
    tag = [(274, "H", 1, orientation, True)]
    tifffile.imwrite(tmp_path / "o.tif", data, photometric="rgb", extratags=tag)
    expected = _common._orient(data, orientation)
    np.testing.assert_array_equal(load_image(tmp_path / "o.tif").pixels, expected)
    # the same transform Pillow applies to the 8-bit version of the file
    tifffile.imwrite(tmp_path / "o8.tif", data.astype(np.uint8), photometric="rgb", extratags=tag)
    with Image.open(tmp_path / "o8.tif") as im:
        pillow = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(load_image(tmp_path / "o8.tif").pixels, pillow)


@pytest.mark.parametrize("orientation", [0, 1, 9, -3, "6", (6,), None, 6.0])
def test_orientation_out_of_range_changes_nothing(orientation: object) -> None:
    array = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(_common._orient(array, orientation), array)


def test_orientation_6_turns_clockwise() -> None:
    array = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(_common._orient(array, np.uint16(6)), np.rot90(array, -1))


# --- animations -----------------------------------------------------------------------------


COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


@pytest.mark.parametrize("suffix", ["gif", "webp"])
def test_animation_frames(tmp_path: Path, suffix: str) -> None:
    frames = [Image.new("RGB", (5, 4), colour) for colour in COLOURS]
    path = tmp_path / f"anim.{suffix}"
    options = {"lossless": True} if suffix == "webp" else {}
    frames[0].save(path, save_all=True, append_images=frames[1:], **options)
    for index, colour in enumerate(COLOURS):
        image = load_image(path, frame=index)
        np.testing.assert_array_equal(image.pixels, np.broadcast_to(colour, (4, 5, 3)))
        assert image.description.endswith(f"frame {index} of 3")
    with pytest.raises(ImageReadError, match=r"anim\..*: frame 3 out of range: .*3 frames"):
        load_image(path, frame=3)


def test_single_frame_out_of_range(tmp_path: Path, rgb: np.ndarray) -> None:
    path = save_pillow(tmp_path / "one.png", rgb)
    with pytest.raises(ImageReadError, match=r"one\.png: frame 1 out of range: the file has 1 fr"):
        load_image(path, frame=1)


# --- errors -----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match=r"nope\.png: no such file"):
        load_image(tmp_path / "nope.png")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="is a directory, not an image file"):
        load_image(tmp_path)


def test_permission_denied(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rgb: np.ndarray
) -> None:
    path = save_pillow(tmp_path / "locked.png", rgb)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(_common, "open", refuse, raising=False)
    with pytest.raises(ImageReadError, match=r"locked\.png: permission denied"):
        load_image(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_on_disk(tmp_path: Path, rgb: np.ndarray) -> None:
    path = save_pillow(tmp_path / "locked.png", rgb)
    path.chmod(0)
    with pytest.raises(ImageReadError, match=r"locked\.png: permission denied"):
        load_image(path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").touch()
    with pytest.raises(ImageReadError, match=r"empty\.jpg: empty file \(0 bytes\)"):
        load_image(tmp_path / "empty.jpg")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hello, not an image\n", "not an image file Pillow or tifffile can read"),
        (b"\x89PNG\r\n\x1a\n", "not an image file Pillow or tifffile can read"),
        (b"II*\x00garbage", "truncated or corrupt image data: no image in the TIFF file"),
        (b"MM\x00*\x00", "truncated or corrupt image data: "),
    ],
)
def test_not_an_image(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "notes.png").write_bytes(content)
    with pytest.raises(ImageReadError, match=rf"notes\.png: {message}"):
        load_image(tmp_path / "notes.png")


def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ImageReadError, match=r"notes\.txt: not an image file Pillow or tifffile"):
        load_image(tmp_path / "notes.txt")


@pytest.mark.parametrize("kind", ["png", "jpg", "png16", "tif"])
def test_truncated(tmp_path: Path, rng: np.random.Generator, kind: str) -> None:
    array = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / f"cut.{kind[:3]}"
    if kind == "png16":
        path.write_bytes(imagecodecs.png_encode(array.astype(np.uint16) * 257))
    elif kind == "tif":
        tifffile.imwrite(path, array, photometric="rgb", compression="zlib")
    else:
        save_pillow(path, array)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageReadError, match=r"cut\.\w+: truncated or corrupt image data: \w"):
        load_image(path)


def test_zero_size(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tifffile warns that such a file is nonconformant
        tifffile.imwrite(tmp_path / "zero.tif", np.zeros((0, 5), np.uint8))
    with pytest.raises(ImageReadError, match=r"zero\.tif: zero width or height"):
        load_image(tmp_path / "zero.tif")


@pytest.mark.parametrize(
    ("code", "name", "values"),
    [
        (256, "ImageWidth", (5, 9)),
        (257, "ImageLength", (4, 9)),  # tifffile itself fails on this one (TypeError)
        (277, "SamplesPerPixel", (3, 3)),
        (259, "Compression", (1, 5)),
        (262, "PhotometricInterpretation", (2, 1)),
        (284, "PlanarConfiguration", (1, 2)),
    ],
)
def test_tiff_tag_with_several_values(tmp_path: Path, code: int, name: str, values: tuple) -> None:
    path = tiny_tiff(tmp_path / "t.tif", code=code, values=values)
    shown = ", ".join(map(str, values))
    message = rf"t\.tif: corrupt TIFF: the {name} tag holds several values \({shown}\)$"
    with pytest.raises(ImageReadError, match=message):
        load_image(path)
    with pytest.raises(ImageReadError, match=message):  # the CLI asks first (--chunked or not)
        raster_info(path)


def test_tiff_bits_per_sample_with_several_values(tmp_path: Path) -> None:
    """BitsPerSample with one value per sample, not all equal (a fuzzed file; or 5-6-5 RGB)."""
    path = tiny_tiff(tmp_path / "fuzz.tif", code=258, values=(8980, 6020, 32538))
    with pytest.raises(ImageReadError, match=r"fuzz\.tif: corrupt TIFF: the BitsPerSample tag "
                                             r"holds several values \(8980, 6020, 32538\)$"):
        load_image(path)
    path = tiny_tiff(tmp_path / "565.tif", code=258, values=(5, 6, 5))
    with pytest.raises(ImageReadError, match=r"565\.tif: unsupported TIFF \(samples of different "
                                             r"kinds\): the BitsPerSample tag holds several"):
        load_image(path)
    same = tiny_tiff(tmp_path / "same.tif", code=258, values=(8, 8, 8))  # one per sample: fine
    assert load_image(same).pixels.shape == (4, 5, 3)


@pytest.mark.parametrize(("code", "name"), [(256, "ImageWidth"), (257, "ImageLength")])
def test_tiff_without_dimensions(tmp_path: Path, code: int, name: str) -> None:
    path = tiny_tiff(tmp_path / "t.tif", code=code, new_code=65000)
    with pytest.raises(ImageReadError, match=rf"t\.tif: TIFF without image dimensions: no {name} "):
        load_image(path)


def test_tiff_page_without_dimensions_for_pillow(tmp_path: Path) -> None:
    """A palette TIFF (read by Pillow, which goes through every page) whose second page has no
    size: Pillow would raise TypeError (and warn) on it, even to read page 0."""
    im = Image.fromarray(np.arange(20, dtype=np.uint8).reshape(4, 5)).convert("P")
    im.save(tmp_path / "p.tif", save_all=True, append_images=[im])
    path = tmp_path / "p.tif"
    path.write_bytes(patch_tiff_tag(path.read_bytes(), 256, new_code=65000, page=1))
    message = r"p\.tif: TIFF without image dimensions: no ImageWidth tag \(page 1 of 2\)$"
    with pytest.raises(ImageReadError, match=message):
        load_image(path)


def test_tiff_with_no_sample_per_pixel(tmp_path: Path) -> None:
    path = tiny_tiff(tmp_path / "t.tif", code=277, values=(0,))
    with pytest.raises(ImageReadError, match=r"t\.tif: corrupt TIFF: the SamplesPerPixel tag "
                                             r"holds 0 \(an image without any band\)"):
        load_image(path)


def test_tiff_with_one_sample_per_pixel_declared_rgb(tmp_path: Path) -> None:
    path = tiny_tiff(tmp_path / "t.tif", code=277, values=(1,))  # RGB with one sample: gray
    assert load_image(path).pixels.shape == (4, 5)


def test_never_a_0_band_image(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rgb: np.ndarray
) -> None:
    """Whatever a decoder gives, load_image returns at least one band (segment indexes it)."""
    path = save_pillow(tmp_path / "x.png", rgb)
    empty = np.zeros((5, 7, 0), np.uint8)
    monkeypatch.setattr(_pillow, "_pillow_arrays", lambda im, source: (empty, None, ""))
    with pytest.raises(ImageReadError, match=r"x\.png: image without any band .*\(5, 7, 0\)"):
        load_image(path)


def test_pillow_type_error_and_warnings_become_the_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rgb: np.ndarray
) -> None:
    """What Pillow raises on a malformed header (TypeError) is an ImageReadError, completed by
    the first warning Pillow gave on the way; the warnings never escape (-W error here)."""
    path = save_pillow(tmp_path / "x.png", rgb)
    arrays = _pillow._pillow_arrays

    def failing(im: Image.Image, source: str) -> object:
        warnings.warn("Tag data larger than file. Skipping tag 0", UserWarning, stacklevel=1)
        raise TypeError("Missing dimensions")

    monkeypatch.setattr(_pillow, "_pillow_arrays", failing)
    with pytest.raises(ImageReadError, match=r"x\.png: truncated or corrupt image data: Missing "
                                             r"dimensions \(Pillow warned: Tag data larger"):
        load_image(path)

    def warning(im: Image.Image, source: str) -> object:
        warnings.warn("Corrupt EXIF data", UserWarning, stacklevel=1)
        return arrays(im, source)

    monkeypatch.setattr(_pillow, "_pillow_arrays", warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load_image(path).pixels, rgb)


def test_tifffile_log_is_held_back_while_kmseg_reads(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """tifffile logs what it skips in a malformed file (hundreds of lines in a fuzzed one):
    kmseg's read says one thing, and tifffile logs as before outside it."""
    path = tiny_tiff(tmp_path / "t.tif", code=258, values=(8, 8, 8))  # after the file's end
    path.write_bytes(path.read_bytes()[:-6])  # now past it: tifffile logs, skips the tag
    with caplog.at_level(logging.DEBUG, logger="tifffile"):
        with pytest.raises(ImageReadError, match=r"t\.tif: "):
            load_image(path)
        assert not [r for r in caplog.records if r.name == "tifffile"]
        with tifffile.TiffFile(path):
            pass
        assert [r for r in caplog.records if r.name == "tifffile"]


def test_unsupported_sample_type(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((3, 4), np.complex64))
    with pytest.raises(ImageReadError, match=r"c\.tif: unsupported sample type complex64"):
        load_image(tmp_path / "c.tif")


def test_unsupported_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rgb: np.ndarray) -> None:
    monkeypatch.setattr(_pillow, "_PILLOW_NATIVE", frozenset())  # as if Pillow had a new mode
    with pytest.raises(ImageReadError, match=r"u\.png: unsupported image mode 'RGB'"):
        load_image(save_pillow(tmp_path / "u.png", rgb))


@pytest.mark.parametrize("frame", [-1, 1.0, "0", True, None])
def test_bad_frame(tmp_path: Path, rgb: np.ndarray, frame: object) -> None:
    path = save_pillow(tmp_path / "x.png", rgb)
    with pytest.raises(ParameterError, match="frame must be"):
        load_image(path, frame=frame)


@pytest.mark.parametrize("max_pixels", [0, -1, 1.5, "100", True])
def test_bad_max_pixels(tmp_path: Path, rgb: np.ndarray, max_pixels: object) -> None:
    path = save_pillow(tmp_path / "x.png", rgb)
    with pytest.raises(ParameterError, match="max_pixels must be a positive int"):
        load_image(path, max_pixels=max_pixels)


def test_bad_path_type() -> None:
    with pytest.raises(ParameterError, match=r"path must be a str or os\.PathLike"):
        load_image(42)


def test_numpy_integer_frame(tmp_path: Path, rgb: np.ndarray) -> None:
    path = save_pillow(tmp_path / "x.png", rgb)
    np.testing.assert_array_equal(load_image(str(path), frame=np.int64(0)).pixels, rgb)


# --- decompression bombs ----------------------------------------------------------------------


def make_20x20(tmp_path: Path, kind: str) -> Path:
    array = np.zeros((20, 20, 3), np.uint8)
    path = tmp_path / f"img20.{kind[:3]}"
    if kind == "tif":
        tifffile.imwrite(path, array, photometric="rgb")
    elif kind == "png16":
        path.write_bytes(imagecodecs.png_encode(array.astype(np.uint16)))
    else:
        save_pillow(path, array)
    return path


@pytest.mark.parametrize("kind", ["png", "jpg", "gif", "tif", "png16"])
def test_max_pixels(tmp_path: Path, kind: str) -> None:
    path = make_20x20(tmp_path, kind)
    message = (
        r"img20\.\w+: 20x20 = 400 pixels exceeds the decompression-bomb limit of 100 pixels; "
        r"pass max_pixels=None \(CLI: --max-pixels 0\) to lift it"
    )
    with pytest.raises(ImageReadError, match=message):
        load_image(path, max_pixels=100)
    assert load_image(path, max_pixels=400).pixels.shape == (20, 20, 3)
    assert load_image(path, max_pixels=None).pixels.shape == (20, 20, 3)


def test_lifting_the_limit_restores_pillows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    path = make_20x20(tmp_path, "png")  # 400 pixels: beyond Pillow's 2 * 50
    for max_pixels in (None, 1000, DEFAULT_MAX_PIXELS):
        assert load_image(path, max_pixels=max_pixels).pixels.shape == (20, 20, 3)
        assert Image.MAX_IMAGE_PIXELS == 50
    noise = np.random.default_rng(0).integers(0, 256, (20, 20), dtype=np.uint8)
    cut = save_pillow(tmp_path / "cut.png", noise)
    cut.write_bytes(cut.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="truncated"):
        load_image(tmp_path / "cut.png", max_pixels=None)
    assert Image.MAX_IMAGE_PIXELS == 50


def test_pillows_own_limit_stays_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    save_pillow(tmp_path / "warns.png", np.zeros((12, 12), np.uint8))  # 144: Pillow warns
    assert load_image(tmp_path / "warns.png", max_pixels=150).pixels.shape == (12, 12)
    save_pillow(tmp_path / "bomb.png", np.zeros((15, 15), np.uint8))  # 225: Pillow raises
    with pytest.raises(ImageReadError, match=r"bomb\.png: 15x15 = 225 pixels exceeds .* 150 "):
        load_image(tmp_path / "bomb.png", max_pixels=150)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_a_tiny_icon_bomb_is_refused_without_allocating_it(tmp_path: Path) -> None:
    """An ICO whose bitmap claims 65535 x 65535: Pillow allocates such a frame as it opens the
    file, so once its limit trips the file is not opened again (2.1 GB and 3 s before)."""
    buffer = io.BytesIO()
    Image.new("1", (16, 16)).save(buffer, "ICO", sizes=[(16, 16)], bitmap_format="bmp")
    data = bytearray(buffer.getvalue())
    bitmap = struct.unpack_from("<I", data, 18)[0]
    struct.pack_into("<ii", data, bitmap + 4, 65535, 65535)
    (tmp_path / "icon.ico").write_bytes(bytes(data))
    if not Path("/proc/self/status").exists():
        pytest.skip("the peak memory of a process is read from /proc (Linux)")
    # VmHWM: this process's own peak (ru_maxrss would carry the parent's across exec).
    code = ("import re, sys, kmseg\n"
            "try:\n    kmseg.load_image(sys.argv[1], max_pixels=2**22)\n"
            "except kmseg.ImageTooLargeError as error:\n    print(error)\n"
            "status = open('/proc/self/status').read()\n"
            "print(int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) // 1024)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "icon.ico")],
                            capture_output=True, text=True, check=True)
    message, peak_mb = result.stdout.splitlines()
    assert "icon.ico: 4,294,836,225 pixels exceeds the decompression-bomb limit of 4,194,304" \
        in message  # the caller's limit, not Pillow's
    assert int(peak_mb) < 400


def test_many_bands_count_against_the_limit(tmp_path: Path) -> None:
    # 16 pixels, within max_pixels, but 80 values: more than 4 per pixel allowed.
    path = tmp_path / "bands.tif"
    tifffile.imwrite(path, np.zeros((5, 4, 4), np.uint8), planarconfig="separate")
    with pytest.raises(ImageReadError, match=r"bands\.tif: 4x4 pixels x 5 samples = 80 values "
                                             r"exceeds the decompression-bomb limit of 64 values"):
        load_image(path, max_pixels=16)
    tifffile.imwrite(path, np.zeros((1025, 2, 2), np.uint8), planarconfig="separate")
    with pytest.raises(ImageReadError, match=r"1,025 samples per pixel \(kmseg reads at most "):
        load_image(path)


def test_tiles_far_larger_than_the_image_are_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "tiles.tif"
    tifffile.imwrite(path, np.zeros((32, 32), np.uint8), tile=(16, 16))
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].tags[322].valueoffset  # TileWidth, a SHORT or LONG
        size = tif.pages[0].tags[322].valuebytecount
    data = bytearray(path.read_bytes())
    data[offset:offset + size] = (1 << (8 * size - 1)).to_bytes(size, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"tiles\.tif: corrupt TIFF: tiles of \d+x16 for an "
                                             r"image of 32x32"):
        load_image(path)


@pytest.mark.parametrize("tag", ["rowsperstrip", "tile"])
def test_strips_or_tiles_of_no_rows_are_corrupt(tmp_path: Path, tag: str) -> None:
    path = tmp_path / "zero_rows.tif"
    if tag == "tile":
        tifffile.imwrite(path, np.zeros((32, 32), np.uint8), tile=(16, 16))
        code, name = 323, "TileLength"
    else:
        tifffile.imwrite(path, np.zeros((32, 32), np.uint8), rowsperstrip=8)
        code, name = 278, "RowsPerStrip"
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].tags[code].valueoffset
        size = tif.pages[0].tags[code].valuebytecount
    data = bytearray(path.read_bytes())
    data[offset:offset + size] = bytes(size)
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=rf"zero_rows\.tif: corrupt TIFF: the {name} tag "
                                             r"holds 0"):
        load_image(path)


def test_pillow_bomb_message_without_size() -> None:
    error = Image.DecompressionBombError("Image size (5000 pixels) exceeds limit of 20 pixels, x")
    assert str(_common._pillow_bomb(error, "f.gif")) == (
        "f.gif: 5,000 pixels exceeds the decompression-bomb limit of 20 pixels; "
        "pass max_pixels=None (CLI: --max-pixels 0) to lift it"
    )


# --- the input is only read -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["png", "jpg", "tif", "png16", "gif"])
def test_input_file_unchanged(tmp_path: Path, kind: str) -> None:
    path = make_20x20(tmp_path, kind)
    before, mtime = sha256(path), path.stat().st_mtime_ns
    read_image(path)
    assert sha256(path) == before and path.stat().st_mtime_ns == mtime
    assert sorted(tmp_path.iterdir()) == [path]


def test_bundled_photo() -> None:
    from importlib.resources import files

    image = load_image(files("kmseg") / "data" / "coffee.jpg")
    check_loaded(image)
    assert image.pixels.shape == (400, 600, 3)
    assert isinstance(image.source, str) and image.source.endswith("coffee.jpg")


# --- the shared corpus --------------------------------------------------------------------------


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_loads_or_raises_image_read_error(corpus_dir: Path, name: str) -> None:
    try:
        image = load_image(corpus_dir / name)
    except ImageReadError as error:
        assert name.split("/")[1] in str(error) and "\n" not in str(error)
        return
    check_loaded(image)


def test_corpus_exif_landscapes(corpus_dir: Path) -> None:
    upright = load_image(corpus_dir / "odd" / "exif_Landscape_1.jpg").pixels.astype(int)
    assert upright.shape == (1200, 1800, 3)
    for orientation in range(9):
        image = load_image(corpus_dir / "odd" / f"exif_Landscape_{orientation}.jpg")
        assert image.pixels.shape == (1200, 1800, 3)
        assert np.abs(image.pixels.astype(int) - upright).mean() < 20, orientation


@pytest.mark.parametrize(
    "name", ["exif_orient3_png_eXIf.png", "exif_orient6_grayscale_portrait.jpg"]
)
def test_corpus_orientation_matches_pillow(corpus_dir: Path, name: str) -> None:
    with Image.open(corpus_dir / "odd" / name) as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(load_image(corpus_dir / "odd" / name).pixels, expected)


def test_corpus_16bit_png(corpus_dir: Path) -> None:
    image = load_image(corpus_dir / "odd" / "png16_rgb_photo.png")
    assert image.pixels.dtype == np.uint16 and image.pixels.shape == (442, 290, 3)
    assert np.any(image.pixels % 257)  # not 8-bit values scaled up
    np.testing.assert_array_equal(
        image.pixels, cv2_read(corpus_dir / "odd" / "png16_rgb_photo.png")
    )


def test_corpus_16bit_png_colour_key(corpus_dir: Path) -> None:
    image = load_image(corpus_dir / "odd" / "png16_rgb_trns_pngsuite.png")
    key = (image.pixels == 65535).all(axis=-1)  # Pillow: transparency (65535, 65535, 65535)
    assert image.pixels.dtype == image.alpha.dtype == np.uint16
    assert key.any()
    np.testing.assert_array_equal(image.mask, ~key)
    np.testing.assert_array_equal(image.alpha, np.where(key, 0, 65535))


def test_corpus_tiffs(corpus_dir: Path) -> None:
    odd = corpus_dir / "odd"
    gray = load_image(odd / "tiff16_gray_goes_watervapour.tiff")
    assert gray.pixels.dtype == np.uint16 and gray.pixels.shape == (400, 1800)
    with Image.open(odd / "tiff16_gray_goes_watervapour.tiff") as im:  # I;16B
        np.testing.assert_array_equal(gray.pixels, np.asarray(im))
    colour = load_image(odd / "tiff16_rgb.tiff")
    assert colour.pixels.dtype == np.uint16 and colour.pixels.shape == (40, 100, 3)
    np.testing.assert_array_equal(colour.pixels, cv2_read(odd / "tiff16_rgb.tiff"))
    ct = load_image(odd / "tiff_float32_ct.tiff")  # MINISWHITE float: values kept as stored
    with Image.open(odd / "tiff_float32_ct.tiff") as im:
        np.testing.assert_array_equal(ct.pixels, np.asarray(im))


def test_corpus_naip_keeps_nir_band(corpus_dir: Path) -> None:
    path = corpus_dir / "multiband" / "naip_rgbn_m_4709963_se_14_1_20200831.tif"
    image = load_image(path)
    assert image.pixels.shape == (723, 934, 4) and image.pixels.dtype == np.uint8
    assert image.alpha is None and image.mask is None
    with Image.open(path) as im:  # Pillow calls the NIR band alpha, but the values are the same
        np.testing.assert_array_equal(image.pixels, np.asarray(im))
    assert load_image(path, frame=1).pixels.shape == (362, 467, 4)  # the overview page


def test_corpus_landsat_nodata_collar(corpus_dir: Path) -> None:
    path = corpus_dir / "multiband" / "landsat7_RGB.byte.tif"
    image = load_image(path)
    assert image.pixels.shape == (718, 791, 3)
    with Image.open(path) as im:
        collar = (np.asarray(im) == 0).all(axis=-1)
    assert collar.sum() > 100_000
    np.testing.assert_array_equal(image.mask, ~collar)
    landsat8 = load_image(corpus_dir / "multiband" / "landsat8_rgb16.tif")  # no nodata tag
    assert landsat8.pixels.dtype == np.uint16 and landsat8.mask is None


@pytest.mark.parametrize(
    "name",
    ["bomb_65536x65536.png", "bomb_decompression.gif", "bomb_decompression.ico",
     "bomb_giant_20000x14000.jpg"],
)  # fmt: skip
def test_corpus_bombs(corpus_dir: Path, name: str) -> None:
    with pytest.raises(ImageReadError, match=rf"{name}: .* exceeds the decompression-bomb limit"):
        load_image(corpus_dir / "odd" / name)


def test_corpus_giant_jpeg_names_its_size(corpus_dir: Path) -> None:
    with pytest.raises(ImageReadError, match=r"20000x14000 = 280,000,000 pixels exceeds .*178,95"):
        load_image(corpus_dir / "odd" / "bomb_giant_20000x14000.jpg")


def test_corpus_gif_extents_bomb_is_in_frame_1(corpus_dir: Path) -> None:
    path = corpus_dir / "odd" / "bomb_decompression_extents.gif"
    assert load_image(path).pixels.shape == (100, 100, 3)
    with pytest.raises(ImageReadError, match="exceeds the decompression-bomb limit"):
        load_image(path, frame=1)


@pytest.mark.parametrize(
    "name",
    ["truncated_image.png", "truncated_photo_10000B.jpg", "truncated_progressive.jpg",
     "corrupt_header.jpg"],
)  # fmt: skip
def test_corpus_truncated(corpus_dir: Path, name: str) -> None:
    with pytest.raises(ImageReadError, match=rf"{name}: truncated or corrupt image data"):
        load_image(corpus_dir / "odd" / name)


def test_corpus_malformed_tiffs(corpus_dir: Path) -> None:
    """Pillow's crash and fuzz files: one plain ImageReadError each, no warning, no TypeError."""
    odd = corpus_dir / "odd"
    with pytest.raises(ImageReadError, match=r"tiff_crash_missing_dimensions\.tif: TIFF without "
                                             r"image dimensions: no ImageWidth or ImageLength"):
        load_image(odd / "tiff_crash_missing_dimensions.tif")
    with pytest.raises(ImageReadError, match=r"tiff_fuzz_size_tag_two_values\.tif: corrupt TIFF: "
                                             r"the BitsPerSample tag holds several values"):
        load_image(odd / "tiff_fuzz_size_tag_two_values.tif")


def test_corpus_transparency(corpus_dir: Path) -> None:
    dice = load_image(corpus_dir / "odd" / "rgba_transparent_dice.png")
    assert not dice.mask.all()
    np.testing.assert_array_equal(dice.mask, dice.alpha != 0)
    toucan = load_image(corpus_dir / "odd" / "palette_trns_interlaced_toucan.png")
    with Image.open(corpus_dir / "odd" / "palette_trns_interlaced_toucan.png") as im:
        np.testing.assert_array_equal(read_image(toucan.source), np.asarray(im.convert("RGBA")))
    assert read_image(corpus_dir / "odd" / "la_grey_alpha.png").shape == (300, 400, 2)


@pytest.mark.parametrize(
    "name", ["cmyk_photo_with_icc.jpg", "cmyk_photo_no_profile.jpg", "cmyk_adobe_pil_sample.jpg"]
)
def test_corpus_cmyk(corpus_dir: Path, name: str) -> None:
    image = load_image(corpus_dir / "odd" / name)
    assert image.pixels.dtype == np.uint8 and image.pixels.shape[2] == 3
    if name != "cmyk_adobe_pil_sample.jpg":
        assert image.pixels.shape == (333, 500, 3)
    assert ("(ICC)" in image.description) == (name == "cmyk_photo_with_icc.jpg")


def test_corpus_cmyk_icc_is_applied(corpus_dir: Path) -> None:
    with_icc = load_image(corpus_dir / "odd" / "cmyk_photo_with_icc.jpg").pixels.astype(int)
    plain = load_image(corpus_dir / "odd" / "cmyk_photo_no_profile.jpg").pixels.astype(int)
    assert 2 < np.abs(with_icc - plain).mean() < 40  # same picture, different conversion


def test_corpus_animations(corpus_dir: Path) -> None:
    gif = corpus_dir / "odd" / "animated_video_42frames.gif"
    image = load_image(gif, frame=41)
    assert image.pixels.shape == (245, 245, 3) and image.description.endswith("frame 41 of 42")
    with Image.open(gif) as im:
        im.seek(41)
        np.testing.assert_array_equal(image.pixels, np.asarray(im.convert("RGB")))
    with pytest.raises(ImageReadError, match="frame 42 out of range: the file has 42 frames"):
        load_image(gif, frame=42)
    webp = load_image(corpus_dir / "odd" / "animated_rgba_42frames.webp", frame=10)
    assert webp.alpha is not None and webp.pixels.shape == (245, 245, 3)


def test_corpus_skimage_agrees(corpus_dir: Path) -> None:
    from skimage import io as skio

    for name in ["rgba_transparent_dice.png", "gray_photo.jpg", "webp_rgba.webp"]:
        np.testing.assert_array_equal(
            read_image(corpus_dir / "odd" / name), skio.imread(corpus_dir / "odd" / name)
        )


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageReadError, match=r"pipe\.png: not a regular file"):
        load_image(fifo)
