"""A whole ``kmseg segment`` of a small photo starts fast (issue 17): it imports only what the
work needs, and what was made lazy for that behaves as before."""

from __future__ import annotations

import ast
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import kmseg
from kmseg._write import _new_temporary, atomic_write
from kmseg.batch import _TEMPORARY
from kmseg.io import _decoder_output
from kmseg.io._decoder_output import held_stderr

# Imported by kmseg only when asked for: none is needed to segment a JPEG and write its PNGs.
NOT_FOR_A_JPEG = (
    "tempfile",  # temporary names made by kmseg._write, descriptor 2 held in a memfd
    "importlib.resources",  # kmseg.data.sample_path only
    "kmseg._chunked",  # rasters segmented in strips (TIFFs only)
    "kmseg.regions",  # region maps only
    # Pillow's Image.open loads these five on its first call; a JPEG needs its own only.
    "PIL.BmpImagePlugin", "PIL.GifImagePlugin", "PIL.PpmImagePlugin", "PIL.PngImagePlugin",
)


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_segment_command_imports_only_what_a_jpeg_needs(tmp_path):
    # As `python -m kmseg segment PHOTO -o OUT` runs, then what it imported (beyond what the
    # interpreter had at startup: an editable install's import hook loads tempfile itself).
    argv = ["kmseg", "segment", kmseg.data.sample_path(), "-k", "3", "-o", str(tmp_path)]
    code = ("import runpy, sys; at_start = set(sys.modules); sys.argv = " + repr(argv) + "\n"
            "try:\n    runpy.run_module('kmseg', run_name='__main__', alter_sys=True)\n"
            "except SystemExit as stop:\n    assert not stop.code, stop.code\n"
            "print(sorted(set(sys.modules) - at_start))")
    loaded = set(ast.literal_eval(_run(code)))
    assert {"kmseg._segment", "PIL.JpegImagePlugin", "imagecodecs"} <= loaded  # it ran
    assert loaded.isdisjoint(NOT_FOR_A_JPEG), sorted(loaded & set(NOT_FOR_A_JPEG))
    assert (tmp_path / "coffee_labels.png").is_file()


_READ = ("import sys; from PIL import Image; from kmseg.io import load_image\n"
         "{before}\n"
         "try:\n    image = load_image(sys.argv[1])\n"
         "except Exception as error:\n    print(repr(error)); raise SystemExit\n"
         "print(repr((image.pixels.tobytes().hex()[:64], image.pixels.shape, image.description,"
         " image.alpha is None, image.mask is None, image.pixels.sum())))")


def _read_both_ways(path: Path) -> tuple[str, str]:
    """``load_image`` of ``path`` in a process where Pillow has loaded no plugin yet (a JPEG
    opened alone) and in one where Image.open has already loaded its usual five."""
    results = []
    for before in ("assert not Image.ID", "Image.preinit(); assert Image.ID"):
        code = _READ.format(before=before)
        result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stderr
        results.append(result.stdout.strip())
    return results[0], results[1]


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_jpeg_opened_alone_reads_as_through_image_open(tmp_path, orientation):
    from PIL import Image

    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.open(kmseg.data.sample_path()).resize((60, 40)).save(path, exif=exif)
    alone, opened = _read_both_ways(path)
    assert alone == opened and "JPEG RGB 8-bit" in alone


def test_a_broken_jpeg_fails_as_through_image_open(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)  # the signature, then nonsense
    alone, opened = _read_both_ways(path)
    assert alone == opened and "ImageReadError" in alone


def test_a_jpeg_read_first_leaves_pillow_opening_other_formats(tmp_path):
    from PIL import Image

    sample = Image.open(kmseg.data.sample_path()).resize((30, 20))
    sample.save(tmp_path / "a.jpg")
    for suffix in ("png", "bmp", "gif", "ppm", "webp"):
        sample.save(tmp_path / f"b.{suffix}")
    code = ("import sys; from PIL import Image; from kmseg.io import load_image\n"
            "assert not Image.ID\n"
            "print([load_image(p).description for p in sys.argv[1:]])")
    paths = [str(tmp_path / "a.jpg"), *(str(p) for p in sorted(tmp_path.glob("b.*")))]
    result = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("'")[1::2] == [
        "JPEG RGB 8-bit", "BMP RGB 8-bit", "GIF P -> RGB 8-bit", "PNG RGB 8-bit",
        "PPM RGB 8-bit", "WEBP RGB 8-bit"]


def test_temporary_outputs_are_named_and_made_as_mkstemp_makes_them(tmp_path):
    target = tmp_path / "photo_labels.png"
    made = [_new_temporary(target) for _ in range(20)]
    assert len(set(made)) == 20
    for tmp in made:
        assert tmp.is_absolute() and tmp.parent == tmp_path
        assert _TEMPORARY.match(tmp.name), tmp.name  # what kmseg.batch cleans up
        assert stat.S_IMODE(tmp.stat().st_mode) == 0o600 and tmp.stat().st_size == 0
    relative = Path(os.path.relpath(tmp_path)) / "x.png"
    assert _new_temporary(relative).parent == tmp_path


def test_an_atomic_write_leaves_only_the_file(tmp_path):
    atomic_write(tmp_path / "out.json", lambda tmp: tmp.write_text("{}"))
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    mode = stat.S_IMODE((tmp_path / "out.json").stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_decoder_output_is_held_without_memfd(monkeypatch, capfd):
    def refused(*args: object) -> int:
        raise OSError("memfd_create refused")

    monkeypatch.setattr(os, "memfd_create", refused, raising=False)
    with held_stderr() as held:
        os.write(2, b"libfoo:  a   warning\n")
    assert held.messages == ("libfoo: a warning",)
    assert capfd.readouterr().err == ""
    assert _decoder_output._depth == 0 and _decoder_output._spool is None


def _spools() -> list[str]:
    """Descriptors of this process open on a kmseg memfd."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if "kmseg-stderr" in os.readlink(f"/proc/self/fd/{fd}"):
                found.append(fd)
        except OSError:  # closed meanwhile
            pass
    return found


@pytest.mark.skipif(not hasattr(os, "memfd_create") or not os.path.isdir("/proc/self/fd"),
                    reason="Linux's memfd_create and /proc")
def test_decoder_output_is_held_in_a_memfd_closed_after_the_read():
    with held_stderr() as held:
        os.write(2, b"one line\n")
        assert len(_spools()) == 2  # the spool, and descriptor 2 on it
    assert held.messages == ("one line",)
    assert _spools() == []
