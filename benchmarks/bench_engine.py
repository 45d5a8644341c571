"""Engine benchmark (issue 17, item 6): kmseg against the usual recipes, cold and warm, in one run.

What is measured, per photo group (small: BSDS500 val photos; large: the 12-24 MP photos of
``corpus/large``; many-colour: those photos resampled to 24 MP, with at least 350 k distinct RGB
colours, and the 16-bit PNG photo), each printed as a markdown table with one row per photo and
a median row:

Cold, whole process
    ``kmseg segment PHOTO -k 4 -o TMPDIR`` (the ``kmseg`` next to ``--cold-python``), the
    tutorial's six-line ``cv2.kmeans`` script (:data:`CV2_SCRIPT`, k = 4, 10 attempts) run with
    the same Python, and ImageMagick ``magick PHOTO -kmeans 4 OUT.png`` when an ImageMagick
    >= 7.0.10 is installed (n/a otherwise), and the floor of any tool built on NumPy and Pillow
    (:data:`FLOOR_SCRIPT`: import both, decode the photo, write it back as one PNG at zlib level
    1, no clustering), which bounds from below what kmseg's ratio to the cv2 script can be.
    Each child is started by a small launcher process
    (``posix_spawnp`` + ``os.wait4``, which gives that child's own peak RSS, ``ru_maxrss``; not
    from this process, whose RSS Linux would count in the child's) and the wall time runs from
    start to exit. Median time and largest peak over ``--repeat`` runs. The children get this
    process's environment as it was at start-up (default threads) with the venv's ``bin`` first
    on PATH, and one untimed priming run of each tool comes first (on-disk caches, page cache).
    With an editable install, a kmseg run whose import rebuilt the compiled kernels is discarded
    and run again. BSDS: the first ``--cold-bsds`` (3) photos.
Warm, in process
    The photo is decoded once with ``kmseg.read_image``. Then, each on ``--threads`` (1) threads
    (``KMSEG_THREADS`` for kmseg, set before importing it; ``threadpoolctl.threadpool_limits``
    for the others): ``kmseg.segment(image, k=K, seed=0)``; Pillow
    ``Image.fromarray(image).quantize(K, method=FASTOCTREE or MEDIANCUT, dither=NONE)``;
    libimagequant (``imagequant.quantize_raw_rgba_bytes``, dithering 0, max quality 100, on the
    RGBA bytes made with numpy inside the timed region: ``quantize_pil_image`` builds them with a
    Python loop over the pixels); scikit-learn ``KMeans(K, n_init=10, random_state=0)`` fitted on
    the distinct colours weighted by their pixel counts (the fit alone is timed). Untimed warm-up
    calls come first (kmseg on the first photo of each dtype). Times are medians of ``--repeat``
    runs; a method whose first run takes over ``--slow`` seconds runs once (noted). The ratio
    columns are kmseg's time divided by each reference's (below 1: kmseg is faster).
SSE
    Sum over pixels of the squared RGB distance to the colour of the pixel's centre (float64),
    computed here from each method's labels and centres or palette, never taken from the method.
    It is summed over the weighted distinct-colour histogram, which equals the per-pixel sum when
    the label is a function of the colour; this is checked for every result, and the per-pixel
    sum is used when it fails. Each is printed relative to the reference: the smaller SSE of
    sklearn and kmseg. kmseg's own ``compactness`` is compared with the SSE as a cross-check.

Usage, from the repository root::

    .venv/bin/python benchmarks/bench_engine.py                    # everything, --repeat 3
    .venv/bin/python benchmarks/bench_engine.py --bsds 3 --repeat 1 --no-large
    .venv/bin/python benchmarks/bench_engine.py --bsds 0 --max-large 2 --repeat 1 \\
        --output /tmp/bench/engine.md

Markdown goes to stdout (and to ``--output``); progress goes to stderr. ``imagequant`` (PyPI
package, bindings to libimagequant) is optional: without it its cells say n/a.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import numpy as np

# Helpers shared with the main benchmark (this folder is on sys.path when run as a script).
from bench_kmeans import (
    BSDS_DIR,
    LARGE_DIR,
    PNG16,
    Report,
    fmt_seconds,
    large_photos,
    load_average,
    markdown_table,
    version,
)

TIMES = "\u00d7"  # the multiplication sign, for ratios like "0.8x"
MANY_COLOURS = 350_000
MANY_SIZE = (6000, 4000)  # 24 MP: the large photos resampled (Lanczos) to this size
COLD_K = 4
CHILD_LIMIT = 900.0  # seconds before a cold child process is killed
SSE_ROWS = 256  # image rows per chunk for the per-pixel SSE fallback
MIN_MAGICK = (7, 0, 10)  # first ImageMagick with -kmeans

CV2_SCRIPT = """\
import cv2, numpy as np, sys
img = cv2.imread(sys.argv[1]); img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
Z = np.float32(img.reshape((-1, 3)))
criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
ret, label, center = cv2.kmeans(Z, 4, None, criteria, 10, cv2.KMEANS_RANDOM_CENTERS)
res = np.uint8(center)[label.flatten()].reshape(img.shape); cv2.imwrite(sys.argv[2], cv2.cvtColor(res, cv2.COLOR_RGB2BGR))
"""  # noqa: E501 -- the tutorial's lines, as published

# What any NumPy + Pillow tool pays before clustering: its imports, the decode, one PNG out.
FLOOR_SCRIPT = """\
import numpy as np, sys
from PIL import Image
img = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
Image.fromarray(img).save(sys.argv[2], compress_level=1)
"""

WARM_METHODS = ("kmseg", "sklearn", "fastoctree", "mediancut", "imagequant")
LABELS = {
    "kmseg": "kmseg",
    "sklearn": "sklearn n_init=10",
    "fastoctree": "FASTOCTREE",
    "mediancut": "MEDIANCUT",
    "imagequant": "imagequant",
}
COLD_TOOLS = ("kmseg", "cv2", "floor", "magick")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the photos --------------------------------------------------------------------------------


class Histogram(NamedTuple):
    """The distinct colours of an image, their pixel counts, and each pixel's colour index."""

    colours: np.ndarray  # (n, C) float64
    counts: np.ndarray  # (n,) int64
    inverse: np.ndarray  # (H * W,) index into colours


def histogram(img: np.ndarray) -> Histogram:
    """Distinct colours by ``np.unique`` on the channels packed into one integer per pixel."""
    bits = 8 * img.dtype.itemsize
    channels = img.reshape(-1, img.shape[-1])
    code_type = np.uint32 if bits * channels.shape[1] <= 32 else np.uint64
    codes = np.zeros(len(channels), dtype=code_type)
    for c in range(channels.shape[1]):
        codes <<= code_type(bits)
        codes |= channels[:, c]
    unique, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    mask = code_type((1 << bits) - 1)
    shifts = [bits * (channels.shape[1] - 1 - c) for c in range(channels.shape[1])]
    colours = np.stack([(unique >> code_type(s)) & mask for s in shifts], axis=1)
    return Histogram(colours.astype(np.float64), counts.astype(np.int64), inverse.ravel())


@dataclass
class PhotoStats:
    megapixels: float
    distinct: int
    dtype: str


STATS: dict[Path, PhotoStats] = {}  # filled as photos are decoded


def photo_stats(path: Path) -> PhotoStats:
    """Size and distinct colours of a photo (decoded here unless already known)."""
    if path not in STATS:
        import kmseg

        img = kmseg.read_image(path)
        STATS[path] = PhotoStats(img.shape[0] * img.shape[1] / 1e6,
                                 len(histogram(img).counts), str(img.dtype))
    return STATS[path]


@dataclass
class Group:
    key: str
    title: str
    photos: list[Path] = field(default_factory=list)
    cold_photos: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def available(group: Group, wanted: bool, option: str, folder: Path) -> bool:
    """Whether the group runs; if not, a note says why (a missing folder is no error)."""
    if not wanted:
        group.notes.append(f"skipped: {option}")
    elif not folder.is_dir():
        group.notes.append(f"skipped: {folder} is missing")
    return wanted and folder.is_dir()


def small_group(opts: argparse.Namespace) -> Group:
    """The first ``--bsds`` BSDS500 val photos."""
    group = Group("small", f"small: BSDS500 val, first {opts.bsds} photos")
    if available(group, bool(opts.bsds), "--bsds 0", BSDS_DIR):
        group.photos = sorted(BSDS_DIR.glob("*.jpg"))[: opts.bsds]
        group.cold_photos = group.photos[: opts.cold_bsds]
    return group


def large_group(opts: argparse.Namespace) -> Group:
    group = Group("large", f"large: {LARGE_DIR.name} photos (>= 8 MP)")
    if available(group, opts.large, "--no-large", LARGE_DIR):
        group.photos = group.cold_photos = large_photos()[: opts.max_large]
    return group


def resampled(path: Path, cache: Path) -> Path:
    """The photo resampled to MANY_SIZE (Lanczos), as a PNG in ``cache`` (made once): the
    interpolation makes colours the original does not have, 0.37-0.70 M of them."""
    from PIL import Image

    out = cache / f"{path.stem}_{MANY_SIZE[0]}x{MANY_SIZE[1]}.png"
    if not out.exists():
        cache.mkdir(parents=True, exist_ok=True)
        progress(f"[many] resampling {path.name} to {MANY_SIZE}")
        with Image.open(path) as photo:
            photo.convert("RGB").resize(MANY_SIZE, Image.Resampling.LANCZOS).save(out)
    return out


def many_group(large: Group, opts: argparse.Namespace) -> Group:
    """The large photos resampled to 24 MP that have many distinct colours (counted here), and
    the 16-bit PNG photo."""
    group = Group("many", f"many-colour: large photos resampled to {MANY_SIZE[0]}x"
                          f"{MANY_SIZE[1]} with >= {MANY_COLOURS:,} distinct colours, and the "
                          "16-bit PNG photo")
    counts = []
    for path in large.photos:
        big = resampled(path, opts.cache)
        counts.append(f"{big.name} {photo_stats(big).distinct:,}")
        if photo_stats(big).distinct >= MANY_COLOURS:
            group.photos.append(big)
    if not large.photos:
        group.notes.append("no large photos in this run")
    else:
        group.notes.append("distinct colours: " + ", ".join(counts))
    if PNG16.exists():
        group.photos.append(PNG16)
    else:
        group.notes.append(f"skipped the 16-bit photo: {PNG16} is missing")
    group.cold_photos = group.photos
    return group


# -- warm, in process --------------------------------------------------------------------------


class Result(NamedTuple):
    """Labels (per pixel, or per distinct colour) and the centres they index, float64."""

    labels: np.ndarray
    centres: np.ndarray
    per_colour: bool = False
    compactness: float | None = None


def run_kmseg(img: np.ndarray, k: int, hist: Histogram) -> Result:
    import kmseg

    seg = kmseg.segment(img, k=k, seed=0)
    return Result(seg.labels, np.asarray(seg.centers, np.float64), compactness=seg.compactness)


def run_sklearn(img: np.ndarray, k: int, hist: Histogram) -> Result:
    from sklearn.cluster import KMeans

    model = KMeans(k, n_init=10, random_state=0).fit(hist.colours, sample_weight=hist.counts)
    return Result(model.labels_, model.cluster_centers_, per_colour=True)


def _pillow(img: np.ndarray, k: int, method: str) -> Result:
    from PIL import Image

    quantized = Image.fromarray(img).quantize(
        k, method=Image.Quantize[method], dither=Image.Dither.NONE
    )
    palette = np.asarray(quantized.getpalette()[: 3 * k], np.float64).reshape(-1, 3)
    return Result(np.asarray(quantized), palette)


def run_fastoctree(img: np.ndarray, k: int, hist: Histogram) -> Result:
    return _pillow(img, k, "FASTOCTREE")


def run_mediancut(img: np.ndarray, k: int, hist: Histogram) -> Result:
    return _pillow(img, k, "MEDIANCUT")


def run_imagequant(img: np.ndarray, k: int, hist: Histogram) -> Result:
    import imagequant

    height, width = img.shape[:2]
    rgba = np.empty((height, width, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = img, 255
    data, palette = imagequant.quantize_raw_rgba_bytes(
        rgba.tobytes(), width, height, dithering_level=0.0, max_colors=k, max_quality=100
    )
    labels = np.frombuffer(data, np.uint8).reshape(height, width)
    return Result(labels, np.asarray(palette, np.float64).reshape(-1, 4)[:k, :3])


RUNNERS: dict[str, Callable[[np.ndarray, int, Histogram], Result]] = {
    "kmseg": run_kmseg,
    "sklearn": run_sklearn,
    "fastoctree": run_fastoctree,
    "mediancut": run_mediancut,
    "imagequant": run_imagequant,
}


def unavailable(method: str, img: np.ndarray) -> str | None:
    """Why a method cannot run on this image (None: it can)."""
    if method == "imagequant" and not has_module("imagequant"):
        return "imagequant is not installed"
    eight_bit_rgb = img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    if method in ("fastoctree", "mediancut", "imagequant") and not eight_bit_rgb:
        return "8-bit RGB only"
    return None


def has_module(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is not None


def sse_of(img: np.ndarray, hist: Histogram, result: Result) -> tuple[float, bool]:
    """SSE of a result, and whether its labels were a function of the colour (histogram sum)."""
    centres = result.centres
    if result.per_colour:
        by_colour, exact = result.labels, True
    else:
        flat = np.asarray(result.labels).ravel()
        by_colour = np.empty(len(hist.counts), dtype=flat.dtype)
        by_colour[hist.inverse] = flat
        exact = bool(np.array_equal(by_colour[hist.inverse], flat))
        if not exact:
            return per_pixel_sse(img, result.labels, centres), False
    diff = hist.colours - centres[by_colour.astype(np.intp)]
    return float(hist.counts @ np.einsum("ij,ij->i", diff, diff)), exact


def per_pixel_sse(img: np.ndarray, labels: np.ndarray, centres: np.ndarray) -> float:
    height, width = img.shape[:2]
    labels = np.asarray(labels).reshape(height, width)
    total = 0.0
    for top in range(0, height, SSE_ROWS):
        rows = slice(top, top + SSE_ROWS)
        diff = img[rows].reshape(-1, centres.shape[1]) - centres[labels[rows].ravel()]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total


@dataclass
class Warm:
    """One photo's warm measurements."""

    photo: str
    megapixels: float
    distinct: int
    unique_s: float
    seconds: dict[str, float] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    sse: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # method -> reason
    notes: list[str] = field(default_factory=list)
    compactness_gap: float | None = None  # kmseg's compactness / SSE computed here - 1

    @property
    def reference(self) -> float | None:
        values = [self.sse[m] for m in ("sklearn", "kmseg") if m in self.sse]
        return min(values) if values else None


def time_runs(call: Callable[[], Result], repeat: int, slow: float) -> tuple[list[float], Result]:
    """Wall times of ``repeat`` calls (one when the first is slower than ``slow``)."""
    times: list[float] = []
    result = None
    for _ in range(repeat):
        result = None  # free the previous output first
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
        if times[0] > slow:
            break
    return times, result


class WarmBench:
    """Warm measurements, one per photo path, shared by the groups (each photo measured once)."""

    def __init__(self, opts: argparse.Namespace) -> None:
        from threadpoolctl import threadpool_limits

        self.opts = opts
        self.limits = threadpool_limits
        self.done: dict[Path, Warm] = {}
        self.warmed: set[str] = set()

    def measure(self, path: Path) -> Warm:
        if path not in self.done:
            self.done[path] = self._measure(path)
        return self.done[path]

    def _measure(self, path: Path) -> Warm:
        import kmseg

        img = kmseg.read_image(path)
        start = time.perf_counter()
        hist = histogram(img)
        warm = Warm(path.name, img.shape[0] * img.shape[1] / 1e6, len(hist.counts),
                    time.perf_counter() - start)
        STATS[path] = PhotoStats(warm.megapixels, warm.distinct, str(img.dtype))
        self._warm_up(img)
        for method in WARM_METHODS:
            reason = unavailable(method, img)
            if reason:
                warm.missing[method] = reason
                continue
            self._run(method, img, hist, warm)
        return warm

    def _warm_up(self, img: np.ndarray) -> None:
        """kmseg on the first photo of each dtype; the references once on a 64x64 crop."""
        if str(img.dtype) in self.warmed:
            return
        self.warmed.add(str(img.dtype))
        progress(f"[warm-up] {img.dtype}")
        run_kmseg(img, self.opts.k, histogram(img[:1, :1]))
        crop = np.ascontiguousarray(img[:64, :64])
        for method in WARM_METHODS[1:]:
            if unavailable(method, crop) is None:
                with self.limits(self.opts.threads):
                    RUNNERS[method](crop, self.opts.k, histogram(crop))

    def _run(self, method: str, img: np.ndarray, hist: Histogram, warm: Warm) -> None:
        opts = self.opts
        try:
            with self.limits(opts.threads):
                times, result = time_runs(
                    lambda: RUNNERS[method](img, opts.k, hist), opts.repeat, opts.slow
                )
        except Exception as error:  # a failing reference must not stop the benchmark
            warm.missing[method] = f"error: {type(error).__name__}: {error}"
            progress(f"  {warm.photo} {method}: {warm.missing[method]}")
            return
        warm.seconds[method], warm.runs[method] = statistics.median(times), len(times)
        warm.sse[method], exact = sse_of(img, hist, result)
        if not exact:
            warm.notes.append(f"{LABELS[method]}: labels are not a function of the colour; "
                              "SSE summed per pixel")
        if result.compactness is not None:
            warm.compactness_gap = result.compactness / max(warm.sse[method], 1e-300) - 1
        progress(f"  {warm.photo} {method}: {fmt_seconds(warm.seconds[method])} s "
                 f"({len(times)} run(s)), SSE {warm.sse[method]:.6g}")


# -- cold, whole process -----------------------------------------------------------------------


# A child's ru_maxrss counts the memory of the process that started it: Linux records the
# high-water RSS of the pre-exec image (for vfork/posix_spawn, the parent's own) at exec. So the
# tools are started by this small launcher, never from the benchmark process with its hundreds
# of MB; the launcher's own peak (a bare ``/bin/true`` run, see :func:`rss_floor`) is the floor.
LAUNCHER = """\
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    out.write(f"{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


class ChildRun(NamedTuple):
    wall: float
    peak_mb: float
    code: int
    stderr: str
    stdout: str


def run_child(cmd: list[str], env: dict[str, str], limit: float = CHILD_LIMIT) -> ChildRun:
    """Wall time from start to exit and the child's own peak RSS (``os.wait4`` in the
    launcher); the whole session is killed after ``limit`` seconds."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as result,
    ):
        launcher = [sys.executable, "-S", "-c", LAUNCHER, result.name, *cmd]
        process = subprocess.Popen(launcher, stdout=out, stderr=err, env=env,
                                   start_new_session=True)
        try:
            process.wait(limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        texts = []
        for stream in (err, out):
            stream.seek(0)
            texts.append(stream.read().decode(errors="replace"))
        fields = result.read().split()
    if len(fields) != 3:
        return ChildRun(float("nan"), float("nan"), process.returncode or -1, *texts)
    return ChildRun(float(fields[0]), int(fields[1]) / 1024, int(fields[2]), *texts)  # KiB


def rss_floor(env: dict[str, str]) -> float:
    """Peak RSS (MB) the launcher reports for ``/bin/true``: no child reads below it."""
    return run_child(["true"], env).peak_mb


def find_magick() -> tuple[str | None, str]:
    """An ImageMagick executable with ``-kmeans`` (>= 7.0.10), and what was found."""
    found = []
    for name in ("magick", "convert"):
        exe = shutil.which(name)
        if exe is None:
            continue
        try:
            out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30)
            text = out.stdout + out.stderr
        except (OSError, subprocess.SubprocessError) as error:
            text = str(error)
        match = re.search(r"ImageMagick (\d+)\.(\d+)\.(\d+)", text)
        if match and tuple(int(v) for v in match.groups()) >= MIN_MAGICK:
            return exe, f"{exe} (ImageMagick {'.'.join(match.groups())})"
        first = text.strip().splitlines()[0] if text.strip() else "no output"
        found.append(f"`{exe} -version`: {first if len(first) <= 90 else first[:87] + '...'}")
    if not found:
        return None, "no magick/convert on PATH"
    return None, "no ImageMagick >= 7.0.10 (-kmeans): " + "; ".join(found)


@dataclass
class Cold:
    photo: str
    seconds: dict[str, float] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    rebuilt: int = 0  # kmseg runs discarded because the editable install rebuilt itself


# With MESONPY_EDITABLE_VERBOSE set, an editable (meson-python) install of kmseg prints this when
# an import rebuilds the compiled kernels: such a run times the compiler and is run again.
REBUILD_MARK = "meson-python: building"
MAX_REBUILDS = 3


class ColdBench:
    """Cold whole-process runs, one per photo path, shared by the groups."""

    def __init__(self, opts: argparse.Namespace, env: dict[str, str]) -> None:
        self.opts, self.env = opts, dict(env)
        # The cold runs' Python: a plain install's shows what a user meets (an editable
        # install checks its build at each import).
        self.python = opts.cold_python
        self.kmseg = self.python.parent / "kmseg"
        self.env["MESONPY_EDITABLE_VERBOSE"] = "1"
        self.magick, self.magick_note = find_magick()
        self.tmp = Path(tempfile.mkdtemp(prefix="bench_engine_"))
        self.script = self.tmp / "tutorial_cv2.py"
        self.script.write_text(CV2_SCRIPT)
        self.floor_script = self.tmp / "floor.py"
        self.floor_script.write_text(FLOOR_SCRIPT)
        self.done: dict[Path, Cold] = {}
        self.primed = False

    def command(self, tool: str, photo: Path, out: Path) -> list[str] | None:
        if tool == "kmseg":
            return [str(self.kmseg), "segment", str(photo), "-k", str(COLD_K), "-o", str(out)]
        if tool == "cv2":
            return [str(self.python), str(self.script), str(photo), str(out / "cv2.png")]
        if tool == "floor":
            return [str(self.python), str(self.floor_script), str(photo), str(out / "floor.png")]
        if self.magick is None:
            return None
        return [self.magick, str(photo), "-kmeans", str(COLD_K), str(out / "magick.png")]

    def once(self, tool: str, photo: Path) -> ChildRun | None:
        with tempfile.TemporaryDirectory(dir=self.tmp) as out:
            cmd = self.command(tool, photo, Path(out))
            return None if cmd is None else run_child(cmd, self.env)

    def measure(self, path: Path) -> Cold:
        if path not in self.done:
            if not self.primed:  # untimed: caches of the tools and the page cache
                progress(f"[cold] priming on {path.name}")
                for tool in COLD_TOOLS:
                    with contextlib.suppress(OSError):
                        self.once(tool, path)
                self.primed = True
            self.done[path] = self._measure(path)
        return self.done[path]

    def _measure(self, path: Path) -> Cold:
        cold = Cold(path.name)
        for tool in COLD_TOOLS:
            runs: list[ChildRun] = []
            while len(runs) < self.opts.repeat:
                try:
                    run = self.once(tool, path)
                except OSError as error:  # e.g. the executable is missing
                    cold.missing[tool] = f"{type(error).__name__}: {error}"
                    break
                if run is None:
                    cold.missing[tool] = self.magick_note
                    break
                if run.code != 0:
                    tail = run.stderr.strip().splitlines()[-1:] or ["no message"]
                    cold.missing[tool] = f"exit code {run.code}: {tail[0][:200]}"
                    break
                if REBUILD_MARK in run.stdout and cold.rebuilt < MAX_REBUILDS:
                    cold.rebuilt += 1
                    progress(f"  {path.name} cold {tool}: rebuilt the editable install; again")
                    continue
                runs.append(run)
            if tool not in cold.missing:
                cold.seconds[tool] = statistics.median(r.wall for r in runs)
                cold.peak_mb[tool] = max(r.peak_mb for r in runs)
                progress(f"  {path.name} cold {tool}: {fmt_seconds(cold.seconds[tool])} s, "
                         f"{cold.peak_mb[tool]:.0f} MB")
            else:
                progress(f"  {path.name} cold {tool}: n/a ({cold.missing[tool]})")
        return cold

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- tables ------------------------------------------------------------------------------------


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}{TIMES}" if value >= 100 else f"{value:.2g}{TIMES}"


def fmt_sse(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def median_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def warm_columns(k: int) -> list[tuple[str, Callable[[Warm], float | None], Callable]]:
    """(header, value of a photo, formatter): the columns of a warm table after the photo name."""

    def seconds(m: str) -> Callable[[Warm], float | None]:
        return lambda w: w.seconds.get(m)

    def ratio(m: str) -> Callable[[Warm], float | None]:
        return lambda w: (w.seconds["kmseg"] / w.seconds[m]
                          if "kmseg" in w.seconds and m in w.seconds else None)

    def sse(m: str) -> Callable[[Warm], float | None]:
        return lambda w: w.sse[m] / w.reference if m in w.sse and w.reference else None

    def fmt_s(v: float | None) -> str:
        return "n/a" if v is None else fmt_seconds(v)

    references = ("fastoctree", "mediancut", "imagequant", "sklearn")
    columns = [
        ("MP", lambda w: w.megapixels, lambda v: f"{v:.2f}"),
        ("distinct colours", lambda w: w.distinct, lambda v: f"{v:,.0f}"),
        (f"kmseg s (k={k})", seconds("kmseg"), fmt_s),
    ]
    columns += [(f"{TIMES}{LABELS[m]}", ratio(m), fmt_ratio) for m in references]
    columns += [(f"{LABELS[m]} s", seconds(m), fmt_s) for m in references]
    columns += [(f"SSE {LABELS[m]}", sse(m), fmt_sse) for m in WARM_METHODS]
    columns += [("ref SSE/px", lambda w: w.reference and w.reference / (w.megapixels * 1e6),
                 lambda v: "n/a" if v is None else f"{v:.5g}")]
    return columns


def warm_table(rows: list[Warm], k: int) -> str:
    columns = warm_columns(k)
    body = [[w.photo] + [fmt(get(w)) if get(w) is not None else "n/a" for _, get, fmt in columns]
            for w in rows]
    if len(rows) > 1:
        medians = [median_of([get(w) for w in rows]) for _, get, _ in columns]
        cells = [fmt(v) if v is not None else "n/a"
                 for v, (_, _, fmt) in zip(medians, columns, strict=True)]
        body.append([f"**median of {len(rows)}**", *cells])
    return markdown_table(["photo"] + [name for name, _, _ in columns], body)


def warm_notes(rows: list[Warm]) -> list[str]:
    notes = []
    for w in rows:
        for method, reason in w.missing.items():
            notes.append(f"- {w.photo}: {LABELS[method]} n/a ({reason})")
        for method, runs in w.runs.items():
            if runs < max(w.runs.values()):
                notes.append(f"- {w.photo}: {LABELS[method]} ran once (over --slow)")
        notes += [f"- {w.photo}: {note}" for note in w.notes]
    gaps = [w.compactness_gap for w in rows if w.compactness_gap is not None]
    if gaps:
        worst = max(gaps, key=abs)
        notes.append(f"- check: kmseg's own compactness / the SSE computed here - 1 = "
                     f"{worst:.1e} (largest over the photos)")
    unique = median_of([w.unique_s for w in rows])
    if unique is not None:
        notes.append(f"- building the colour histogram for sklearn (np.unique, not in its time): "
                     f"median {fmt_seconds(unique)} s")
    return notes


COLD_HEADER = ["photo", "kmseg s", "kmseg MB", "cv2 s", "cv2 MB", "ratio kmseg/cv2",
               "I/O floor s", "ratio I/O floor/cv2", "magick s", "magick MB"]


def cold_cells(values: dict[str, float | None]) -> list[str]:
    def cell(key: str, spec: str) -> str:
        value = values.get(key)
        return "n/a" if value is None else (fmt_seconds(value) if spec == "s" else f"{value:.0f}")

    return [cell("kmseg s", "s"), cell("kmseg MB", "MB"), cell("cv2 s", "s"),
            cell("cv2 MB", "MB"), fmt_ratio(values.get("ratio")), cell("floor s", "s"),
            fmt_ratio(values.get("floor ratio")), cell("magick s", "s"), cell("magick MB", "MB")]


def cold_values(cold: Cold) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for tool in COLD_TOOLS:
        values[f"{tool} s"] = cold.seconds.get(tool)
        values[f"{tool} MB"] = cold.peak_mb.get(tool)
    if "kmseg" in cold.seconds and "cv2" in cold.seconds:
        values["ratio"] = cold.seconds["kmseg"] / cold.seconds["cv2"]
    if "floor" in cold.seconds and "cv2" in cold.seconds:
        values["floor ratio"] = cold.seconds["floor"] / cold.seconds["cv2"]
    return values


def cold_table(rows: list[Cold]) -> str:
    per_photo = [cold_values(c) for c in rows]
    body = [[c.photo, *cold_cells(v)] for c, v in zip(rows, per_photo, strict=True)]
    if len(rows) > 1:
        medians = {key: median_of([v.get(key) for v in per_photo]) for key in per_photo[0]}
        body.append([f"**median of {len(rows)}**", *cold_cells(medians)])
    return markdown_table(COLD_HEADER, body)


def cold_notes(rows: list[Cold]) -> list[str]:
    notes = set()
    for cold in rows:
        for tool, reason in cold.missing.items():
            notes.add(f"- {tool} n/a: {reason}")
    rebuilt = sum(cold.rebuilt for cold in rows)
    if rebuilt:
        notes.add(f"- {rebuilt} kmseg run(s) discarded and run again: the editable install "
                  "rebuilt its compiled kernels during the import")
    return sorted(notes)


# -- the run -----------------------------------------------------------------------------------


def header_text(opts: argparse.Namespace, argv: list[str], magick_note: str) -> str:
    import kmseg

    versions = ", ".join(f"{name} {version(*dists)}" for name, dists in [
        ("Pillow", ["pillow"]),
        ("scikit-learn", ["scikit-learn"]),
        ("opencv", ["opencv-python-headless", "opencv-python", "opencv-contrib-python"]),
        ("imagequant", ["imagequant"]),
    ])
    return "\n".join([
        "## kmseg engine benchmark",
        "",
        f"- {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; kmseg "
        f"{kmseg.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}; "
        f"{versions}",
        f"- warm: {opts.threads} thread(s) each (KMSEG_THREADS={os.environ['KMSEG_THREADS']}, "
        f"threadpool_limits({opts.threads})), k = {opts.k}; cold: k = {COLD_K}, default threads; "
        f"median of {opts.repeat} run(s)",
        f"- machine: os.cpu_count() = {os.cpu_count()}, load average (1/5/15 min) at start: "
        f"{load_average()}",
        f"- ImageMagick: {magick_note}",
        f"- cold peak RSS is measured by a launcher process; the floor (its figure for "
        f"`/bin/true`) is {rss_floor(dict(os.environ)):.0f} MB",
        f"- command: `{shlex.join(['python', 'benchmarks/bench_engine.py', *argv])}`",
        "",
    ])


def group_section(group: Group, opts: argparse.Namespace, warm: WarmBench | None,
                  cold: ColdBench | None) -> str:
    parts = [f"### {group.title}", ""]
    parts += [f"- {note}" for note in group.notes]
    if group.notes:
        parts.append("")
    if warm is not None and group.photos:
        rows = []
        for index, path in enumerate(group.photos, 1):
            progress(f"[warm {group.key} {index}/{len(group.photos)}] {path.name}")
            rows.append(warm.measure(path))
        ratios = f"{TIMES}X = kmseg time / X's time"
        parts += [f"Warm, in process, k = {opts.k} ({ratios}; SSE relative to the best of "
                  "sklearn and kmseg):", "", warm_table(rows, opts.k), ""]
        parts += [*warm_notes(rows), ""]
    if cold is not None and group.cold_photos:
        rows = []
        for index, path in enumerate(group.cold_photos, 1):
            progress(f"[cold {group.key} {index}/{len(group.cold_photos)}] {path.name}")
            rows.append(cold.measure(path))
        parts += [f"Cold, whole process, k = {COLD_K} (time: median; MB: peak RSS of the child):",
                  "", cold_table(rows), ""]
        parts += [*cold_notes(rows), ""]
    return "\n".join(parts).rstrip() + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bsds", type=int, default=10, metavar="N",
                        help="first N BSDS500 val photos (default 10; 0: none)")
    parser.add_argument("--cold-bsds", type=int, default=3, metavar="N",
                        help="of which the first N also cold (default 3)")
    parser.add_argument("--large", action=argparse.BooleanOptionalAction, default=True,
                        help="the large photos (default on)")
    parser.add_argument("--max-large", type=int, default=None, metavar="N",
                        help="only the first N large photos")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--cold-only", action="store_true", help="only the cold tables")
    only.add_argument("--warm-only", action="store_true", help="only the warm tables")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--threads", type=int, default=1, help="threads for the warm runs")
    parser.add_argument("--k", type=int, default=8, help="clusters for the warm runs (default 8)")
    parser.add_argument("--slow", type=float, default=60.0,
                        help="a warm method whose first run takes longer runs once (default 60)")
    parser.add_argument("--output", type=Path, help="also write the markdown to this file")
    parser.add_argument("--cold-python", type=Path, default=Path(sys.executable),
                        help="the Python whose kmseg and cv2 the cold runs use (default: this "
                             "one; a venv with a plain `pip install .` and opencv shows what a "
                             "user meets)")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "kmseg-bench-engine",
                        help="where the resampled 24 MP photos are kept between runs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opts = parse_args(argv)
    # The children's environment: as this process was started, with the venv's bin first on
    # PATH as if it were activated (an editable install rebuilds itself with its tools).
    cold_env = dict(os.environ)
    cold_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    os.environ["PATH"] = cold_env["PATH"]  # for this process's import of kmseg too
    os.environ["KMSEG_THREADS"] = str(opts.threads)  # before kmseg is imported
    import kmseg  # noqa: F401 -- imported here, after KMSEG_THREADS is set

    warm = None if opts.cold_only else WarmBench(opts)
    cold = None if opts.warm_only else ColdBench(opts, cold_env)
    report = Report(opts.output)
    report.add(header_text(opts, argv, cold.magick_note if cold else find_magick()[1]))
    try:
        large = large_group(opts)
        for group in (small_group(opts), large):
            report.add(group_section(group, opts, warm, cold))
        report.add(group_section(many_group(large, opts), opts, warm, cold))
    finally:
        if cold is not None:
            cold.close()
    report.add(f"- load average at the end: {load_average()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
