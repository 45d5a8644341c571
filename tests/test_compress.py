"""The histogram of distinct values, its lookup back to pixels, and the compiled kernels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kmseg
from conftest import SHARED
from kmseg._compress import histogram
from kmseg._kernels import _reference, lookup, pack_and_count
from kmseg._kmeans import kmeans


def few_colours(rng: np.random.Generator, n: int, channels: int, dtype=np.uint8) -> np.ndarray:
    palette = rng.integers(0, np.iinfo(dtype).max + 1, size=(40, channels), dtype=dtype)
    return palette[rng.integers(0, 40, size=n)]


@pytest.mark.parametrize(("channels", "dtype"), [(1, np.uint8), (2, np.uint8), (3, np.uint8),
                                                 (4, np.uint8), (3, np.uint16), (1, np.float32)])
def test_histogram_matches_numpy_unique(rng, channels, dtype):
    if dtype == np.float32:
        values = rng.integers(0, 30, size=(5000, channels)).astype(np.float32) / 29
    else:
        values = few_colours(rng, 5000, channels, dtype)
    hist = histogram(values)
    distinct, counts = np.unique(values, axis=0, return_counts=True)
    np.testing.assert_array_equal(hist.values, distinct)
    np.testing.assert_array_equal(hist.counts, counts)
    assert hist.values.dtype == values.dtype
    # expand() gives every pixel the label of its own value.
    value_labels = rng.integers(0, 7, size=len(distinct)).astype(np.uint8)
    pixel_labels = hist.expand(value_labels)
    for row in range(0, 5000, 97):
        match = (distinct == values[row]).all(axis=1)
        assert pixel_labels[row] == value_labels[match][0]


def test_values_that_hardly_repeat_pass_through(rng):
    values = rng.integers(0, 65536, size=(100_000, 4), dtype=np.uint16)  # 4 bands: no bins
    assert histogram(values[:, :3]).binned
    hist = histogram(values)
    assert hist.values is values and (hist.counts == 1).all()
    labels = rng.integers(0, 5, size=len(values))
    np.testing.assert_array_equal(hist.expand(labels), labels)


def test_kernels_match_their_numpy_references(rng):
    # 200 k pixels of 2**17 possible colours: the list of new codes has to grow past 2**16.
    values = rng.integers(0, 256, size=(200_000, 3), dtype=np.uint8)
    values[:, 0] &= 1
    counts = np.zeros(1 << 24, np.uint32)
    counts[rng.integers(0, 1 << 17, size=5000)] = 3  # codes already counted are not new
    outputs = []
    for kernel in (pack_and_count, _reference.pack_and_count):
        updated = counts.copy()
        new = kernel(values, updated)
        outputs.append((updated, new))
    for got, expected in zip(outputs[0], outputs[1], strict=True):
        np.testing.assert_array_equal(got, expected)
    updated, new = outputs[0]
    codes = ((values[:, 0].astype(np.uint32) << 16) | (values[:, 1].astype(np.uint32) << 8)
             | values[:, 2])
    np.testing.assert_array_equal(updated - counts, np.bincount(codes, minlength=1 << 24))
    assert len(new) > 1 << 16 and len(set(new.tolist())) == len(new)
    assert (counts[new] == 0).all()
    table = rng.integers(0, 200, size=1 << 24, dtype=np.uint32)  # the tables are uint32
    for kernel in (lookup, _reference.lookup):
        looked_up = np.empty(len(codes), np.uint8)
        kernel(values, table, looked_up)
        np.testing.assert_array_equal(looked_up, table[codes])


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_bitmap_counting_matches_its_numpy_reference(rng, channels):
    """Distinct codes in ascending order, counts and rows, through a bitmap (codes that share
    a 64-bit word: colours that differ in the low bits only)."""
    from kmseg._kernels import count_distinct

    values = rng.integers(0, 256, size=(50_000, channels), dtype=np.uint8)
    values[::3, -1] &= 7
    outputs = []
    for kernel in (count_distinct, _reference.count_distinct):
        inverse = np.empty(len(values), dtype=np.int32)
        codes, counts = kernel(values, inverse)
        outputs.append((codes, counts, inverse))
    for got, expected in zip(outputs[0], outputs[1], strict=True):
        np.testing.assert_array_equal(got, expected)
    rows, counts, inverse = outputs[0]
    np.testing.assert_array_equal(rows[inverse], values)
    assert counts.sum() == len(values)


def test_small_and_large_images_have_the_same_histogram(rng, monkeypatch):
    from kmseg import _compress

    values = few_colours(rng, 5000, 3)
    small = histogram(values)
    monkeypatch.setattr(_compress, "_BITMAP_MAX", 0)
    large = histogram(values)
    assert small.inverse is not None and large.inverse is None
    np.testing.assert_array_equal(small.values, large.values)
    np.testing.assert_array_equal(small.counts, large.counts)
    labels = rng.permutation(len(large.values))
    np.testing.assert_array_equal(small.expand(labels), large.expand(labels))


def test_borrowed_tables_come_back_zeroed(rng):
    """The count tables are reused between calls: nothing of one image may leak into the next."""
    from kmseg import _compress

    first = few_colours(rng, 3000, 3)
    histogram(first).expand(np.arange(40, dtype=np.uint8))
    second = few_colours(np.random.default_rng(99), 3000, 3)
    hist = histogram(second)
    distinct, counts = np.unique(second, axis=0, return_counts=True)
    np.testing.assert_array_equal(hist.values, distinct)
    np.testing.assert_array_equal(hist.counts, counts)
    with _compress._TABLES.borrow(3) as table:
        assert not table.any()


def test_large_histograms_split_between_threads_add_up(rng):
    values = few_colours(rng, (1 << 20) + 7, 3)
    hist = histogram(values)
    distinct, counts = np.unique(values, axis=0, return_counts=True)
    np.testing.assert_array_equal(hist.values, distinct)
    np.testing.assert_array_equal(hist.counts, counts)
    labels = np.arange(len(distinct), dtype=np.uint8)
    expected = labels[np.unique(values, axis=0, return_inverse=True)[1].ravel()]
    np.testing.assert_array_equal(hist.expand(labels), expected)


def test_histogram_path_gives_the_all_pixels_labels(rng):
    """Same init: clustering the weighted distinct values labels every pixel as clustering all."""
    pixels = few_colours(rng, 20000, 3).astype(np.uint8)
    pixels = np.clip(pixels.astype(int) + rng.integers(-3, 4, size=pixels.shape), 0, 255)
    pixels = pixels.astype(np.uint8)
    init = pixels[:6].astype(np.float64)
    hist = histogram(pixels)
    weighted = kmeans(hist.values.astype(np.float64), 6, sample_weight=hist.counts, init=init,
                      rng=np.random.default_rng(0))
    every = kmeans(pixels.astype(np.float64), 6, init=init, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(hist.expand(weighted.labels), every.labels)
    np.testing.assert_allclose(weighted.feature_centers, every.feature_centers, rtol=1e-12)
    assert weighted.compactness == pytest.approx(every.compactness, rel=1e-12)
    assert weighted.n_iter == every.n_iter


# The kernels compile their loops twice: d = 3 (colours, unrolled) and any other d.
@pytest.mark.parametrize("d", [3, 4, 1])
def test_lloyd_step_matches_its_numpy_reference(rng, d):
    from kmseg._kernels import lloyd_step

    X = rng.uniform(0, 255, size=(3001, d))
    weights = rng.integers(1, 9, size=3001).astype(float)
    centers = rng.uniform(0, 255, size=(6, d))
    outputs = []
    for step in (lloyd_step, _reference.lloyd_step):
        labels, dist2 = np.empty(3001, np.intp), np.empty(3001)
        sums, totals = step(X, weights, centers, labels, dist2)
        outputs.append((labels, dist2, sums, totals))
    (labels, dist2, sums, totals), expected = outputs
    np.testing.assert_array_equal(labels, expected[0])
    np.testing.assert_allclose(dist2, expected[1], rtol=1e-12)
    np.testing.assert_allclose(sums, expected[2], rtol=1e-12)
    np.testing.assert_allclose(totals, expected[3], rtol=1e-12)


def _plain_lloyd(X, weights, start):
    """Lloyd to exact convergence through the NumPy step: final centres, labels, updates."""
    centers, labels, n_iter = start.copy(), np.empty(len(X), np.intp), 0
    for n_iter in range(1, 300):  # noqa: B007 - n_iter is read after the loop
        lab, dist2 = np.empty(len(X), np.intp), np.empty(len(X))
        sums, totals = _reference.lloyd_step(X, weights, centers, lab, dist2)
        new = sums / totals[:, None]
        labels, shift, centers = lab, np.sqrt(((new - centers) ** 2).sum(1)).max(), new
        if shift == 0:
            break
    return centers, labels, n_iter


@pytest.mark.parametrize(("d", "near"), [(3, False), (2, False), (3, True), (2, True)])
def test_bounded_lloyd_has_the_plain_iterates(rng, d, near):
    """Hamerly's bounds skip work, never change a label: same iterates as plain Lloyd. Started
    ``near`` a solution (from a subsample's, as a refine is), 10 000 points: some are set
    aside for iterations on end."""
    from kmseg._kernels import lloyd_bounded, lloyd_step

    if near:
        X = rng.normal(0, 50, size=(10_000, d))
    else:
        X = np.concatenate([m + rng.normal(0, 20, size=(400, d))
                            for m in rng.uniform(0, 255, (5, d))])
    weights = rng.integers(1, 4, size=len(X)).astype(float)
    start = X[rng.choice(len(X), 8 if near else 5, replace=False)].copy()
    if near:
        lloyd_bounded(X[::7].copy(), weights[::7].copy(), start, 300, 0.0,
                      np.empty(len(X[::7]), np.intp), np.empty(len(X[::7])))
    centers, labels, n_iter = _plain_lloyd(X, weights, start)
    bounded_centers, bounded_labels = start.copy(), np.empty(len(X), np.intp)
    bounded_dist2 = np.empty(len(X))
    bounded_iter, shift, totals, emptied = lloyd_bounded(X, weights, bounded_centers, 300, 0.0,
                                                         bounded_labels, bounded_dist2)
    assert not emptied and shift == 0 and bounded_iter == n_iter
    np.testing.assert_array_equal(bounded_labels, labels)
    np.testing.assert_allclose(bounded_centers, centers, rtol=1e-12)
    # The final assignment is the plain step's on the final centres, bit for bit.
    step_labels, step_dist2 = np.empty(len(X), np.intp), np.empty(len(X))
    step_totals = lloyd_step(X, weights, bounded_centers, step_labels, step_dist2)[1]
    for got, expected in [(bounded_labels, step_labels), (bounded_dist2, step_dist2),
                          (totals, step_totals)]:
        assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("eps", [0.5, 3.0])
@pytest.mark.parametrize("max_iter", [0, 1, 2, 50])
def test_bounded_lloyd_labels_the_final_centres(rng, eps, max_iter):
    """Stopped on eps (the last update moved the centres) or on max_iter, the labels,
    distances and cluster weights are those of the final centres, as the plain step gives."""
    from kmseg._kernels import lloyd_bounded, lloyd_step

    X = np.concatenate([m + rng.normal(0, 30, size=(300, 3)) for m in rng.uniform(0, 255, (4, 3))])
    weights = rng.integers(1, 4, size=len(X)).astype(float)
    centers = X[rng.choice(len(X), 6, replace=False)].copy()
    labels, dist2 = np.empty(len(X), np.intp), np.empty(len(X))
    *_, totals, emptied = lloyd_bounded(X, weights, centers, max_iter, eps, labels, dist2)
    assert not emptied
    step_labels, step_dist2 = np.empty(len(X), np.intp), np.empty(len(X))
    step_totals = lloyd_step(X, weights, centers, step_labels, step_dist2)[1]
    for got, expected in [(labels, step_labels), (dist2, step_dist2), (totals, step_totals)]:
        assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("d", [3, 5])
def test_kmeans_plusplus_kernel_matches_its_numpy_reference(rng, d):
    from kmseg._kernels import kmeans_plusplus_indices

    X = rng.uniform(0, 255, size=(3000, d))
    weights = rng.integers(1, 9, size=3000).astype(float)
    draws = rng.random((7, 4))
    np.testing.assert_array_equal(kmeans_plusplus_indices(X, weights, 17, draws),
                                  _reference.kmeans_plusplus_indices(X, weights, 17, draws))


# -- floats: exact integer codes, and bins --------------------------------------------------

CODE_CONVERSIONS = {
    "uint8 / 255.0": lambda u: u / 255.0,
    "float32 / 255": lambda u: u.astype(np.float32) / 255,
    "uint8 / float32(255)": lambda u: u / np.float32(255),
    "float64 integers": lambda u: u.astype(np.float64),
}


@pytest.mark.parametrize("conversion", sorted(CODE_CONVERSIONS))
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_floats_that_are_8bit_codes_are_counted_as_the_uint8_image(rng, conversion, channels):
    convert = CODE_CONVERSIONS[conversion]
    codes = few_colours(rng, 6000, channels)
    codes[0], codes[1] = 0, 255  # both ends of the range
    floats = convert(codes)
    hist = histogram(floats)
    distinct, inverse, counts = np.unique(codes, axis=0, return_inverse=True,
                                          return_counts=True)
    # The same bins in the same order as the uint8 image, holding the float64 quotients: for
    # float64, the input's own floats; for float32, the values they are rounded from.
    np.testing.assert_array_equal(hist.counts, counts)
    assert hist.values.dtype == np.float64
    scale = 1.0 if conversion == "float64 integers" else 255.0
    np.testing.assert_array_equal(hist.values, distinct / scale)
    np.testing.assert_array_equal(hist.values.astype(floats.dtype), convert(distinct))
    labels = rng.integers(0, 250, size=len(distinct)).astype(np.uint8)
    np.testing.assert_array_equal(hist.expand(labels), labels[inverse.ravel()])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_floats_that_are_16bit_codes_are_counted_as_the_uint16_image(rng, dtype):
    codes = few_colours(rng, 6000, 3, np.uint16)
    floats = codes.astype(dtype) / dtype(65535)
    hist = histogram(floats)
    distinct, inverse, counts = np.unique(codes, axis=0, return_inverse=True,
                                          return_counts=True)
    np.testing.assert_array_equal(hist.counts, counts)
    np.testing.assert_array_equal(hist.values, distinct / 65535.0)
    np.testing.assert_array_equal(hist.values.astype(dtype), distinct.astype(dtype)
                                  / dtype(65535))
    labels = np.arange(len(distinct))
    np.testing.assert_array_equal(hist.expand(labels), labels[inverse.ravel()])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("change", ["one ulp up", "one ulp down", "above 1", "below 0",
                                    "a multiplied reciprocal"])
def test_floats_that_are_not_exactly_codes_are_not_taken_for_codes(rng, dtype, change):
    from kmseg._compress import _float_code_histogram

    codes = few_colours(rng, 6000, 3)
    floats = codes.astype(dtype) / dtype(255)
    assert _float_code_histogram(floats, True) is not None
    if change == "a multiplied reciprocal":  # u * (1 / 255) is not u / 255 for every u
        floats = codes.astype(dtype) * (dtype(1) / dtype(255))
        assert (floats != codes.astype(dtype) / dtype(255)).any()
    else:
        floats[4321, 1] = {"one ulp up": np.nextafter(floats[4321, 1], dtype(2)),
                           "one ulp down": np.nextafter(floats[4321, 1], dtype(-2)),
                           "above 1": dtype(256) / dtype(255),
                           "below 0": dtype(-1) / dtype(255)}[change]
    assert _float_code_histogram(floats, True) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("scale", "top"), [(255.0, 255), (1.0, 255), (65535.0, 65535)])
def test_integer_codes_kernel_matches_its_numpy_reference(rng, dtype, scale, top):
    from kmseg._kernels._float_codes import integer_codes

    codes = rng.integers(0, top + 1, size=(9000, 3))
    exact = codes.astype(dtype) / dtype(scale)
    for values, expected in ((exact, True), (exact * dtype(1.0001), False),
                             (np.nextafter(exact, dtype(9)), False)):
        out = np.empty(values.shape, dtype=np.uint8 if top == 255 else np.uint16)
        constants = np.array([scale, 0.5, top], dtype=dtype)
        found = integer_codes(values, constants, out)
        reference, all_exact = _reference.integer_codes(values, scale, top)
        assert found == all_exact == expected
        if expected:
            np.testing.assert_array_equal(out, codes)
            np.testing.assert_array_equal(reference, codes)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_continuous_floats_are_binned_as_numpy_bins_them(rng, dtype, channels):
    from kmseg._compress import _BIN_BITS

    # Two threads' halves (more than _THREAD_MIN pixels) are merged, and bins grow past 2**16.
    n = (1 << 20) + 11
    centres = rng.uniform(-50, 4000, size=(6, channels))
    values = centres[rng.integers(0, 6, size=n)] + rng.normal(0, 30, size=(n, channels))
    values[::3] = rng.uniform(-50, 4000, size=values[::3].shape)  # a background
    values = values.astype(dtype)
    hist = histogram(values)
    present, counts, means, inverse = _reference.binned(values, _BIN_BITS[channels])
    assert len(present) > 1 << 16 or channels == 1
    np.testing.assert_array_equal(hist.present, present)
    np.testing.assert_array_equal(hist.counts, counts)
    assert hist.values.dtype == dtype
    np.testing.assert_allclose(hist.values, means.astype(dtype), rtol=1e-6 if dtype == np.float32
                               else 1e-12)
    labels = rng.integers(0, 1000, size=len(present)).astype(np.uint16)
    np.testing.assert_array_equal(hist.expand(labels), labels[inverse])
    # Every pixel's own value lies in its bin's cell: the bins are the grid's.
    assert (np.abs(values - hist.values[inverse]) <= (values.max(0) - values.min(0))
            / 2 ** _BIN_BITS[channels] * (1 + 1e-6)).all()


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_small_images_are_binned_as_large_ones_and_as_numpy_bins_them(
    rng, monkeypatch, dtype, channels
):
    """Up to _BITMAP_MAX pixels the bins come from a bitmap, not the 64 MB row table: the same
    bins, counts, means and labels as the table (and the NumPy reference)."""
    from kmseg import _compress

    n = 40_000
    if dtype == np.uint16:
        values = rng.integers(0, 1 << 16, size=(n, channels)).astype(dtype)
    else:
        values = rng.normal(0.5, 0.2, size=(n, channels)).astype(dtype)
    values = np.repeat(values[: n // 2], 2, axis=0)  # runs of equal points, as photos have
    small = _compress._binned_histogram(values)
    monkeypatch.setattr(_compress, "_BITMAP_MAX", 0)
    large = _compress._binned_histogram(values)
    assert small.binned and large.binned and small.inverse is not None and large.inverse is None
    np.testing.assert_array_equal(small.counts, large.counts)
    assert small.values.dtype == large.values.dtype
    np.testing.assert_allclose(small.values, large.values, rtol=1e-12 if dtype != np.float32
                               else 1e-6)
    labels = rng.integers(0, 1000, size=len(small.values)).astype(np.uint16)
    np.testing.assert_array_equal(small.expand(labels), large.expand(labels))
    _, counts, means, inverse = _reference.binned(values, _compress._BIN_BITS[channels])
    np.testing.assert_array_equal(small.counts, counts)
    np.testing.assert_allclose(small.values, means.astype(small.values.dtype), rtol=1e-6)
    np.testing.assert_array_equal(small.expand(labels), labels[inverse])


def test_binned_floats_with_few_values_are_lossless(rng):
    """A bin holding one value is that value exactly (not a rounded sum / count: 3 x 0.1 sums
    to 0.30000000000000004)."""
    palette = np.unique(np.vstack([[0.1, 0.1, 0.1], np.round(rng.uniform(0, 3, (30, 3)), 1)]),
                        axis=0)
    index = rng.integers(0, len(palette), size=(1 << 20) + 5)  # two threads' halves
    hist = histogram(palette[index])
    np.testing.assert_array_equal(hist.values, palette)
    np.testing.assert_array_equal(hist.counts, np.bincount(index))
    labels = np.arange(len(palette), dtype=np.uint8)
    np.testing.assert_array_equal(hist.expand(labels), labels[index])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("channels", [1, 3])
def test_binned_histogram_rejects_nan_and_infinity(rng, bad, channels):
    values = few_colours(rng, 5000, channels) / 255.0  # codes, but for one value
    values[3210, -1] = bad
    with pytest.raises(kmseg.ParameterError, match="NaN or infinite"):
        histogram(values)


def test_unbinned_histogram_keeps_every_distinct_float(rng):
    values = rng.uniform(0, 1, size=(50_000, 3)).astype(np.float32)
    hist = histogram(values, binned=False)
    assert hist.values is values and (hist.counts == 1).all()


def test_binned_kmeans_sse_is_within_0_1_percent_of_clustering_every_pixel(rng):
    """Continuous 3-channel data (the sample photo + noise, float32): the SSE of the
    segmentation, computed on every pixel, against scikit-learn on every pixel."""
    from sklearn.cluster import KMeans

    photo = kmseg.read_image(kmseg.data.sample_path())
    floats = ((photo + rng.uniform(-0.5, 0.5, size=photo.shape)) / 255).astype(np.float32)
    X = floats.reshape(-1, 3).astype(np.float64)
    assert _float_codes_absent(floats)
    for k in (4, 8):
        seg = kmseg.segment(floats, k=k)
        assert len(histogram(floats.reshape(-1, 3)).values) < len(X) / 2
        pixel_sse = float(((X - seg.feature_centers[seg.labels.ravel()]) ** 2).sum())
        reference = KMeans(k, n_init=3, random_state=0).fit(X).inertia_
        assert pixel_sse <= reference * 1.001, k


def test_16bit_photos_are_binned_within_0_1_percent_of_clustering_every_pixel(rng):
    """A 16-bit photo (the sample scaled to 16 bits, plus noise in the low byte) hardly repeats
    a value: it is binned, not clustered pixel by pixel, and its SSE on every pixel stays
    within 0.1 % of scikit-learn's on every pixel."""
    from sklearn.cluster import KMeans

    photo = kmseg.read_image(kmseg.data.sample_path())
    deep = (photo.astype(np.uint16) * 257 + rng.integers(0, 257, photo.shape)).astype(np.uint16)
    assert histogram(deep.reshape(-1, 3)).binned
    X = deep.reshape(-1, 3).astype(np.float64)
    for k in (4, 8):
        seg = kmseg.segment(deep, k=k)
        pixel_sse = float(((X - seg.feature_centers[seg.labels.ravel()]) ** 2).sum())
        reference = KMeans(k, n_init=3, random_state=0).fit(X).inertia_
        assert pixel_sse <= reference * 1.001, k


def test_binned_1d_sse_is_within_0_1_percent_of_the_exact_optimum(rng):
    """One channel of continuous floats in any range: against the exact 1-D optimum of every
    pixel (dynamic programming over all the values)."""
    from kmseg._kmeans import optimal_1d

    field = np.concatenate([rng.normal(m, s, size=40_000) for m, s in
                            ((120.0, 40.0), (900.0, 150.0), (2500.0, 300.0), (3900, 60.0))])
    image = field.astype(np.float32).reshape(400, 400)
    x = image.ravel().astype(np.float64)
    for k in (3, 5):
        seg = kmseg.segment(image, k=k)
        pixel_sse = float(((x - seg.feature_centers[seg.labels.ravel(), 0]) ** 2).sum())
        optimum = optimal_1d(x, np.ones(len(x)), k).compactness
        assert optimum * (1 - 1e-9) <= pixel_sse <= optimum * 1.001, k


def _float_codes_absent(floats: np.ndarray) -> bool:
    from kmseg._compress import _float_code_histogram

    return _float_code_histogram(floats.reshape(-1, floats.shape[-1]), True) is None


def test_grid_coreset_of_colours_over_255_is_the_coreset_of_the_colours_over_255(rng):
    """Integer colours put points on grid-cell boundaries ((x - low) * cells / span an
    integer): they must fall in the same cell whatever the scale, or float images (uint8 / 255)
    get another coreset, and other labels, than their uint8 originals."""
    from kmseg._coreset import grid_coreset

    X = rng.integers(0, 101, size=(20_000, 3)).astype(np.float64)
    weights = rng.integers(1, 5, size=len(X)).astype(np.float64)
    for target in (100, 2000, 8000):
        means, cell_weights = grid_coreset(X, weights, target)
        scaled_means, scaled_weights = grid_coreset(X / 255, weights, target)
        np.testing.assert_array_equal(scaled_weights, cell_weights)
        np.testing.assert_allclose(scaled_means, means / 255, rtol=1e-12)


# Photos whose labels as uint8 / 255 differed from the uint8 ones (float64: the coreset grid
# depended on rounding; float32 (103070): features of float32 values, not of the quotients).
BSDS_PHOTOS = ("103070.jpg", "108082.jpg", "134035.jpg", "143090.jpg")


@pytest.mark.parametrize("space", ["rgb", "gray", "lab"])
def test_uint8_over_255_segments_as_the_uint8_image(space):
    """Same labels, bit for bit; centres / 255; compactness / 255**2 (Lab: the same)."""
    paths = [Path(kmseg.data.sample_path())]
    paths += [path for path in (SHARED / "bsds500" / "images" / "val" / name
                                for name in BSDS_PHOTOS) if path.is_file()]
    for path in paths:
        image = kmseg.read_image(path)
        for k in (4, 8):
            expected = kmseg.segment(image, k=k, space=space)
            for floats in (image / 255.0, image.astype(np.float32) / 255):
                seg = kmseg.segment(floats, k=k, space=space)
                where = (path.name, k, floats.dtype)
                np.testing.assert_array_equal(seg.labels, expected.labels, err_msg=str(where))
                np.testing.assert_allclose(seg.centers, expected.centers / 255, rtol=1e-12,
                                           atol=1e-12, err_msg=str(where))
                scale = 1.0 if space == "lab" else 255.0**2
                assert seg.compactness == pytest.approx(expected.compactness / scale,
                                                        rel=1e-12), where


def test_fewer_bins_than_clusters_fall_back_to_every_value():
    """Distinct 16-bit values (or floats) that share bins still give k clusters when there are
    at least k distinct values."""
    deep = np.array([[[0, 0, 0], [1, 0, 0]], [[65535, 0, 0], [30000, 0, 0]]], np.uint16)
    for image in (deep, deep / 65535, np.array([[0, 1e-7], [1, 0.4577]])):
        seg = kmseg.segment(image, k=4)
        assert len(np.unique(seg.labels)) == 4


def test_fitted_palettes_label_16bit_code_floats_value_by_value(rng):
    """predict and transform take each value's own nearest centre: floats that are 16-bit
    codes are not binned there (bins would give the pixels of a bin one label)."""
    from kmseg._kmeans import assign
    from kmseg._samples import colour_features

    deep = rng.integers(30000, 30600, (120, 120, 3)).astype(np.uint16)
    deep[0, 0], deep[0, 1] = 0, 65535
    image = deep / 65535.0
    model = kmseg.KMeansSegmenter(k=4).fit(image)
    params = model.get_params()
    X = colour_features(image.reshape(-1, 3), image.dtype, space=params["space"],
                        normalize=params["normalize"])
    expected = assign(X, model.cluster_centers_)[0]
    np.testing.assert_array_equal(model.predict(image).ravel(), expected)
    np.testing.assert_array_equal(model.transform(image).reshape(-1, 4).argmin(axis=1), expected)
