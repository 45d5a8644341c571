"""The public API: :class:`KMeansSegmenter` and :func:`segment`, its one-call wrapper.

Parameters are checked once, at the start, by :mod:`kmseg._validation` (its rules table and
:func:`~kmseg._validation.as_image`); the stages below (features, k-means, labels, result) trust
their input.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import _parallel
from ._compress import histogram, pool, superpixels
from ._errors import KmsegError, ParameterError, with_source
from ._features import (
    LUMA_WEIGHTS,
    from_features,
    luminance,
    output_channels,
    position_features,
    shrink,
    shrink_factor,
    smooth,
    texture_features,
    to_features,
    value_range,
)
from ._io import DEFAULT_MAX_PIXELS, LoadedImage, load_image
from ._kmeans import KMeansResult, assign, kmeans
from ._labels import canonical_order, label_dtype, label_map, masked_label, upscale
from ._options import DEFAULT_ATTEMPTS, DEFAULT_K, REGIONS_PRESET
from ._result import Segmentation
from ._validation import (
    _PARAMETER_RULES,
    ImageLike,
    _channels,
    as_image,
    check_params,
    checked_values,
    clustered_values,
)
from ._version import __version__
from .regions import clean_labels, connected_regions

_CHUNK = 1 << 18  # pixels whose features are made at once when each pixel is assigned


class _Samples(NamedTuple):
    """What the engine clusters, and how its labels go back to the clustered pixels."""

    X: np.ndarray  # (m, d) features
    weights: np.ndarray  # (m,) pixels per sample
    expand: Callable[[np.ndarray], np.ndarray]  # (m,) labels -> (n,) labels
    binned: bool = False  # samples are bins of continuous floats (their pixels may differ)

class KMeansSegmenter:
    """Segment images by k-means clustering of their pixel colours.

    Parameters
    ----------
    k : int, default 4
        Number of clusters (1 to 65534). Exactly ``k`` clusters are returned whenever the
        image has at least ``k`` distinct feature values; otherwise a ParameterError says so.
    space : {"rgb", "gray", "lab", "oklab"}, default "rgb"
        Feature space (see ``kmseg._features``): channel values (any number of bands),
        luminance, CIE L*a*b*, or OKLab (x 100).
    init : {"k-means++", "random"} or ndarray, default "k-means++"
        Seeding: k-means++ (scikit-learn's), ``k`` random distinct pixels, a ``(k, C)`` array of
        initial centres in the input's units and colour space (label ``i`` is then the cluster
        grown from centre ``i``), or an ``(M, N)`` integer label map with values ``0..k-1``
        (OpenCV's ``KMEANS_USE_INITIAL_LABELS``; masked pixels' labels are ignored).
    attempts : int or None, default None
        Runs from different seeds; the most compact is kept. None means 10 for
        ``"k-means++"``/``"random"`` and 1 for an array ``init`` (which always runs once);
        at most 1000.
    max_iter : int, default 300
        Lloyd iterations per attempt at most (1 to 1_000_000).
    eps : float, default 0.0
        Stop an attempt once no centre moves more than ``eps`` (feature units), as OpenCV's
        ``TERM_CRITERIA_EPS``. 0 runs to exact convergence (labels stop changing).
    seed : int or None, default 0
        Seed of the one random generator; the same input and seed give the same labels.
    normalize : bool, default False
        Scale rgb/gray features to [0, 1] (divide by 255 or 65535), so centres in feature
        units, ``compactness`` and ``eps`` are in [0, 1] units.
    position : float, default 0
        Weight of each pixel's position (row, column) next to its colour: the colour distance
        worth one step of ``sqrt(pixels / k)``, as SLIC's compactness, so it means the same on
        any image size. 0 clusters colour alone; ~10 (Lab units) makes compact segments;
        at most 1e6 (as ``texture``).
    texture : float, default 0
        Weight of 16 Gabor texture features (4 wavelengths of 3-24 pixels, 4 orientations,
        magnitudes smoothed), each scaled to unit variance times ``texture`` (colour units).
    smooth : float, default 0
        Gaussian blur of the image (sigma in pixels, at most 1000) before features are taken.
    superpixels : int or None, default None
        Cluster about this many superpixels (each its mean features, weighted by its size)
        instead of pixels: every superpixel gets one label, so there is no speckle.
    superpixel_method : {"slic", "felzenszwalb"}, default "slic"
        scikit-image's SLIC (superpixels of even size that follow edges, drawn on CIE Lab for
        RGB images, 17 Lab units per grid step) or Felzenszwalb's graph-based segments (they
        adapt their size; ``superpixels`` is then an average count, setting its scale).
    min_region : float or None, default None
        Also make a region map (connected patches of one label, see :mod:`kmseg.regions`),
        with patches smaller than this share of the image merged into the adjacent region of
        the nearest centre; the labels follow (each region takes its majority label).
    fixed_colors : list of "#rrggbb" or (f, C) array, optional
        Colours that must stay centres (``f <= k``), in the image's units (hex: 8-bit RGB,
        scaled to the image's range): they are labels ``0..f-1`` in the order given, and the
        other ``k - f`` centres move as usual. A fixed colour may end with no pixel.
    max_work_pixels : int or None, default 1_000_000
        With position, texture, smoothing or superpixels, larger images are worked on as a
        box-averaged copy of at most this many pixels, and the label (and region) maps scaled
        back up (nearest neighbour); None works at full size. At least 64.

    Attributes
    ----------
    cluster_centers_ : (k, d) ndarray
        Centres in feature units, in canonical order.
    centers_ : (k, C_out) ndarray
        Centres in the fitted image's units and colour space.
    inertia_ : float
        Compactness of the fitted image.
    n_iter_ : int
    converged_ : bool
    labels_ : (M, N) ndarray or None
        Label map of the fitted image (None after a fit on several images).
    dtype_, n_channels_ : str, int
        The kind of images the palette applies to.

    Examples
    --------
    >>> import kmseg
    >>> model = kmseg.KMeansSegmenter(k=3, seed=0).fit(kmseg.data.sample_path())
    >>> int(model.predict(kmseg.data.sample_path()).max())
    2
    """

    def __init__(
        self,
        k: int = 4,
        *,
        space: str = "rgb",
        init: str | np.ndarray = "k-means++",
        attempts: int | None = None,
        max_iter: int = 300,
        eps: float = 0.0,
        seed: int | None = 0,
        normalize: bool = False,
        position: float = 0.0,
        texture: float = 0.0,
        smooth: float = 0.0,
        superpixels: int | None = None,
        superpixel_method: str = "slic",
        min_region: float | None = None,
        max_work_pixels: int | None = 1_000_000,
        fixed_colors: Sequence[str] | np.ndarray | None = None,
    ) -> None:
        self.k = k
        self.space = space
        self.init = init
        self.attempts = attempts
        self.max_iter = max_iter
        self.eps = eps
        self.seed = seed
        self.normalize = normalize
        self.position = position
        self.texture = texture
        self.smooth = smooth
        self.superpixels = superpixels
        self.superpixel_method = superpixel_method
        self.min_region = min_region
        self.max_work_pixels = max_work_pixels
        self.fixed_colors = fixed_colors

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters as given to the constructor (scikit-learn's estimator API).

        ``deep`` is accepted for :func:`sklearn.base.clone` and pipelines; a segmenter holds no
        nested estimator, so it changes nothing.
        """
        return {name: getattr(self, name) for name in _PARAMETER_RULES}

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags (its ``Pipeline``, ``clone`` and ``is_clusterer`` read them): a
        clusterer of images, ``(M, N[, C])`` arrays or files, that must be fitted first.
        scikit-learn is imported only when scikit-learn asks."""
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(estimator_type="clusterer", target_tags=TargetTags(required=False),
                    input_tags=InputTags(two_d_array=True, three_d_array=True))

    def __repr__(self) -> str:
        """``KMeansSegmenter(k=6, space='lab')``: the parameters that differ from the
        defaults, as scikit-learn prints estimators."""
        defaults = KMeansSegmenter(k=DEFAULT_K).get_params()
        changed = [f"{name}={_short_repr(value)}" for name, value in self.get_params().items()
                   if not _same_value(value, defaults[name])]
        return f"{type(self).__name__}({', '.join(changed)})"

    def set_params(self, **params: Any) -> KMeansSegmenter:
        """Change parameters (checked at the next fit); returns ``self``.

        Raises
        ------
        ParameterError
            A name that is not a parameter.
        """
        for name, value in params.items():
            if name not in _PARAMETER_RULES:
                raise ParameterError(f"{name!r} is not a KMeansSegmenter parameter; use one of "
                                     f"{', '.join(_PARAMETER_RULES)}")
            setattr(self, name, value)
        return self

    def fit(
        self,
        image: ImageLike | Sequence[ImageLike],
        y: None = None,
        *,
        mask: np.ndarray | None = None,
        alpha: bool | None = None,
        channel_axis: int | None = -1,
    ) -> KMeansSegmenter:
        """Learn the cluster centres of one image, or one palette for many.

        Parameters
        ----------
        image : str, path, ndarray or LoadedImage, or a list (any iterable) of them
            See :func:`segment`. Many images are clustered together: their colour histograms
            are added up (one pass over each image), then k-means runs once, so the palette
            fits them all. They may differ in size, not in dtype or channels; colour features
            only (no position, texture, smoothing or superpixels).
        y : None
            Ignored; there for scikit-learn pipelines.
        mask, alpha, channel_axis
            See :func:`segment` (``mask``: one image only).

        Returns
        -------
        self

        Raises
        ------
        ParameterError
            Bad parameters; an empty list; images of different dtypes or channels.
        ImageReadError
            An unreadable file (the message names it).
        """
        if _is_many(image):
            if mask is not None:
                raise ParameterError("mask applies to one image; fit on a list takes none")
            self._fit_many(image, alpha=alpha, channel_axis=channel_axis)
        else:
            self._fit(as_image(image, mask=mask, alpha=alpha, channel_axis=channel_axis,
                               check_finite=False))
        return self

    def fit_predict(
        self,
        image: ImageLike,
        y: None = None,
        *,
        mask: np.ndarray | None = None,
        alpha: bool | None = None,
        channel_axis: int | None = -1,
    ) -> np.ndarray:
        """Fit on an image and return its label map (one clustering): ``fit(image).labels_``.

        Examples
        --------
        >>> import kmseg
        >>> kmseg.KMeansSegmenter(k=3).fit_predict(kmseg.data.sample_path()).shape
        (400, 600)
        """
        return self.fit_segment(image, mask=mask, alpha=alpha, channel_axis=channel_axis).labels

    def transform(
        self,
        image: ImageLike,
        *,
        mask: np.ndarray | None = None,
        alpha: bool | None = None,
        channel_axis: int | None = -1,
    ) -> np.ndarray:
        """``(M, N, k)`` float64 distances (feature units) of each pixel to each fitted centre
        (``(N, k)`` for a pixel list); NaN at masked pixels."""
        if self._spatial():
            raise ParameterError("transform needs colour features only (no position, texture, "
                                 "smoothing or superpixels)")
        loaded = self._check_fitted(image, mask, alpha, channel_axis)
        try:
            samples = self._samples(loaded, binned=False)
        except KmsegError as error:
            raise type(error)(with_source(str(error), loaded.source)) from None
        centers = self.cluster_centers_
        distances = np.sqrt(((samples.X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
        per_pixel = distances[samples.expand(np.arange(len(samples.X)))]
        out = np.full((*loaded.pixels.shape[:2], self.k), np.nan)
        if loaded.mask is None:
            out[:] = per_pixel.reshape(out.shape)
        else:
            out[loaded.mask] = per_pixel
        return out[:, 0] if loaded.pixel_list else out

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted palette as JSON (parameters, centres, kmseg version), atomically.

        Raises
        ------
        ParameterError
            Not fitted yet.
        OutputError
            The file cannot be written.
        """
        import json

        from ._save import atomic_write

        self._check_fitted(None, None, None, -1)
        path = Path(path)
        params = _palette_params(_describe(self.get_params()))
        model = {
            "kmseg_model": 1,
            "kmseg_version": __version__,
            "params": params,
            "dtype": self.dtype_,
            "channels": self.n_channels_,
            "cluster_centers": self.cluster_centers_.tolist(),
            "centers": self.centers_.tolist(),
            "inertia": self.inertia_,
        }
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(model, indent=2) + "\n"))
        return path

    @classmethod
    def from_segmentation(cls, seg: Segmentation) -> KMeansSegmenter:
        """A fitted segmenter that applies the centres of a segmentation to other images."""
        segmenter = cls(**_palette_params({name: seg.params[name] for name in _PARAMETER_RULES}))
        segmenter._adopt(seg)
        return segmenter

    @classmethod
    def load(cls, path: str | os.PathLike) -> KMeansSegmenter:
        """A fitted segmenter from a :meth:`save` file.

        Raises
        ------
        ImageReadError
            Missing, unreadable or not a kmseg model file.
        """
        import json

        from ._errors import ImageReadError

        try:
            model = json.loads(Path(path).read_text())
            params = dict(model["params"])
            centers = np.array(model["cluster_centers"], dtype=np.float64)
            segmenter = cls(**{name: params[name] for name in _PARAMETER_RULES})
            check_params(segmenter.get_params())
            if model.get("kmseg_model") != 1 or centers.shape[0] != segmenter.k:
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
        return segmenter

    def predict(
        self,
        image: ImageLike,
        *,
        mask: np.ndarray | None = None,
        alpha: bool | None = None,
        channel_axis: int | None = -1,
    ) -> np.ndarray:
        """Label map of an image by nearest fitted centre (masked pixels: the masked value)."""
        return self.segment(image, mask=mask, alpha=alpha, channel_axis=channel_axis).labels

    def segment(
        self,
        image: ImageLike,
        *,
        mask: np.ndarray | None = None,
        alpha: bool | None = None,
        channel_axis: int | None = -1,
    ) -> Segmentation:
        """Segment an image with the fitted centres (no refitting)."""
        loaded = self._check_fitted(image, mask, alpha, channel_axis)
        try:
            with _parallel.one_blas_thread():
                work = self._working_copy(loaded)
                # Fitted centres: each value its own nearest centre (no bins of floats), so
                # strips, frames and images labelled with one palette agree.
                samples = self._samples(work, binned=False)
                labels, dist2 = assign(samples.X, self.cluster_centers_)
                sizes = np.bincount(labels, weights=samples.weights, minlength=self.k)
                result = KMeansResult(self.cluster_centers_, labels,
                                      float(samples.weights @ dist2), 0, True, sizes)
                return self._result(loaded, work, result, samples.expand, timings={},
                                    canonical=False)
        except KmsegError as error:
            raise type(error)(with_source(str(error), loaded.source)) from None

    def fit_segment(
        self,
        image: ImageLike,
        *,
        mask: np.ndarray | None = None,
        alpha: bool | None = None,
        channel_axis: int | None = -1,
    ) -> Segmentation:
        """Fit on an image and return its segmentation (one clustering, no extra pass)."""
        return self._fit(as_image(image, mask=mask, alpha=alpha, channel_axis=channel_axis,
                                  check_finite=False))

    # -- internals -------------------------------------------------------------------------

    def _check_fitted(self, image, mask, alpha, channel_axis) -> LoadedImage | None:
        """The image, checked against the fitted palette (its dtype and channels)."""
        if not hasattr(self, "cluster_centers_"):
            raise ParameterError("this KMeansSegmenter is not fitted yet; call fit(image) first")
        if image is None:
            return None
        loaded = as_image(image, mask=mask, alpha=alpha, channel_axis=channel_axis,
                          check_finite=False)
        if (str(loaded.pixels.dtype), _channels(loaded.pixels)) != (self.dtype_,
                                                                     self.n_channels_):
            raise ParameterError(with_source(
                f"the palette was fitted on {self.n_channels_}-channel {self.dtype_} images; "
                f"this one is {_channels(loaded.pixels)}-channel {loaded.pixels.dtype}",
                loaded.source))
        return loaded

    def _fit_many(
        self, images: Iterable[ImageLike], *, alpha: bool | None, channel_axis: int | None
    ) -> None:
        self._check_poolable()  # before reading any image
        pooled, first = None, None
        for image in images:
            loaded = as_image(image, alpha=alpha, channel_axis=channel_axis, check_finite=False)
            first = first or loaded
            pooled = pool(pooled, *self.image_histogram(loaded, like=first))
        if first is None:
            raise ParameterError("no image to fit on: the list is empty")
        self.fit_histogram(*pooled, like=first)

    def _check_poolable(self) -> None:
        check_params(self.get_params())
        if self._spatial() or isinstance(self.init, np.ndarray):
            raise ParameterError("fitting on several images takes colour features only, and "
                                 "k-means++ or random init")

    def image_histogram(
        self, loaded: LoadedImage, *, like: LoadedImage | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distinct colours and counts of one image, for :meth:`fit_histogram` (after
        :func:`kmseg._compress.pool` of many); ``like``: an image it must match in kind."""
        kind = (loaded.pixels.dtype, _channels(loaded.pixels))
        if like is not None and kind != (like.pixels.dtype, _channels(like.pixels)):
            raise ParameterError(with_source(
                f"{kind[1]}-channel {kind[0]} image among {_channels(like.pixels)}-channel "
                f"{like.pixels.dtype} ones (like {like.source or 'the first image'}); fit "
                "images of one kind", loaded.source))
        try:
            compressed = histogram(self.checked_values(loaded, check_k=False,
                                                       check_finite=False))
        except KmsegError as error:
            raise type(error)(with_source(str(error), loaded.source)) from None
        return compressed.values, compressed.counts

    def fit_histogram(self, values: np.ndarray, counts: np.ndarray, *, like: LoadedImage):
        """Fit the palette on a (pooled) colour histogram of images of the kind of ``like``."""
        self._check_poolable()
        dtype, channels = like.pixels.dtype, _channels(like.pixels)
        X = self._colour_features(values, dtype)
        if len(X) < self.k:
            raise ParameterError(f"k={self.k} exceeds the {len(X)} distinct colours of the "
                                 "images")
        with _parallel.one_blas_thread():
            result = kmeans(X, self.k, sample_weight=counts, init=self.init,
                            attempts=_attempts(self.init, self.attempts),
                            max_iter=self.max_iter, eps=float(self.eps),
                            rng=np.random.default_rng(self.seed),
                            fixed=self._fixed_features(like))
        centers = from_features(result.centers, self.space, full_scale=value_range(dtype),
                                normalize=self.normalize)
        order = self._order(centers, result.sizes, result.centers)
        self.cluster_centers_ = result.centers[order]
        self.centers_ = centers[order]
        self.inertia_ = result.inertia
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        self.labels_ = None
        self.dtype_, self.n_channels_ = str(dtype), channels
        return self

    def _fit(self, loaded: LoadedImage) -> Segmentation:
        check_params(self.get_params())
        if loaded.pixel_list and (self._spatial() or self.min_region is not None):
            raise ParameterError("regions (min_region, regions=True), position, texture, "
                                 "smooth and superpixels need an image, not a pixel list; "
                                 "reshape the pixels to (M, N, C)")
        try:
            with _parallel.one_blas_thread():
                return self._fit_checked(loaded)
        except KmsegError as error:
            raise type(error)(with_source(str(error), loaded.source)) from None

    def _fit_checked(self, loaded: LoadedImage) -> Segmentation:
        start = time.perf_counter()
        work = self._working_copy(loaded)
        init, init_labels = self._initialisation(work)
        fixed = self._fixed_features(work)
        # An initial label map is per pixel, so it is the one case clustered pixel by pixel.
        samples = self._samples(work, per_pixel=init_labels is not None)
        features_done = time.perf_counter()
        result = kmeans(
            samples.X,
            self.k,
            sample_weight=samples.weights,
            init=init,
            init_labels=init_labels,
            attempts=_attempts(self.init, self.attempts),
            max_iter=self.max_iter,
            eps=float(self.eps),
            rng=np.random.default_rng(self.seed),
            fixed=fixed,
        )
        expand = samples.expand
        if samples.binned:  # a bin's pixels shared its label: each pixel its own nearest
            result, expand = self._nearest_per_pixel(work, result), _same_labels
        clustered = time.perf_counter()
        seg = self._result(
            loaded,
            work,
            result,
            expand,
            timings={"features": features_done - start, "cluster": clustered - features_done},
            canonical=not isinstance(self.init, np.ndarray),
        )
        seg.timings["labels"] = time.perf_counter() - clustered  # incl. regions, scaling up
        self._adopt(seg)
        return seg

    def _adopt(self, seg: Segmentation) -> None:
        """The fitted state of a segmentation made with these parameters."""
        self.cluster_centers_ = seg.feature_centers
        self.centers_ = seg.centers
        self.inertia_ = seg.compactness
        self.n_iter_ = seg.n_iter
        self.converged_ = seg.converged
        self.labels_ = seg.labels
        n_channels = 1 if seg.image.ndim == seg.labels.ndim else seg.image.shape[-1]
        self.dtype_, self.n_channels_ = str(seg.image.dtype), n_channels

    def _fixed_features(self, loaded: LoadedImage) -> np.ndarray | None:
        """The fixed colours as features, checked against the image and the other options."""
        if self.fixed_colors is None:
            return None
        if self._spatial() or isinstance(self.init, np.ndarray):
            raise ParameterError("fixed_colors takes colour features only (no position, "
                                 "texture, smoothing or superpixels) and no init array")
        n_channels = _channels(loaded.pixels)
        colours = parse_colors(self.fixed_colors, n_channels, loaded.pixels.dtype)
        if len(colours) > self.k:
            raise ParameterError(f"{len(colours)} fixed colours exceed k={self.k}")
        return self._colour_features(colours, loaded.pixels.dtype)

    def _order(self, centers: np.ndarray, sizes: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Label order: fixed colours first, as given; the others canonical (darkest first)."""
        n_fixed = 0 if self.fixed_colors is None else len(self.fixed_colors)
        free = canonical_order(luminance(centers[n_fixed:]), sizes[n_fixed:],
                               features[n_fixed:])
        return np.concatenate([np.arange(n_fixed), n_fixed + free])

    def _spatial(self) -> bool:
        """Whether features depend on pixel neighbourhoods, not only on each pixel's value."""
        return bool(self.position or self.texture or self.smooth or self.superpixels)

    def _working_copy(self, loaded: LoadedImage) -> LoadedImage:
        """The image itself, or (spatial features on a large image) a smaller copy."""
        if not self._spatial() or self.max_work_pixels is None:
            return loaded
        work = shrink(loaded, self.max_work_pixels)
        n_pixels = work.pixels.shape[0] * work.pixels.shape[1]
        if work is not loaded and n_pixels < max(self.k, self.superpixels or 0):
            raise ParameterError(
                f"max_work_pixels={self.max_work_pixels} leaves {n_pixels} pixels, fewer than "
                f"k={self.k}" + (f" or superpixels={self.superpixels}" if self.superpixels
                                  else "") + "; use a larger max_work_pixels")
        return work

    def _samples(
        self, loaded: LoadedImage, *, per_pixel: bool = False, binned: bool = True
    ) -> _Samples:
        """Weighted feature vectors to cluster: the distinct values (or, ``binned``, the bins of
        continuous floats), superpixels, or every pixel."""
        values = self.checked_values(loaded, check_finite=self._spatial() or per_pixel)
        if self._spatial():
            return self._spatial_samples(loaded)
        if per_pixel:
            weights, expand = np.ones(len(values)), _same_labels
        else:
            compressed = histogram(values, binned=binned)
            values, weights, expand = compressed.values, compressed.counts, compressed.expand
            if compressed.binned:
                X = self._colour_features(values, loaded.pixels.dtype)
                return _Samples(X, weights, expand, binned=True)
        X = self._colour_features(values, loaded.pixels.dtype)
        return _Samples(X, weights, expand)

    def _nearest_per_pixel(self, loaded: LoadedImage, result: KMeansResult) -> KMeansResult:
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
                X = self._colour_features(values[chunk], loaded.pixels.dtype)
                labels[chunk], dist2[chunk] = assign(X, result.centers)

        _parallel.run([lambda part=part: nearest(part)
                       for part in _parallel.split(len(values), 2 * _CHUNK)])
        sizes = np.bincount(labels, minlength=len(result.centers)).astype(np.float64)
        return replace(result, labels=labels, inertia=float(dist2.sum()), sizes=sizes)

    def checked_values(
        self, loaded: LoadedImage, *, check_k: bool = True, check_finite: bool = True
    ) -> np.ndarray:
        """The ``(n, C)`` values to cluster, checked against ``space`` and ``k`` (see
        :func:`kmseg._validation.checked_values`)."""
        return checked_values(loaded, self.space, self.k, check_k=check_k,
                              check_finite=check_finite)

    def _colour_features(self, values: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return to_features(values, self.space, full_scale=value_range(dtype),
                           normalize=self.normalize)

    def _spatial_samples(self, loaded: LoadedImage) -> _Samples:
        """Per-pixel colour (after smoothing), position and texture features; averaged over
        superpixels when asked."""
        pixels = smooth(loaded.pixels, self.smooth) if self.smooth else loaded.pixels
        shape = pixels.shape[:2]
        colour = self._colour_features(pixels.reshape(shape[0] * shape[1], -1),
                                       loaded.pixels.dtype)
        parts = [colour]
        if self.position:
            parts.append(position_features(shape, self.k, self.position))
        if self.texture:
            gray = pixels @ LUMA_WEIGHTS if _channels(pixels) == 3 else pixels.reshape(
                *shape, -1).mean(axis=2)
            parts.append(texture_features(gray, self.texture))
        X = np.hstack(parts) if len(parts) > 1 else colour
        if loaded.mask is not None:
            X = X[loaded.mask.ravel()]
        if self.superpixels:
            if self.superpixels > shape[0] * shape[1]:
                raise ParameterError(
                    f"superpixels={self.superpixels} exceeds the {shape[0] * shape[1]} pixels of "
                    f"the image; use superpixels <= {shape[0] * shape[1]}")
            shown, full_scale = _in_unit_range(pixels, loaded.mask)
            if self.superpixel_method == "felzenszwalb":
                drawn_on = shown / full_scale
            elif self.space == "lab":  # SLIC's compactness is in CIE Lab units
                drawn_on = colour
            elif _channels(pixels) == 3:  # whatever is clustered, as scikit-image's slic does
                drawn_on = to_features(shown.reshape(-1, 3), "lab", full_scale=full_scale,
                                       normalize=False)
            else:  # gray or other bands: on a range of 100, as Lab's lightness
                drawn_on = shown * (100.0 / full_scale)
            compressed = superpixels(X, drawn_on.reshape(*shape, -1), self.superpixels,
                                     method=self.superpixel_method, mask=loaded.mask,
                                     min_count=self.k)
            if len(compressed.values) < self.k:
                raise ParameterError(
                    f"k={self.k} exceeds the {len(compressed.values)} superpixels; use a "
                    f"smaller k or more superpixels"
                )
            return _Samples(compressed.values, compressed.counts, compressed.expand)
        return _Samples(np.ascontiguousarray(X), np.ones(len(X)), _same_labels)

    def _initialisation(self, loaded: LoadedImage) -> tuple[Any, np.ndarray | None]:
        """The engine's ``init`` and ``init_labels`` from the user's ``init``."""
        init = self.init
        if not isinstance(init, np.ndarray):
            return init, None
        if self._spatial():
            raise ParameterError(
                "an init array (centres or label map) cannot be combined with position, "
                "texture, smooth or superpixels; use init='k-means++'"
            )
        shape = loaded.pixels.shape[:2]
        if init.ndim == 2 and init.shape == shape and init.dtype.kind in "iub":
            labels = init if loaded.mask is None else init[loaded.mask]
            if labels.size and (labels.min() < 0 or labels.max() >= self.k):
                raise ParameterError(
                    f"init label map has values {labels.min()}..{labels.max()}; "
                    f"use 0..{self.k - 1} for k={self.k}"
                )
            return None, np.ascontiguousarray(labels.ravel(), dtype=np.intp)
        n_channels = output_channels(self.space, _channels(loaded.pixels))
        centers = init.reshape(-1, 1) if init.ndim == 1 and n_channels == 1 else init
        if centers.shape != (self.k, n_channels) and not (
            self.space == "gray" and centers.shape == (self.k, _channels(loaded.pixels))
        ):
            raise ParameterError(
                f"init array has shape {init.shape}; give ({self.k}, {n_channels}) centres in "
                f"the image's units or an {shape} label map of integers"
            )
        if not np.isfinite(centers).all():
            raise ParameterError("init centres contain NaN or infinity")
        return self._colour_features(centers, loaded.pixels.dtype), None

    def _result(
        self,
        loaded: LoadedImage,
        work: LoadedImage,
        result: KMeansResult,
        expand: Callable[[np.ndarray], np.ndarray],
        *,
        timings: dict[str, float],
        canonical: bool,
    ) -> Segmentation:
        """The Segmentation of ``loaded`` from a clustering of ``work`` (itself or a copy)."""
        full_scale = value_range(loaded.pixels.dtype)
        n_colour = output_channels(self.space, _channels(loaded.pixels))
        centers = from_features(result.centers[:, :n_colour], self.space,
                                full_scale=full_scale, normalize=self.normalize)
        sizes = np.rint(result.sizes).astype(np.int64)
        order = self._order(centers, sizes, result.centers) if canonical else np.arange(self.k)
        new_id = np.empty(self.k, dtype=label_dtype(self.k))
        new_id[order] = np.arange(self.k)
        # Relabel the (few) samples, then spread to the pixels once.
        pixel_labels = expand(new_id[result.labels])
        labels = label_map(pixel_labels, work.mask, work.pixels.shape[:2], self.k)
        feature_centers = result.centers[order]
        region_map = None
        if self.min_region is not None:
            labels, region_map = clean_labels(labels, feature_centers, self.min_region,
                                              mask=work.mask)
        if work is not loaded:
            shape = loaded.pixels.shape[:2]
            factor = shrink_factor(shape, self.max_work_pixels)
            labels = upscale(labels, shape, factor, loaded.mask)
            if region_map is not None:
                region_map = upscale(region_map, shape, factor, loaded.mask, fill=0)
                if loaded.mask is not None:  # the full-size mask may cut a region in two
                    region_map = connected_regions(region_map, mask=loaded.mask)
        if work is not loaded or region_map is not None:
            valid = labels != masked_label(labels.dtype)
            sizes = np.bincount(labels[valid], minlength=self.k).astype(np.int64)
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
            compactness=result.inertia,
            sizes=sizes,
            n_iter=result.n_iter,
            converged=result.converged,
            space=self.space,
            alpha=loaded.alpha,
            valid=loaded.mask,
            params=_describe(self.get_params()),
            source=loaded.source,
            description=loaded.description,
            timings=timings,
            algorithm=result.algorithm,
            regions=region_map,
            georef=loaded.georef,
            decoder_messages=loaded.decoder_messages,
        )


def segment(
    image: ImageLike,
    k: int | str | None = None,
    *,
    space: str | None = None,
    init: str | np.ndarray = "k-means++",
    attempts: int | None = None,
    max_iter: int = 300,
    eps: float = 0.0,
    seed: int | None = 0,
    normalize: bool = False,
    position: float | None = None,
    texture: float = 0.0,
    smooth: float | None = None,
    superpixels: int | None = None,
    superpixel_method: str | None = None,
    min_region: float | None = None,
    max_work_pixels: int | None = 1_000_000,
    fixed_colors: Sequence[str] | np.ndarray | None = None,
    regions: bool = False,
    min_psnr: float | None = None,
    max_error: float | None = None,
    mask: np.ndarray | None = None,
    alpha: bool | None = None,
    channel_axis: int | None = -1,
    frame: int = 0,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    bands: Sequence[int] | None = None,
) -> Segmentation:
    """Segment an image by k-means clustering of its pixels.

    Parameters
    ----------
    image : str, path, (M, N) or (M, N, C) ndarray, (N, C) pixels, or LoadedImage
        A file (see :func:`kmseg.read_image`) or an array: uint8, uint16, or float (finite;
        in [0, 1] for ``space="lab"`` or ``"oklab"``), any number of channels (bands). A list
        of pixels, ``(N, C)`` with ``channel_axis=1`` (or ``(N,)`` gray values), gives ``(N,)``
        labels.
    k : int or "auto", optional
        Number of clusters (default 4, or the preset's with ``regions=True``). "auto": the k
        :func:`kmseg.choose_k` recommends among 2..16 (the knee of the SSE curve, or the
        smallest k meeting ``min_psnr`` / ``max_error``).
    space : str, optional
        Feature space (default "rgb", or the preset's with ``regions=True``).
    init, attempts, max_iter, eps, seed, normalize, texture, max_work_pixels, fixed_colors
        See :class:`KMeansSegmenter`. The defaults (k-means++, 10 attempts, run to
        convergence) are at least as compact as OpenCV's usual call
        ``cv2.kmeans(..., criteria=(EPS + MAX_ITER, 20, 0.1), attempts=10, RANDOM_CENTERS)``.
    position, smooth, superpixels, superpixel_method, min_region
        See :class:`KMeansSegmenter` (default: off, or the preset's with ``regions=True``).
    min_psnr, max_error : float, optional
        With ``k="auto"``: the smallest k whose painted image has this PSNR (dB), or at most
        this mean CIEDE2000 colour difference (pngquant-style quality targets).
    regions : bool, default False
        The regions preset: coherent regions rather than colour clusters
        (:data:`REGIONS_PRESET`: Lab colour and position over Felzenszwalb superpixels, small
        patches merged). Parameters given explicitly override the preset's.
    mask : (M, N) bool ndarray, optional
        Pixels to cluster (True); the others are left out and stay transparent in outputs.
    alpha : bool or None, default None
        Whether the last channel of an array is alpha (pixels with alpha 0 are left out).
        None: files say it themselves; arrays have no alpha.
    channel_axis : int or None, default -1
        The array axis holding channels, as in scikit-image: 0 for a channels-first
        ``(C, M, N)`` array; None for a gray ``(M, N)`` image; 1 for ``(N, C)`` pixels. The
        default takes ``(M, N, C)`` and ``(M, N)`` and refuses, saying what to pass, an array
        it could misread (``(N, 3)``, ``(3, M, N)``).
    frame : int, default 0
        Frame of an animated file.
    max_pixels : int or None
        Decompression-bomb limit for files (None lifts it).
    bands : sequence of int, optional
        Bands of a file to cluster, numbered from 1 (see :func:`kmseg.load_image`).

    Returns
    -------
    Segmentation

    Raises
    ------
    ParameterError
        A parameter is out of range, ``k`` exceeds the distinct values, the array is not an
        image (wrong shape or dtype, NaN or infinity in clustered pixels), or the mask or init
        does not fit the image.
    ImageReadError
        The file is missing, unreadable, truncated or too large.

    Examples
    --------
    >>> import kmseg
    >>> seg = kmseg.segment(kmseg.data.sample_path(), k=4)
    >>> seg.labels.shape, seg.k, seg.labels.max()
    ((400, 600), 4, np.uint8(3))
    >>> int(kmseg.segment(kmseg.data.sample_path(), regions=True).regions.max()) > 1
    True
    """
    if isinstance(image, (str, os.PathLike)):
        start = time.perf_counter()
        image = load_image(image, frame=frame, max_pixels=max_pixels, bands=bands)
        read_time = time.perf_counter() - start
    elif bands is not None:
        raise ParameterError("bands selects bands of a file; index an array yourself")
    else:
        read_time = 0.0
    if k == "auto":
        from ._choose_k import choose_k

        start = time.perf_counter()
        image = as_image(image, mask=mask, alpha=alpha, channel_axis=channel_axis)
        mask = alpha = None  # now part of the image
        k = choose_k(image, space=space or resolve_preset(regions, space=None)["space"],
                     seed=seed, normalize=normalize, min_psnr=min_psnr, max_error=max_error).k
        choose_time = time.perf_counter() - start
    elif min_psnr is not None or max_error is not None:
        raise ParameterError("min_psnr and max_error choose k: use them with k='auto'")
    else:
        choose_time = None
    chosen = resolve_preset(regions, k=k, space=space, position=position, smooth=smooth,
                            superpixels=superpixels, superpixel_method=superpixel_method,
                            min_region=min_region)
    model = KMeansSegmenter(
        init=init,
        attempts=attempts,
        max_iter=max_iter,
        eps=eps,
        seed=seed,
        normalize=normalize,
        texture=texture,
        max_work_pixels=max_work_pixels,
        fixed_colors=fixed_colors,
        **chosen,
    )
    seg = model.fit_segment(image, mask=mask, alpha=alpha, channel_axis=channel_axis)
    seg.timings["read"] = read_time
    if choose_time is not None:
        seg.timings["choose_k"] = choose_time
    return seg


def warm_up() -> None:
    """Load the compiled kernels of the plain recipe in this process (a tiny segmentation), the
    garbage collector paused: a new process's first call pays ~0.5 s for numba's start and the
    cached kernels, which a server or a pool's workers should pay before their first request or
    task."""
    with _parallel.collections_paused():
        segment(np.arange(48, dtype=np.uint8).reshape(4, 4, 3), k=2)


_PLAIN = {"k": DEFAULT_K, "space": "rgb", "position": 0.0, "smooth": 0.0, "superpixels": None,
          "superpixel_method": "slic", "min_region": None}


def resolve_preset(regions: bool, **given: Any) -> dict[str, Any]:
    """The parameters given (not None), the rest from the regions preset or the defaults."""
    base = REGIONS_PRESET if regions else _PLAIN
    return {name: base[name] if value is None else value for name, value in given.items()}


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


def _palette_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters of a fitted palette: an array init (or its JSON summary) becomes
    "k-means++", since the fitted centres replace it."""
    if not isinstance(params["init"], str) or params["init"] not in ("k-means++", "random"):
        params = params | {"init": "k-means++"}
    return params


def _is_many(image: object) -> bool:
    """Whether ``fit`` was given several images (an iterable that is not itself one)."""
    return isinstance(image, Iterable) and not isinstance(
        image, (str, bytes, os.PathLike, np.ndarray, LoadedImage)
    )


def _same_labels(labels: np.ndarray) -> np.ndarray:
    return labels


def _attempts(init: str | np.ndarray, attempts: int | None) -> int:
    """Attempts actually run: an array init runs once; None means the default."""
    return 1 if isinstance(init, np.ndarray) else (attempts or DEFAULT_ATTEMPTS)


def _describe(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as run, as JSON values (an init array is summarised by its shape)."""
    described = dict(params)
    described["attempts"] = _attempts(params["init"], params["attempts"])
    if isinstance(params["init"], np.ndarray):
        described["init"] = f"array of shape {list(described['init'].shape)}"
    if isinstance(params["fixed_colors"], np.ndarray):
        described["fixed_colors"] = params["fixed_colors"].tolist()
    elif params["fixed_colors"] is not None:
        described["fixed_colors"] = list(params["fixed_colors"])
    if isinstance(described["eps"], np.generic):
        described["eps"] = described["eps"].item()
    return described


def _in_unit_range(pixels: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Pixels and their full scale for drawing superpixels: integers over their dtype's range;
    floats outside [0, 1] (any range) mapped onto it by their clustered pixels' span."""
    full_scale = value_range(pixels.dtype)
    if pixels.dtype.kind != "f":
        return pixels, full_scale
    clustered = pixels if mask is None else pixels[mask]
    low, high = float(clustered.min()), float(clustered.max())
    if low >= 0 and high <= 1:
        return pixels, full_scale
    return (pixels - low) / (high - low or 1.0), 1.0


def _same_value(value: Any, default: Any) -> bool:
    """Whether a parameter still holds its default (arrays never do)."""
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return False
    return type(value) is type(default) and value == default


def _short_repr(value: Any) -> str:
    """A parameter for a one-line repr: arrays by their shape, not their values."""
    if isinstance(value, np.ndarray):
        return f"<array {value.shape}>"
    return repr(value)
