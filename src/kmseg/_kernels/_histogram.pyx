"""Histogram kernels: pack 8-bit pixels into integer codes, count them, look labels up.

NumPy needs one temporary per channel and operation for the packing (5 passes over the pixels)
and ``np.bincount`` returns int64 counts (134 MB for 2**24 bins) that must then be scanned for
the codes present; these loops make one pass, keep uint32 counts in a table the caller reuses,
and list the codes present as they first appear. The codes are not kept: the lookup packs the
pixels again, which reads 3 bytes a pixel where a code array costs 4 to write and 4 to read,
and a fresh 4-byte-per-pixel array is where the time went astray: its first touch (page
faults, and on Linux with transparent huge pages, memory compaction) made an 18 MP histogram
take 60-140 ms instead of 25. The loops are serial and release the GIL: the caller splits the
pixels between threads (a parallel loop gained nothing on 2 cores here, and stalled for whole
seconds when the other core was busy).
"""

import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

ctypedef fused label_t:
    uint8_t
    uint16_t
    uint32_t
    int32_t
    int64_t


cdef inline uint32_t _pack(const uint8_t *pixel, Py_ssize_t step, Py_ssize_t c) noexcept nogil:
    """The code of the pixel at ``pixel``, its channels ``step`` bytes apart."""
    cdef Py_ssize_t j
    cdef uint32_t code = 0
    for j in range(c):
        code = (code << 8) | pixel[j * step]
    return code


cdef inline uint32_t _pack_rgb(const uint8_t *pixel, Py_ssize_t step) noexcept nogil:
    return (<uint32_t>pixel[0] << 16) | (<uint32_t>pixel[step] << 8) | pixel[2 * step]


def pack_and_count(const uint8_t[:, :] values, uint32_t[::1] counts):
    """Pack ``(n, C)`` uint8 values into codes (first channel most significant), add their
    occurrences to ``counts`` (IN/OUT), and return the codes whose count left zero, in order
    of first occurrence: one pass over the pixels, and no scan of the table."""
    cdef Py_ssize_t n = values.shape[0], i = 0, m = 0
    seen = np.empty(max(16, min(n, 1 << 16)), dtype=np.uint32)
    cdef uint32_t[::1] room = seen
    with nogil:
        i = _pack_and_count_until_full(values, 0, counts, room, &m)
    while i < n:
        grown = np.empty(2 * m, dtype=np.uint32)
        grown[:m] = seen
        seen = grown
        room = seen
        with nogil:
            i = _pack_and_count_until_full(values, i, counts, room, &m)
    return seen[:m]


cdef Py_ssize_t _pack_and_count_until_full(
    const uint8_t[:, :] values, Py_ssize_t start, uint32_t[::1] counts, uint32_t[::1] seen,
    Py_ssize_t *n_seen,
) noexcept nogil:
    """The loop of :func:`pack_and_count` from pixel ``start``, with ``n_seen[0]`` codes in
    ``seen``; stops at the first new code that ``seen`` has no room for, and returns its pixel.
    Raw pointers and locals, and RGB in a loop of its own: through the memoryviews, or with
    the general packing in the same loop, it took 1.3-1.5x as long."""
    cdef Py_ssize_t n = values.shape[0], c = values.shape[1], i
    if n == 0:
        return 0
    cdef const uint8_t *pixels = &values[0, 0]
    cdef Py_ssize_t row = values.strides[0], step = values.strides[1]
    if c == 3:
        for i in range(start, n):
            if not _count(_pack_rgb(pixels + i * row, step), &counts[0], &seen[0],
                          seen.shape[0], n_seen):
                return i
    else:
        for i in range(start, n):
            if not _count(_pack(pixels + i * row, step, c), &counts[0], &seen[0],
                          seen.shape[0], n_seen):
                return i
    return n


cdef inline bint _count(
    uint32_t code, uint32_t *counts, uint32_t *seen, Py_ssize_t room, Py_ssize_t *n_seen
) noexcept nogil:
    """Count one code (listing it in ``seen`` if new); False, counting nothing, when it is new
    and ``seen`` is full."""
    cdef uint32_t before = counts[code]  # read once: the compiler cannot tell that the
    # store to ``seen`` leaves ``counts`` alone (it reloaded it: 1.3x as long)
    if before == 0:
        if n_seen[0] == room:
            return False
        seen[n_seen[0]] = code
        n_seen[0] += 1
    counts[code] = before + 1
    return True


def lookup(const uint8_t[:, :] values, const uint32_t[::1] table, label_t[::1] out):
    """``out[i] = table[code of values[i]]``, the codes packed as :func:`pack_and_count` does."""
    cdef Py_ssize_t n = values.shape[0], c = values.shape[1], i
    if n == 0:
        return
    cdef const uint8_t *pixels = &values[0, 0]
    cdef Py_ssize_t row = values.strides[0], step = values.strides[1]
    cdef const uint32_t *labels = &table[0]
    with nogil:
        if c == 3:
            for i in range(n):
                out[i] = <label_t>labels[_pack_rgb(pixels + i * row, step)]
        else:
            for i in range(n):
                out[i] = <label_t>labels[_pack(pixels + i * row, step, c)]


def count_distinct(const uint8_t[:, :] values, int32_t[::1] inverse):
    """Distinct rows of ``(n, C)`` uint8 values (C <= 3) in ascending order of their codes
    (packed as :func:`pack_and_count` does), ``(m, C)`` uint8, and their counts; ``inverse``
    (OUT) gets each value's row.

    One bit per possible code (2 MB for RGB, where the count table is 64 MB: for small images
    its first touch cost more than the counting), then each code's row is the number of codes
    present below it: a running count per 64-bit word plus the bits below it in its word.
    On a 481x321 photo (48 k colours) this took 2.5 ms where a hash table, a sort of its codes
    and a search for each took 10 ms.
    """
    cdef Py_ssize_t n = values.shape[0], c = values.shape[1], i, w, t
    cdef Py_ssize_t n_words = max(1, (1 << (8 * c)) >> 6)
    bits_array = np.zeros(n_words, dtype=np.uint64)
    below_array = np.empty(n_words, dtype=np.int32)
    codes_array = np.empty(n, dtype=np.uint32)
    cdef uint64_t[::1] bits = bits_array
    cdef int32_t[::1] below = below_array
    cdef uint32_t[::1] codes = codes_array
    cdef const uint8_t *pixels = &values[0, 0] if n else NULL
    cdef Py_ssize_t stride = values.strides[0], step = values.strides[1]
    cdef uint32_t code
    cdef uint64_t word
    cdef int32_t m = 0
    with nogil:
        for i in range(n):
            code = _code(pixels + i * stride, step, c)
            bits[code >> 6] |= (<uint64_t>1) << (code & 63)
        for w in range(n_words):
            below[w] = m
            word = bits[w]
            while word:
                codes[m] = <uint32_t>(w * 64 + _popcount((word & (~word + 1)) - 1))
                word &= word - 1
                m += 1
    rows_array = np.empty((m, c), dtype=np.uint8)
    counts_array = np.zeros(m, dtype=np.int64)
    cdef uint8_t[:, ::1] rows = rows_array
    cdef int64_t[::1] counts = counts_array
    with nogil:
        for i in range(m):
            for t in range(c):
                rows[i, t] = <uint8_t>(codes[i] >> (8 * (c - 1 - t)))
        for i in range(n):
            code = _code(pixels + i * stride, step, c)
            w = code >> 6
            m = below[w] + _popcount(bits[w] & (((<uint64_t>1) << (code & 63)) - 1))
            counts[m] += 1
            inverse[i] = m
    return rows_array, counts_array


cdef inline uint32_t _code(const uint8_t *pixel, Py_ssize_t step, Py_ssize_t c) noexcept nogil:
    return _pack_rgb(pixel, step) if c == 3 else _pack(pixel, step, c)


cdef inline int32_t _popcount(uint64_t x) noexcept nogil:
    """Set bits of ``x`` (the portable bit trick: compilers turn it into one instruction where
    the target has one)."""
    x = x - ((x >> 1) & 0x5555555555555555u)
    x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u)
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Fu
    return <int32_t>((x * 0x0101010101010101u) >> 56)
