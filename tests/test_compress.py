"""The histogram of distinct values, its lookup back to pixels, and the compiled kernels."""

from __future__ import annotations

import numpy as np
import pytest

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
    values = rng.integers(0, 65536, size=(100_000, 3), dtype=np.uint16)
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
    table = rng.integers(0, 200, size=1 << 24, dtype=np.uint8)
    for kernel in (lookup, _reference.lookup):
        looked_up = np.empty(len(codes), np.uint8)
        kernel(values, table, looked_up)
        np.testing.assert_array_equal(looked_up, table[codes])


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
    np.testing.assert_allclose(weighted.centers, every.centers, rtol=1e-12)
    assert weighted.inertia == pytest.approx(every.inertia, rel=1e-12)
    assert weighted.n_iter == every.n_iter


def test_lloyd_step_matches_its_numpy_reference(rng):
    from kmseg._kernels import lloyd_step

    X = rng.uniform(0, 255, size=(3001, 4))
    weights = rng.integers(1, 9, size=3001).astype(float)
    centers = rng.uniform(0, 255, size=(6, 4))
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


def test_bounded_lloyd_has_the_plain_iterates(rng):
    """Hamerly's bounds skip work, never change a label: same iterates as plain Lloyd."""
    from kmseg._kernels import lloyd_bounded

    X = np.concatenate([m + rng.normal(0, 20, size=(400, 3)) for m in rng.uniform(0, 255, (5, 3))])
    weights = rng.integers(1, 4, size=len(X)).astype(float)
    start = X[rng.choice(len(X), 5, replace=False)]
    centers, labels, n_iter = start.copy(), np.empty(len(X), np.intp), 0
    for n_iter in range(1, 100):  # noqa: B007 - n_iter is read after the loop
        lab, dist2 = np.empty(len(X), np.intp), np.empty(len(X))
        sums, totals = _reference.lloyd_step(X, weights, centers, lab, dist2)
        new = sums / totals[:, None]
        labels, shift, centers = lab, np.sqrt(((new - centers) ** 2).sum(1)).max(), new
        if shift == 0:
            break
    bounded_centers, bounded_labels = start.copy(), np.empty(len(X), np.intp)
    bounded_iter, shift, _, emptied = lloyd_bounded(X, weights, bounded_centers, 100, 0.0,
                                                    bounded_labels)
    assert not emptied and shift == 0 and bounded_iter == n_iter
    np.testing.assert_array_equal(bounded_labels, labels)
    np.testing.assert_allclose(bounded_centers, centers, rtol=1e-12)


def test_kmeans_plusplus_kernel_matches_its_numpy_reference(rng):
    from kmseg._kernels import kmeans_plusplus_indices

    X = rng.uniform(0, 255, size=(3000, 3))
    weights = rng.integers(1, 9, size=3000).astype(float)
    draws = rng.random((7, 4))
    np.testing.assert_array_equal(kmeans_plusplus_indices(X, weights, 17, draws),
                                  _reference.kmeans_plusplus_indices(X, weights, 17, draws))
