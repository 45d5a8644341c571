"""Histogram kernels: pack 8-bit pixels into integer codes, count them, look labels up.

NumPy needs one temporary per channel and operation for the packing (5 passes over the pixels)
and ``np.bincount`` returns int64 counts (134 MB for 2**24 bins) that must then be scanned for
the codes present; these loops make one pass, keep uint32 counts in a table the caller reuses,
and list the codes present as they first appear. The loops are serial and release the GIL: the
caller splits the pixels between threads (numba's ``prange`` gained nothing on 2 cores here,
and stalled for whole seconds when the other core was busy).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def pack_and_count(
    values: np.ndarray, codes: np.ndarray, counts: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """Pack ``(n, C)`` uint8 values into codes (first channel most significant) in ``codes``
    (OUT), add their occurrences to ``counts`` (IN/OUT), and return the codes whose count left
    zero, in order of first occurrence: one pass over the pixels, and no scan of the table."""
    seen = np.empty(max(16, min(values.shape[0], 1 << 16)), dtype=np.uint32)
    i, m = _pack_and_count_until_full(values, 0, codes, counts, seen, 0)
    while i < values.shape[0]:
        grown = np.empty(2 * m, dtype=np.uint32)
        grown[:m] = seen
        seen = grown
        i, m = _pack_and_count_until_full(values, i, codes, counts, seen, m)
    return seen[:m]


@numba.njit(cache=True, nogil=True)
def _pack_and_count_until_full(
    values: np.ndarray, start: int, codes: np.ndarray, counts: np.ndarray, seen: np.ndarray,
    m: int,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """The loop of :func:`pack_and_count` from pixel ``start``, with ``m`` codes in ``seen``;
    stops at the first new code that ``seen`` has no room for. Growing ``seen`` inside this
    loop made it 3x slower (numba counts references of a reassigned array on every pass)."""
    n, n_channels = values.shape
    for i in range(start, n):
        code = np.uint32(0)
        for j in range(n_channels):
            code = (code << np.uint32(8)) | np.uint32(values[i, j])
        codes[i] = code
        if counts[code] == 0:
            if m == seen.shape[0]:
                return i, m
            seen[m] = code
            m += 1
        counts[code] += np.uint32(1)
    return n, m


@numba.njit(cache=True, nogil=True)
def lookup(codes: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out[:] = table[codes]``."""
    for i in range(codes.shape[0]):
        out[i] = table[codes[i]]
