"""The public API: :class:`KMeansSegmenter` and :func:`segment`, its one-call wrapper.

Parameters are checked once, at the start, by :mod:`kmseg._validation` (its rules table and
:func:`~kmseg._validation.as_image`); the stages below (features, k-means, labels, result) trust
their input. The estimator runs them; its parts live by concern: :mod:`kmseg._samples` (what
k-means clusters, and from where it starts), :mod:`kmseg._labelling` (labels and the
Segmentation), :mod:`kmseg._palette` (fixed colours, one palette for many images, palette
files), :mod:`kmseg._estimator` (scikit-learn's ``get_params``/``set_params``/``repr``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _parallel
from ._compress import pool_histograms
from ._errors import KmsegError, ParameterError, with_source
from ._estimator import SegmenterParams
from ._kmeans import kmeans
from ._labelling import cut_regions, distances_to, labelled_by, nearest_per_pixel, segmentation_of
from ._options import DEFAULT_SPACE, DEFAULT_SUPERPIXEL_METHOD, resolve_preset
from ._palette import (
    check_poolable,
    fixed_features,
    histogram_of,
    load_palette,
    palette_params,
    pooled_palette,
    save_palette,
)
from ._result import Segmentation
from ._samples import (
    clusters_for,
    initialisation,
    is_spatial,
    makes_regions,
    same_labels,
    samples_of,
    working_copy,
)
from ._validation import (
    _PARAMETER_RULES,
    ImageLike,
    _channels,
    as_image,
    attempts_run,
    check_params,
    is_many,
    resolved_space,
)
from .io import DEFAULT_MAX_PIXELS, LoadedImage, load_image


class KMeansSegmenter(SegmenterParams):
    """Segment images by k-means clustering of their pixel colours.

    Parameters
    ----------
    k : int, default 4
        Number of clusters (1 to 65534). Exactly ``k`` clusters are returned whenever the
        image has at least ``k`` distinct feature values; otherwise a ParameterError says so.
    space : {"rgb", "gray", "lab", "oklab", "auto"}, default "rgb"
        Feature space (see ``kmseg._features``): channel values (any number of bands),
        luminance, CIE L*a*b*, or OKLab (x 100). Lab and OKLab take RGB or gray images (a
        gray pixel is the colour R = G = B; its centres are reported gray). "auto" (the
        regions preset's): Lab where Lab can read the image (RGB or gray; integers, or
        floats in [0, 1]), else the channel values (a multiband raster, a float scan); the
        space fitted is ``space_``.
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
    region_level : float or None, default None
        Also make a region map, cut from the image's merge hierarchy at this level (see
        :func:`kmseg.regions.hierarchy`; 0.48 fits BSDS500's photos, higher levels give fewer
        regions) instead of the connected patches of one label: the regions follow the
        image's edges and their number follows from the image, not from k. With colour
        features only, k-means clusters the regions themselves (each its mean colour,
        weighted by its pixels; k at most their distinct colours when seeded by name); with
        spatial features, each region takes its majority label. With ``min_region`` too,
        smaller regions are then merged into a neighbour.
    fixed_colors : list of "#rrggbb" or (f, C) array, optional
        Colours that must stay centres (``f <= k``), in the image's units (hex: 8-bit RGB,
        scaled to the image's range): they are labels ``0..f-1`` in the order given, and the
        other ``k - f`` centres move as usual. A fixed colour may end with no pixel.
    max_work_pixels : int or None, default 1_000_000
        With position, texture, smoothing, superpixels or ``region_level`` (init by name),
        larger images are worked on as a box-averaged copy of at most this many pixels, and
        the label (and region) maps scaled back up (nearest); None: full size. At least 64.

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
    space_ : str
        The feature space fitted (``space``, with "auto" resolved).

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
        space: str = DEFAULT_SPACE,
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
        superpixel_method: str = DEFAULT_SUPERPIXEL_METHOD,
        min_region: float | None = None,
        region_level: float | None = None,
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
        self.region_level = region_level
        self.max_work_pixels = max_work_pixels
        self.fixed_colors = fixed_colors

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
        if is_many(image):
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
        if self._spatial() or self.region_level is not None:  # regions: labelled by their mean
            raise ParameterError("transform needs colour features only (no position, texture, "
                                 "smoothing, superpixels or region_level)")
        loaded = self._check_fitted(image, mask, alpha, channel_axis)
        params = self._fitted_params()
        try:
            samples = samples_of(loaded, params, binned=False)
        except KmsegError as error:
            raise type(error)(with_source(str(error), loaded.source)) from None
        return distances_to(loaded, samples, self.cluster_centers_, params["k"])

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted palette as JSON (parameters, centres, kmseg version), atomically.

        Raises
        ------
        ParameterError
            Not fitted yet.
        OutputError
            The file cannot be written.
        """
        self._check_fitted(None, None, None, -1)
        return save_palette(self, path)

    @classmethod
    def from_segmentation(cls, seg: Segmentation) -> KMeansSegmenter:
        """A fitted segmenter that applies the centres of a segmentation to other images."""
        segmenter = cls(**palette_params({name: seg.params[name] for name in _PARAMETER_RULES}))
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
        return load_palette(cls, path)

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
            return labelled_by(loaded, self._fitted_params(), self.cluster_centers_)
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
        check_poolable(self.get_params())  # before reading any image
        pooled, first = None, None
        for image in images:
            loaded = as_image(image, alpha=alpha, channel_axis=channel_axis, check_finite=False)
            first = first or loaded
            pooled = pool_histograms(pooled, *self.image_histogram(loaded, like=first))
        if first is None:
            raise ParameterError("no image to fit on: the list is empty")
        self.fit_histogram(*pooled, like=first)

    def image_histogram(
        self, loaded: LoadedImage, *, like: LoadedImage | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distinct colours and counts of one image, for :meth:`fit_histogram` (after
        :func:`kmseg._compress.pool_histograms` of many); ``like``: an image it must match in
        kind."""
        return histogram_of(loaded, self._params_for(loaded), like=like)

    def fit_histogram(self, values: np.ndarray, counts: np.ndarray, *, like: LoadedImage):
        """Fit the palette on a (pooled) colour histogram of images of the kind of ``like``."""
        params = self._params_for(values, like.pixels.dtype)
        for name, value in pooled_palette(values, counts, like, params).items():
            setattr(self, name, value)
        return self

    def _fit(self, loaded: LoadedImage) -> Segmentation:
        check_params(self.get_params())
        if loaded.pixel_list and (self._spatial() or makes_regions(self.get_params())):
            raise ParameterError("regions (min_region, region_level, regions=True), position, "
                                 "texture, smooth and superpixels need an image, not a pixel "
                                 "list; reshape the pixels to (M, N, C)")
        try:
            with _parallel.one_blas_thread():
                return self._fit_checked(loaded)
        except KmsegError as error:
            raise type(error)(with_source(str(error), loaded.source)) from None

    def _fit_checked(self, loaded: LoadedImage) -> Segmentation:
        start = time.perf_counter()
        params = self._params_for(loaded)
        work = working_copy(loaded, params)
        init, init_labels = initialisation(work, params)
        fixed = fixed_features(work, params)
        regions = cut_regions(work, params)
        # An initial label map is per pixel, so it is the one case clustered pixel by pixel.
        samples = samples_of(work, params, per_pixel=init_labels is not None, regions=regions)
        params["k"] = clusters_for(params, samples)
        features_done = time.perf_counter()
        result = kmeans(
            samples.X,
            params["k"],
            sample_weight=samples.weights,
            init=init,
            init_labels=init_labels,
            attempts=attempts_run(self.init, self.attempts),
            max_iter=self.max_iter,
            eps=float(self.eps),
            rng=np.random.default_rng(self.seed),
            fixed=fixed,
        )
        expand = samples.expand
        if samples.binned:  # a bin's pixels shared its label: each pixel its own nearest
            result = nearest_per_pixel(work, result, space=params["space"],
                                       normalize=self.normalize)
            expand = same_labels
        clustered = time.perf_counter()
        seg = segmentation_of(
            loaded, work, result, expand, params, regions=regions,
            timings={"features": features_done - start, "cluster": clustered - features_done},
            canonical=not isinstance(self.init, np.ndarray),
        )
        seg.timings["labels"] = time.perf_counter() - clustered  # incl. scaling up
        self._adopt(seg)
        return seg

    def _adopt(self, seg: Segmentation) -> None:
        """The fitted state of a segmentation made with these parameters."""
        self.cluster_centers_, self.centers_ = seg.feature_centers, seg.centers
        self.inertia_, self.n_iter_, self.converged_ = seg.compactness, seg.n_iter, seg.converged
        self.space_, self.labels_ = seg.space, seg.labels
        n_channels = 1 if seg.image.ndim == seg.labels.ndim else seg.image.shape[-1]
        self.dtype_, self.n_channels_ = str(seg.image.dtype), n_channels

    def _spatial(self) -> bool:
        """Whether features depend on pixel neighbourhoods, not only on each pixel's value."""
        return is_spatial(self.get_params())

    def _params_for(self, values: LoadedImage | np.ndarray, dtype: Any = None) -> dict[str, Any]:
        """Parameters of a fit on an image (or ``(n, C)`` values of ``dtype`` images): space
        "auto" resolved."""
        return self.get_params() | {"space": resolved_space(self.space, values, dtype)}

    def _fitted_params(self) -> dict[str, Any]:
        """The parameters other images are labelled with: the fitted space, and k from the
        centres (the regions preset fits at most what its image has)."""
        return self.get_params() | {"space": self.space_, "k": len(self.cluster_centers_)}


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
    region_level: float | None = None,
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
        :func:`kmseg.choose_k` recommends among 2..16 (the knee of the compactness curve, or the
        smallest k meeting ``min_psnr`` / ``max_error``).
    space : str, optional
        Feature space (default "rgb"; with ``regions=True`` the preset's "auto": Lab, or the
        channel values of an image Lab cannot read).
    init, attempts, max_iter, eps, seed, normalize, texture, max_work_pixels, fixed_colors
        See :class:`KMeansSegmenter`. The defaults (k-means++, 10 attempts, run to
        convergence) are at least as compact as OpenCV's usual call
        ``cv2.kmeans(..., criteria=(EPS + MAX_ITER, 20, 0.1), attempts=10, RANDOM_CENTERS)``.
    position, smooth, superpixels, superpixel_method, min_region, region_level
        See :class:`KMeansSegmenter` (default: off, or the preset's with ``regions=True``).
    min_psnr, max_error : float, optional
        With ``k="auto"``: the smallest k whose painted image has this PSNR (dB), or at most
        this mean CIEDE2000 colour difference (pngquant-style quality targets).
    regions : bool, default False
        The regions preset: coherent regions rather than colour clusters
        (:data:`REGIONS_PRESET`: the image's merge hierarchy cut at ``region_level=0.48``,
        then k-means of the regions' mean colours, k = 8, space "auto"). Parameters given
        explicitly override the preset's.
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
                            min_region=min_region, region_level=region_level)
    model = KMeansSegmenter(init=init, attempts=attempts, max_iter=max_iter, eps=eps, seed=seed,
                            normalize=normalize, texture=texture, fixed_colors=fixed_colors,
                            max_work_pixels=max_work_pixels, **chosen)
    seg = model.fit_segment(image, mask=mask, alpha=alpha, channel_axis=channel_axis)
    seg.timings["read"] = read_time
    if choose_time is not None:
        seg.timings["choose_k"] = choose_time
    return seg

