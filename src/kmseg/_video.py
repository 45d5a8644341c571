"""Frame sequences: one palette for a whole clip, so that colours do not flicker.

An animated GIF / WebP / multi-page TIFF, a folder of frames, or a video file (read with
imageio-ffmpeg, the ``video`` extra) is read twice: the first pass adds up the colour
histograms of the frames and fits one palette (k-means once); the second labels every frame by
its nearest centre. A pixel whose colour does not change between two frames keeps its label:
there is nothing to flicker. Per-frame compactness is reported.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._errors import ImageReadError, ParameterError, with_source
from ._options import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from ._segment import KMeansSegmenter
from ._write import atomic_write, output_folder, write_image
from .io import load_image


@dataclass
class VideoResult:
    """What :func:`segment_video` did."""

    n_frames: int
    model: KMeansSegmenter
    compactness: list[float] = field(default_factory=list)  # of each frame
    files: dict[str, str] = field(default_factory=dict)  # role -> file name


def frames(source: str | os.PathLike) -> Iterator[np.ndarray]:
    """The frames of a clip as arrays, in order (each read when asked for).

    Raises
    ------
    ImageReadError
        Missing or unreadable input, an empty folder, a file in the folder that is not an
        image, or (video) no ffmpeg plugin.
    ParameterError
        Frames of different sizes.
    """
    path = Path(source)
    if path.is_dir():
        yield from _checked_sizes(_folder_frames(path), path)
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        yield from _checked_sizes(_video_frames(path), path)
    else:
        yield from _image_frames(path)


def _folder_frames(folder: Path) -> Iterator[tuple[np.ndarray, str]]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageReadError(with_source(
            f"no frame here (image files: {', '.join(IMAGE_SUFFIXES)})", str(folder)))
    for file in files:
        yield load_image(file).pixels, str(file)


def _video_frames(path: Path) -> Iterator[tuple[np.ndarray, str]]:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ImageReadError(with_source(
            "reading video needs the 'video' extra: pip install imageio-ffmpeg (or "
            "pip install '.[video]' in the kmseg folder)", str(path))
        ) from None
    if not path.is_file():
        raise ImageReadError(with_source("no such file", str(path)))
    # The size from imageio-ffmpeg's reader, closed while ffmpeg still runs (it closes its
    # pipes then, not when ffmpeg has ended: ResourceWarnings); the frames from our own ffmpeg.
    probe = imageio_ffmpeg.read_frames(str(path))
    try:
        width, height = next(probe)["size"]
    except (OSError, RuntimeError, ValueError, StopIteration) as error:
        raise ImageReadError(with_source(f"cannot read the video ({error})", str(path))) from None
    finally:
        probe.close()
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f",
               "rawvideo", "-pix_fmt", "rgb24", "-"]
    size = width * height * 3
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as ffmpeg:
        try:
            for i in itertools.count():
                raw = ffmpeg.stdout.read(size)
                if len(raw) < size:
                    break
                frame = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
                yield frame.copy(), f"{path} frame {i}"
        finally:
            ffmpeg.kill()


def _image_frames(path: Path) -> Iterator[np.ndarray]:
    from PIL import Image

    first = load_image(path, frame=0)  # errors (missing, not an image) come from here
    yield first.pixels
    with Image.open(path) as image:
        count = getattr(image, "n_frames", 1)
    for frame in range(1, count):
        yield load_image(path, frame=frame).pixels


def _checked_sizes(items: Iterator[tuple[np.ndarray, str]], source: Path) -> Iterator[np.ndarray]:
    shape = None
    for pixels, name in items:
        if shape is None:
            shape = pixels.shape
        elif pixels.shape != shape:
            raise ParameterError(with_source(
                f"frame of shape {pixels.shape} among frames of shape {shape}; a clip's "
                "frames must all have one size", name))
        yield pixels


def segment_video(
    source: str | os.PathLike, outdir: str | os.PathLike, *, model: KMeansSegmenter
) -> VideoResult:
    """Fit one palette on every frame, then write each frame's labels and painted frame.

    Files in ``outdir``: ``<stem>_labels_<i>.png`` and ``<stem>_segmented_<i>.png`` for each
    frame ``i`` (5 digits), ``<stem>_segmented.gif`` (animated, for GIF/WebP inputs and
    folders) or ``<stem>_segmented.mp4`` (video inputs), and ``<stem>.json``: the palette, the
    per-frame compactness, the files.

    Raises
    ------
    ImageReadError, ParameterError
        See :func:`frames`; bad model parameters.
    OutputError
        ``outdir`` cannot be written.
    """
    source_path = Path(source)
    stem = source_path.stem if not source_path.is_dir() else source_path.name
    model.fit(frames(source))
    outdir = output_folder(Path(outdir))
    result = VideoResult(0, model)
    painted_frames = []
    for i, pixels in enumerate(frames(source)):
        seg = model.segment(pixels)
        labels_path = outdir / f"{stem}_labels_{i:05d}.png"
        painted_path = outdir / f"{stem}_segmented_{i:05d}.png"
        atomic_write(labels_path, lambda p, s=seg: write_image(p, s.labels, alpha=False,
                                                                  flat=True))
        painted = seg.segmented()
        atomic_write(painted_path, lambda p, im=painted: write_image(p, im, alpha=False,
                                                                   flat=True))
        painted_frames.append(painted if painted.dtype == np.uint8 else None)
        result.compactness.append(seg.compactness)
        result.n_frames = i + 1
    result.files["labels"] = f"{stem}_labels_<i>.png"
    result.files["segmented"] = f"{stem}_segmented_<i>.png"
    if all(frame is not None for frame in painted_frames):
        animation = _write_animation(outdir, stem, painted_frames,
                                     source_path.suffix.lower() in VIDEO_SUFFIXES)
        result.files["animation"] = animation.name
    report = {
        "source": str(source),
        "frames": result.n_frames,
        "params": model._fitted_params() | {"init": str(model.init)},
        "centers": model.centers_.tolist(),
        "compactness_per_frame": result.compactness,
        "files": result.files,
    }
    atomic_write(outdir / f"{stem}.json",
                 lambda p: p.write_text(json.dumps(report, indent=2, default=str) + "\n"))
    return result


def _write_animation(outdir: Path, stem: str, painted: list[np.ndarray], video: bool) -> Path:
    if video:
        import imageio_ffmpeg

        path = outdir / f"{stem}_segmented.mp4"

        def write(tmp: Path) -> None:
            height, width = painted[0].shape[:2]
            writer = imageio_ffmpeg.write_frames(str(tmp), (width, height),
                                                 macro_block_size=1)
            writer.send(None)
            try:
                for frame in painted:
                    writer.send(np.ascontiguousarray(frame))
            finally:
                writer.close()

        atomic_write(path, write)
        return path
    from PIL import Image

    path = outdir / f"{stem}_segmented.gif"
    images = [Image.fromarray(frame) for frame in painted]
    atomic_write(path, lambda p: images[0].save(p, format="GIF", save_all=True,
                                                append_images=images[1:], loop=0))
    return path
