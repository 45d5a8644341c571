"""Stage 2 — spatial features of whole images: a working copy of a large image (block means),
labels enlarged back, Gaussian smoothing, position (SLIC-style scale) and Gabor texture.
"""

from __future__ import annotations

import numpy as np

from .io import LoadedImage

# Gabor texture: wavelengths (pixels) and orientations (radians) of the filter bank, as
# MATLAB's imsegkmeans example (wavelengths 3 * 2**i, orientations every 45 degrees); each
# magnitude is smoothed over _TEXTURE_SMOOTHING wavelengths.
_TEXTURE_WAVELENGTHS = (3.0, 6.0, 12.0, 24.0)


_TEXTURE_ORIENTATIONS = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)


_TEXTURE_SMOOTHING = 1.5


def shrink_factor(shape: tuple[int, int], max_pixels: int) -> int:
    """Smallest integer factor that brings an image of ``shape`` to ``max_pixels`` or fewer,
    at most the shorter side (a copy keeps at least one row and one column)."""
    shortest = max(1, min(shape))
    factor = min(shortest, max(1, int(np.ceil(np.sqrt(shape[0] * shape[1] / max_pixels)))))
    while factor < shortest and (shape[0] // factor) * (shape[1] // factor) > max_pixels:
        factor += 1
    return factor


def shrink(loaded: LoadedImage, max_pixels: int) -> LoadedImage:
    """The image itself if it has at most ``max_pixels``, else a copy averaged over blocks of
    ``factor x factor`` pixels (the last rows/columns that do not fill a block are left out;
    a block is clustered if most of its pixels are, and is the mean of those: a nodata frame
    does not darken the blocks along its edge). Integer images stay integer (rounded)."""
    shape = loaded.pixels.shape[:2]
    factor = shrink_factor(shape, max_pixels)
    if factor == 1:
        return loaded
    rows, cols = shape[0] // factor, shape[1] // factor
    if loaded.mask is None:
        pixels, mask = block_mean(loaded.pixels, factor), None
    else:
        valid = loaded.mask.reshape(*shape, *[1] * (loaded.pixels.ndim - 2))
        share = block_mean(loaded.mask, factor)
        sums = block_mean(np.where(valid, loaded.pixels, 0), factor)
        pixels = np.divide(sums, share, out=np.zeros_like(sums), where=share > 0)
        mask = share[..., 0] >= 0.5
    if loaded.pixels.dtype.kind == "u":
        pixels = np.rint(pixels)
    pixels = pixels.astype(loaded.pixels.dtype).reshape(rows, cols, *loaded.pixels.shape[2:])
    return LoadedImage(np.ascontiguousarray(pixels), None, mask, loaded.source,
                       f"{loaded.description}, shrunk {factor}x",
                       decoder_messages=loaded.decoder_messages)


def enlarge(array: np.ndarray, shape: tuple[int, int], factor: int) -> np.ndarray:
    """Undo :func:`shrink`'s size for a map: each value repeated over its ``factor x factor``
    block, the last row/column repeated over the part that filled no block."""
    big = np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)
    return np.pad(big, ((0, shape[0] - big.shape[0]), (0, shape[1] - big.shape[1])), mode="edge")


def block_mean(array: np.ndarray, factor: int | tuple[int, int]) -> np.ndarray:
    """``(M // r, N // c, C)`` float64 means of ``r x c`` blocks (``factor``: ``r = c``, or
    ``(r, c)``); rows and columns that fill no block are left out. Sums one axis after the
    other: 0.13 s for a 14.5 MP RGB photo, 7x faster than a mean over both block axes."""
    r, c = (factor, factor) if isinstance(factor, (int, np.integer)) else factor
    rows, cols = array.shape[0] // r, array.shape[1] // c
    cropped = array[: rows * r, : cols * c].reshape(rows, r, cols * c, -1)
    sums = cropped.sum(axis=1, dtype=np.float64).reshape(rows, cols, c, -1).sum(axis=2)
    return sums / (r * c)


def smooth(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of each channel (float64, input units; ``sigma`` in pixels)."""
    from skimage.filters import gaussian

    return gaussian(pixels.astype(np.float64), sigma=sigma, preserve_range=True,
                    channel_axis=-1 if pixels.ndim == 3 else None)


def position_features(shape: tuple[int, int], k: int, weight: float) -> np.ndarray:
    """``(M * N, 2)`` row and column of each pixel, in units of SLIC's grid step.

    The step is ``sqrt(M * N / k)``, the side of one cluster's share of the image, so that a
    ``weight`` means the same on a small and a large image: as SLIC's compactness, it is the
    colour distance that counts as much as one step.
    """
    rows, cols = np.indices(shape, dtype=np.float64)
    scale = weight / np.sqrt(shape[0] * shape[1] / k)
    return np.stack([rows.ravel() * scale, cols.ravel() * scale], axis=1)


def texture_features(gray: np.ndarray, weight: float) -> np.ndarray:
    """``(M * N, 16)`` smoothed Gabor magnitudes of a gray image, each scaled to unit
    variance and multiplied by ``weight``.

    The filters are :func:`skimage.filters.gabor_kernel`'s, applied by FFT on the image
    mirrored at its edges: the same responses as :func:`skimage.filters.gabor` (direct
    convolution, 8 s a BSDS photo for the 16 filters) in 0.3 s.
    """
    from scipy.signal import fftconvolve
    from skimage.filters import gabor_kernel, gaussian

    gray = gray.astype(np.float64)
    columns = []
    for wavelength in _TEXTURE_WAVELENGTHS:
        for theta in _TEXTURE_ORIENTATIONS:
            kernel = gabor_kernel(1.0 / wavelength, theta=theta)
            pad = (kernel.shape[0] // 2, kernel.shape[1] // 2)
            # Pad by the kernel's half size on each side, mirrored as scipy.ndimage's "reflect".
            padded = np.pad(gray, (pad[0:1] * 2, pad[1:2] * 2), mode="symmetric")
            response = fftconvolve(padded, kernel, mode="valid")
            magnitude = gaussian(np.abs(response), sigma=_TEXTURE_SMOOTHING * wavelength)
            columns.append(magnitude.ravel())
    texture = np.stack(columns, axis=1)
    spread = texture.std(axis=0)
    spread[spread == 0] = 1.0
    return (texture - texture.mean(axis=0)) * (weight / spread)
