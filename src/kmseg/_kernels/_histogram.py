"""Histogram kernels: pack 8-bit pixels into integer codes, count them, look labels up.

NumPy needs one temporary per channel and operation for the packing (5 passes over the pixels)
and ``np.bincount`` returns int64 counts (134 MB for 2**24 bins) that must then be scanned for
the codes present; these loops make one pass, keep uint32 counts in a table the caller reuses,
and list the codes present as they first appear. The codes are not kept: the lookup packs the
pixels again, which reads 3 bytes a pixel where a code array costs 4 to write and 4 to read,
and a fresh 4-byte-per-pixel array is where the time went astray: its first touch (page
faults, and on Linux with transparent huge pages, memory compaction) made an 18 MP histogram
take 60-140 ms instead of 25. The loops are serial and release the GIL: the
caller splits the pixels between threads (numba's ``prange`` gained nothing on 2 cores here,
and stalled for whole seconds when the other core was busy).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def pack_and_count(values: np.ndarray, counts: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Pack ``(n, C)`` uint8 values into codes (first channel most significant), add their
    occurrences to ``counts`` (IN/OUT), and return the codes whose count left zero, in order
    of first occurrence: one pass over the pixels, and no scan of the table."""
    seen = np.empty(max(16, min(values.shape[0], 1 << 16)), dtype=np.uint32)
    i, m = _pack_and_count_until_full(values, 0, counts, seen, 0)
    while i < values.shape[0]:
        grown = np.empty(2 * m, dtype=np.uint32)
        grown[:m] = seen
        seen = grown
        i, m = _pack_and_count_until_full(values, i, counts, seen, m)
    return seen[:m]


@numba.njit(cache=True, nogil=True, inline="always")
def _pack(values: np.ndarray, i: int) -> np.uint32:  # pragma: no cover - compiled
    if values.shape[1] == 3:  # unrolled for RGB: the general loop took 1.5x as long
        return ((np.uint32(values[i, 0]) << np.uint32(16))
                | (np.uint32(values[i, 1]) << np.uint32(8)) | np.uint32(values[i, 2]))
    code = np.uint32(0)
    for j in range(values.shape[1]):
        code = (code << np.uint32(8)) | np.uint32(values[i, j])
    return code


@numba.njit(cache=True, nogil=True)
def _pack_and_count_until_full(
    values: np.ndarray, start: int, counts: np.ndarray, seen: np.ndarray, m: int
) -> tuple[int, int]:  # pragma: no cover - compiled
    """The loop of :func:`pack_and_count` from pixel ``start``, with ``m`` codes in ``seen``;
    stops at the first new code that ``seen`` has no room for. Growing ``seen`` inside this
    loop made it 3x slower (numba counts references of a reassigned array on every pass)."""
    for i in range(start, values.shape[0]):
        code = _pack(values, i)
        if counts[code] == 0:
            if m == seen.shape[0]:
                return i, m
            seen[m] = code
            m += 1
        counts[code] += np.uint32(1)
    return values.shape[0], m


@numba.njit(cache=True, nogil=True)
def lookup(values: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out[i] = table[code of values[i]]``, the codes packed as :func:`pack_and_count` does."""
    for i in range(values.shape[0]):
        out[i] = table[_pack(values, i)]
