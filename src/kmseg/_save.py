"""Stage 6 — save: a :class:`~kmseg.Segmentation` to files, atomically.

Which outputs a segmentation gives (labels, painted image, report, masks, cut-outs, regions,
the compare figure) and their names; :mod:`kmseg._write` writes each atomically. Every output
path is checked before the first is written; one that would replace an input is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._labels import masked_label
from ._write import (
    atomic_write,
    fits_png,
    output_folder,
    refuse_inputs,
    write_image,
)

if TYPE_CHECKING:

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
