"""kmseg batch on BSDS500 photos: one worker, the process pool, a Dask LocalCluster.

    python benchmarks/bench_batch.py [--n 200] [--k 4] [--repeat 5]

Every run is a fresh Python process, as a ``kmseg batch`` command is: a run that follows
another in the same process would find its imports done, its compiled kernels loaded and, after
a Dask run, the cluster's threads still alive in the parent it forks its workers from. Two
times per run: the ``run_batch`` call (what the bars are about), and the whole process (with
the interpreter's start and kmseg's imports, what a user of the command waits). Writes to a
temporary folder; prints a markdown table (the Dask row's start-up, the cluster and its
workers' imports and kernels, is shown apart). Every worker is one process on one core. The
photos are the first N of ../shared/data/bsds500/images/train (200 there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

BSDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "images"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds of the three runs; medians reported (default 5)")
    parser.add_argument("--one", nargs=3, metavar=("WORKERS", "SCHEDULER", "OUTDIR"),
                        help=argparse.SUPPRESS)  # one run, in the child process
    args = parser.parse_args()
    photos = sorted((BSDS / "train").glob("*.jpg"))[: args.n]
    if args.one:
        _one_run(photos, args.k, *args.one)
        return
    cores = os.cpu_count() or 1
    runs = (("pool, 1 worker", 1, "none"), (f"pool, {cores} workers", cores, "none"),
            (f"Dask LocalCluster, {cores} workers", cores, "local"))
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in runs}
    counts, labels = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeat):  # the runs interleaved: drifts hit all alike
            for name, workers, scheduler in runs:
                out = Path(tmp) / f"{round_}_{name.replace(' ', '_').replace(',', '')}"
                command = [sys.executable, __file__, "--n", str(args.n), "--k", str(args.k),
                           "--one", str(workers), scheduler, str(out)]
                start = time.perf_counter()
                child = subprocess.run(command, capture_output=True, text=True, check=True)
                process = time.perf_counter() - start
                result = json.loads(child.stdout.splitlines()[-1])
                times[name].append((result["wall"], result["startup"], process))
                counts[name] = (result["done"], result["failed"])
                labels[name] = {p.stem: np.asarray(Image.open(out / f"{p.stem}_labels.png"))
                                for p in photos}
        first = labels[runs[0][0]]
        same = all(np.array_equal(first[s], other[s]) for other in labels.values() for s in first)
    _print_table(runs, times, counts, len(photos), args, same)


def _one_run(photos: list[Path], k: int, workers: str, scheduler: str, outdir: str) -> None:
    from kmseg.batch import run_batch

    start = time.perf_counter()
    report = run_batch(photos, outdir, workers=int(workers), progress=False, k=k,
                       scheduler=None if scheduler == "none" else scheduler)
    print(json.dumps({"wall": time.perf_counter() - start, "startup": report.startup_seconds,
                      "done": len(report.done), "failed": len(report.failed)}))


def _print_table(runs, times, counts, n_photos, args, same) -> None:
    median = {name: np.median(np.array(values), axis=0) for name, values in times.items()}
    base, pool = median[runs[0][0]], median[runs[1][0]]
    print(f"{n_photos} BSDS500 train photos, k = {args.k}, default options; each run a fresh "
          f"process; median of {args.repeat} rounds; labels identical across runs: {same}\n")
    print("| run | batch wall (s) | of which start-up (s) | all batch walls (s) | photos / s | "
          "speed-up vs 1 worker | time vs the pool | same, start-up excluded | whole process "
          "(s) | process speed-up vs 1 worker | process time vs the pool | done | failed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, _, _ in runs:
        wall, startup, process = median[name]
        walls = ", ".join(f"{w:.2f}" for w, _, _ in times[name])
        print(f"| {name} | {wall:.2f} | {startup:.2f} | {walls} | {n_photos / wall:.1f} | "
              f"{base[0] / wall:.2f}x | {wall / pool[0]:.2f}x | "
              f"{(wall - startup) / pool[0]:.2f}x | {process:.2f} | {base[2] / process:.2f}x | "
              f"{process / pool[2]:.2f}x | {counts[name][0]} | {counts[name][1]} |")
    # Ratios within a round (its runs back to back) cancel the VM's drifts from round to round.
    one, two, dask = (np.array([wall for wall, _, _ in times[name]]) for name, _, _ in runs)
    for label, ratios in ((f"{runs[1][0]} speed-up vs 1 worker", one / two),
                          (f"{runs[2][0]} time vs the pool", dask / two)):
        print(f"\n- per round, {label}: {', '.join(f'{r:.2f}' for r in ratios)} "
              f"(median {np.median(ratios):.2f}x)", end="")
    print()


if __name__ == "__main__":
    main()
