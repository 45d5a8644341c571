"""Stage 5 — labels, for scans: a Potts prior on a label volume (the spatial prior of
``--tissue``).

Each class is a Gaussian (the mean, variance and share of its voxels under the k-means labels);
each voxel's class probabilities are updated by mean field: its own likelihood times the
exponential of ``weight`` times the probability mass of that class among its 6 face neighbours,
each neighbour counted by 1 / its distance (voxel spacing), so that thick slices count less.
Isolated voxels join the tissue around them, and a thin structure survives where its intensity
is clear. Mean field rather than ICM: on the shared BraTS cases ICM's hard flips swung with the
weight (Dice 0.60-0.88), mean field gained on every case.
"""

from __future__ import annotations

import numpy as np


def potts_labels(
    values: np.ndarray, labels: np.ndarray, inside: np.ndarray,
    spacing: tuple[float, float, float], *, weight: float, iterations: int,
) -> np.ndarray:
    """Labels ``1..k`` (0 outside ``inside``) after the prior; ``values`` is ``(I, J, K, C)``."""
    k = int(labels.max())
    box = _bounding_box(inside)
    x, start, m = values[box], labels[box], inside[box]
    log_likelihood = _log_likelihood(x, start, m, k)
    neighbour_weights = 1.0 / np.asarray(spacing, dtype=np.float64)
    neighbour_weights /= neighbour_weights.max()
    q = np.stack([(start == c) & m for c in range(1, k + 1)]).astype(np.float64)
    for _ in range(iterations):
        energy = log_likelihood + weight * _neighbour_sums(q, neighbour_weights)
        energy -= energy.max(axis=0)
        q = np.exp(energy)
        q *= m / q.sum(axis=0)
    out = labels.copy()
    inner = out[box]
    inner[m] = (np.argmax(q, axis=0) + 1)[m]
    return out


def _bounding_box(inside: np.ndarray) -> tuple[slice, ...]:
    """The smallest box holding every voxel of the mask, one voxel of margin."""
    box = []
    for axis in range(inside.ndim):
        seen = np.flatnonzero(inside.any(axis=tuple(a for a in range(inside.ndim) if a != axis)))
        box.append(slice(max(int(seen[0]) - 1, 0), int(seen[-1]) + 2))
    return tuple(box)


def _log_likelihood(x: np.ndarray, labels: np.ndarray, m: np.ndarray, k: int) -> np.ndarray:
    """``(k, I, J, K)``: each class's Gaussian log density (diagonal covariance) plus the log
    of its share, from the voxels the labels give it."""
    inside_values = x[m]
    inside_labels = labels[m]
    out = np.empty((k, *x.shape[:3]))
    for c in range(k):
        members = inside_values[inside_labels == c + 1]
        mean, var = members.mean(axis=0), np.maximum(members.var(axis=0), 1e-12)
        out[c] = (-(x - mean) ** 2 / (2 * var) - 0.5 * np.log(var)).sum(axis=-1) \
            + np.log(len(members) / len(inside_values))
    return out


def _neighbour_sums(q: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For each class, the weighted sum of its probabilities over the 6 face neighbours (none
    beyond the box's edges)."""
    total = np.zeros_like(q)
    for axis, w in enumerate(weights, start=1):
        ahead = [slice(None)] * 4
        behind = [slice(None)] * 4
        ahead[axis], behind[axis] = slice(1, None), slice(None, -1)
        total[tuple(behind)] += w * q[tuple(ahead)]
        total[tuple(ahead)] += w * q[tuple(behind)]
    return total
