"""One Lloyd step: nearest centre of every point and the weighted sums of each cluster.

The NumPy version (three passes: a BLAS product, argmin, one bincount per feature) takes 5 ms
per iteration on 132 k colours, k = 8; this fused serial loop 2.3 ms, and 0.16 ms on a 5 k-point
coreset. A numba ``prange`` version was no faster on 2 cores and, with the other core busy, took
800 ms per call (threads waiting at the barrier), so the loop stays serial.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def lloyd_step(
    X: np.ndarray,
    weights: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    dist2: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Fill ``labels``/``dist2`` (OUT, nearest centre, lowest index on ties); return the
    weighted sum of each cluster's points ``(k, d)`` and each cluster's weight ``(k,)``."""
    n, d = X.shape
    k = centers.shape[0]
    sums = np.zeros((k, d))
    totals = np.zeros(k)
    for i in range(n):
        best = np.inf
        best_j = 0
        for j in range(k):
            distance = 0.0
            for t in range(d):
                diff = X[i, t] - centers[j, t]
                distance += diff * diff
            if distance < best:
                best = distance
                best_j = j
        labels[i] = best_j
        dist2[i] = best
        w = weights[i]
        totals[best_j] += w
        for t in range(d):
            sums[best_j, t] += w * X[i, t]
    return sums, totals
