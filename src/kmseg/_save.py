"""Stage 6 — save: a :class:`~kmseg.Segmentation` to files, atomically.

Every file is written to a temporary name in the output folder and renamed into place, so a
reader never sees half a file and an interrupted run leaves no partial output. Every output
path is checked before the first is written; one that would replace an input is refused.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ._errors import OutputError
from ._labels import masked_label
from ._options import IMAGE_SUFFIXES, VIDEO_SUFFIXES

# zlib level 1: a 14 MP label map and painted image encode in ~0.3 s instead of 1.9 s at
# level 6, for files ~20% larger.
_PNG_LEVEL = 1

T = TypeVar("T")

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ._result import Segmentation


def save_segmentation(
    seg: Segmentation,
    outdir: str | PathLike[str],
    *,
    stem: str | None = None,
    compare: bool = False,
    masks: bool = False,
    region_masks: bool = False,
    protect: Iterable[str | PathLike[str]] = (),
    figure_width: float | None = None,
    figure_dpi: float | None = None,
) -> dict[str, Path]:
    """Write a segmentation's files to ``outdir`` (created if missing).

    Files (``<stem>`` defaults to the input file's name without extension, else ``"image"``):

    - ``<stem>_labels.png``: the label map (8-bit, or 16-bit when k > 255); masked pixels hold
      ``seg.masked_label`` (255 or 65535). From a GeoTIFF, every raster is a ``.tif`` with the
      input's georeferencing (CRS, transform), and the label map's GDAL nodata is the masked
      label;
    - ``<stem>_labels_preview.png``: the label map to look at (the raw one, values ``0..k-1``,
      looks black in viewers): label ``i`` drawn as gray ``round(i * 255 / (k - 1))``, so
      cluster 0 (the darkest centre) is black and cluster k-1 white; 16-bit above 256
      clusters; masked pixels transparent (gray + alpha). Always a PNG, without
      georeferencing;
    - ``<stem>_segmented.png``: each pixel painted with its centre, in the input's bit depth
      (``.tif`` instead for float or multi-band images), transparent where masked;
    - ``<stem>.json``: k, centres (input units and ``#rrggbb``), sizes, compactness, every
      parameter, kmseg version, timings and the list of files;
    - with ``compare=True``: ``<stem>_compare.png``, original and segmented side by side
      (:func:`kmseg.plot.compare` with ``width=figure_width`` inches and ``dpi=figure_dpi``:
      by default 8 inches at 100 dpi, 800 pixels wide);
    - with ``masks=True``: ``<stem>_mask_<i>.png`` (0/255) and ``<stem>_cutout_<i>.png``
      (RGBA: the cluster's original pixels, transparent elsewhere) for every cluster;
    - with a region map (``min_region`` or ``regions=True``): ``<stem>_regions.png`` (region ids
      ``1..R``, 0 where masked; 16-bit, or ``.tif`` 32-bit above 65535 regions) and
      ``<stem>_boundaries.png`` (the photo, region boundaries in yellow); the JSON report holds
      the region table; with ``region_masks=True`` also ``<stem>_region_<id>.png`` (0/255).

    Every path is checked before anything is written: none may be the input file or one of
    ``protect`` (e.g. the other inputs of a batch).

    Parameters
    ----------
    seg : Segmentation
    outdir : str or path
    stem : str, optional
        Start of every file name (see above).
    compare, masks, region_masks : bool, default False
        Write the optional files listed above.
    protect : iterable of str or path
        Files never to write over.
    figure_width, figure_dpi : float, optional
        Size of ``<stem>_compare.png``: the figure's width in inches and its dots per inch
        (``width`` and ``dpi`` of :func:`kmseg.plot.compare`); the PNG is
        ``figure_width * figure_dpi`` pixels wide.

    Returns
    -------
    dict
        Role (``"labels"``, ``"labels_preview"``, ``"segmented"``, ``"json"``, ``"compare"``,
        ``"mask_0"``, ...) to path.

    Raises
    ------
    OutputError
        The folder cannot be created or written, or an output would replace an input.

    Examples
    --------
    >>> import kmseg, tempfile
    >>> seg = kmseg.segment(kmseg.data.sample_path(), k=3)
    >>> sorted(seg.save(tempfile.mkdtemp()))
    ['json', 'labels', 'labels_preview', 'segmented']
    """
    outdir = output_folder(Path(outdir))
    stem = stem or (Path(seg.source).stem if seg.source else "image")
    plan = _plan(seg, outdir, stem, compare=compare, masks=masks, region_masks=region_masks,
                 figure_options={"width": figure_width, "dpi": figure_dpi})
    json_path = outdir / f"{stem}.json"
    inputs = [*protect, *([seg.source] if seg.source else [])]
    for path in [json_path, *(path for path, _ in plan.values())]:
        refuse_inputs(path, inputs)
    for path, write in plan.values():
        atomic_write(path, write)
    written = {role: path for role, (path, _) in plan.items()}
    report = seg.summary() | {"files": {role: path.name for role, path in written.items()}}
    atomic_write(json_path, lambda p: p.write_text(json.dumps(report, indent=2) + "\n"))
    return written | {"json": json_path}


def _plan(
    seg: Segmentation, outdir: Path, stem: str, *, compare: bool, masks: bool,
    region_masks: bool, figure_options: dict[str, float | None],
) -> dict[str, tuple[Path, Callable[[Path], None]]]:
    """Role -> (path, writer) of every image file to write."""
    plan: dict[str, tuple[Path, Callable[[Path], None]]] = {}

    def add_image(role: str, name: str, image: np.ndarray, channels: int, alpha: bool,
                  nodata: int | None = None) -> None:
        flat = not role.startswith("cutout")
        # A GeoTIFF's rasters stay GeoTIFFs, on the input's grid and CRS.
        geotags = None if seg.georef is None else seg.georef.extratags(nodata)
        png = fits_png(image.dtype, channels) and geotags is None
        path = outdir / (name + (".png" if png else ".tif"))
        plan[role] = (path, lambda p: write_image(p, image, alpha=alpha, extratags=geotags,
                                                  flat=flat))

    masked = seg.valid is not None
    add_image("labels", f"{stem}_labels", seg.labels, 1, False,
              nodata=seg.masked_label if masked else None)
    preview = label_preview(seg.labels, seg.k)
    plan["labels_preview"] = (outdir / f"{stem}_labels_preview.png",
                              lambda p: write_image(p, preview, alpha=preview.ndim == 3,
                                                    flat=True))
    has_alpha = seg.output_alpha() is not None
    add_image("segmented", f"{stem}_segmented", seg.segmented(), seg.centers.shape[1], has_alpha)
    if compare:
        from ._panels import compare_figure  # matplotlib: only when a figure is asked for

        figure = compare_figure(seg, **figure_options)
        plan["compare"] = (outdir / f"{stem}_compare.png",
                           lambda p: figure.savefig(p, format="png"))
    if masks:
        cutout_channels = max(3, seg.image.shape[2] if seg.image.ndim == 3 else 1)
        for i in range(seg.k):
            mask = seg.cluster_mask(i).astype(np.uint8) * 255
            add_image(f"mask_{i}", f"{stem}_mask_{i}", mask, 1, False)
            add_image(f"cutout_{i}", f"{stem}_cutout_{i}", seg.cutout(i), cutout_channels, True)
    if seg.regions is not None:
        ids = seg.regions.astype(np.uint16 if seg.n_regions <= 0xFFFF else np.uint32)
        add_image("regions", f"{stem}_regions", ids, 1, False, nodata=0 if masked else None)
        add_image("boundaries", f"{stem}_boundaries", seg.boundaries(), 3, False)
        if region_masks:
            for region in range(1, seg.n_regions + 1):
                mask = seg.region_mask(region).astype(np.uint8) * 255
                add_image(f"region_{region}", f"{stem}_region_{region}", mask, 1, False)
    return plan


def label_preview(labels: np.ndarray, k: int) -> np.ndarray:
    """A label map to look at: label ``i`` as gray ``round(i * full / (k - 1))`` (uint8,
    full = 255; uint16 above 256 clusters), so each cluster has its own level, in the order of
    the centres' luminance. With masked pixels, ``(M, N, 2)`` gray + alpha, 0 where masked."""
    dtype = np.dtype(np.uint8 if k <= 256 else np.uint16)
    full = np.iinfo(dtype).max
    table = np.zeros(np.iinfo(labels.dtype).max + 1, dtype)
    table[:k] = np.rint(np.linspace(0, full, k)) if k > 1 else full
    gray = table[labels]
    masked = labels == masked_label(labels.dtype)
    if not masked.any():
        return gray
    return np.stack([gray, np.where(masked, 0, full).astype(dtype)], axis=-1)


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
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix,
                                            dir=path.parent)
    except OSError as error:
        raise OutputError(f"{path.parent}: cannot write there ({error.strerror})") from None
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp, path)
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise OutputError(f"{path}: cannot write ({reason})") from None
    finally:
        tmp.unlink(missing_ok=True)


def atomic_directory(path: Path, fill: Callable[[Path], T]) -> T:
    """Call ``fill(tmp)`` on a new temporary folder beside ``path``, then rename it to
    ``path`` (what was there before is removed after); ``fill``'s result."""
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


@functools.cache
def _file_suffixes() -> frozenset[str]:
    from PIL import Image

    return frozenset(FILE_SUFFIXES) | frozenset(Image.registered_extensions())


def output_folder(folder: Path) -> Path:
    """Create (if needed) and check an output folder.

    Raises
    ------
    OutputError
        A name that looks like a file (``seg.png``) and is not an existing folder; a folder
        that cannot be created or written.
    """
    if folder.suffix.lower() in _file_suffixes() and not folder.is_dir():
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
