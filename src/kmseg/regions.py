"""From cluster labels to regions: connected components, small-region merging, a region table.

A k-means label map says which *colour* each pixel has; the same label may cover many separate
patches and speckle. A *region map* numbers connected patches instead: ``(M, N)`` unsigned ids
``1..R``, with ``0`` for pixels left out (masked or transparent), as
:func:`skimage.measure.label` does with its background.

Examples
--------
>>> import numpy as np
>>> from kmseg import regions
>>> labels = np.array([[0, 0, 1, 0],
...                    [0, 0, 1, 0]])
>>> regions.connected_regions(labels)
array([[1, 1, 2, 3],
       [1, 1, 2, 3]], dtype=uint32)
>>> regions.merge_small_regions(regions.connected_regions(labels), labels[..., None] * 1.0,
...                             min_size=3)
array([[1, 1, 1, 1],
       [1, 1, 1, 1]], dtype=uint32)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ._errors import ParameterError
from ._hierarchy import cut, hierarchy

# Pixels a per-pixel temporary holds at once (a few rows of a large photo).
_CHUNK_PIXELS = 1 << 20

__all__ = [
    "RegionTable",
    "boundaries",
    "clean_labels",
    "connected_regions",
    "cut",
    "hierarchy",
    "majority_labels",
    "merge_small_regions",
    "region_table",
]


def connected_regions(
    labels: np.ndarray, *, mask: np.ndarray | None = None, connectivity: int = 1
) -> np.ndarray:
    """Number the connected patches of equal label.

    Parameters
    ----------
    labels : (M, N) integer ndarray
        Cluster labels.
    mask : (M, N) bool ndarray, optional
        Pixels that belong to some region (True); the others get id 0.
    connectivity : {1, 2}, default 1
        1: pixels touching by an edge are connected (4-neighbourhood); 2: also by a corner.

    Returns
    -------
    (M, N) uint32 ndarray
        Region ids ``1..R`` in raster order of each region's first pixel; 0 outside ``mask``.

    Raises
    ------
    ParameterError
        ``labels`` is not a 2-D integer array, ``mask`` does not match, or ``connectivity`` is
        not 1 or 2.
    """
    from skimage.measure import label as label_components

    labels = _check_labels(labels, "labels")
    if connectivity not in (1, 2):
        raise ParameterError(f"connectivity={connectivity!r} is invalid; use 1 or 2")
    # skimage numbers the patches of each value apart from background 0: shift labels by one
    # so that label 0 is a value like any other, and masked pixels become background.
    shifted = labels.astype(np.int64) + 1
    if mask is not None:
        shifted[~_check_mask(mask, labels.shape)] = 0
    return label_components(shifted, background=0, connectivity=connectivity).astype(np.uint32)


def merge_small_regions(
    regions: np.ndarray, features: np.ndarray, min_size: int, *, connectivity: int = 1
) -> np.ndarray:
    """Merge every region smaller than ``min_size`` pixels into its most similar neighbour.

    Each pass merges every small region into the adjacent region whose mean feature vector is
    nearest to its own, then renumbers; passes repeat until no small region has a neighbour.
    Merging keeps regions connected: a region only ever joins a region it touches.

    Parameters
    ----------
    regions : (M, N) unsigned ndarray
        Region ids ``1..R`` (0: no region; never merged, never merged into).
    features : (M, N, d) float ndarray
        Per-pixel features whose region means decide similarity (e.g. Lab colour).
    min_size : int
        Smallest region kept alone, in pixels.
    connectivity : {1, 2}
        Which pixels touch (as :func:`connected_regions`).

    Returns
    -------
    (M, N) uint32 ndarray
        Region ids ``1..R'`` in raster order of each region's first pixel.

    Raises
    ------
    ParameterError
        Shapes that do not match, or ``min_size`` < 1.
    """
    regions = _check_labels(regions, "regions")
    if features.shape[:2] != regions.shape or features.ndim != 3:
        raise ParameterError(
            f"features shape {features.shape} does not fit regions shape {regions.shape}; "
            "give (M, N, d) features"
        )
    if not isinstance(min_size, (int, np.integer)) or min_size < 1:
        raise ParameterError(f"min_size={min_size!r} is invalid; use an integer >= 1")
    ids = _renumber(regions.astype(np.int64))
    flat_features = features.reshape(-1, features.shape[2]).astype(np.float64)
    while True:
        n = int(ids.max()) + 1
        sizes = np.bincount(ids.ravel(), minlength=n)
        means = np.stack([np.bincount(ids.ravel(), weights=f, minlength=n)
                          for f in flat_features.T], axis=1) / np.maximum(sizes, 1)[:, None]
        a, b = _touching_pairs(ids, connectivity)
        small = (sizes[a] < min_size) & (a != 0) & (b != 0)
        if not small.any():
            return ids.astype(np.uint32)
        a, b = a[small], b[small]
        # For each small region, its most similar neighbour.
        distance = ((means[a] - means[b]) ** 2).sum(axis=1)
        order = np.lexsort((b, distance, a))
        first = np.ones(len(order), dtype=bool)
        first[1:] = a[order][1:] != a[order][:-1]
        target = np.arange(n)
        target[a[order][first]] = b[order][first]
        ids = _renumber(_resolve(target)[ids])


def _touching_pairs(ids: np.ndarray, connectivity: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ordered pairs (a, b), a != b, of region ids that touch (both directions)."""
    shifts = [(ids[:, :-1], ids[:, 1:]), (ids[:-1, :], ids[1:, :])]
    if connectivity == 2:
        shifts += [(ids[:-1, :-1], ids[1:, 1:]), (ids[:-1, 1:], ids[1:, :-1])]
    left = np.concatenate([s[0].ravel() for s in shifts])
    right = np.concatenate([s[1].ravel() for s in shifts])
    differ = left != right
    left, right = left[differ], right[differ]
    n = int(ids.max()) + 1
    pairs = np.unique(np.concatenate([left * n + right, right * n + left]))
    return np.divmod(pairs, n)


def _resolve(target: np.ndarray) -> np.ndarray:
    """Follow ``i -> target[i]`` to the end of each chain (a cycle ends at its smallest id)."""
    target = target.copy()
    while True:
        following = target[target]
        # Two regions choosing each other: both go to the smaller id.
        mutual = following == np.arange(len(target))
        target[mutual] = np.minimum(target[mutual], np.arange(len(target))[mutual])
        following = target[target]
        if np.array_equal(following, target):
            return target
        target = following


def _renumber(ids: np.ndarray) -> np.ndarray:
    """Ids ``1..R`` in raster order of first pixel (0 stays 0)."""
    values, first_pixel, inverse = np.unique(ids.ravel(), return_index=True, return_inverse=True)
    rank = np.empty(len(values), dtype=np.int64)
    order = np.argsort(np.where(values == 0, -1, first_pixel), kind="stable")
    rank[order] = np.arange(len(values)) + (0 if values[0] == 0 else 1)
    return rank[inverse].reshape(ids.shape)


@dataclass(frozen=True)
class RegionTable:
    """One row per region ``1..R`` (row ``i`` is region ``i + 1``)."""

    id: np.ndarray  # (R,) region ids
    area: np.ndarray  # (R,) pixels
    centroid: np.ndarray  # (R, 2) row, column
    bbox: np.ndarray  # (R, 4) min_row, min_col, max_row + 1, max_col + 1
    mean_color: np.ndarray  # (R, C) mean pixel value, input units
    label: np.ndarray  # (R,) cluster label of the region (the most frequent one)

    def as_records(self) -> list[dict]:
        """JSON-ready rows."""
        return [
            {
                "id": int(self.id[i]),
                "area": int(self.area[i]),
                "centroid": [round(float(v), 2) for v in self.centroid[i]],
                "bbox": [int(v) for v in self.bbox[i]],
                "mean_color": [round(float(v), 3) for v in self.mean_color[i]],
                "label": int(self.label[i]),
            }
            for i in range(len(self.id))
        ]


def region_table(regions: np.ndarray, image: np.ndarray, labels: np.ndarray) -> RegionTable:
    """Area, centroid, bounding box, mean colour and cluster label of each region.

    Parameters
    ----------
    regions : (M, N) unsigned ndarray
        Region ids ``1..R`` (0: none).
    image : (M, N[, C]) ndarray
        The photo, input units.
    labels : (M, N) integer ndarray
        Cluster labels (non-negative).

    Returns
    -------
    RegionTable
        One row per region id ``1..R`` (``R`` the largest id): ``area`` in pixels,
        ``centroid`` (row, column), ``bbox`` (min_row, min_col, max_row + 1, max_col + 1),
        ``mean_color`` ``(R, C)`` in input units (``C = 1`` for a gray image) and ``label``,
        the region's most frequent cluster label (:func:`majority_labels`). An id with no
        pixel has area 0, a NaN centroid and mean colour, and a zero bbox.

    Raises
    ------
    ParameterError
        ``regions`` is not a non-empty 2-D integer array.
    """
    from scipy.ndimage import find_objects

    regions = _check_labels(regions, "regions")
    n = int(regions.max()) + 1
    values = image.reshape(*regions.shape, -1)
    area = np.zeros(n, np.int64)
    sums = np.zeros((n, 2 + values.shape[2]))  # row, column, then each channel
    for rows in _row_chunks(regions.shape):
        ids = regions[rows].ravel().astype(np.intp)
        row, col = np.divmod(np.arange(ids.size), regions.shape[1])
        area += np.bincount(ids, minlength=n)
        sums += np.stack([np.bincount(ids, weights=weights, minlength=n) for weights in
                          (row + rows.start, col, *values[rows].reshape(ids.size, -1).T)], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / area[:, None]
    boxes = find_objects(regions.astype(np.int32))
    bbox = np.array([[s[0].start, s[1].start, s[0].stop, s[1].stop] if s else [0, 0, 0, 0]
                     for s in boxes], dtype=np.int64).reshape(-1, 4)
    keep = slice(1, n)
    return RegionTable(np.arange(1, n), area[keep], means[keep, :2], bbox[: n - 1],
                       means[keep, 2:], majority_labels(regions, labels)[keep])


def _row_chunks(shape: tuple[int, ...]) -> Iterator[slice]:
    """Slices of about _CHUNK_PIXELS pixels' whole rows: per-pixel temporaries of a whole 21 MP
    photo (1.5 GB) made its region table take 4.7 s, mostly touching fresh memory."""
    step = max(1, _CHUNK_PIXELS // max(1, shape[1]))
    return (slice(top, min(top + step, shape[0])) for top in range(0, shape[0], step))


def majority_labels(regions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The most frequent label of each region id ``0..R`` (ties: the smaller label).

    Parameters
    ----------
    regions : (M, N) integer ndarray
        Region ids ``0..R`` (non-negative; 0 is counted as a region like any other).
    labels : (M, N) integer ndarray
        Cluster labels (non-negative), on the same grid as ``regions``.

    Returns
    -------
    (R + 1,) int64 ndarray
        Entry ``i`` is the label most pixels of region ``i`` have; 0 for an id with no pixel.
        ``R`` is ``regions.max()``.

    Examples
    --------
    >>> import numpy as np
    >>> from kmseg import regions
    >>> region_map = np.array([[1, 1, 2],
    ...                        [1, 2, 2]])
    >>> regions.majority_labels(region_map, np.array([[0, 3, 3],
    ...                                               [3, 1, 1]]))
    array([0, 3, 1])
    """
    regions, labels = np.atleast_2d(regions, labels)
    if regions.shape != labels.shape:
        raise ParameterError(f"labels shape {labels.shape} does not match regions shape "
                             f"{regions.shape}")
    n_regions, n_labels = int(regions.max()) + 1, int(labels.max()) + 1
    if n_regions * n_labels <= _CHUNK_PIXELS:  # a table of counts, filled a few rows at a time
        counts = np.zeros(n_regions * n_labels, np.int64)
        for rows in _row_chunks(regions.shape):
            pair = regions[rows].astype(np.int64).ravel() * n_labels + labels[rows].ravel()
            counts += np.bincount(pair, minlength=len(counts))
        return counts.reshape(n_regions, n_labels).argmax(axis=1)  # ties: the first label
    flat = regions.ravel().astype(np.int64)
    pairs, counts = np.unique(flat * n_labels + labels.ravel(), return_counts=True)
    region_of_pair, label_of_pair = np.divmod(pairs, n_labels)
    order = np.lexsort((label_of_pair, -counts, region_of_pair))
    first = np.ones(len(order), dtype=bool)
    first[1:] = region_of_pair[order][1:] != region_of_pair[order][:-1]
    majority = np.zeros(int(flat.max()) + 1, dtype=np.int64)
    majority[region_of_pair[order][first]] = label_of_pair[order][first]
    return majority


def clean_labels(
    labels: np.ndarray, centers: np.ndarray, min_region: float | None, *,
    mask: np.ndarray | None = None, regions: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Regions of a cluster label map with small patches merged away, and the labels to match.

    Parameters
    ----------
    labels : (M, N) unsigned ndarray
        Cluster labels ``0..k-1`` (other values where ``mask`` is False).
    centers : (k, d) ndarray
        Cluster centres (feature units): a small patch joins the neighbour whose centre is
        nearest to its own.
    min_region : float or None
        Smallest patch kept, as a share of the clustered pixels (0 or None keeps every patch).
    mask : (M, N) bool ndarray, optional
        Clustered pixels.
    regions : (M, N) unsigned ndarray, optional
        Regions to start from instead of the connected patches of equal label (a :func:`cut`
        of :func:`hierarchy`), ids ``1..R``, 0 outside ``mask``: each takes its majority
        label, and two of them stay apart even where they have the same label.

    Returns
    -------
    labels : (M, N) ndarray
        Each region's pixels take its majority label; same dtype.
    regions : (M, N) uint32 ndarray
        The regions, ``1..R``; 0 outside ``mask``.

    Examples
    --------
    >>> import numpy as np
    >>> from kmseg import regions
    >>> labels = np.array([[0, 0, 1, 1],
    ...                    [0, 1, 1, 1]], dtype=np.uint8)
    >>> halves = np.array([[1, 1, 2, 2],
    ...                    [1, 1, 2, 2]], dtype=np.uint32)
    >>> regions.clean_labels(labels, np.eye(2), None, regions=halves)[0]
    array([[0, 0, 1, 1],
           [0, 0, 1, 1]], dtype=uint8)
    """
    given = regions is not None
    if given:
        region_map = _check_labels(regions, "regions").astype(np.uint32)
        labels = _by_majority(region_map, labels)
    else:
        region_map = connected_regions(labels, mask=mask)
    n_valid = labels.size if mask is None else int(mask.sum())
    min_size = max(1, round((min_region or 0) * n_valid))
    if min_size > 1:
        features = centers[np.where(region_map > 0, labels, 0)]
        merged = merge_small_regions(region_map, features, min_size)
        labels = _by_majority(merged, labels)
        # Two patches of one label may now touch: number the connected patches again.
        region_map = merged if given else connected_regions(labels, mask=mask)
    return labels, region_map


def _by_majority(region_map: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``labels`` with every region's pixels at its majority label (none outside regions)."""
    majority = majority_labels(region_map, labels).astype(labels.dtype)
    return np.where(region_map > 0, majority[region_map], labels)


def boundaries(regions: np.ndarray) -> np.ndarray:
    """Pixels on the edge of their region: next to a pixel of another region (or of no region).

    Parameters
    ----------
    regions : (M, N) integer ndarray
        Region ids ``1..R`` (0: no region).

    Returns
    -------
    (M, N) bool ndarray
        True where a pixel of a region (id > 0) has a 4-neighbour with another id (0
        included), as :func:`skimage.segmentation.find_boundaries` with ``mode="inner"``;
        pixels of id 0 are never on a boundary.

    Raises
    ------
    ParameterError
        ``regions`` is not a non-empty 2-D integer array.

    Examples
    --------
    >>> import numpy as np
    >>> from kmseg import regions
    >>> regions.boundaries(np.array([[1, 1, 2, 2],
    ...                              [1, 1, 2, 2],
    ...                              [0, 0, 2, 2]]))
    array([[False,  True,  True, False],
           [ True,  True,  True, False],
           [False, False,  True, False]])
    """
    from skimage.segmentation import find_boundaries

    return find_boundaries(_check_labels(regions, "regions"), mode="inner")


def _check_labels(labels: np.ndarray, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "ui" or 0 in labels.shape:
        raise ParameterError(
            f"{name} must be a non-empty (M, N) integer array, got shape {labels.shape} "
            f"and dtype {labels.dtype}"
        )
    return labels


def _check_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != shape or mask.dtype != bool:
        raise ParameterError(
            f"mask must be a boolean array of shape {shape}, got {mask.dtype} {mask.shape}"
        )
    return mask
