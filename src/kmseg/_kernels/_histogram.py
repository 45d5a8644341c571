"""Histogram kernels: pack 8-bit pixels into integer codes, count them, look labels up.

NumPy needs one temporary per channel and operation for the packing (5 passes over the pixels)
and ``np.bincount`` returns int64 counts (134 MB for 2**24 bins); these loops make one pass and
keep uint32 counts. The loops are serial and release the GIL: the caller splits the pixels
between threads (numba's ``prange`` gained nothing on 2 cores here, and stalled for whole
seconds when the other core was busy).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def pack_codes(values: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``(n, C)`` uint8 -> ``(n,)`` uint32 codes, first channel most significant."""
    n, n_channels = values.shape
    codes = np.empty(n, dtype=np.uint32)
    for i in range(n):
        code = np.uint32(0)
        for j in range(n_channels):
            code = (code << np.uint32(8)) | np.uint32(values[i, j])
        codes[i] = code
    return codes


@numba.njit(cache=True, nogil=True)
def count_codes(codes: np.ndarray, size: int) -> np.ndarray:  # pragma: no cover - compiled
    """Occurrences of each code in ``0..size-1`` (uint32)."""
    counts = np.zeros(size, dtype=np.uint32)
    for i in range(codes.shape[0]):
        counts[codes[i]] += np.uint32(1)
    return counts


@numba.njit(cache=True, nogil=True)
def pack_and_count(
    values: np.ndarray, codes: np.ndarray, counts: np.ndarray
) -> None:  # pragma: no cover - compiled
    """:func:`pack_codes` into ``codes`` (OUT) and add their occurrences to ``counts`` (IN/OUT),
    in one pass over the pixels."""
    n, n_channels = values.shape
    for i in range(n):
        code = np.uint32(0)
        for j in range(n_channels):
            code = (code << np.uint32(8)) | np.uint32(values[i, j])
        codes[i] = code
        counts[code] += np.uint32(1)


@numba.njit(cache=True, nogil=True)
def present_codes(counts: np.ndarray):  # pragma: no cover - compiled
    """The codes that occur (ascending) and their counts (float64 weights)."""
    m = 0
    for c in range(counts.shape[0]):
        if counts[c]:
            m += 1
    present = np.empty(m, dtype=np.uint32)
    weights = np.empty(m)
    m = 0
    for c in range(counts.shape[0]):
        if counts[c]:
            present[m] = c
            weights[m] = counts[c]
            m += 1
    return present, weights


@numba.njit(cache=True, nogil=True)
def lookup(codes: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out[:] = table[codes]``."""
    for i in range(codes.shape[0]):
        out[i] = table[codes[i]]
