"""Palettes: fixed colours (parsed from the user's strings or arrays, as features), one
palette fitted on the pooled colour histograms of many images (:meth:`KMeansSegmenter.fit` on
a list, :meth:`~KMeansSegmenter.image_histogram`, :meth:`~KMeansSegmenter.fit_histogram`),
and a fitted palette written to and read from a JSON file (:meth:`~KMeansSegmenter.save`,
:meth:`~KMeansSegmenter.load`). ``params``: a segmenter's parameters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _parallel
from ._compress import histogram
from ._errors import KmsegError, ParameterError, exceeds, with_source
from ._features import LUMA_WEIGHTS, from_features, value_range
from ._kmeans import kmeans
from ._labelling import label_order
from ._samples import colour_features, is_spatial, makes_regions, n_fixed
from ._validation import (
    _PARAMETER_RULES,
    _channels,
    attempts_run,
    check_params,
    checked_values,
    described_params,
)
from ._version import __version__
from .io import LoadedImage

if TYPE_CHECKING:
    from ._segment import KMeansSegmenter


def parse_colors(
    colors: Sequence[str] | np.ndarray, n_channels: int, dtype: np.dtype
) -> np.ndarray:
    """``(f, n_channels)`` float64 colours in the image's units from ``#rrggbb`` strings
    (8-bit RGB, scaled to the dtype's range; gray images take their luminance) or an array.

    Raises
    ------
    ParameterError
        A malformed string, a shape that does not fit the image, NaN or infinity.
    """
    if len(colors) and all(isinstance(c, str) for c in colors):
        rgb = []
        for text in colors:
            digits = text.strip().lstrip("#")
            if len(digits) != 6 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ParameterError(f"fixed colour {text!r} is not '#rrggbb'")
            rgb.append([int(digits[i:i + 2], 16) for i in (0, 2, 4)])
        values = np.array(rgb, dtype=np.float64) * (value_range(dtype) / 255.0)
        if n_channels == 1:
            values = (values @ LUMA_WEIGHTS)[:, None]
        elif n_channels != 3:
            raise ParameterError(f"'#rrggbb' colours need an RGB or gray image, this one has "
                                 f"{n_channels} channels; give an (f, {n_channels}) array")
        return values
    values = np.asarray(colors, dtype=np.float64)
    values = values.reshape(-1, 1) if values.ndim == 1 and n_channels == 1 else values
    if values.ndim != 2 or values.shape[1] != n_channels or len(values) == 0:
        raise ParameterError(f"fixed colours have shape {np.shape(colors)}; give (f, "
                             f"{n_channels}) colours in the image's units or '#rrggbb' strings")
    if not np.isfinite(values).all():
        raise ParameterError("fixed colours contain NaN or infinity")
    return values


def fixed_features(loaded: LoadedImage, params: dict[str, Any]) -> np.ndarray | None:
    """The fixed colours as features, checked against the image and the other options."""
    if params["fixed_colors"] is None:
        return None
    if is_spatial(params) or isinstance(params["init"], np.ndarray):
        raise ParameterError("fixed_colors takes colour features only (no position, "
                             "texture, smoothing or superpixels) and no init array")
    n_channels = _channels(loaded.pixels)
    colours = parse_colors(params["fixed_colors"], n_channels, loaded.pixels.dtype)
    if len(colours) > params["k"]:
        raise ParameterError(f"{len(colours)} fixed colours exceed k={params['k']}")
    return colour_features(colours, loaded.pixels.dtype, space=params["space"],
                           normalize=params["normalize"])


def check_poolable(params: dict[str, Any]) -> None:
    """Raise ParameterError unless these parameters can fit one palette on many images."""
    check_params(params)
    if is_spatial(params) or makes_regions(params) or isinstance(params["init"], np.ndarray):
        raise ParameterError("fitting on several images takes colour features only (no "
                             "regions), and k-means++ or random init")


def histogram_of(
    loaded: LoadedImage, params: dict[str, Any], *, like: LoadedImage | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colours and counts of one image (see :meth:`KMeansSegmenter.image_histogram`);
    ``like``: an image it must match in kind."""
    kind = (loaded.pixels.dtype, _channels(loaded.pixels))
    if like is not None and kind != (like.pixels.dtype, _channels(like.pixels)):
        raise ParameterError(with_source(
            f"{kind[1]}-channel {kind[0]} image among {_channels(like.pixels)}-channel "
            f"{like.pixels.dtype} ones (like {like.source or 'the first image'}); fit "
            "images of one kind", loaded.source))
    try:
        compressed = histogram(checked_values(loaded, params["space"], params["k"],
                                              check_k=False, check_finite=False))
    except KmsegError as error:
        raise type(error)(with_source(str(error), loaded.source)) from None
    return compressed.values, compressed.counts


def pooled_palette(
    values: np.ndarray, counts: np.ndarray, like: LoadedImage, params: dict[str, Any]
) -> dict[str, Any]:
    """The fitted attributes of a palette fitted on a (pooled) colour histogram of images of
    the kind of ``like`` (see :meth:`KMeansSegmenter.fit_histogram`)."""
    check_poolable(params)
    k, space, normalize = params["k"], params["space"], params["normalize"]
    dtype, channels = like.pixels.dtype, _channels(like.pixels)
    X = colour_features(values, dtype, space=space, normalize=normalize)
    if len(X) < k:
        raise exceeds("k", k, len(X), "distinct colours of the images")
    with _parallel.one_blas_thread():
        result = kmeans(X, k, sample_weight=counts, init=params["init"],
                        attempts=attempts_run(params["init"], params["attempts"]),
                        max_iter=params["max_iter"], eps=float(params["eps"]),
                        rng=np.random.default_rng(params["seed"]),
                        fixed=fixed_features(like, params))
    centers = from_features(result.feature_centers, space, full_scale=value_range(dtype),
                            normalize=normalize, n_channels=channels)
    order = label_order(centers, result.sizes, result.feature_centers, n_fixed(params))
    return {
        "cluster_centers_": result.feature_centers[order],
        "centers_": centers[order],
        "inertia_": result.compactness,
        "n_iter_": result.n_iter,
        "converged_": result.converged,
        "labels_": None,
        "dtype_": str(dtype),
        "n_channels_": channels,
        "space_": space,
    }


def palette_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters of a fitted palette: an array init (or its JSON summary) becomes
    "k-means++", since the fitted centres replace it."""
    if not isinstance(params["init"], str) or params["init"] not in ("k-means++", "random"):
        params = params | {"init": "k-means++"}
    return params


def save_palette(segmenter: KMeansSegmenter, path: str | os.PathLike) -> Path:
    """Write a fitted segmenter's palette as JSON (parameters, centres, kmseg version),
    atomically; see :meth:`KMeansSegmenter.save`."""
    import json

    from ._write import atomic_write

    path = Path(path)
    fitted = segmenter._fitted_params()
    params = palette_params(described_params(fitted))
    model = {
        "kmseg_model": 1,
        "kmseg_version": __version__,
        "params": params,
        "dtype": segmenter.dtype_,
        "channels": segmenter.n_channels_,
        "cluster_centers": segmenter.cluster_centers_.tolist(),
        "centers": segmenter.centers_.tolist(),
        "inertia": segmenter.inertia_,
    }
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(model, indent=2) + "\n"))
    return path


def load_palette(
    cls: type[KMeansSegmenter], path: str | os.PathLike
) -> KMeansSegmenter:
    """A fitted segmenter of class ``cls`` from a :func:`save_palette` file; see
    :meth:`KMeansSegmenter.load`."""
    import json

    from ._errors import ImageReadError

    try:
        model = json.loads(Path(path).read_text())
        params = dict(model["params"])
        centers = np.array(model["cluster_centers"], dtype=np.float64)
        segmenter = cls(**{name: params[name] for name in _PARAMETER_RULES})
        check_params(segmenter.get_params())
        if (model.get("kmseg_model") != 1 or centers.shape[0] != segmenter.k
                or segmenter.space == "auto"):
            raise ValueError("not a kmseg model")
    except FileNotFoundError:
        raise ImageReadError(with_source("no such file", str(path))) from None
    except (OSError, ValueError, KeyError, TypeError, KmsegError) as error:
        raise ImageReadError(with_source(
            f"not a kmseg model file (KMeansSegmenter.save): {error}", str(path))) from None
    segmenter.cluster_centers_ = centers
    segmenter.centers_ = np.array(model["centers"], dtype=np.float64)
    segmenter.inertia_ = float(model["inertia"])
    segmenter.dtype_ = str(model["dtype"])
    segmenter.n_channels_ = int(model["channels"])
    segmenter.space_ = segmenter.space  # saved as fitted, never "auto"
    return segmenter
