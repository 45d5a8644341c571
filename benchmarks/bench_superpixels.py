"""Superpixel k-means on BSDS500: agreement with pixel k-means, and boundary recall.

    python benchmarks/bench_superpixels.py            # all 100 val photos (a few minutes)
    python benchmarks/bench_superpixels.py --limit 10 # the first 10
    python benchmarks/bench_superpixels.py --split train --compactness 10 13 15 17 20
                                                      # how kmseg's SLIC compactness was chosen

For every photo, k = 6 and 400 superpixels asked:

- kmseg default: ``kmseg.segment(photo, k=6, superpixels=400)`` (SLIC, RGB k-means of the
  superpixels' mean colours weighted by size);
- scikit-image SLIC + k-means: ``slic(photo, n_segments=400, compactness=10, start_label=0)``,
  then the same features (mean RGB of each superpixel, weighted by its pixel count) clustered by
  scikit-learn's ``KMeans(6, n_init=10, random_state=0)`` and, to tell superpixels apart from
  engines, by kmseg's own weighted k-means;
- kmseg Felzenszwalb: ``superpixel_method="felzenszwalb"`` (same call otherwise).

Columns: the adjusted Rand index of the labels against plain pixel k-means,
``kmseg.segment(photo, k=6).labels`` (``sklearn.metrics.adjusted_rand_score``); the boundary
recall of the superpixels: the share of the human boundary pixels (pixels whose right or lower
neighbour is in another segment) lying within 2 px (Euclidean) of a superpixel boundary pixel
(same definition), over each annotator, then the photo; the mean number of superpixels; the
mean wall time per photo after decoding (the pixel k-means not included); the photos where the
ARI is at least the scikit-image + scikit-learn reference's. Means over photos.
Photos are read from ../shared/data/bsds500 next to the repository. Markdown to stdout,
progress to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.segmentation import slic
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

import kmseg
from kmseg import _compress, _samples
from kmseg._kmeans import kmeans
from kmseg.metrics import read_ground_truth

BSDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500"
K = 6
N_SEGMENTS = 400
TOLERANCE = 2.0  # pixels, boundary recall

# A method maps a photo to (labels, superpixel map), both (M, N).
Method = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@contextlib.contextmanager
def _recorded_superpixels() -> Iterator[list[np.ndarray]]:
    """The superpixel id of every clustered pixel, for each superpixel computation that
    kmseg.segment makes meanwhile (kmseg keeps no superpixel map in its result)."""
    maps: list[np.ndarray] = []
    original = _samples.superpixels

    def recording(*args, **kwargs):
        compressed = original(*args, **kwargs)
        maps.append(compressed.inverse)
        return compressed

    _samples.superpixels = recording
    try:
        yield maps
    finally:
        _samples.superpixels = original


@contextlib.contextmanager
def _slic_compactness(value: float | None) -> Iterator[None]:
    """kmseg's SLIC compactness (Lab units per grid step) set to ``value`` meanwhile."""
    original = _compress._SLIC_COMPACTNESS
    _compress._SLIC_COMPACTNESS = original if value is None else value
    try:
        yield
    finally:
        _compress._SLIC_COMPACTNESS = original


def _kmseg(compactness: float | None = None, **params) -> Method:
    def run(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with _recorded_superpixels() as maps, _slic_compactness(compactness):
            labels = kmseg.segment(image, k=K, superpixels=N_SEGMENTS, **params).labels
        return labels, maps[-1].reshape(image.shape[:2])  # no mask, no working copy at 0.15 MP
    return run


def _skimage_slic(engine: str) -> Method:
    def run(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        segments = slic(image, n_segments=N_SEGMENTS, compactness=10, start_label=0)
        ids = segments.ravel()
        counts = np.bincount(ids).astype(np.float64)
        means = np.stack([np.bincount(ids, weights=channel, minlength=len(counts))
                          for channel in image.reshape(-1, 3).T.astype(np.float64)], axis=1)
        means = np.ascontiguousarray(means / counts[:, None])
        if engine == "sklearn":
            labels = KMeans(K, n_init=10, random_state=0).fit(means, sample_weight=counts).labels_
        else:
            labels = kmeans(means, K, sample_weight=counts, rng=np.random.default_rng(0)).labels
        return labels[segments], segments
    return run


REFERENCE = "scikit-image `slic(n_segments=400, compactness=10)` + sklearn KMeans"
METHODS: dict[str, Method] = {
    "kmseg default (`superpixels=400`, SLIC)": _kmseg(),
    REFERENCE: _skimage_slic("sklearn"),
    "scikit-image `slic(n_segments=400, compactness=10)` + kmseg k-means": _skimage_slic(
        "kmseg"),
    "kmseg Felzenszwalb (`superpixel_method=\"felzenszwalb\"`)": _kmseg(
        superpixel_method="felzenszwalb"),
}


def boundaries(segments: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour lies in another segment."""
    edge = np.zeros(segments.shape, dtype=bool)
    edge[:, :-1] |= segments[:, :-1] != segments[:, 1:]
    edge[:-1, :] |= segments[:-1, :] != segments[1:, :]
    return edge


def boundary_recall(segments: np.ndarray, truths: list[np.ndarray]) -> float:
    """Share of the human boundary pixels within TOLERANCE of a superpixel boundary, averaged
    over the human segmentations."""
    near = ndimage.distance_transform_edt(~boundaries(segments)) <= TOLERANCE
    return float(np.mean([near[boundaries(truth)].mean() for truth in truths]))


def run(methods: dict[str, Method], split: str, limit: int | None) -> str:
    """The table for the first ``limit`` photos of ``split`` (``methods`` include REFERENCE)."""
    photos = sorted((BSDS / "images" / split).glob("*.jpg"))[:limit]
    if not photos:
        sys.exit(f"no BSDS500 {split} photo in {BSDS / 'images' / split}")
    sample = kmseg.read_image(kmseg.data.sample_path())[::4, ::4]
    for method in methods.values():  # imports, compiled kernels
        method(np.ascontiguousarray(sample))
    rows: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name in methods}
    for i, path in enumerate(photos, 1):
        image = kmseg.read_image(path)
        truths = read_ground_truth(BSDS / "groundTruth" / split / f"{path.stem}.mat")
        pixel_labels = kmseg.segment(image, k=K).labels.ravel()
        for name, method in methods.items():
            start = time.perf_counter()
            labels, segments = method(image)
            seconds = time.perf_counter() - start
            rows[name].append((adjusted_rand_score(pixel_labels, labels.ravel()),
                               boundary_recall(segments, truths), len(np.unique(segments)),
                               seconds))
        print(f"  {i}/{len(photos)} {path.name}", file=sys.stderr, flush=True)
    return _table(rows, f"BSDS500 {split}, {len(photos)} photos")


def _table(rows: dict[str, list[tuple[float, float, int, float]]], title: str) -> str:
    """Means over photos; the last column counts the photos where a method's ARI is at least
    the scikit-image reference's."""
    reference = np.array(rows[REFERENCE])[:, 0]
    lines = [f"{title}, k = {K}, {N_SEGMENTS} superpixels asked", "",
             "| method | ARI vs pixel k-means | boundary recall (2 px) | superpixels (mean) "
             "| s/photo | photos with ARI >= reference |", "|---|---|---|---|---|---|"]
    for name, values in rows.items():
        ari, recall, count, seconds = np.array(values).T
        wins = "" if name == REFERENCE else f"{int(np.sum(ari >= reference))} of {len(ari)}"
        lines.append(f"| {name} | {ari.mean():.3f} | {recall.mean():.3f} | {count.mean():.0f} "
                     f"| {seconds.mean():.3f} | {wins} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="only the first N photos (default all: 100 val, 200 train)")
    parser.add_argument("--split", default="val", choices=("val", "train"))
    parser.add_argument("--compactness", type=float, nargs="+", metavar="C",
                        help="instead of the methods: kmseg's default at each SLIC compactness "
                             "(Lab units per grid step), then the scikit-image reference")
    args = parser.parse_args()
    methods = METHODS
    if args.compactness:
        methods = {f"kmseg SLIC, compactness {c:g}": _kmseg(compactness=c)
                   for c in args.compactness}
        methods[REFERENCE] = METHODS[REFERENCE]
    print(run(methods, args.split, args.limit))


if __name__ == "__main__":
    main()
