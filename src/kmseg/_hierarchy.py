"""Stage 5 — labels: a merge hierarchy of regions, as an ultrametric contour map (UCM).

Superpixels whose borders follow the image's edges (a watershed of the Lab gradient) are
merged, the adjacent pair most likely to be one region first, until one is left. How likely: a
merge model fitted on BSDS500 train (benchmarks/fit_merge.py), a logistic function of features
of the pair: a hand-made dissimilarity (border gradient scaled part way to the photo's contrast,
plus the pair's distance in the spectral embedding of the superpixel graph, as gPb's
globalisation, plus their Lab histograms' chi-squared distance), their sizes, the border's
length, and texture: Lab spread against mean-colour difference, fine gradient inside against
along the border, and texton histograms (k-means of filter responses, gPb's texture cue), of
the regions and of the superpixels along the border. The chance is scaled down while the
smaller region is small, so fragments merge first. Levels never fall from one merge to the
next, so they form an ultrametric: the UCM (stored as BSDS's ``ucm2``, see :func:`hierarchy`)
gives each boundary the level where its sides joined; cuts at any level nest in those above.
As the levels are chances of a boundary, one level fits most photos.

Private module: :mod:`kmseg.regions` exposes :func:`hierarchy` and :func:`cut`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np

from ._errors import ParameterError
from ._options import HIERARCHY_MAX_PIXELS, REGION_LEVEL

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
# A border's strength is its gradient plus this times the distance between its two superpixels
# in the spectral embedding of the superpixel graph (its first _SPECTRAL_VECTORS generalised
# eigenvectors): a global cue, as gPb's, that parts large regions joined only by weak borders.
_SPECTRAL_WEIGHT = 150.0
_SPECTRAL_VECTORS = 8
# The affinity's scale: the median dissimilarity, but at least this (in units of the scaled
# gradient, whose typical 90th percentile is _GRADIENT_SCALE), so a flat image is one graph.
_AFFINITY_FLOOR = 10.0
# The hand-made dissimilarity (a feature of the merge model and the spectral graph's
# affinity) weighs the Lab histograms' chi-squared distance this much against the border's
# gradient, and scales it down while the smaller region is under _SMALL_REGION of the image.
_HISTOGRAM_WEIGHT = 200.0
_SMALL_REGION = 0.01
# Layout of a region's statistics (:func:`_statistics`).
_N_BINS = int(np.prod(_BINS))
_LAB_SUMS = slice(_N_BINS, _N_BINS + 3)
_LAB_SQUARES = slice(_N_BINS + 3, _N_BINS + 6)
_TEXTURE_SUM, _INTERIOR = _N_BINS + 6, _N_BINS + 7
# Textons (:func:`_textons`): _N_TEXTONS kinds of local texture, k-means of filter responses
# on _TEXTON_SAMPLE pixels. Regions of one colour (water and sky, grass and sand) differ in them.
_N_TEXTONS, _TEXTON_SAMPLE = 32, 20_000
_TEXTONS = slice(_N_BINS + 8, _N_BINS + 8 + _N_TEXTONS)
_N_STATISTICS = _N_BINS + 8 + _N_TEXTONS
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
# Gradients and Lab distances enter the merge model's features in this unit (the scaled
# gradient's typical 90th percentile; half the L range).
_UNIT = _GRADIENT_SCALE
# Textures, Lab spreads and gradients are compared on a log scale from this floor up (1.5 Lab
# units, about a photo's noise; 1 to 5 % of BSDS superpixels are smoother): a flat synthetic
# region is then a smooth one, not one whose slightest change of colour is a border.
_TEXTURE_FLOOR = 0.03
# The merge model (:func:`_boundary_probability`), fitted by benchmarks/fit_merge.py.
_MERGE_WEIGHTS = np.array([0.0283282, 0.223165, -0.220377, 0.99157, -0.105569, 0.356945,
                           0.0714295, 0.167361, 0.0541771, -1.05541, 1.00173, 0.6028,
                           0.96929, 0.654027, 0.311117])
_MERGE_BIAS = -1.87488
# Levels stay below 1, so a cut at 1 leaves one region.
_TOP_LEVEL = float(np.nextafter(1.0, 0.0))


def hierarchy(image: np.ndarray, *, superpixels: int = 600) -> np.ndarray:
    """The ultrametric contour map of an RGB or gray image, ``(2H + 1, 2W + 1)`` float64.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) ndarray
        RGB or gray, any real dtype: floats in [0, 1]; integers from 0 to their white point,
        the full scale of 8-bit values, ``2**b - 1`` of 16-bit ones whose largest value needs
        ``b`` bits (12-bit camera, microscope and satellite values stored in 16 bits; so two
        crops of one 16-bit image can read differently).
    superpixels : int
        Watershed regions the merging starts from.

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
        ``image`` is not an RGB or gray image of finite real values.

    Notes
    -----
    A photo of more than 2**18 pixels (0.26 MP; BSDS photos have 0.15) is merged on a copy
    shrunk by the mean of ``f x f`` blocks, and the map is drawn back at full size: pixels of
    one block are never parted, pixels of two blocks at the level of their blocks' boundary
    (a 21 MP photo: 0.5 s, 2.8 s as a process's first call).

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
    from ._spatial import block_mean, shrink_factor

    rgb, full_scale = _rgb(image)
    factor = shrink_factor(rgb.shape[:2], HIERARCHY_MAX_PIXELS)
    lab = _lab((rgb if factor == 1 else block_mean(rgb, factor)) / full_scale)
    start, edges, edge_of_pair, statistics = _superpixel_graph(lab, superpixels)
    levels = _merge(edges, statistics, _boundary_probability)
    ucm = _ucm2(start, edge_of_pair, levels)
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
        default, 0.48, is the level with the best PRI on BSDS500's training photos (VoI at
        most 1.80) with :func:`hierarchy`'s defaults.

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
    from ._features import white_point

    values = np.asarray(image)
    values = values[..., None] if values.ndim == 2 else values
    if values.ndim != 3 or values.shape[2] not in (1, 3) or values.dtype.kind not in "biuf":
        raise ParameterError(f"image: expected an RGB or gray image, got {values.dtype} of "
                             f"shape {values.shape}")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ParameterError("image has NaN or infinite values; mask them out")
    white = 1.0 if values.dtype.kind == "f" else white_point(values)
    return np.broadcast_to(values, (*values.shape[:2], 3)), white


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


def _superpixel_graph(lab: np.ndarray, superpixels: int):
    """The watershed superpixels of a Lab image (ids from 0), their adjacency graph's edges
    ``(m, 8)``: ``(i, j, gradient sum, spectral sum, fine gradient sum, the two sums of
    :func:`_local_differences`, pixel pairs)``, each pixel pair's edge row (as
    :func:`_adjacency`), and each superpixel's statistics (:func:`_statistics`)."""
    from skimage.segmentation import watershed

    gradient = _gradient(lab)
    start = watershed(gradient, markers=_seeds(gradient, superpixels), compactness=1e-3) - 1
    fine = _fine_gradient(lab)
    edges, edge_of_pair = _adjacency(start, gradient, fine)
    statistics = _statistics(lab, fine, _textons(lab), start)
    spectral = _spectral(edges, _dissimilarities(edges, statistics))
    local = _local_differences(edges, statistics)
    return (start, np.column_stack([edges[:, :3], spectral, edges[:, 3:-1], local, edges[:, -1:]]),
            edge_of_pair, statistics)


def _textons(lab: np.ndarray) -> np.ndarray:
    """Each pixel's texton: its nearest k-means centre among responses of L to derivatives
    and Laplacians at scales 1 and 2 and a Laplacian at 4, lengths compressed as Malik et
    al.'s (``log(1 + |r| / 3)``, so strong edges do not take every centre) once the noise
    (:data:`_TEXTURE_FLOOR`) is taken off (a faint step would be a texton of its own). Seeded."""
    from scipy import ndimage

    from ._kmeans import assign, kmeans, kmeans_plusplus

    lightness = lab[..., 0]
    responses = [ndimage.gaussian_laplace(lightness, 4.0) * 16.0]
    for sigma in (1.0, 2.0):
        responses += [ndimage.gaussian_filter(lightness, sigma, order=(0, 1)) * sigma,
                      ndimage.gaussian_filter(lightness, sigma, order=(1, 0)) * sigma,
                      ndimage.gaussian_laplace(lightness, sigma) * sigma ** 2]
    X = np.stack([r.ravel() for r in responses], axis=1)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    above_noise = np.maximum(norm - _TEXTURE_FLOOR * _UNIT, 0.0)
    X = np.ascontiguousarray(X * (np.log1p(above_noise / 3.0) / np.maximum(norm, 1e-12)),
                             dtype=np.float64)
    rng = np.random.default_rng(0)
    sample = X[rng.choice(len(X), size=min(len(X), _TEXTON_SAMPLE), replace=False)]
    # A flat or drawn image has fewer distinct responses than textons.
    k = min(_N_TEXTONS, len(np.unique(sample, axis=0)))
    # Plain Lloyd from k-means++ seeds: the full engine took 0.23 s per BSDS photo, this 0.06.
    seeds = kmeans_plusplus(sample, np.ones(len(sample)), k, rng)
    centers = kmeans(sample, k, init=seeds, max_iter=20, rng=rng).feature_centers
    return assign(X, centers)[0].reshape(lightness.shape)


def _local_differences(edges: np.ndarray, statistics: np.ndarray) -> np.ndarray:
    """``(m, 2)`` how much each edge's two superpixels differ (the chi-squared distance of
    their texton histograms, the distance of their mean colours), times the border's length:
    summed along a border as regions merge, a cue at the superpixels' scale, between the
    border's gradient and the difference of the whole regions (their Lab histograms' distance
    got weight 0)."""
    i, j = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    _, textons, means = _shares(statistics)
    return edges[:, -1:] * np.column_stack([_chi2(textons[i], textons[j]),
                                            np.linalg.norm(means[i] - means[j], axis=1)])


def _shares(statistics: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each region's Lab and texton histograms as shares of its size, and its mean colour."""
    size = np.maximum(statistics[:, :_N_BINS].sum(axis=1, keepdims=True), 1e-12)
    return (statistics[:, :_N_BINS] / size, statistics[:, _TEXTONS] / size,
            statistics[:, _LAB_SUMS] / size)


def _adjacency(regions: np.ndarray, *maps: np.ndarray):
    """The region adjacency graph: ``(m, 3 + len(maps))`` rows ``(i, j, sum of each map,
    pixel pairs)`` (``i < j``) of each pair of touching regions (a pixel pair counts the
    higher of its two values), and for each pair of 4-neighbour pixels on two sides
    (horizontal ones first, then vertical) the row of their two regions."""
    a = np.concatenate([regions[:, :-1].ravel(), regions[:-1, :].ravel()])
    b = np.concatenate([regions[:, 1:].ravel(), regions[1:, :].ravel()])
    n = int(regions.max()) + 1
    key = np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)
    across = a != b
    pairs, row = np.unique(key[across], return_inverse=True)
    sums = []
    for values in maps:
        strength = np.concatenate([np.maximum(values[:, :-1], values[:, 1:]).ravel(),
                                   np.maximum(values[:-1, :], values[1:, :]).ravel()])
        sums.append(np.bincount(row, weights=strength[across], minlength=len(pairs)))
    edges = np.stack([pairs // n, pairs % n, *sums, np.bincount(row, minlength=len(pairs))],
                     axis=1).astype(np.float64)
    edge_of_pair = np.full(len(key), -1, dtype=np.int64)
    edge_of_pair[across] = row
    return edges, edge_of_pair


def _statistics(lab: np.ndarray, fine: np.ndarray, textons: np.ndarray,
                regions: np.ndarray) -> np.ndarray:
    """``(n, _N_STATISTICS)`` sums over each region, added up when two merge: its Lab
    histogram (soft bins; the counts add up to its size), the sums of L, a and b and of their
    squares, its texture: the sum of the fine gradient over the pixels away from its
    border, and their number (the strips a sharp edge leaves along itself hold its smoothed
    gradient, not a texture), and its texton histogram (counts of each of ``textons``'
    values)."""
    from scipy import ndimage

    n = int(regions.max()) + 1
    flat = regions.ravel()

    def summed(values: np.ndarray) -> np.ndarray:
        return np.bincount(flat, weights=values.ravel(), minlength=n)

    interior = ((ndimage.minimum_filter(regions, footprint=_CROSS, mode="nearest") == regions)
                & (ndimage.maximum_filter(regions, footprint=_CROSS, mode="nearest") == regions))
    moments = ([summed(lab[..., c]) for c in range(3)]
               + [summed(lab[..., c] ** 2) for c in range(3)]
               + [summed(fine * interior), summed(interior.astype(np.float64))])
    texton_counts = np.bincount((regions * _N_TEXTONS + textons).ravel(),
                                minlength=n * _N_TEXTONS).reshape(n, _N_TEXTONS)
    return np.column_stack([_spread(_histograms(lab, regions)), *moments, texton_counts])


def _fine_gradient(lab: np.ndarray) -> np.ndarray:
    """The unsmoothed Lab gradient magnitude (Sobel), in Lab units per pixel."""
    from scipy import ndimage

    return np.sqrt(sum(ndimage.sobel(lab[..., c], axis) ** 2
                       for c in range(3) for axis in (0, 1))) / 8.0


def _dissimilarities(edges: np.ndarray, statistics: np.ndarray) -> np.ndarray:
    """How much the two superpixels of each edge differ: their border's mean gradient plus
    the weighed chi-squared distance of their Lab histograms."""
    i, j = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    shares = _shares(statistics)[0]
    return edges[:, 2] / edges[:, -1] + _HISTOGRAM_WEIGHT * _chi2(shares[i], shares[j])


def _chi2(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Chi-squared distance between histograms of shares (along the last axis), in [0, 1]."""
    return 0.5 * np.sum((p - q) ** 2 / (p + q + 1e-12), axis=-1)


def _spectral(edges: np.ndarray, dissimilarity: np.ndarray) -> np.ndarray:
    """Each edge's spectral strength, summed along its border: :data:`_SPECTRAL_WEIGHT`
    times the distance of its two sides in the spectral embedding, above its median.

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
        return np.zeros(len(edges))
    a, b = index[: len(i)], index[len(i):]
    scale = max(float(np.median(dissimilarity)), _AFFINITY_FLOOR)
    affinity = np.zeros((len(nodes), len(nodes)))
    affinity[a, b] = affinity[b, a] = edges[:, -1] * np.exp(-dissimilarity / scale)
    degree = np.diag(affinity.sum(axis=1) + 1e-12)
    values, embedding = eigh(degree - affinity, degree, subset_by_index=[1, vectors])
    embedding /= np.sqrt(np.maximum(values, 1e-12))
    weights = np.diag(degree)
    embedding /= np.sqrt((embedding ** 2 * weights[:, None]).sum() / weights.sum())
    distance = np.linalg.norm(embedding[a] - embedding[b], axis=1)
    # Only the part above the median counts: on a graph with no structure (a flat or noisy
    # image) the smooth eigenvectors differ about as much across every border.
    return _SPECTRAL_WEIGHT * edges[:, -1] * np.maximum(distance - np.median(distance), 0.0)


def _features(borders: np.ndarray, left: np.ndarray, right: np.ndarray, pixels: float,
              regions_left: int) -> np.ndarray:
    """``(m, 15)`` features of ``m`` pairs of adjacent regions, for :func:`_boundary_probability`.

    ``borders`` holds each pair's sums along its border (an edge row of
    :func:`_superpixel_graph` without ``i, j``), ``left`` and ``right`` the two regions'
    :func:`_statistics`. Gradients and Lab distances are in units of :data:`_UNIT`.
    """
    sides = (left, right)
    sizes = [side[:, :_N_BINS].sum(axis=1) for side in sides]
    smaller, larger = np.minimum(*sizes), np.maximum(*sizes)
    left_shares, right_shares = _shares(left), _shares(right)
    chi2, texton_chi2 = (_chi2(mine, theirs) for mine, theirs
                         in zip(left_shares[:2], right_shares[:2], strict=True))
    length = borders[:, -1]
    gradient, spectral, sharp = (borders[:, :3] / length[:, None] / _UNIT).T
    local_texton_chi2, local_colour = (borders[:, 3:5] / length[:, None]).T
    means = [left_shares[2], right_shares[2]]
    colour = np.linalg.norm(means[0] - means[1], axis=1) / _UNIT
    # The hand-made dissimilarity the model starts from: small regions (under
    # _SMALL_REGION of the image) have it scaled down, so fragments merge first.
    handmade = ((gradient + spectral) * _UNIT + _HISTOGRAM_WEIGHT * chi2) * -np.expm1(
        -smaller / (_SMALL_REGION * pixels))
    # Texture: the spread of each region's Lab colours, and its fine gradient away from its
    # border.
    spread = np.stack([
        np.sqrt(np.maximum((side[:, _LAB_SQUARES] / size[:, None] - mean ** 2).sum(axis=1), 0))
        for side, size, mean in zip(sides, sizes, means, strict=True)]) / _UNIT
    texture = np.stack([side[:, _TEXTURE_SUM] / np.maximum(side[:, _INTERIOR], 1)
                        for side in sides]) / _UNIT
    floor = _TEXTURE_FLOOR
    return np.column_stack([
        np.log(smaller / pixels), np.log(larger / pixels), np.log(length / np.sqrt(smaller)),
        np.sqrt(chi2), np.full(len(length), np.log(regions_left)), np.log1p(handmade),
        np.log(spread.min(axis=0) + floor), np.log(spread.max(axis=0) + floor),
        np.log(colour + floor) - np.log(spread.sum(axis=0) + floor),
        np.log(texture.min(axis=0) + floor), np.log(texture.max(axis=0) + floor),
        np.log(sharp + floor) - np.log(texture.max(axis=0) + floor),
        np.sqrt(texton_chi2), np.sqrt(local_texton_chi2),
        np.log(local_colour / _UNIT + floor)])


def _boundary_probability(features: np.ndarray, weights: np.ndarray = _MERGE_WEIGHTS,
                          bias: float = _MERGE_BIAS) -> np.ndarray:
    """The merge model: how likely two adjacent regions are two regions of a human
    segmentation (a logistic function of their :func:`_features`), scaled down while the
    smaller region is under :data:`_SMALL_REGION` of the image, as the hand-made dissimilarity
    is: the fragments a sharp edge leaves along itself join a side first. Below 1."""
    probability = 1.0 / (1.0 + np.exp(-(features @ weights + bias)))
    smaller_share = np.exp(features[:, 0])
    return np.minimum(probability * -np.expm1(-smaller_share / _SMALL_REGION), _TOP_LEVEL)


def _merge(edges: np.ndarray, statistics: np.ndarray,
           weigh: Callable[[np.ndarray], np.ndarray],
           observe: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
           ) -> np.ndarray:
    """Greedy merging of the adjacent pair that ``weigh`` (of the pairs' :func:`_features`)
    ranks lowest; the level (non-decreasing) at which each edge's two regions joined.

    ``observe``, if given, sees the features and the two regions' statistics of every pair
    weighed (how benchmarks/fit_merge.py learns the model)."""
    statistics = statistics.copy()
    n = len(statistics)
    pixels = float(statistics[:, :_N_BINS].sum())
    # neighbours[i][j] = [gradient, spectral and fine gradient sums, pixel pairs, edge rows]
    neighbours: list[dict[int, list]] = [{} for _ in range(n)]
    for row, (i, j, *sums) in enumerate(edges.tolist()):
        neighbours[int(i)][int(j)] = neighbours[int(j)][int(i)] = [*sums, [row]]
    version = [0] * n
    heap: list[tuple[float, int, int, int, int]] = []

    def queue(pairs: list[tuple[int, int]], regions_left: int) -> None:
        if not pairs:
            return
        first, second = (np.array(side) for side in zip(*pairs, strict=True))
        borders = np.array([neighbours[i][j][:-1] for i, j in pairs])
        features = _features(borders, statistics[first], statistics[second], pixels,
                             regions_left)
        if observe is not None:
            observe(features, statistics[first], statistics[second])
        for (i, j), value in zip(pairs, weigh(features).tolist(), strict=True):
            heapq.heappush(heap, (value, i, j, version[i], version[j]))

    queue([(i, j) for i in range(n) for j in neighbours[i] if i < j], n)
    heights = np.zeros(len(edges))
    level, regions_left = 0.0, n
    while heap:
        value, i, j, seen_i, seen_j = heapq.heappop(heap)
        if seen_i != version[i] or seen_j != version[j] or j not in neighbours[i]:
            continue  # a pair changed (or gone) since it was queued
        level = max(level, value)
        heights[neighbours[i][j][-1]] = level
        _absorb(neighbours, i, j)
        statistics[i] += statistics[j]
        version[i] += 1
        version[j] = -1
        regions_left -= 1
        queue([(i, k) for k in neighbours[i]], regions_left)
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
            for field, value in enumerate(border):
                mine[field] += value
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
