"""DICOM: one file, or a series folder, read by pydicom into voxel values and an affine.

Slices are ordered by their position along the slice normal (not by file name or instance
number), stored values become modality values (``RescaleSlope`` / ``RescaleIntercept``: CT in
Hounsfield units), and the affine comes from ImageOrientationPatient, ImagePositionPatient and
PixelSpacing, turned from DICOM's LPS into RAS. Compressed transfer syntaxes (JPEG 2000,
JPEG-LS, RLE...) decode through pydicom's pixel handlers (Pillow, pylibjpeg or GDCM, whichever
is installed). A series with a missing or duplicate slice, or uneven spacing, is refused with
the positions at fault: a volume built from it would be silently distorted.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from .._errors import ImageReadError, ParameterError, with_source
from ._common import check_voxels

# Slice gaps may differ by this share of the median gap (rounding of positions in the files).
_GAP_TOLERANCE = 0.01
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Modalities of DICOM objects that hold pixel data but are not slices of the scan.
_NOT_SLICES = ("SEG", "RTSTRUCT", "RTDOSE", "SR", "PR", "KO", "REG")
_DICOMDIR = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage


def is_dicom_file(path: Path) -> bool:
    """Whether the file starts with the DICOM preamble and ``DICM`` marker."""
    try:
        with open(path, "rb") as file:
            return file.read(132)[128:] == b"DICM"
    except OSError:
        return False


def holds_dicom(folder: Path) -> bool:
    """Whether a folder holds at least one DICOM file (its first few files are looked at)."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return any(is_dicom_file(p) for p in files[:8])


def read_dicom(path: Path, *, series: str | None = None, max_voxels: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """A DICOM file (one slice) or the one series in a folder: ``(I, J, K)`` modality values
    and the ``(4, 4)`` voxel-to-RAS affine."""
    source = os.fspath(path)
    slices = _series_slices(path, series, source)
    first = slices[0][1]  # the size from the headers, before any pixel data is decoded
    check_voxels((int(first.get("Columns", 0) or 0), int(first.get("Rows", 0) or 0),
                  len(slices) * int(first.get("NumberOfFrames", 1) or 1)), max_voxels, source)
    data = np.stack([_modality_values(ds, source) for _, ds in slices], axis=-1)
    return data, _affine([ds for _, ds in slices], source)


def series_datasets(path: Path, *, series: str | None = None) -> list:
    """The pydicom datasets of the series :func:`read_dicom` reads, in its slice order (the
    source images of a DICOM SEG)."""
    return [ds for _, ds in _series_slices(path, series, os.fspath(path))]


def _series_slices(path: Path, series: str | None, source: str) -> list[tuple[Path, object]]:
    return _ordered(_one_series(_headers(path, source), series, source), source)


def _headers(path: Path, source: str) -> list[tuple[Path, object]]:
    import pydicom

    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    headers = []
    for file in files:
        if not is_dicom_file(file):
            continue
        try:
            ds = pydicom.dcmread(file)
            # Not a slice: a DICOMDIR, a structured report, a segmentation (kmseg's own SEG,
            # written beside its series, must not make it two series).
            other = ds.get("Modality") in _NOT_SLICES or str(
                getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "")) == _DICOMDIR
        except Exception as exc:  # a damaged file raises struct.error, NotImplementedError...
            raise ImageReadError(with_source(f"unreadable DICOM file ({exc})", str(file))) \
                from exc
        if not other:
            headers.append((file, ds))
    if not headers:
        raise ImageReadError(with_source("no DICOM image slice here", source))
    return headers


def _one_series(headers: list, series: str | None, source: str) -> list:
    groups: dict[str, list] = defaultdict(list)
    for file, ds in headers:
        groups[str(ds.get("SeriesInstanceUID", ""))].append((file, ds))
    if series is not None:
        matches = [series] if series in groups else \
            [uid for uid in groups if uid.startswith(series)]
        if len(matches) != 1:
            raise ParameterError(with_source(
                f"series={series!r} matches {len(matches)} of the series here: "
                f"{_listing(groups)}", source))
        return groups[matches[0]]
    if len(groups) > 1:
        raise ImageReadError(with_source(
            f"holds {len(groups)} series: {_listing(groups)}; choose one with --series UID",
            source))
    return next(iter(groups.values()))


def _listing(groups: dict[str, list]) -> str:
    def described(uid: str, members: list) -> str:
        description = str(members[0][1].get("SeriesDescription", "")).strip()
        described = f", {description}" if description else ""
        return f"{uid or '(no UID)'} ({len(members)} files{described})"

    return "; ".join(described(uid, members) for uid, members in groups.items())


def _ordered(members: list, source: str) -> list:
    """Slices sorted along the normal; missing, duplicate or unevenly spaced slices refused,
    and slices whose size, pixel spacing or orientation differ from the first's."""
    if len(members) == 1:
        return members
    _check_alike(members, source)
    normal = _normal(members[0][1], source)
    positions = np.array([_position(ds, source) @ normal for _, ds in members])
    order = np.argsort(positions, kind="stable")
    members = [members[i] for i in order]
    gaps = np.diff(positions[order])
    median = float(np.median(gaps))
    for at, gap in enumerate(gaps):
        files = f"{members[at][0].name} and {members[at + 1][0].name}"
        if gap <= _GAP_TOLERANCE * max(median, 1e-6):
            raise ImageReadError(with_source(
                f"duplicate slice: {files} are both at {positions[order][at]:g} mm", source))
        if abs(gap - median) > _GAP_TOLERANCE * median:
            raise ImageReadError(with_source(
                f"uneven slice spacing: {gap:g} mm between {files} where the others are "
                f"{median:g} mm apart (a missing slice?)", source))
    return members


def _check_alike(members: list, source: str) -> None:
    first_file, first = members[0]
    for keyword in ("Rows", "Columns", "PixelSpacing", "ImageOrientationPatient"):
        expected = first.get(keyword)
        for file, ds in members[1:]:
            value = ds.get(keyword)
            same = value == expected if keyword in ("Rows", "Columns") else (
                value is None and expected is None) or (
                value is not None and expected is not None and len(value) == len(expected)
                and np.allclose([float(v) for v in value], [float(v) for v in expected],
                                atol=1e-4))
            if not same:
                raise ImageReadError(with_source(
                    f"the slices differ: {keyword} is {value} in {file.name} but {expected} in "
                    f"{first_file.name}", source))


def _normal(ds, source: str) -> np.ndarray:
    orientation = _floats(ds, "ImageOrientationPatient", 6, source)
    return np.cross(orientation[:3], orientation[3:])


def _position(ds, source: str) -> np.ndarray:
    return _floats(ds, "ImagePositionPatient", 3, source)


def _floats(ds, keyword: str, count: int, source: str) -> np.ndarray:
    value = ds.get(keyword)
    try:
        values = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        values = np.empty(0)
    if len(values) != count:
        raise ImageReadError(with_source(f"{keyword} is missing or malformed", source))
    return values


def _modality_values(ds, source: str) -> np.ndarray:
    """Stored values to modality values, as ``(columns, rows)`` (NIfTI's i, j order)."""
    try:
        stored = ds.pixel_array
    except Exception as exc:  # pydicom raises many kinds for undecodable pixel data
        raise ImageReadError(with_source(f"cannot decode the pixel data ({exc})", source)) \
            from exc
    if stored.ndim != 2 or stored.dtype.kind not in "biuf":
        raise ImageReadError(with_source(
            f"expected gray slices, got pixel data of shape {stored.shape} ({stored.dtype})",
            source))
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    if slope == 1 and intercept == int(intercept):
        values = stored.astype(np.int32) + int(intercept)
        if values.min() >= -32768 and values.max() <= 32767:
            values = values.astype(np.int16)
    else:
        values = stored * np.float32(slope) + np.float32(intercept)
    return values.T


def _affine(slices: list, source: str) -> np.ndarray:
    """Voxel ``(i, j, k)`` (column, row, slice) to RAS+ millimetres."""
    first = slices[0]
    orientation = _floats(first, "ImageOrientationPatient", 6, source) \
        if first.get("ImageOrientationPatient") is not None else np.array([1, 0, 0, 0, 1, 0.0])
    spacing = _floats(first, "PixelSpacing", 2, source) \
        if first.get("PixelSpacing") is not None else np.ones(2)
    origin = _position(first, source) if first.get("ImagePositionPatient") is not None \
        else np.zeros(3)
    if len(slices) > 1:
        step = (_position(slices[-1], source) - origin) / (len(slices) - 1)
    else:
        thickness = float(first.get("SliceThickness", 1) or 1)
        step = np.cross(orientation[:3], orientation[3:]) * thickness
    lps = np.eye(4)
    # PixelSpacing is (between rows, between columns); i runs along a row.
    lps[:3, 0] = orientation[:3] * spacing[1]
    lps[:3, 1] = orientation[3:] * spacing[0]
    lps[:3, 2] = step
    lps[:3, 3] = origin
    return _LPS_TO_RAS @ lps
