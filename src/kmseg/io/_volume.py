"""Volumes: NIfTI, FreeSurfer MGH and multi-page TIFF z-stacks read into a :class:`Volume`.

A volume keeps its geometry: ``affine`` maps voxel indices ``(i, j, k)`` to RAS+ millimetres,
as nibabel's does, so labels written back with it overlay the scan in any viewer. DICOM series
are read by :mod:`._dicom` into the same :class:`Volume`.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ImageReadError, ParameterError, with_source
from .._options import IMAGE_SUFFIXES, VOLUME_SUFFIXES
from ._common import check_voxels

# A folder, or a file with none of VOLUME_SUFFIXES that starts with the DICOM preamble, is
# read as DICOM.
NIFTI_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh")
DICOM_SUFFIXES = (".dcm", ".dicom")


@dataclass(frozen=True)
class Volume:
    """Voxel values and where they are.

    Attributes
    ----------
    data : ndarray
        ``(I, J, K)`` voxel values, or ``(I, J, K, C)`` for several channels (e.g. FLAIR and
        T1c stacked), in any integer or float dtype.
    affine : (4, 4) ndarray
        Voxel index ``(i, j, k, 1)`` to RAS+ millimetres (the NIfTI convention).
    source : str or None
        The file or folder it was read from.
    header : nibabel header or None
        A NIfTI file's header, kept for the label volume written back.
    """

    data: np.ndarray
    affine: np.ndarray
    source: str | None = None
    header: Any = field(default=None, repr=False, compare=False)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along ``i``, ``j``, ``k`` in millimetres."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def voxel_ml(self) -> float:
        """Volume of one voxel in millilitres (cubic centimetres)."""
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0


def volume_stem(path: str | os.PathLike[str]) -> str:
    """The file name without its volume or image suffix (``brain.nii.gz`` -> ``brain``); a
    folder's own name (``.`` too); a DICOM file named by its UID keeps its whole name."""
    path = Path(path)
    return name_stem(path.resolve().name if path.is_dir() else path.name)


def name_stem(name: str) -> str:
    """:func:`volume_stem` of a file name alone (no file system look-up)."""
    for suffix in sorted(VOLUME_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem if Path(name).suffix.lower() in IMAGE_SUFFIXES else name


def is_dicom_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is read as DICOM: a folder holding DICOM files, or a DICOM file."""
    from ._dicom import holds_dicom, is_dicom_file

    path = Path(path)
    return holds_dicom(path) if path.is_dir() else path.is_file() and is_dicom_file(path)


def is_volume_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is read as a volume: a NIfTI/MGH/DICOM file or a folder of DICOM."""
    path = Path(path)
    if path.is_dir():
        from ._dicom import holds_dicom

        return holds_dicom(path)
    if path.name.lower().endswith(VOLUME_SUFFIXES):
        return True
    from ._dicom import is_dicom_file  # DICOM files named IM0001 or by their UID

    return path.suffix.lower() not in IMAGE_SUFFIXES and is_dicom_file(path)


def read_volume(
    path: str | os.PathLike[str], *, frame: int | None = None, series: str | None = None,
    max_voxels: int | None = None,
) -> Volume:
    """Read a scan: NIfTI (``.nii``, ``.nii.gz``), MGH (``.mgz``), DICOM or a TIFF z-stack.

    Parameters
    ----------
    path : str or os.PathLike
        A NIfTI or MGH file; a DICOM file or a folder holding a DICOM series; or a multi-page
        TIFF whose pages are the slices.
    frame : int, optional
        Frame of a 4-D NIfTI/MGH (from 0); required when the file has several frames.
    series : str, optional
        SeriesInstanceUID (or a unique prefix) of the series to read from a folder holding
        several.
    max_voxels : int, optional
        Refuse (ImageTooLargeError) a scan of more voxels (a frame's), known from its headers
        before any data is decoded: a few kB of compressed upload can decode to gigabytes.

    Returns
    -------
    Volume

    Raises
    ------
    ImageReadError
        The file or folder is missing or unreadable; a 4-D file without ``frame``; a DICOM
        folder with several series and no ``series``, or a series with missing or duplicate
        slices or uneven spacing.

    Examples
    --------
    >>> import numpy as np, nibabel as nib, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "scan.nii.gz")
    >>> nib.save(nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), np.diag([2., 2., 3., 1.])), path)
    >>> volume = read_volume(path)
    >>> volume.data.shape, volume.spacing
    ((4, 5, 6), (2.0, 2.0, 3.0))
    """
    source = os.fspath(path)
    path = Path(source)
    if not path.exists():
        raise ImageReadError(with_source("no such file or folder", source))
    volume = _read(path, source, frame, series, max_voxels)
    affine = volume.affine
    if not (np.isfinite(affine).all() and abs(np.linalg.det(affine[:3, :3])) > 0):
        raise ImageReadError(with_source(
            "its voxel-to-world affine is degenerate (not finite, or a zero direction): "
            "the voxels have no size or orientation", source))
    return volume


def _read(path: Path, source: str, frame: int | None, series: str | None,
          max_voxels: int | None) -> Volume:
    name = path.name.lower()
    if path.is_dir() or name.endswith(DICOM_SUFFIXES):
        from ._dicom import read_dicom

        return Volume(*read_dicom(path, series=series, max_voxels=max_voxels), source)
    if name.endswith(NIFTI_SUFFIXES):
        return _read_nibabel(source, frame, max_voxels)
    if name.endswith((".tif", ".tiff")):
        return _read_tiff_stack(source, max_voxels)
    from ._dicom import is_dicom_file, read_dicom

    if is_dicom_file(path):
        return Volume(*read_dicom(path, series=series, max_voxels=max_voxels), source)
    raise ImageReadError(with_source(
        "not a volume: expected .nii, .nii.gz, .mgz, DICOM (a file or a series folder) or a "
        "multi-page TIFF", source))


def _read_nibabel(source: str, frame: int | None, max_voxels: int | None) -> Volume:
    import nibabel
    from nibabel.freesurfer.mghformat import MGHError

    try:
        image = nibabel.load(source)
        check_voxels(image.shape[:3], max_voxels, source)
        # One frame of a 4-D file read from disk, not all; scl_slope / scl_inter applied.
        data = np.asanyarray(_one_frame(image.dataobj, frame, source))
    except ImageReadError:  # too many voxels: already said
        raise
    except (OSError, ValueError, EOFError, zlib.error, nibabel.filebasedimages.ImageFileError,
            nibabel.spatialimages.HeaderDataError, MGHError) as exc:
        raise ImageReadError(with_source(f"not a readable NIfTI/MGH file ({exc})", source)) \
            from exc
    if data.dtype.kind not in "biuf":  # RGB24 records, complex
        raise ImageReadError(with_source(
            f"holds {data.dtype} voxels: kmseg clusters real intensities", source))
    if data.ndim == 2:  # a single slice
        data = data[:, :, None]
    if data.ndim != 3 or 0 in data.shape:
        raise ImageReadError(with_source(f"expected a 3-D volume, got shape {data.shape}",
                                         source))
    header = image.header if isinstance(image, nibabel.Nifti1Image) else None
    return Volume(data, np.asarray(image.affine, dtype=np.float64), source, header)


def _one_frame(data: Any, frame: int | None, source: str) -> Any:
    """The 3-D frame ``frame`` of a 4-D array or nibabel array proxy (a 4-D one of one frame
    is that frame)."""
    if data.ndim != 4:
        if frame not in (None, 0):
            raise ParameterError(with_source(f"frame={frame}: the volume has one frame",
                                             source))
        return data
    n_frames = data.shape[3]
    if frame is None:
        if n_frames == 1:
            return data[..., 0]
        raise ImageReadError(with_source(
            f"is 4-D with {n_frames} frames: choose one with frame= (--frame) "
            f"0..{n_frames - 1}",
            source))
    if not 0 <= frame < n_frames:
        raise ParameterError(with_source(f"frame={frame} is out of range 0..{n_frames - 1}",
                                         source))
    return data[..., frame]


def _read_tiff_stack(source: str, max_voxels: int | None) -> Volume:
    """Pages of a TIFF as slices ``k``; voxel size in mm from ImageJ's metadata and the
    resolution tags when they say their unit, else 1."""
    import tifffile

    try:
        with tifffile.TiffFile(source) as tiff:
            axes = tiff.series[0].axes
            check_voxels(tiff.series[0].shape, max_voxels, source)
            data = tiff.asarray()
            spacing = _tiff_spacing(tiff)
    except ImageReadError:  # too many voxels: already said
        raise
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise ImageReadError(with_source(f"not a readable TIFF ({exc})", source)) from exc
    if data.ndim != 3 or not axes.endswith("YX") or axes[0] not in "ZQITC":
        raise ImageReadError(with_source(
            f"expected a stack of 2-D gray pages (slices, rows, columns), got axes {axes!r} "
            f"of shape {data.shape}", source))
    # (slices, rows, columns) -> (columns i, rows j, slices k), as NIfTI stores them.
    return Volume(np.ascontiguousarray(data.transpose(2, 1, 0)),
                  np.diag([*spacing, 1.0]), source)


# Millimetres per unit: ImageJ's unit names, and TIFF's ResolutionUnit (2 inch, 3 cm).
_MM_PER_UNIT = {"mm": 1.0, "millimeter": 1.0, "cm": 10.0, "centimeter": 10.0, "m": 1000.0,
                "um": 1e-3, "µm": 1e-3, "\\u00B5m": 1e-3, "micron": 1e-3, "microns": 1e-3,
                "micrometer": 1e-3, "nm": 1e-6, "nanometer": 1e-6, "inch": 25.4}
_RESOLUTION_UNITS = {2: "inch", 3: "cm"}


def _tiff_spacing(tiff) -> tuple[float, float, float]:
    """Column, row and slice spacing in mm; 1 for what the file does not give in a known
    unit."""
    page = tiff.pages[0]
    imagej = tiff.imagej_metadata or {}
    unit = imagej.get("unit")
    if unit is None:
        tag = page.tags.get("ResolutionUnit")
        unit = _RESOLUTION_UNITS.get(int(tag.value)) if tag is not None else None
    scale = _MM_PER_UNIT.get(str(unit).strip().lower()) if unit is not None else None
    if scale is None:  # no unit: pixels
        return 1.0, 1.0, 1.0

    def size(name: str) -> float:
        tag = page.tags.get(name)
        if tag is None:
            return 1.0
        numerator, denominator = tag.value
        return scale * float(denominator) / float(numerator) if numerator else 1.0

    z = float(imagej.get("spacing", 1.0)) * (scale if "spacing" in imagej else 1.0)
    return size("XResolution"), size("YResolution"), z
