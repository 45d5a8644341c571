"""The work of the scan routes, run on the runtime's thread pool: a scan's description, its
slices in the three planes, its segmentations (cached per scan) and their exports."""

from __future__ import annotations

import json

import numpy as np

from .._errors import KmsegError, ParameterError
from .._options import VOLUME_VIEWS
from ._schemas import VolumeExportParams, VolumeParams
from ._store import StoredVolume, said_of_upload
from ._work import fitted, png

# Segmentations kept per scan: each holds a label volume (16 MB for 256^3 voxels).
_FITS_PER_SCAN = 4


def describe(stored: StoredVolume) -> dict:
    from .._volume_result import slice_view

    volume = stored.volume
    views = [slice_view(volume.data.shape, volume.affine, view) for view in VOLUME_VIEWS]
    return {"id": stored.id, "name": stored.name, "description": stored.description,
            "dicom": stored.dicom,
            "shape": list(volume.data.shape), "spacing": list(volume.spacing),
            "views": [{**vars(view), "edges": list(view.edges)} for view in views]}


def scan_slice_png(stored: StoredVolume, view: str, index: int, window: str | None) -> bytes:
    """Slice ``index`` of a plane as 8-bit gray: the window's range (or the scan's 1st-99th
    percentile) from black to white; the first channel of a multi-channel scan."""
    from .._volume_result import view_slice
    from ..volume import window_bounds

    volume = stored.volume
    plane = view_slice(volume.data, volume.affine, view, index)
    plane = plane if plane.ndim == 2 else plane[..., 0]
    low, high = window_bounds(window) or stored.display
    scaled = (np.asarray(plane, dtype=np.float64) - low) / max(high - low, 1e-12)
    return png(np.rint(np.clip(np.nan_to_num(scaled), 0, 1) * 255).astype(np.uint8))


def segmentation(stored: StoredVolume, params: VolumeParams):
    """The scan's segmentation with these parameters (computed once, then cached)."""
    from ..volume import segment_volume

    def run():
        try:
            return segment_volume(stored.volume, params.k, mask=_voxels(stored, params),
                                  window=params.window, tissue=params.tissue, seed=params.seed)
        except KmsegError as error:  # said of the upload, not of its temporary file
            raise type(error)(said_of_upload(str(error), stored.path, stored.name)) from None

    key = tuple(getattr(params, name) for name in VolumeParams.model_fields)  # not an export's
    return fitted(stored, key, run, keep=_FITS_PER_SCAN)


def _voxels(stored: StoredVolume, params: VolumeParams) -> np.ndarray | None:
    """The voxels to cluster: the finite ones (the page has no mask to leave NaN out), not 0
    with ``nonzero``; None for all of them."""
    data = stored.volume.data
    keep = np.isfinite(data) if data.dtype.kind == "f" else np.ones(data.shape, bool)
    keep = keep if keep.ndim == 3 else keep.all(axis=3)
    if params.nonzero:
        keep &= data != 0 if data.ndim == 3 else (data != 0).any(axis=3)
    return None if keep.all() else keep


def segment_result(stored: StoredVolume, params: VolumeParams) -> dict:
    """The body of a scan's segment request: per class its colour, voxels, mL, mean, SD."""
    from .._volume_result import CLASS_COLOURS

    seg = segmentation(stored, params)
    hexes = ["#{:02x}{:02x}{:02x}".format(*rgb) for rgb in CLASS_COLOURS.tolist()]
    return {
        "k": seg.k, "algorithm": seg.algorithm, "compactness": seg.compactness,
        "bias_corrected": bool(seg.params.get("bias_corrected")), "seconds": seg.seconds,
        "classes": [{"label": c.label, "hex": hexes[(c.label - 1) % len(hexes)],
                     "voxels": c.voxels, "volume_ml": c.volume_ml, "mean": list(c.mean),
                     "std": list(c.std)} for c in seg.classes],
    }


def labels_slice_png(stored: StoredVolume, params: VolumeParams, view: str, index: int
                     ) -> bytes:
    """Slice ``index`` of a plane of the label volume: gray level = class (0: not
    clustered)."""
    from .._volume_result import view_slice

    seg = segmentation(stored, params)
    return png(np.ascontiguousarray(view_slice(seg.labels, seg.affine, view, index)))


def export(stored: StoredVolume, params: VolumeExportParams) -> tuple[bytes, str, str]:
    """An export's bytes, media type and file name: the label volume or one class's mask as
    gzipped NIfTI on the scan's grid, the JSON report, or a DICOM SEG (a DICOM upload)."""
    seg = segmentation(stored, params)
    if params.what == "report":
        body = json.dumps(seg.to_dict() | {"source": stored.name}, indent=2)
        return body.encode(), "application/json", f"{stored.name}.json"
    if params.what == "dicom-seg":
        if not stored.dicom:
            raise ParameterError(f"{stored.name}: a DICOM SEG is made over a DICOM upload")
        try:
            return seg.to_dicom_seg(), "application/dicom", f"{stored.name}_seg.dcm"
        except ParameterError as error:
            raise ParameterError(said_of_upload(str(error), stored.path, stored.name)) \
                from None
    if params.what == "mask":
        return (seg.to_nifti(params.label), "application/gzip",
                f"{stored.name}_mask_{params.label}.nii.gz")
    return seg.to_nifti(), "application/gzip", f"{stored.name}_labels.nii.gz"
