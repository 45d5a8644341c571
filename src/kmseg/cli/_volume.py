"""``kmseg segment`` of a scan (NIfTI, MGH, DICOM): loaded only when an input is one."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._errors import ParameterError, with_source
from .._options import DEFAULT_ATTEMPTS
from ..volume import read_volume, segment_volume, stack_channels
from ._progress import working

# Options of photos that have no meaning for a scan's voxels (attribute: option).
_IMAGE_ONLY = {
    "chunked": "--chunked", "palette": "--palette",
    "save_palette": "--save-palette", "regions": "--regions", "superpixels": "--superpixels",
    "position": "--position", "texture": "--texture", "smooth": "--smooth",
    "fix": "--fix", "bands": "--bands", "region_masks": "--region-masks",
    "normalize": "--normalize", "min_psnr": "--min-psnr", "max_error": "--max-error",
    "min_region": "--min-region", "zarr": "--zarr", "scheduler": "--scheduler",
    "workers": "--workers", "superpixel_method": "--superpixel-method",
    "hierarchy": "--hierarchy", "region_level": "--region-level",
}


def segment_scan(scan: str, args: argparse.Namespace) -> None:
    """Cluster a scan's voxels and write ``<stem>_labels.nii.gz`` and ``<stem>.json``."""
    _refuse_image_options(scan, args)
    if args.k == "auto":
        raise ParameterError(with_source("-k auto applies to images: give k for a scan", scan))
    k = 3 if args.k is None else args.k
    with working(f"segmenting {scan}"):
        volume = scan
        if args.channels:
            volume = stack_channels([read_volume(path, frame=args.frame, series=args.series)
                                     for path in [scan, *args.channels]])
        seg = segment_volume(volume, k, mask=args.mask, window=args.window, frame=args.frame,
                             series=args.series, tissue=args.tissue, seed=args.seed,
                             attempts=args.attempts or DEFAULT_ATTEMPTS, max_iter=args.max_iter,
                             eps=args.eps)
    with working(f"writing the outputs of {scan}"):
        written = seg.save(args.outdir, masks=args.masks, compare=args.compare,
                           dicom_seg=args.dicom_seg,
                           protect=[*args.images, args.mask, *(args.channels or [])])
    volumes = ", ".join(f"{c.label}: {c.volume_ml:.4g}" for c in seg.classes)
    print(f"{scan}: k={seg.k} voxels={sum(c.voxels for c in seg.classes)} "
          f"mL by class {{{volumes}}} ({seg.seconds:.2f} s) -> "
          f"{Path(written[0]).parent}/{Path(written[-1]).stem}_*")


def _refuse_image_options(scan: str, args: argparse.Namespace) -> None:
    given = [option for name, option in _IMAGE_ONLY.items() if getattr(args, name, None)]
    if args.space is not None:
        given.append("--space")
    if args.init != "k-means++":
        given.append("--init")
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise ParameterError(with_source(f"{', '.join(given)} {verb} to images, not to a scan",
                                         scan))
