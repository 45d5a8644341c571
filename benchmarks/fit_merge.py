"""Fit the merge model of kmseg's hierarchy on BSDS500's training photos.

    python benchmarks/fit_merge.py            # fit on all 200 train photos; prints the
                                              # weights to paste into kmseg/_hierarchy.py
    python benchmarks/fit_merge.py --check    # fit on one half of train, score the other half
                                              # (both ways): the model against the hand-made
                                              # dissimilarity it replaced, photo by photo
    python benchmarks/fit_merge.py --check --save A.npy   # also keep the per-photo scores, to
                                              # compare two variants photo by photo (--compare)
    python benchmarks/fit_merge.py --compare A.npy B.npy  # B's model minus A's, paired

Every pair of adjacent regions the merging weighs is an example: its features, and how likely
its two regions are two regions of a human segmentation: one minus the chance that a pixel of
one and a pixel of the other share a segment, averaged over the photo's human segmentations
(merging the pair turns exactly those pixel pairs into "same region", which is what PRI
scores). An example weighs the square root of its share of the photo's pixel pairs, so large
merges count most without drowning the small ones that shape them. The first round merges
with the hand-made dissimilarity; the second merges with the first round's model (the pairs a
model meets are not those the hand-made order meets) and fits on the examples of both.

Only train is read. Work is spread over a process pool (--workers, default 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from bsds import LEVELS, level_index, photos

import kmseg
from kmseg import _hierarchy, metrics

_HANDMADE = 5  # the feature column log(1 + hand-made dissimilarity)
# Which of kmseg._hierarchy._features are differences between the two regions (their weights
# are kept at or above 0); the others (sizes, border length, regions left, texture) are free.
RISING = (False, False, False, True, False, True, False, False, True, False, False, True,
          True, True, True)


def _graph(image_path: Path, truth_path: Path):
    """The photo's superpixel graph, with each human segmentation's segment counts appended to
    the superpixel statistics (summed as regions merge), and the number of segmentations."""
    rgb, full_scale = _hierarchy._rgb(kmseg.read_image(image_path))
    start, edges, edge_of_pair, statistics = _hierarchy._superpixel_graph(
        _hierarchy._lab(rgb / full_scale), 600)
    truths = metrics.read_ground_truth(truth_path)
    counts = []
    for truth in truths:
        _, segment = np.unique(truth, return_inverse=True)
        k = int(segment.max()) + 1
        counts.append(np.bincount(start.ravel() * k + segment.ravel(),
                                  minlength=(int(start.max()) + 1) * k).reshape(-1, k))
    return start, edges, edge_of_pair, np.column_stack([statistics, *counts]), len(truths)


def _examples(job: tuple[Path, Path, tuple[np.ndarray, float] | None]):
    """``(features, boundary target, weight)`` of every pair weighed while merging one photo
    with ``model`` (weights, bias), or with the hand-made dissimilarity when it is None."""
    image_path, truth_path, model = job
    _, edges, _, statistics, n_truths = _graph(image_path, truth_path)
    pixels = float(statistics[:, :_hierarchy._N_BINS].sum())
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def observe(features: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
        first = _hierarchy._N_STATISTICS
        left_size = left[:, :_hierarchy._N_BINS].sum(axis=1)
        right_size = right[:, :_hierarchy._N_BINS].sum(axis=1)
        same = ((left[:, first:] * right[:, first:]).sum(axis=1)
                / (n_truths * left_size * right_size))
        rows.append((features, 1.0 - same, np.sqrt(left_size * right_size) / pixels))

    _hierarchy._merge(edges, statistics, _weigh(model), observe)
    return tuple(np.concatenate(column) for column in zip(*rows, strict=True))


def _weigh(model: tuple[np.ndarray, float] | None):
    if model is None:
        return lambda features: features[:, _HANDMADE]
    weights, bias = model
    return lambda features: _hierarchy._boundary_probability(features, weights, bias)


def _fit(examples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, float]:
    """Weighted logistic regression on soft targets, on standardised features, with the
    weights of the difference cues (:data:`RISING`) kept at or above 0: a pair whose colours,
    histograms or border differ more is never likelier to merge. Unconstrained, the fit gave
    the Lab distance a negative weight (it leant on the histograms instead) and merged a blue
    square into a green one. scikit-learn's LogisticRegression takes no bounds on the weights,
    so the loss is minimised by SciPy's L-BFGS-B. Raw weights back."""
    from scipy.optimize import minimize

    features, target, weight = (np.concatenate(c) for c in zip(*examples, strict=True))
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-12
    design = np.column_stack([(features - mean) / scale, np.ones(len(features))])
    weight = weight / weight.sum()

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = design @ beta
        value = float(weight @ (np.logaddexp(0.0, z) - target * z))
        return value, design.T @ (weight * (1.0 / (1.0 + np.exp(-z)) - target))

    bounds = [(0.0, None) if rising else (None, None) for rising in RISING] + [(None, None)]
    beta = minimize(loss, np.zeros(design.shape[1]), jac=True, method="L-BFGS-B",
                    bounds=bounds, options={"maxiter": 5000}).x
    weights = beta[:-1] / scale
    return weights, float(beta[-1] - weights @ mean)


def fit(chosen: list[tuple[Path, Path]], workers: int) -> tuple[np.ndarray, float]:
    with ProcessPoolExecutor(workers) as pool:
        first = list(pool.map(_examples, [(*photo, None) for photo in chosen]))
        model = _fit(first)
        print(f"  round 1 fitted on {len(chosen)} photos", file=sys.stderr, flush=True)
        second = list(pool.map(_examples, [(*photo, model) for photo in chosen]))
    return _fit(first + second)


def _scores(job: tuple[Path, Path, tuple[np.ndarray, float]]) -> np.ndarray:
    """(2, levels, 2) PRI and VoI of the cuts of the hand-made hierarchy and the model's."""
    image_path, truth_path, model = job
    start, edges, edge_of_pair, statistics, _ = _graph(image_path, truth_path)
    truths = metrics.read_ground_truth(truth_path)
    rows = []
    # The hand-made hierarchy stored its dissimilarity h as the level h / (h + 100).
    for weigh in (lambda f: 1.0 - 100.0 / (np.expm1(f[:, _HANDMADE]) + 100.0), _weigh(model)):
        ucm = _hierarchy._ucm2(start, edge_of_pair, _hierarchy._merge(edges, statistics, weigh))
        rows.append([(s.pri, s.voi) for s in (metrics.evaluate(kmseg.regions.cut(ucm, level),
                                                                truths) for level in LEVELS)])
    return np.array(rows)


def check(workers: int, save: Path | None) -> str:
    """Two-fold check on train: fit on the even photos, score the odd ones, and back."""
    chosen = photos("train", None)
    halves = (chosen[0::2], chosen[1::2])
    results = []
    for fitted_on, scored_on in ((0, 1), (1, 0)):
        model = fit(halves[fitted_on], workers)
        with ProcessPoolExecutor(workers) as pool:
            results.append(np.array(list(pool.map(
                _scores, [(*photo, model) for photo in halves[scored_on]]))))
    lines = ["Two-fold check on BSDS500 train (fit on one half, score the other, each half's "
             "level chosen on the half fitted on: its best PRI with VoI at most 1.80).", "",
             "| scored half | order | level | PRI | VoI |", "|---|---|---|---|---|"]
    gains = []
    for name, scored, other in (("odd", *results), ("even", *results[::-1])):
        picked = []
        for order, label in enumerate(("hand-made dissimilarity", "merge model")):
            at = _level_chosen_on(other, order)
            pri, voi = scored[:, order, at, 0], scored[:, order, at, 1]
            picked.append(pri)
            lines.append(f"| {name} | {label} | {LEVELS[at]:.2f} | {pri.mean():.4f} | "
                         f"{voi.mean():.3f} |")
        gains.append(picked[1] - picked[0])
    gain = np.concatenate(gains)
    if save is not None:
        np.save(save, np.concatenate(results))
    lines += ["", f"PRI, model minus hand-made, per photo: mean {gain.mean():+.4f}, "
              f"standard error {gain.std(ddof=1) / np.sqrt(len(gain)):.4f}, median "
              f"{np.median(gain):+.4f}."]
    return "\n".join(lines)


def _level_chosen_on(scores: np.ndarray, order: int) -> int:
    """The index of the level :func:`bsds.level_index` picks from ``order``'s cuts."""
    mean = scores[:, order].mean(axis=0)
    return level_index(mean[:, 0], mean[:, 1])


def _picked(scores: np.ndarray) -> np.ndarray:
    """PRI of the model's order per photo of a saved check (odd half, then even),
    each half at the level chosen on the other."""
    halves = (scores[:len(scores) // 2], scores[len(scores) // 2:])
    picked = []
    for scored, other in (halves, halves[::-1]):
        at = _level_chosen_on(other, 1)
        picked.append(scored[:, 1, at, 0])
    return np.concatenate(picked)


def compare(first: Path, second: Path) -> str:
    """Two saved checks, photo by photo: the second variant's model minus the first's."""
    gain = _picked(np.load(second)) - _picked(np.load(first))
    return (f"PRI per photo, {second} minus {first}: mean {gain.mean():+.4f}, "
            f"standard error {gain.std(ddof=1) / np.sqrt(len(gain)):.4f}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="two-fold check on train halves instead of the final fit")
    parser.add_argument("--save", type=Path, help="with --check: keep per-photo scores (.npy)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"),
                        help="compare two checks saved with --save, photo by photo")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    if args.compare:
        print(compare(*args.compare))
        return
    if args.check:
        print(check(args.workers, args.save))
        return
    weights, bias = fit(photos("train", None), args.workers)
    print("_MERGE_WEIGHTS = np.array([" + ", ".join(f"{w:.6g}" for w in weights) + "])")
    print(f"_MERGE_BIAS = {bias:.6g}")


if __name__ == "__main__":
    main()
