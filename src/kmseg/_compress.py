"""Stage 3 — compress: the histogram of distinct pixel values, and labels back by lookup.

k-means over the distinct values weighted by their pixel counts has exactly the objective and
the Lloyd iterates of k-means over all pixels; a real photo has ~50-150 k distinct 8-bit colours
for millions of pixels, so the engine works on far fewer points. Labels go back to the pixels
through the inverse index, with no distance computed per pixel.

Private module: callers pass checked ``(n, C)`` values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Histogram:
    """Distinct values of ``n`` pixels, their counts, and how to find each pixel's value.

    ``codes[i]`` locates pixel ``i``: for 8-bit data it is the packed value (``r << 16 |
    g << 8 | b``) and ``present`` lists the codes that occur, in the order of ``values``;
    otherwise ``codes`` is the row of ``values`` itself and ``present`` is None.
    """

    values: np.ndarray  # (m, C) distinct values, input dtype
    counts: np.ndarray  # (m,) float64 pixel counts (the engine's weights)
    codes: np.ndarray  # (n,) uint32 packed values, or intp rows of ``values``
    present: np.ndarray | None  # (m,) uint32 codes of ``values``, or None

    def expand(self, labels: np.ndarray) -> np.ndarray:
        """Per-pixel labels from per-value labels, by lookup."""
        if self.present is None:
            return labels[self.codes]
        # A table over every code costs 256**C entries but no per-pixel index array: 16 MB for
        # 8-bit RGB against 4 bytes per pixel for an index (72 MB at 18 MP).
        table = np.zeros(_table_size(self.values.shape[1]), dtype=labels.dtype)
        table[self.present] = labels
        from ._kernels import lookup

        return lookup(self.codes, table)


def histogram(values: np.ndarray) -> Histogram:
    """Histogram of ``(n, C)`` pixel values.

    8-bit data of up to 3 channels is counted in a table of ``256**C`` bins (no sort);
    anything else (16-bit, float, more bands) goes through :func:`numpy.unique`.
    """
    if values.dtype == np.uint8 and values.shape[1] <= 3:
        return _table_histogram(values)
    distinct, inverse, counts = np.unique(values, axis=0, return_inverse=True, return_counts=True)
    return Histogram(distinct, counts.astype(np.float64), inverse.ravel(), None)


def _table_size(n_channels: int) -> int:
    return 1 << (8 * n_channels)


def _table_histogram(values: np.ndarray) -> Histogram:
    from ._kernels import pack_and_count, present_codes

    n_channels = values.shape[1]
    codes, counts = pack_and_count(values, _table_size(n_channels))
    present, weights = present_codes(counts)
    del counts  # 64 MB for RGB: free it before the caller allocates more
    shifts = 8 * np.arange(n_channels - 1, -1, -1, dtype=np.uint32)
    distinct = ((present[:, None] >> shifts) & 0xFF).astype(np.uint8)
    return Histogram(distinct, weights, codes, present)
