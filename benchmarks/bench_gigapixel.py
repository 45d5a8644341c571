"""A gigapixel raster segmented in strips: peak memory and throughput against the whole-image
path, in one run.

The raster is built here from the real >= 8 MP photos of ../shared/data/corpus/large, cropped to
cells of 2560 x 4096 pixels, mirrored in turn (none, left-right, up-down, both) and laid out in a
grid, so that its colours are real photo colours. It is written as a tiled (512 x 512),
uncompressed BigTIFF in a scratch folder (about 3 GB per gigapixel) and removed afterwards
unless --keep.

Rows of the table, each a fresh ``kmseg segment`` process, timed from process start to files
written, peak RSS its VmHWM:

- the whole raster with ``--chunked`` (strips of 16.7 MP);
- a crop of the raster (default 64 MP) by the whole-image path (labels and painted PNGs);
- the same crop with ``--chunked``, whose labels are compared with the whole-image ones;
- the whole raster with ``--chunked --zarr`` (strips on a pool of one process per core, zarr
  outputs) and with ``--chunked --scheduler local`` (a Dask LocalCluster of one worker per
  core), whose labels are compared with the BigTIFF ones. Their peak RSS is the largest sum
  over the process tree (sampled every 20 ms), start-up included in the wall time.

    python benchmarks/bench_gigapixel.py              # 1.0 GP, k = 8
    python benchmarks/bench_gigapixel.py --gp 0.25    # a quicker look
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LARGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus" / "large"
CELL = (2560, 4096)  # rows, columns of one photo crop (whole 512-pixel tiles)
TILE = 512


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gp", type=float, default=1.0, help="raster size in gigapixels")
    parser.add_argument("--crop-mp", type=float, default=64.0,
                        help="whole-image comparison crop, in megapixels (default 64)")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--scratch", default=None, help="folder for the raster (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the raster and outputs")
    args = parser.parse_args()
    photos = sorted(LARGE.glob("*.jpg"))
    if not photos:
        print(f"no photos in {LARGE}: the shared corpus is needed", file=sys.stderr)
        return 1
    scratch = Path(tempfile.mkdtemp(prefix="kmseg-gp-", dir=args.scratch))
    try:
        return run(args, photos, scratch)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


def run(args: argparse.Namespace, photos: list[Path], scratch: Path) -> int:
    import kmseg

    # Landscape, so that every photo holds a 2560 x 4096 crop.
    cells = [image if image.shape[0] <= image.shape[1] else np.ascontiguousarray(np.rot90(image))
             for image in map(kmseg.read_image, photos)]
    columns = 8
    rows = max(1, round(args.gp * 1e9 / (CELL[0] * CELL[1] * columns)))
    shape = (rows * CELL[0], columns * CELL[1])
    raster = scratch / "mosaic.tif"
    start = time.perf_counter()
    write_mosaic(raster, cells, rows, columns)
    build = time.perf_counter() - start
    side = int(np.sqrt(args.crop_mp * 1e6) // TILE * TILE)
    crop = scratch / "crop.tif"
    write_crop(raster, crop, side)

    print("## kmseg gigapixel benchmark\n")
    print(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"- machine: {platform.system()} {platform.machine()}, os.cpu_count() = "
          f"{os.cpu_count()}, {_ram_gib():.1f} GiB RAM; Python {platform.python_version()}; "
          f"kmseg {kmseg.__version__}")
    print(f"- command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`")
    print(f"- raster: {shape[0]} x {shape[1]} RGB uint8 ({shape[0] * shape[1] / 1e6:.0f} MP, "
          f"{raster.stat().st_size / 2**30:.2f} GiB tiled uncompressed BigTIFF) built from "
          f"{len(photos)} photos of corpus/large in {build:.0f} s; crop {side} x {side}")
    print(f"- load average at start: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| input | MP | path | wall (s) | s/MP | peak RSS (MB) | s/MP vs whole-image |")
    print("|---|---|---|---|---|---|---|")
    crop_mp = side * side / 1e6
    whole = timed_segment(crop, scratch / "whole", args.k, chunked=False)
    crop_chunked = timed_segment(crop, scratch / "crop_chunked", args.k, chunked=True)
    giga = timed_segment(raster, scratch / "giga", args.k, chunked=True)
    giga_zarr = timed_segment(raster, scratch / "zarr", args.k, chunked=True, extra=["--zarr"])
    giga_dask = timed_segment(raster, scratch / "dask", args.k, chunked=True,
                              extra=["--scheduler", "local"])
    reference = whole[0] / crop_mp
    mosaic_mp = shape[0] * shape[1] / 1e6
    for name, mp, path, (seconds, rss) in (
        ("crop", crop_mp, "whole image (PNG outputs)", whole),
        ("crop", crop_mp, "--chunked (tiled BigTIFF)", crop_chunked),
        ("mosaic", mosaic_mp, "--chunked (tiled BigTIFF)", giga),
        ("mosaic", mosaic_mp, "--chunked --zarr (process pool)", giga_zarr),
        ("mosaic", mosaic_mp, "--chunked --scheduler local (Dask)", giga_dask),
    ):
        print(f"| {name} | {mp:.0f} | {path} | {seconds:.1f} | {seconds / mp:.4f} | "
              f"{rss:.0f} | {seconds / mp / reference:.2f}x |")
    same = np.array_equal(kmseg.read_image(scratch / "whole" / "crop_labels.png"),
                          kmseg.read_image(scratch / "crop_chunked" / "crop_labels.tif",
                                           max_pixels=None))
    print(f"\n- check: crop labels identical whole-image vs --chunked: {same}")
    same_zarr = same_labels_as_tiff(raster, scratch)
    print(f"- check: mosaic labels identical BigTIFF vs zarr (pool, Dask): {same_zarr}")
    same = same and all(same_zarr)
    print(f"- load average at end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if same else 1


def write_mosaic(path: Path, cells: list[np.ndarray], rows: int, columns: int) -> None:
    """Photo crops in a grid, mirrored in turn, written tile row by tile row."""
    import tifffile

    def tiles():
        for row in range(rows):
            band = np.empty((CELL[0], columns * CELL[1], 3), dtype=np.uint8)
            for column in range(columns):
                index = row * columns + column
                photo = cells[index % len(cells)]
                top = (photo.shape[0] - CELL[0]) // 2
                left = (photo.shape[1] - CELL[1]) // 2
                crop = photo[top:top + CELL[0], left:left + CELL[1]]
                flip = (index // len(cells)) % 4
                crop = crop[::-1] if flip & 1 else crop
                crop = crop[:, ::-1] if flip & 2 else crop
                band[:, column * CELL[1]:(column + 1) * CELL[1]] = crop
            for top in range(0, CELL[0], TILE):
                for left in range(0, band.shape[1], TILE):
                    yield band[top:top + TILE, left:left + TILE]

    with tifffile.TiffWriter(path, bigtiff=True) as writer:
        writer.write(tiles(), shape=(rows * CELL[0], columns * CELL[1], 3), dtype=np.uint8,
                     tile=(TILE, TILE), photometric="rgb")


def write_crop(raster: Path, crop: Path, side: int) -> None:
    """The top-left ``side`` x ``side`` pixels of the raster, as a tiled TIFF."""
    import tifffile

    from kmseg.io import raster_strips

    _, strip = next(raster_strips(raster, rows=side))
    tifffile.imwrite(crop, strip.pixels[:side, :side], photometric="rgb", tile=(TILE, TILE))


def timed_segment(image: Path, outdir: Path, k: int, *, chunked: bool,
                  extra: list[str] = ()) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one ``kmseg segment`` process.

    The peak is the child's VmHWM, read every 20 ms until it exits (``ru_maxrss`` would not
    do: Linux keeps across exec the RSS the child inherited from this large parent); with
    ``extra`` options (worker processes), the largest sampled sum of VmRSS over the process
    tree, if larger.
    """
    command = [sys.executable, "-m", "kmseg", "segment", str(image), "-k", str(k), "-o",
               str(outdir), "--max-pixels", "0", *(["--chunked"] if chunked else []), *extra]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        own = _status(process.pid).get("VmHWM", 0)
        tree = sum(_status(pid).get("VmRSS", 0) for pid in _tree(process.pid)) if extra else 0
        peak = max(peak, own, tree)
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()}")
    return seconds, peak / 1024


def _status(pid: int) -> dict[str, int]:
    """The kB fields of /proc/PID/status (empty once the process is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = (line.split(":", 1) for line in lines)
    return {name: int(value.split()[0]) for name, value in fields if value.endswith("kB")}


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except OSError:
                pass
    return found


def same_labels_as_tiff(raster: Path, scratch: Path) -> tuple[bool, bool]:
    """Whether the zarr label arrays (pool, Dask) equal the BigTIFF labels, strip by strip."""
    import tifffile
    import zarr

    stem = raster.stem
    arrays = [zarr.open_array(scratch / run / f"{stem}_labels.zarr", mode="r")
              for run in ("zarr", "dask")]
    same = [True, True]
    with tifffile.TiffFile(scratch / "giga" / f"{stem}_labels.tif") as tif:
        tiff = zarr.open_array(tif.pages[0].aszarr(), mode="r")
        for top in range(0, tiff.shape[0], 4096):
            expected = tiff[top:top + 4096]
            same = [ok and np.array_equal(array[top:top + 4096], expected)
                    for ok, array in zip(same, arrays, strict=True)]
    return same[0], same[1]


def _ram_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


if __name__ == "__main__":
    raise SystemExit(main())
