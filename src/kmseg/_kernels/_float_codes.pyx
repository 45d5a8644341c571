"""Float-pixel kernels: integer codes of floats that are exact, and bins of those that are not
(and of 16-bit values, which seldom repeat).

``uint8_image / 255`` (float64 or float32) holds only 256 values per channel: each is found
again as ``u = round(v * 255)`` and checked to equal ``u / 255`` in its own dtype, so such an
image is counted by the 8-bit histogram kernels (np.unique sorted the 16 M rows of one in
45-100 s). Continuous floats are binned on a grid over their range in one pass that counts and
sums each bin's points (for its exact mean) and writes the bin numbers as bytes, so that labels
go back by the 8-bit lookup.

Serial loops that release the GIL; the caller splits the pixels between threads. NumPy
versions in :mod:`._reference` (tests in ``tests/test_compress.py``).
"""

import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t

ctypedef fused float_t:
    float
    double

ctypedef fused code_t:
    uint8_t
    uint16_t

# What the bins take: continuous floats, and 16-bit values that hardly repeat.
ctypedef fused sample_t:
    uint16_t
    float
    double

cdef enum:
    _BLOCK = 4096


def integer_codes(const float_t[:, ::1] values, const float_t[::1] constants, code_t[:, ::1] codes):
    """Fill ``codes`` (OUT) with ``u = round(v * scale)`` of each value ``v``; return whether
    every ``v`` equals ``u / scale`` computed in the values' dtype (``u`` in ``0..top``).
    ``constants`` is ``[scale, 0.5, top]`` in the values' dtype, so that all the arithmetic is
    in it (a float32 ``u / 255`` is not the float64 one). Stops after the block of _BLOCK
    values holding the first that is no code (``codes`` then partly written). Branch-free
    inside a block: 1.5-2.5x faster than an early return per value."""
    cdef Py_ssize_t size = values.shape[0] * values.shape[1], start, i, end
    cdef const float_t *flat = &values[0, 0] if size else NULL
    cdef code_t *out = &codes[0, 0] if size else NULL
    cdef float_t scale = constants[0], half = constants[1], top = constants[2]
    cdef float_t highest = top + half  # floor() of the clipped value is at most top
    cdef float_t value, code, x
    cdef Py_ssize_t wrong = 0
    with nogil:
        start = 0
        while start < size:
            wrong = 0
            end = min(start + _BLOCK, size)
            for i in range(start, end):
                value = flat[i]
                x = value * scale + half
                if not x >= 0:  # NaN too: its code 0 then fails the check below
                    x = 0
                if x > highest:
                    x = highest
                code = <float_t><int32_t>x  # floor() of x >= 0; int32 converts vectorised
                wrong += code / scale != value
                out[i] = <code_t>code
            if wrong:
                break
            start = end
    return wrong == 0


def bin_and_sum(
    const sample_t[:, :] values, const double[:] low, const double[:] scale, int bits,
    uint8_t[:, :] codes, uint32_t[::1] rows,
):
    """Bin ``(n, C)`` points (C <= 3) on a grid and sum each bin's points, in one pass.

    A point's bin number is, per axis, ``min(floor((x - low) * scale), 2**bits - 1)``, the
    axes' numbers concatenated (first axis most significant, at most 24 bits); it is written
    to ``codes`` (OUT, ``(n, 3)`` uint8) as 3 bytes, most significant first, as the 8-bit
    lookup packs them again. ``rows`` (IN/OUT, zeros, ``2**24`` entries) holds ``1 +`` the row
    of each bin met; the caller zeroes ``rows[numbers]`` after.

    Returns the bin numbers in order of first occurrence (uint32) and, per bin, a row
    ``[count, first point (C), sum of the differences of its points from the first (C)]``
    (float64, ``(m, 2C + 1)``: one cache line per bin, not three arrays: 0.78 against 1.07 s
    of one thread for a 17.9 MP photo of ferns, 395 k bins). The mean, ``first + difference /
    count``, is then exactly the value of a bin whose points are all equal.
    """
    cdef Py_ssize_t n = values.shape[0], c = values.shape[1], i = 0, m = 0
    capacity = max(16, min(n, 1 << 16))
    numbers = np.empty(capacity, dtype=np.uint32)
    bins = np.zeros((capacity, 2 * c + 1))
    cdef uint32_t[::1] numbers_view = numbers
    cdef double[:, ::1] bins_view = bins
    with nogil:
        i = _bin_until_full(values, 0, low, scale, bits, codes, rows, numbers_view, bins_view,
                            &m)
    while i < n:
        numbers = np.concatenate((numbers, np.empty(m, dtype=np.uint32)))
        bins = np.concatenate((bins, np.zeros((m, 2 * c + 1))))
        numbers_view = numbers
        bins_view = bins
        with nogil:
            i = _bin_until_full(values, i, low, scale, bits, codes, rows, numbers_view,
                                bins_view, &m)
    return numbers[:m], bins[:m]


cdef inline int64_t _bin_number(
    const sample_t[:, :] values, Py_ssize_t i, const double[:] low, const double[:] scale,
    int bits, int64_t top,
) noexcept nogil:
    cdef int64_t number = 0
    cdef Py_ssize_t t
    if values.shape[1] == 3:  # unrolled for RGB: the loop took 2-3x as long
        return ((min(<int64_t>((values[i, 0] - low[0]) * scale[0]), top) << (2 * bits))
                | (min(<int64_t>((values[i, 1] - low[1]) * scale[1]), top) << bits)
                | min(<int64_t>((values[i, 2] - low[2]) * scale[2]), top))
    for t in range(values.shape[1]):
        number = (number << bits) | min(<int64_t>((values[i, t] - low[t]) * scale[t]), top)
    return number


cdef Py_ssize_t _bin_until_full(
    const sample_t[:, :] values, Py_ssize_t start, const double[:] low,
    const double[:] scale, int bits, uint8_t[:, :] codes, uint32_t[::1] rows,
    uint32_t[::1] numbers, double[:, ::1] bins, Py_ssize_t *m,
) noexcept nogil:
    """The loop of :func:`bin_and_sum` from point ``start``, with ``m[0]`` bins met; stops at
    the first new bin that ``numbers`` has no room for, and returns its point.

    A run of points in one bin (half of a smooth photo's neighbours) is summed in registers
    and added to the bin's row once: adding each point to its row made every next point of
    the bin wait for that store (0.27 against 0.16 s of one thread's time for 16 MP)."""
    cdef Py_ssize_t n = values.shape[0], c = values.shape[1], i, t
    cdef int64_t top = (1 << bits) - 1, number, previous = -1, row = -1
    cdef Py_ssize_t run = 0
    cdef double run0 = 0, run1 = 0, run2 = 0, first0 = 0, first1 = 0, first2 = 0
    for i in range(start, n):
        number = _bin_number(values, i, low, scale, bits, top)
        codes[i, 0] = <uint8_t>(number >> 16)
        codes[i, 1] = <uint8_t>((number >> 8) & 255)
        codes[i, 2] = <uint8_t>(number & 255)
        if number != previous:
            if run:
                _add_run(bins, row, run, run0, run1, run2)
            row = <int64_t>rows[number] - 1
            if row < 0:
                if m[0] == numbers.shape[0]:
                    return i
                numbers[m[0]] = <uint32_t>number
                for t in range(c):
                    bins[m[0], 1 + t] = values[i, t]
                row = m[0]
                m[0] += 1
                rows[number] = <uint32_t>m[0]
            first0 = bins[row, 1]
            first1 = bins[row, 2] if c > 1 else 0.0
            first2 = bins[row, 3] if c > 2 else 0.0
            previous, run = number, 0
            run0 = run1 = run2 = 0.0
        run += 1
        run0 += values[i, 0] - first0
        if c > 1:
            run1 += values[i, 1] - first1
        if c > 2:
            run2 += values[i, 2] - first2
    if run:
        _add_run(bins, row, run, run0, run1, run2)
    return n


cdef inline void _add_run(
    double[:, ::1] bins, int64_t row, Py_ssize_t run, double run0, double run1, double run2
) noexcept nogil:
    cdef Py_ssize_t c = (bins.shape[1] - 1) // 2
    bins[row, 0] += run
    bins[row, 1 + c] += run0
    if c > 1:
        bins[row, 2 + c] += run1
    if c > 2:
        bins[row, 3 + c] += run2


def channel_bounds(const sample_t[:, :] values):
    """Smallest and largest value of each channel of ``(n, C)`` values (n >= 1), in one pass
    (NumPy's column by column reductions read the rows C times); NaN bounds when a channel
    holds NaN or infinity."""
    cdef Py_ssize_t n = values.shape[0], c = values.shape[1], i, t
    low = np.empty(c)
    high = np.empty(c)
    finite = np.zeros(c)  # x - x: 0 for finite x, NaN for NaN and infinities
    cdef double[::1] lo = low, hi = high, fin = finite
    cdef double value
    with nogil:
        for t in range(c):
            lo[t] = values[0, t]
            hi[t] = values[0, t]
        for i in range(n):
            for t in range(c):
                value = values[i, t]
                fin[t] += value - value
                if value < lo[t]:
                    lo[t] = value
                elif value > hi[t]:
                    hi[t] = value
    return low + finite, high + finite
