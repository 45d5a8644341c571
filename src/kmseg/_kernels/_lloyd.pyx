"""Lloyd iterations: nearest centre of every point and the weighted sums of each cluster.

The NumPy version of a step (three passes: a BLAS product, argmin, one bincount per feature)
takes 5 ms per iteration on 132 k colours, k = 8; the fused serial loop 2.3 ms, and 0.16 ms
on a 5 k-point coreset. A parallel loop was no faster on 2 cores and, with the other core busy,
took 800 ms per call (threads waiting at the barrier), so the loops stay serial; independent
runs go side by side on the caller's threads instead. Each loop is compiled twice, for colour
points (a literal ``d = 3``, which the compiler unrolls: 2x faster) and for any ``d``. On a CPU
with AVX2, the loops over colour points (nearest-centre searches, Hamerly's bounds) run four
points at a time (``_nearest.c``, the same results bit for bit): BSDS photos, k = 8, spent 36 ms
in Lloyd runs, 20 ms so. On many points, those whose bounds are far from unsettling their label
are set aside for as many iterations as the centres' moves allow (:func:`lloyd_bounded`).
"""

import numpy as np

from libc.math cimport INFINITY, sqrt
from libc.stdint cimport int64_t

from ._distance cimport squared_distance

cdef extern from *:
    """
    #include <stdint.h>
    typedef void (*kmseg_nearest)(const double *, const int64_t *, ptrdiff_t, const double *,
                                  ptrdiff_t, int64_t *, double *, double *);
    typedef ptrdiff_t (*kmseg_bounds)(const double *, ptrdiff_t, const double *,
                                      const int64_t *, const double *, const double *, ptrdiff_t,
                                      double, double *, double *, int64_t *);
    kmseg_nearest kmseg_nearest_avx2(void);
    kmseg_nearest kmseg_nearest_two_avx2(void);
    kmseg_bounds kmseg_bounds_avx2(void);
    """
    # (X, rows or NULL for all, n, centers, k, labels, first, second): outputs by position.
    ctypedef void (*kmseg_nearest)(
        const double *, const int64_t *, Py_ssize_t, const double *, Py_ssize_t, int64_t *,
        double *, double *,
    ) noexcept nogil
    # (X, n, centers, labels, moved, half_gap, top, runner_up, upper, lower, rows): how many rows.
    ctypedef Py_ssize_t (*kmseg_bounds)(
        const double *, Py_ssize_t, const double *, const int64_t *, const double *,
        const double *, Py_ssize_t, double, double *, double *, int64_t *,
    ) noexcept nogil
    kmseg_nearest kmseg_nearest_avx2()
    kmseg_nearest kmseg_nearest_two_avx2()
    kmseg_bounds kmseg_bounds_avx2()

# The AVX2 loops (d = 3), NULL when the CPU lacks AVX2 (or is not x86-64).
cdef kmseg_nearest _nearest_simd = kmseg_nearest_avx2()
cdef kmseg_nearest _nearest_two_simd = kmseg_nearest_two_avx2()
cdef kmseg_bounds _bounds_simd = kmseg_bounds_avx2()


def use_simd(bint enabled):
    """Run the AVX2 loops when the CPU has AVX2 (the default), or the scalar ones; returns
    whether AVX2 is used. The tests compare the two."""
    global _nearest_simd, _nearest_two_simd, _bounds_simd
    _nearest_simd = kmseg_nearest_avx2() if enabled else NULL
    _nearest_two_simd = kmseg_nearest_two_avx2() if enabled else NULL
    _bounds_simd = kmseg_bounds_avx2() if enabled else NULL
    return _nearest_simd != NULL


def lloyd_step(
    const double[:, ::1] X, const double[:] weights, const double[:, ::1] centers,
    int64_t[::1] labels, double[::1] dist2,
):
    """Fill ``labels``/``dist2`` (OUT, nearest centre, lowest index on ties); return the
    weighted sum of each cluster's points ``(k, d)`` and each cluster's weight ``(k,)``."""
    cdef Py_ssize_t k = centers.shape[0], d = X.shape[1]
    sums_array, totals_array = np.zeros((k, d)), np.zeros(k)
    cdef double[:, ::1] sums = sums_array
    cdef double[::1] totals = totals_array
    if X.shape[0] == 0:
        return sums_array, totals_array
    with nogil:
        if d == 3:
            _step(X, weights, centers, labels, dist2, sums, totals, 3)
        else:
            _step(X, weights, centers, labels, dist2, sums, totals, d)
    return sums_array, totals_array


cdef inline void _step(
    const double[:, ::1] X, const double[:] weights, const double[:, ::1] centers,
    int64_t[::1] labels, double[::1] dist2, double[:, ::1] sums, double[::1] totals,
    const Py_ssize_t d,
) noexcept nogil:
    cdef Py_ssize_t i, t, best_j
    cdef double w
    if d == 3 and _nearest_simd != NULL:
        _nearest_simd(&X[0, 0], NULL, X.shape[0], &centers[0, 0], centers.shape[0], &labels[0],
                      &dist2[0], NULL)
    else:
        for i in range(X.shape[0]):
            labels[i] = _nearest(&X[i, 0], centers, d, &dist2[i])
    for i in range(X.shape[0]):
        best_j = labels[i]
        w = weights[i]
        totals[best_j] += w
        for t in range(d):
            sums[best_j, t] += w * X[i, t]


cdef inline Py_ssize_t _nearest(
    const double *x, const double[:, ::1] centers, const Py_ssize_t d, double *best_out
) noexcept nogil:
    """Index of the nearest centre to ``x`` (the lowest on ties), its squared distance in
    ``best_out``."""
    cdef double best = INFINITY, distance
    cdef Py_ssize_t best_j = 0, j
    for j in range(centers.shape[0]):
        distance = squared_distance(x, &centers[j, 0], d)
        # Selects, not branches: which centre is nearest is unpredictable.
        best_j = j if distance < best else best_j
        best = distance if distance < best else best
    best_out[0] = best
    return best_j


cdef inline Py_ssize_t _nearest_two(
    const double *x, const double[:, ::1] centers, const Py_ssize_t d, double *first,
    double *second,
) noexcept nogil:
    """Index of the nearest centre to ``x``; its distance and the second-nearest one (not
    squared) in ``first`` and ``second``."""
    cdef double best = INFINITY, runner_up = INFINITY, distance
    cdef Py_ssize_t best_j = 0, j
    for j in range(centers.shape[0]):
        distance = squared_distance(x, &centers[j, 0], d)
        if distance < best:
            runner_up = best
            best = distance
            best_j = j
        elif distance < runner_up:
            runner_up = distance
    first[0] = sqrt(best)
    second[0] = sqrt(runner_up)
    return best_j


def nearest_two(
    const double[:, ::1] X, const double[:, ::1] centers, int64_t[::1] labels,
    double[::1] first, double[::1] second,
):
    """Fill ``labels`` (OUT) with each point's nearest centre and ``first``/``second`` (OUT) with
    the distances (not squared) to its nearest and second-nearest centres."""
    if X.shape[0] == 0:
        return
    with nogil:
        _nearest_two_rows(X, NULL, X.shape[0], centers, &labels[0], &first[0], &second[0],
                          X.shape[1])


cdef inline void _nearest_two_rows(
    const double[:, ::1] X, const int64_t *rows, Py_ssize_t m, const double[:, ::1] centers,
    int64_t *labels, double *first, double *second, const Py_ssize_t d,
) noexcept nogil:
    """:func:`_nearest_two` of rows ``rows[:m]`` of ``X`` (the first ``m`` if NULL), into
    ``labels[p]``, ``first[p]``, ``second[p]`` for the ``p``-th."""
    cdef Py_ssize_t p
    if d == 3 and _nearest_two_simd != NULL:
        _nearest_two_simd(&X[0, 0], rows, m, &centers[0, 0], centers.shape[0], labels, first,
                          second)
        return
    for p in range(m):
        labels[p] = _nearest_two(&X[rows[p] if rows != NULL else p, 0], centers, d, &first[p],
                                 &second[p])


cdef inline void _move_point(
    const double[:, ::1] X, Py_ssize_t i, double weight, Py_ssize_t source, Py_ssize_t target,
    double[:, ::1] sums, double[::1] totals, int64_t[::1] members, const Py_ssize_t d,
) noexcept nogil:
    """Move point ``i``'s weight from cluster ``source`` (none if negative) to ``target``."""
    cdef Py_ssize_t t
    if source >= 0:
        totals[source] -= weight
        members[source] -= 1
        for t in range(d):
            sums[source, t] -= weight * X[i, t]
    totals[target] += weight
    members[target] += 1
    for t in range(d):
        sums[target, t] += weight * X[i, t]


def lloyd_bounded(
    const double[:, ::1] X, const double[:] weights, double[:, ::1] centers, Py_ssize_t max_iter,
    double eps, int64_t[::1] labels, double[::1] dist2,
):
    """Lloyd iterations from ``centers`` (IN/OUT) with Hamerly's distance bounds.

    The bounds only skip distance computations that cannot change a label, so the iterates are
    Lloyd's (up to the rounding of the running cluster sums); after the first iterations most
    points are skipped. Returns ``(n_iter, shift, totals, empty)``. ``labels`` and ``dist2``
    (OUT) get each point's nearest final centre and squared distance to it, and ``totals``
    each cluster's weight, as :func:`lloyd_step` gives them (bit for bit). ``empty`` is True
    when a cluster lost every point: then ``centers`` are those of the last assignment, not
    updated, the outputs are undefined, and the caller goes on without bounds, reseeding.
    """
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], k = centers.shape[0]
    upper_array, lower_array = np.empty(n), np.empty(n)
    # Cluster sums are kept up to date as points change cluster, rather than summed anew each
    # iteration: a refine on 132 k colours, k = 8, took 91 ms with a full pass, 54 ms so.
    sums_array, totals_array = np.zeros((k, d)), np.zeros(k)
    members_array = np.zeros(k, dtype=np.int64)
    moved_array, half_gap_array = np.empty(k), np.empty(k)
    # The points to search again in an iteration, and what the search found.
    rows_array, found_array = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    # The points whose bounds move each iteration while the others are set aside, and how far
    # the set-aside bounds have to move since.
    active_array, drift_array = np.empty(n, dtype=np.int64), np.zeros((2, k))
    first_array, second_array = np.empty(n), np.empty(n)
    cdef double[::1] upper = upper_array, lower = lower_array, totals = totals_array
    cdef double[::1] moved = moved_array, half_gap = half_gap_array
    cdef double[::1] first = first_array, second = second_array
    cdef double[:, ::1] sums = sums_array
    cdef int64_t[::1] members = members_array, rows = rows_array, found = found_array
    cdef int64_t[::1] active = active_array
    cdef double[:, ::1] drift = drift_array
    cdef Py_ssize_t n_iter = 0
    cdef double shift = INFINITY
    cdef bint emptied = False
    if n == 0:
        return n_iter, shift, totals_array, True
    with nogil:
        if d == 3:
            emptied = _bounded_iterations(X, weights, centers, max_iter, eps, labels, dist2,
                                          upper, lower, sums, totals, members, moved, half_gap,
                                          rows, found, first, second, active, drift, &n_iter,
                                          &shift, 3)
        else:
            emptied = _bounded_iterations(X, weights, centers, max_iter, eps, labels, dist2,
                                          upper, lower, sums, totals, members, moved, half_gap,
                                          rows, found, first, second, active, drift, &n_iter,
                                          &shift, d)
    return n_iter, shift, totals_array, bool(emptied)


cdef inline bint _bounded_iterations(
    const double[:, ::1] X, const double[:] weights, double[:, ::1] centers, Py_ssize_t max_iter,
    double eps, int64_t[::1] labels, double[::1] dist2, double[::1] upper, double[::1] lower,
    double[:, ::1] sums, double[::1] totals, int64_t[::1] members, double[::1] moved,
    double[::1] half_gap, int64_t[::1] rows, int64_t[::1] found, double[::1] first,
    double[::1] second, int64_t[::1] active, double[:, ::1] drift, Py_ssize_t *n_iter,
    double *shift, const Py_ssize_t d,
) noexcept nogil:
    """The loop of :func:`lloyd_bounded`; returns whether a cluster emptied."""
    cdef Py_ssize_t n = X.shape[0], k = centers.shape[0], i, j, t, n_active = -1
    cdef double change, value, diff, budget = 0.0
    cdef bint stale = False
    _nearest_two_rows(X, NULL, n, centers, &labels[0], &upper[0], &lower[0], d)
    for i in range(n):
        _move_point(X, i, weights[i], -1, labels[i], sums, totals, members, d)
    while n_iter[0] < max_iter:
        for j in range(k):
            if members[j] == 0:
                return True
        shift[0] = 0.0
        for j in range(k):
            change = 0.0
            for t in range(d):
                value = sums[j, t] / totals[j]
                diff = value - centers[j, t]
                change += diff * diff
                centers[j, t] = value
            moved[j] = sqrt(change)
            shift[0] = max(shift[0], moved[j])
        n_iter[0] += 1
        if shift[0] <= eps:
            stale = shift[0] > 0
            break
        # A point's upper bound grows and its lower one shrinks by at most shift each: the
        # points set aside stay settled while their margin exceeds the sum of 2 x shift.
        budget -= 2.0 * shift[0]
        if n_active >= 0 and budget > 0:
            _reassign(X, weights, centers, labels, upper, lower, sums, totals, members, moved,
                      half_gap, rows, found, first, second, &active[0], n_active, drift, True, d)
            continue
        if n_active >= 0:
            _catch_up(labels, upper, lower, active, n_active, drift)
        _reassign(X, weights, centers, labels, upper, lower, sums, totals, members, moved,
                  half_gap, rows, found, first, second, NULL, n, drift, True, d)
        if n >= _SET_ASIDE_FROM:
            budget = _HORIZON * 2.0 * shift[0]
            n_active = _set_aside(upper, lower, active, budget)
            if n_active > n * _ACTIVE_SHARE:
                n_active = -1
            drift[:, :] = 0.0
    # The labels of the final centres, through the bounds once more when the last update moved
    # them, then the distances and weights lloyd_step would give: a step of the caller's after
    # each run (and before each breath) took 3.3 of the 39 ms of a warm 481x321 k = 8 segment.
    if stale:
        if n_active >= 0:
            _catch_up(labels, upper, lower, active, n_active, drift)
        _reassign(X, weights, centers, labels, upper, lower, sums, totals, members, moved,
                  half_gap, rows, found, first, second, NULL, n, drift, False, d)
    totals[:] = 0.0
    for i in range(n):
        j = labels[i]
        dist2[i] = squared_distance(&X[i, 0], &centers[j, 0], d)
        totals[j] += weights[i]
    return False


# From _SET_ASIDE_FROM points, after a pass over every point, the points whose bounds are
# within _HORIZON x its drift of unsettling their label stay active: the others are set aside
# until the drift since adds up to that much (at most _ACTIVE_SHARE of the points active, else
# none is set aside). Refines on all ~44 k colours of BSDS photos (k = 8) kept 16 % of the
# points active in 94 % of their iterations, and took 1.5x less time. On coresets of ~2.6 k
# points a quarter or more stay active: no gain, and the extra pass per iteration cost.
cdef double _HORIZON = 4.0
cdef double _ACTIVE_SHARE = 0.25
cdef Py_ssize_t _SET_ASIDE_FROM = 8192


cdef inline Py_ssize_t _set_aside(
    const double[::1] upper, const double[::1] lower, int64_t[::1] active, double margin
) noexcept nogil:
    """List the points whose bounds are less than ``margin`` apart in ``active``, in order;
    returns how many."""
    cdef Py_ssize_t i, m = 0
    for i in range(upper.shape[0]):
        active[m] = i
        m += not (lower[i] - upper[i] >= margin)
    return m


cdef inline void _catch_up(
    const int64_t[::1] labels, double[::1] upper, double[::1] lower, const int64_t[::1] active,
    Py_ssize_t n_active, const double[:, ::1] drift,
) noexcept nogil:
    """Move the bounds of the points set aside (those not in ``active[:n_active]``) by the
    drift of their centre since."""
    cdef Py_ssize_t i, a, q = 0
    for i in range(labels.shape[0]):
        if q < n_active and active[q] == i:
            q += 1
            continue
        a = labels[i]
        upper[i] += drift[0, a]
        lower[i] -= drift[1, a]


cdef inline void _reassign(
    const double[:, ::1] X, const double[:] weights, const double[:, ::1] centers,
    int64_t[::1] labels, double[::1] upper, double[::1] lower, double[:, ::1] sums,
    double[::1] totals, int64_t[::1] members, const double[::1] moved, double[::1] half_gap,
    int64_t[::1] rows, int64_t[::1] found, double[::1] first, double[::1] second,
    const int64_t *subset, Py_ssize_t count, double[:, ::1] drift, bint move,
    const Py_ssize_t d,
) noexcept nogil:
    """The nearest centre of points ``subset[:count]`` (every point if NULL) after the centres
    moved by ``moved``, through their bounds (the others' drift added up); the cluster sums
    follow the points that change cluster when ``move``."""
    cdef Py_ssize_t n = X.shape[0], k = centers.shape[0], i, j, a, top, other, m, p
    cdef double gap, runner_up
    # The largest and second-largest moves, to lower each point's second-nearest bound.
    top = 0
    for j in range(1, k):
        if moved[j] > moved[top]:
            top = j
    runner_up = 0.0
    for j in range(k):
        if j != top and moved[j] > runner_up:
            runner_up = moved[j]
    for j in range(k):
        gap = INFINITY
        for other in range(k):
            if other != j:
                gap = min(gap, squared_distance(&centers[j, 0], &centers[other, 0], d))
        half_gap[j] = 0.5 * sqrt(gap)
        if subset != NULL:
            drift[0, j] += moved[j]
            drift[1, j] += runner_up if j == top else moved[top]
    # The bounds first, then one search of the points they do not settle (four at a time
    # with AVX2), then the moves in the order of the points, as a pass point by point would
    # make them (same sums).
    if d == 3 and _bounds_simd != NULL and subset == NULL:
        m = _bounds_simd(&X[0, 0], n, &centers[0, 0], &labels[0], &moved[0], &half_gap[0],
                         top, runner_up, &upper[0], &lower[0], &rows[0])
    else:
        m = _bounds(X, centers, labels, moved, half_gap, top, runner_up, upper, lower, subset,
                    count, rows, d)
    _nearest_two_rows(X, &rows[0], m, centers, &found[0], &first[0], &second[0], d)
    for p in range(m):
        i = rows[p]
        upper[i] = first[p]
        lower[i] = second[p]
        a = labels[i]
        j = found[p]
        if j != a:
            labels[i] = j
            if move:
                _move_point(X, i, weights[i], a, j, sums, totals, members, d)


cdef inline Py_ssize_t _bounds(
    const double[:, ::1] X, const double[:, ::1] centers, const int64_t[::1] labels,
    const double[::1] moved, const double[::1] half_gap, Py_ssize_t top, double runner_up,
    double[::1] upper, double[::1] lower, const int64_t *subset, Py_ssize_t count,
    int64_t[::1] rows, const Py_ssize_t d,
) noexcept nogil:
    """The bounds of points ``subset[:count]`` (the first ``count`` if NULL) moved with the
    centres (by ``moved``; ``top`` moved most, the others at most ``runner_up``), tightened
    where they do not settle the label; the points still unsettled go to ``rows``, in order.
    Returns how many."""
    cdef Py_ssize_t i, a, p, m = 0
    cdef double bound
    for p in range(count):
        i = subset[p] if subset != NULL else p
        a = labels[i]
        upper[i] += moved[a]
        lower[i] -= runner_up if a == top else moved[top]
        # Strict comparisons: a tie goes to the full scan, which picks the lowest index, as
        # the plain step does.
        bound = max(lower[i], half_gap[a])
        if upper[i] < bound:
            continue
        upper[i] = sqrt(squared_distance(&X[i, 0], &centers[a, 0], d))
        if upper[i] < bound:
            continue
        rows[m] = i
        m += 1
    return m
