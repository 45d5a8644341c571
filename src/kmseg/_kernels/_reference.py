"""Plain-NumPy versions of the compiled kernels, for the tests to compare against."""

from __future__ import annotations

import numpy as np


def pack(values: np.ndarray) -> np.ndarray:
    codes = np.zeros(len(values), dtype=np.uint32)
    for j in range(values.shape[1]):
        codes = (codes << np.uint32(8)) | values[:, j].astype(np.uint32)
    return codes


def pack_and_count(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    codes = pack(values)
    distinct, first = np.unique(codes, return_index=True)
    in_order = distinct[np.argsort(first)]
    new = in_order[counts[in_order] == 0]
    counts += np.bincount(codes, minlength=len(counts)).astype(np.uint32)
    return new


def lookup(values: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    out[:] = table[pack(values)]


def lloyd_step(X, weights, centers, labels, dist2):
    """Explicit differences, argmin, bincount: the compiled step's specification."""
    k = len(centers)
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    labels[:] = d2.argmin(axis=1)
    dist2[:] = d2[np.arange(len(X)), labels]
    totals = np.bincount(labels, weights=weights, minlength=k)
    sums = np.stack(
        [np.bincount(labels, weights=weights * X[:, j], minlength=k) for j in range(X.shape[1])],
        axis=1,
    )
    return sums, totals


def nearest_two(X, centers, labels, first, second):
    d = np.sqrt(((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
    order = np.argsort(d, axis=1, kind="stable")
    labels[:] = order[:, 0]
    first[:] = np.take_along_axis(d, order[:, :1], axis=1)[:, 0]
    second[:] = np.take_along_axis(d, order[:, 1:2], axis=1)[:, 0]


def kmeans_plusplus_indices(X, weights, first, draws):
    """NumPy greedy k-means++ with the caller's random numbers."""
    chosen = [first]
    closest = ((X - X[first]) ** 2).sum(axis=1)
    for row in draws:
        cumulative = np.cumsum(weights * closest)
        candidates = np.minimum(np.searchsorted(cumulative, row * cumulative[-1]), len(X) - 1)
        distances = ((X[None, :, :] - X[candidates][:, None, :]) ** 2).sum(axis=2)
        np.minimum(distances, closest, out=distances)
        best = int(np.argmin(distances @ weights))
        chosen.append(int(candidates[best]))
        closest = distances[best]
    return np.array(chosen)


def grid_keys(X, low, scale, per_axis, keys, marks, occupied):
    """Cells by ravel_multi_index, first occurrences by np.unique."""
    cells = np.minimum(((X - low) * scale).astype(np.int64), per_axis - 1)
    keys[:] = np.ravel_multi_index(tuple(cells.T), (per_axis,) * X.shape[1])
    distinct, first = np.unique(keys, return_index=True)
    in_order = distinct[np.argsort(first)]
    marks[in_order] = 1
    occupied[: len(in_order)] = in_order
    return len(in_order)


def cell_means(X, weights, cell_of_point, n_cells):
    totals = np.bincount(cell_of_point, weights=weights, minlength=n_cells)
    sums = np.stack(
        [np.bincount(cell_of_point, weights=weights * X[:, j], minlength=n_cells)
         for j in range(X.shape[1])],
        axis=1,
    )
    return sums / totals[:, None], totals


def integer_codes(values: np.ndarray, scale: float, top: int):
    """NumPy twin of the kernel: u = round(v * scale) (ties up), and whether all v == u / s."""
    dtype = values.dtype.type
    u = np.floor(np.clip(values * dtype(scale) + dtype(0.5), 0, top + 0.5))
    return u.astype(np.int64), bool((u / dtype(scale) == values).all())


def binned(values: np.ndarray, bits: int):
    """NumPy binning on the grid of the compress stage: bin numbers, and per occupied bin
    (in number order) its count and mean, and each point's bin row."""
    low = values.min(axis=0).astype(np.float64)
    span = values.max(axis=0) - low
    scale = np.where(span > 0, 2.0**bits / np.where(span > 0, span, 1), 0.0)
    per_axis = np.minimum(np.floor((values - low) * scale), 2**bits - 1).astype(np.int64)
    numbers = np.zeros(len(values), dtype=np.int64)
    for column in per_axis.T:
        numbers = (numbers << bits) | column
    present, inverse, counts = np.unique(numbers, return_inverse=True, return_counts=True)
    means = np.stack([np.bincount(inverse, weights=column) for column in values.T.astype(float)],
                     axis=1) / counts[:, None]
    return present, counts, means, inverse


def count_distinct(values: np.ndarray, inverse: np.ndarray):
    """Distinct rows in ascending order of their packed codes, their counts, each value's row."""
    distinct, rows, counts = np.unique(pack(values), return_inverse=True, return_counts=True)
    inverse[:] = rows
    shifts = 8 * np.arange(values.shape[1] - 1, -1, -1)
    return ((distinct[:, None] >> shifts) & 255).astype(np.uint8), counts
