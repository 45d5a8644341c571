"""Stage 4 — cluster: weighted Lloyd k-means with OpenCV's stopping rule.

This is the one engine every entry point calls (:func:`kmeans`). It is written here rather than
taken from :class:`sklearn.cluster.KMeans` because kmseg needs what that class does not offer:

* OpenCV's stopping rule — stop when no centre moves more than ``eps`` in feature units (scikit-
  learn's ``tol`` is relative to the data's variance), with ``eps=0`` meaning exact convergence;
* initialisation from a label map (OpenCV's ``KMEANS_USE_INITIAL_LABELS``);
* exactly ``k`` clusters: empty clusters are reseeded, and too few distinct points is an error;
* per-point weights throughout, so that a histogram of distinct colours (weights = counts) gives
  the same iterates as all the pixels;
* a search beyond restarts: the best attempts are improved by breathing k-means (add centres
  where the error is largest, remove the least useful ones), which escapes local optima that
  ten k-means++ restarts keep falling into.

The k-means++ seeding is greedy k-means++ as scikit-learn's :func:`sklearn.cluster.kmeans_plusplus`
(2 + log k candidates per centre, the one lowering the potential most is kept), a small compiled
loop here because importing scikit-learn costs 0.8-1 s of a 5 s cold ``kmseg segment`` on a
14 MP photo; the tests compare the two.

Private module: inputs are trusted (validated by the public API).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import _parallel
from ._coreset import grid_coreset
from ._errors import ParameterError, exceeds

# Attempts run on all points up to _CORESET_FROM (distinct) points, above it on a grid coreset
# of at least _CORESET_PER_CLUSTER cells per cluster (:mod:`._coreset`). Then at most _REFINED
# distinct solutions within _REFINE_MARGIN of the best are improved by breathing on the coreset
# (first breath _BREATHS centres deep, a breath kept if it gains more than _BREATH_GAIN), again
# (_FINER_BREATHS deep) on a grid of _FINER_CELLS x as many cells when the coarse one hides
# more than _HIDDEN_SHARE of the error, and refined on all points.
# BSDS photos have 33-57 k colours: attempts on the coreset there (rather than on all points,
# as below 65 536 points before) made the k-means 2-3x faster (20 val photos, k = 4 / 8 / 16:
# median 58 -> 24, 155 -> 52, 351 -> 171 ms) for compactness within 1.0022x of the all-points
# attempts (mean 1.0002x at k = 16), still below scikit-learn n_init=10 on that 1.0022 photo.
_CORESET_FROM = 16_384
_REFINED = 2
_BREATHS = 5
_BREATH_GAIN = 1e-9
_REFINE_MARGIN = 0.005
_CORESET_PER_CLUSTER = 250
_HIDDEN_SHARE = 0.05
_FINER_CELLS = 8
_FINER_BREATHS = 2
# Runs on a coreset stop once no centre moves more than _CORESET_TOL x the points' spread: 30
# BSDS val photos (k = 4 / 8 / 16, one thread) took 15-20 % less time, for compactness within
# 0.013 % of exact convergence there (largest ratio to scikit-learn n_init=10: 1.00007, 1.00036).
_CORESET_TOL = 1e-3


@dataclass(frozen=True)
class KMeansResult:
    """Outcome of :func:`kmeans` (feature units)."""

    feature_centers: np.ndarray  # (k, d) float64
    labels: np.ndarray  # (n,) intp, nearest centre of each point
    compactness: float  # sum of weight * squared distance to the nearest centre
    n_iter: int  # Lloyd updates of the kept attempt, coreset and refine (0 for the 1-D optimum)
    converged: bool  # the kept attempt stopped on eps, not on max_iter
    sizes: np.ndarray  # (k,) total weight of each cluster
    algorithm: str = "lloyd"  # or "optimal-1d": the exact optimum, no iterations


def kmeans(
    X: np.ndarray,
    k: int,
    *,
    sample_weight: np.ndarray | None = None,
    init: str | np.ndarray | None = "k-means++",
    init_labels: np.ndarray | None = None,
    attempts: int = 10,
    max_iter: int = 300,
    eps: float = 0.0,
    rng: np.random.Generator,
    fixed: np.ndarray | None = None,
) -> KMeansResult:
    """Weighted k-means, best of ``attempts`` runs by compactness.

    One-dimensional points seeded by "k-means++" or "random" get the exact optimum instead
    (:func:`optimal_1d`): ``attempts``, ``max_iter`` and ``eps`` do not apply there.

    Parameters
    ----------
    X : (n, d) float64 ndarray
        Points, C-contiguous.
    k : int
        Number of clusters, ``1 <= k <= n``.
    sample_weight : (n,) float64 ndarray, optional
        Positive weights (default all ones).
    init : {"k-means++", "random"} or (k, d) ndarray or None
        Seeding; an array gives the initial centres (one attempt); None with ``init_labels``.
    init_labels : (n,) intp ndarray, optional
        Initial labels in ``0..k-1``; the initial centres are their means (one attempt).
    attempts, max_iter, eps
        Runs from new seeds; Lloyd updates per run; stop once no centre moves more than ``eps``.
    rng : numpy.random.Generator
        The one source of randomness.
    fixed : (f, d) ndarray, optional
        Centres that never move: they are centres ``0..f-1`` of the result, the other
        ``k - f`` are seeded beside them and move as usual (no breathing, no coreset; a fixed
        centre may end with no point).

    Raises
    ------
    ParameterError
        When the points have fewer than ``k`` distinct values, when their differences are too
        small for squared distances to resolve, or when those overflow.
    """
    weights = np.ones(len(X)) if sample_weight is None else sample_weight
    if len(X) < k:
        raise _too_few_distinct(X, k)
    # Features far from 1 (1e-200: squared distances underflow to 0; 1e200: they overflow) are
    # scaled by a power of two, which is exact: the same iterates, in other units.
    exponent = _scale_exponent(X)
    if exponent:
        def scaled(a):
            return None if a is None or isinstance(a, str) else np.ldexp(np.asarray(a, float),
                                                                          -exponent)
        result = _kmeans(scaled(X), k, weights, init if isinstance(init, str) else scaled(init),
                         init_labels, attempts, max_iter, float(np.ldexp(eps, -exponent)), rng,
                         scaled(fixed))
        with np.errstate(over="ignore"):
            compactness = float(np.ldexp(result.compactness, 2 * exponent))
        if not np.isfinite(compactness):
            span = f"{float(X.min()):g}..{float(X.max()):g}"
            raise ParameterError(f"feature values span {span}: their squared distances "
                                 "overflow; rescale the image")
        return replace(result, feature_centers=np.ldexp(result.feature_centers, exponent),
                       compactness=compactness)
    return _kmeans(X, k, weights, init, init_labels, attempts, max_iter, eps, rng, fixed)


# Features whose largest magnitude lies outside 2**-_SAFE_EXPONENT..2**_SAFE_EXPONENT are
# scaled to magnitudes near 1 inside the engine.
_SAFE_EXPONENT = 64


def _scale_exponent(X: np.ndarray) -> int:
    """0, or the power of two that brings the largest magnitude of ``X`` near 1."""
    largest = float(np.abs(X).max()) if X.size else 0.0
    if largest == 0.0 or not np.isfinite(largest):
        return 0
    exponent = int(np.frexp(largest)[1])
    return exponent if abs(exponent) > _SAFE_EXPONENT else 0


def _kmeans(
    X: np.ndarray, k: int, weights: np.ndarray, init: str | np.ndarray | None,
    init_labels: np.ndarray | None, attempts: int, max_iter: int, eps: float,
    rng: np.random.Generator, fixed: np.ndarray | None,
) -> KMeansResult:
    """:func:`kmeans` on features of magnitude near 1 or at least not extreme."""
    if init_labels is not None:
        points = _Points(X, weights)
        return _lloyd(points, _initial_centers_from_labels(points, init_labels, k), max_iter, eps)
    if isinstance(init, np.ndarray):
        return _lloyd(_Points(X, weights), init.astype(np.float64, copy=True), max_iter, eps)
    if fixed is not None:
        return _kmeans_fixed(_Points(X, weights), fixed, k, str(init), attempts, max_iter, eps,
                             rng)
    if X.shape[1] == 1:
        return optimal_1d(X[:, 0], weights, k)
    points = _Points(X, weights)
    core = _coreset(points, _CORESET_PER_CLUSTER * k)
    tried = core if len(X) > _CORESET_FROM else points
    # On a coreset, runs stop once no centre moves more than a small share of the spread: the
    # refine on every point converges as asked (eps), and the coreset is itself approximate.
    core_eps = eps if core is points else max(eps, _CORESET_TOL * _spread(core))
    tried_eps = core_eps if tried is core else eps
    # One generator per attempt, so that running the attempts on two threads changes nothing.
    rngs = rng.spawn(attempts + _REFINED)
    runs = _parallel.run([
        lambda r=r: _lloyd(tried, _seed(tried.X, tried.weights, k, str(init), r), max_iter,
                           tried_eps)
        for r in rngs[:attempts]
    ])
    # The best distinct solutions are improved by breathing on the coreset, then refined on
    # every point, side by side on two threads.
    finer = _finer_coreset(points, core, min(run.compactness for run in runs), k)
    finished = _parallel.run([
        lambda run=run, r=r: _refine(
            points, _breathe_twice(core, finer, run, max_iter, core_eps, r), max_iter, eps)
        for run, r in zip(_distinct_best(runs), rngs[attempts:], strict=False)
    ])
    if tried is points:  # the attempts' own results compete too, and win ties
        finished.insert(0, min(runs, key=lambda run: run.compactness))
    return min(finished, key=lambda run: run.compactness)


def _spread(points: _Points) -> float:
    """Root-mean-square distance of the points from their weighted mean."""
    total = points.weights.sum()
    mean = points.weights @ points.X / total
    return float(np.sqrt(max(_weighted_sum_of_squares(points) / total - float(mean @ mean), 0.0)))


def _finer_coreset(points: _Points, core: _Points, compactness: float, k: int) -> _Points | None:
    """A finer grid coreset when the coarse one hides more than _HIDDEN_SHARE of the attempts'
    error (``compactness``), or None.

    The coarse grid lumps together colours within a cell; the error that hides (the points'
    squared distances to their cell means) is constant for solutions that keep cells whole, so
    when it is large the coreset cannot tell close optima apart. On the 17.9 MP ferns photo it
    hid 13 % (k = 8), and breathing again on the next grid took the result from 1.0011 to
    0.9998 x scikit-learn n_init=10 (seeds 0-5: at most 0.9998); elsewhere it hides 0.2-9 %.
    """
    if core is points:
        return None
    hidden = _weighted_sum_of_squares(points) - _weighted_sum_of_squares(core)
    if hidden <= _HIDDEN_SHARE * compactness:
        return None
    finer = _coreset(points, _FINER_CELLS * _CORESET_PER_CLUSTER * k)
    return finer if len(core.X) < len(finer.X) < len(points.X) else None


def _weighted_sum_of_squares(points: _Points) -> float:
    # Not (X**2).sum(axis=1): NumPy reduces rows of 3 slowly (5 ms against 0.3 on 0.3 M colours).
    return float(((points.X * points.X).T @ points.weights).sum())


def _breathe_twice(
    core: _Points, finer: _Points | None, run: KMeansResult, max_iter: int, eps: float,
    rng: np.random.Generator,
) -> KMeansResult:
    """Breathing on the coreset, then (shallower) on the finer one if there is one."""
    run = _breathe(core, run, max_iter, eps, rng)
    return run if finer is None else _breathe(finer, run, max_iter, eps, rng, _FINER_BREATHS)


def _coreset(points: _Points, target: int) -> _Points:
    """The grid coreset of the points, or the points themselves when that grid would not
    have ``target`` cells, or not halve their number."""
    if len(points.X) < 2 * target:
        return points
    core = _Points(*grid_coreset(points.X, points.weights, target))
    return core if target <= len(core.X) <= len(points.X) // 2 else points


def _breathe(
    points: _Points, run: KMeansResult, max_iter: int, eps: float, rng: np.random.Generator,
    first: int = _BREATHS,
) -> KMeansResult:
    """Breathing k-means (Fritzke, 2021) from a converged run.

    Breathe in: ``m`` centres are added next to the ``m`` with the largest error, and Lloyd runs
    with ``k + m``; breathe out: the ``m`` least useful centres go, and Lloyd runs with ``k``.
    A better result is kept and the next breath is as deep; otherwise ``m`` shrinks by one. On
    the 16 MP cat photo (k = 8, eight seeds) this lifted the best of ten k-means++ attempts from
    1.013 (up to 1.056) x scikit-learn's n_init=10 inertia to 1.000 (at most 1.0009).
    """
    # The run may come from other points. Its distances go to the first breath in (no step).
    best = _lloyd_distances(points, run.feature_centers, max_iter, eps)
    k = len(run.feature_centers)
    m = min(first, k, len(points.X) - k)
    while m > 0:
        try:
            grown = _lloyd(points, _breathe_in(points, *best, m, rng), max_iter, eps)
        except ParameterError:  # fewer than k + m distinct points: no room to breathe
            break
        shrunk = _lloyd_distances(points, _breathe_out(points, grown.feature_centers, m),
                                  max_iter, eps)
        if shrunk[0].compactness < best[0].compactness * (1 - _BREATH_GAIN):
            best = shrunk
        else:
            m -= 1
    return best[0]


def _breathe_in(
    points: _Points, run: KMeansResult, dist2: np.ndarray, m: int, rng: np.random.Generator
) -> np.ndarray:
    """The run's centres and a copy of the ``m`` with the largest error (``dist2``: each
    point's squared distance to its centre), each nudged at random by 1 % of the
    root-mean-square error."""
    centers = run.feature_centers
    error = np.bincount(run.labels, weights=points.weights * dist2, minlength=len(centers))
    worst = np.argsort(-error, kind="stable")[:m]
    rms = np.sqrt(error.sum() / points.weights.sum())
    nudge = rng.standard_normal((m, centers.shape[1])) * (0.01 * rms)
    return np.concatenate([centers, centers[worst] + nudge])


def _breathe_out(points: _Points, centers: np.ndarray, m: int) -> np.ndarray:
    """``centers`` less the ``m`` least useful; the nearest neighbour of a removed centre
    stays (it takes over its points)."""
    from ._kernels import nearest_two

    n = len(points.X)
    labels, first, second = np.empty(n, dtype=np.intp), np.empty(n), np.empty(n)
    nearest_two(points.X, centers, labels, first, second)
    # Utility: how much the error would grow if the centre went and its points moved on.
    utility = np.bincount(labels, weights=points.weights * (second**2 - first**2),
                          minlength=len(centers))
    gaps = ((centers[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(gaps, np.inf)
    removed: list[int] = []
    kept: set[int] = set()
    for j in np.argsort(utility, kind="stable"):
        if len(removed) == m:
            break
        if int(j) not in kept:
            removed.append(int(j))
            kept.add(int(np.argmin(gaps[j])))
    if len(removed) < m:  # too many kept neighbours: the least useful others go
        removed += [int(j) for j in np.argsort(utility, kind="stable")
                    if int(j) not in removed][: m - len(removed)]
    return np.delete(centers, removed, axis=0)


def _kmeans_fixed(
    points: _Points, fixed: np.ndarray, k: int, init: str, attempts: int, max_iter: int,
    eps: float, rng: np.random.Generator,
) -> KMeansResult:
    """k-means whose first ``len(fixed)`` centres stay put; best of ``attempts``."""
    runs = []
    for generator in rng.spawn(attempts):
        free = _seed_beside(points.X, points.weights, fixed, k - len(fixed), init, generator)
        runs.append(_lloyd_fixed(points, np.vstack([fixed, free]), len(fixed), max_iter, eps))
    return min(runs, key=lambda run: run.compactness)


def _seed_beside(
    X: np.ndarray, weights: np.ndarray, fixed: np.ndarray, n_free: int, init: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n_free`` seeds from the points, by greedy k-means++ counting the fixed centres as
    already chosen (or at random by weight)."""
    closest = ((X[:, None, :] - fixed[None, :, :]) ** 2).sum(axis=2).min(axis=1)
    chosen: list[int] = []
    n_trials = 2 + int(np.log(len(fixed) + n_free))
    for _ in range(n_free):
        mass = weights * (closest if init == "k-means++" else (closest > 0))
        if mass.sum() <= 0:
            raise _too_few_distinct(X, len(fixed) + n_free)
        candidates = rng.choice(len(X), size=n_trials if init == "k-means++" else 1,
                                p=mass / mass.sum())
        trial = np.minimum(closest, ((X[None, :, :] - X[candidates][:, None, :]) ** 2).sum(2))
        best = int(np.argmin(trial @ weights))
        chosen.append(int(candidates[best]))
        closest = trial[best]
    return X[chosen].reshape(n_free, X.shape[1])


def _lloyd_fixed(
    points: _Points, centers: np.ndarray, n_fixed: int, max_iter: int, eps: float
) -> KMeansResult:
    """Plain Lloyd iterations in which centres ``0..n_fixed-1`` do not move."""
    centers = np.array(centers, dtype=np.float64)
    shift, n_iter = np.inf, 0
    while n_iter < max_iter:
        _, dist2, means, totals = points.step(centers)
        new = np.where(totals[:, None] > 0, means, centers)
        new[:n_fixed] = centers[:n_fixed]
        empty_free = totals == 0
        empty_free[:n_fixed] = False
        _reseed_empty(points.X, dist2, new, empty_free)
        shift = float(np.sqrt(((new - centers) ** 2).sum(axis=1)).max())
        centers, n_iter = new, n_iter + 1
        if shift <= eps:
            break
    labels, dist2, _, totals = points.step(centers)
    return KMeansResult(centers, labels, float(points.weights @ dist2), n_iter, shift <= eps,
                        totals)


def _refine(points: _Points, run: KMeansResult, max_iter: int, eps: float) -> KMeansResult:
    """Go on with a run on every point; ``max_iter`` bounds the updates of both parts."""
    refined = _lloyd(points, run.feature_centers.copy(), max_iter - run.n_iter, eps)
    return replace(refined, n_iter=run.n_iter + refined.n_iter)


def _distinct_best(runs: list[KMeansResult]) -> list[KMeansResult]:
    """The best runs (within _REFINE_MARGIN of the best), skipping runs that found the same
    clusters as a better one; at most _REFINED."""
    kept: list[KMeansResult] = []
    runs = sorted(runs, key=lambda run: run.compactness)
    for run in runs:
        if run.compactness > runs[0].compactness * (1 + _REFINE_MARGIN):
            break
        if not any(_same_clusters(run.feature_centers, other.feature_centers) for other in kept):
            kept.append(run)
        if len(kept) == _REFINED:
            break
    return kept


def _same_clusters(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two sets of centres are the same up to order (and rounding)."""
    return np.allclose(a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])], rtol=1e-6, atol=1e-9)


def optimal_1d(x: np.ndarray, weights: np.ndarray, k: int) -> KMeansResult:
    """The globally optimal weighted k-means of 1-D points (dynamic programming)."""
    from ._kernels import optimal_1d_splits

    levels, inverse = np.unique(x, return_inverse=True)
    level_weights = np.bincount(inverse, weights=weights, minlength=len(levels))
    if len(levels) < k:
        raise _too_few_distinct(x[:, None], k, n_distinct=len(levels))
    starts = optimal_1d_splits(levels, level_weights, k)
    level_labels = np.searchsorted(starts, np.arange(len(levels)), side="right") - 1
    labels = level_labels[inverse]
    sums = np.bincount(level_labels, weights=level_weights * levels, minlength=k)
    sizes = np.bincount(level_labels, weights=level_weights, minlength=k)
    centers = (sums / sizes)[:, None]
    compactness = float(weights @ (x - centers[labels, 0]) ** 2)
    return KMeansResult(centers, labels, compactness, 0, True, sizes, "optimal-1d")


def assign(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of each point and the squared distance to it (ties: lowest index)."""
    exponent = _scale_exponent(centers)  # as kmeans: extreme magnitudes scaled near 1
    if exponent:
        labels, dist2 = _Points(np.ldexp(X, -exponent), np.ones(len(X))).step(
            np.ldexp(centers, -exponent))[:2]
        with np.errstate(over="ignore", under="ignore"):
            return labels, np.ldexp(dist2, 2 * exponent)
    return _Points(X, np.ones(len(X))).step(centers)[:2]


class _Points:
    """Weighted points and one Lloyd step over them (the compiled kernel)."""

    def __init__(self, X: np.ndarray, weights: np.ndarray) -> None:
        self.X = np.ascontiguousarray(X, dtype=np.float64)  # the kernels' layout (no copy)
        self.weights = np.ascontiguousarray(weights, dtype=np.float64)

    def step(self, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Labels, squared distances, and the weighted means (NaN if empty) and cluster weights."""
        from ._kernels import lloyd_step

        labels = np.empty(len(self.X), dtype=np.intp)
        dist2 = np.empty(len(self.X))
        sums, totals = lloyd_step(self.X, self.weights, np.ascontiguousarray(centers), labels,
                                  dist2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return labels, dist2, sums / totals[:, None], totals

    def means(self, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean of each cluster of a given labelling, and cluster weights."""
        totals = np.bincount(labels, weights=self.weights, minlength=k)
        sums = np.stack(
            [np.bincount(labels, weights=self.weights * self.X[:, j], minlength=k)
             for j in range(self.X.shape[1])],
            axis=1,
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums / totals[:, None], totals


def _lloyd(points: _Points, centers: np.ndarray, max_iter: int, eps: float) -> KMeansResult:
    """Lloyd iterations from ``centers``; the result's labels are nearest final centres."""
    return _lloyd_distances(points, centers, max_iter, eps)[0]


def _lloyd_distances(
    points: _Points, centers: np.ndarray, max_iter: int, eps: float
) -> tuple[KMeansResult, np.ndarray]:
    """:func:`_lloyd`, and each point's squared distance to its centre."""
    from ._kernels import lloyd_bounded

    centers = np.array(centers, dtype=np.float64, order="C")
    labels, dist2 = np.empty(len(points.X), dtype=np.intp), np.empty(len(points.X))
    # Bounded (Hamerly) iterations while no cluster empties, then plain ones that reseed.
    n_iter, shift, totals, emptied = lloyd_bounded(
        points.X, points.weights, centers, max_iter, eps, labels, dist2
    )
    if emptied:
        while n_iter < max_iter:
            labels, dist2, new_centers, totals = points.step(centers)
            _reseed_empty(points.X, dist2, new_centers, totals == 0)
            shift = float(np.sqrt(((new_centers - centers) ** 2).sum(axis=1)).max())
            centers = new_centers
            n_iter += 1
            if shift <= eps:
                break
        labels, dist2, _, totals = points.step(centers)
    converged = shift <= eps
    # A last assignment can empty a cluster when the run stopped before convergence. Each
    # reseed puts a centre on a point; if k rounds cannot fill every cluster, the points'
    # differences are below what squared distances resolve (ties go to the lowest index).
    for _ in range(len(centers) + 1):
        if not (totals == 0).any():
            break
        _reseed_empty(points.X, dist2, centers, totals == 0)
        labels, dist2, _, totals = points.step(centers)
    else:
        raise _unresolved(points.X, len(centers))
    result = KMeansResult(centers, labels, float(points.weights @ dist2), n_iter, converged,
                          totals)
    return result, dist2


def _reseed_empty(X: np.ndarray, dist2: np.ndarray, centers: np.ndarray, empty: np.ndarray) -> None:
    """Move each empty cluster's centre onto one of the points farthest from their centre."""
    n_empty = int(empty.sum())
    if n_empty == 0:
        return
    farthest = np.argsort(dist2, kind="stable")[::-1][:n_empty]
    # Near-zero distances mean every point may sit on a centre (means of equal values can be an
    # ulp off): count the distinct values exactly before concluding.
    if dist2[farthest[-1]] <= 1e-12 * (1.0 + np.square(np.abs(X).max())):
        n_distinct = len(np.unique(X, axis=0))
        if n_distinct < len(centers):
            raise _too_few_distinct(X, len(centers), n_distinct)
        if dist2[farthest[0]] == 0:  # distinct points, yet every distance is 0 (underflow)
            raise _unresolved(X, len(centers))
    centers[empty] = X[farthest]


def kmeans_plusplus(
    X: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Greedy weighted k-means++ seeding: ``(k, d)`` centres taken from the points."""
    from ._kernels import kmeans_plusplus_indices

    n_trials = 2 + int(np.log(k))
    first = int(rng.choice(len(X), p=weights / weights.sum()))
    draws = rng.random((k - 1, n_trials))
    return X[kmeans_plusplus_indices(X, weights, first, draws)]


def _seed(X: np.ndarray, weights: np.ndarray, k: int, init: str, rng: np.random.Generator):
    if init == "k-means++":
        centers = kmeans_plusplus(X, weights, k, rng)
    else:  # "random": k distinct points drawn with probability proportional to weight
        index = rng.choice(len(X), size=k, replace=False, p=weights / weights.sum())
        centers = X[index]
    # Rows compared as bytes (+ 0.0 makes -0.0 equal 0.0): np.unique(axis=0) took 0.2 ms per
    # seeding, 2 ms of a 60 ms k = 8 run on a BSDS photo.
    if len({row.tobytes() for row in centers + 0.0}) < k:
        # k-means++ only repeats a point once every point is already a centre; a random draw can
        # repeat a colour by chance, so redraw among the distinct values.
        centers = _distinct_seed(X, weights, k, rng)
    return np.array(centers, dtype=np.float64)


def _distinct_seed(X: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator):
    values, inverse = np.unique(X, axis=0, return_inverse=True)
    if len(values) < k:
        raise _too_few_distinct(X, k, n_distinct=len(values))
    mass = np.bincount(inverse.ravel(), weights=weights, minlength=len(values))
    return values[rng.choice(len(values), size=k, replace=False, p=mass / mass.sum())]


def _initial_centers_from_labels(points: _Points, labels: np.ndarray, k: int) -> np.ndarray:
    centers, totals = points.means(labels, k)
    if (totals == 0).any():
        _, dist2, _, _ = points.step(centers[totals > 0])
        _reseed_empty(points.X, dist2, centers, totals == 0)
    return centers


def _too_few_distinct(X: np.ndarray, k: int, n_distinct: int | None = None) -> ParameterError:
    if n_distinct is None:
        n_distinct = len(np.unique(X, axis=0))
    return exceeds("k", k, n_distinct, "distinct feature value(s) of the image")


def _unresolved(X: np.ndarray, k: int) -> ParameterError:
    return ParameterError(
        f"k={k}: the feature values (span {float(X.min()):g}..{float(X.max()):g}) differ by "
        "less than squared distances resolve in floating point; rescale the image"
    )
