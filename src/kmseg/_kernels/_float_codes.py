"""Float-pixel kernels: integer codes of floats that are exact, and bins of those that are not.

``uint8_image / 255`` (float64 or float32) holds only 256 values per channel: each is found
again as ``u = round(v * 255)`` and checked to equal ``u / 255`` in its own dtype, so such an
image is counted by the 8-bit histogram kernels (np.unique sorted the 16 M rows of one in
45-100 s). Continuous floats are binned on a grid over their range in one pass that counts and
sums each bin's points (for its exact mean) and writes the bin numbers as bytes, so that labels
go back by the 8-bit lookup.

Serial loops that release the GIL; the caller splits the pixels between threads. NumPy
versions in the tests (``tests/test_compress.py``).
"""

from __future__ import annotations

import numba
import numpy as np

_BLOCK = 4096


@numba.njit(cache=True, nogil=True)
def integer_codes(
    values: np.ndarray, constants: np.ndarray, codes: np.ndarray
) -> bool:  # pragma: no cover - compiled
    """Fill ``codes`` (OUT, unsigned, C-contiguous as ``values``) with ``u = round(v * scale)``
    of each value ``v``; return whether every ``v`` equals ``u / scale`` computed in the
    values' dtype (``u`` in ``0..top``). ``constants`` is ``[scale, 0.5, top]`` in the values'
    dtype, so that all the arithmetic is in it (a float32 ``u / 255`` is not the float64 one).
    Stops after the block of _BLOCK values holding the first that is no code (``codes`` then
    partly written). Branch-free inside a block: 1.5-2.5x faster than an early return per
    value, or than checking ``u / scale`` by a table lookup."""
    flat = values.reshape(-1)
    out = codes.reshape(-1)
    scale, half, top = constants[0], constants[1], constants[2]
    highest = top + half  # floor() of the clipped value is at most top
    for start in range(0, flat.shape[0], _BLOCK):
        wrong = 0
        for i in range(start, min(start + _BLOCK, flat.shape[0])):
            value = flat[i]
            code = np.floor(min(max(value * scale + half, top - top), highest))
            wrong += code / scale != value  # True for NaN too
            out[i] = int(code)
        if wrong:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def bin_and_sum(
    values: np.ndarray, low: np.ndarray, scale: np.ndarray, bits: int, codes: np.ndarray,
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Bin ``(n, C)`` points (C <= 3) on a grid and sum each bin's points, in one pass.

    A point's bin number is, per axis, ``min(floor((x - low) * scale), 2**bits - 1)``, the
    axes' numbers concatenated (first axis most significant, at most 24 bits); it is written
    to ``codes`` (OUT, ``(n, 3)`` uint8) as 3 bytes, most significant first, as :func:`lookup`
    packs them again. ``rows`` (IN/OUT, zeros, ``2**24`` entries) holds ``1 +`` the row of each
    bin met; the caller zeroes ``rows[numbers]`` after.

    Returns the bin numbers in order of first occurrence (uint32) and, per bin, a row
    ``[count, first point (C), sum of the differences of its points from the first (C)]``
    (float64, ``(m, 2C + 1)``: one cache line per bin, not three arrays: 0.78 against 1.07 s
    of one thread for a 17.9 MP photo of ferns, 395 k bins). The mean, ``first + difference /
    count``, is then exactly the value of a bin whose points are all equal.
    """
    n, c = values.shape
    capacity = max(16, min(n, 1 << 16))
    numbers = np.empty(capacity, dtype=np.uint32)
    bins = np.zeros((capacity, 2 * c + 1))
    i, m = _bin_until_full(values, 0, low, scale, bits, codes, rows, numbers, bins, 0)
    while i < n:
        numbers = np.concatenate((numbers, np.empty(m, dtype=np.uint32)))
        bins = np.concatenate((bins, np.zeros((m, 2 * c + 1))))
        i, m = _bin_until_full(values, i, low, scale, bits, codes, rows, numbers, bins, m)
    return numbers[:m], bins[:m]


@numba.njit(cache=True, nogil=True)
def _bin_until_full(
    values: np.ndarray, start: int, low: np.ndarray, scale: np.ndarray, bits: int,
    codes: np.ndarray, rows: np.ndarray, numbers: np.ndarray, bins: np.ndarray, m: int,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """The loop of :func:`bin_and_sum` from point ``start``, with ``m`` bins met; stops at the
    first new bin that ``numbers`` has no room for (as ``_pack_and_count_until_full``).

    A run of points in one bin (half of a smooth photo's neighbours) is summed in registers
    and added to the bin's row once: adding each point to its row made every next point of
    the bin wait for that store (0.27 against 0.16 s of one thread's time for 16 MP). The
    channels are three named variables, not a loop over a small array (0.37 s)."""
    n, c = values.shape
    top = (1 << bits) - 1
    row, previous, run = -1, -1, 0
    run0 = run1 = run2 = first0 = first1 = first2 = 0.0
    stop = n
    for i in range(start, n):
        number = _bin_number(values, i, low, scale, bits, top)
        codes[i, 0] = number >> 16
        codes[i, 1] = (number >> 8) & 255
        codes[i, 2] = number & 255
        if number != previous:
            if run:
                _add_run(bins, row, run, run0, run1, run2)
            row = np.int64(rows[number]) - 1
            if row < 0:
                if m == numbers.shape[0]:
                    stop, run = i, 0
                    break
                numbers[m] = number
                for t in range(c):
                    bins[m, 1 + t] = values[i, t]
                row = m
                m += 1
                rows[number] = m
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
    return stop, m


@numba.njit(cache=True, nogil=True, inline="always")
def _bin_number(
    values: np.ndarray, i: int, low: np.ndarray, scale: np.ndarray, bits: int, top: int
) -> int:  # pragma: no cover - compiled
    if values.shape[1] == 3:  # unrolled for RGB: the loop took 2-3x as long
        return ((min(int((values[i, 0] - low[0]) * scale[0]), top) << (2 * bits))
                | (min(int((values[i, 1] - low[1]) * scale[1]), top) << bits)
                | min(int((values[i, 2] - low[2]) * scale[2]), top))
    number = 0
    for t in range(values.shape[1]):
        number = (number << bits) | min(int((values[i, t] - low[t]) * scale[t]), top)
    return number


@numba.njit(cache=True, nogil=True, inline="always")
def _add_run(
    bins: np.ndarray, row: int, run: int, run0: float, run1: float, run2: float
) -> None:  # pragma: no cover - compiled
    c = (bins.shape[1] - 1) // 2
    bins[row, 0] += run
    bins[row, 1 + c] += run0
    if c > 1:
        bins[row, 2 + c] += run1
    if c > 2:
        bins[row, 3 + c] += run2


@numba.njit(cache=True, nogil=True)
def channel_bounds(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Smallest and largest value of each channel of ``(n, C)`` values (n >= 1), in one pass
    (NumPy's column by column reductions read the rows C times); NaN bounds when a channel
    holds NaN or infinity."""
    n, c = values.shape
    low = np.empty(c)
    high = np.empty(c)
    finite = np.zeros(c)  # x - x: 0 for finite x, NaN for NaN and infinities
    for t in range(c):
        low[t] = values[0, t]
        high[t] = values[0, t]
    for i in range(n):
        for t in range(c):
            value = values[i, t]
            finite[t] += value - value
            if value < low[t]:
                low[t] = value
            elif value > high[t]:
                high[t] = value
    return low + finite, high + finite
