"""Stage 6 — result, display: any kmseg image (8/16-bit, float, multi-band) as 8-bit-ready
values in [0, 1], for figures and for the region boundaries drawn over a photo.

Convention: values are divided by the dtype's full scale (255, 65535, 1.0 for floats in
[0, 1]); floats outside [0, 1] are min-max scaled; multi-band images show their first three
bands in false colour.
"""

from __future__ import annotations

import numpy as np

from ._errors import ParameterError
from ._features import value_range


def to_display(pixels: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """Scale any kmseg image to float values in [0, 1] for ``imshow``.

    Parameters
    ----------
    pixels : (M, N) or (M, N, C) ndarray
        uint8, uint16 or float. Integers are divided by their full scale (255, 65535); floats
        in [0, 1] are kept; floats outside [0, 1] are min-max scaled over the opaque pixels;
        NaN shows as 0. Images with ``C`` other than 1 or 3 show their first three bands in
        false colour (two bands: the third is 0).
    alpha : (M, N) ndarray, optional
        Opacity in the same units (0 is transparent); appended as a fourth channel.

    Returns
    -------
    (M, N), (M, N, 3) or (M, N, 4) float32 ndarray
        ``(M, N)`` for a gray image without alpha; RGBA whenever ``alpha`` is given (gray is
        repeated to RGB).

    Raises
    ------
    ParameterError
        ``pixels`` is not 2-D or 3-D, or ``alpha`` does not have shape ``(M, N)``.

    Examples
    --------
    >>> import numpy as np
    >>> from kmseg.plot import to_display
    >>> to_display(np.array([[0, 51, 255]], dtype=np.uint8))
    array([[0. , 0.2, 1. ]], dtype=float32)
    >>> to_display(np.zeros((2, 3), np.uint8), alpha=np.full((2, 3), 255, np.uint8)).shape
    (2, 3, 4)
    """
    pixels = np.asarray(pixels)
    if pixels.ndim not in (2, 3):
        raise ParameterError(
            f"pixels must be an (M, N) or (M, N, C) image, got shape {pixels.shape}"
        )
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.shape != pixels.shape[:2]:
            raise ParameterError(
                f"alpha shape {alpha.shape} does not match the image's {pixels.shape[:2]}"
            )
    return display_with_limits(pixels, alpha, display_limits(pixels, alpha))


def shown_bands(pixels: np.ndarray) -> np.ndarray:
    """The bands shown: ``(M, N)`` for one channel, else at most the first three."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return pixels[..., 0]
    return pixels[..., :3] if pixels.ndim == 3 else pixels


def display_limits(pixels: np.ndarray, alpha: np.ndarray | None) -> tuple[float, float]:
    """:func:`value_limits` of the shown bands of the opaque pixels."""
    bands = shown_bands(pixels)
    return value_limits(bands if alpha is None else bands[alpha > 0])


def display_with_limits(
    pixels: np.ndarray, alpha: np.ndarray | None, limits: tuple[float, float]
) -> np.ndarray:
    """:func:`to_display` with given limits; trusts its (checked) input."""
    display = scale_to_unit(shown_bands(pixels), *limits)
    if display.ndim == 3 and display.shape[2] == 2:
        display = np.concatenate([display, np.zeros_like(display[..., :1])], axis=-1)
    if alpha is None:
        return display
    if display.ndim == 2:
        display = np.repeat(display[..., None], 3, axis=-1)
    opacity = scale_to_unit(alpha, 0.0, value_range(alpha.dtype))
    return np.concatenate([display, opacity[..., None]], axis=-1)


def value_limits(values: np.ndarray) -> tuple[float, float]:
    """Display range: 0..full scale for integers and for floats in [0, 1], else min..max."""
    if values.dtype.kind != "f":
        return 0.0, value_range(values.dtype)
    finite = values[np.isfinite(values)]
    if finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1):
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low, low + 1.0)


def scale_to_unit(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` mapped from [low, high] to [0, 1] as float32, clipped; NaN becomes 0."""
    scaled = (np.nan_to_num(values.astype(np.float32)) - low) / np.float32(high - low)
    return np.clip(scaled, 0, 1, out=scaled)
