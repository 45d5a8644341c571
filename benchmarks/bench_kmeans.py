"""Benchmark ``kmseg.segment`` against the usual k-means recipes for image segmentation.

Each table row is measured in this run, and each (method, image, k, space) measurement runs in
a fresh ``spawn`` process: that process warms up on a 64x64 image (imports, first touches,
thread pools), loads the decoded image, and then times the method from the decoded array to
labels and centres. Peak memory is the child's ``ru_maxrss`` after the runs minus its
``ru_maxrss`` once the image was loaded. The SSE per pixel is computed here, from the labels and
centres each method returns, in the clustered feature space. See ``benchmarks/README.md`` for
what the columns mean and for results.

Usage, from the repository root::

    # headline bar: the large photos, k = 8, RGB
    .venv/bin/python benchmarks/bench_kmeans.py --large --k 8 --spaces rgb --time-limit 240
    # the first 20 BSDS500 val photos, k = 4 (summary table; --verbose adds per-photo tables)
    .venv/bin/python benchmarks/bench_kmeans.py --bsds 20 --k 4
    # cold `kmseg segment` on the largest JPEG, next to decoding alone
    .venv/bin/python benchmarks/bench_kmeans.py --cli
    # the 16-bit PNG and the 4-band GeoTIFF, two k, all spaces
    .venv/bin/python benchmarks/bench_kmeans.py --png16 --multiband --k 4 8
    # a quick subset, written to a file too
    .venv/bin/python benchmarks/bench_kmeans.py --bsds 3 --k 4 --methods kmseg pillow-fastoctree \\
        --output /tmp/bench/quick.md
    # everything: all images, k = 2 4 8 16, spaces rgb gray lab, and --cli (hours)
    .venv/bin/python benchmarks/bench_kmeans.py

Markdown goes to stdout (and to ``--output``); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LARGE_DIR = DATA / "corpus" / "large"
BSDS_DIR = DATA / "bsds500" / "images" / "val"
PNG16 = DATA / "corpus" / "odd" / "png16_rgb_photo.png"
MULTIBAND = DATA / "corpus" / "multiband" / "naip_rgbn_m_4709963_se_14_1_20200831.tif"
LARGE_MIN_PIXELS = 8_000_000
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}

LUMA = np.array([0.2125, 0.7154, 0.0721])  # kmseg's (and skimage's rgb2gray) weights
SETUP_LIMIT = 300.0  # seconds for a child to import, warm up and load its image
SSE_ROWS = 256  # image rows per chunk when computing the SSE
SPACES = ("rgb", "gray", "lab")
DEFAULT_K = (2, 4, 8, 16)


# -- the methods (run inside the child process) ---------------------------------------------


class Clustering(NamedTuple):
    """What a method returns: per-pixel labels, centres in feature units, kmseg's inertia."""

    labels: np.ndarray
    centers: np.ndarray
    compactness: float | None = None


def features(img: np.ndarray, space: str, dtype: Any = np.float64) -> np.ndarray:
    """``(N, d)`` features of an image: the conversion each reference recipe does itself."""
    n = img.shape[0] * img.shape[1]
    if space == "lab":
        from skimage.color import rgb2lab

        values = rgb2lab(img)  # integers are scaled to [0, 1] first, as kmseg does
    elif space == "gray":
        values = img @ LUMA if img.ndim == 3 else img
    else:
        values = img
    return np.ascontiguousarray(values.reshape(n, -1), dtype=dtype)


def run_kmseg(img: np.ndarray, k: int, space: str) -> Clustering:
    import kmseg

    seg = kmseg.segment(img, k=k, space=space)
    # rgb: centres in input units are the features; gray/lab: the feature-space centres.
    centers = seg.centers if space == "rgb" else seg.feature_centers
    return Clustering(seg.labels.ravel(), centers, seg.compactness)


def run_cv2(img: np.ndarray, k: int, space: str) -> Clustering:
    import cv2

    X = features(img, space, np.float32)
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.1)
    _, labels, centers = cv2.kmeans(X, k, None, criteria, 10, cv2.KMEANS_RANDOM_CENTERS)
    return Clustering(labels.ravel(), centers)


def _sklearn(img: np.ndarray, k: int, space: str, **kwargs: Any) -> Clustering:
    from sklearn.cluster import KMeans

    model = KMeans(k, random_state=0, **kwargs).fit(features(img, space, np.float64))
    return Clustering(model.labels_, model.cluster_centers_)


def run_sklearn(img: np.ndarray, k: int, space: str) -> Clustering:
    return _sklearn(img, k, space)


def run_sklearn_n10(img: np.ndarray, k: int, space: str) -> Clustering:
    return _sklearn(img, k, space, n_init=10)


def _pillow(img: np.ndarray, k: int, method_name: str) -> Clustering:
    from PIL import Image

    quantized = Image.fromarray(img).quantize(k, method=Image.Quantize[method_name])
    palette = np.asarray(quantized.getpalette("RGB"), dtype=np.float64).reshape(-1, 3)
    return Clustering(np.asarray(quantized).ravel(), palette)


def run_pillow_fastoctree(img: np.ndarray, k: int, space: str) -> Clustering:
    return _pillow(img, k, "FASTOCTREE")


def run_pillow_mediancut(img: np.ndarray, k: int, space: str) -> Clustering:
    return _pillow(img, k, "MEDIANCUT")


def run_faiss(img: np.ndarray, k: int, space: str) -> Clustering:
    import faiss

    X = features(img, space, np.float32)
    model = faiss.Kmeans(X.shape[1], k, niter=20, nredo=10, seed=0)
    model.train(X)
    _, labels = model.index.search(X, 1)
    return Clustering(labels.ravel(), model.centroids)


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    run: Callable[[np.ndarray, int, str], Clustering]
    module: str
    rgb8_only: bool = False


METHODS = {
    m.key: m
    for m in (
        Method("kmseg", "kmseg.segment (defaults)", run_kmseg, "kmseg"),
        Method("cv2", "cv2.kmeans (20 it, eps 0.1, 10 attempts)", run_cv2, "cv2"),
        Method("sklearn", "sklearn KMeans (default n_init)", run_sklearn, "sklearn"),
        Method("sklearn-n10", "sklearn KMeans (n_init=10)", run_sklearn_n10, "sklearn"),
        Method(
            "pillow-fastoctree", "Pillow quantize FASTOCTREE", run_pillow_fastoctree, "PIL", True
        ),
        Method("pillow-mediancut", "Pillow quantize MEDIANCUT", run_pillow_mediancut, "PIL", True),
        Method("faiss", "faiss Kmeans (niter=20, nredo=10)", run_faiss, "faiss"),
    )
}


# -- the measuring harness --------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One measurement, sent to the child process."""

    method: str
    npy: str
    shape: tuple[int, ...]
    dtype: str
    k: int
    space: str
    repeat: int
    slow: float


@dataclass
class Measurement:
    method: str
    status: str  # "ok", "limit" (killed), "error", "n/a"
    times: list[float] = field(default_factory=list)
    peak_mb: float | None = None
    sse: float | None = None
    sse_check: float | None = None  # kmseg: relative gap between our SSE and its compactness
    clusters: int | None = None
    note: str = ""

    @property
    def seconds(self) -> float | None:
        return statistics.median(self.times) if self.status == "ok" else None


def max_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def tiny_like(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """A 64x64 random image with the channels and dtype of ``shape``/``dtype``, to warm up."""
    rng = np.random.default_rng(0)
    size = (64, 64, *shape[2:])
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, np.iinfo(dtype).max, size=size, endpoint=True).astype(dtype)
    return rng.random(size).astype(dtype)


def sse_per_pixel(img: np.ndarray, space: str, labels: np.ndarray, centers: np.ndarray) -> float:
    """Mean squared distance of each pixel's features to its centre, by chunks of rows."""
    height, width = img.shape[:2]
    labels = np.asarray(labels).reshape(height, width).astype(np.intp)
    centers = np.asarray(centers, dtype=np.float64).reshape(len(centers), -1)
    total = 0.0
    for top in range(0, height, SSE_ROWS):
        rows = slice(top, top + SSE_ROWS)
        diff = features(img[rows], space) - centers[labels[rows].ravel()]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total / (height * width)


def summarise(img: np.ndarray, space: str, result: Clustering) -> dict[str, Any]:
    sse = sse_per_pixel(img, space, result.labels, result.centers)
    check = None
    if result.compactness is not None:
        reported = result.compactness / (img.shape[0] * img.shape[1])
        check = abs(sse - reported) / max(abs(reported), 1e-300)
        if space != "rgb":
            sse = reported  # gray/lab: kmseg's own figure, checked against ours
    used = int(np.count_nonzero(np.bincount(np.asarray(result.labels).ravel().astype(np.intp))))
    return {"sse": sse, "sse_check": check, "clusters": used}


def child_main(conn: Any, task: Task) -> None:
    """Warm up, load the image, time ``task.repeat`` runs (1 if slow), report to the parent."""
    try:
        run = METHODS[task.method].run
        run(tiny_like(task.shape, task.dtype), task.k, task.space)
        img = np.load(task.npy)
        baseline = max_rss_kb()
        conn.send(("ready", baseline))
        times: list[float] = []
        result = None
        for _ in range(task.repeat):
            result = None  # free the previous run's output before the next one
            start = time.perf_counter()
            result = run(img, task.k, task.space)
            times.append(time.perf_counter() - start)
            conn.send(("run", times[-1]))
            if times[0] > task.slow:
                break
        peak_mb = (max_rss_kb() - baseline) / 1024
        conn.send(("measured", peak_mb))
        summary = summarise(img, task.space, result)
        conn.send(("done", {"times": times, "peak_mb": peak_mb, **summary}))
    except Exception as error:
        conn.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        conn.close()


def measure(task: Task, time_limit: float) -> Measurement:
    """Run one task in a fresh process; kill it if a single run exceeds ``time_limit``."""
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=child_main, args=(sender, task), daemon=True)
    process.start()
    sender.close()
    stage, times = "setup", []
    deadline = time.monotonic() + SETUP_LIMIT
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not receiver.poll(remaining):
                return _timed_out(task.method, stage, times, time_limit)
            try:
                event, payload = receiver.recv()
            except EOFError:
                process.join(5)
                note = f"child process died (exit code {process.exitcode})"
                return Measurement(task.method, "error", times=times, note=note)
            if event == "ready":
                stage, deadline = "run", time.monotonic() + time_limit
            elif event == "run":
                times.append(payload)
                deadline = time.monotonic() + time_limit
            elif event == "measured":
                stage, deadline = "sse", time.monotonic() + SETUP_LIMIT
            elif event == "done":
                return Measurement(task.method, "ok", **payload)
            else:
                return Measurement(task.method, "error", times=times, note=str(payload))
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()


def _timed_out(method: str, stage: str, times: list[float], time_limit: float) -> Measurement:
    if stage == "run":
        done = f" after {len(times)} complete run(s)" if times else ""
        note = f"a run exceeded --time-limit {time_limit:g} s and was killed{done}"
        return Measurement(method, "limit", times=times, note=note)
    limit = f"{SETUP_LIMIT:g} s"
    return Measurement(method, "error", times=times, note=f"{stage} took over {limit}; killed")


# -- images ------------------------------------------------------------------------------------


@dataclass
class ImageInfo:
    name: str
    path: Path
    group: str  # "large", "bsds", "png16", "multiband"
    npy: Path
    shape: tuple[int, ...] = ()
    dtype: str = ""
    decode_s: float = 0.0

    @property
    def megapixels(self) -> float:
        return self.shape[0] * self.shape[1] / 1e6

    @property
    def channels(self) -> int:
        return 1 if len(self.shape) == 2 else self.shape[2]

    def describe(self) -> str:
        height, width = self.shape[:2]
        return (
            f"{width}x{height} ({self.megapixels:.2f} MP), {self.dtype}, "
            f"{self.channels} channel(s); decode with kmseg.read_image {self.decode_s:.2f} s"
        )


def pixel_count(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as image:  # reads the header only
        return image.size[0] * image.size[1]


def large_photos() -> list[Path]:
    paths = sorted(p for p in LARGE_DIR.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [p for p in paths if pixel_count(p) >= LARGE_MIN_PIXELS]


def select_images(opts: argparse.Namespace, notes: list[str]) -> list[tuple[str, Path]]:
    """(group, path) of the selected images; a note for each missing folder or file."""
    selected: list[tuple[str, Path]] = []
    wanted = [
        ("large", opts.large, LARGE_DIR, large_photos),
        ("bsds", bool(opts.bsds), BSDS_DIR, lambda: sorted(BSDS_DIR.glob("*.jpg"))[: opts.bsds]),
        ("png16", opts.png16, PNG16, lambda: [PNG16]),
        ("multiband", opts.multiband, MULTIBAND, lambda: [MULTIBAND]),
    ]
    for group, on, location, paths in wanted:
        if not on:
            continue
        if not location.exists():
            notes.append(f"skipped {group}: {location} is missing")
            continue
        selected += [(group, path) for path in paths()]
    return selected


def prepare_image(path: str, npy: str) -> tuple[tuple[int, ...], str, float]:
    """Decode once with ``kmseg.read_image`` (timed) and save the array for the children."""
    import kmseg

    read = kmseg.read_image
    start = time.perf_counter()
    array = read(path)
    seconds = time.perf_counter() - start
    np.save(npy, array)
    return tuple(array.shape), str(array.dtype), seconds


def prepare_images(
    selected: list[tuple[str, Path]], cache: Path, notes: list[str]
) -> list[ImageInfo]:
    """Decode every image in one helper process, so this process stays small."""
    images = []
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        for index, (group, path) in enumerate(selected):
            info = ImageInfo(path.name, path, group, cache / f"{index}.npy")
            try:
                info.shape, info.dtype, info.decode_s = pool.submit(
                    prepare_image, str(path), str(info.npy)
                ).result()
            except Exception as error:
                notes.append(f"skipped {path}: {type(error).__name__}: {error}")
                continue
            images.append(info)
    return images


# -- running everything --------------------------------------------------------------------


@dataclass
class Group:
    """All methods on one (image, k, space)."""

    image: ImageInfo
    k: int
    space: str
    rows: list[Measurement] = field(default_factory=list)

    def get(self, method: str) -> Measurement | None:
        return next((m for m in self.rows if m.method == method), None)

    @property
    def kmseg_seconds(self) -> float | None:
        found = self.get("kmseg")
        return found.seconds if found else None

    @property
    def best_reference_sse(self) -> float | None:
        values = [m.sse for m in self.rows if m.method != "kmseg" and m.sse is not None]
        return min(values) if values else None


def not_applicable(method: Method, image: ImageInfo, space: str) -> str | None:
    if find_spec(method.module) is None:
        return f"{method.module} is not installed"
    if method.rgb8_only and not (image.dtype == "uint8" and image.channels == 3):
        return "Pillow quantize takes 8-bit RGB only"
    if method.rgb8_only and space != "rgb":
        return "Pillow quantize clusters RGB only"
    return None


def space_problem(image: ImageInfo, space: str) -> str | None:
    if space in ("gray", "lab") and image.channels != 3:
        return f"space {space} needs an RGB image; this one has {image.channels} channel(s)"
    return None


def run_group(group: Group, opts: argparse.Namespace, progress: Progress) -> None:
    for key in opts.methods:
        method = METHODS[key]
        reason = not_applicable(method, group.image, group.space)
        if reason:
            group.rows.append(Measurement(key, "n/a", note=reason))
            continue
        task = Task(
            key,
            str(group.image.npy),
            group.image.shape,
            group.image.dtype,
            group.k,
            group.space,
            opts.repeat,
            opts.slow,
        )
        measurement = measure(task, opts.time_limit)
        group.rows.append(measurement)
        progress.step(group, measurement)


class Progress:
    """One stderr line per measurement."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = total, 0, time.monotonic()

    def step(self, group: Group, m: Measurement) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        what = f"{m.seconds:.3f} s" if m.status == "ok" else f"{m.status} {m.note}"
        print(
            f"[{self.done}/{self.total} {elapsed:.0f}s] {group.image.name} k={group.k} "
            f"{group.space} {m.method}: {what}",
            file=sys.stderr,
            flush=True,
        )


# -- formatting --------------------------------------------------------------------------------


def fmt_seconds(seconds: float) -> str:
    if seconds >= 100:
        return f"{seconds:.0f}"
    if seconds >= 10:
        return f"{seconds:.1f}"
    if seconds >= 1:
        return f"{seconds:.2f}"
    return f"{seconds:.3f}"


def fmt_speedup(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 100 else f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def fmt_optional(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def time_cell(m: Measurement, opts: argparse.Namespace) -> str:
    if m.status == "ok":
        cut = " (1 run)" if len(m.times) < opts.repeat else ""
        return fmt_seconds(m.seconds) + cut
    if m.status == "limit":
        return f"> {opts.time_limit:g} (killed)"
    return m.status


def speedup_cell(m: Measurement, group: Group, opts: argparse.Namespace) -> str:
    base = group.kmseg_seconds
    if m.method == "kmseg" or not base:
        return "-"
    if m.status == "limit":
        return "> " + fmt_speedup(opts.time_limit / base)
    return "n/a" if m.seconds is None else fmt_speedup(m.seconds / base)


def sse_cells(m: Measurement, group: Group) -> list[str]:
    if m.sse is None:
        return ["n/a", "n/a"]
    fewer = f" ({m.clusters} clusters)" if m.clusters is not None and m.clusters < group.k else ""
    best = group.best_reference_sse
    ratio = "n/a" if not best else f"{m.sse / best:.4f}"
    return [f"{m.sse:.5g}{fewer}", ratio]


def row_cells(m: Measurement, group: Group, opts: argparse.Namespace) -> list[str]:
    per_mp = "n/a" if m.seconds is None else f"{m.seconds / group.image.megapixels:.3g}"
    return [
        str(group.k),
        group.space,
        METHODS[m.method].label,
        time_cell(m, opts),
        per_mp,
        fmt_optional(m.peak_mb, ".0f"),
        *sse_cells(m, group),
        speedup_cell(m, group, opts),
    ]


ROW_HEADER = [
    "k",
    "space",
    "method",
    "time (s)",
    "s/MP",
    "peak MB",
    "SSE/px",
    "SSE ratio",
    "kmseg speed-up",
]


def footnotes(groups: list[Group]) -> list[str]:
    notes = []
    for group in groups:
        for m in group.rows:
            if m.note and m.status != "n/a":
                notes.append(f"- k={group.k} {group.space}, {METHODS[m.method].label}: {m.note}")
            if m.sse_check is not None and m.sse_check > 1e-6:
                notes.append(
                    f"- k={group.k} {group.space}: kmseg SSE from labels and centres differs "
                    f"from seg.compactness / N by {m.sse_check:.2e} (relative)"
                )
    checks = [m.sse_check for g in groups for m in g.rows if m.sse_check is not None]
    if checks:
        notes.append(
            f"- check: kmseg SSE recomputed from labels and centres agrees with "
            f"seg.compactness / N to {max(checks):.1e} (largest relative gap)"
        )
    skipped = sorted(
        {
            f"{METHODS[m.method].label} ({m.note})"
            for g in groups
            for m in g.rows
            if m.status == "n/a"
        }
    )
    if skipped:
        notes.append("- n/a: " + "; ".join(skipped))
    return notes


def image_section(image: ImageInfo, groups: list[Group], notes: list[str], opts) -> str:
    rows = [row_cells(m, g, opts) for g in groups for m in g.rows]
    parts = [f"### {image.name}", "", image.describe(), ""]
    if rows:
        parts += [markdown_table(ROW_HEADER, rows), ""]
    parts += footnotes(groups) + notes
    return "\n".join(parts).rstrip() + "\n"


def bsds_summary(groups: list[Group], opts: argparse.Namespace) -> str:
    photos = len({g.image.name for g in groups})
    header = [
        "k",
        "space",
        "method",
        "photos ok",
        "median time (s)",
        "median s/MP",
        "median peak MB",
        "mean SSE/px",
        "mean SSE ratio",
        "median kmseg speed-up",
    ]
    rows = []
    for (k, space), members in _by_setting(groups).items():
        for key in opts.methods:
            rows.append([str(k), space, METHODS[key].label, *_bsds_cells(key, members, opts)])
    sizes = sorted({f"{g.image.megapixels:.2f}" for g in groups})
    title = f"### BSDS500 val: summary over the first {photos} photos ({', '.join(sizes)} MP)"
    intro = (
        "Per photo, time is the median of the runs; here the median over photos is shown, "
        "and the mean over photos of the SSE ratio (each photo's SSE / its best reference SSE)."
    )
    parts = [title, "", intro, "", markdown_table(header, rows), ""]
    checks = [m.sse_check for g in groups for m in g.rows if m.sse_check is not None]
    if checks:
        parts += [
            f"- check: kmseg SSE recomputed from labels and centres agrees with "
            f"seg.compactness / N to {max(checks):.1e} (largest relative gap over the photos)",
            "",
        ]
    return "\n".join(parts)


def _by_setting(groups: list[Group]) -> dict[tuple[int, str], list[Group]]:
    settings: dict[tuple[int, str], list[Group]] = {}
    for group in groups:
        settings.setdefault((group.k, group.space), []).append(group)
    return settings


def _bsds_cells(key: str, members: list[Group], opts: argparse.Namespace) -> list[str]:
    pairs = [(g, g.get(key)) for g in members]
    pairs = [(g, m) for g, m in pairs if m is not None]
    if not pairs or all(m.status == "n/a" for _, m in pairs):
        return ["n/a"] + ["n/a"] * 6
    ok = [(g, m) for g, m in pairs if m.status == "ok"]
    limited = sum(m.status == "limit" for _, m in pairs)
    count = f"{len(ok)}/{len(pairs)}" + (f" ({limited} killed)" if limited else "")
    times = [m.seconds for _, m in ok]
    per_mp = [m.seconds / g.image.megapixels for g, m in ok]
    peaks = [m.peak_mb for _, m in ok if m.peak_mb is not None]
    sses = [m.sse for _, m in ok if m.sse is not None]
    ratios = [m.sse / g.best_reference_sse for g, m in ok if m.sse and g.best_reference_sse]
    speedups = [m.seconds / g.kmseg_seconds for g, m in ok if key != "kmseg" and g.kmseg_seconds]

    def med(values: list[float], fmt: Callable[[float], str]) -> str:
        return fmt(statistics.median(values)) if values else "n/a"

    def mean(values: list[float], spec: str) -> str:
        return format(statistics.fmean(values), spec) if values else "n/a"

    return [
        count,
        med(times, fmt_seconds),
        med(per_mp, lambda v: f"{v:.3g}"),
        med(peaks, lambda v: f"{v:.0f}"),
        mean(sses, ".5g"),
        mean(ratios, ".4f"),
        "-" if key == "kmseg" else med(speedups, fmt_speedup),
    ]


def scaling_section(groups: list[Group]) -> str:
    """kmseg's time per megapixel on every image (BSDS: the median over its photos)."""
    rows = []
    bsds = [g for g in groups if g.image.group == "bsds"]
    for (k, space), members in _by_setting(bsds).items():
        timed = [(g.image.megapixels, g.kmseg_seconds) for g in members if g.kmseg_seconds]
        if timed:
            mpx = statistics.median(m for m, _ in timed)
            seconds = statistics.median(s for _, s in timed)
            per_mp = statistics.median(s / m for m, s in timed)
            name = f"BSDS500 val, median of {len(timed)} photos"
            rows.append([name, f"{mpx:.2f}", str(k), space, fmt_seconds(seconds), f"{per_mp:.3g}"])
    for g in groups:
        if g.image.group != "bsds" and g.kmseg_seconds:
            per_mp = g.kmseg_seconds / g.image.megapixels
            rows.append(
                [
                    g.image.name,
                    f"{g.image.megapixels:.2f}",
                    str(g.k),
                    g.space,
                    fmt_seconds(g.kmseg_seconds),
                    f"{per_mp:.3g}",
                ]
            )
    if not rows:
        return ""
    header = ["image", "MP", "k", "space", "kmseg time (s)", "s/MP"]
    return "\n".join(["### kmseg time per megapixel", "", markdown_table(header, rows), ""])


# -- the cold command line ---------------------------------------------------------------------

DECODE_SNIPPET = """\
import json, sys, time
start = time.perf_counter()
import kmseg
read = kmseg.read_image
imported = time.perf_counter()
image = read(sys.argv[1])
print(json.dumps({"import": imported - start, "read": time.perf_counter() - imported}))
"""


STAGES = ["read", "features", "cluster"]


class ProcessRun(NamedTuple):
    wall: float
    peak_mb: float
    code: int
    stdout: str
    stderr: str


def timed_process(cmd: list[str], limit: float) -> ProcessRun:
    """Wall time from process start to exit, and the process's own peak RSS (``wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(cmd, stdout=out, stderr=err)
        watchdog = threading.Timer(limit, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        texts = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return ProcessRun(wall, usage.ru_maxrss / 1024, process.returncode, *texts)


def kmseg_executable() -> str:
    beside = Path(sys.executable).with_name("kmseg")
    return str(beside) if beside.exists() else "kmseg"


def largest_jpeg() -> Path | None:
    if not LARGE_DIR.exists():
        return None
    jpegs = [p for p in LARGE_DIR.iterdir() if p.suffix.lower() in (".jpg", ".jpeg")]
    return max(jpegs, key=pixel_count, default=None)


def cli_row(run: int, image: Path, limit: float) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="bench_kmseg_cli_") as outdir:
        cmd = [kmseg_executable(), "segment", str(image), "-k", "8", "-o", outdir]
        result = timed_process(cmd, limit)
        report = Path(outdir) / f"{image.stem}.json"
        written = len(list(Path(outdir).iterdir()))
        timings = json.loads(report.read_text()).get("timings_s", {}) if report.exists() else {}
    shown = f"`kmseg segment {image.name} -k 8 -o TMPDIR`"
    if result.code != 0:
        return [
            str(run),
            shown,
            fmt_seconds(result.wall),
            f"{result.peak_mb:.0f}",
            f"exit code {result.code}: {result.stderr.strip()[-300:]}",
        ]
    inside = sum(timings.values())
    order = [n for n in STAGES if n in timings] + [n for n in timings if n not in STAGES]
    parts = ", ".join(f"{name} {timings[name]:.2f} s" for name in order)
    detail = (
        f"{parts} (timings_s of the .json report); the other {result.wall - inside:.2f} s: "
        f"interpreter start-up, imports and writing the {written} output files"
    )
    return [str(run), shown, fmt_seconds(result.wall), f"{result.peak_mb:.0f}", detail]


def decode_row(run: int, image: Path, limit: float) -> list[str]:
    result = timed_process([sys.executable, "-c", DECODE_SNIPPET, str(image)], limit)
    shown = "decode only: `kmseg.read_image` in a fresh python"
    if result.code != 0:
        detail = f"exit code {result.code}: {result.stderr.strip()[-300:]}"
    else:
        inside = json.loads(result.stdout.strip().splitlines()[-1])
        detail = f"import kmseg {inside['import']:.2f} s, read_image {inside['read']:.2f} s"
    return [str(run), shown, fmt_seconds(result.wall), f"{result.peak_mb:.0f}", detail]


def cli_section(opts: argparse.Namespace) -> str:
    image = largest_jpeg()
    if image is None:
        return f"### Cold command line\n\nskipped: no JPEG in {LARGE_DIR}\n"
    rows = []
    for run in (1, 2):
        print(f"[cli] run {run}: kmseg segment {image.name}", file=sys.stderr, flush=True)
        rows.append(cli_row(run, image, opts.time_limit))
        rows.append(decode_row(run, image, opts.time_limit))
    header = ["run", "process", "wall, start to exit (s)", "peak RSS (MB)", "inside the process"]
    intro = (
        f"`{image.name}` ({pixel_count(image) / 1e6:.1f} MP), run twice: the first run may "
        "include first reads of the files into the page cache."
    )
    return "\n".join(["### Cold command line", "", intro, "", markdown_table(header, rows), ""])


# -- report ------------------------------------------------------------------------------------


class Report:
    """Markdown printed as it comes, and rewritten to ``--output`` after every section."""

    def __init__(self, output: Path | None) -> None:
        self.output, self.parts = output, []

    def add(self, text: str) -> None:
        if not text:
            return
        print(text, flush=True)
        self.parts.append(text)
        if self.output:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            self.output.write_text("\n".join(self.parts))


def version(*distributions: str) -> str:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def total_ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def load_average() -> str:
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def header(opts: argparse.Namespace, argv: list[str]) -> str:
    versions = ", ".join(
        f"{label} {version(*names)}"
        for label, names in [
            ("numpy", ["numpy"]),
            ("kmseg", ["kmseg"]),
            ("opencv", ["opencv-python-headless", "opencv-python", "opencv-contrib-python"]),
            ("scikit-learn", ["scikit-learn"]),
            ("Pillow", ["pillow"]),
            ("scikit-image", ["scikit-image"]),
            ("faiss-cpu", ["faiss-cpu"]),
        ]
    )
    command = shlex.join(["python", "benchmarks/bench_kmeans.py", *argv])
    return "\n".join(
        [
            "## kmseg k-means benchmark",
            "",
            f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- machine: {platform.system()} {platform.machine()}, "
            f"os.cpu_count() = {os.cpu_count()}, {total_ram_gib()} RAM; "
            f"Python {platform.python_version()}",
            f"- versions: {versions}",
            f"- command: `{command}`",
            f"- settings: time = median of {opts.repeat} run(s) (1 run if the first took over "
            f"{opts.slow:g} s), a run over {opts.time_limit:g} s is killed; every measurement in a "
            "fresh spawned process",
            f"- load average (1 / 5 / 15 min) at start: {load_average()}",
            "",
        ]
    )


# -- main --------------------------------------------------------------------------------------


def word_list(values: list[str]) -> list[str]:
    return [word for value in values for word in value.replace(",", " ").split()]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large", action="store_true", help="the >= 8 MP photos")
    parser.add_argument(
        "--bsds",
        type=int,
        nargs="?",
        const=20,
        metavar="N",
        help="the first N BSDS500 val photos (default N: 20)",
    )
    parser.add_argument("--png16", action="store_true", help="the 16-bit RGB PNG")
    parser.add_argument("--multiband", action="store_true", help="the 4-band NAIP GeoTIFF")
    parser.add_argument("--cli", action="store_true", help="cold `kmseg segment` vs decode")
    parser.add_argument("--k", nargs="+", default=[str(k) for k in DEFAULT_K])
    parser.add_argument("--spaces", nargs="+", default=list(SPACES))
    parser.add_argument(
        "--methods", nargs="+", default=list(METHODS), help=f"any of {', '.join(METHODS)}"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per fast measurement")
    parser.add_argument(
        "--slow",
        type=float,
        default=20.0,
        help="a first run over this many seconds is not repeated",
    )
    parser.add_argument(
        "--time-limit", type=float, default=300.0, help="kill a run after this many seconds"
    )
    parser.add_argument("--output", type=Path, help="also write the markdown here")
    parser.add_argument("--verbose", action="store_true", help="per-photo BSDS tables")
    opts = parser.parse_args(argv)
    opts.k = [int(k) for k in word_list(opts.k)]
    opts.spaces = word_list(opts.spaces)
    opts.methods = word_list(opts.methods)
    checks = [("space", opts.spaces, SPACES), ("method", opts.methods, METHODS)]
    for name, values, allowed in checks:
        unknown = [v for v in values if v not in allowed]
        if unknown:
            parser.error(f"unknown {name}(s) {unknown}; use {', '.join(allowed)}")
    if not (opts.large or opts.bsds or opts.png16 or opts.multiband or opts.cli):
        opts.large = opts.png16 = opts.multiband = opts.cli = True
        opts.bsds = 20
    return opts


def run_images(images: list[ImageInfo], opts: argparse.Namespace, report: Report) -> list[Group]:
    total = sum(
        not_applicable(METHODS[key], image, space) is None
        for image in images
        for space in opts.spaces
        if space_problem(image, space) is None
        for key in opts.methods
    ) * len(opts.k)
    progress = Progress(total)
    everything: list[Group] = []
    for image in images:
        groups, notes = [], []
        for space in opts.spaces:
            problem = space_problem(image, space)
            if problem:
                notes.append(f"- {problem}: skipped")
                continue
            for k in opts.k:
                group = Group(image, k, space)
                run_group(group, opts, progress)
                groups.append(group)
        everything += groups
        if image.group != "bsds" or opts.verbose:
            report.add(image_section(image, groups, notes, opts))
    return everything


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opts = parse_args(argv)
    report = Report(opts.output)
    report.add(header(opts, argv))
    started = time.monotonic()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_kmeans_") as cache:
        images = prepare_images(select_images(opts, notes), Path(cache), notes)
        report.add("\n".join(f"- note: {note}" for note in notes) + "\n" if notes else "")
        groups = run_images(images, opts, report)
    bsds = [g for g in groups if g.image.group == "bsds"]
    if bsds:
        report.add(bsds_summary(bsds, opts))
    report.add(scaling_section(groups))
    if opts.cli:
        report.add(cli_section(opts))
    minutes = (time.monotonic() - started) / 60
    report.add(f"- load average at end: {load_average()}; total {minutes:.1f} min\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
