"""The weighted k-means engine against brute force, scikit-learn and hand computations."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.cluster import KMeans

from kmseg._errors import ParameterError
from kmseg._kmeans import assign, kmeans


def brute_force_labels(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1), d2.min(axis=1)


def blobs(rng: np.random.Generator, n: int = 300, d: int = 3, k: int = 4) -> np.ndarray:
    means = rng.uniform(0, 255, size=(k, d))
    return np.concatenate([m + rng.normal(0, 12, size=(n // k, d)) for m in means])


def test_assign_matches_brute_force(rng):
    X = rng.uniform(0, 65535, size=(5000, 4))
    centers = rng.uniform(0, 65535, size=(7, 4))
    labels, dist2 = assign(X, centers)
    expected_labels, expected_dist2 = brute_force_labels(X, centers)
    np.testing.assert_allclose(dist2, expected_dist2, rtol=1e-9, atol=1e-3)
    # Where the labels differ, the two centres are equally near (to rounding).
    differ = labels != expected_labels
    np.testing.assert_allclose(expected_dist2[differ], dist2[differ], rtol=1e-9)


def test_converged_result_is_a_lloyd_fixed_point(rng):
    X = blobs(rng, n=200, d=2, k=3)
    result = kmeans(X, 3, rng=np.random.default_rng(0))
    assert result.converged
    labels, dist2 = brute_force_labels(X, result.feature_centers)
    np.testing.assert_array_equal(result.labels, labels)
    for j in range(3):
        np.testing.assert_allclose(result.feature_centers[j], X[labels == j].mean(axis=0),
                                   rtol=1e-12)
    assert result.compactness == pytest.approx(dist2.sum(), rel=1e-12)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_at_least_as_compact_as_scikit_learn(rng, init):
    X = blobs(rng, n=800, d=3, k=6)
    ours = kmeans(X, 6, init=init, attempts=10, rng=np.random.default_rng(1))
    theirs = KMeans(6, n_init=10, random_state=0, tol=0).fit(X)
    assert ours.compactness <= theirs.inertia_ * (1 + 1e-9)


def test_weight_equals_repeated_points(rng):
    X = rng.uniform(0, 10, size=(40, 2))
    counts = rng.integers(1, 5, size=40)
    init = X[:3].copy()
    weighted = kmeans(X, 3, sample_weight=counts.astype(float), init=init, attempts=1,
                      rng=np.random.default_rng(0))
    repeated = kmeans(np.repeat(X, counts, axis=0), 3, init=init, attempts=1,
                      rng=np.random.default_rng(0))
    np.testing.assert_allclose(weighted.feature_centers, repeated.feature_centers, rtol=1e-12)
    assert weighted.compactness == pytest.approx(repeated.compactness, rel=1e-12)
    np.testing.assert_array_equal(np.repeat(weighted.labels, counts), repeated.labels)


def test_one_step_from_initial_labels_by_hand():
    X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [30.0]])
    start = np.array([0, 0, 0, 0, 1, 1])
    # Means of the initial labels: 13/4 = 3.25 and 41/2 = 20.5. Nearest: 0,1,2,10 -> 3.25;
    # 11 is 7.75 from 3.25 and 9.5 from 20.5 -> 3.25; 30 -> 20.5. New means: 24/5 = 4.8, 30.
    result = kmeans(X, 2, init=None, init_labels=start, attempts=1, max_iter=1,
                    rng=np.random.default_rng(0))
    np.testing.assert_allclose(result.feature_centers[:, 0], [4.8, 30.0])
    # The returned labels are the nearest of those centres: 10 and 11 are nearer 4.8 than 30.
    np.testing.assert_array_equal(result.labels, [0, 0, 0, 0, 0, 1])
    assert result.n_iter == 1


def test_one_step_from_initial_centres_by_hand():
    X = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 4.0]])
    result = kmeans(X, 2, init=np.array([[1.0, 1.0], [9.0, 9.0]]), attempts=1, max_iter=1,
                    rng=np.random.default_rng(0))
    # Squared distances to (1, 1) / (9, 9): (0, 0) 2/162, (0, 2) 2/130, (10, 0) 82/82 (a tie:
    # lowest index, 0), (10, 4) 90/26. New centres: mean of the first three, and (10, 4).
    np.testing.assert_allclose(result.feature_centers, [[10 / 3, 2 / 3], [10.0, 4.0]])
    assert not result.converged


def test_eps_stops_on_centre_movement(rng):
    X = blobs(rng, n=400, d=3, k=4)
    loose = kmeans(X, 4, eps=1e9, attempts=1, rng=np.random.default_rng(0))
    assert loose.n_iter == 1 and loose.converged
    exact = kmeans(X, 4, eps=0.0, attempts=1, rng=np.random.default_rng(0))
    assert exact.converged and exact.compactness <= loose.compactness


def test_max_iter_caps_iterations(rng):
    X = rng.uniform(0, 1, size=(2000, 3))
    result = kmeans(X, 8, attempts=1, max_iter=2, rng=np.random.default_rng(0))
    assert result.n_iter == 2 and not result.converged


def test_exactly_k_clusters_when_k_equals_distinct_values(rng):
    values = np.array([[0.0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]])
    X = values[rng.integers(0, 5, size=500)]
    for init in ("k-means++", "random"):
        result = kmeans(X, 5, init=init, rng=np.random.default_rng(3))
        assert np.bincount(result.labels, minlength=5).min() > 0
        assert result.compactness == 0


def test_empty_cluster_is_reseeded():
    X = np.array([[0.0], [1.0], [2.0], [50.0], [51.0]])
    # Centre 2 starts far from every point and would stay empty without reseeding.
    result = kmeans(X, 3, init=np.array([[1.0], [50.5], [1000.0]]), attempts=1,
                    rng=np.random.default_rng(0))
    assert np.bincount(result.labels, minlength=3).min() > 0


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_k_above_distinct_values_is_an_error(init):
    X = np.repeat(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), 10, axis=0)
    with pytest.raises(ParameterError, match="k=4 exceeds the 3 distinct"):
        kmeans(X, 4, init=init, rng=np.random.default_rng(0))


def test_same_seed_same_labels(rng):
    X = blobs(rng, n=1000, d=3, k=5)
    first = kmeans(X, 5, rng=np.random.default_rng(7))
    second = kmeans(X, 5, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.feature_centers, second.feature_centers)


def brute_force_1d(x: np.ndarray, w: np.ndarray, k: int) -> float:
    """Best inertia over every split of the sorted distinct values into k contiguous runs (an
    optimal 1-D k-means partition is always contiguous)."""
    from itertools import combinations

    levels = np.unique(x)
    weights = np.array([w[x == level].sum() for level in levels])
    best = np.inf
    for cuts in combinations(range(1, len(levels)), k - 1):
        total = 0.0
        for part_x, part_w in zip(np.split(levels, cuts), np.split(weights, cuts), strict=True):
            mean = (part_x * part_w).sum() / part_w.sum()
            total += (part_w * (part_x - mean) ** 2).sum()
        best = min(best, total)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_one_dimension_is_the_exact_optimum(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, size=int(rng.integers(8, 30))).astype(float)
    w = rng.integers(1, 6, size=len(x)).astype(float)
    k = int(rng.integers(1, min(5, len(np.unique(x))) + 1))
    result = kmeans(x[:, None], k, sample_weight=w, rng=np.random.default_rng(0))
    assert result.compactness == pytest.approx(brute_force_1d(x, w, k), rel=1e-9, abs=1e-9)
    np.testing.assert_array_equal(np.bincount(result.labels, minlength=k) > 0, True)
    # It is also a Lloyd fixed point: labels are nearest centres, centres are means.
    labels, _ = brute_force_labels(x[:, None], result.feature_centers)
    np.testing.assert_array_equal(labels, result.labels)


def test_one_dimension_beats_lloyd_on_a_gray_photo():
    from kmseg import data, read_image

    gray = read_image(data.sample_path()).mean(axis=2).round().ravel()
    exact = kmeans(gray[:, None], 5, rng=np.random.default_rng(0))
    theirs = KMeans(5, n_init=10, random_state=0).fit(gray[:, None]).inertia_
    assert exact.compactness <= theirs * (1 + 1e-12)
    with pytest.raises(ParameterError, match="exceeds the 3 distinct"):
        kmeans(np.array([[1.0], [2.0], [3.0], [3.0]]), 4, rng=np.random.default_rng(0))


def test_kmeans_plusplus_as_good_as_scikit_learn(rng):
    from sklearn.cluster import kmeans_plusplus as sklearn_plusplus

    from kmseg._kmeans import kmeans_plusplus

    X = blobs(rng, n=2000, d=3, k=8)
    w = rng.integers(1, 5, size=len(X)).astype(float)

    def potential(centers):
        return float(w @ ((X[:, None] - centers[None]) ** 2).sum(axis=2).min(axis=1))

    ours = [potential(kmeans_plusplus(X, w, 8, np.random.default_rng(s))) for s in range(20)]
    theirs = [potential(sklearn_plusplus(X, 8, sample_weight=w, random_state=s)[0])
              for s in range(20)]
    # Same algorithm, different random streams: the same distribution of seed quality.
    assert np.median(ours) <= 1.15 * np.median(theirs)
    centers = kmeans_plusplus(X, w, 8, np.random.default_rng(0))
    assert all((X == c).all(axis=1).any() for c in centers)  # seeds are data points


def test_breathing_leaves_a_bad_local_optimum():
    """Three far-apart blobs, k = 3, started with two centres in one blob and one between the
    other two: Lloyd stays there; breathing moves a centre and finds the blob means."""
    from kmseg._kmeans import _breathe, _lloyd, _Points

    rng = np.random.default_rng(0)
    means = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    X = np.concatenate([m + rng.normal(0, 3, size=(200, 2)) for m in means])
    points = _Points(X, np.ones(len(X)))
    stuck = _lloyd(points, np.array([[-2.0, 0.0], [2.0, 0.0], [50.0, 50.0]]), 300, 0.0)
    truth = np.repeat(np.arange(3), 200)
    optimum = sum(((X[truth == j] - X[truth == j].mean(axis=0)) ** 2).sum() for j in range(3))
    assert stuck.compactness > 2 * optimum  # the start really is a poor local optimum
    breathed = _breathe(points, stuck, 300, 0.0, np.random.default_rng(0))
    assert breathed.compactness == pytest.approx(optimum, rel=1e-12)
    assert breathed.converged and len(np.unique(breathed.labels)) == 3


def test_breathing_never_worsens_and_stops_without_room():
    from kmseg._kmeans import _breathe, _lloyd, _Points

    rng = np.random.default_rng(3)
    X = blobs(rng, n=600, d=3, k=6)
    points = _Points(X, rng.integers(1, 4, size=len(X)).astype(float))
    start = _lloyd(points, X[rng.choice(len(X), 6, replace=False)], 300, 0.0)
    breathed = _breathe(points, start, 300, 0.0, np.random.default_rng(1))
    assert breathed.compactness <= start.compactness
    # As many distinct points as clusters: nothing to breathe with, the run comes back as is.
    few = _Points(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.ones(3))
    run = _lloyd(few, few.X.copy(), 300, 0.0)
    again = _breathe(few, run, 300, 0.0, np.random.default_rng(0))
    assert again.compactness == run.compactness == 0


@pytest.mark.parametrize("d", [3, 2])
def test_nearest_two_kernel_matches_its_numpy_reference(rng, d):
    from kmseg._kernels import _reference, nearest_two

    X = rng.uniform(0, 255, size=(2000, d))
    centers = rng.uniform(0, 255, size=(7, d))
    results = []
    for kernel in (nearest_two, _reference.nearest_two):
        out = (np.empty(2000, np.intp), np.empty(2000), np.empty(2000))
        kernel(X, centers, *out)
        results.append(out)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)
    np.testing.assert_allclose(results[0][2], results[1][2], rtol=1e-12)


@pytest.mark.parametrize("n", [1, 3, 4, 6, 2001])
@pytest.mark.parametrize("values", ["integers", "reals"])
def test_avx2_kernels_give_the_scalar_results_bit_for_bit(rng, n, values):
    from kmseg._kernels import _lloyd, lloyd_bounded, lloyd_step, nearest_two

    # Small integers tie often: equal distances to several centres, duplicate centres.
    X = (rng.integers(0, 6, size=(n, 3)) if values == "integers"
         else rng.normal(100, 40, size=(n, 3))).astype(float)
    weights = rng.uniform(0.5, 2.0, n)
    centers = X[rng.integers(0, n, 6)]
    centers = np.vstack([centers, centers[:1]])
    runs = []
    try:
        for simd in (True, False):
            if _lloyd.use_simd(simd) != simd:
                pytest.skip("the CPU has no AVX2")
            step = (np.empty(n, np.intp), np.empty(n))
            two = (np.empty(n, np.intp), np.empty(n), np.empty(n))
            moved = centers.copy()
            bounded = (np.empty(n, np.intp), np.zeros(n))  # dist2 left alone if emptied
            runs.append([*lloyd_step(X, weights, centers, *step), *step,
                         nearest_two(X, centers, *two), *two,
                         *lloyd_bounded(X, weights, moved, 100, 0.0, *bounded), moved,
                         *bounded])
    finally:
        _lloyd.use_simd(True)
    for simd_result, scalar_result in zip(*runs, strict=True):
        assert np.asarray(simd_result).tobytes() == np.asarray(scalar_result).tobytes()


@pytest.mark.parametrize(("d", "per_axis"), [(1, 7), (3, 32), (3, 45), (4, 8)])
def test_grid_kernels_match_their_numpy_references(rng, d, per_axis):
    from kmseg._kernels import _reference, cell_means, grid_keys

    X = rng.normal(100, 40, size=(5000, d))
    X[:40] = X[40:80]  # points sharing a cell
    weights = rng.integers(1, 9, size=len(X)).astype(float)
    low = X.min(axis=0)
    scale = per_axis / np.ptp(X, axis=0)  # the maximum lands on per_axis: clipped
    found = []
    for kernel in (grid_keys, _reference.grid_keys):
        out = (np.empty(len(X), np.int64), np.zeros(per_axis**d, np.int32),
               np.empty(len(X), np.int64))
        found.append((kernel(X, low, scale, per_axis, *out), *out))
    assert found[0][0] == found[1][0] > 1
    for mine, theirs in zip(found[0][1:], found[1][1:], strict=True):
        np.testing.assert_array_equal(mine[: found[0][0]], theirs[: found[0][0]])
    cell_of_point = np.unique(found[0][1], return_inverse=True)[1].astype(np.int32)
    n_cells = found[0][0]
    mine, theirs = (kernel(X, weights, cell_of_point, n_cells)
                    for kernel in (cell_means, _reference.cell_means))
    np.testing.assert_allclose(mine[0], theirs[0], rtol=1e-12)
    np.testing.assert_array_equal(mine[1], theirs[1])


def test_grid_coreset_by_brute_force(rng):
    from kmseg._coreset import grid_coreset

    X = rng.uniform(0, 255, size=(20_000, 3))
    weights = rng.integers(1, 5, size=len(X)).astype(float)
    means, cell_weights = grid_coreset(X, weights, 1000)
    # The first grid of the sequence 32, 38, 45... per axis with at least 1000 cells is 32.
    cell = np.minimum(np.floor((X - X.min(0)) * (32 / np.ptp(X, axis=0))), 31) @ [1024, 32, 1]
    occupied = np.unique(cell)
    assert len(means) == len(occupied) >= 1000
    for j in rng.choice(len(occupied), 20, replace=False):
        inside = cell == occupied[j]  # cells are numbered in order
        assert cell_weights[j] == weights[inside].sum()
        np.testing.assert_allclose(means[j], np.average(X[inside], axis=0, weights=weights[inside]))


@pytest.mark.parametrize("n", [3000, 70_000])  # all points, and the coreset path
def test_threads_change_nothing(n, monkeypatch):
    from kmseg import _parallel

    rng = np.random.default_rng(5)
    X = blobs(rng, n=n, d=3, k=8)
    w = rng.integers(1, 5, size=len(X)).astype(float)
    threaded = kmeans(X, 8, sample_weight=w, rng=np.random.default_rng(2))
    monkeypatch.setattr(_parallel, "n_threads", lambda: 1)
    serial = kmeans(X, 8, sample_weight=w, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(threaded.labels, serial.labels)
    np.testing.assert_array_equal(threaded.feature_centers, serial.feature_centers)


@pytest.mark.parametrize("hidden_share", [0.05, 0.0])  # 0: breathe on the finer grid too
def test_coreset_path_ends_at_a_lloyd_fixed_point_of_every_point(rng, monkeypatch, hidden_share):
    from kmseg import _kmeans

    monkeypatch.setattr(_kmeans, "_HIDDEN_SHARE", hidden_share)
    X = blobs(rng, n=80_000, d=3, k=5)
    assert len(X) > _kmeans._CORESET_FROM
    result = kmeans(X, 5, rng=np.random.default_rng(0))
    labels, dist2 = brute_force_labels(X, result.feature_centers)
    np.testing.assert_array_equal(result.labels, labels)
    for j in range(5):
        np.testing.assert_allclose(result.feature_centers[j], X[labels == j].mean(axis=0),
                                   rtol=1e-9)
    assert result.converged and result.compactness == pytest.approx(dist2.sum(), rel=1e-9)
    theirs = KMeans(5, n_init=3, random_state=0).fit(X).inertia_
    assert result.compactness <= theirs * (1 + 1e-6)


def test_a_finer_coreset_when_the_coarse_one_hides_much_of_the_error(rng, monkeypatch):
    from kmseg import _coreset, _kmeans

    X = blobs(rng, n=200_000, d=3, k=12)
    points = _kmeans._Points(X, rng.integers(1, 4, size=len(X)).astype(float))
    core = _kmeans._coreset(points, 250 * 4)
    # What the grid hides, by brute force: squared distances of the points to their cell means.
    cells = np.floor((X - X.min(0)) * (_coreset.GRID_CELLS / np.ptp(X, axis=0)))
    _, cell_of = np.unique(np.minimum(cells, _coreset.GRID_CELLS - 1), axis=0,
                           return_inverse=True)
    cell_of = cell_of.ravel()
    sums = np.stack([np.bincount(cell_of, points.weights * X[:, j]) for j in range(3)], 1)
    means = sums / np.bincount(cell_of, points.weights)[:, None]
    np.testing.assert_allclose(core.X, means, rtol=1e-9)  # the coarse grid is that grid
    hidden = points.weights @ ((X - means[cell_of]) ** 2).sum(axis=1)
    monkeypatch.setattr(_kmeans, "_HIDDEN_SHARE", 0.05)
    assert _kmeans._finer_coreset(points, core, hidden / 0.049, 4) is None
    finer = _kmeans._finer_coreset(points, core, hidden / 0.051, 4)
    assert len(core.X) < len(finer.X) < len(X) // 2
    assert finer.weights.sum() == pytest.approx(points.weights.sum())


# --- extreme magnitudes (issue 15, item 6) ------------------------------------------------

_HANG_SCRIPT = """
import numpy as np
from kmseg._errors import ParameterError
from kmseg._kmeans import kmeans

rng = np.random.default_rng(0)
X = np.concatenate([m + rng.normal(0, 12, size=(100, 3)) for m in rng.uniform(0, 255, (4, 3))])
plain = kmeans(X, 4, rng=np.random.default_rng(1))
tiny = kmeans(np.ldexp(X, -700), 4, rng=np.random.default_rng(1))
assert (tiny.labels == plain.labels).all()
assert np.array_equal(np.ldexp(tiny.feature_centers, 700), plain.feature_centers)
huge = kmeans(np.ldexp(X, 200), 4, rng=np.random.default_rng(1))  # scaled too: exact
assert (huge.labels == plain.labels).all()
assert np.array_equal(np.ldexp(huge.feature_centers, -200), plain.feature_centers)
assert np.isclose(np.ldexp(huge.compactness, -400), plain.compactness)
# distinct values that squared distances cannot tell apart: an error, not a spin
close = np.array([[0.0, 0.0], [1e-200, 0.0], [2e-200, 0.0], [1.0, 1.0]])
try:
    kmeans(close, 4, rng=np.random.default_rng(0))
except ParameterError as error:
    assert "rescale" in str(error), error
else:
    raise AssertionError("no error")
print("ok")
"""


def test_tiny_features_terminate():
    # Once a spin: squared distances of 1e-200 values underflow to 0, and the reseed loop never
    # filled the empty clusters. Run apart, so that a hang fails rather than blocks the suite.
    done = subprocess.run([sys.executable, "-c", _HANG_SCRIPT], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_assign_resolves_tiny_features(rng):
    X = blobs(rng)
    centers = kmeans(X, 4, rng=np.random.default_rng(0)).feature_centers
    labels, _ = assign(np.ldexp(X, -700), np.ldexp(centers, -700))
    assert (labels == assign(X, centers)[0]).all()  # the distances themselves underflow


def test_features_whose_squared_distances_overflow_are_refused(rng):
    with pytest.raises(ParameterError, match="overflow; rescale the image"):
        kmeans(np.ldexp(blobs(rng), 1000), 4, rng=np.random.default_rng(0))


def test_integer_and_float32_weights_give_the_float64_result(rng):
    """Counts come as integers (np.bincount) or float32: the compiled kernels take float64, so
    the engine converts them, with the same result."""
    X = blobs(rng, n=3000, d=3, k=5)
    counts = rng.integers(1, 9, size=len(X))
    expected = kmeans(X, 5, sample_weight=counts.astype(np.float64),
                      rng=np.random.default_rng(0))
    for weights in (counts, counts.astype(np.float32)):
        got = kmeans(X, 5, sample_weight=weights, rng=np.random.default_rng(0))
        np.testing.assert_array_equal(got.labels, expected.labels)
        assert got.compactness == expected.compactness
