"""Stage 6 — result, display: any kmseg image (8/16-bit, float, multi-band) as 8-bit-ready
values in [0, 1], for figures, notebook previews and the region boundaries drawn over a photo;
and images shrunk to the pixels a display shows.

Convention: values are divided by the dtype's full scale (255, 65535, 1.0 for floats in
[0, 1]); floats outside [0, 1] are min-max scaled; multi-band images show their first three
bands in false colour.

Display sizes: a figure or thumbnail never needs more pixels than it shows, so images are
shrunk first by an integer factor (:func:`reduction_factor`): area-averaged (:func:`shrink_image`)
for photos, each block's most frequent value (:func:`block_mode`) for label maps, which must
keep their exact values.
"""

from __future__ import annotations

import numpy as np

from ._errors import ParameterError
from ._features import value_range, white_point
from ._spatial import block_mean


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


def display_limits(
    pixels: np.ndarray, alpha: np.ndarray | None, *, own_white: bool = False
) -> tuple[float, float]:
    """:func:`value_limits` of the shown bands of the opaque pixels; ``own_white``: integers up
    to their white point (:func:`kmseg._features.white_point`: 12-bit values stored in 16 bits
    up to 4095)."""
    bands = shown_bands(pixels)
    if own_white and bands.dtype.kind in "biu":
        return 0.0, white_point(bands if alpha is None else bands[alpha > 0])
    if alpha is None or bands.dtype.kind != "f":  # integer limits do not depend on the pixels
        return value_limits(bands)
    return value_limits(bands[alpha > 0])


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
    scaled = values.astype(np.float32)
    if values.dtype.kind == "f":  # integers have none: 1.1 s saved on a 21 MP photo
        np.nan_to_num(scaled, copy=False)
    scaled = (scaled - low) / np.float32(high - low)
    return np.clip(scaled, 0, 1, out=scaled)


def reduction_factor(
    shape: tuple[int, ...], box: tuple[float, float], *, cover: bool = True
) -> int:
    """Integer factor by which an image of ``shape`` can shrink to be shown in ``box``.

    Parameters
    ----------
    shape : tuple
        The image's ``(M, N, ...)``.
    box : (float, float)
        Rows and columns of display pixels the image is fitted into (aspect kept).
    cover : bool, default True
        True: the largest factor that still leaves at least the pixels shown (for a renderer
        that resamples, as matplotlib: no detail lost, less than twice the shown size in the
        fitting dimension). False: the smallest factor that fits the box (shown 1:1).

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> reduction_factor((3000, 4000), (300, 400)), reduction_factor((3000, 4000), (300, 390))
    (10, 10)
    >>> reduction_factor((3000, 4000), (300, 390), cover=False)
    11
    """
    ratio = max(shape[0] / box[0], shape[1] / box[1])
    return max(1, int(np.floor(ratio) if cover else np.ceil(ratio)))


def shrink_image(array: np.ndarray, factor: int) -> np.ndarray:
    """Area average of ``factor x factor`` blocks, in the input dtype (integers rounded).

    The last rows and columns that fill no block are left out; a side shorter than ``factor``
    is averaged whole. ``(M, N)`` or ``(M, N, C)`` in, ``(M // f, N // f[, C])`` out; the
    array itself when ``factor`` is 1 (:func:`kmseg._spatial.block_mean` does the sums).
    """
    if factor == 1:
        return array
    steps, _ = _blocks(array.shape, factor)
    means = block_mean(array, steps)
    means = means if array.ndim == 3 else means[..., 0]
    if array.dtype.kind in "ub":
        means = np.rint(means)
    return means.astype(array.dtype)


def sample_blocks(array: np.ndarray, factor: int) -> np.ndarray:
    """The value at the centre of each of :func:`shrink_image`'s blocks (nearest neighbour).
    The array itself when ``factor`` is 1."""
    if factor == 1:
        return array
    (row_step, col_step), (rows, cols) = _blocks(array.shape, factor)
    return array[row_step // 2 :: row_step, col_step // 2 :: col_step][:rows, :cols].copy()


def block_mode(array: np.ndarray, factor: int, *, samples: int = 4) -> np.ndarray:
    """The most frequent value of each of :func:`shrink_image`'s blocks, among
    ``samples x samples`` pixels spread evenly over it (all of them for blocks up to that
    size); ties go to the smallest value. Label maps shrink without new values and with less
    speckle than :func:`sample_blocks` (a majority filter): 0.05 s for a 15 MP map, whatever
    the number of labels. The array itself when ``factor`` is 1."""
    if factor == 1:
        return array
    (row_step, col_step), (rows, cols) = _blocks(array.shape, factor)
    blocks = array[: rows * row_step, : cols * col_step].reshape(rows, row_step, cols, col_step)
    picked = blocks[:, _offsets(row_step, samples)][:, :, :, _offsets(col_step, samples)]
    values = np.sort(picked.transpose(0, 2, 1, 3).reshape(rows * cols, -1), axis=1)
    # Length of the run of equal values ending at each position; the mode ends the longest.
    position = np.arange(values.shape[1])
    starts = np.ones(values.shape, bool)
    starts[:, 1:] = values[:, 1:] != values[:, :-1]
    run = position - np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    mode = values[np.arange(len(values)), np.argmax(run, axis=1)]
    return mode.reshape(rows, cols)


def _offsets(step: int, samples: int) -> np.ndarray:
    """``min(step, samples)`` positions spread evenly over a block side of ``step`` pixels."""
    count = min(step, samples)
    return (np.arange(count) * step + step // 2) // count


def _blocks(shape: tuple[int, ...], factor: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Block height and width (``factor``, or a whole side shorter than it), and block counts."""
    row_step, col_step = min(factor, shape[0]), min(factor, shape[1])
    return (row_step, col_step), (shape[0] // row_step, shape[1] // col_step)


def to_rgb8(pixels: np.ndarray) -> np.ndarray:
    """``(M, N, 3)`` uint8 RGB of any image as :func:`to_display` shows it (8-bit RGB and gray
    as they are, without a round trip through floats)."""
    bands = shown_bands(pixels)
    if bands.dtype != np.uint8 or (bands.ndim == 3 and bands.shape[2] != 3):
        bands = np.rint(to_display(pixels) * 255).astype(np.uint8)
    return np.repeat(bands[..., None], 3, axis=2) if bands.ndim == 2 else bands.copy()


def to_rgba8(pixels: np.ndarray, alpha: np.ndarray | None, limits: tuple[float, float]
             ) -> np.ndarray:
    """``(M, N, 4)`` uint8 RGBA of an image on given display limits (opaque without alpha)."""
    display = display_with_limits(pixels, alpha, limits)
    if display.ndim == 2:
        display = np.repeat(display[..., None], 3, axis=-1)
    if display.shape[2] == 3:
        display = np.concatenate([display, np.ones_like(display[..., :1])], axis=-1)
    return np.rint(display * 255).astype(np.uint8)


def png_bytes(rgba: np.ndarray) -> bytes:
    """An ``(M, N, 4)`` uint8 array as PNG file bytes (Pillow)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="png")
    return buffer.getvalue()
