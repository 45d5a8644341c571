"""Stage 3 — compress: the histogram of distinct pixel values, and labels back by lookup.

k-means over the distinct values weighted by their pixel counts has exactly the objective and
the Lloyd iterates of k-means over all pixels; a real photo has ~50-150 k distinct 8-bit colours
for millions of pixels, so the engine works on far fewer points. Labels go back to the pixels
through the inverse index, with no distance computed per pixel.

Private module: callers pass checked ``(n, C)`` values.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from . import _parallel
from ._errors import ParameterError
from ._spatial import block_mean, enlarge, shrink_factor

# Pixels are split between threads once there are _THREAD_MIN of them (two threads: 18 MP
# histogram 70 -> 45 ms, lookup 40 -> 25 ms).
_THREAD_MIN = 1 << 20
# 8-bit images of up to _BITMAP_MAX pixels are counted through a bitmap of their own (2 MB),
# with an index per pixel, rather than the shared 64 MB count table.
_BITMAP_MAX = 1 << 19
# Sample size and distinct share above which 16-bit, float or many-band values are clustered
# pixel by pixel rather than through np.unique (a sort of every pixel).
_SAMPLE = 1 << 16
_MAX_DISTINCT_SHARE = 0.5
# Floats that are integer codes, tried in this order: (code dtype, scale) for v == u / scale.
_FLOAT_CODES = ((np.uint8, 255.0), (np.uint8, 1.0), (np.uint16, 65535.0), (np.uint16, 1.0))
# Bits of a bin number per axis of continuous floats, by channel count: at most 2**24 bins
# (the largest count table), and 16-bit resolution for one channel.
_BIN_BITS = {1: 16, 2: 10, 3: 8}
# Integer values (volumes) are counted in a table over their range when it is at most this.
_COUNTED_RANGE = 1 << 24


@dataclass(frozen=True, eq=False)
class Histogram:
    """Distinct values of ``n`` pixels, their counts, and how to find each pixel's value.

    8-bit data: ``pixels`` are the ``(n, C)`` pixel values themselves and ``present`` the
    packed codes (``r << 16 | g << 8 | b``) of ``values``, in their order; a pixel's value is
    found by packing it. Floats that are 8-bit codes (``uint8 / 255``) have their codes as
    ``pixels``; binned floats the ``(n, 3)`` bytes of their bin numbers, and ``values`` are the
    bins' means. Other data: ``inverse[i]`` is the row of ``values`` of pixel ``i``. When the
    values hardly repeat, ``values`` are the pixels themselves, with unit counts and neither.
    """

    values: np.ndarray  # (m, C) distinct values, input dtype (superpixels: mean features;
    # floats that are codes: float64 quotients; bins of 16-bit values: float64 means)
    counts: np.ndarray  # (m,) float64 pixel counts (the engine's weights)
    inverse: np.ndarray | None = None  # (n,) int32 or intp rows of ``values``
    pixels: np.ndarray | None = None  # (n, B) uint8 pixel codes, looked up by their packing
    present: np.ndarray | None = None  # (m,) uint32 codes of ``values``
    binned: bool = False  # values are bin means: a bin's pixels need not share a nearest centre

    def expand(self, labels: np.ndarray) -> np.ndarray:
        """Per-pixel labels from per-value labels (integers below 2**32), by lookup."""
        if self.inverse is not None:
            return labels[self.inverse]
        if self.pixels is None:
            return labels
        # A table over every code costs no per-pixel index array (4 bytes per pixel, 72 MB at
        # 18 MP); it is one of the reusable zeroed tables, cleared again after.
        from ._kernels import lookup

        out = np.empty(len(self.pixels), dtype=labels.dtype)
        with _TABLES.borrow(self.pixels.shape[1]) as table:
            table[self.present] = labels
            _parallel.run([lambda p=p: lookup(self.pixels[p], table, out[p])
                           for p in _parallel.split(len(out), _THREAD_MIN)])
            table[self.present] = 0
        return out


def histogram(values: np.ndarray, *, binned: bool = True) -> Histogram:
    """Histogram of ``(n, C)`` pixel values: distinct values (or bins) and their counts.

    * 8-bit data of up to 3 channels is counted in a table of ``256**C`` bins (no sort), or
      below half a megapixel through a bitmap of the codes present.
    * Floats that are all 8- or 16-bit codes, exactly (float32 or float64 ``u / 255``,
      ``u / 65535`` or integers ``u``, what ``uint8_image / 255`` or
      ``.astype(np.float32) / 255`` give), are counted through their codes as the integer
      image would be: lossless, the same counts in the same order; the distinct values are
      the float64 quotients (for float64 input, its own values), so the labels are the
      integer image's.
    * Other floats of up to 3 channels (continuous data, any range), when ``binned``: binned
      on a regular grid over each channel's range, 2**16 bins for 1 channel, 2**10 per axis
      for 2, 2**8 per axis for 3 (photos occupy a few 100 k of them); each bin is a point at
      the exact mean of its pixels (in the input dtype), weighted by their count. Lossless
      when no bin holds two different values (e.g. few distinct levels); otherwise the pixels
      of a bin share one label (``binned`` is set on the result, and the segmenter then gives
      each pixel its own nearest centre): on 16-21 MP photos (uint8 + noise, k = 4) the
      bins' labels were within 0.03 % of the SSE of the same k-means on every pixel
      (``benchmarks/bench_float.py``).
    * Anything else (16-bit, more bands, floats when not ``binned``) goes through
      :func:`numpy.unique` when its values repeat enough. Otherwise 16-bit values of up to 3
      channels, when ``binned``, are binned as continuous floats are (means in float64);
      other values are passed through pixel by pixel (the engine's grid coreset then takes
      the histogram's place).

    Parameters
    ----------
    values : (n, C) ndarray
        uint8, uint16, float32 or float64 pixel values, finite (n >= 1).
    binned : bool, default True
        Bin continuous floats. False keeps every distinct float (exact nearest-centre labels
        for each pixel, at the cost of clustering or sorting every pixel).

    Returns
    -------
    Histogram

    Raises
    ------
    ParameterError
        Floats with NaN or infinity.
    """
    if values.dtype == np.uint8 and values.shape[1] <= 3:
        return _bitmap_histogram(values) if len(values) <= _BITMAP_MAX else _table_histogram(values)
    if values.dtype.kind == "f":
        coded = _float_code_histogram(values, binned)
        if coded is not None:  # codes are finite
            return coded
        bins = _binned_histogram(values) if binned else None
        if bins is not None:  # _bin_grid refused NaN
            return bins
        if not np.isfinite(values).all():  # exact: these paths read every value anyway
            raise ParameterError("image has NaN or infinite values; mask them out")
    if not _repeats_enough(values):
        # 16-bit photos: bins, as continuous floats (18 MP, one thread: 82 s -> 4.6 s).
        bins = _binned_histogram(values) if binned and values.dtype == np.uint16 else None
        return bins if bins is not None else Histogram(values, np.ones(len(values)))
    distinct, inverse, counts = _unique_rows(values)
    return Histogram(distinct, counts.astype(np.float64), inverse=inverse)


def integer_histogram(values: np.ndarray) -> Histogram | None:
    """Histogram of ``(n,)`` integers (any integer dtype, e.g. CT's int16) by counting, when
    their range spans at most _COUNTED_RANGE values; else None. No sort: a 20-slice CT series
    (5.2 M voxels) took 0.03 s here where np.unique took 0.5 s."""
    low, high = int(values.min()), int(values.max())
    if high - low >= _COUNTED_RANGE or high > np.iinfo(np.int64).max:
        return None
    offsets = np.subtract(values, low, dtype=np.int64, casting="unsafe")  # no int8 wrap-around
    counts = np.bincount(offsets, minlength=high - low + 1)
    present = np.flatnonzero(counts)
    row = np.empty(len(counts), dtype=np.intp)
    row[present] = np.arange(len(present))
    return Histogram((present.astype(np.int64) + low)[:, None],
                     counts[present].astype(np.float64),
                     inverse=row[offsets])


def pool_histograms(
    first: tuple[np.ndarray, np.ndarray] | None, values: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge the histogram ``(values, counts)`` into ``first`` (None: nothing yet): the
    distinct values of both and their summed counts, so that many images cost one pass each."""
    if first is not None:
        values = np.concatenate([first[0], values])
        counts = np.concatenate([first[1], counts])
    distinct, inverse, _ = _unique_rows(values)
    return distinct, np.bincount(inverse, weights=counts, minlength=len(distinct))


def _unique_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(values, axis=0, return_inverse=True, return_counts=True)`` (inverse flat),
    through one integer per row when a row fits in 64 bits: sorting integers is far faster
    than sorting rows (4-band 0.7 MP: 0.9 -> 0.06 s)."""
    n_channels = values.shape[1]
    if values.dtype.kind != "u" or values.dtype.itemsize * n_channels > 8:
        distinct, inverse, counts = np.unique(values, axis=0, return_inverse=True,
                                              return_counts=True)
        return distinct, inverse.ravel(), counts
    shifts = _shifts(n_channels, values.dtype)
    codes = np.bitwise_or.reduce(values.astype(np.uint64) << shifts, axis=1)
    present, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    return _unpack(present, n_channels, values.dtype), inverse, counts


def _shifts(n_channels: int, dtype: np.dtype) -> np.ndarray:
    """Bit offset of each channel in a packed code, the first channel most significant."""
    return (8 * np.dtype(dtype).itemsize * np.arange(n_channels - 1, -1, -1)).astype(np.uint64)


def _unpack(codes: np.ndarray, n_channels: int, dtype: np.dtype) -> np.ndarray:
    """Packed codes back to ``(m, n_channels)`` rows of ``dtype``."""
    mask = np.uint64(np.iinfo(dtype).max)
    shifts = _shifts(n_channels, dtype)
    return ((codes.astype(np.uint64)[:, None] >> shifts) & mask).astype(dtype)


def _repeats_enough(values: np.ndarray) -> bool:
    """Whether sorting out the distinct values pays: fewer than _MAX_DISTINCT_SHARE of an evenly
    spaced sample are distinct. A 16-bit photo has nearly as many values as pixels: it is
    binned instead (or, beyond 3 channels, clustered pixel by pixel through the engine's grid
    coreset). Rows counted as packed integers where they fit (np.unique(axis=0) sorted the
    65 k rows of a 16-bit sample in 110 ms)."""
    sample = values[:: max(1, len(values) // _SAMPLE)]
    return len(_unique_rows(sample)[0]) <= _MAX_DISTINCT_SHARE * len(sample)


class _ZeroedTables:
    """uint32 tables of ``256**C`` entries, all zero, lent out and taken back.

    A fresh table costs more than counting a small image: the first touch of its pages and a scan
    for the codes present took 44 ms of a 0.15 MP photo's 50 ms histogram (and ~60 ms at 18 MP,
    one table per thread). A borrower zeroes the entries it set before giving the table back; a
    table whose borrower raised is dropped. A process keeps at most n_threads() tables per size
    (64 MB each for RGB, resident once a large photo has touched them).
    """

    def __init__(self) -> None:
        self._free: dict[int, list[np.ndarray]] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def borrow(self, n_channels: int) -> Iterator[np.ndarray]:
        size = 1 << (8 * n_channels)
        with self._lock:
            free = self._free.setdefault(size, [])
            table = free.pop() if free else None
        if table is None:
            table = np.zeros(size, dtype=np.uint32)
        yield table  # an exception here drops the table: it may not be zero any more
        with self._lock:
            if len(free) < _parallel.n_threads():
                free.append(table)


_TABLES = _ZeroedTables()


def _bitmap_histogram(values: np.ndarray) -> Histogram:
    """A small image's histogram through a bitmap of the codes present: a 481x321 photo's cold
    ``kmseg segment`` touched 64 MB less memory than through the count table. In code order,
    as the count table gives them: the same image, the same k-means."""
    from ._kernels import count_distinct

    inverse = np.empty(len(values), dtype=np.int32)
    rows, counts = count_distinct(values, inverse)
    return Histogram(rows, counts.astype(np.float64), inverse=inverse)


def _table_histogram(values: np.ndarray) -> Histogram:
    from ._kernels import pack_and_count

    n_channels = values.shape[1]
    parts = _parallel.split(len(values), _THREAD_MIN)
    with contextlib.ExitStack() as stack:
        # One count table per thread, added up over the codes present only.
        tables = [stack.enter_context(_TABLES.borrow(n_channels)) for _ in parts]
        seen = _parallel.run([
            lambda p=p, t=t: pack_and_count(values[p], t)
            for p, t in zip(parts, tables, strict=True)
        ])
        present = np.sort(np.concatenate(seen))
        if len(seen) > 1:  # not np.unique: in NumPy 2.4 its hashing took 0.1 s for 300 k codes
            present = present[np.concatenate([[True], present[1:] != present[:-1]])]
        weights = np.zeros(len(present))
        for table, new in zip(tables, seen, strict=True):
            weights += table[present]
            table[new] = 0
    return Histogram(_unpack(present, n_channels, values.dtype), weights, pixels=values,
                     present=present)


def _float_code_histogram(values: np.ndarray, binned: bool) -> Histogram | None:
    """The histogram of floats that are all integer codes ``u / scale`` (:data:`_FLOAT_CODES`),
    counted as those integers are; None for other floats.

    A value ``v`` is code ``u = round(v * scale)`` when ``v`` equals ``u / scale`` computed in
    its own dtype, as ``uint8_image / 255`` computed it: an exact test. The distinct values
    are the float64 quotients ``u / scale``: the input's own values for float64, and for
    float32 the float64 values they are rounded from, so that float32 and float64 versions of
    an image give the same features, and the same labels (and, as k-means is equivariant to
    scale, those of the integer image). A check that fails stops at the first value that is
    not a code.
    """
    values = np.ascontiguousarray(values)
    for code_dtype, scale in _FLOAT_CODES:
        codes = _integer_codes(values, scale, code_dtype)
        if codes is not None:
            coded = histogram(codes, binned=binned)
            if coded.values is codes:  # passed through: the pixels are the values
                exact = values if values.dtype == np.float64 else codes / scale
                return Histogram(exact, coded.counts)
            return replace(coded, values=coded.values / scale)
    return None


def _integer_codes(values: np.ndarray, scale: float, code_dtype: type) -> np.ndarray | None:
    """``(n, C)`` codes ``u = round(v * scale)`` of C-contiguous float values when every value
    equals ``u / scale`` in the values' dtype (``u`` a ``code_dtype``), else None."""
    from ._kernels._float_codes import integer_codes

    constants = np.array([scale, 0.5, np.iinfo(code_dtype).max], dtype=values.dtype)
    codes = np.empty(values.shape, dtype=code_dtype)
    exact = _parallel.run([lambda p=p: integer_codes(values[p], constants, codes[p])
                           for p in _parallel.split(len(values), _THREAD_MIN)])
    return codes if all(exact) else None


def _bin_grid(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The lowest value of each channel and the scale that numbers its bins from 0 to
    ``2**_BIN_BITS[C]`` over the channel's range, or None for ranges too wide or too narrow
    for floating point (the values are then not binned).

    Raises
    ------
    ParameterError
        When a value is NaN or infinite (callers should have masked them).
    """
    from ._kernels._float_codes import channel_bounds

    bounds = _parallel.run([lambda p=p: channel_bounds(values[p])
                            for p in _parallel.split(len(values), _THREAD_MIN)])
    low = np.min([part[0] for part in bounds], axis=0)
    if np.isnan(low).any():
        raise ParameterError("image has NaN or infinite values; mask them out")
    span = np.max([part[1] for part in bounds], axis=0) - low
    with np.errstate(divide="ignore", over="ignore"):
        scale = np.where(span > 0, (1 << _BIN_BITS[values.shape[1]]) / span, 0.0)
    return (low, scale) if np.isfinite(span).all() and np.isfinite(scale).all() else None


def _binned_histogram(values: np.ndarray) -> Histogram | None:
    """Continuous floats (or 16-bit values) of 1-3 channels binned on a grid over their range
    (:data:`_BIN_BITS`, :func:`_bin_grid`): the occupied bins' exact means (floats: in their
    dtype; integers: float64) and counts, and each pixel's bin number as bytes, so that labels
    go back by the 8-bit lookup. None for more channels, or ranges the grid cannot number."""
    from ._kernels._float_codes import bin_and_sum

    grid = _bin_grid(values) if values.shape[1] in _BIN_BITS else None
    if grid is None:
        return None
    low, scale = grid
    if len(values) <= _BITMAP_MAX:
        return _small_binned_histogram(values, low, scale)

    n, n_channels = values.shape
    bits = _BIN_BITS[n_channels]
    parts = _parallel.split(n, _THREAD_MIN)
    codes = np.empty((n, 3), dtype=np.uint8)
    with contextlib.ExitStack() as stack:
        # One table of bin rows per thread; each thread's bins are merged by bin number.
        tables = [stack.enter_context(_TABLES.borrow(codes.shape[1])) for _ in parts]
        binned = _parallel.run([
            lambda p=p, t=t: bin_and_sum(values[p], low, scale, bits, codes[p], t)
            for p, t in zip(parts, tables, strict=True)
        ])
        for table, (numbers, _) in zip(tables, binned, strict=True):
            table[numbers] = 0
    present = np.sort(np.concatenate([numbers for numbers, _ in binned]))
    present = present[np.concatenate([[True], present[1:] != present[:-1]])]
    # Each part's rows: [count, first point, sum of differences from it]; merged by number.
    bins = np.zeros((len(present), 2 * n_channels + 1))
    for numbers, part in binned:
        rows = np.searchsorted(present, numbers)  # distinct within a part
        new = bins[rows, 0] == 0
        bins[rows[new], 1:n_channels + 1] = part[new, 1:n_channels + 1]
        shift = part[:, 1:n_channels + 1] - bins[rows, 1:n_channels + 1]  # 0 for the first part
        bins[rows, 0] += part[:, 0]
        bins[rows, n_channels + 1:] += part[:, n_channels + 1:] + part[:, :1] * shift
    return _bin_means(values.dtype, bins[:, 0], bins[:, 1:n_channels + 1],
                      bins[:, n_channels + 1:], pixels=codes, present=present)


def _small_binned_histogram(values: np.ndarray, low: np.ndarray, scale: np.ndarray) -> Histogram:
    """:func:`_binned_histogram` of up to _BITMAP_MAX points through :func:`count_distinct`'s
    2 MB bitmap, not the 64 MB row table, whose first touch made a cold ``kmseg segment`` of a
    0.13 MP 16-bit photo 1.1x the tutorial's cv2 script (122 MB peak). The same bins, in the
    same order, with the same counts and (integers) the same means as :func:`bin_and_sum`; float
    means may differ in the last bits (the kernel adds up runs of points in one bin first). Each
    point's bin row by index."""
    from ._kernels import count_distinct

    n, n_channels = values.shape
    bits = _BIN_BITS[n_channels]
    points = values.astype(np.float64)  # the kernel's arithmetic: double, truncated to int
    numbers = np.zeros(n, dtype=np.int64)
    for t in range(n_channels):
        axis = ((points[:, t] - low[t]) * scale[t]).astype(np.int64)
        numbers = (numbers << bits) | np.minimum(axis, (1 << bits) - 1)
    codes = np.stack([numbers >> 16, numbers >> 8, numbers], axis=1).astype(np.uint8)
    inverse = np.empty(n, dtype=np.int32)
    _, counts = count_distinct(codes, inverse)  # in bin-number order, as the table path's
    first = np.full(len(counts), n, dtype=np.intp)
    np.minimum.at(first, inverse, np.arange(n))
    starts = points[first]
    differences = points - starts[inverse]
    sums = np.stack([np.bincount(inverse, weights=differences[:, t], minlength=len(counts))
                     for t in range(n_channels)], axis=1)
    return _bin_means(values.dtype, counts.astype(np.float64), starts, sums, inverse=inverse)


def _bin_means(
    dtype: np.dtype, counts: np.ndarray, starts: np.ndarray, sums: np.ndarray, **where
) -> Histogram:
    """The binned histogram from each bin's count, first point and sum of differences from it
    (``where``: how pixels find their bin)."""
    means = starts + sums / counts[:, None]
    if dtype.kind == "f":  # integers keep their means' fractions
        means = means.astype(dtype)
    return Histogram(means, counts, binned=True, **where)


# SLIC's compactness in CIE Lab units: the weight of one grid step against one Lab unit. Chosen on
# BSDS500 train (200 photos, 400 superpixels) among 10 (scikit-image's suggestion), 13, 15, 17
# and 20: 17 gave the highest boundary recall and agreement with pixel k-means (10 gives fewer
# superpixels than asked: connectivity enforcement absorbs its ragged fragments).
_SLIC_COMPACTNESS = 17.0
# Felzenszwalb's scale and minimum size for an average of n superpixels on an image of p pixels
# (the count adapts to the image: 96-514, median 189, for 220 on BSDS val photos):
# scale = _FZ_SCALE * p / n, min_size = p / n / _FZ_MIN_SIZE; sigma as scikit-image's example.
_FZ_SCALE = 0.285
_FZ_MIN_SIZE = 14.0
_FZ_SIGMA = 0.8
# Felzenszwalb's criterion is not scale-free (differences between neighbouring pixels shrink as
# resolution grows: on a 1 MP copy of a 17.9 MP photo the settings above gave 8 segments), so
# it runs on a copy of at most _FZ_MAX_PIXELS, about the BSDS photos it was calibrated on.
_FZ_MAX_PIXELS = 250_000


def superpixels(
    features: np.ndarray,
    image: np.ndarray,
    n_segments: int,
    *,
    method: str,
    mask: np.ndarray | None,
    min_count: int = 1,
) -> Histogram:
    """Superpixels as weighted points: each one's mean features and pixel count.

    Parameters
    ----------
    features : (n, d) float64 ndarray
        Features of the clustered pixels (those of ``mask``), in raster order.
    image : (M, N, c) float64 ndarray
        What the superpixels are drawn on. SLIC: colours in CIE Lab units (its compactness is
        in those units); Felzenszwalb: the values scaled to [0, 1].
    n_segments : int
        About how many superpixels (Felzenszwalb: on average; it adapts to the image).
    method : {"slic", "felzenszwalb"}
        :func:`skimage.segmentation.slic` (compact, regular) or
        :func:`skimage.segmentation.felzenszwalb` (follows edges; sizes vary).
    mask : (M, N) bool ndarray or None
        Pixels clustered (Felzenszwalb ignores it; its segments are cut to it).
    min_count : int
        Fewest superpixels wanted: Felzenszwalb's scale is halved until it gives that many
        (a smooth photo may have fewer edge-bounded segments than clusters).
    """
    while True:
        segments = _superpixel_map(image, n_segments, method, mask)
        flat = segments.ravel() if mask is None else segments[mask]
        enough = len(np.unique(flat)) >= min_count
        if enough or method != "felzenszwalb" or n_segments >= flat.size:
            break
        n_segments *= 2
    return segment_means(features, flat)


def segment_means(features: np.ndarray, segment_ids: np.ndarray) -> Histogram:
    """Segments (superpixels, regions) as weighted points: each one's mean features and pixel
    count; ``segment_ids``: the segment of each row of ``features`` (any integers)."""
    # Ids can skip numbers (connectivity enforcement, the mask): pack them.
    present, codes = np.unique(segment_ids, return_inverse=True)
    counts = np.bincount(codes, minlength=len(present)).astype(np.float64)
    means = np.stack([np.bincount(codes, weights=column, minlength=len(present))
                      for column in features.T], axis=1) / counts[:, None]
    return Histogram(np.ascontiguousarray(means), counts, inverse=codes.astype(np.intp))


def _superpixel_map(
    image: np.ndarray, n_segments: int, method: str, mask: np.ndarray | None
) -> np.ndarray:
    if method == "felzenszwalb":
        from skimage.segmentation import felzenszwalb

        shape = image.shape[:2]
        factor = shrink_factor(shape, _FZ_MAX_PIXELS)
        small = block_mean(image, factor) if factor > 1 else image
        per_segment = small.shape[0] * small.shape[1] / n_segments
        with warnings.catch_warnings():  # it doubts 4 or more bands are channels; they are
            warnings.filterwarnings("ignore", "Got image with third dimension", RuntimeWarning)
            segments = felzenszwalb(small, scale=_FZ_SCALE * per_segment, sigma=_FZ_SIGMA,
                                    min_size=max(1, round(per_segment / _FZ_MIN_SIZE)),
                                    channel_axis=-1)
        return enlarge(segments, shape, factor) if factor > 1 else segments
    from skimage.segmentation import slic

    return slic(image, n_segments=n_segments, compactness=_slic_compactness(image, mask),
                convert2lab=False, channel_axis=-1, start_label=1, mask=mask,
                enforce_connectivity=True)


def _slic_compactness(image: np.ndarray, mask: np.ndarray | None) -> float:
    """The compactness to give scikit-image's ``slic`` for _SLIC_COMPACTNESS in ``image``'s
    units.

    ``slic`` first rescales its input to [0, 1] (by its minimum and maximum over the mask), and
    its compactness applies to the rescaled values: given as such, 10 made a grid step worth 10
    times the image's whole colour range, and the superpixels stayed the initial grid's
    squares. Divided by that range, the compactness is in the image's own units again.
    """
    values = image if mask is None else image[mask]
    span = float(values.max() - values.min()) if values.size else 0.0
    return _SLIC_COMPACTNESS / span if span > 0 else _SLIC_COMPACTNESS
