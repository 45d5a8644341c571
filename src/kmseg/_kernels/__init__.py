"""Compiled inner loops: Cython, built at install (``meson.build``), GIL-free and serial.

Only the engine stages (``_compress``, ``_coreset``, ``_kmeans``) import this package. Each
kernel has a plain-NumPy reference in :mod:`._reference` that the tests compare it with.
"""

from ._grid import cell_means, grid_keys
from ._histogram import count_distinct, lookup, pack_and_count
from ._lloyd import lloyd_bounded, lloyd_step, nearest_two
from ._optimal_1d import optimal_1d_splits
from ._seeding import kmeans_plusplus_indices

__all__ = [
    "cell_means",
    "count_distinct",
    "grid_keys",
    "kmeans_plusplus_indices",
    "lloyd_bounded",
    "lloyd_step",
    "lookup",
    "nearest_two",
    "optimal_1d_splits",
    "pack_and_count",
]
