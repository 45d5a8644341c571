"""Stage 5 — labels: a merge hierarchy of regions, as an ultrametric contour map (UCM).

The image is over-segmented into superpixels whose borders follow its edges (a watershed of the
Lab colour gradient), then the two adjacent regions that differ least are merged, again and
again, until one is left. How much two regions differ: the mean of their shared border's
strength plus the chi-squared distance between their Lab histograms (soft bins), scaled down
while the smaller of the two is small (fragments merge first). A border's strength is the colour
gradient along it (scaled part way to the photo's own contrast) plus, as gPb's globalisation
does, the distance between its two sides in the spectral embedding of the superpixel graph,
which parts large regions that only weak borders join. Each merge happens at a level no lower
than the one before, so the levels form an ultrametric: the UCM gives every boundary between
two pixels the level at which its two sides became one region, and cutting the UCM at any level
gives regions nested in those of every higher level.

The UCM is stored as the BSDS benchmark stores it (``ucm2``): ``(2H + 1, 2W + 1)``, pixel
``(r, c)`` at ``(2r + 1, 2c + 1)``, the boundary between two neighbouring pixels between them,
levels in ``[0, 1)``.

Private module: :mod:`kmseg.regions` exposes :func:`hierarchy` and :func:`cut`.
"""

from __future__ import annotations

import heapq

import numpy as np

from ._errors import ParameterError
from ._options import REGION_LEVEL

# Lab histogram bins (L, a, b) of a region, and the a / b range they cover.
_BINS = (4, 8, 8)
_AB_RANGE = 80.0
# Each bin passes this share of its count to each of its 6 neighbours: a shade that drifts
# across a bin edge (a sky, a blurred background) is not a change of colour. On 100 BSDS train
# photos it raised PRI - 0.1 x VoI at the best level from 0.604 to 0.630.
_BIN_SPREAD = 0.5
# The gradient is divided by its 90th percentile over the image to the power _CONTRAST_SHARE
# (times a typical 90th percentile, _TYPICAL_CONTRAST, to the remaining power): a photo of low
# contrast has its edges raised and a busy one lowered, but only part way (all the way split
# skies and merged animals into busy grass), so one level fits most photos.
_CONTRAST_SHARE = 0.5
_TYPICAL_CONTRAST = 110.0
_GRADIENT_SCALE = 50.0
# Every border's gradient is raised by this times the distance between its two superpixels in
# the spectral embedding of the superpixel graph (its first _SPECTRAL_VECTORS generalised
# eigenvectors): a global cue, as gPb's, that parts large regions joined only by weak borders.
_SPECTRAL_WEIGHT = 150.0
_SPECTRAL_VECTORS = 8
# The affinity's scale: the median dissimilarity, but at least this (in units of the scaled
# gradient, whose typical 90th percentile is _GRADIENT_SCALE), so a flat image is one graph.
_AFFINITY_FLOOR = 10.0
# A merge level h is stored as h / (h + _HALF_LEVEL): in [0, 1), monotone, 0.5 at h = 100.
_HALF_LEVEL = 100.0
# Larger photos are merged on a copy shrunk by block means to at most this many pixels (BSDS
# photos have 0.15 MP), and the UCM is drawn back at full size: merging a 2.4 MP photo took
# 7.1 s, its shrunk copy 1.3 s.
_MAX_PIXELS = 1 << 18


def hierarchy(
    image: np.ndarray, *, superpixels: int = 600, histogram_weight: float = 200.0,
    small_region: float = 0.01,
) -> np.ndarray:
    """The ultrametric contour map of an RGB or gray image, ``(2H + 1, 2W + 1)`` float64.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) ndarray
        RGB or gray, any real dtype (integers over their range, floats in [0, 1]).
    superpixels : int
        Watershed regions the merging starts from.
    histogram_weight : float
        Weight of the Lab histograms' chi-squared distance against the border's gradient.
    small_region : float
        Share of the image under which a region's dissimilarity is scaled down (by
        ``1 - exp(-size / (small_region * pixels))``).

    Returns
    -------
    (2H + 1, 2W + 1) float64 ndarray
        The UCM as BSDS stores it (``ucm2``): pixel ``(r, c)`` at ``(2r + 1, 2c + 1)``, the
        boundary between two neighbouring pixels between them, each at the level (in
        ``[0, 1)``) where its two sides became one region; 0 inside the starting superpixels
        and on the frame. :func:`cut` turns it into regions.

    Raises
    ------
    ParameterError
        ``image`` is not an RGB or gray image of real values.

    Notes
    -----
    A photo of more than 2**18 pixels (0.26 MP; BSDS photos have 0.15) is merged on a copy
    shrunk by the mean of ``f x f`` blocks, and the map is drawn back at full size: pixels of
    one block are never parted, pixels of two blocks at the level of their blocks' boundary
    (a 24 MP photo: 3.4 s).

    Examples
    --------
    >>> import numpy as np
    >>> from kmseg import regions
    >>> image = np.zeros((4, 6), np.uint8)
    >>> image[:, 3:] = 255                      # a dark and a bright half
    >>> ucm = regions.hierarchy(image, superpixels=4)
    >>> ucm.shape
    (9, 13)
    >>> regions.cut(ucm, 0.5)
    array([[1, 1, 1, 2, 2, 2],
           [1, 1, 1, 2, 2, 2],
           [1, 1, 1, 2, 2, 2],
           [1, 1, 1, 2, 2, 2]], dtype=uint32)
    """
    from skimage.segmentation import watershed

    from ._spatial import block_mean, shrink_factor

    rgb, full_scale = _rgb(image)
    factor = shrink_factor(rgb.shape[:2], _MAX_PIXELS)
    lab = _lab((rgb if factor == 1 else block_mean(rgb, factor)) / full_scale)
    gradient = _gradient(lab)
    start = watershed(gradient, markers=_seeds(gradient, superpixels), compactness=1e-3) - 1
    edges, edge_of_pair = _adjacency(start, gradient)
    histograms = _spread(_histograms(lab, start))
    _add_spectral(edges, _dissimilarities(edges, histograms, histogram_weight))
    heights = _merge(edges, histograms, histogram_weight, small_region * start.size)
    ucm = _ucm2(start, edge_of_pair, heights / (heights + _HALF_LEVEL))
    return ucm if factor == 1 else _enlarged(ucm, rgb.shape[:2], factor)


def cut(ucm: np.ndarray, level: float = REGION_LEVEL) -> np.ndarray:
    """Regions of a UCM at ``level``: the pixels that stay connected through its boundaries.

    Two 4-neighbour pixels are in one region when a path joins them through boundaries at or
    below ``level``; the regions of a higher level are unions of those of a lower one.

    Parameters
    ----------
    ucm : (2H + 1, 2W + 1) float ndarray
        An ultrametric contour map, as :func:`hierarchy` returns it (BSDS ``ucm2`` layout).
    level : float
        Boundaries at or below it are erased: the higher, the fewer and larger the regions
        (1 or more leaves one region, as the levels of :func:`hierarchy` are below 1). The
        default, 0.51, is the level that fits BSDS500's training photos best with
        :func:`hierarchy`'s defaults.

    Returns
    -------
    (H, W) uint32 ndarray
        Region ids ``1..R``; every pixel is in a region.

    Raises
    ------
    ParameterError
        ``ucm`` is not 2-D with odd sides.

    Examples
    --------
    >>> import numpy as np
    >>> from kmseg import regions
    >>> ucm = np.zeros((5, 7))
    >>> ucm[1:4, 4] = 0.3                       # a boundary between columns 1 and 2
    >>> regions.cut(ucm, 0.2)
    array([[1, 1, 2],
           [1, 1, 2]], dtype=uint32)
    >>> regions.cut(ucm, 0.3)
    array([[1, 1, 1],
           [1, 1, 1]], dtype=uint32)
    """
    from scipy import ndimage

    ucm = np.asarray(ucm)
    if ucm.ndim != 2 or ucm.shape[0] % 2 == 0 or ucm.shape[1] % 2 == 0:
        raise ParameterError(f"ucm: expected a (2H + 1, 2W + 1) map, got shape {ucm.shape}")
    # The frame (0) is left out: it would join the pixels along the image's edge.
    joined = ucm[1:-1, 1:-1] <= level
    joined[::2, ::2] = True  # the pixels themselves, whatever the level
    ids, _ = ndimage.label(joined)
    return ids[::2, ::2].astype(np.uint32)


def _rgb(image: np.ndarray) -> tuple[np.ndarray, float]:
    """``(H, W, 3)`` values of an RGB or gray image, and the value of full intensity."""
    from ._features import value_range

    values = np.asarray(image)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[..., 0]
    if values.ndim == 2:
        values = np.repeat(values[..., None], 3, axis=2)
    if values.ndim != 3 or values.shape[2] != 3 or values.dtype.kind not in "biuf":
        raise ParameterError(f"image: expected an RGB or gray image, got {values.dtype} of "
                             f"shape {values.shape}")
    return values, 1.0 if values.dtype.kind == "f" else float(value_range(values.dtype))


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab of RGB values in [0, 1] (clipped)."""
    from skimage.color import rgb2lab

    return rgb2lab(np.clip(rgb, 0, 1), channel_axis=-1)


def _gradient(lab: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude, the sum of two scales (sigma 1 and 2, each weighted by its
    sigma), scaled part way to the image's 90th percentile (:data:`_CONTRAST_SHARE`)."""
    from scipy import ndimage

    total = np.zeros(lab.shape[:2])
    for sigma in (1.0, 2.0):
        squared = np.zeros(lab.shape[:2])
        for channel in range(3):
            smooth = ndimage.gaussian_filter(lab[..., channel], sigma)
            squared += ndimage.sobel(smooth, 0) ** 2 + ndimage.sobel(smooth, 1) ** 2
        total += sigma * np.sqrt(squared)
    # At least a tenth of the typical: on a flat image with a few sharp edges (a drawing, a
    # mask) the 90th percentile is 0 or near it.
    reference = max(float(np.percentile(total, 90)), 0.1 * _TYPICAL_CONTRAST)
    return total * (_GRADIENT_SCALE / (reference ** _CONTRAST_SHARE
                                       * _TYPICAL_CONTRAST ** (1 - _CONTRAST_SHARE)))


def _seeds(gradient: np.ndarray, n: int) -> np.ndarray:
    """Watershed markers 1..m: a regular grid of about ``n`` points, each moved to the lowest
    gradient within a third of the grid step (a seed on an edge would grow on both sides)."""
    h, w = gradient.shape
    step = max(1.0, np.sqrt(h * w / max(2, n)))
    reach = max(1, int(step / 3))
    markers = np.zeros((h, w), dtype=np.int32)
    # A side shorter than the step still gets one row (column) of seeds, at its middle.
    rows = np.arange(min(step, h) / 2, h, step).astype(int)
    cols = np.arange(min(step, w) / 2, w, step).astype(int)
    for number, (r, c) in enumerate(((r, c) for r in rows for c in cols), start=1):
        top, left = max(0, r - reach), max(0, c - reach)
        window = gradient[top:r + reach + 1, left:c + reach + 1]
        dr, dc = np.unravel_index(np.argmin(window), window.shape)
        markers[top + dr, left + dc] = number
    return markers


def _histograms(lab: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """``(n, bins)`` Lab histogram (counts) of each region."""
    low = np.array([0.0, -_AB_RANGE, -_AB_RANGE])
    span = np.array([100.0, 2 * _AB_RANGE, 2 * _AB_RANGE])
    bins = np.array(_BINS)
    index = np.clip(((lab - low) / span * bins).astype(np.int64), 0, bins - 1)
    code = (index[..., 0] * bins[1] + index[..., 1]) * bins[2] + index[..., 2]
    n, n_bins = int(regions.max()) + 1, int(np.prod(bins))
    counts = np.bincount((regions * n_bins + code).ravel(), minlength=n * n_bins)
    return counts.reshape(n, n_bins).astype(np.float64)


def _spread(histograms: np.ndarray) -> np.ndarray:
    """Each region's histogram with :data:`_BIN_SPREAD` of every bin added to its neighbours
    along L, a and b (the total kept: a sum of spread histograms is the spread sum)."""
    from scipy import ndimage

    spread = histograms.reshape(len(histograms), *_BINS)
    for axis in (1, 2, 3):
        spread = ndimage.convolve1d(spread, [_BIN_SPREAD, 1.0, _BIN_SPREAD], axis=axis,
                                    mode="nearest")
    return spread.reshape(histograms.shape) / (1 + 2 * _BIN_SPREAD) ** 3


def _adjacency(regions: np.ndarray, gradient: np.ndarray):
    """The region adjacency graph: ``(m, 4)`` rows ``(i, j, gradient sum, pixel pairs)``
    (``i < j``) of each pair of touching regions, and for each pair of 4-neighbour pixels
    on two sides (horizontal ones first, then vertical) the row of their two regions."""
    a = np.concatenate([regions[:, :-1].ravel(), regions[:-1, :].ravel()])
    b = np.concatenate([regions[:, 1:].ravel(), regions[1:, :].ravel()])
    strength = np.concatenate([np.maximum(gradient[:, :-1], gradient[:, 1:]).ravel(),
                               np.maximum(gradient[:-1, :], gradient[1:, :]).ravel()])
    n = int(regions.max()) + 1
    key = np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)
    across = a != b
    pairs, row = np.unique(key[across], return_inverse=True)
    edges = np.stack([pairs // n, pairs % n,
                      np.bincount(row, weights=strength[across], minlength=len(pairs)),
                      np.bincount(row, minlength=len(pairs))], axis=1).astype(np.float64)
    edge_of_pair = np.full(len(key), -1, dtype=np.int64)
    edge_of_pair[across] = row
    return edges, edge_of_pair


def _dissimilarities(edges: np.ndarray, histograms: np.ndarray,
                     histogram_weight: float) -> np.ndarray:
    """How much the two superpixels of each edge differ, as :func:`_merge` weighs it (before
    the small-region scaling)."""
    i, j = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    shares = histograms / np.maximum(histograms.sum(axis=1, keepdims=True), 1e-12)
    return edges[:, 2] / edges[:, 3] + histogram_weight * _chi2(shares[i], shares[j])


def _chi2(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Chi-squared distance between histograms of shares (along the last axis), in [0, 1]."""
    return 0.5 * np.sum((p - q) ** 2 / (p + q + 1e-12), axis=-1)


def _add_spectral(edges: np.ndarray, dissimilarity: np.ndarray) -> None:
    """Raise each edge's gradient sum (in place) by the spectral distance of its two sides.

    The graph joins touching superpixels with affinity ``border length x exp(-d / scale)``;
    the embedding is its normalised-cut eigenvectors (``(D - W) v = lambda D v``, the constant
    one left out), each divided by the root of its eigenvalue (the smoother, the more it
    counts), scaled to a degree-weighted RMS of 1 so the weight means the same on every photo.
    """
    from scipy.linalg import eigh

    i, j = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    nodes, index = np.unique(np.concatenate([i, j]), return_inverse=True)
    vectors = min(_SPECTRAL_VECTORS, len(nodes) - 1)
    if vectors < 1:
        return
    a, b = index[: len(i)], index[len(i):]
    scale = max(float(np.median(dissimilarity)), _AFFINITY_FLOOR)
    affinity = np.zeros((len(nodes), len(nodes)))
    affinity[a, b] = affinity[b, a] = edges[:, 3] * np.exp(-dissimilarity / scale)
    degree = np.diag(affinity.sum(axis=1) + 1e-12)
    values, embedding = eigh(degree - affinity, degree, subset_by_index=[1, vectors])
    embedding /= np.sqrt(np.maximum(values, 1e-12))
    weights = np.diag(degree)
    embedding /= np.sqrt((embedding ** 2 * weights[:, None]).sum() / weights.sum())
    distance = np.linalg.norm(embedding[a] - embedding[b], axis=1)
    # Only the part above the median counts: on a graph with no structure (a flat or noisy
    # image) the smooth eigenvectors differ about as much across every border.
    edges[:, 2] += (_SPECTRAL_WEIGHT * edges[:, 3]
                    * np.maximum(distance - np.median(distance), 0.0))


def _merge(edges: np.ndarray, histograms: np.ndarray, histogram_weight: float,
           small_size: float) -> np.ndarray:
    """Greedy merging; the level (non-decreasing) at which each edge's two regions joined."""
    n = len(histograms)
    sizes = histograms.sum(axis=1)
    # neighbours[i][j] = [gradient sum, pixel pairs, edge rows along the border]
    neighbours: list[dict[int, list]] = [{} for _ in range(n)]
    for row, (i, j, total, count) in enumerate(edges.tolist()):
        neighbours[int(i)][int(j)] = neighbours[int(j)][int(i)] = [total, count, [row]]
    version = [0] * n

    def dissimilarity(i: int, j: int) -> float:
        total, count, _ = neighbours[i][j]
        p, q = histograms[i] / sizes[i], histograms[j] / sizes[j]
        chi2 = float(_chi2(p, q))
        smaller = min(sizes[i], sizes[j])
        return (total / count + histogram_weight * chi2) * -np.expm1(-smaller / small_size)

    heap = [(dissimilarity(i, j), i, j, 0, 0) for i in range(n) for j in neighbours[i] if i < j]
    heapq.heapify(heap)
    heights = np.zeros(len(edges))
    level = 0.0
    while heap:
        d, i, j, seen_i, seen_j = heapq.heappop(heap)
        if seen_i != version[i] or seen_j != version[j] or j not in neighbours[i]:
            continue  # a pair changed (or gone) since it was queued
        level = max(level, d)
        heights[neighbours[i][j][2]] = level
        _absorb(neighbours, i, j)
        histograms[i] += histograms[j]
        sizes[i] += sizes[j]
        version[i] += 1
        version[j] = -1
        for k in neighbours[i]:
            heapq.heappush(heap, (dissimilarity(i, k), i, k, version[i], version[k]))
    return heights


def _absorb(neighbours: list[dict[int, list]], i: int, j: int) -> None:
    """Region ``j``'s borders become region ``i``'s (sums added where both touch a region)."""
    del neighbours[i][j]
    for k, border in neighbours[j].items():
        if k == i:
            continue
        del neighbours[k][j]
        if k in neighbours[i]:
            mine = neighbours[i][k]
            mine[0] += border[0]
            mine[1] += border[1]
            mine[2] += border[2]
        else:
            neighbours[i][k] = neighbours[k][i] = border
    neighbours[j] = {}


def _ucm2(regions: np.ndarray, edge_of_pair: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The double-resolution map: each pixel pair's boundary at its edge's level, each corner
    at the highest of the four boundaries that meet there."""
    h, w = regions.shape
    ucm = np.zeros((2 * h + 1, 2 * w + 1))
    value = np.append(levels, 0.0)[edge_of_pair]  # -1 (no edge: one superpixel) picks the 0
    n_horizontal = h * (w - 1)
    ucm[1::2, 2:-1:2] = value[:n_horizontal].reshape(h, w - 1)
    ucm[2:-1:2, 1::2] = value[n_horizontal:].reshape(h - 1, w)
    return _with_corners(ucm)


def _with_corners(ucm: np.ndarray) -> np.ndarray:
    """``ucm`` with each corner at the highest of the four boundaries that meet there."""
    corners = np.maximum(np.maximum(ucm[1:-1:2, 2:-1:2][:-1], ucm[1:-1:2, 2:-1:2][1:]),
                         np.maximum(ucm[2:-1:2, 1:-1:2][:, :-1], ucm[2:-1:2, 1:-1:2][:, 1:]))
    ucm[2:-1:2, 2:-1:2] = corners
    return ucm


def _enlarged(ucm: np.ndarray, shape: tuple[int, int], factor: int) -> np.ndarray:
    """The UCM of a copy shrunk by ``factor`` (:func:`~kmseg._spatial.block_mean`'s blocks)
    at the full ``shape``: two pixels of neighbouring blocks are parted at the level of those
    blocks' boundary, two pixels of one block not at all; the rows and columns past the last
    whole block belong to it (as :func:`~kmseg._spatial.enlarge` has them)."""
    h, w = (ucm.shape[0] - 1) // 2, (ucm.shape[1] - 1) // 2
    rows = np.minimum(np.arange(shape[0]) // factor, h - 1)
    cols = np.minimum(np.arange(shape[1]) // factor, w - 1)
    # The columns (rows) whose right (lower) neighbour is in the next block.
    across = np.flatnonzero(cols[1:] != cols[:-1])
    down = np.flatnonzero(rows[1:] != rows[:-1])
    full = np.zeros((2 * shape[0] + 1, 2 * shape[1] + 1))
    full[1::2, 2:-1:2][:, across] = ucm[1::2, 2:-1:2][rows][:, cols[across]]
    full[2:-1:2, 1::2][down, :] = ucm[2:-1:2, 1::2][rows[down]][:, cols]
    return _with_corners(full)
