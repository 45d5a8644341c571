"""What the k-means engine clusters, and where it starts.

Samples are weighted feature vectors: the distinct values of an image (or the bins of its
continuous floats), every pixel, or, with spatial features (smoothing, position, texture),
every pixel's features, averaged over superpixels when asked; spatial features are made on a
working copy of a large image. The initial state comes from the user's ``init``: a seeding by
name, centres, or a label map, checked against the image. ``params``: a segmenter's
parameters (:meth:`KMeansSegmenter.get_params`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ._compress import histogram, segment_means, superpixels
from ._errors import ParameterError, exceeds
from ._features import LUMA_WEIGHTS, output_channels, to_features, value_range, white_point
from ._spatial import position_features, shrink, smooth, texture_features
from ._validation import _channels, checked_values
from .io import LoadedImage


class Samples(NamedTuple):
    """What the engine clusters, and how its labels go back to the clustered pixels."""

    X: np.ndarray  # (m, d) features
    weights: np.ndarray  # (m,) pixels per sample
    expand: Callable[[np.ndarray], np.ndarray]  # (m,) labels -> (n,) labels
    binned: bool = False  # samples are bins of continuous floats (their pixels may differ)


def same_labels(labels: np.ndarray) -> np.ndarray:
    return labels


def is_spatial(params: dict[str, Any]) -> bool:
    """Whether features depend on pixel neighbourhoods, not only on each pixel's value."""
    return bool(params["position"] or params["texture"] or params["smooth"]
                or params["superpixels"])


def makes_regions(params: dict[str, Any]) -> bool:
    """Whether a region map is made (``min_region`` or ``region_level``)."""
    return params["min_region"] is not None or params["region_level"] is not None


def n_fixed(params: dict[str, Any]) -> int:
    """How many fixed colours a segmenter's parameters hold."""
    return 0 if params["fixed_colors"] is None else len(params["fixed_colors"])


def paints_regions(params: dict[str, Any]) -> bool:
    """Whether the clusters only paint the merge hierarchy's regions (``region_level``, seeded
    by name): ``k`` and ``superpixels`` are then at most what the image has, so the regions
    preset's k = 8 gives a flat logo or a tiny image its few regions instead of an error."""
    return params["region_level"] is not None and isinstance(params["init"], str)


def clusters_for(params: dict[str, Any], samples: Samples) -> int:
    """The k clustered: ``k``, or the number of distinct samples when it only paints regions
    and there are fewer."""
    if not paints_regions(params):
        return params["k"]
    distinct = len(np.unique(samples.X, axis=0))  # regions may share a colour
    if n_fixed(params) > distinct:
        raise ParameterError(f"{n_fixed(params)} fixed colours for {distinct} distinct colours "
                             f"of the regions; fix at most {distinct}")
    return max(min(params["k"], distinct), n_fixed(params))


def working_copy(loaded: LoadedImage, params: dict[str, Any]) -> LoadedImage:
    """The image itself, or (spatial features or the merge hierarchy's regions, on a large
    image) a smaller copy."""
    if not (is_spatial(params) or paints_regions(params)) or params["max_work_pixels"] is None:
        return loaded
    k, n_superpixels, limit = params["k"], params["superpixels"], params["max_work_pixels"]
    work = shrink(loaded, limit)
    n_pixels = work.pixels.shape[0] * work.pixels.shape[1]
    if work is not loaded and n_pixels < max(k, n_superpixels or 0):
        raise ParameterError(
            f"max_work_pixels={limit} leaves {n_pixels} pixels, fewer than "
            f"k={k}" + (f" or superpixels={n_superpixels}" if n_superpixels
                        else "") + "; use a larger max_work_pixels")
    return work


def colour_features(
    values: np.ndarray, dtype: np.dtype, *, space: str, normalize: bool
) -> np.ndarray:
    """Features of ``(n, C)`` values of an image of ``dtype``."""
    return to_features(values, space, full_scale=value_range(dtype), normalize=normalize)


def colour_samples(
    values: np.ndarray,
    dtype: np.dtype,
    *,
    space: str,
    normalize: bool,
    k: int = 1,
    per_pixel: bool = False,
    binned: bool = True,
) -> Samples:
    """The distinct values (or, ``binned``, the bins of continuous floats and 16-bit values)
    weighted by their pixels, or (``per_pixel``) every pixel. Fewer bins than the ``k``
    clusters asked for give way to every distinct value (distinct values may share a bin)."""
    if per_pixel:
        weights, expand, is_binned = np.ones(len(values)), same_labels, False
    else:
        compressed = histogram(values, binned=binned)
        if compressed.binned and len(compressed.values) < k:
            compressed = histogram(values, binned=False)
        values, weights, expand = compressed.values, compressed.counts, compressed.expand
        is_binned = compressed.binned
    X = colour_features(values, dtype, space=space, normalize=normalize)
    return Samples(X, weights, expand, binned=is_binned)


def samples_of(
    loaded: LoadedImage, params: dict[str, Any], *, per_pixel: bool = False,
    binned: bool = True, regions: np.ndarray | None = None
) -> Samples:
    """Weighted feature vectors to cluster: the distinct values (or, ``binned``, the bins of
    continuous floats), superpixels, every pixel, or the ``regions`` of a region map (0
    outside the mask: the merge hierarchy's cut) when the features are colour only."""
    spatial = is_spatial(params)
    by_region = regions is not None and not per_pixel and paints_regions(params)
    values = checked_values(loaded, params["space"], params["k"],
                            check_k=not paints_regions(params),
                            check_finite=spatial or per_pixel or by_region)
    if spatial:
        return spatial_samples(loaded, params)
    if by_region:
        # Each region its mean colour: k-means then groups whole regions, so no region is
        # split between colours (a majority vote over superpixel clusters painted 11 % further
        # from the photo: benchmarks/regions_painting.py).
        X = colour_features(values, loaded.pixels.dtype, space=params["space"],
                            normalize=params["normalize"])
        compressed = segment_means(X, regions.ravel() if loaded.mask is None
                                   else regions[loaded.mask])
        return Samples(compressed.values, compressed.counts, compressed.expand)
    return colour_samples(values, loaded.pixels.dtype, space=params["space"],
                          normalize=params["normalize"], k=params["k"], per_pixel=per_pixel,
                          binned=binned)


def spatial_samples(loaded: LoadedImage, params: dict[str, Any]) -> Samples:
    """Per-pixel colour (after smoothing), position and texture features; averaged over
    superpixels when asked."""
    k, space, n_superpixels = params["k"], params["space"], params["superpixels"]
    pixels = smooth(loaded.pixels, params["smooth"]) if params["smooth"] else loaded.pixels
    shape = pixels.shape[:2]
    colour = colour_features(pixels.reshape(shape[0] * shape[1], -1), loaded.pixels.dtype,
                             space=space, normalize=params["normalize"])
    parts = [colour]
    if params["position"]:
        parts.append(position_features(shape, k, params["position"]))
    if params["texture"]:
        gray = pixels @ LUMA_WEIGHTS if _channels(pixels) == 3 else pixels.reshape(
            *shape, -1).mean(axis=2)
        parts.append(texture_features(gray, params["texture"]))
    X = np.hstack(parts) if len(parts) > 1 else colour
    if loaded.mask is not None:
        X = X[loaded.mask.ravel()]
    if n_superpixels and paints_regions(params):
        n_superpixels = min(n_superpixels, len(X))
    if n_superpixels:
        if n_superpixels > shape[0] * shape[1]:
            raise exceeds("superpixels", n_superpixels, shape[0] * shape[1], "pixels of the image")
        drawn_on = _drawn_on(pixels, loaded.mask, colour, space, params["superpixel_method"])
        compressed = superpixels(X, drawn_on.reshape(*shape, -1), n_superpixels,
                                 method=params["superpixel_method"], mask=loaded.mask,
                                 min_count=k)
        if len(compressed.values) < k and not paints_regions(params):
            raise exceeds("k", k, len(compressed.values), "superpixels",
                          "use a smaller k or more superpixels")
        return Samples(compressed.values, compressed.counts, compressed.expand)
    return Samples(np.ascontiguousarray(X), np.ones(len(X)), same_labels)


def _drawn_on(
    pixels: np.ndarray, mask: np.ndarray | None, colour: np.ndarray, space: str, method: str
) -> np.ndarray:
    """The values superpixels are drawn on (their boundaries; the features they average are
    whatever is clustered)."""
    shown, full_scale = _in_unit_range(pixels, mask)
    if method == "felzenszwalb":
        return shown / full_scale
    if space == "lab":  # SLIC's compactness is in CIE Lab units
        return colour
    if _channels(pixels) == 3:  # whatever is clustered, as scikit-image's slic does
        return to_features(shown.reshape(-1, 3), "lab", full_scale=full_scale, normalize=False)
    return shown * (100.0 / full_scale)  # gray or other bands: on a range of 100, as Lab's L


def _in_unit_range(pixels: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Pixels and their full scale for drawing superpixels: integers up to their white point
    (16-bit: the largest value of the bits they use, as the merge hierarchy reads them); floats
    outside [0, 1] (any range) mapped onto it by their clustered pixels' span."""
    clustered = pixels if mask is None else pixels[mask]
    if pixels.dtype.kind != "f":
        return pixels, white_point(clustered)
    low, high = float(clustered.min()), float(clustered.max())
    if low >= 0 and high <= 1:
        return pixels, 1.0
    return (pixels - low) / (high - low or 1.0), 1.0


def initialisation(loaded: LoadedImage, params: dict[str, Any]) -> tuple[Any, np.ndarray | None]:
    """The engine's ``init`` and ``init_labels`` from a segmenter's ``init``."""
    init, k, space = params["init"], params["k"], params["space"]
    if not isinstance(init, np.ndarray):
        return init, None
    if is_spatial(params):
        raise ParameterError(
            "an init array (centres or label map) cannot be combined with position, "
            "texture, smooth or superpixels; use init='k-means++'"
        )
    shape = loaded.pixels.shape[:2]
    if init.ndim == 2 and init.shape == shape and init.dtype.kind in "iub":
        labels = init if loaded.mask is None else init[loaded.mask]
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ParameterError(
                f"init label map has values {labels.min()}..{labels.max()}; "
                f"use 0..{k - 1} for k={k}"
            )
        return None, np.ascontiguousarray(labels.ravel(), dtype=np.intp)
    n_channels = output_channels(space, _channels(loaded.pixels))
    centers = init.reshape(-1, 1) if init.ndim == 1 and n_channels == 1 else init
    if centers.shape != (k, n_channels) and not (
        space == "gray" and centers.shape == (k, _channels(loaded.pixels))
    ):
        raise ParameterError(
            f"init array has shape {init.shape}; give ({k}, {n_channels}) centres in "
            f"the image's units or an {shape} label map of integers"
        )
    if not np.isfinite(centers).all():
        raise ParameterError("init centres contain NaN or infinity")
    return colour_features(centers, loaded.pixels.dtype, space=space,
                           normalize=params["normalize"]), None
