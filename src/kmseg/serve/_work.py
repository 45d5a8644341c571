"""The work of the routes, run on the runtime's thread pool: segmentations of a stored image
(palettes fitted on its preview, cached per image), choose-k scores, colour samples, encoded
images and the JSON bodies made from them."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np
from PIL import Image

from .._errors import ParameterError
from ._schemas import ChooseParams, ExportParams, SegmentParams
from ._store import ImageStore, StoredImage

# Fitted palettes kept per image (parameters -> segmenter), most recent last.
_FITS_PER_IMAGE = 16


def segment(stored: StoredImage, params, full=None):
    """The segmentation of the preview (or of ``full`` with the preview's palette)."""
    from .._segment import KMeansSegmenter
    from .._segment import segment as segment_image

    k = params.k
    if k == "auto":
        k = fitted(stored, ("auto", params.space, params.seed), lambda: _auto_k(stored, params))
    if params.regions:  # spatial features: recomputed on whatever image is asked for
        return segment_image(stored.preview if full is None else full, k=k, space=params.space,
                             attempts=params.attempts, seed=params.seed, regions=True)

    def fit():
        model = KMeansSegmenter(k=k, space=params.space, attempts=params.attempts,
                                seed=params.seed)
        # Per space: computing it checks the image against the space (Lab: 3 bands at most).
        values, counts = fitted(stored, ("histogram", params.space),
                                 lambda: model.image_histogram(stored.preview))
        return model.fit_histogram(values, counts, like=stored.preview)

    model = fitted(stored, (k, params.space, params.attempts, params.seed), fit)
    return model.segment(stored.preview if full is None else full)


def _auto_k(stored: StoredImage, params) -> int:
    from .._choose_k import choose_k

    return choose_k(stored.preview, space=params.space, seed=params.seed).k


def fitted(stored, key: tuple, make: Callable[[], Any], keep: int = _FITS_PER_IMAGE) -> Any:
    """A cached value of a stored image or scan (the colour histogram, fitted palettes, the
    auto k, a scan's segmentations), at most ``keep`` of them; a value another request is
    computing is waited for, not computed twice."""
    with stored.lock:
        entry = stored.fits.get(key)
        owner = entry is None
        if owner:
            entry = stored.fits[key] = Future()
            _forget_oldest(stored, keep)
        else:
            stored.fits.move_to_end(key)
    if owner:
        try:
            entry.set_result(make())
        except BaseException as error:
            entry.set_exception(error)
            with stored.lock:
                stored.fits.pop(key, None)
            raise
    return entry.result()


def _forget_oldest(stored, keep: int) -> None:
    while len(stored.fits) > keep:
        oldest = next(key for key in stored.fits if key[0] != "histogram")
        del stored.fits[oldest]


def segment_result(stored: StoredImage, params: SegmentParams) -> dict:
    """The body of a segment request: the preview's labels as PNG, palette, timings."""
    start = time.perf_counter()
    seg = segment(stored, params)
    labels_png = png(seg.labels)
    return _result(seg, labels_png, params, time.perf_counter() - start)


def _result(seg, labels_png: bytes, params, seconds: float) -> dict:
    valid = int(seg.sizes.sum())
    colours = _swatch_hex(seg)
    return {
        "k": seg.k,
        "space": seg.space,
        "seq": params.seq,
        "width": seg.labels.shape[1],
        "height": seg.labels.shape[0],
        "labels_png": "data:image/png;base64," + base64.b64encode(labels_png).decode(),
        "masked_label": seg.masked_label,
        "palette": [{"label": i, "hex": colours[i], "share": int(seg.sizes[i]) / max(valid, 1),
                     "center": seg.centers[i].tolist()} for i in range(seg.k)],
        "compactness": seg.compactness,
        "n_regions": seg.n_regions,
        "server_ms": round(seconds * 1000, 1),
    }


def _swatch_hex(seg) -> list[str]:
    """Display colours of the centres: their own for gray/RGB, false colour otherwise."""
    if seg.hex_colors is not None:
        return seg.hex_colors
    from .._display import to_display
    from .._result import cast_like

    shown = to_display(cast_like(seg.centers, seg.image.dtype)[:, None, :])
    rgb = np.clip(np.rint(np.atleast_3d(shown)[:, 0, :3] * 255), 0, 255).astype(int)
    rgb = np.repeat(rgb[:, :1], 3, axis=1) if rgb.shape[1] == 1 else rgb
    return ["#{:02x}{:02x}{:02x}".format(*row) for row in rgb]


def choose_scores(stored: StoredImage, params: ChooseParams) -> dict:
    """The body of a choose-k request: the scores of k = 2..k_max on the preview."""
    from .._choose_k import choose_k

    choice = choose_k(stored.preview, ks=range(2, params.k_max + 1), space=params.space,
                      seed=params.seed)
    # JSON has no infinity: the summary gives null for a value that is not finite.
    scores = choice.summary()
    return {"psnr": scores.pop("psnr_db")} | scores


def export(store: ImageStore, stored: StoredImage, params: ExportParams
           ) -> tuple[bytes, str, str]:
    """An export's bytes, media type and file suffix, at full resolution with the preview's
    palette."""
    full = store.full(stored)
    seg = segment(stored, params, full=full)
    if params.what == "report":
        body = json.dumps(seg.summary() | {"source": stored.name}, indent=2)
        return body.encode(), "application/json", "json"
    if params.what == "cutout":
        if params.cluster >= seg.k:
            raise ParameterError(f"cluster {params.cluster} does not exist (k = {seg.k})")
        cutout = _display_rgba_cutout(seg, params.cluster, full)
        return png(cutout), "image/png", "png"
    image = seg.labels if params.what == "labels" else seg.segmented()
    return _encoded(image, store.folder, alpha=(
        params.what == "segmented" and seg.output_alpha() is not None))


def describe(stored: StoredImage) -> dict:
    return {"id": stored.id, "name": stored.name, "width": stored.width,
            "height": stored.height, "description": stored.description,
            "preview_width": stored.preview.pixels.shape[1],
            "preview_height": stored.preview.pixels.shape[0]}


def display_rgba(loaded, keep: np.ndarray | None = None) -> np.ndarray:
    """Any image as 8-bit RGBA, opaque where ``keep`` (default: the clustered pixels)."""
    from .._display import to_display

    shown = to_display(loaded.pixels)
    rgb = np.repeat(shown[..., None], 3, axis=2) if shown.ndim == 2 else shown[..., :3]
    if rgb.shape[2] < 3:
        rgb = np.concatenate([rgb, np.zeros((*rgb.shape[:2], 3 - rgb.shape[2]))], axis=2)
    if keep is None:
        keep = np.ones(rgb.shape[:2], bool) if loaded.mask is None else loaded.mask
    return np.rint(np.dstack([rgb, keep]) * 255).astype(np.uint8)


def _display_rgba_cutout(seg, cluster: int, full) -> np.ndarray:
    """The cluster's own pixels of the image (as displayed), transparent elsewhere."""
    return display_rgba(full, keep=seg.labels == cluster)


def colour_sample(stored: StoredImage, n: int) -> list[str]:
    rgba = display_rgba(stored.preview).reshape(-1, 4)
    rgba = rgba[rgba[:, 3] > 0]
    picked = rgba[np.random.default_rng(0).choice(len(rgba), size=min(n, len(rgba)),
                                                  replace=False)]
    return ["#{:02x}{:02x}{:02x}".format(*row[:3]) for row in picked.tolist()]


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _encoded(image: np.ndarray, folder, *, alpha: bool) -> tuple[bytes, str, str]:
    """A label map or painted image as the bytes kmseg would save (PNG, or TIFF beyond
    PNG's reach)."""
    import tempfile
    from pathlib import Path

    from .._write import fits_png, write_image

    channels = image.shape[2] - alpha if image.ndim == 3 else 1
    suffix = "png" if fits_png(image.dtype, channels) else "tif"
    handle, name = tempfile.mkstemp(suffix=f".{suffix}", dir=folder)
    path = Path(name)
    try:
        with open(handle, "wb"):
            pass
        write_image(path, image, alpha=alpha, flat=True)
        return path.read_bytes(), f"image/{'png' if suffix == 'png' else 'tiff'}", suffix
    finally:
        path.unlink(missing_ok=True)
