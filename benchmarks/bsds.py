"""Segmentation quality on BSDS500: kmseg's methods against scikit-image's, one parameter set
per method, scored with kmseg.metrics (PRI, VoI in bits, GCE) against every human segmentation.

    python benchmarks/bsds.py                      # the methods table on all 100 val photos
    python benchmarks/bsds.py --split val --n 40   # the first 40
    python benchmarks/bsds.py --search 1 --n 50    # grid search of the first regions preset
                                                   # (k-means patches, before the hierarchy)
    python benchmarks/bsds.py --timing             # the preset on the >= 8 MP corpus photos
    python benchmarks/bsds.py --hierarchy --split train   # the merge hierarchy at every level:
                                                   # ODS / OIS, and the level to fix (train)
    python benchmarks/bsds.py --hierarchy --split val --level 0.53   # that level, on val

Photos are read from ../shared/data/bsds500 next to the repository. Work is spread over a
process pool (--workers, default 2). Markdown goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

import kmseg
from kmseg import metrics

BSDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500"

# The references the issue names, with their published parameter sets.
FELZENSZWALB = {"scale": 500, "sigma": 0.8, "min_size": 500}
SLIC_SEGMENTS = 100


def _kmseg(**params) -> Callable[[np.ndarray], np.ndarray]:
    def run(image: np.ndarray) -> np.ndarray:
        seg = kmseg.segment(image, **params)
        return seg.regions if seg.regions is not None else seg.labels
    return run


def _felzenszwalb(image: np.ndarray) -> np.ndarray:
    from skimage.segmentation import felzenszwalb

    return felzenszwalb(image, **FELZENSZWALB)


def _slic(image: np.ndarray) -> np.ndarray:
    from skimage.segmentation import slic

    return slic(image, n_segments=SLIC_SEGMENTS, start_label=1)


METHODS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    **{f"rgb-k{k}": (f"seed recipe: RGB k-means, k = {k} (clusters as segments)",
                     _kmseg(k=k)) for k in (2, 4, 6, 8)},
    "lab-k4": ("kmseg Lab, k = 4", _kmseg(k=4, space="lab")),
    "lab-xy": ("kmseg Lab + position (10), k = 6", _kmseg(k=6, space="lab", position=10.0)),
    "superpixel": ("kmseg superpixel k-means: 400 SLIC superpixels, Lab + position, k = 6",
                   _kmseg(k=6, space="lab", superpixels=400, position=10.0)),
    "superpixel-fz": ("kmseg superpixel k-means: ~110 Felzenszwalb superpixels, Lab + "
                      "position, k = 8", _kmseg(k=8, space="lab", superpixels=110,
                                                superpixel_method="felzenszwalb",
                                                position=20.0)),
    "regions": ("kmseg regions preset (`regions=True`)", _kmseg(regions=True)),
    "felzenszwalb": ("scikit-image felzenszwalb (scale 500, sigma 0.8, min_size 500)",
                     _felzenszwalb),
    "slic": (f"scikit-image slic (n_segments {SLIC_SEGMENTS})", _slic),
}


def photos(split: str, n: int | None) -> list[tuple[Path, Path]]:
    images = sorted((BSDS / "images" / split).glob("*.jpg"))[:n]
    return [(p, BSDS / "groundTruth" / split / f"{p.stem}.mat") for p in images]


def _score_photo(job: tuple[Path, Path, list]) -> list[tuple[float, float, float, int, float]]:
    """Scores of each method (or parameter set) on one photo: PRI, VoI, GCE, segments, s."""
    image_path, truth_path, runs = job
    image = kmseg.read_image(image_path)
    truths = metrics.read_ground_truth(truth_path)
    rows = []
    for run in runs:
        method = METHODS[run][1] if isinstance(run, str) else _kmseg(**run)
        start = time.perf_counter()
        segmentation = method(image)
        seconds = time.perf_counter() - start
        s = metrics.evaluate(segmentation, truths)
        rows.append((s.pri, s.voi, s.gce, s.n_segments, seconds))
    return rows


def score(jobs_photos: list[tuple[Path, Path]], runs: list, workers: int) -> np.ndarray:
    """(photos, runs, 5) scores."""
    jobs = [(image, truth, runs) for image, truth in jobs_photos]
    results = []
    with ProcessPoolExecutor(workers) as pool:
        for i, rows in enumerate(pool.map(_score_photo, jobs), 1):
            results.append(rows)
            if i % 10 == 0 or i == len(jobs):
                print(f"  {i}/{len(jobs)} photos", file=sys.stderr, flush=True)
    return np.array(results, dtype=np.float64)


def methods_table(split: str, n: int | None, names: list[str], workers: int) -> str:
    chosen = photos(split, n)
    results = score(chosen, names, workers)
    mean = results.mean(axis=0)
    lines = [
        f"BSDS500 {split}, {len(chosen)} photos; scores are means over photos of the mean over "
        "each photo's human segmentations (PRI higher is better, VoI and GCE lower).",
        "",
        "| method | PRI | VoI (bits) | GCE | segments (mean) | s / photo (median) |",
        "|---|---|---|---|---|---|",
    ]
    for j, name in enumerate(names):
        pri, voi, gce, segments, _ = mean[j]
        seconds = float(np.median(results[:, j, 4]))
        lines.append(f"| {METHODS[name][0]} | {pri:.3f} | {voi:.3f} | {gce:.3f} | "
                     f"{segments:.1f} | {seconds:.3f} |")
    return "\n".join(lines)


# The grids the first regions preset (connected patches of k-means labels over superpixels,
# before the merge hierarchy) was chosen from (50 train + 50 val photos, --n 50): stage 1
# (`--search 1`, 36 sets), then stage 2 (`--search 2`) around stage 1's best, which sat at the
# edge of its grid (fewest superpixels).
SEARCH_GRIDS = {
    1: {
        "superpixel_method": ["felzenszwalb"],
        "superpixels": [150, 220, 300],
        "k": [6, 8],
        "position": [10.0, 20.0, 40.0],
        "min_region": [0.005, 0.01],
    },
    2: {
        "superpixel_method": ["felzenszwalb"],
        "superpixels": [80, 110, 150],
        "k": [8, 10],
        "position": [20.0],
        "min_region": [0.0075, 0.01],
    },
}


def search(stage: int, workers: int, n: int | None) -> str:
    chosen = photos("train", n) + photos("val", n)
    grid = SEARCH_GRIDS[stage]
    keys = list(grid)
    runs = [{"space": "lab", **dict(zip(keys, values, strict=True))}
            for values in itertools.product(*grid.values())]
    results = score(chosen, runs, workers)
    mean = results.mean(axis=0)
    # One number to rank by: PRI gained and VoI lost against Felzenszwalb on val (0.772 / 2.086),
    # VoI's range being ~10x PRI's.
    ranking = np.argsort(-(mean[:, 0] - 0.1 * mean[:, 1]), kind="stable")
    lines = [f"Grid search on BSDS500 train + val ({len(chosen)} photos), ranked by "
             "PRI - 0.1 x VoI:", "",
             "| " + " | ".join(keys) + " | PRI | VoI | segments |",
             "|" + "---|" * (len(keys) + 3)]
    for j in ranking[:15]:
        lines.append("| " + " | ".join(str(runs[j][key]) for key in keys) +
                     f" | {mean[j, 0]:.4f} | {mean[j, 1]:.4f} | {mean[j, 3]:.1f} |")
    return "\n".join(lines)


def timing(repeat: int = 3) -> str:
    """Seconds of ``kmseg.segment(photo, regions=True)`` on each large photo, decode excluded
    (median of ``repeat`` runs after one warm-up), with kmseg's own stage timings, and of
    saving its outputs once (what ``kmseg segment --regions`` writes, JSON report included)."""
    import tempfile

    folder = BSDS.parent / "corpus" / "large"
    lines = ["| photo | MP | decode (s) | regions preset (s) | features / cluster / labels (s) | "
             "regions | save (s) |",
             "|---|---|---|---|---|---|---|"]
    for path in sorted(folder.glob("*.jp*g")):
        start = time.perf_counter()
        image = kmseg.read_image(path)
        decode = time.perf_counter() - start
        kmseg.segment(image[:200, :200], regions=True)  # warm-up: imports, compiled kernels
        runs = []
        for _ in range(repeat):
            start = time.perf_counter()
            seg = kmseg.segment(image, regions=True)
            runs.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as outdir:
            start = time.perf_counter()
            seg.save(outdir)
            save = time.perf_counter() - start
        megapixels = image.shape[0] * image.shape[1] / 1e6
        lines.append(f"| {path.name} | {megapixels:.1f} | {decode:.2f} | "
                     f"{float(np.median(runs)):.2f} | {seg.timings['features']:.2f} / "
                     f"{seg.timings['cluster']:.2f} / {seg.timings['labels']:.2f} | "
                     f"{seg.n_regions} | {save:.2f} |")
        print(f"  {path.name}: {float(np.median(runs)):.2f} s", file=sys.stderr, flush=True)
    return "\n".join(lines)


# Levels the hierarchy is cut at (its UCM's values lie in [0, 1)).
LEVELS = np.round(np.arange(0.30, 0.801, 0.01), 2)
MEASURES = ("PRI", "VoI", "GCE", "covering")
_BETTER_HIGH = (True, False, False, True)
# The bound on VoI (bits): the preset's level is the best PRI among the levels under it.
VOI_BOUND = 1.80


def level_index(pri: np.ndarray, voi: np.ndarray) -> int:
    """The index of the level to fix, from the mean PRI and VoI of each level's cuts: the
    best PRI among the levels whose VoI is at most :data:`VOI_BOUND` (PRI is the measure the
    preset falls short on; a level past the VoI bound over-splits), else the lowest VoI."""
    within = voi <= VOI_BOUND
    if not within.any():
        return int(np.argmin(voi))
    return int(np.argmax(np.where(within, pri, -np.inf)))


def _hierarchy_photo(job: tuple[Path, Path, dict]) -> tuple[np.ndarray, np.ndarray, float]:
    """One photo: (levels, 5) scores of the hierarchy's cuts (PRI, VoI, GCE, covering,
    segments), (2, 5) of the regions preset and Felzenszwalb, and the hierarchy's seconds."""
    image_path, truth_path, params = job
    image = kmseg.read_image(image_path)
    truths = metrics.read_ground_truth(truth_path)
    start = time.perf_counter()
    ucm = kmseg.regions.hierarchy(image, **params)
    seconds = time.perf_counter() - start

    def scored(segmentation: np.ndarray) -> list[float]:
        s = metrics.evaluate(segmentation, truths)
        return [s.pri, s.voi, s.gce, s.covering, s.n_segments]

    cuts = np.array([scored(kmseg.regions.cut(ucm, level)) for level in LEVELS])
    references = np.array([scored(METHODS[name][1](image)) for name in ("regions",
                                                                          "felzenszwalb")])
    return cuts, references, seconds


def hierarchy_table(split: str, n: int | None, workers: int, level: float | None,
                    params: dict) -> str:
    """ODS (one level for the split, per measure, as the BSDS benchmark), OIS (the best level
    per photo, for comparison only), and one level for all measures: ``level``, or the one
    :func:`level_index` picks on this split (how the preset's level is chosen on train)."""
    chosen = photos(split, n)
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(_hierarchy_photo, [(*photo, params) for photo in chosen]))
    cuts = np.array([r[0] for r in results])  # (photos, levels, 5)
    references = np.array([r[1] for r in results]).mean(axis=0)
    mean = cuts.mean(axis=0)
    if level is None:
        at = level_index(mean[:, 0], mean[:, 1])
    else:
        at = int(np.argmin(np.abs(LEVELS - level)))
    best = [np.argmax if high else np.argmin for high in _BETTER_HIGH]
    ods = [mean[pick(mean[:, m]), m] for m, pick in enumerate(best)]
    ois = [np.mean([photo[pick(photo[:, m]), m] for photo in cuts])
           for m, pick in enumerate(best)]
    # GCE is lowest for the finest cut (every pixel its own region): no ODS / OIS of it.
    ods[2] = ois[2] = float("nan")
    lines = [f"BSDS500 {split}, {len(chosen)} photos, hierarchy {params or 'defaults'}; means "
             "over photos of the mean over each photo's human segmentations.", "",
             "| method | PRI | VoI (bits) | GCE | covering | segments (mean) |",
             "|---|---|---|---|---|---|",
             f"| hierarchy cut at level {LEVELS[at]:.2f} (one level, every measure) | "
             + " | ".join(f"{v:.3f}" for v in mean[at, :4]) + f" | {mean[at, 4]:.1f} |",
             "| hierarchy, ODS (the best level of the split, per measure) | "
             + " | ".join(_cell(v) for v in ods) + " | |",
             "| hierarchy, OIS (the best level per photo, per measure) | "
             + " | ".join(_cell(v) for v in ois) + " | |"]
    for row, name in zip(references, ("regions", "felzenszwalb"), strict=True):
        lines.append(f"| {METHODS[name][0]} | " + " | ".join(f"{v:.3f}" for v in row[:4])
                     + f" | {row[4]:.1f} |")
    seconds = [r[2] for r in results]
    lines += ["", f"Hierarchy: median {np.median(seconds):.2f} s, max {np.max(seconds):.2f} s "
              "per photo (2 photos at once on the 2 cores).", "",
              "| level | PRI | VoI | GCE | covering | segments |", "|---|---|---|---|---|---|"]
    lines += [f"| {lv:.2f} | " + " | ".join(f"{v:.4f}" for v in row[:4]) + f" | {row[4]:.1f} |"
              for lv, row in zip(LEVELS, mean, strict=True) if abs(lv - LEVELS[at]) <= 0.1]
    return "\n".join(lines)


def _cell(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val", choices=("train", "val"))
    parser.add_argument("--n", type=int, default=None, help="first N photos (default: all)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--search", type=int, choices=sorted(SEARCH_GRIDS), metavar="STAGE",
                        help="grid search of the first regions preset, train + val (stage 1 or 2)")
    parser.add_argument("--timing", action="store_true",
                        help="time the regions preset on the large corpus photos")
    parser.add_argument("--hierarchy", action="store_true",
                        help="score kmseg.regions.hierarchy cut at every level (ODS / OIS)")
    parser.add_argument("--level", type=float, default=None,
                        help="with --hierarchy: the one level to report (default: the best "
                             "PRI of the split with VoI at most 1.80)")
    parser.add_argument("--params", default="{}",
                        help="with --hierarchy: JSON keyword arguments of hierarchy()")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    if not BSDS.is_dir():
        sys.exit(f"{BSDS} is absent: the BSDS500 data sets live beside the repository")
    start = time.perf_counter()
    if args.timing:
        print(timing())
    elif args.hierarchy:
        print(hierarchy_table(args.split, args.n, args.workers, args.level,
                              json.loads(args.params)))
    elif args.search:
        print(search(args.search, args.workers, args.n))
    else:
        print(methods_table(args.split, args.n, args.methods, args.workers))
    print(f"\n({time.perf_counter() - start:.0f} s, {args.workers} workers, "
          f"os.cpu_count() = {os.cpu_count()})", file=sys.stderr)


if __name__ == "__main__":
    main()
