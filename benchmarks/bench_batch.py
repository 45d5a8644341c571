"""kmseg batch on BSDS500 photos: one worker, the process pool, a Dask LocalCluster.

    python benchmarks/bench_batch.py [--n 200] [--k 4]

Writes to a temporary folder; prints a markdown table (the Dask row's wall time includes
starting the cluster, shown apart). Every worker is one process on one core. The photos are
the first N of ../shared/data/bsds500/images/train (200 there).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from kmseg.batch import run_batch

BSDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "images"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of the three runs; medians reported (default 3)")
    args = parser.parse_args()
    photos = sorted((BSDS / "train").glob("*.jpg"))[: args.n]
    cores = os.cpu_count() or 1
    runs = (("pool, 1 worker", 1, None), (f"pool, {cores} workers", cores, None),
            (f"Dask LocalCluster, {cores} workers", cores, "local"))
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in runs}
    counts, labels = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeat):  # the runs interleaved: drifts hit all alike
            for name, workers, scheduler in runs:
                out = Path(tmp) / f"{round_}_{name.replace(' ', '_').replace(',', '')}"
                start = time.perf_counter()
                report = run_batch(photos, out, workers=workers, progress=False, k=args.k,
                                   scheduler=scheduler)
                times[name].append((time.perf_counter() - start, report.startup_seconds))
                counts[name] = (len(report.done), len(report.failed))
                labels[name] = {p.stem: np.asarray(Image.open(out / f"{p.stem}_labels.png"))
                                for p in photos}
        first = labels[runs[0][0]]
        same = all(np.array_equal(first[s], other[s]) for other in labels.values() for s in first)
    median = {name: tuple(np.median(np.array(values), axis=0)) for name, values in times.items()}
    base, pool = median[runs[0][0]][0], median[runs[1][0]][0]
    print(f"{len(photos)} BSDS500 train photos, k = {args.k}, default options; median of "
          f"{args.repeat} rounds; labels identical across runs: {same}\n")
    print("| run | wall (s) | of which start-up (s) | all walls (s) | photos / s | speed-up vs "
          "1 worker | time vs the pool | same, start-up excluded | done | failed |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, _, _ in runs:
        seconds, startup = median[name]
        walls = ", ".join(f"{wall:.1f}" for wall, _ in times[name])
        print(f"| {name} | {seconds:.1f} | {startup:.1f} | {walls} | "
              f"{len(photos) / seconds:.2f} | {base / seconds:.2f}x | {seconds / pool:.2f}x | "
              f"{(seconds - startup) / pool:.2f}x | {counts[name][0]} | {counts[name][1]} |")

if __name__ == "__main__":
    main()
