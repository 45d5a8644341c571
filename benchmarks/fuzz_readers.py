"""A seeded mutation fuzzer for kmseg's image readers (the engine of tests/test_fuzz.py).

    python benchmarks/fuzz_readers.py [--cases 20000] [--workers 2] [--seed 0] [--only GLOBS]
                                      [--findings DIR] [--case-timeout 30] [--all-odd]
    python benchmarks/fuzz_readers.py [--seed 0] [--only GLOB] --repro SEED_FILE_NAME CASE
                                      [--write FILE]

Every case takes one seed file (the small files of ../shared/data/corpus/odd, and small files of
many formats derived from a crop of one of them, written to a temporary folder), mutates its
bytes (byte flips, random runs, truncation, PNG chunks and JPEG segments removed, duplicated or
edited with their sizes, TIFF tags with absurd counts, types, offsets and values, header size
fields set to 0 or huge, ...) with ``random.Random`` seeded by (``--seed``, seed file, case
number), writes the bytes to a file and calls :func:`kmseg.load_image` (``max_pixels`` 2**22)
and, when it loads, :func:`kmseg.segment` with ``k=3``. The outcome of a case is ``ok``, a
:class:`kmseg.KmsegError` (by subclass), or a failure: any other exception (warnings are errors,
as under pytest's ``filterwarnings = error``), a hang (no answer within ``--case-timeout``
seconds) or a crash of the worker process (a signal). Cases run in worker processes, one per
core; a worker that hangs or dies is replaced and the next case goes on.

Prints a table of the outcomes by class and the time, then one block per failure class
(exception type, message, innermost kmseg frame, innermost decoder frame, cases). ``--findings
DIR`` saves the mutated bytes of the first case of each failure class there. ``--repro`` runs one
case in this process, with the traceback.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fnmatch
import io
import json
import os
import queue
import random
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ODD = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus" / "odd"
MAX_PIXELS = 2**22
# The odd files used as seeds by default: every one of at most this many bytes (the larger
# photos decode and segment too slowly for thousands of cases).
SEED_MAX_BYTES = 100_000
# The photo the derived seeds are cropped from (an odd file), and the crop's size.
DERIVE_FROM = "progressive_puppies.jpg"
CROP = (40, 28)  # width, height

# --- seeds ------------------------------------------------------------------------------------


def odd_seeds(odd: Path = ODD, max_bytes: int | None = SEED_MAX_BYTES) -> list[Path]:
    """The shared odd files used as seeds (those of at most ``max_bytes``; None: all)."""
    return sorted(p for p in odd.iterdir()
                  if p.is_file() and (max_bytes is None or p.stat().st_size <= max_bytes))


def derive_seeds(odd: Path, out: Path) -> list[Path]:
    """Small files of many formats and layouts, from a crop of an odd photo, written to ``out``.

    Deterministic for given Pillow, tifffile, imagecodecs and pillow-heif versions; a format
    whose encoder is not installed (AVIF, JPEG 2000, JPEG XL, HEIC) is left out, which changes
    which seed a case number takes (cases go round the sorted seeds).
    """
    import imagecodecs
    import numpy as np
    import tifffile
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    with Image.open(odd / DERIVE_FROM) as im:
        rgb = im.convert("RGB").crop((100, 60, 100 + CROP[0], 60 + CROP[1]))
    arr = np.asarray(rgb)
    gray = np.asarray(rgb.convert("L"))
    alpha = np.linspace(0, 255, arr.shape[0] * arr.shape[1]).astype(np.uint8).reshape(gray.shape)
    rgba = np.dstack([arr, alpha])
    g16 = gray.astype(np.uint16) * 257
    rgb16 = arr.astype(np.uint16) * 257
    f32 = gray.astype(np.float32) / 255
    written: list[Path] = []

    def pil(name: str, image: Image.Image, **kw: object) -> None:
        path = out / name
        image.save(path, **kw)
        written.append(path)

    def tif(name: str, data: object, **kw: object) -> None:
        path = out / name
        tifffile.imwrite(path, data, **kw)
        written.append(path)

    def raw(name: str, data: bytes) -> None:
        path = out / name
        path.write_bytes(data)
        written.append(path)

    pal = rgb.quantize(16)
    frames = [rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    exif = Image.Exif()
    exif[0x0112] = 6
    pil("d_rgb.png", rgb)
    pil("d_rgba.png", Image.fromarray(rgba))
    pil("d_palette_trns.png", pal, transparency=0)
    pil("d_gray16.png", Image.fromarray(g16))
    pil("d_bilevel.png", rgb.convert("1"))
    pil("d_apng.png", frames[0], save_all=True, append_images=frames[1:], duration=50)
    pil("d_exif6.png", rgb, exif=exif)
    raw("d_rgb16.png", imagecodecs.png_encode(rgb16))
    raw("d_rgba16.png", imagecodecs.png_encode(np.dstack([rgb16, g16])))
    pil("d_baseline.jpg", rgb, quality=80)
    pil("d_progressive_exif6.jpg", rgb, quality=80, progressive=True, exif=exif)
    pil("d_gray.jpg", rgb.convert("L"), quality=80)
    pil("d_cmyk.jpg", rgb.convert("CMYK"), quality=80)
    pil("d_subsampled.jpg", rgb, quality=50, subsampling=2)
    pil("d_anim.gif", frames[0], save_all=True, append_images=frames[1:], duration=50, loop=0)
    pil("d_palette.gif", pal)
    pil("d_lossy.webp", rgb, quality=60)
    pil("d_lossless_rgba.webp", Image.fromarray(rgba), lossless=True)
    pil("d_anim.webp", frames[0], save_all=True, append_images=frames[1:], duration=50)
    with contextlib.suppress(Exception):  # Pillow built without AVIF
        pil("d_rgb.avif", rgb, quality=50, speed=10)
    pil("d_rgb.bmp", rgb)
    pil("d_palette.bmp", pal)
    pil("d_rgba.bmp", Image.fromarray(rgba))
    pil("d_rgb.ico", rgb, sizes=[(16, 16), (32, 32)])
    pil("d_rgb.tga", rgb)
    pil("d_rgb.ppm", rgb)
    pil("d_rgb.pcx", rgb)
    with contextlib.suppress(Exception):  # Pillow built without OpenJPEG
        pil("d_rgb.jp2", rgb)
    pil("d_rgb.qoi", rgb)
    # TIFF by Pillow (libtiff): palette, CMYK, bilevel, JPEG-compressed YCbCr
    pil("p_palette.tif", pal)
    pil("p_cmyk.tif", rgb.convert("CMYK"), compression="tiff_lzw")
    pil("p_bilevel_g4.tif", rgb.convert("1"), compression="group4")
    pil("p_jpeg_ycbcr.tif", rgb, compression="jpeg")
    pil("p_packbits.tif", rgb, compression="packbits")
    # TIFF by tifffile: compressions, tiles, pages, sample types, planar, predictors, alpha
    tif("t_rgb_none.tif", arr)
    tif("t_rgb_lzw_pred.tif", arr, compression="lzw", predictor=True)
    tif("t_rgb_deflate.tif", arr, compression="zlib")
    tif("t_rgb_packbits.tif", arr, compression="packbits")
    tif("t_rgb_zstd.tif", arr, compression="zstd")
    tif("t_rgb_lzma.tif", arr, compression="lzma")
    tif("t_rgb_jpeg.tif", arr, compression="jpeg")
    tif("t_rgb_webp.tif", arr, compression="webp")
    tif("t_rgb_tiled.tif", arr, tile=(16, 16), compression="zlib")
    tif("t_rgb_planar.tif", np.moveaxis(arr, -1, 0), planarconfig="separate",
        photometric="rgb")
    tif("t_rgb_strips.tif", arr, rowsperstrip=3)
    tif("t_rgba_extrasample.tif", rgba, extrasamples=[2])
    tif("t_rgba_assoc.tif", rgba, extrasamples=[1])
    tif("t_gray16_bigendian.tif", g16, byteorder=">")
    tif("t_gray16_bigtiff.tif", g16, bigtiff=True)
    tif("t_gray_miniswhite.tif", gray, photometric="miniswhite")
    tif("t_float32.tif", f32, compression="zlib", predictor=True)
    tif("t_float64.tif", f32.astype(np.float64))
    tif("t_float16.tif", f32.astype(np.float16))
    tif("t_int16.tif", (gray.astype(np.int16) - 100))
    tif("t_uint32.tif", gray.astype(np.uint32) * 70000)
    tif("t_rgb16.tif", rgb16)
    tif("t_multiband5.tif", np.dstack([arr, gray, gray]), photometric="minisblack",
        planarconfig="contig")
    tif("t_volume.tif", np.stack([gray, gray]), volumetric=True, tile=(16, 16))
    pages = out / "t_multipage.tif"
    with tifffile.TiffWriter(pages) as writer:
        writer.write(arr, compression="zlib")
        writer.write(gray)
        writer.write(g16, tile=(16, 16))
    written.append(pages)
    geo = out / "t_geotiff_nodata.tif"
    tifffile.imwrite(geo, gray, extratags=[
        (33550, 12, 3, (1.0, 1.0, 0.0), True),
        (33922, 12, 6, (0.0, 0.0, 0.0, 10.0, 20.0, 0.0), True),
        (34735, 3, 8, (1, 1, 0, 1, 1024, 0, 1, 2), True),
        (42113, 2, 2, "0", True)])
    written.append(geo)
    # Pillow's other formats (PSD and FITS written here: Pillow reads them only)
    pil("d_rgb.sgi", rgb)
    with warnings.catch_warnings():  # Pillow 13 deprecates writing (and reading) IM files
        warnings.simplefilter("ignore", DeprecationWarning)
        pil("d_rgb.im", rgb)
    pil("d_bilevel.msp", rgb.convert("1"))
    pil("d_rgba.dds", Image.fromarray(rgba))
    pil("d_palette.blp", pal)
    pil("d_bilevel.xbm", rgb.convert("1"))
    pil("d_rgb.dib", rgb)
    pil("d_rgb.mpo", frames[0], save_all=True, append_images=frames[1:])
    pil("d_float.spider", Image.fromarray(f32), format="SPIDER")
    pil("d_rgb.eps", rgb)
    pil("d_rgb.pdf", rgb)
    height, width = gray.shape
    raw("d_rgb.psd", b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
        + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0)
        + np.moveaxis(arr, -1, 0).tobytes())
    cards = [f"{'SIMPLE':8}= {'T':>20}", f"{'BITPIX':8}= {8:>20}", f"{'NAXIS':8}= {2:>20}",
             f"{'NAXIS1':8}= {width:>20}", f"{'NAXIS2':8}= {height:>20}", "END"]
    header = "".join(card.ljust(80) for card in cards).ljust(2880).encode("ascii")
    data = gray.tobytes()
    raw("d_gray.fits", header + data + bytes(-len(data) % 2880))
    # Formats with decoders beyond Pillow and tifffile (each when its encoder is installed)
    with contextlib.suppress(ImportError, RuntimeError):  # imagecodecs without JPEG XL
        raw("d_rgb.jxl", imagecodecs.jpegxl_encode(arr, level=90))
        raw("d_rgb16.jxl", imagecodecs.jpegxl_encode(rgb16))
    with contextlib.suppress(ImportError):
        import pillow_heif

        heif = io.BytesIO()
        pillow_heif.from_bytes(mode="RGB", size=rgb.size, data=arr.tobytes()).save(
            heif, quality=50)
        raw("d_rgb.heic", heif.getvalue())
    # a linear (demosaiced) DNG: a TIFF that goes to LibRaw by its suffix
    tif("t_linear.dng", rgb16, photometric=34892,
        extratags=[(50706, 1, 4, (1, 4, 0, 0), True), (50708, 2, 5, "Test", True)])
    raw("d_drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="28">'
                         b'<rect width="40" height="28" fill="red"/></svg>')
    return sorted(written)


# --- mutations --------------------------------------------------------------------------------

INTERESTING_16 = (0, 1, 2, 3, 4, 7, 8, 15, 16, 24, 32, 255, 256, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
INTERESTING_32 = (*INTERESTING_16, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF,
                  0x01000000, 100_000, 46341)
# Every compression tifffile knows (each decoder, and codecs imagecodecs lacks), and nonsense.
TIFF_COMPRESSIONS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99, 103, 262, 22610, 32766, 32767, 32769,
                     32770, 32771, 32772, 32773, 32809, 32895, 32896, 32897, 32898, 32908, 32909,
                     32946, 32947, 33003, 33004, 33005, 33007, 34661, 34676, 34677, 34692, 34712,
                     34713, 34715, 34718, 34719, 34720, 34887, 34892, 34925, 34926, 34927, 34933,
                     34934, 48124, 50000, 50001, 50002, 50013, 52546, 65000, 65001, 65002, 65535)
TIFF_LAYOUT_TAGS = (256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325,
                    338, 339, 32997, 274, 320, 530, 532, 34735, 42113)
TIFF_TAG_VALUES = {
    258: (0, 1, 2, 4, 7, 8, 12, 16, 24, 32, 33, 64, 128, 255, 65535),
    259: TIFF_COMPRESSIONS,
    262: (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 32803, 32844, 32845, 34892, 51177, 52527, 65535),
    277: (0, 1, 2, 3, 4, 5, 8, 255, 65535),
    284: (0, 1, 2, 3, 65535),
    317: (0, 1, 2, 3, 4, 34892, 34893, 34894, 34895, 65535),
    339: (0, 1, 2, 3, 4, 5, 6, 7, 65535),
    338: (0, 1, 2, 3, 255, 65535),
    32997: (0, 1, 2, 100, 65535),
    274: (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 65535),
}


@dataclass
class Mutated:
    data: bytes
    steps: list[str] = field(default_factory=list)


def _pick(rng: random.Random, values: Sequence[int]) -> int:
    return rng.choice(values) if rng.random() < 0.8 else rng.getrandbits(32)


def _put(data: bytearray, offset: int, value: int, size: int, order: str) -> None:
    if 0 <= offset and offset + size <= len(data):
        fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
        data[offset:offset + size] = struct.pack(order + fmt, value % (1 << (8 * size)))


# generic byte mutations


def m_bitflip(rng: random.Random, d: bytearray) -> str:
    n = rng.choice((1, 1, 2, 4, 8))
    where = []
    for _ in range(n):
        i = rng.randrange(len(d))
        d[i] ^= 1 << rng.randrange(8)
        where.append(i)
    return f"bitflip x{n} at {where[:4]}"


def m_byteset(rng: random.Random, d: bytearray) -> str:
    i = rng.randrange(len(d))
    d[i] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
    return f"byte {i} := {d[i]}"


def m_run(rng: random.Random, d: bytearray) -> str:
    i = rng.randrange(len(d))
    n = rng.choice((2, 4, 8, 16, 64, 256))
    fill = rng.choice(("random", "zero", "ff"))
    run = {"random": bytes(rng.getrandbits(8) for _ in range(n)), "zero": bytes(n),
           "ff": b"\xff" * n}[fill]
    d[i:i + n] = run[:len(d) - i]
    return f"{fill} run of {n} at {i}"


def m_truncate(rng: random.Random, d: bytearray) -> str:
    n = rng.randrange(1, len(d)) if len(d) > 1 else 1
    del d[n:]
    return f"truncate to {n}"


def m_insert(rng: random.Random, d: bytearray) -> str:
    i = rng.randrange(len(d) + 1)
    n = rng.choice((1, 3, 16, 100))
    d[i:i] = bytes(rng.getrandbits(8) for _ in range(n))
    return f"insert {n} random bytes at {i}"


def m_delete(rng: random.Random, d: bytearray) -> str:
    i = rng.randrange(len(d))
    n = rng.choice((1, 4, 16, 256, 4096))
    del d[i:i + n]
    return f"delete {n} bytes at {i}"


def m_duplicate(rng: random.Random, d: bytearray) -> str:
    i = rng.randrange(len(d))
    n = rng.choice((4, 16, 256, 2048))
    d[i:i] = d[i:i + n]
    return f"duplicate {n} bytes at {i}"


def m_header_int(rng: random.Random, d: bytearray) -> str:
    """A 2- or 4-byte field near the start (sizes, counts, offsets of most headers) := huge/0."""
    i = rng.randrange(min(len(d), 64))
    size = rng.choice((2, 4))
    order = rng.choice("<>")
    value = _pick(rng, INTERESTING_16 if size == 2 else INTERESTING_32)
    _put(d, i, value, size, order)
    return f"header int{8 * size}{order} at {i} := {value}"


def m_any_int(rng: random.Random, d: bytearray) -> str:
    """A 2- or 4-byte field anywhere (sizes and counts of later blocks) := huge/0."""
    i = rng.randrange(len(d))
    size = rng.choice((2, 4))
    order = rng.choice("<>")
    value = _pick(rng, INTERESTING_16 if size == 2 else INTERESTING_32)
    _put(d, i, value, size, order)
    return f"int{8 * size}{order} at {i} := {value}"


GENERIC: list[Callable[[random.Random, bytearray], str]] = [
    m_bitflip, m_bitflip, m_byteset, m_run, m_truncate, m_truncate, m_insert, m_delete,
    m_duplicate, m_header_int, m_header_int, m_any_int]

# PNG


def png_chunks(d: bytes) -> list[tuple[int, int, bytes]] | None:
    """(offset, data length, type) of each chunk; None when not a PNG."""
    if not d.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    chunks, at = [], 8
    while at + 8 <= len(d):
        (length,) = struct.unpack(">I", d[at:at + 4])
        chunks.append((at, length, bytes(d[at + 4:at + 8])))
        at += 12 + length
    return chunks or None


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _fix_png_crc(d: bytearray, at: int, length: int) -> None:
    end = at + 8 + length
    if end + 4 <= len(d):
        d[end:end + 4] = struct.pack(">I", zlib.crc32(bytes(d[at + 4:end])))


def m_png(rng: random.Random, d: bytearray) -> str:
    chunks = png_chunks(bytes(d))
    if not chunks:
        return m_bitflip(rng, d)
    at, length, kind = rng.choice(chunks)
    op = rng.choice(("remove", "duplicate", "swap", "length", "body", "body", "ihdr", "ihdr",
                     "insert", "insert", "idat_zlib"))
    whole = bytes(d[at:at + 12 + length])
    name = kind.decode("latin-1")
    if op == "remove":
        del d[at:at + 12 + length]
        return f"png: remove {name} chunk at {at}"
    if op == "duplicate":
        d[at:at] = whole
        return f"png: duplicate {name} chunk at {at}"
    if op == "swap":
        at2, length2, kind2 = rng.choice(chunks)
        if at2 == at:
            return "png: swap (same chunk)"
        a, b = sorted(((at, length), (at2, length2)))
        first, second = bytes(d[a[0]:a[0] + 12 + a[1]]), bytes(d[b[0]:b[0] + 12 + b[1]])
        d[b[0]:b[0] + 12 + b[1]] = first
        d[a[0]:a[0] + 12 + a[1]] = second
        return f"png: swap chunks at {a[0]} and {b[0]}"
    if op == "length":
        value = _pick(rng, INTERESTING_32)
        _put(d, at, value, 4, ">")
        return f"png: {name} length := {value}"
    if op == "body" and length and at + 8 < len(d):
        i = at + 8 + rng.randrange(min(length, len(d) - at - 8))
        d[i] = rng.getrandbits(8)
        _fix_png_crc(d, at, length)
        return f"png: {name} body byte {i - at - 8} := {d[i]} (CRC fixed)"
    if op == "ihdr":
        ihdr = chunks[0]
        field_, offset, size, values = rng.choice((
            ("width", 0, 4, INTERESTING_32), ("height", 4, 4, INTERESTING_32),
            ("bitdepth", 8, 1, (0, 1, 2, 3, 4, 8, 16, 32, 255)),
            ("colortype", 9, 1, (0, 1, 2, 3, 4, 5, 6, 7, 255)),
            ("compression", 10, 1, (0, 1, 255)), ("filter", 11, 1, (0, 1, 255)),
            ("interlace", 12, 1, (0, 1, 2, 255))))
        value = rng.choice(values)
        _put(d, ihdr[0] + 8 + offset, value, size, ">")
        _fix_png_crc(d, ihdr[0], ihdr[1])
        return f"png: IHDR {field_} := {value} (CRC fixed)"
    if op == "idat_zlib":
        idats = [c for c in chunks if c[2] == b"IDAT"]
        if not idats:
            return "png: no IDAT"
        at, length, _ = idats[0]
        raw = bytes(d[at + 8:at + 8 + length])
        try:
            plain = bytearray(zlib.decompress(raw))
        except zlib.error:
            return "png: IDAT not one zlib stream"
        if plain:
            for _ in range(rng.choice((1, 4, 32))):
                plain[rng.randrange(len(plain))] = rng.getrandbits(8)
            if rng.random() < 0.3:
                plain = plain[:rng.randrange(len(plain))] if rng.random() < 0.5 else plain * 2
        d[at:at + 12 + length] = _png_chunk(b"IDAT", zlib.compress(bytes(plain)))
        return "png: first IDAT's filtered rows mutated (valid zlib, CRC fixed)"
    # insert an ancillary chunk after IHDR
    kind2, body = rng.choice((
        (b"tRNS", bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 1, 2, 6, 7, 300))))),
        (b"PLTE", bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 3, 5, 768, 800))))),
        (b"acTL", struct.pack(">II", _pick(rng, INTERESTING_32), _pick(rng, INTERESTING_32))),
        (b"fcTL", struct.pack(">IIIIIHHBB", 0, *(_pick(rng, INTERESTING_32) for _ in range(4)),
                              1, 1, rng.randrange(4), rng.randrange(4))),
        (b"eXIf", bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 8, 40))))),
        (b"eXIf", b"MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01"
                  + struct.pack(">H", rng.randrange(12)) + b"\x00\x00\x00\x00\x00\x00"),
        (b"iCCP", b"icc\x00\x00" + zlib.compress(bytes(rng.getrandbits(8) for _ in range(64)))),
        (b"sBIT", bytes(rng.getrandbits(8) for _ in range(rng.choice((1, 3, 4))))),
        (b"gAMA", struct.pack(">I", _pick(rng, INTERESTING_32))),
        (b"zTXt", b"k\x00\x00" + zlib.compress(b"x" * 100_000)),
        (b"iTXt", b"k\x00\x01\x00\x00\x00" + zlib.compress(b"y" * 1000)),
        (b"pHYs", bytes(rng.getrandbits(8) for _ in range(9))),
    ))
    end_ihdr = chunks[0][0] + 12 + chunks[0][1]
    d[end_ihdr:end_ihdr] = _png_chunk(kind2, body)
    return f"png: insert {kind2.decode()} chunk ({len(body)} bytes) after IHDR"


# JPEG


def jpeg_segments(d: bytes) -> list[tuple[int, int, int]] | None:
    """(offset, marker, length field) of each marker segment before the first scan's data."""
    if not d.startswith(b"\xff\xd8"):
        return None
    segs, at = [], 2
    while at + 4 <= len(d) and d[at] == 0xFF:
        marker = d[at + 1]
        if marker == 0xFF:
            at += 1
            continue
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:
            segs.append((at, marker, 0))
            at += 2
            continue
        (length,) = struct.unpack(">H", d[at + 2:at + 4])
        segs.append((at, marker, length))
        if marker == 0xDA:
            break
        at += 2 + length
    return segs or None


def m_jpeg(rng: random.Random, d: bytearray) -> str:
    segs = jpeg_segments(bytes(d))
    if not segs:
        return m_bitflip(rng, d)
    at, marker, length = rng.choice(segs)
    op = rng.choice(("remove", "duplicate", "length", "sof", "sof", "sof", "body", "app",
                     "scan", "scan"))
    if op == "remove" and marker != 0xDA:
        del d[at:at + 2 + length]
        return f"jpeg: remove segment FF{marker:02X} at {at}"
    if op == "duplicate" and marker != 0xDA:
        d[at:at] = d[at:at + 2 + length]
        return f"jpeg: duplicate segment FF{marker:02X} at {at}"
    if op == "length":
        value = _pick(rng, INTERESTING_16)
        _put(d, at + 2, value, 2, ">")
        return f"jpeg: segment FF{marker:02X} at {at} length := {value}"
    if op == "sof":
        sofs = [s for s in segs if s[1] in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9,
                                              0xCA, 0xCB, 0xCD, 0xCE, 0xCF)]
        if not sofs:
            return "jpeg: no SOF"
        at = sofs[0][0]
        field_, offset, size, values = rng.choice((
            ("precision", 4, 1, (0, 1, 8, 12, 16, 255)),
            ("height", 5, 2, INTERESTING_16), ("width", 7, 2, INTERESTING_16),
            ("components", 9, 1, (0, 1, 2, 3, 4, 5, 255)),
            ("sampling[0]", 11, 1, (0x00, 0x11, 0x12, 0x21, 0x22, 0x44, 0x41, 0xFF)),
            ("sampling[1]", 14, 1, (0x00, 0x11, 0x22, 0x44, 0xFF)),
            ("quant table[0]", 12, 1, (0, 1, 3, 4, 255)),
            ("marker", 1, 1, (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC9, 0xCB, 0xCF))))
        value = rng.choice(values)
        _put(d, at + offset, value, size, ">")
        return f"jpeg: SOF {field_} := {value}"
    if op == "app":
        kind, body = rng.choice((
            (0xE1, b"Exif\x00\x00" + bytes(rng.getrandbits(8) for _ in range(40))),
            (0xE1, b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01"
                   + struct.pack(">H", rng.randrange(12)) + b"\x00\x00\x00\x00\x00\x00"),
            (0xE2, b"ICC_PROFILE\x00\x01\x01" + bytes(rng.getrandbits(8) for _ in range(200))),
            (0xEE, b"Adobe\x00\x64\x00\x00\x00\x00" + bytes([rng.randrange(4)])),
            (0xE0, b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01" + bytes([rng.randrange(256)] * 2)),
            (0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta " + b"a" * 50),
        ))
        d[2:2] = b"\xff" + bytes([kind]) + struct.pack(">H", len(body) + 2) + body
        return f"jpeg: insert APP segment FF{kind:02X} ({len(body)} bytes)"
    if op == "scan":
        sos = [s for s in segs if s[1] == 0xDA]
        start = sos[0][0] + 2 + sos[0][2] if sos else len(d) // 2
        if start >= len(d) - 2:
            return "jpeg: no scan data"
        i = rng.randrange(start, len(d) - 2)
        n = rng.choice((1, 8, 64))
        d[i:i + n] = bytes(rng.getrandbits(8) for _ in range(n))[:len(d) - 2 - i]
        return f"jpeg: {n} random bytes in scan data at {i}"
    if length > 2:
        i = at + 4 + rng.randrange(length - 2)
        if i < len(d):
            d[i] = rng.getrandbits(8)
            return f"jpeg: segment FF{marker:02X} body byte {i - at - 4} := {d[i]}"
    return m_bitflip(rng, d)


# TIFF


def tiff_entries(d: bytes) -> tuple[str, bool, list[tuple[int, int]], list[int]] | None:
    """(byte order, BigTIFF, [(entry offset, tag code)], [IFD offsets]) of the IFD chain."""
    if d[:4] not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+") or len(d) < 16:
        return None
    order = "<" if d[:2] == b"II" else ">"
    big = d[2:4] in (b"+\x00", b"\x00+")
    (offset,) = struct.unpack(order + ("Q" if big else "I"), d[8:16] if big else d[4:8])
    entries, ifds, seen = [], [], set()
    size = 20 if big else 12
    while offset and offset not in seen and offset + 8 <= len(d) and len(ifds) < 64:
        seen.add(offset)
        ifds.append(offset)
        if big:
            (n,) = struct.unpack(order + "Q", d[offset:offset + 8])
            first = offset + 8
        else:
            (n,) = struct.unpack(order + "H", d[offset:offset + 2])
            first = offset + 2
        if n > 4096 or first + n * size + (8 if big else 4) > len(d):
            break
        for i in range(n):
            at = first + i * size
            (code,) = struct.unpack(order + "H", d[at:at + 2])
            entries.append((at, code))
        nxt = first + n * size
        (offset,) = struct.unpack(order + ("Q" if big else "I"),
                                  d[nxt:nxt + (8 if big else 4)])
    return order, big, entries, ifds


def m_tiff(rng: random.Random, d: bytearray) -> str:
    parsed = tiff_entries(bytes(d))
    if not parsed or not parsed[2]:
        return m_header_int(rng, d)
    order, big, entries, ifds = parsed
    count_size, word = (8, 8) if big else (4, 4)
    layout = [e for e in entries if e[1] in TIFF_LAYOUT_TAGS]
    at, code = rng.choice(layout if layout and rng.random() < 0.8 else entries)
    op = rng.choice(("count", "type", "offset", "value", "value", "value", "several",
                     "several", "code", "nifd", "next", "first", "array"))
    if op == "count":
        value = _pick(rng, (0, 2, 3, 4, 255, 65535, 2**31 - 1, 2**32 - 1))
        _put(d, at + 4, value, count_size, order)
        return f"tiff: tag {code} count := {value}"
    if op == "type":
        value = rng.randrange(0, 21)
        _put(d, at + 2, value, 2, order)
        return f"tiff: tag {code} type := {value}"
    if op == "offset":
        value = rng.choice((0, 1, len(d) - 1, len(d), len(d) + 100, 2**31, 2**32 - 1,
                            rng.randrange(len(d))))
        _put(d, at + 4 + count_size, value, word, order)
        return f"tiff: tag {code} value/offset field := {value}"
    if op == "value":
        (kind,) = struct.unpack(order + "H", d[at + 2:at + 4])
        values = TIFF_TAG_VALUES.get(code, INTERESTING_32)
        value = _pick(rng, values)
        size = 2 if kind == 3 else 4
        if kind not in (3, 4, 16):
            _put(d, at + 2, 4, 2, order)  # make it a LONG to carry the value
        _put(d, at + 4, 1, count_size, order)
        _put(d, at + 4 + count_size, value, size, order)
        return f"tiff: tag {code} := {value} (one value)"
    if op == "several":
        # several values in a (one-value) tag: a count > 1 and the values somewhere in the file
        n = rng.choice((2, 3, 4, 8))
        kind = rng.choice((3, 4))
        _put(d, at + 2, kind, 2, order)
        _put(d, at + 4, n, count_size, order)
        inline = n * (2 if kind == 3 else 4) <= word
        if inline:
            for j in range(n):
                _put(d, at + 4 + count_size + j * (2 if kind == 3 else 4),
                     rng.choice((1, 8, 16, 40, 65535)), 2 if kind == 3 else 4, order)
        else:
            target = len(d)
            values = [rng.choice((1, 3, 8, 16, 28, 40, 65535)) for _ in range(n)]
            d.extend(struct.pack(order + ("H" if kind == 3 else "I") * n, *values))
            _put(d, at + 4 + count_size, target, word, order)
        return f"tiff: tag {code} holds {n} values (type {kind})"
    if op == "code":
        value = rng.choice((*TIFF_LAYOUT_TAGS, 0, 65000))
        _put(d, at, value, 2, order)
        return f"tiff: tag {code} renamed to {value}"
    if op == "nifd":
        ifd = rng.choice(ifds)
        value = _pick(rng, (0, 1, 2, 255, 4095, 4097, 65535))
        _put(d, ifd, value, 8 if big else 2, order)
        return f"tiff: IFD at {ifd} entry count := {value}"
    if op == "next":
        last = max(entries)[0] + (20 if big else 12)
        value = rng.choice((8, ifds[0], len(d) + 10, 2**31, 2**32 - 1, rng.randrange(len(d))))
        _put(d, last, value, word, order)
        return f"tiff: next IFD offset after the last entry := {value}"
    if op == "first":
        value = rng.choice((0, 1, 8, len(d), 2**31, 2**32 - 1, rng.randrange(len(d))))
        _put(d, 8 if big else 4, value, word, order)
        return f"tiff: first IFD offset := {value}"
    # array: an element of an out-of-line array (strip offsets, byte counts, ...) := huge/0
    (count,) = struct.unpack(order + ("Q" if big else "I"), d[at + 4:at + 4 + count_size])
    (kind,) = struct.unpack(order + "H", d[at + 2:at + 4])
    size = {3: 2, 4: 4, 16: 8}.get(kind)
    if not size or count * size <= word or count > 1 << 20:
        value = _pick(rng, INTERESTING_32)
        _put(d, at + 4 + count_size, value, word, order)
        return f"tiff: tag {code} inline value := {value}"
    (where,) = struct.unpack(order + ("Q" if big else "I"),
                             d[at + 4 + count_size:at + 4 + count_size + word])
    j = rng.randrange(count)
    value = _pick(rng, INTERESTING_32)
    _put(d, where + j * size, value, size, order)
    return f"tiff: tag {code} element {j} := {value}"


# ISOBMFF (HEIC, AVIF)

_BOX_CHILDREN = {b"meta": 4, b"iprp": 0, b"ipco": 0, b"moov": 0, b"trak": 0, b"mdia": 0,
                 b"minf": 0, b"stbl": 0, b"dinf": 0}


def isobmff_boxes(d: bytes, start: int = 0, end: int | None = None,
                  depth: int = 0) -> list[tuple[int, int, bytes, int]]:
    """(offset, size, type, header length) of every box, nested ones included."""
    end = len(d) if end is None else min(end, len(d))
    boxes, at = [], start
    while at + 8 <= end and len(boxes) < 500:
        size, kind = struct.unpack(">I4s", d[at:at + 8])
        head = 8
        if size == 1 and at + 16 <= end:
            (size,) = struct.unpack(">Q", d[at + 8:at + 16])
            head = 16
        elif size == 0:
            size = end - at
        if size < head:
            break
        boxes.append((at, size, kind, head))
        if kind in _BOX_CHILDREN and depth < 8:
            boxes += isobmff_boxes(d, at + head + _BOX_CHILDREN[kind], at + size, depth + 1)
        at += size
    return boxes


def m_isobmff(rng: random.Random, d: bytearray) -> str:
    boxes = isobmff_boxes(bytes(d))
    if not boxes:
        return m_header_int(rng, d)
    ispe = [b for b in boxes if b[2] == b"ispe"]
    if ispe and rng.random() < 0.3:
        at, _, _, head = rng.choice(ispe)
        which = rng.choice(("width", "height"))
        value = _pick(rng, INTERESTING_32)
        _put(d, at + head + 4 + (4 if which == "height" else 0), value, 4, ">")
        return f"isobmff: ispe {which} := {value}"
    at, size, kind, head = rng.choice(boxes)
    name = kind.decode("latin-1")
    op = rng.choice(("size", "size", "remove", "duplicate", "rename", "body"))
    if op == "size":
        value = rng.choice((0, 1, 7, 8, size - 1, size + 1, size * 2, 0x7FFFFFFF, 0xFFFFFFFF))
        _put(d, at, value, 4, ">")
        return f"isobmff: box {name} at {at} size := {value}"
    if op == "remove":
        del d[at:at + size]
        return f"isobmff: remove box {name} at {at}"
    if op == "duplicate":
        d[at:at] = d[at:at + size]
        return f"isobmff: duplicate box {name} at {at}"
    if op == "rename":
        new = rng.choice((b"free", b"ispe", b"meta", b"ftyp", b"mdat", b"iloc", b"pitm"))
        d[at + 4:at + 8] = new
        return f"isobmff: box {name} at {at} renamed {new.decode()}"
    if size > head and at + head < len(d):
        i = at + head + rng.randrange(min(size - head, len(d) - at - head))
        d[i] = rng.choice((0, 1, 0xFF, rng.getrandbits(8)))
        return f"isobmff: box {name} body byte {i - at - head} := {d[i]}"
    return m_bitflip(rng, d)


def mutate(data: bytes, rng: random.Random) -> Mutated:
    """One to three mutations of ``data``, format-aware half of the time."""
    d = bytearray(data)
    steps = []
    if d.startswith(b"\x89PNG"):
        special = m_png
    elif d.startswith(b"\xff\xd8"):
        special = m_jpeg
    elif d[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        special = m_tiff
    elif d[4:8] == b"ftyp":
        special = m_isobmff
    else:
        special = m_header_int
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not d:
            break
        op = special if rng.random() < 0.55 else rng.choice(GENERIC)
        try:
            steps.append(op(rng, d))
        except (IndexError, ValueError, struct.error, OverflowError, zlib.error) as exc:
            # the bytes no longer parse as the mutation expects: what it did stays, as it is
            steps.append(f"{op.__name__} stopped ({type(exc).__name__})")
    return Mutated(bytes(d), steps)


def case_rng(base_seed: int, seed_name: str, case: int) -> random.Random:
    return random.Random(f"kmseg-fuzz:{base_seed}:{seed_name}:{case}")


def case_input(seeds: Sequence[Path], base_seed: int, case: int) -> tuple[Path, Mutated]:
    """The seed file and mutated bytes of case number ``case`` (round robin over the seeds)."""
    seed = seeds[case % len(seeds)]
    return seed, mutate(seed.read_bytes(), case_rng(base_seed, seed.name, case))


# --- running one case -------------------------------------------------------------------------


def _frame(tb_frames: list[traceback.FrameSummary], pred: Callable[[str], bool]) -> str:
    for fr in reversed(tb_frames):
        if pred(fr.filename):
            name = fr.filename
            for marker in ("/kmseg/", "/site-packages/", "/lib/python"):
                if marker in name:
                    name = name.split(marker, 1)[1]
                    name = ("kmseg/" if marker == "/kmseg/" else "") + name
                    break
            return f"{name}:{fr.lineno} ({fr.name})"
    return "-"


def run_case(path: Path, case: int) -> dict:
    """load_image (and segment, k=3) on ``path``: the outcome as a dict (JSON-able)."""
    import kmseg

    stage = "load"
    try:
        if case % 10 == 7:
            kmseg.read_image(path, max_pixels=MAX_PIXELS)
        loaded = kmseg.load_image(path, max_pixels=MAX_PIXELS, frame=1 if case % 10 == 9 else 0)
        stage = "segment"
        kmseg.segment(loaded.pixels, k=3, mask=loaded.mask)
        return {"outcome": "ok"}
    except kmseg.KmsegError as exc:
        msg = str(exc)
        out = {"outcome": type(exc).__name__, "stage": stage, "message": msg[:300]}
        if "\n" in msg:
            out["note"] = "multi-line message"
        if "not enough memory" in msg:
            out["note"] = "MemoryError on a small file"
        return out
    except Exception as exc:  # the failures the fuzzer looks for
        frames = traceback.extract_tb(exc.__traceback__)
        kmseg_frame = _frame(frames, lambda f: "/kmseg/" in f)
        inner = _frame(frames, lambda f: True)
        return {"outcome": "FAIL", "stage": stage, "type": type(exc).__qualname__,
                "module": type(exc).__module__, "message": " ".join(str(exc).split())[:300],
                "kmseg_frame": kmseg_frame, "inner_frame": inner,
                "traceback": "".join(traceback.format_exception(exc))[-4000:]}


def _worker(spec_file: str) -> None:
    """The child process: runs cases, one JSON line out before ('start') and after each."""
    import resource

    spec = json.loads(Path(spec_file).read_text())
    limit = spec.get("memory_limit")
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    warnings.simplefilter("error")  # as pytest's filterwarnings = error
    inject = spec.get("inject")  # the engine's own test: these cases hang or crash
    if not inject:
        import numpy as np

        import kmseg

        warm = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
        kmseg.segment(warm, k=3)  # compile the kernels before the first timed case
    seeds = [Path(p) for p in spec["seeds"]]
    work = Path(spec["workdir"])
    print(json.dumps({"ready": True}), flush=True)
    for case in spec["cases"]:
        print(json.dumps({"start": case}), flush=True)
        if inject:
            if case in inject["hang"]:
                time.sleep(3600)
            if case in inject["crash"]:
                os.abort()
            print(json.dumps({"case": case, "outcome": "ok", "seconds": 0.0}), flush=True)
            continue
        seed, mutated = case_input(seeds, spec["base_seed"], case)
        path = work / f"case{case}{seed.suffix}"
        path.write_bytes(mutated.data)
        t0 = time.perf_counter()
        result = run_case(path, case)
        result.update(case=case, seconds=round(time.perf_counter() - t0, 4))
        path.unlink()
        print(json.dumps(result), flush=True)


# --- the campaign -----------------------------------------------------------------------------


@dataclass
class Campaign:
    cases: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    failures: list[dict] = field(default_factory=list)  # FAIL, hang, crash: with seed, steps
    notes: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    slowest: list[tuple[float, int]] = field(default_factory=list)

    def classes(self) -> dict[tuple, list[dict]]:
        """Failures grouped by (kind, type, innermost kmseg frame, innermost frame)."""
        groups: dict[tuple, list[dict]] = collections.defaultdict(list)
        for f in self.failures:
            key = (f["outcome"], f.get("type", ""), f.get("kmseg_frame", ""),
                   f.get("inner_frame", ""))
            groups[key].append(f)
        return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def run_campaign(
    seeds: Sequence[Path], cases: Iterable[int], *, base_seed: int = 0, workers: int = 2,
    case_timeout: float = 30.0, startup_timeout: float = 120.0, max_hangs: int = 10,
    memory_limit: int | None = 4 << 30, nice: int = 0, progress: bool = False,
    inject: dict | None = None,
) -> Campaign:
    """Run ``cases`` over ``seeds`` in ``workers`` child processes; a case that gives no answer
    within ``case_timeout`` seconds is a hang (its worker is killed and replaced)."""
    cases = list(cases)
    camp = Campaign()
    lock = threading.Lock()
    stop = threading.Event()
    start_time = time.perf_counter()

    def record_bad(case: int, outcome: str, extra: dict) -> None:
        seed, mutated = case_input(seeds, base_seed, case)
        entry = {"outcome": outcome, "case": case, "seed": seed.name, "steps": mutated.steps,
                 **extra}
        with lock:
            camp.failures.append(entry)
            camp.outcomes[outcome] += 1
            camp.cases += 1
            if outcome == "hang" and sum(1 for f in camp.failures
                                         if f["outcome"] == "hang") >= max_hangs:
                stop.set()

    def manage(todo: list[int], tmp: str) -> None:
        while todo and not stop.is_set():
            spec = Path(tmp) / f"spec{todo[0]}.json"
            spec.write_text(json.dumps({"seeds": [str(s) for s in seeds], "cases": todo,
                                        "base_seed": base_seed, "workdir": tmp,
                                        "memory_limit": memory_limit, "inject": inject}))
            cmd = [sys.executable, "-c",
                   "import sys; sys.path.insert(0, sys.argv[1]); import fuzz_readers; "
                   "fuzz_readers._worker(sys.argv[2])",
                   str(Path(__file__).resolve().parent), str(spec)]
            # stderr to a file: a worker must never block on a full pipe (a false hang)
            err_path = Path(tmp) / f"stderr{todo[0]}.txt"
            with open(err_path, "w") as err:
                proc = subprocess.Popen(
                    cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                    preexec_fn=(lambda: os.nice(nice)) if nice else None)
            lines: queue.Queue = queue.Queue()

            def read(proc: subprocess.Popen = proc, lines: queue.Queue = lines) -> None:
                for line in proc.stdout:
                    lines.put(line)
                lines.put(None)

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            current = None
            timeout = startup_timeout
            done_here = 0
            while not stop.is_set():
                try:
                    line = lines.get(timeout=timeout)
                except queue.Empty:  # a hang: the case started and gave no answer in time
                    proc.kill()
                    proc.wait()
                    if current is None:
                        raise RuntimeError("fuzz worker did not start in time") from None
                    record_bad(current, "hang", {"timeout": timeout})
                    todo = todo[todo.index(current) + 1:]
                    break
                if line is None:  # the worker ended: finished, or crashed
                    proc.wait()
                    if current is None and not done_here and proc.returncode:
                        raise RuntimeError(f"fuzz worker failed to start: {err_path.read_text()}")
                    if current is not None:
                        rc = proc.returncode
                        record_bad(current, "crash", {"returncode": rc,
                                                      "stderr": err_path.read_text()[-2000:]})
                        todo = todo[todo.index(current) + 1:]
                    else:
                        todo = []
                    break
                msg = json.loads(line)
                if "ready" in msg:
                    continue
                if "start" in msg:
                    current = msg["start"]
                    timeout = case_timeout
                    continue
                case = msg["case"]
                current = None
                done_here += 1
                if msg["outcome"] == "FAIL":
                    record_bad(case, "FAIL", msg)
                else:
                    with lock:
                        camp.outcomes[msg["outcome"]] += 1
                        camp.cases += 1
                        camp.slowest.append((msg["seconds"], case))
                        if "note" in msg:
                            seed = seeds[case % len(seeds)]
                            camp.notes.append({**msg, "seed": seed.name})
                        if progress and camp.cases % 1000 == 0:
                            print(f"  {camp.cases} cases, {time.perf_counter() - start_time:.0f}"
                                  f" s, {len(camp.failures)} failures", file=sys.stderr,
                                  flush=True)
            else:
                proc.kill()
                proc.wait()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join(timeout=10)
            if not reader.is_alive():
                proc.stdout.close()

    with tempfile.TemporaryDirectory(prefix="kmseg-fuzz-") as tmp:
        threads = [threading.Thread(target=manage, args=(cases[w::workers], tmp))
                   for w in range(workers)]
        errors: list[BaseException] = []

        def guarded(t: threading.Thread) -> Callable[[], None]:
            run = t.run

            def wrapped() -> None:
                try:
                    run()
                except BaseException as exc:
                    errors.append(exc)
                    stop.set()
            return wrapped

        for t in threads:
            t.run = guarded(t)
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
    camp.seconds = time.perf_counter() - start_time
    camp.slowest = sorted(camp.slowest, reverse=True)[:5]
    return camp


def failure_report(camp: Campaign, limit: int | None = None, findings: Path | None = None,
                   seeds: Sequence[Path] = (), base_seed: int = 0) -> str:
    """One block per failure class: what, where, how many, and how to reproduce it."""
    out = io.StringIO()
    by_seed = {s.name: s for s in seeds}
    for n, ((outcome, etype, kframe, iframe), group) in enumerate(camp.classes().items()):
        if limit is not None and n >= limit:
            out.write(f"... and {len(camp.classes()) - limit} more failure classes\n")
            break
        first = group[0]
        out.write(f"[{len(group)} cases] {outcome}"
                  + (f" {first.get('module', '')}.{etype} at {first['stage']}" if etype else "")
                  + "\n")
        if "message" in first:
            out.write(f"    message: {first['message'][:240]}\n")
        if kframe:
            out.write(f"    kmseg frame: {kframe}\n    innermost frame: {iframe}\n")
        if outcome == "crash":
            out.write(f"    returncode {first['returncode']}; stderr: "
                      f"{first['stderr'][-300:]!r}\n")
        out.write(f"    reproduce: seed {first['seed']} case {first['case']}: "
                  f"{'; '.join(first['steps'])}\n")
        others = sorted({f"{f['seed']}#{f['case']}" for f in group[1:6]})
        if others:
            out.write(f"    also: {', '.join(others)}\n")
        if findings is not None and first["seed"] in by_seed:
            findings.mkdir(parents=True, exist_ok=True)
            _, mutated = case_input(list(seeds), base_seed, first["case"])
            tag = (etype or outcome).replace(".", "_")
            where = (kframe or "").split(" ")[0].replace("/", "_").replace(":", "_")
            name = f"{n:02d}_{outcome}_{tag}_{where}_{first['seed']}_case{first['case']}"
            path = findings / (name + Path(first["seed"]).suffix)
            path.write_bytes(mutated.data)
            out.write(f"    saved: {path}\n")
    return out.getvalue()


def outcome_table(camp: Campaign) -> str:
    rows = ["| outcome | cases |", "|---|---:|"]
    for name, count in sorted(camp.outcomes.items(), key=lambda kv: (-kv[1], kv[0])):
        label = {"FAIL": "other exception", "ok": "ok"}.get(name, name)
        rows.append(f"| {label} | {count} |")
    rows.append(f"| **total** | {camp.cases} |")
    rows.append(f"| seconds | {camp.seconds:.1f} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--first", type=int, default=0, help="first case number (default 0)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0, help="base seed of the campaign")
    parser.add_argument("--case-timeout", type=float, default=30.0)
    parser.add_argument("--nice", type=int, default=0, help="niceness of the workers")
    parser.add_argument("--memory-gb", type=float, default=4.0,
                        help="address-space limit of each worker (GB; 0: none; default 4)")
    parser.add_argument("--all-odd", action="store_true",
                        help="every odd file as a seed, not only the small ones")
    parser.add_argument("--only", metavar="GLOB",
                        help="only the seed files whose names match one of these comma-separated "
                             "globs (e.g. '*.heic,*.jxl'); give it to --repro too")
    parser.add_argument("--findings", type=Path, help="save one example per failure class here")
    parser.add_argument("--json", type=Path, help="write every failure and note here")
    parser.add_argument("--repro", nargs=2, metavar=("SEED_FILE", "CASE"))
    parser.add_argument("--write", type=Path, help="with --repro: save the mutated bytes here")
    args = parser.parse_args(argv)
    if not ODD.is_dir():
        print(f"{ODD} is absent", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kmseg-fuzz-seeds-") as tmp:
        seeds = odd_seeds(ODD, None if args.all_odd else SEED_MAX_BYTES)
        seeds += derive_seeds(ODD, Path(tmp))
        if args.only:
            globs = args.only.split(",")
            seeds = [s for s in seeds if any(fnmatch.fnmatch(s.name, g) for g in globs)]
        if args.repro:
            name, case = args.repro[0], int(args.repro[1])
            names = [s.name for s in seeds]
            if case % len(seeds) != names.index(name):
                print(f"warning: case {case} uses seed {names[case % len(seeds)]} with this "
                      f"seed set", file=sys.stderr)
            seed, mutated = case_input(seeds, args.seed, case)
            print(f"seed {seed.name} case {case}: {'; '.join(mutated.steps)}")
            path = args.write or Path(tmp) / f"repro{seed.suffix}"
            path.write_bytes(mutated.data)
            result = run_case(path, case)
            print(result.pop("traceback", ""))
            print(result)
            return 0
        print(f"{len(seeds)} seeds, {args.cases} cases, {args.workers} workers", flush=True)
        camp = run_campaign(seeds, range(args.first, args.first + args.cases),
                            base_seed=args.seed, workers=args.workers,
                            case_timeout=args.case_timeout, nice=args.nice, progress=True,
                            memory_limit=int(args.memory_gb * (1 << 30)) or None,
                            max_hangs=10**9)
        print(outcome_table(camp))
        print(f"\nslowest cases (s, case): {camp.slowest}")
        print(f"\n{len(camp.classes())} failure classes\n")
        print(failure_report(camp, findings=args.findings, seeds=seeds, base_seed=args.seed))
        notes = collections.Counter((n["outcome"], n["note"]) for n in camp.notes)
        for (outcome, note), count in notes.items():
            example = next(n for n in camp.notes if n["note"] == note)
            print(f"note [{count}] {outcome}: {note}: {example['seed']}#{example['case']}: "
                  f"{example['message'][:200]}")
        if args.json:
            args.json.write_text(json.dumps({"failures": camp.failures, "notes": camp.notes},
                                            indent=1))
    return 1 if camp.failures else 0


if __name__ == "__main__":
    sys.exit(main())
