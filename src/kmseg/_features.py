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
oklab   3     OKLab (Ottosson, 2020) of an RGB image, x 100 so that L runs 0..100 as CIE L*:
              more uniform hues than CIE Lab (blues stay blue); from XYZ by
              :func:`skimage.color.rgb2xyz`, which has no OKLab itself
======  ====  ============================================================================

Private module: callers validate ``space`` against the image with
:func:`kmseg._validation.check_space` first.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._options import PERCEPTUAL

# OKLab from CIE XYZ (D65): XYZ -> LMS cone responses, cube root, -> Lab (Ottosson's matrices).
_XYZ_TO_LMS = np.array([
    [0.8189330101, 0.3618667424, -0.1288597137],
    [0.0329845436, 0.9293118715, 0.0361456387],
    [0.0482003018, 0.2643662691, 0.6338517070],
])


_LMS_TO_OKLAB = np.array([
    [0.2104542553, 0.7936177850, -0.0040720468],
    [1.9779984951, -2.4285922050, 0.4505937099],
    [0.0259040371, 0.7827717662, -0.8086757660],
])


_OKLAB_SCALE = 100.0


# scikit-image's rgb2gray weights (ITU-R BT.709 luma), kept here so luminance of centres and of
# pixels agree without a round trip through an image-shaped array.
LUMA_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])


def value_range(dtype: np.dtype) -> float:
    """Full-scale value of an image dtype: 255, 65535, or 1.0 for floats."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        return float(np.iinfo(dtype).max)
    return 1.0


def white_point(values: np.ndarray) -> float:
    """The value that is white: the dtype's full scale, but for unsigned integers of more than
    8 bits the largest value of the bits they use, ``2**b - 1`` for the fewest ``b >= 8`` that
    hold them all.

    10-, 12- and 14-bit cameras, microscopes and satellites store their values in 16 bits; read
    against 65535, a 12-bit image is dark, and the regions preset made one region of it. A
    16-bit copy of an 8-bit photo (x 257) still reads as the photo.

    Examples
    --------
    >>> import numpy as np
    >>> white_point(np.array([0, 100, 4000], np.uint16)), white_point(np.array([0, 60], np.uint8))
    (4095.0, 255.0)
    """
    full_scale = value_range(values.dtype)
    if values.dtype.kind != "u" or values.dtype.itemsize == 1 or values.size == 0:
        return full_scale
    bits = max(8, int(values.max()).bit_length())
    return float(min(2**bits - 1, full_scale))


def output_channels(space: str, n_channels: int) -> int:
    """Channels of the painted image: 1 for gray, else the input's."""
    return 1 if space == "gray" else n_channels


def colour_feature_count(space: str, n_channels: int) -> int:
    """Colour features of a pixel: L, a, b (of a gray image too), else one per painted channel."""
    return 3 if space in PERCEPTUAL else output_channels(space, n_channels)


def to_features(
    values: np.ndarray, space: str, *, full_scale: float, normalize: bool
) -> np.ndarray:
    """Features of pixel values.

    Parameters
    ----------
    values : (n, C) ndarray
        Pixel values in input units.
    space : {"rgb", "gray", "lab", "oklab"}
    full_scale : float
        The input's full-scale value (:func:`value_range`).
    normalize : bool
        Divide rgb/gray features by ``full_scale`` (Lab and OKLab have their own units).

    Returns
    -------
    (n, d) float64 C-contiguous ndarray
    """
    values = np.asarray(values, dtype=np.float64)
    if space in PERCEPTUAL and values.shape[1] == 1:
        values = np.repeat(values, 3, axis=1)  # a gray pixel is the colour R = G = B
    if space == "lab":
        from skimage.color import rgb2lab

        return np.ascontiguousarray(rgb2lab(values / full_scale, channel_axis=-1))
    if space == "oklab":
        from skimage.color import rgb2xyz

        lms = rgb2xyz(values / full_scale, channel_axis=-1) @ _XYZ_TO_LMS.T
        return np.ascontiguousarray(np.cbrt(lms) @ _LMS_TO_OKLAB.T * _OKLAB_SCALE)
    if space == "gray" and values.shape[1] == 3:
        values = (values @ LUMA_WEIGHTS)[:, None]
    if normalize:
        values = values / full_scale
    return np.ascontiguousarray(values)


def from_features(
    centers: np.ndarray, space: str, *, full_scale: float, normalize: bool, n_channels: int = 3
) -> np.ndarray:
    """Centres in feature units back to input units of an image of ``n_channels`` (RGB for
    Lab and OKLab, clipped to the sRGB gamut, or its luma for a one-channel image; gray stays
    one channel).

    Returns
    -------
    (k, output_channels) float64 ndarray
    """
    centers = np.asarray(centers, dtype=np.float64)
    if space in PERCEPTUAL and n_channels == 1:
        rgb = from_features(centers, space, full_scale=full_scale, normalize=normalize)
        return (rgb @ LUMA_WEIGHTS)[:, None]
    if space == "lab":
        from skimage.color import lab2rgb

        with warnings.catch_warnings():
            # Means of in-gamut Lab colours can fall a hair outside sRGB; lab2rgb clips them.
            warnings.filterwarnings("ignore", message=".*negative Z values.*")
            return lab2rgb(centers, channel_axis=-1) * full_scale
    if space == "oklab":
        from skimage.color import xyz2rgb

        lms = (centers / _OKLAB_SCALE) @ np.linalg.inv(_LMS_TO_OKLAB).T
        rgb = xyz2rgb(lms**3 @ np.linalg.inv(_XYZ_TO_LMS).T, channel_axis=-1)
        return np.clip(rgb, 0.0, 1.0) * full_scale
    return centers * full_scale if normalize else centers.copy()


def luminance(centers: np.ndarray) -> np.ndarray:
    """Luminance of centres in input units: luma for 3 channels, the mean band otherwise."""
    if centers.shape[1] == 3:
        return centers @ LUMA_WEIGHTS
    return centers.mean(axis=1)
