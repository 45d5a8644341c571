"""Choosing k: cluster once per candidate k and score each result.

The colour histogram is built once; each k costs one k-means over the distinct colours. For
each k: the compactness (SSE), the PSNR of the painted image against the image, the mean
CIEDE2000 colour difference (RGB images), and three cluster-validity indices from
:mod:`sklearn.metrics` (silhouette, Calinski-Harabasz, Davies-Bouldin) on a fixed weighted
sample of pixels, so that they cost the same on any image size. The recommendation is the knee
of the compactness curve (the "elbow"), or the smallest k meeting a quality target (``min_psnr``,
``max_error``) when one is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._compress import histogram
from ._errors import KmsegError, ParameterError, exceeds, with_source
from ._features import LUMA_WEIGHTS, from_features, to_features, value_range
from ._kmeans import kmeans
from ._options import DEFAULT_SPACE
from ._parallel import one_blas_thread
from ._validation import ImageLike, as_image, check_param, checked_values, resolved_space

DEFAULT_KS = tuple(range(2, 17))
# Pixels in the weighted samples the validity indices (the silhouette is quadratic in it:
# 2 000 points take ~30 ms per k) and the mean CIEDE2000 (30 ms per k on 200 k colours, 4 ms on
# the sample; sampling error ~0.03) are computed on.
_SAMPLE = 2000
_DELTA_E_SAMPLE = 20_000
# Attempts per k by default: fewer than segment's 10, as the scores compare ks and breathing
# k-means improves the best attempts anyway (15 ks on a 14.5 MP photo: 4.5 s with 10).
DEFAULT_CHOOSE_ATTEMPTS = 3


@dataclass(frozen=True)
class KChoice:
    """Scores of each candidate k (arrays aligned with ``ks``) and the recommended k."""

    ks: np.ndarray
    compactness: np.ndarray  # sum of weighted squared distances per k, feature units
    psnr: np.ndarray  # dB, painted image against the image (input units)
    mean_delta_e: np.ndarray | None  # mean CIEDE2000 (RGB images only)
    silhouette: np.ndarray  # higher is better; NaN if undefined
    calinski_harabasz: np.ndarray  # higher is better
    davies_bouldin: np.ndarray  # lower is better
    knee: int  # k at the knee of the compactness curve
    best_silhouette: int  # k of the highest silhouette
    k: int  # the recommendation
    reason: str  # why that k, and where the criteria disagree
    feature_centers: list[np.ndarray] = field(repr=False)  # per k: centres in feature units
    space: str = DEFAULT_SPACE
    normalize: bool = False

    def painted(self, image: np.ndarray, k: int) -> np.ndarray:
        """``image`` (any size, the chosen image's dtype) painted with the centres of ``k``."""
        from ._kmeans import assign

        channels = 1 if image.ndim == 2 else image.shape[2]
        full_scale = value_range(image.dtype)
        X = to_features(image.reshape(-1, channels), self.space, full_scale=full_scale,
                        normalize=self.normalize)
        centers = self.feature_centers[list(self.ks).index(k)]
        labels, _ = assign(X, centers)
        colours = from_features(centers, self.space, full_scale=full_scale,
                                normalize=self.normalize, n_channels=channels)
        return colours[labels].reshape(*image.shape[:2], -1)

    @property
    def agree(self) -> bool:
        """Whether the SSE knee and the silhouette pick the same k."""
        return self.knee == self.best_silhouette

    def summary(self) -> dict[str, Any]:
        """JSON-ready scores and the choice."""
        def values(array: np.ndarray | None) -> list[float | None] | None:
            if array is None:
                return None
            return [None if not np.isfinite(v) else round(float(v), 6) for v in array]

        return {
            "ks": [int(k) for k in self.ks],
            "compactness": values(self.compactness),
            "psnr_db": values(self.psnr),
            "mean_delta_e2000": values(self.mean_delta_e),
            "silhouette": values(self.silhouette),
            "calinski_harabasz": values(self.calinski_harabasz),
            "davies_bouldin": values(self.davies_bouldin),
            "knee": self.knee,
            "best_silhouette": self.best_silhouette,
            "k": self.k,
            "reason": self.reason,
        }

    def table(self) -> str:
        """The scores as a plain-text table, the recommended row marked."""
        header = "k    compactness    PSNR dB  dE2000  silhouette  Calinski-H.  Davies-B."
        lines = [header]
        for i, k in enumerate(self.ks):
            delta_e = "" if self.mean_delta_e is None else f"{self.mean_delta_e[i]:.2f}"
            mark = "  <-" if k == self.k else ""
            lines.append(
                f"{k:<4d} {self.compactness[i]:<14.6g} {self.psnr[i]:<8.2f} {delta_e:<7s} "
                f"{self.silhouette[i]:<11.3f} {self.calinski_harabasz[i]:<12.5g} "
                f"{self.davies_bouldin[i]:<9.3f}{mark}"
            )
        return "\n".join(lines)


def choose_k(
    image: ImageLike,
    ks: tuple[int, ...] | list[int] | range = DEFAULT_KS,
    *,
    space: str = DEFAULT_SPACE,
    attempts: int | None = None,
    seed: int | None = 0,
    normalize: bool = False,
    min_psnr: float | None = None,
    max_error: float | None = None,
    mask: np.ndarray | None = None,
    alpha: bool | None = None,
    channel_axis: int | None = -1,
) -> KChoice:
    """Cluster an image for each k in ``ks`` and recommend one.

    Parameters
    ----------
    image : str, path, ndarray or LoadedImage
        As :func:`kmseg.segment`.
    ks : sequence of int, default 2..16
        Candidate k, at least two, each from 1 to the image's distinct colours.
    space, seed, normalize
        As :class:`kmseg.KMeansSegmenter` (colour features only).
    attempts : int, optional
        k-means attempts per k (default 3).
    min_psnr : float, optional
        Recommend the smallest k whose painted image has at least this PSNR (dB).
    max_error : float, optional
        Recommend the smallest k whose mean CIEDE2000 difference to the image is at most
        this (RGB images).
    mask, alpha, channel_axis
        As :func:`kmseg.segment`.

    Returns
    -------
    KChoice

    Raises
    ------
    ParameterError
        Bad ``ks`` or target, a target no k meets, or any :func:`kmseg.segment` parameter error.

    Examples
    --------
    >>> import kmseg
    >>> choice = kmseg.choose_k(kmseg.data.sample_path(), ks=range(2, 7))
    >>> int(choice.k) in range(2, 7), len(choice.compactness)
    (True, 5)
    """
    loaded = as_image(image, mask=mask, alpha=alpha, channel_axis=channel_axis)
    ks = _check_ks(ks)
    for name, value in (("k", max(ks)), ("space", space), ("attempts", attempts),
                        ("seed", seed), ("normalize", normalize)):
        check_param(name, value)
    _check_targets(min_psnr, max_error)
    try:
        with one_blas_thread():
            return _choose(loaded, ks, space, attempts or DEFAULT_CHOOSE_ATTEMPTS, seed,
                           normalize, min_psnr, max_error)
    except KmsegError as error:
        raise type(error)(with_source(str(error), loaded.source)) from None


def _choose(loaded, ks, space, attempts, seed, normalize, min_psnr, max_error) -> KChoice:
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    # Checks of the space against the image, NaN, etc.: the segmenter's own.
    space = resolved_space(space, loaded)
    values = checked_values(loaded, space, min(ks))
    compressed = histogram(values)
    full_scale = value_range(loaded.pixels.dtype)
    X = to_features(compressed.values, space, full_scale=full_scale, normalize=normalize)
    weights = compressed.counts
    if max(ks) > len(X):
        raise exceeds("k", max(ks), len(X), "distinct colour(s) of the image",
                      f"use ks up to {len(X)}")
    reference = _reference_values(compressed.values.astype(np.float64), space)
    is_rgb = values.shape[1] == 3 and space != "gray"
    rng = np.random.default_rng(seed)
    probability = weights / weights.sum()
    sample = rng.choice(len(X), size=min(_SAMPLE, int(weights.sum())), p=probability)
    colour_sample = rng.choice(len(X), size=_DELTA_E_SAMPLE, p=probability)
    reference_lab = _lab(compressed.values[colour_sample], full_scale) if is_rgb else None
    rows: dict[str, list[float]] = {name: [] for name in
                                    ("compactness", "psnr", "delta_e", "sil", "ch", "db")}
    centers = []
    for k in ks:
        result = kmeans(X, k, sample_weight=weights, attempts=attempts,
                        rng=np.random.default_rng(seed))
        centers.append(result.feature_centers)
        painted = from_features(result.feature_centers, space, full_scale=full_scale,
                                normalize=normalize, n_channels=values.shape[1])[result.labels]
        error = weights @ ((reference - painted) ** 2).sum(axis=1)
        mse = error / (weights.sum() * reference.shape[1])
        rows["compactness"].append(result.compactness)
        rows["psnr"].append(np.inf if mse == 0 else 10 * np.log10(full_scale**2 / mse))
        if reference_lab is not None:
            rows["delta_e"].append(_mean_delta_e(reference_lab, painted[colour_sample],
                                                 full_scale))
        labels = result.labels[sample]
        if len(np.unique(labels)) >= 2 and len(np.unique(labels)) < len(sample):
            rows["sil"].append(silhouette_score(X[sample], labels))
            rows["ch"].append(calinski_harabasz_score(X[sample], labels))
            rows["db"].append(davies_bouldin_score(X[sample], labels))
        else:
            rows["sil"].append(np.nan)
            rows["ch"].append(np.nan)
            rows["db"].append(np.nan)
    arrays = {name: np.array(v, dtype=np.float64) for name, v in rows.items()}
    ks_array = np.array(ks)
    knee = int(ks_array[_knee(ks_array, arrays["compactness"])])
    silhouette = arrays["sil"]
    best_silhouette = (int(ks_array[np.nanargmax(silhouette)])
                       if np.isfinite(silhouette).any() else knee)
    delta_e = arrays["delta_e"] if reference_lab is not None else None
    k, reason = _recommend(ks_array, knee, best_silhouette, arrays["psnr"], delta_e,
                           min_psnr, max_error)
    return KChoice(ks_array, arrays["compactness"], arrays["psnr"], delta_e, silhouette,
                   arrays["ch"], arrays["db"], knee, best_silhouette, k, reason, centers, space,
                   normalize)


def _recommend(ks, knee, best_silhouette, psnr, delta_e, min_psnr, max_error):
    if min_psnr is not None:
        return _smallest_meeting(ks, psnr >= min_psnr, f"PSNR >= {min_psnr:g} dB", psnr,
                                 "dB")
    if max_error is not None:
        if delta_e is None:
            raise ParameterError("max_error (mean CIEDE2000) needs an RGB image and a colour "
                                 "space; use min_psnr")
        return _smallest_meeting(ks, delta_e <= max_error, f"mean dE2000 <= {max_error:g}",
                                 delta_e, "")
    if knee == best_silhouette:
        return knee, f"k={knee}: the knee of the compactness curve, and the best silhouette"
    return knee, (f"k={knee}: the knee of the compactness curve; the silhouette prefers "
                  f"k={best_silhouette} (the criteria disagree: look at both)")


def _smallest_meeting(ks, meets, target, values, unit):
    if not meets.any():
        raise ParameterError(f"no k in {ks.min()}..{ks.max()} meets {target} (k={ks[-1]} "
                             f"gives {values[-1]:.3g}{unit}); allow a larger k")
    index = int(np.argmax(meets))
    return int(ks[index]), f"k={ks[index]}: the smallest k with {target}"


def _knee(ks: np.ndarray, compactness: np.ndarray) -> int:
    """Index of the knee of a decreasing curve: the point farthest below the chord from its
    first to its last point, both axes scaled to [0, 1] (the Kneedle idea)."""
    if len(ks) < 3:
        return 0
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    span = compactness[0] - compactness[-1]
    y = (compactness - compactness[-1]) / span if span > 0 else np.zeros_like(compactness)
    return int(np.argmax((1 - x) - y))


def _reference_values(values: np.ndarray, space: str) -> np.ndarray:
    """What the painted image is compared with: the pixels (luminance for gray)."""
    if space == "gray" and values.shape[1] == 3:
        return (values @ LUMA_WEIGHTS)[:, None]
    return values


def _lab(values: np.ndarray, full_scale: float) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(values.astype(np.float64) / full_scale, channel_axis=-1)


def _mean_delta_e(reference_lab: np.ndarray, painted: np.ndarray, full_scale: float) -> float:
    """Mean CIEDE2000 over a sample drawn by pixel count (so a plain mean)."""
    from skimage.color import deltaE_ciede2000

    painted_lab = _lab(np.clip(painted, 0, full_scale), full_scale)
    return float(deltaE_ciede2000(reference_lab, painted_lab, channel_axis=-1).mean())


def _check_ks(ks) -> list[int]:
    try:
        values = [int(k) for k in ks]
    except (TypeError, ValueError):
        raise ParameterError(f"ks must be a sequence of integers, got {ks!r}") from None
    if len(values) < 2 or any(k < 1 for k in values) or any(
        not isinstance(k, (int, np.integer)) or isinstance(k, bool) for k in ks
    ):
        raise ParameterError(f"ks must hold at least two integers >= 1, got {list(ks)!r}")
    return sorted(set(values))


def _check_targets(min_psnr: float | None, max_error: float | None) -> None:
    if min_psnr is not None and max_error is not None:
        raise ParameterError("give min_psnr or max_error, not both")
    for name, value in (("min_psnr", min_psnr), ("max_error", max_error)):
        if value is not None and not (isinstance(value, (int, float)) and value > 0
                                      and np.isfinite(value)):
            raise ParameterError(f"{name}={value!r} is invalid; use a number > 0")
