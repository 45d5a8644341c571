"""Stage 5 — labels: canonical cluster numbering and the label map.

Cluster ids are ``0..k-1`` in the smallest unsigned dtype that also leaves room for the masked
value: uint8 for ``k <= 255``, uint16 up to ``k = 65534``. Masked pixels (transparent, nodata,
or outside a user mask) carry the dtype's largest value — 255 or 65535, see
:func:`masked_label` — which is never a cluster id, and indexing ``centers`` with it fails.
"""

from __future__ import annotations

import numpy as np

from ._spatial import enlarge


def label_dtype(k: int) -> np.dtype:
    """Smallest unsigned dtype holding ids ``0..k-1`` plus the masked value."""
    return np.dtype(np.uint8 if k <= np.iinfo(np.uint8).max else np.uint16)


def masked_label(dtype: np.dtype) -> int:
    """Label value of masked pixels for a label dtype: its largest value."""
    return int(np.iinfo(dtype).max)


def canonical_order(luminance: np.ndarray, sizes: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Cluster order: darkest first, then larger first, then by centre coordinates.

    Returns ``order`` such that new cluster ``j`` is old cluster ``order[j]``.
    """
    keys = [*(centers[:, j] for j in reversed(range(centers.shape[1]))), -sizes, luminance]
    return np.lexsort(keys)


def label_map(labels: np.ndarray, mask: np.ndarray | None, shape: tuple[int, int], k: int):
    """Scatter the labels of the clustered pixels into an ``shape`` map, masked elsewhere."""
    dtype = label_dtype(k)
    if mask is None:
        return labels.astype(dtype, copy=False).reshape(shape)
    out = np.full(shape, masked_label(dtype), dtype=dtype)
    out[mask] = labels
    return out


def upscale(
    labels: np.ndarray,
    shape: tuple[int, int],
    factor: int,
    mask: np.ndarray | None,
    *,
    fill: int | None = None,
) -> np.ndarray:
    """A map made on a copy shrunk by ``factor`` (see ``_spatial.shrink``) at full ``shape``;
    pixels outside ``mask`` get ``fill`` (default: the masked label)."""
    big = enlarge(labels, shape, factor)
    if mask is not None:
        big[~mask] = masked_label(labels.dtype) if fill is None else fill
    return big
