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
    args = parser.parse_args()
    photos = sorted((BSDS / "train").glob("*.jpg"))[: args.n]
    rows, labels = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        cores = os.cpu_count() or 1
        for name, workers, scheduler in (("pool, 1 worker", 1, None),
                                         (f"pool, {cores} workers", cores, None),
                                         (f"Dask LocalCluster, {cores} workers", cores,
                                          "local")):
            out = Path(tmp) / name.replace(" ", "_").replace(",", "")
            start = time.perf_counter()
            report = run_batch(photos, out, workers=workers, progress=False, k=args.k,
                               scheduler=scheduler)
            seconds = time.perf_counter() - start
            labels[name] = {p.stem: np.asarray(Image.open(out / f"{p.stem}_labels.png"))
                            for p in photos}
            rows.append((name, seconds, report.startup_seconds, len(report.done),
                         len(report.failed)))
        first = labels[rows[0][0]]
        same = all(np.array_equal(first[s], other[s]) for other in labels.values() for s in first)
    base = rows[0][1]
    print(f"{len(photos)} BSDS500 train photos, k = {args.k}, default options; "
          f"labels identical across runs: {same}\n")
    print("| run | wall (s) | of which start-up (s) | photos / s | speed-up vs 1 worker | "
          "time vs the pool | same, start-up excluded | done | failed |")
    print("|---|---|---|---|---|---|---|---|---|")
    pool = rows[1][1]
    for name, seconds, startup, done, failed in rows:
        print(f"| {name} | {seconds:.1f} | {startup:.1f} | {len(photos) / seconds:.2f} | "
              f"{base / seconds:.2f}x | {seconds / pool:.2f}x | "
              f"{(seconds - startup) / pool:.2f}x | {done} | {failed} |")


if __name__ == "__main__":
    main()
