"""Float images: as fast as uint8, and continuous floats within 0.1 % of every pixel's SSE.

For each photo (decoded once, outside the timings) this times ``kmseg.segment`` (k-means++,
default attempts, RGB) on

* the uint8 pixels;
* ``pixels / 255.0`` (float64, what a tutorial's normalisation gives): the histogram finds
  the 8-bit codes again, so the labels must be the uint8 ones, bit for bit (also checked for
  ``pixels.astype(np.float32) / 255``);
* continuous float32: ``(pixels + U(-0.5, 0.5)) / 255``, a dequantised photo whose values
  are not codes, clustered through the binned histogram. Its SSE is computed on every pixel
  (labels and centres of the segmentation) and divided by the SSE of the same engine run on
  every pixel, no histogram (``kmseg._kmeans.kmeans`` on all ``n`` points, same seed and
  attempts; its inertia is the SSE of every pixel).

Rounds are interleaved (uint8, float64, float32 in turn) and each time is the median of the
rounds; the ratio is the median of the per-round ratios float64 / uint8. Every kind is run once
on a small crop first (imports done).

Usage, from the repository root::

    .venv/bin/python benchmarks/bench_float.py                 # 3 large corpus photos, k = 4
    .venv/bin/python benchmarks/bench_float.py --k 8 --rounds 7 PHOTO.jpg ...

Markdown goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import kmseg
from kmseg._compress import histogram
from kmseg._kmeans import kmeans

LARGE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpus" / "large"
DEFAULT_PHOTOS = ("cat_phone_camera_empty_gps.jpg", "ferns_morskie_oko.jpg",
                  "bridge_night_tony-webster-97532.jpg")
SSE_ROWS = 1 << 20  # pixels per chunk when computing the SSE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", type=Path,
                        help=f"photos (default: {', '.join(DEFAULT_PHOTOS)} from {LARGE_DIR})")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per kind")
    parser.add_argument("--seed", type=int, default=0, help="kmseg's seed and the noise's")
    args = parser.parse_args(argv)
    photos = args.photos or [LARGE_DIR / name for name in DEFAULT_PHOTOS]
    missing = [str(photo) for photo in photos if not photo.is_file()]
    if missing:
        parser.error(f"missing: {', '.join(missing)}")

    warm_up(args.k)
    rows = [measure(photo, args.k, args.rounds, args.seed) for photo in photos]
    command = " ".join(["benchmarks/bench_float.py", *map(shlex.quote, sys.argv[1:])])
    print(f"`{command}` (k = {args.k}, {args.rounds} rounds, RGB, decode excluded)\n")
    print("| photo | MP | uint8 time | float64 /255 time (ratio) | labels identical "
          "(float64, float32 /255) | float32 continuous time (bins) | SSE ratio vs all "
          "pixels |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for row in rows:
        print("| {photo} | {mp:.1f} | {u8:.3f} s | {f64:.3f} s ({ratio:.2f}x) | {same} | "
              "{cont:.3f} s ({bins:,} bins) | {sse:.6f} |".format(**row))
    return 0


def warm_up(k: int) -> None:
    crop = kmseg.read_image(kmseg.data.sample_path())[:64, :64]
    for image in kinds(crop, np.random.default_rng(0)).values():
        kmseg.segment(image, k=k)


def kinds(pixels: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    noise = rng.uniform(-0.5, 0.5, size=pixels.shape)
    return {"u8": pixels, "f64": pixels / 255.0,
            "cont": ((pixels + noise) / 255).astype(np.float32)}


def measure(photo: Path, k: int, rounds: int, seed: int) -> dict:
    print(f"{photo.name}: decoding", file=sys.stderr)
    pixels = kmseg.read_image(photo)
    images = kinds(pixels, np.random.default_rng(seed))
    times: dict[str, list[float]] = {name: [] for name in images}
    segs = {}
    for r in range(rounds):
        for name, image in images.items():
            start = time.perf_counter()
            segs[name] = kmseg.segment(image, k=k, seed=seed)
            times[name].append(time.perf_counter() - start)
        print(f"  round {r + 1}: " + ", ".join(f"{n} {t[-1]:.3f} s" for n, t in times.items()),
              file=sys.stderr)
    f32_labels = kmseg.segment(pixels.astype(np.float32) / 255, k=k, seed=seed).labels
    same = [np.array_equal(segs[name].labels, segs["u8"].labels) for name in ("f64",)]
    same.append(np.array_equal(f32_labels, segs["u8"].labels))

    continuous = images["cont"].reshape(-1, 3)
    sse = pixel_sse(continuous, segs["cont"].labels.ravel(), segs["cont"].feature_centers)
    print("  reference: the engine on every pixel", file=sys.stderr)
    start = time.perf_counter()
    reference = kmeans(continuous.astype(np.float64), k, rng=np.random.default_rng(seed))
    print(f"  reference took {time.perf_counter() - start:.1f} s, SSE ratio "
          f"{sse / reference.compactness:.6f}", file=sys.stderr)
    median = {name: statistics.median(t) for name, t in times.items()}
    return {
        "photo": photo.name,
        "mp": pixels.shape[0] * pixels.shape[1] / 1e6,
        "u8": median["u8"],
        "f64": median["f64"],
        "ratio": statistics.median(f / u for f, u in zip(times["f64"], times["u8"],
                                                          strict=True)),
        "same": ", ".join("yes" if s else "**no**" for s in same),
        "cont": median["cont"],
        "bins": len(histogram(continuous).values),
        "sse": sse / reference.compactness,
    }


def pixel_sse(values: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> float:
    """Sum of squared distances of every pixel to its label's centre (float64, in chunks)."""
    total = 0.0
    for start in range(0, len(values), SSE_ROWS):
        diff = values[start:start + SSE_ROWS].astype(np.float64) - centers[
            labels[start:start + SSE_ROWS]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total


if __name__ == "__main__":
    raise SystemExit(main())
