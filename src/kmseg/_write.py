"""Writing files, atomically: every output goes to a temporary name beside its place and is
renamed into place, so a reader never sees half a file and an interrupted run leaves no partial
output; output folders are checked, and no output replaces an input. Encoders: PNG (8/16-bit,
imagecodecs, fast zlib level) or TIFF (tifffile: any band count, float, GeoTIFF tags).
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ._errors import OutputError
from ._options import IMAGE_SUFFIXES, VIDEO_SUFFIXES

# zlib level 1: a 14 MP label map and painted image encode in ~0.3 s instead of 1.9 s at
# level 6, for files ~20% larger.
_PNG_LEVEL = 1


T = TypeVar("T")


if TYPE_CHECKING:
    from matplotlib.figure import Figure



def save_figure(
    figure: Figure, path: str | PathLike[str], *, source: str | None = None,
    dpi: float | None = None,
) -> Path:
    """Save a matplotlib figure as PNG, atomically, never over ``source``.

    ``dpi`` overrides the figure's own (None: the figure's, as ``savefig``). Set the dpi when
    making a kmseg figure instead (``kmseg.plot.compare(seg, dpi=...)``): its images are
    shrunk to what the figure's own dpi shows, so a higher one here only enlarges them.
    """
    path = Path(path)
    output_folder(path.parent)
    refuse_inputs(path, [source] if source else [])
    options = {} if dpi is None else {"dpi": dpi}
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", **options))
    return path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    try:
        tmp = _new_temporary(path)
    except OSError as error:
        raise OutputError(f"{path.parent}: cannot write there ({error.strerror})") from None
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # made 0600; outputs get the usual mode
        os.replace(tmp, path)
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise OutputError(f"{path}: cannot write ({reason})") from None
    finally:
        tmp.unlink(missing_ok=True)


# tempfile.mkstemp's temporary names, ".<name>.<8 of these><suffix>" (kmseg.batch removes those
# an interrupted run left), and its flags; made here, as tempfile's import took 1 ms of a 0.3 s
# ``kmseg segment``, which needs it nowhere else.
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_NEW_FILE = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_BINARY", 0))


def _new_temporary(path: Path) -> Path:
    """A new empty file (mode 0600) beside ``path``, named as tempfile.mkstemp names them."""
    for _ in range(10000):  # tempfile.TMP_MAX
        token = "".join(_NAME_CHARS[byte % len(_NAME_CHARS)] for byte in os.urandom(8))
        tmp = Path(os.path.abspath(path.with_name(f".{path.name}.{token}{path.suffix}")))
        try:
            os.close(os.open(tmp, _NEW_FILE, 0o600))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(errno.EEXIST, "no unused temporary name")


def atomic_directory(path: Path, fill: Callable[[Path], T]) -> T:
    """Call ``fill(tmp)`` on a new temporary folder beside ``path``, then rename it to
    ``path`` (what was there before is removed after); ``fill``'s result."""
    import tempfile  # only here: see _new_temporary

    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as error:
        raise OutputError(f"{path.parent}: cannot write there ({error.strerror})") from None
    try:
        result = fill(tmp)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        old = tmp.with_name(tmp.name + ".old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        _remove(old)
        return result
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_image(
    path: Path, image: np.ndarray, *, alpha: bool, extratags: list | None = None,
    flat: bool = False,
) -> None:
    """Write an image losslessly: PNG for 8/16-bit gray or RGB (+ alpha), TIFF otherwise.

    ``alpha`` says whether the last channel is alpha. The format follows ``path``'s suffix;
    ``extratags`` (TIFF only) are written as given (GeoTIFF tags). ``flat`` says the image is
    made of uniform areas (labels, painted segments, masks), which PNG compresses best and
    fastest unfiltered.
    """
    if path.suffix == ".tif":
        import tifffile

        channels = image.shape[2] if image.ndim == 3 else 1
        photometric = "rgb" if channels - alpha == 3 else "minisblack"
        # Samples beyond the photometric's own (3 or 1) must each be declared.
        extra = channels - (3 if photometric == "rgb" else 1)
        extrasamples = ("unspecified",) * (extra - alpha) + ("unassalpha",) * alpha
        tifffile.imwrite(path, image, photometric=photometric, extrasamples=extrasamples or None,
                         planarconfig="contig" if image.ndim == 3 else None,
                         extratags=extratags or ())
    else:
        import imagecodecs

        # No PNG filter for flat images: on a 21 MP photo's painted image 0.20 s and 4.9 MB,
        # against 0.58 s and 5.7 MB for Pillow's adaptive filters (labels: 0.11 against 0.26 s).
        options = {"filter": imagecodecs.PNG.FILTER.NONE} if flat else {}
        path.write_bytes(imagecodecs.png_encode(image, level=_PNG_LEVEL, **options))


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Names that are files, never output folders: `-o seg.png` must not make a folder "seg.png".
# Besides these, every extension Pillow knows (.jp2, .avif, .ppm, ...).
FILE_SUFFIXES = (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES, ".pdf", ".svg", ".eps", ".json", ".npy",
                 ".csv", ".txt", ".zarr", ".nii", ".gz", ".mgz", ".dcm")


def _names_a_file(path: Path) -> bool:
    """Whether a path that is not a folder has a file's extension. Pillow's list is read only
    for an extension not in FILE_SUFFIXES: it loads every Pillow plugin (69 of the 400 ms of
    a whole ``kmseg segment`` on a 481x321 photo)."""
    suffix = path.suffix.lower()
    if not suffix or path.is_dir():
        return False
    return suffix in FILE_SUFFIXES or suffix in _pillow_suffixes()


@functools.cache
def _pillow_suffixes() -> frozenset[str]:
    from PIL import Image

    return frozenset(Image.registered_extensions())


def output_folder(folder: Path) -> Path:
    """Create (if needed) and check an output folder.

    Raises
    ------
    OutputError
        A name that looks like a file (``seg.png``) and is not an existing folder; a folder
        that cannot be created or written.
    """
    if _names_a_file(folder):
        raise OutputError(f"{folder}: expected an output folder, but this is a file name; "
                          "give a folder (outputs are named after each input in it)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{folder}: cannot create the output folder ({error.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: the output folder is not writable")
    return folder


def fits_png(dtype: np.dtype, colour_channels: int) -> bool:
    return dtype in (np.uint8, np.uint16) and colour_channels in (1, 3)


def refuse_inputs(path: str | PathLike[str], inputs: Iterable[str | PathLike[str] | None]) -> Path:
    """``path`` as a Path, once checked that writing it would not replace one of ``inputs``.

    Raises
    ------
    OutputError
        ``path`` is (resolves to) one of the inputs.
    """
    path = Path(path)
    if path.exists() and any(source and path.resolve() == Path(source).resolve()
                             for source in inputs):
        raise OutputError(f"{path}: refusing to overwrite an input file")
    return path
