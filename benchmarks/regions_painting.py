"""How the regions preset paints its regions: k-means of the regions' mean colours (the preset)
against the painting it replaced, k-means of Lab colour and position over about 110
Felzenszwalb superpixels with each region taking its majority cluster.

    python benchmarks/regions_painting.py [--split train] [--n 200] [--large]

Both cut the same merge hierarchy at the same level, so their regions must be identical (the
table says on how many photos they are). Per photo: the mean CIEDE2000 between the photo and
its painted image (skimage's ``deltaE_ciede2000``), the colours used, and the seconds of
``kmseg.segment`` (one process, after a first call). ``--large`` adds the large corpus photos
(CIEDE2000 on every 8th pixel of each axis).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

import kmseg

BSDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500"
LARGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus" / "large"
PAINTINGS = {
    "regions' mean colours (preset)": {},
    "superpixel majority (before)": {"superpixels": 110, "superpixel_method": "felzenszwalb",
                                     "position": 20.0},
}


def painted(image: np.ndarray, step: int) -> tuple[dict[str, tuple[float, int, float]], bool]:
    """Per painting: (mean CIEDE2000, colours used, seconds); and whether the regions agree."""
    every = (slice(None, None, step), slice(None, None, step))
    lab = rgb2lab(image[every])
    rows, regions = {}, []
    for name, options in PAINTINGS.items():
        start = time.perf_counter()
        seg = kmseg.segment(image, regions=True, **options)
        seconds = time.perf_counter() - start
        error = float(deltaE_ciede2000(lab, rgb2lab(seg.segmented()[every])).mean())
        rows[name] = (error, len(np.unique(seg.labels)), seconds)
        regions.append(seg.regions)
    return rows, all(np.array_equal(regions[0], other) for other in regions[1:])


def table(images: list[tuple[str, np.ndarray]], step: int) -> str:
    results = [painted(image, step) for _, image in images]
    lines = ["| painting | mean CIEDE2000 | median | colours used | median s | max s |",
             "|---|---|---|---|---|---|"]
    for name in PAINTINGS:
        error, colours, seconds = (np.array([rows[name][i] for rows, _ in results])
                                   for i in range(3))
        lines.append(f"| {name} | {error.mean():.2f} | {np.median(error):.2f} | "
                     f"{colours.mean():.1f} | {np.median(seconds):.2f} | {seconds.max():.2f} |")
    first, second = PAINTINGS
    better = sum(rows[first][0] < rows[second][0] for rows, _ in results)
    same = sum(agree for _, agree in results)
    lines.append(f"\n{len(images)} images: the preset paints closer on {better}; regions "
                 f"identical on {same}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="train", choices=["train", "val"])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--large", action="store_true")
    args = parser.parse_args()
    paths = sorted((BSDS / "images" / args.split).glob("*.jpg"))[:args.n]
    kmseg.segment(np.asarray(Image.open(paths[0]))[:60, :60], regions=True)  # imports, kernels
    print(f"BSDS500 {args.split}, first {len(paths)} photos:\n")
    print(table([(p.name, np.asarray(Image.open(p))) for p in paths], step=1))
    if args.large:
        large = [(p.name, kmseg.load_image(p, max_pixels=None).pixels)
                 for p in sorted(LARGE.iterdir()) if p.suffix.lower() == ".jpg"]
        print(f"\nThe {len(large)} large corpus photos:\n")
        print(table(large, step=8))


if __name__ == "__main__":
    main()
