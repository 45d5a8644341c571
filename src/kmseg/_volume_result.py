"""Stage 6 — result, for volumes: the label volume, per-class statistics, the files medical
tools open (a NIfTI label map on the scan's grid, a JSON report, optional per-class masks), and
slices in the three anatomical planes for display.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ParameterError, with_source
from ._options import VOLUME_VIEWS, one_of
from ._write import atomic_write, output_folder, refuse_inputs

__all__ = ["ClassStats", "SliceView", "VolumeSegmentation", "slice_view", "view_slice"]


@dataclass(frozen=True)
class ClassStats:
    """One cluster of a volume: how many voxels, how much tissue, what intensities."""

    label: int  # 1..k in the label volume (0 is outside the mask)
    voxels: int
    volume_ml: float
    mean: tuple[float, ...]  # per channel, of the voxels' own values (not windowed)
    std: tuple[float, ...]


@dataclass(frozen=True)
class VolumeSegmentation:
    """A volume clustered into ``k`` classes.

    Attributes
    ----------
    labels : ndarray
        Label volume, the scan's shape: 0 outside the mask, classes ``1..k`` in order of
        increasing mean intensity (of the first channel); uint8, or uint16 beyond 255 classes.
    affine : (4, 4) ndarray
        The scan's voxel-to-RAS+ affine (millimetres).
    centers : (k, C) ndarray
        Cluster centres in the clustered units (after a window, windowed values).
    classes : tuple of ClassStats
        Per class, in label order.
    compactness : float
        Sum of squared distances of the voxels to their centres.
    algorithm : str
        ``"optimal-1d"`` (one channel: the exact optimum) or ``"lloyd"``.
    source : str or None
        The scan's file or folder.
    params : dict
        The parameters the clustering ran with (JSON values).
    seconds : float
        Time taken, reading the scan included.
    """

    labels: np.ndarray
    affine: np.ndarray
    centers: np.ndarray
    classes: tuple[ClassStats, ...]
    compactness: float
    algorithm: str
    source: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    header: Any = field(default=None, repr=False)  # the input's NIfTI header, when it had one
    scan: np.ndarray | None = field(default=None, repr=False)  # the input values (no copy)

    @property
    def k(self) -> int:
        return len(self.classes)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along ``i``, ``j``, ``k`` in millimetres."""
        return tuple(float(s) for s in _voxel_mm(self.affine))

    @property
    def volumes_ml(self) -> dict[int, float]:
        """Volume of each class in millilitres, by label."""
        return {c.label: c.volume_ml for c in self.classes}

    def mask(self, label: int) -> np.ndarray:
        """Boolean volume of one class (``1..k``)."""
        if not 1 <= label <= self.k:
            raise ParameterError(f"label={label} is not a class: use 1..{self.k}")
        return self.labels == label

    def mid_slice(self, axis: int = 2) -> np.ndarray:
        """The labels' middle slice across ``axis`` (2: axial for a RAS-stored scan)."""
        return np.take(self.labels, self.labels.shape[axis] // 2, axis=axis)

    def preview(self, axis: int = 2, index: int | None = None) -> np.ndarray:
        """``(H, 2W, 3)`` uint8: a slice of the scan (first channel, gray, 1st-99th percentile
        inside the mask) beside the same slice with each class in its own colour (outside
        the mask: the scan). ``index`` defaults to the middle; the slice's first voxel axis
        runs left to right, its second bottom to top."""
        index = self.labels.shape[axis] // 2 if index is None else index
        labels = np.take(self.labels, index, axis=axis)
        gray = np.zeros(labels.shape) if self.scan is None else self._gray(axis, index)
        scan_rgb = np.repeat((gray * 255).round().astype(np.uint8)[..., None], 3, axis=-1)
        overlay = scan_rgb.copy()
        inside = labels > 0
        overlay[inside] = CLASS_COLOURS[(labels[inside] - 1) % len(CLASS_COLOURS)]
        upright = [panel.transpose(1, 0, 2)[::-1] for panel in (scan_rgb, overlay)]
        return np.ascontiguousarray(np.concatenate(upright, axis=1))

    def _gray(self, axis: int, index: int) -> np.ndarray:
        values = self.scan if self.scan.ndim == 3 else self.scan[..., 0]
        inside = self.labels > 0
        low, high = np.percentile(values[inside], [1, 99]) if inside.any() else (0.0, 1.0)
        plane = np.take(values, index, axis=axis).astype(np.float64)
        return np.clip((plane - low) / max(high - low, 1e-12), 0, 1)

    def _repr_png_(self) -> bytes:
        """The middle axial slice and its classes, for notebooks."""
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.preview()).save(buffer, format="PNG")
        return buffer.getvalue()

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: geometry, parameters and per-class statistics."""
        return {
            "source": self.source,
            "k": self.k,
            "algorithm": self.algorithm,
            "compactness": self.compactness,
            "shape": list(self.labels.shape),
            "spacing_mm": list(self.spacing),
            "affine": self.affine.tolist(),
            "params": self.params,
            "classes": [
                {"label": c.label, "voxels": c.voxels, "volume_ml": c.volume_ml,
                 "mean": _one_or_list(c.mean), "std": _one_or_list(c.std),
                 "center": _one_or_list(tuple(self.centers[c.label - 1].tolist()))}
                for c in self.classes
            ],
        }

    def to_dicom_seg(self) -> bytes:
        """The label volume as the bytes of a DICOM SEG file over the source series (one
        segment per class), for a scan read from DICOM; needs highdicom (the ``med`` extra).

        Raises
        ------
        ParameterError
            The scan was not read from DICOM, or highdicom is not installed.
        """
        from ._dicom_seg import dicom_seg_bytes
        from .io._dicom import series_datasets
        from .io._volume import is_dicom_path

        if self.source is None or not is_dicom_path(self.source):
            raise ParameterError(f"a DICOM SEG is made over a DICOM series: "
                                 f"{self.source or 'this array'} is not one")
        datasets = series_datasets(Path(self.source), series=self.params.get("series"))
        names = [f"class {c.label}" for c in self.classes]
        try:
            return dicom_seg_bytes(self.labels, datasets, names)
        except ParameterError as error:
            raise ParameterError(with_source(str(error), self.source)) from None

    def save(
        self, folder: str | os.PathLike[str], *, stem: str | None = None, masks: bool = False,
        compare: bool = False, dicom_seg: bool = False,
        protect: Iterable[str | os.PathLike[str] | None] = (),
    ) -> list[Path]:
        """Write ``<stem>_labels.nii.gz`` and ``<stem>.json`` (and ``<stem>_mask_<i>.nii.gz``
        per class with ``masks``, ``<stem>_compare.png``, the :meth:`preview`, with
        ``compare``, ``<stem>_seg.dcm``, :meth:`to_dicom_seg`, with ``dicom_seg``) into
        ``folder``, each atomically; the paths written.

        ``stem`` defaults to the source's name without its volume suffix. No file is written
        when any path would replace the scan itself or one of ``protect`` (other inputs: the
        mask, the other scans of a run).
        """
        from .io._volume import volume_stem

        folder = output_folder(Path(folder))
        stem = stem or (volume_stem(self.source) if self.source else "volume")
        planned = [(folder / f"{stem}_labels.nii.gz", self.labels)]
        if masks:
            planned += [(folder / f"{stem}_mask_{c.label}.nii.gz",
                         (self.labels == c.label).astype(np.uint8)) for c in self.classes]
        report = folder / f"{stem}.json"
        figure = folder / f"{stem}_compare.png"
        seg_file = folder / f"{stem}_seg.dcm"
        inputs = [self.source, *protect]
        paths = [refuse_inputs(path, inputs)
                 for path in [*(path for path, _ in planned), *([figure] if compare else []),
                              *([seg_file] if dicom_seg else []), report]]
        seg_bytes = self.to_dicom_seg() if dicom_seg else None  # its errors before any write
        for path, data in planned:
            atomic_write(path, lambda tmp, data=data: tmp.write_bytes(_nifti_bytes(self, data)))
        if compare:
            atomic_write(figure, lambda tmp: tmp.write_bytes(self._repr_png_()))
        if seg_bytes is not None:
            atomic_write(seg_file, lambda tmp: tmp.write_bytes(seg_bytes))
        text = json.dumps(self.to_dict(), indent=2)
        atomic_write(report, lambda tmp: tmp.write_text(text + "\n"))
        return paths

    def to_nifti(self, label: int | None = None) -> bytes:
        """The label volume, or with ``label`` that class's mask (0/1), as the bytes of a
        gzipped NIfTI-1 file on the scan's grid (what :meth:`save` writes)."""
        data = self.labels if label is None else self.mask(label).astype(np.uint8)
        return _nifti_bytes(self, data)

# Class colours of the preview and the web app (tab10's first ten), class 1 first.
CLASS_COLOURS = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40],
                           [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127],
                           [188, 189, 34], [23, 190, 207]], dtype=np.uint8)


def _one_or_list(values: tuple[float, ...]) -> float | list[float]:
    return values[0] if len(values) == 1 else list(values)


def _nifti_bytes(seg: VolumeSegmentation, data: np.ndarray) -> bytes:
    """A gzipped NIfTI-1 file of ``data`` on the scan's grid (the input's header kept when
    it was NIfTI); gzip's time stamp is 0, so the same labels give the same bytes."""
    import nibabel

    header = None
    if type(seg.header) is nibabel.Nifti1Header:  # not NIfTI-2's, a subclass
        header = seg.header.copy()
        header.set_data_dtype(data.dtype)
    image = nibabel.Nifti1Image(data, seg.affine, header)
    image.header.set_slope_inter(1.0, 0.0)
    image.header["cal_min"], image.header["cal_max"] = 0, int(data.max(initial=0))
    if header is None:  # scanner coordinates, as the input's affine gives them
        image.set_qform(seg.affine, code=1)
        image.set_sform(seg.affine, code=1)
    return gzip.compress(image.to_bytes(), compresslevel=6, mtime=0)


@dataclass(frozen=True)
class SliceView:
    """How the slices of one anatomical plane of a scan are shown (after reorienting the scan
    to the closest RAS+ voxel order): patient's left on the left, anterior or superior up."""

    view: str  # one of VOLUME_VIEWS
    slices: int  # slices across the plane, 0..slices-1
    width: int  # pixels of a slice, left to right
    height: int
    column_mm: float  # a pixel's size on screen, in millimetres
    row_mm: float
    edges: tuple[str, str, str, str]  # the patient's side at the left, right, top and bottom


# The RAS+ axis each view (VOLUME_VIEWS) runs across, and the patient's sides at each axis's
# low and high end.
_ACROSS = {"axial": 2, "coronal": 1, "sagittal": 0}
_SIDES = (("L", "R"), ("P", "A"), ("I", "S"))


def slice_view(shape: tuple[int, ...], affine: np.ndarray, view: str) -> SliceView:
    """The geometry of ``view`` for a scan of ``shape`` (3 or 4 axes) and ``affine``.

    Examples
    --------
    >>> slice_view((10, 20, 30), np.diag([1.0, 2.0, 3.0, 1.0]), "coronal")
    SliceView(view='coronal', slices=20, width=10, height=30, column_mm=1.0, row_mm=3.0, \
edges=('L', 'R', 'S', 'I'))
    """
    if view not in _ACROSS:
        raise ParameterError(f"view={view!r}: use {one_of(VOLUME_VIEWS)}")
    across = _ACROSS[view]
    column, row = (axis for axis in range(3) if axis != across)
    sizes, spacing = _ras_order(affine, shape[:3]), _ras_order(affine, _voxel_mm(affine))
    return SliceView(view, int(sizes[across]), int(sizes[column]), int(sizes[row]),
                     float(spacing[column]), float(spacing[row]),
                     (_SIDES[column][0], _SIDES[column][1], _SIDES[row][1], _SIDES[row][0]))


def view_slice(data: np.ndarray, affine: np.ndarray, view: str, index: int) -> np.ndarray:
    """Slice ``index`` of ``view`` (:func:`slice_view`), upright: ``(height, width)``, or
    ``(height, width, C)`` for a scan of several channels. A view of the array, not a copy."""
    from nibabel.orientations import apply_orientation, io_orientation

    geometry = slice_view(data.shape, affine, view)
    if not 0 <= index < geometry.slices:
        raise ParameterError(f"slice {index} does not exist: the {view} view has slices "
                             f"0..{geometry.slices - 1}")
    canonical = apply_orientation(data, io_orientation(affine))
    plane = np.take(canonical, index, axis=_ACROSS[view])
    return plane.swapaxes(0, 1)[::-1]  # rows: the higher axis, its high end at the top


def _ras_order(affine: np.ndarray, values) -> list:
    """Per-voxel-axis values listed by the RAS+ axis each voxel axis is closest to."""
    from nibabel.orientations import io_orientation

    ordered = [0] * 3
    for axis, (ras_axis, _) in enumerate(io_orientation(affine)):
        ordered[int(ras_axis)] = values[axis]
    return ordered


def _voxel_mm(affine: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)
