"""Scans: cluster the voxels of a volume (NIfTI, MGH, DICOM, TIFF z-stack) as one population.

The medical recipe of the k-means tutorials, on the scan itself rather than on screenshots of
its slices: every voxel inside a mask is a point, a single channel gets the exact 1-D optimum
(on 16-bit and float data too), and the labels come back on the scan's grid, ordered by
intensity, with each class's volume in millilitres.

>>> import numpy as np
>>> from kmseg.volume import segment_volume
>>> scan = np.zeros((20, 20, 10), np.int16)
>>> scan[5:15, 5:15, 2:8] = 100            # a bright block in a dark background
>>> seg = segment_volume(scan, k=2, spacing=(0.5, 0.5, 2.0))
>>> seg.classes[1].voxels, seg.classes[1].volume_ml
(600, 0.3)
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from ._bias import bias_corrected
from ._compress import Histogram, integer_histogram
from ._errors import ParameterError, with_source
from ._kmeans import kmeans
from ._options import CT_WINDOWS, TISSUE_PRESET, one_of
from ._potts import potts_labels
from ._validation import check_param
from ._volume_result import ClassStats, VolumeSegmentation
from .io._volume import Volume, read_volume

__all__ = ["ClassStats", "Volume", "VolumeSegmentation", "read_volume", "segment_volume",
           "stack_channels", "window_bounds"]


def segment_volume(
    volume: Volume | np.ndarray | str | os.PathLike[str],
    k: int = 3,
    *,
    mask: Volume | np.ndarray | str | os.PathLike[str] | None = None,
    window: tuple[float, float] | str | None = None,
    spacing: tuple[float, float, float] | None = None,
    affine: np.ndarray | None = None,
    frame: int | None = None,
    series: str | None = None,
    tissue: bool = False,
    seed: int = 0,
    attempts: int = 10,
    max_iter: int = 300,
    eps: float = 0.0,
) -> VolumeSegmentation:
    """Cluster the voxels of a scan into ``k`` classes.

    Parameters
    ----------
    volume : Volume, ndarray, str or os.PathLike
        A :class:`Volume`, a path :func:`read_volume` reads, or an array: ``(I, J, K)`` for one
        channel, ``(I, J, K, C)`` for several (e.g. FLAIR and T1c stacked), any real dtype.
    k : int, default 3
        Number of classes.
    mask : Volume, ndarray, str or os.PathLike, optional
        Voxels to cluster (nonzero), on the scan's grid: same shape and, for a file, the same
        affine. Default: every voxel.
    window : (centre, width) or str, optional
        Clip the (first channel's) values to ``centre -/+ width / 2`` before clustering, as a CT
        window (also as a ``"centre,width"`` string); or a named window (``"brain"``,
        ``"soft-tissue"``, ``"lung"``, ``"bone"``..., :data:`kmseg._options.CT_WINDOWS`).
    spacing, affine
        Geometry of an array (millimetres): voxel sizes, or the full voxel-to-RAS affine.
        Default: 1 mm voxels. A Volume or a file brings its own.
    frame : int, optional
        Frame of a 4-D NIfTI file.
    series : str, optional
        SeriesInstanceUID (or a unique prefix) of the series to read from a DICOM folder
        holding several.
    tissue : bool, default False
        The tissue preset (:data:`kmseg._options.TISSUE_PRESET`): each channel whose voxels are
        all non-negative (MR) is first divided by its N4 bias field, fitted on the positive
        voxels inside the mask (SimpleITK, the ``med`` extra),
        and the k-means labels then get a Potts prior (mean field, voxel-spacing weighted), so
        that a voxel's class also depends on its neighbours'. Centres and compactness are the
        k-means'; labels and class statistics are after the prior.
    seed, attempts, max_iter, eps
        Several channels: the k-means seed, attempts and stopping rule (as
        :func:`kmseg.segment`'s; one channel gets the exact optimum, where they do not apply).

    Returns
    -------
    VolumeSegmentation
        Labels 0 outside the mask and ``1..k`` by increasing intensity, the scan's affine, and
        per class the voxels, volume (mL), mean and standard deviation.

    Raises
    ------
    ParameterError
        A mask on another grid, an empty mask, NaN or infinite voxels inside the mask, a bad
        window, or ``k`` greater than the distinct values inside the mask.
    ImageReadError
        A file that cannot be read as a volume.
    """
    started = time.perf_counter()
    _check_params(k=k, attempts=attempts, max_iter=max_iter, eps=eps, seed=seed)
    bounds = window_bounds(window)
    scan = _as_volume(volume, spacing, affine, frame, series)
    source = scan.source
    inside = _mask_of(mask, scan, frame)
    values = _voxel_values(scan.data, inside, source)
    corrected, was_corrected = _bias_corrected(scan, inside, values) if tissue else (None, False)
    clustered = _windowed(values if corrected is None else corrected, bounds)
    counted = _counted(scan.data, inside, clustered) if corrected is None else None
    if counted is not None:  # one integer channel: its distinct values and their counts
        result = kmeans(counted.values.astype(np.float64), k, sample_weight=counted.counts,
                        rng=np.random.default_rng(seed))
    else:
        result = kmeans(clustered, k, attempts=attempts, max_iter=max_iter, eps=eps,
                        rng=np.random.default_rng(seed))
    order = np.argsort(result.feature_centers[:, 0], kind="stable")
    label_type = np.uint8 if k < 256 else np.uint16
    rank = np.empty(k, dtype=label_type)
    rank[order] = np.arange(1, k + 1)
    labels = np.zeros(scan.data.shape[:3], dtype=label_type)
    # Ranked per distinct value first: one small array per voxel rather than two of intp.
    labels[inside] = rank[result.labels] if counted is None else \
        rank[result.labels][counted.inverse]
    if tissue and k > 1:
        labels = potts_labels(clustered, labels, inside, scan.spacing,
                              weight=TISSUE_PRESET["prior_weight"],
                              iterations=TISSUE_PRESET["prior_iterations"])
    voxel_labels = labels[inside]
    classes = tuple(_stats(values[voxel_labels == label], label, scan.voxel_ml)
                    for label in range(1, k + 1))
    params = {"k": k, "window": bounds, "mask": _described(mask),
              "tissue": tissue, "bias_corrected": was_corrected,
              "seed": seed, "attempts": attempts, "frame": frame, "series": series}
    return VolumeSegmentation(labels, scan.affine, result.feature_centers[order], classes,
                              result.compactness, result.algorithm, source, params,
                              time.perf_counter() - started, scan.header, scan.data)


def _bias_corrected(
    scan: Volume, inside: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, bool]:
    """``values`` (``(n, C)``, the voxels inside the mask) with each channel whose voxels are
    all non-negative (MR magnitudes) divided by its N4 bias field, fitted on the positive ones
    (0 is the background of a skull-stripped scan), and whether any was; the others (CT in
    HU, z-scored images: no multiplicative field to fit) as they are."""
    data = scan.data if scan.data.ndim == 4 else scan.data[..., None]
    out = values.copy()
    fitted = False
    for channel in range(data.shape[3]):
        if (values[:, channel] >= 0).all() and (values[:, channel] > 0).any():
            out[:, channel] = bias_corrected(
                data[..., channel], inside & (data[..., channel] > 0), scan.spacing,
                shrink=TISSUE_PRESET["bias_shrink"],
                iterations=TISSUE_PRESET["bias_iterations"])[inside]
            fitted = True
    return out, fitted


def stack_channels(volumes: list[Volume]) -> Volume:
    """One ``(I, J, K, C)`` volume of several scans on the same grid (e.g. FLAIR and T1c), the
    first one's geometry and source.

    Parameters
    ----------
    volumes : list of Volume
        One or more scans, each ``(I, J, K)`` or ``(I, J, K, C)``, with the first one's
        ``(I, J, K)`` and affine (to within 1e-3).

    Returns
    -------
    Volume
        ``(I, J, K, C)`` float64 data, the channels of the scans in the order given; the first
        scan's affine, source and header.

    Raises
    ------
    ParameterError
        A scan whose shape or affine differs from the first's.
    """
    first = volumes[0]
    for other in volumes[1:]:
        if other.data.shape[:3] != first.data.shape[:3] or \
                not np.allclose(other.affine, first.affine, atol=1e-3):
            raise ParameterError(with_source(
                f"is on another grid than {first.source} ({other.data.shape[:3]} voxels, "
                "or another affine): channels must share one grid", other.source))
    channels = [v.data if v.data.ndim == 4 else v.data[..., None] for v in volumes]
    return Volume(np.concatenate([c.astype(np.float64) for c in channels], axis=3),
                  first.affine, first.source, first.header)


def _as_volume(
    volume: Any, spacing: Any, affine: Any, frame: int | None, series: str | None
) -> Volume:
    if isinstance(volume, Volume):
        return volume
    if isinstance(volume, (str, os.PathLike)):
        return read_volume(volume, frame=frame, series=series)
    data = np.asarray(volume)
    if data.ndim not in (3, 4) or 0 in data.shape or data.dtype.kind not in "biuf":
        raise ParameterError(f"volume: expected a real (I, J, K) or (I, J, K, C) array, got "
                             f"{data.dtype} of shape {data.shape}")
    if affine is None:
        affine = np.diag([*(spacing if spacing is not None else (1.0, 1.0, 1.0)), 1.0])
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all() or \
            abs(np.linalg.det(affine[:3, :3])) == 0:
        raise ParameterError("affine: expected a finite, invertible (4, 4) matrix "
                             "(or spacing: three voxel sizes in mm)")
    return Volume(data, affine)


def _mask_of(mask: Any, scan: Volume, frame: int | None) -> np.ndarray:
    """Boolean ``(I, J, K)`` of the voxels to cluster."""
    shape = scan.data.shape[:3]
    if mask is None:
        return np.ones(shape, dtype=bool)
    name = str(os.fspath(mask)) if isinstance(mask, (str, os.PathLike)) else "mask"
    if isinstance(mask, (str, os.PathLike)):
        mask = read_volume(mask)
    if isinstance(mask, Volume):
        if mask.data.shape[:3] == shape and not np.allclose(mask.affine, scan.affine, atol=1e-3):
            raise ParameterError(with_source(
                "the mask is on another grid than the scan (their affines differ)", name))
        mask = mask.data
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ParameterError(with_source(
            f"the mask's shape {mask.shape} is not the scan's {shape}", name))
    inside = mask != 0
    if not inside.any():
        raise ParameterError(with_source("the mask is empty: no voxel to cluster", name))
    return inside


def _counted(data: np.ndarray, inside: np.ndarray, clustered: np.ndarray) -> Histogram | None:
    """The histogram of one channel of integers (windowed values are integers too when the
    window's bounds are), else None."""
    if data.ndim != 3 or data.dtype.kind not in "biu":
        return None
    integers = clustered[:, 0]
    if not np.array_equal(integers, np.round(integers)) or np.abs(integers).max() > 2.0**53:
        return None  # a window with fractional bounds; 64-bit values beyond float precision
    return integer_histogram(integers.astype(np.int64))


def _voxel_values(data: np.ndarray, inside: np.ndarray, source: str | None) -> np.ndarray:
    """``(n, C)`` float64 values of the voxels inside the mask."""
    values = data[inside].astype(np.float64).reshape(int(inside.sum()), -1)
    if not np.isfinite(values).all():
        raise ParameterError(with_source(
            "has NaN or infinite voxels inside the mask: mask them out", source))
    return values


def _check_params(**params: Any) -> None:
    """The image API's rules (:mod:`kmseg._validation`); ``k="auto"`` is for images only."""
    if isinstance(params["k"], str):
        raise ParameterError(f"k={params['k']!r}: choosing k applies to images; give k for a "
                             "scan")
    for name, value in params.items():
        check_param(name, value)


def window_bounds(window: tuple[float, float] | str | None) -> list[float] | None:
    """``[low, high]`` of a window: ``(centre, width)``, the same as a ``"centre,width"``
    string, or a named CT window; None for None.

    Parameters
    ----------
    window : (float, float), str or None
        ``(centre, width)`` (e.g. in Hounsfield units), the same as a ``"centre,width"``
        string, or the name of a CT window: ``"brain"``, ``"subdural"``, ``"stroke"``,
        ``"soft-tissue"``, ``"mediastinum"``, ``"liver"``, ``"lung"`` or ``"bone"``.

    Returns
    -------
    list of float or None
        ``[centre - width / 2, centre + width / 2]``; None when ``window`` is None.

    Raises
    ------
    ParameterError
        An unknown name, not two numbers, a width that is not positive, or a value that is
        not finite.

    Examples
    --------
    >>> window_bounds("40,80"), window_bounds("brain"), window_bounds((-600, 1500))
    ([0.0, 80.0], [0.0, 80.0], [-1350.0, 150.0])
    """
    if window is None:
        return None
    given = window
    if isinstance(window, str):
        if "," in window:
            window = tuple(part.strip() for part in window.split(","))
        elif window not in CT_WINDOWS:
            raise ParameterError(f"window={window!r}: expected (centre, width) or one of "
                                 f"{one_of(tuple(CT_WINDOWS))}")
        else:
            window = CT_WINDOWS[window]
    try:
        centre, width = (float(v) for v in window)
    except (TypeError, ValueError):
        raise ParameterError(f"window={given!r}: expected (centre, width) or a name") from None
    if not (np.isfinite(centre) and np.isfinite(width) and width > 0):
        raise ParameterError(f"window={given!r}: the width must be positive and both finite")
    return [centre - width / 2, centre + width / 2]


def _windowed(values: np.ndarray, bounds: list[float] | None) -> np.ndarray:
    if bounds is None:
        return values
    clipped = values.copy()
    np.clip(clipped[:, 0], *bounds, out=clipped[:, 0])
    return clipped


def _stats(values: np.ndarray, label: int, voxel_ml: float) -> ClassStats:
    return ClassStats(label, len(values), len(values) * voxel_ml,
                      tuple(values.mean(axis=0).tolist()), tuple(values.std(axis=0).tolist()))


def _described(mask: Any) -> str | None:
    if mask is None:
        return None
    return os.fspath(mask) if isinstance(mask, (str, os.PathLike)) else "array"
