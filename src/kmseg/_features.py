"""Stage 2 — features: pixels in input units to the feature vectors k-means clusters, and back.

A *feature space* turns an ``(n, C)`` array of pixel values (in the input's own units: 0..255
for uint8, 0..65535 for uint16, as given for floats) into ``(n, d)`` float64 features:

======  ====  ============================================================================
space   d     features
======  ====  ============================================================================
rgb     C     the channel values themselves (any number of bands), divided by the dtype's
              range when ``normalize=True`` so that they lie in [0, 1]
gray    1     luminance ``0.2125 R + 0.7154 G + 0.0721 B`` (scikit-image's ``rgb2gray``
              weights) of an RGB image, or the single channel of a gray one; same units
lab     3     CIE L*a*b* (D65) of an RGB image, by :func:`skimage.color.rgb2lab`
======  ====  ============================================================================

Private module: callers validate ``space`` against the image with :func:`check_space` first.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._errors import ParameterError

SPACES = ("rgb", "gray", "lab")

# scikit-image's rgb2gray weights (ITU-R BT.709 luma), kept here so luminance of centres and of
# pixels agree without a round trip through an image-shaped array.
LUMA_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])


def value_range(dtype: np.dtype) -> float:
    """Full-scale value of an image dtype: 255, 65535, or 1.0 for floats."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        return float(np.iinfo(dtype).max)
    return 1.0


def check_space(space: str, n_channels: int) -> None:
    """Raise ParameterError unless ``space`` can be computed from ``n_channels`` channels."""
    if space not in SPACES:
        raise ParameterError(f"space={space!r} is not one of {', '.join(map(repr, SPACES))}")
    if space == "gray" and n_channels not in (1, 3):
        raise ParameterError(
            f"space='gray' needs a gray or RGB image, this one has {n_channels} channels; "
            "use space='rgb' to cluster all bands"
        )
    if space == "lab" and n_channels != 3:
        raise ParameterError(
            f"space='lab' needs an RGB image, this one has {n_channels} channel(s); "
            "use space='rgb' (or 'gray')"
        )


def output_channels(space: str, n_channels: int) -> int:
    """Channels of the painted image: 1 for gray, else the input's."""
    return 1 if space == "gray" else n_channels


def to_features(
    values: np.ndarray, space: str, *, full_scale: float, normalize: bool
) -> np.ndarray:
    """Features of pixel values.

    Parameters
    ----------
    values : (n, C) ndarray
        Pixel values in input units.
    space : {"rgb", "gray", "lab"}
    full_scale : float
        The input's full-scale value (:func:`value_range`).
    normalize : bool
        Divide rgb/gray features by ``full_scale`` (Lab has its own units).

    Returns
    -------
    (n, d) float64 C-contiguous ndarray
    """
    values = np.asarray(values, dtype=np.float64)
    if space == "lab":
        from skimage.color import rgb2lab

        return np.ascontiguousarray(rgb2lab(values / full_scale, channel_axis=-1))
    if space == "gray" and values.shape[1] == 3:
        values = (values @ LUMA_WEIGHTS)[:, None]
    if normalize:
        values = values / full_scale
    return np.ascontiguousarray(values)


def from_features(
    centers: np.ndarray, space: str, *, full_scale: float, normalize: bool
) -> np.ndarray:
    """Centres in feature units back to input units (RGB for Lab; gray stays one channel).

    Returns
    -------
    (k, output_channels) float64 ndarray
    """
    centers = np.asarray(centers, dtype=np.float64)
    if space == "lab":
        from skimage.color import lab2rgb

        with warnings.catch_warnings():
            # Means of in-gamut Lab colours can fall a hair outside sRGB; lab2rgb clips them.
            warnings.filterwarnings("ignore", message=".*negative Z values.*")
            return lab2rgb(centers, channel_axis=-1) * full_scale
    return centers * full_scale if normalize else centers.copy()


def luminance(centers: np.ndarray) -> np.ndarray:
    """Luminance of centres in input units: luma for 3 channels, the mean band otherwise."""
    if centers.shape[1] == 3:
        return centers @ LUMA_WEIGHTS
    return centers.mean(axis=1)
