"""kmseg.choose_k: what it recommends on BSDS500 photos, and how long k = 2..16 takes on 12 MP.

    python benchmarks/bench_choose_k.py            # both parts
    python benchmarks/bench_choose_k.py --bsds 20  # the first 20 val photos only
    python benchmarks/bench_choose_k.py --large    # the >= 8 MP photos, cropped to 12 MP

Times exclude decoding; each process first runs choose_k on a small image (imports, compiled
kernels). Markdown to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import kmseg

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TWELVE_MP = (3000, 4000)


def _warm_up() -> None:
    kmseg.choose_k(kmseg.read_image(kmseg.data.sample_path())[::4, ::4], ks=(2, 3))


def bsds(n: int) -> str:
    photos = sorted((SHARED / "bsds500" / "images" / "val").glob("*.jpg"))[:n]
    lines = ["| photo | recommended k | knee | best silhouette | PSNR (dB) | SSE / pixel | "
             "mean dE2000 | time (s) |", "|---|---|---|---|---|---|---|---|"]
    rows = []
    for path in photos:
        image = kmseg.read_image(path)
        start = time.perf_counter()
        choice = kmseg.choose_k(image)
        seconds = time.perf_counter() - start
        i = list(choice.ks).index(choice.k)
        pixels = image.shape[0] * image.shape[1]
        per_pixel = choice.compactness[i] / pixels
        rows.append((choice.psnr[i], per_pixel, choice.mean_delta_e[i], seconds,
                     choice.agree, choice.k))
        lines.append(f"| {path.stem} | {choice.k} | {choice.knee} | {choice.best_silhouette} | "
                     f"{choice.psnr[i]:.2f} | {per_pixel:.1f} | "
                     f"{choice.mean_delta_e[i]:.2f} | {seconds:.2f} |")
        print(f"  {path.name}: k={choice.k} ({seconds:.2f} s)", file=sys.stderr, flush=True)
    psnr, sse, delta_e, seconds, agree, ks = (np.array(column) for column in zip(*rows,
                                                                                 strict=True))
    lines.append(f"| **mean of {len(rows)}** | {ks.mean():.1f} (median {np.median(ks):.0f}) | | "
                 f"agree on {int(agree.sum())} | {psnr.mean():.2f} | {sse.mean():.1f} | "
                 f"{delta_e.mean():.2f} | median {np.median(seconds):.2f} |")
    return "\n".join(lines)


def large(repeat: int = 3) -> str:
    lines = ["| photo | size | choose_k, k = 2..16 (s) | recommended k |", "|---|---|---|---|"]
    for path in sorted((SHARED / "corpus" / "large").glob("*.jp*g")):
        full = kmseg.read_image(path)
        rows, cols = full.shape[:2]
        top, left = (rows - TWELVE_MP[0]) // 2, (cols - TWELVE_MP[1]) // 2
        for label, image in (("12.0 MP centre crop", full[top:top + TWELVE_MP[0],
                                                           left:left + TWELVE_MP[1]]),
                             (f"{rows * cols / 1e6:.1f} MP full", full)):
            image = np.ascontiguousarray(image)
            runs = []
            for _ in range(repeat):
                start = time.perf_counter()
                choice = kmseg.choose_k(image)
                runs.append(time.perf_counter() - start)
            lines.append(f"| {path.name} | {label} | {float(np.median(runs)):.2f} | "
                         f"{choice.k} |")
            print(f"  {path.name} {label}: {float(np.median(runs)):.2f} s", file=sys.stderr,
                  flush=True)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bsds", type=int, nargs="?", const=20, default=None)
    parser.add_argument("--large", action="store_true")
    args = parser.parse_args()
    both = args.bsds is None and not args.large
    _warm_up()
    if args.bsds is not None or both:
        print(f"### BSDS500 val, first {args.bsds or 20} photos, k = 2..16\n")
        print(bsds(args.bsds or 20))
    if args.large or both:
        print("\n### Large photos: choose_k for k = 2..16 (median of 3 runs)\n")
        print(large())


if __name__ == "__main__":
    main()
