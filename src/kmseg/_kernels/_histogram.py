"""Histogram kernels: pack 8-bit pixels into integer codes, count them, look labels up.

NumPy needs one temporary per channel and operation for the packing (5 passes over the pixels)
and ``np.bincount`` returns int64 counts (134 MB for 2**24 bins); these loops make one pass and
keep uint32 counts. Serial on purpose: numba's ``prange`` gained nothing on 2 cores here (pack
55 ms, lookup 15 ms serial vs 30 ms parallel at 18 MP).
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
def pack_and_count(values: np.ndarray, size: int):  # pragma: no cover - compiled
    """:func:`pack_codes` and :func:`count_codes` in one pass over the pixels."""
    n, n_channels = values.shape
    codes = np.empty(n, dtype=np.uint32)
    counts = np.zeros(size, dtype=np.uint32)
    for i in range(n):
        code = np.uint32(0)
        for j in range(n_channels):
            code = (code << np.uint32(8)) | np.uint32(values[i, j])
        codes[i] = code
        counts[code] += np.uint32(1)
    return codes, counts


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
def lookup(codes: np.ndarray, table: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``table[codes]``."""
    out = np.empty(codes.shape[0], dtype=table.dtype)
    for i in range(codes.shape[0]):
        out[i] = table[codes[i]]
    return out
