"""Formats beyond Pillow and tifffile (HEIC, JPEG XL, AVIF size, camera RAW, documents) and what
decoders print (kmseg.io._codecs, kmseg.io._decoder_output), each checked against its own codec."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import EpsImagePlugin, Image

from kmseg._errors import ImageReadError, ImageTooLargeError
from kmseg.io import _codecs, load_image
from kmseg.io._decoder_output import held_stderr


def two_colours(width: int = 64, height: int = 48) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (200, 30, 40)
    image[:, width // 2:] = (20, 90, 220)
    return image


# --- HEIC / HEIF -------------------------------------------------------------------------------


def test_heic_photo_is_read(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    path = tmp_path / "phone.heic"
    Image.fromarray(two_colours()).save(path, quality=95)
    loaded = load_image(path)
    assert loaded.pixels.shape == (48, 64, 3)
    assert loaded.description.startswith("HEIF")
    # lossy: each half close to its colour (HEVC rounds a little)
    assert np.abs(loaded.pixels[:, 4:28].astype(int) - (200, 30, 40)).max() < 12
    assert np.abs(loaded.pixels[:, 36:60].astype(int) - (20, 90, 220)).max() < 12


def test_heic_without_pillow_heif_says_what_to_install(tmp_path, monkeypatch) -> None:
    path = tmp_path / "phone.heic"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    monkeypatch.setitem(sys.modules, "pillow_heif", None)
    with pytest.raises(ImageReadError, match=r"phone\.heic: .*pip install pillow-heif"):
        load_image(path)


# --- JPEG XL ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width, height", [(64, 48), (100, 75), (33, 7), (600, 1), (1000, 520)])
def test_jxl_header_size_matches_the_decoder(width: int, height: int) -> None:
    rng = np.random.default_rng(width)
    data = imagecodecs.jpegxl_encode(rng.integers(0, 256, (height, width), np.uint8),
                                     lossless=True)
    assert _codecs.jxl_size(data) == (width, height)
    assert imagecodecs.jpegxl_decode(data).shape == (height, width)


@pytest.mark.parametrize("shape, dtype", [((40, 60), np.uint8), ((40, 60, 3), np.uint8),
                                          ((40, 60, 4), np.uint8), ((40, 60, 3), np.uint16),
                                          ((40, 60, 2), np.uint16)])
def test_jxl_lossless_pixels_and_alpha(tmp_path, shape, dtype) -> None:
    rng = np.random.default_rng(1)
    array = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    path = tmp_path / "image.jxl"
    path.write_bytes(imagecodecs.jpegxl_encode(array, lossless=True))
    loaded = load_image(path)
    has_alpha = len(shape) == 3 and shape[-1] in (2, 4)
    colour = array[..., :-1] if has_alpha else array
    np.testing.assert_array_equal(loaded.pixels, colour.squeeze())
    if has_alpha:
        np.testing.assert_array_equal(loaded.alpha, array[..., -1])
    else:
        assert loaded.alpha is None


def test_jxl_frames_and_range(tmp_path) -> None:
    frames = np.stack([np.full((20, 30, 3), 40 * i, np.uint8) for i in range(3)])
    path = tmp_path / "anim.jxl"
    path.write_bytes(imagecodecs.jpegxl_encode(frames, lossless=True, photometric="rgb"))
    np.testing.assert_array_equal(load_image(path, frame=2).pixels, frames[2])
    assert "frame 2 of 3" in load_image(path, frame=2).description
    with pytest.raises(ImageReadError, match="frame 3 out of range: the file has 3 frames"):
        load_image(path, frame=3)


def test_jxl_bomb_refused_before_decoding(tmp_path, monkeypatch) -> None:
    path = tmp_path / "big.jxl"
    path.write_bytes(imagecodecs.jpegxl_encode(np.zeros((40, 60), np.uint8), lossless=True))

    def fail(*args, **kwargs):
        raise AssertionError("decoded a file over the limit")

    monkeypatch.setattr(imagecodecs, "jpegxl_decode", fail)
    with pytest.raises(ImageTooLargeError, match="60x40 = 2,400 pixels exceeds"):
        load_image(path, max_pixels=1000)


def test_shared_jxl_and_heic(corpus_dir) -> None:
    jxl = load_image(corpus_dir / "odd" / "jxl_16bit_hdr_p3.jxl")
    assert jxl.pixels.shape == (3685, 5667, 3) and jxl.pixels.dtype == np.uint16
    assert jxl.pixels.std() > 100  # a photo, not a blank
    heic = load_image(corpus_dir / "odd" / "heic_samsung_motionphoto.heic")
    assert heic.pixels.ndim == 3 and heic.pixels.std() > 5


# --- AVIF: a too-large image is named as such --------------------------------------------------


def avif_claiming(tmp_path: Path, width: int, height: int) -> Path:
    """A small AVIF whose ispe boxes claim width x height (libavif refuses it unread)."""
    buffer = io.BytesIO()
    Image.fromarray(two_colours(16, 16)).save(buffer, "AVIF")
    data = bytearray(buffer.getvalue())
    at = data.find(b"ispe")
    assert at > 0
    while at > 0:
        struct.pack_into(">II", data, at + 8, width, height)
        at = data.find(b"ispe", at + 4)
    path = tmp_path / "bomb.avif"
    path.write_bytes(bytes(data))
    return path


def test_avif_bomb_is_too_large_not_unreadable(tmp_path) -> None:
    path = avif_claiming(tmp_path, 17000, 17000)
    with pytest.raises(ImageTooLargeError, match="17000x17000 = 289,000,000 pixels exceeds"):
        load_image(path)
    with pytest.raises(ImageTooLargeError, match=r"more than the AVIF decoder \(libavif\) reads"):
        load_image(path, max_pixels=None)


def test_avif_still_read(tmp_path) -> None:
    path = tmp_path / "small.avif"
    Image.fromarray(two_colours()).save(path, quality=100)
    assert _codecs.isobmff_size(path.read_bytes()) == (64, 48)
    assert load_image(path).pixels.shape == (48, 64, 3)


# --- camera RAW --------------------------------------------------------------------------------


def write_dng(path: Path) -> None:
    """A 96 x 64 Bayer (RGGB) DNG, right half a third as bright, that LibRaw develops."""
    cfa = np.zeros((64, 96), np.uint16)
    cfa[0::2, 0::2], cfa[0::2, 1::2], cfa[1::2, 0::2], cfa[1::2, 1::2] = 3000, 1500, 1500, 500
    cfa[:, 48:] //= 3
    tags = [(50706, "B", 4, (1, 4, 0, 0), True), (50707, "B", 4, (1, 1, 0, 0), True),
            (33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True),
            (271, "s", 0, "Kmseg", True), (272, "s", 0, "TestCam", True),
            (50708, "s", 0, "Kmseg TestCam", True), (50717, "I", 1, (4095,), True),
            (50721, "2i", 9, (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1), True)]
    tifffile.imwrite(path, cfa, photometric=32803, extratags=tags)


def test_camera_raw_is_developed_not_read_as_tiff(tmp_path) -> None:
    pytest.importorskip("rawpy")
    path = tmp_path / "camera.dng"
    write_dng(path)
    loaded = load_image(path)
    assert loaded.pixels.shape == (64, 96, 3) and loaded.pixels.dtype == np.uint8
    assert loaded.description.startswith("camera RAW")
    left, right = loaded.pixels[8:56, 8:40].mean(), loaded.pixels[8:56, 56:88].mean()
    assert left > right + 20  # the darker half stays darker: the CFA was developed


def test_camera_raw_without_rawpy_says_what_to_install(tmp_path, monkeypatch) -> None:
    path = tmp_path / "camera.nef"
    write_dng(path)
    monkeypatch.setitem(sys.modules, "rawpy", None)
    with pytest.raises(ImageReadError, match=r"camera\.nef: .*pip install rawpy"):
        load_image(path)


def test_not_a_raw_file(tmp_path) -> None:
    pytest.importorskip("rawpy")
    path = tmp_path / "holiday.cr2"
    path.write_bytes(b"not a raw file at all" * 50)
    with pytest.raises(ImageReadError, match=r"holiday\.cr2: not a camera RAW file LibRaw"):
        load_image(path)


# --- documents and drawings --------------------------------------------------------------------


def test_pdf_and_svg_say_how_to_make_an_image(tmp_path) -> None:
    pdf = tmp_path / "scan.pdf"
    Image.fromarray(two_colours()).save(pdf)
    with pytest.raises(ImageReadError, match=r"scan\.pdf: a PDF document.*pdftoppm"):
        load_image(pdf)
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4"/>'
    for name in ("logo.svg", "logo.bin"):  # by name or by content
        (tmp_path / name).write_bytes(svg)
        with pytest.raises(ImageReadError, match=r"an SVG drawing.*rsvg-convert"):
            load_image(tmp_path / name)


def test_eps_without_ghostscript_says_so(tmp_path, monkeypatch) -> None:
    path = tmp_path / "figure.eps"
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\n"
                     b"0 0 moveto 64 48 lineto stroke\nshowpage\n%%EOF\n")
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: False)
    with pytest.raises(ImageReadError, match=r"figure\.eps: .*Ghostscript.*apt install") as error:
        load_image(path)
    assert "corrupt" not in str(error.value)


# --- what C decoders print ---------------------------------------------------------------------


def lzw_tiff_with_a_bad_strip(path: Path) -> None:
    """A CMYK LZW TIFF (read by Pillow's libtiff) with 8 bytes of its strip overwritten."""
    buffer = io.BytesIO()
    image = np.random.default_rng(0).integers(0, 256, (40, 60, 3), np.uint8)
    Image.fromarray(image).convert("CMYK").save(buffer, "TIFF", compression="tiff_lzw")
    data = bytearray(buffer.getvalue())
    data[500:508] = b"\xff" * 8
    path.write_bytes(bytes(data))


def test_decoder_output_completes_the_error_and_stays_off_the_terminal(tmp_path, capfd) -> None:
    path = tmp_path / "damaged.tif"
    lzw_tiff_with_a_bad_strip(path)
    with pytest.raises(ImageReadError, match=r"damaged\.tif: .*\(decoder said: .+\)") as error:
        load_image(path)
    assert "tempfile.tif" not in str(error.value)  # Pillow's name for the file, not the user's
    assert capfd.readouterr().err == ""


def test_cli_prints_one_line_for_a_decoder_failure(tmp_path) -> None:
    path = tmp_path / "damaged.tif"
    lzw_tiff_with_a_bad_strip(path)
    result = subprocess.run([sys.executable, "-m", "kmseg", "segment", str(path), "-o",
                             str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "damaged.tif" in result.stderr


def test_held_output_is_shared_by_threads_and_restored(capfd) -> None:
    """Four threads write one line each at once, 50 times over: each sees all four lines (with
    a shared file position, two writes at one offset lost a line in about 1 round in 6)."""
    for _ in range(50):
        barrier = threading.Barrier(4)
        seen: list[tuple[str, ...]] = []

        def write(n: int, barrier=barrier, seen=seen) -> None:
            with held_stderr() as held:
                barrier.wait()
                os.write(2, f"thread {n}\n".encode())
                barrier.wait()
            seen.append(held.messages)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for messages in seen:  # each thread sees every line written while it held
            assert sorted(messages) == [f"thread {n}" for n in range(4)]
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"  # descriptor 2 is the terminal again


def test_debug_is_accepted_after_the_command(tmp_path) -> None:
    from kmseg.data import sample_path

    result = subprocess.run([sys.executable, "-m", "kmseg", "segment", str(sample_path()), "-k",
                             "2", "-o", str(tmp_path), "--debug"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("failure", [ZeroDivisionError("division by zero"),
                                     TypeError("unsupported operand"), AttributeError("no")])
def test_any_decoder_failure_is_a_named_read_error(tmp_path, monkeypatch, failure) -> None:
    path = tmp_path / "odd.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint16))

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(tifffile.TiffPage, "asarray", fail)
    with pytest.raises(ImageReadError, match=r"odd\.tif: (corrupt TIFF|the decoder failed)"):
        load_image(path)


def test_too_large_says_how_large_and_survives_pickling(tmp_path) -> None:
    import pickle

    path = avif_claiming(tmp_path, 17000, 17000)
    with pytest.raises(ImageTooLargeError) as error:
        load_image(path)
    assert error.value.what == "17000x17000 = 289,000,000 pixels"
    again = pickle.loads(pickle.dumps(error.value))
    assert again.what == error.value.what and str(again) == str(error.value)
