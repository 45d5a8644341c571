"""From a clustering, or from fitted centres, to the labels of an image.

:func:`segmentation_of` makes the :class:`~kmseg._result.Segmentation`: labels in their order
(fixed colours first, the others darkest first), regions when asked, label and region maps
scaled back up from a working copy, centres in the image's units. Every pixel gets its own
nearest centre after bins of floats were clustered (:func:`nearest_per_pixel`); fitted centres
label other images (:func:`labelled_by`, behind ``predict``) and give each pixel's distances to
them (:func:`distances_to`, behind ``transform``). ``params``: a segmenter's parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from . import _parallel
from ._display import display_limits, display_with_limits
from ._features import colour_feature_count, from_features, luminance, value_range
from ._kmeans import KMeansResult, assign
from ._labels import canonical_order, label_dtype, label_map, masked_label, upscale
from ._options import HIERARCHY_MAX_PIXELS
from ._result import Segmentation
from ._samples import Samples, colour_features, makes_regions, n_fixed, samples_of, working_copy
from ._spatial import shrink_factor
from ._validation import _channels, clustered_values, described_params
from .io import LoadedImage

# (pixels, their neighbours) as slices of a 2-D array: from above, below, the left, the right.
_FROM_NEIGHBOUR = (((slice(1, None),), (slice(None, -1),)), ((slice(None, -1),), (slice(1, None),)),
                   ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
                   ((slice(None), slice(None, -1)), (slice(None), slice(1, None))))
_CHUNK = 1 << 18  # pixels whose features are made at once when each pixel is assigned


def label_order(
    centers: np.ndarray, sizes: np.ndarray, features: np.ndarray, n_fixed: int
) -> np.ndarray:
    """Label order: the ``n_fixed`` fixed colours first, as given; the others canonical
    (darkest first)."""
    free = canonical_order(luminance(centers[n_fixed:]), sizes[n_fixed:], features[n_fixed:])
    return np.concatenate([np.arange(n_fixed), n_fixed + free])


def nearest_per_pixel(
    loaded: LoadedImage, result: KMeansResult, *, space: str, normalize: bool
) -> KMeansResult:
    """Every pixel's own nearest centre and the exact compactness, after clustering the
    bins of continuous floats: ``labels_`` then equal ``predict`` on the same image.
    Features are made a chunk at a time, on two threads (18 MP: 2.7 -> 0.6 s, and no
    pixel-sized feature array)."""
    values = clustered_values(loaded)
    labels = np.empty(len(values), dtype=np.intp)
    dist2 = np.empty(len(values))

    def nearest(part: slice) -> None:
        for start in range(part.start, part.stop, _CHUNK):
            chunk = slice(start, min(start + _CHUNK, part.stop))
            X = colour_features(values[chunk], loaded.pixels.dtype, space=space,
                                normalize=normalize)
            labels[chunk], dist2[chunk] = assign(X, result.feature_centers)

    _parallel.run([lambda part=part: nearest(part)
                   for part in _parallel.split(len(values), 2 * _CHUNK)])
    sizes = np.bincount(labels, minlength=len(result.feature_centers)).astype(np.float64)
    return replace(result, labels=labels, compactness=float(dist2.sum()), sizes=sizes)


def labelled_by(
    loaded: LoadedImage, params: dict[str, Any], centers: np.ndarray
) -> Segmentation:
    """The Segmentation of an image by nearest fitted centre (feature units), no refitting;
    ``params``: the fitted ones (k the number of centres, space not "auto")."""
    with _parallel.one_blas_thread():
        work = working_copy(loaded, params)
        regions = cut_regions(work, params)
        # Fitted centres: each value its own nearest centre (no bins of floats), so
        # strips, frames and images labelled with one palette agree.
        samples = samples_of(work, params, binned=False, regions=regions)
        labels, dist2 = assign(samples.X, centers)
        sizes = np.bincount(labels, weights=samples.weights, minlength=params["k"])
        result = KMeansResult(centers, labels, float(samples.weights @ dist2), 0, True, sizes)
        return segmentation_of(loaded, work, result, samples.expand, params, regions=regions,
                               timings={}, canonical=False)


def distances_to(
    loaded: LoadedImage, samples: Samples, centers: np.ndarray, k: int
) -> np.ndarray:
    """``(M, N, k)`` distances of each pixel (the samples of ``loaded``, colour features) to
    each of the ``k`` centres (``(N, k)`` for a pixel list); NaN at masked pixels."""
    distances = np.sqrt(((samples.X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
    per_pixel = distances[samples.expand(np.arange(len(samples.X)))]
    out = np.full((*loaded.pixels.shape[:2], k), np.nan)
    if loaded.mask is None:
        out[:] = per_pixel.reshape(out.shape)
    else:
        out[loaded.mask] = per_pixel
    return out[:, 0] if loaded.pixel_list else out


def regions_drawn_on(pixels: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """What the merge hierarchy of an image is drawn on: gray or RGB integers as they are
    (:func:`kmseg.regions.hierarchy` reads them up to their white point), other images as
    display values (floats of any range, the first three of other bands), each masked pixel
    the value of its nearest clustered pixel."""
    from scipy.ndimage import distance_transform_edt

    shown = pixels if pixels.dtype.kind in "biu" and _channels(pixels) in (1, 3) else \
        display_with_limits(pixels, None, display_limits(pixels, mask, own_white=True))
    if mask is None or not mask.any():
        return shown
    # The mask's edge (a GeoTIFF's nodata, transparency) is then no border, whose blocks left
    # specks inside the mask.
    return shown[tuple(distance_transform_edt(~mask, return_distances=False,
                                              return_indices=True))]


def _labelled_as_their_regions(labels: np.ndarray, region_map: np.ndarray) -> np.ndarray:
    """``labels`` with the masked-in pixels left unlabelled by the enlarging (their working-copy
    block was mostly masked out) given their region's label."""
    from .regions import majority_labels

    unlabelled = (region_map > 0) & (labels == masked_label(labels.dtype))
    if not unlabelled.any():
        return labels
    labelled = (region_map > 0) & ~unlabelled
    label_of = majority_labels(region_map[labelled], labels[labelled]).astype(labels.dtype)
    labels[unlabelled] = label_of[np.minimum(region_map[unlabelled], len(label_of) - 1)]
    return labels


def cut_regions(work: LoadedImage, params: dict[str, Any]) -> np.ndarray | None:
    """The regions of the image's merge hierarchy at ``region_level`` (None without it), 0
    outside its mask."""
    if params["region_level"] is None:
        return None
    from .regions import cut, hierarchy

    shown = regions_drawn_on(work.pixels, work.mask)
    regions = cut(hierarchy(shown), params["region_level"])
    if work.mask is None:
        return regions
    return pieces_within(regions, work.mask, _hierarchy_block(regions.shape))


def _hierarchy_block(shape: tuple[int, ...]) -> int:
    """Side of the pixel blocks the merge hierarchy of an image of ``shape`` merges."""
    return shrink_factor(shape[:2], HIERARCHY_MAX_PIXELS)


def pieces_within(region_map: np.ndarray, mask: np.ndarray, block: int) -> np.ndarray:
    """``region_map`` (made in ``block`` x ``block`` blocks) cut by ``mask`` into connected
    regions, 0 outside it.

    The mask may cut a region in two: its parts are numbered apart. A stray piece takes the
    region of a piece it touches, a ring of pixels at a time: a piece smaller than a block
    (where the mask's edge crossed one: a tilted nodata frame left hundreds), or a small one
    (under 1 % of the clustered pixels) of a region lying mostly elsewhere (the fringe inside
    the mask of a region of the filled-in outside: an icon's anti-aliased edge).
    """
    from .regions import connected_regions

    parts = connected_regions(region_map, mask=mask)
    size = np.bincount(parts.ravel())
    region_of = np.zeros(len(size), np.int64)
    region_of[parts.ravel()] = region_map.ravel()
    elsewhere = 2 * size < np.bincount(region_map.ravel())[region_of]
    stray = (size < block * block) | ((100 * size < np.count_nonzero(mask)) & elsewhere)
    stray[0] = False
    if not stray.any():  # most masks: no second labelling of the pixels
        return parts
    joined = np.where(stray[parts], 0, parts)
    left = stray[parts]
    while left.any():
        before = np.count_nonzero(left)
        for here, there in _FROM_NEIGHBOUR:
            take = left[here] & (joined[there] > 0)
            joined[here][take] = joined[there][take]
            left[here] &= ~take
        if np.count_nonzero(left) == before:  # the mask's own islands: stray alone
            joined[left] = parts[left]
            break
    return connected_regions(joined, mask=mask)


def segmentation_of(
    loaded: LoadedImage,
    work: LoadedImage,
    result: KMeansResult,
    expand: Callable[[np.ndarray], np.ndarray],
    params: dict[str, Any],
    *,
    regions: np.ndarray | None,
    timings: dict[str, float],
    canonical: bool,
) -> Segmentation:
    """The Segmentation of ``loaded`` from a clustering of ``work`` (itself or a copy), made
    with a segmenter of these ``params``; ``regions``: the merge hierarchy's cut of ``work``
    (:func:`cut_regions`), or None."""
    k, space = params["k"], params["space"]
    full_scale = value_range(loaded.pixels.dtype)
    n_channels = _channels(loaded.pixels)
    centers = from_features(result.feature_centers[:, :colour_feature_count(space, n_channels)],
                            space, full_scale=full_scale, normalize=params["normalize"],
                            n_channels=n_channels)
    sizes = np.rint(result.sizes).astype(np.int64)
    order = label_order(centers, sizes, result.feature_centers, n_fixed(params)) if canonical \
        else np.arange(k)
    new_id = np.empty(k, dtype=label_dtype(k))
    new_id[order] = np.arange(k)
    # Relabel the (few) samples, then spread to the pixels once.
    pixel_labels = expand(new_id[result.labels])
    labels = label_map(pixel_labels, work.mask, work.pixels.shape[:2], k)
    feature_centers = result.feature_centers[order]
    region_map = None
    if makes_regions(params):
        # Imported here: a segmentation without regions spares 2 ms of a 0.3 s run.
        from .regions import clean_labels

        labels, region_map = clean_labels(labels, feature_centers, params["min_region"],
                                          mask=work.mask, regions=regions)
    if work is not loaded:
        shape = loaded.pixels.shape[:2]
        factor = shrink_factor(shape, params["max_work_pixels"])
        labels = upscale(labels, shape, factor, loaded.mask)
        if region_map is not None:
            region_map = upscale(region_map, shape, factor, loaded.mask, fill=0)
            if loaded.mask is not None:  # the full-size mask may cut a region in two
                hierarchy_block = 1 if params["region_level"] is None else _hierarchy_block(
                    work.pixels.shape)
                region_map = pieces_within(region_map, loaded.mask, factor * hierarchy_block)
                labels = _labelled_as_their_regions(labels, region_map)
    if work is not loaded or region_map is not None:
        valid = labels != masked_label(labels.dtype)
        sizes = np.bincount(labels[valid], minlength=k).astype(np.int64)
    else:
        sizes = sizes[order]
    if loaded.pixel_list:  # (N, 1[, C]) image -> (N[, C]) pixels, (N,) labels
        labels = labels[:, 0]
        loaded = replace(loaded, pixels=loaded.pixels[:, 0],
                         alpha=None if loaded.alpha is None else loaded.alpha[:, 0],
                         mask=None if loaded.mask is None else loaded.mask[:, 0])
    return Segmentation(
        image=loaded.pixels,
        labels=labels,
        centers=centers[order],
        feature_centers=feature_centers,
        compactness=result.compactness,
        sizes=sizes,
        n_iter=result.n_iter,
        converged=result.converged,
        space=space,
        alpha=loaded.alpha,
        valid=loaded.mask,
        params=described_params(params),
        source=loaded.source,
        description=loaded.description,
        timings=timings,
        algorithm=result.algorithm,
        regions=region_map,
        georef=loaded.georef,
        decoder_messages=loaded.decoder_messages,
    )
