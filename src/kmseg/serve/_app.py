"""The web app: a JSON API over kmseg and the static page that uses it.

Endpoints (also listed at ``/docs``; the schema is at ``/openapi.json``):

- ``POST /api/images`` (multipart ``file``) and ``POST /api/sample``: store an image, get its id;
- ``GET /api/images/{id}`` and ``GET /api/images/{id}/preview.png``;
- ``POST /api/images/{id}/segment``: segment the preview (at most ``preview_pixels``) with the
  given k, colour space, attempts, seed, regions on/off or k = "auto": labels as a PNG data URL,
  the palette and each cluster's share;
- ``POST /api/images/{id}/choose-k``: the choose-k scores on the preview;
- ``GET /api/images/{id}/colors``: a sample of the preview's colours (the distribution chart);
- ``POST /api/images/{id}/export``: labels PNG, segmented image, one cluster's cut-out or the
  JSON report, computed at full resolution with the palette fitted on the preview.

Work runs on a bounded thread pool: past ``max_pending`` queued requests the answer is a 503.
A client that sends ``client`` and an increasing ``seq`` with its segment requests has a queued
request dropped (409) once a newer one of it for the same image has started: a dragged slider
never makes the server work through stale k values.

Errors are JSON: ``{"detail": "one sentence"}``, except 422 (invalid parameters or an image
they do not fit), whose ``detail`` is a list of ``{loc, msg, type}`` as FastAPI's own
validation errors. A body over the limit gets its 413 as soon as its declared length or the
bytes received pass it: the rest is never read.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, HTTPException, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import ImageReadError, ImageTooLargeError, KmsegError, ParameterError
from ._store import ImageStore, StoredImage

STATIC = files("kmseg.serve") / "static"


class SegmentParams(BaseModel):
    """Parameters of a segmentation (``client``/``seq``: see the module docstring)."""

    k: Annotated[int, Field(ge=2, le=32)] | Literal["auto"] = Field(
        4, description="clusters, 2-32, or 'auto'")
    space: Literal["rgb", "gray", "lab", "oklab"] = "rgb"
    attempts: int = Field(10, ge=1, le=50)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    regions: bool = False
    client: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]*$")
    seq: int = Field(0, ge=0)


class ExportParams(SegmentParams):
    """A segmentation's parameters and what to export (``cluster``: for the cut-out)."""

    what: Literal["labels", "segmented", "cutout", "report"] = "labels"
    cluster: int = Field(0, ge=0, le=255)


class ChooseParams(BaseModel):
    """Colour space, seed and largest k of the choose-k scores."""

    space: Literal["rgb", "gray", "lab", "oklab"] = "rgb"
    seed: int = Field(0, ge=0, le=2**31 - 1)
    k_max: int = Field(12, ge=3, le=32)


class ImageInfo(BaseModel):
    """A stored image: its id (for the other endpoints), sizes and a one-line description."""

    id: str
    name: str
    width: int
    height: int
    description: str
    preview_width: int
    preview_height: int


class PaletteEntry(BaseModel):
    label: int
    hex: str = Field(pattern=r"^#[0-9a-f]{6}$", description="display colour")
    share: float = Field(ge=0, le=1, description="fraction of the clustered pixels")
    center: list[float] = Field(description="centre in the image's units")


class SegmentResult(BaseModel):
    k: int
    space: str
    seq: int
    width: int
    height: int
    labels_png: str = Field(description="PNG data URL: gray level = cluster, masked_label = "
                                        "masked")
    masked_label: int
    palette: list[PaletteEntry]
    compactness: float
    n_regions: int
    server_ms: float


class KScores(BaseModel):
    ks: list[int]
    sse: list[float]
    psnr: list[float | None] = Field(description="dB; null where infinite (a k that "
                                                 "reproduces the image exactly)")
    knee: int
    k: int
    reason: str


class ColourSample(BaseModel):
    colors: list[str]


class ErrorMessage(BaseModel):
    """The body of every error but 422."""

    detail: str = Field(description="what went wrong, one sentence")


_WHY = {
    400: "The body cannot be parsed",
    404: "No such image (unknown id, or forgotten: upload it again)",
    409: "Superseded by a newer request of the same client",
    413: "The body, or the image's pixel count, is over the server's limit",
    415: "Not an image kmseg reads",
    503: "Too many requests waiting: try again",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: its error codes besides 422 (FastAPI documents that)."""
    return {code: {"model": ErrorMessage, "description": _WHY[code]} for code in codes}


def _invalid(message: str, *loc: str | int) -> HTTPException:
    """A 422 shaped as FastAPI's own validation errors, so that one schema describes both."""
    return HTTPException(422, [{"loc": ["body", *loc], "msg": message, "type": "value_error"}])


# Fitted palettes kept per image (parameters -> segmenter), most recent last.
_FITS_PER_IMAGE = 16
# Room for the multipart envelope (boundary, part headers) around a file of the largest size.
_MULTIPART_SLACK = 64 * 1024
# Largest body of the other POST routes: their JSON parameters take well under 1 kB.
_PARAMS_BYTES = 64 * 1024


def create_app(
    *,
    max_upload_bytes: int = 50 * 1024 * 1024,
    max_pixels: int = 100_000_000,
    preview_pixels: int = 500_000,
    capacity: int = 64,
    workers: int = 2,
    max_pending: int = 16,
):
    """The FastAPI application (its image store lives as long as the app's lifespan).

    Parameters
    ----------
    max_upload_bytes : int
        Largest upload accepted (413 above).
    max_pixels : int
        Decompression-bomb limit: images with more pixels are rejected (413) before decoding.
    preview_pixels : int
        Live segmentation runs on a copy of at most this many pixels; exports are full size.
    capacity : int
        Images kept; the least recently used is deleted past that.
    workers, max_pending : int
        Threads computing at once; requests waiting beyond ``max_pending`` get a 503.
    """
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app):
        from .._segment import warm_up

        store = ImageStore(capacity, preview_pixels, max_pixels)
        # Uploads queue apart: a flood of segment requests must not lock new users out.
        state.update(store=store, pool=_Pool(workers, max_pending),
                     uploads=_Pool(1, max_pending), latest={})
        app.state.store = store
        await state["pool"].run(warm_up)  # the first slider move should not wait for it
        try:
            yield
        finally:
            state["pool"].close()
            state["uploads"].close()
            store.close()

    app = FastAPI(title="kmseg", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=__doc__.split("\n\n", 1)[1])
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    def body_limit(path: str) -> tuple[int, str]:
        if path == "/api/images":
            return (max_upload_bytes + _MULTIPART_SLACK,
                    f"upload larger than {max_upload_bytes:,} bytes")
        return _PARAMS_BYTES, f"request body larger than {_PARAMS_BYTES:,} bytes"

    app.add_middleware(_BodyLimit, limit_of=body_limit)

    def stored_or_404(image_id: str) -> StoredImage:
        stored = state["store"].get(image_id)
        if stored is None:
            raise HTTPException(404, "no such image (unknown id, or forgotten: upload it again)")
        return stored

    async def compute(function: Callable[[], Any]) -> Any:
        try:
            return await state["pool"].run(function)
        except _Busy:
            raise HTTPException(503, "busy: too many requests waiting, try again") from None
        except _Superseded:
            raise HTTPException(409, "superseded by a newer request of this client") from None
        except KmsegError as error:  # the parameters do not fit the image
            raise _invalid(str(error)) from None

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return HTMLResponse(_docs_page(app.openapi()))

    @app.post("/api/images", status_code=201, summary="Upload an image",
              response_model=ImageInfo, responses=_errors(400, 413, 415, 503))
    async def upload(file: UploadFile):
        """Store an uploaded image (JPEG, PNG, TIFF, WebP, ...: recognised from its content,
        not its name) and return its id and sizes."""
        # _BodyLimit has refused bodies far over the limit; this is the exact file size.
        data = await file.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise HTTPException(413, f"upload larger than {max_upload_bytes:,} bytes")
        if not data:
            raise _invalid("empty upload", "file")
        return await add_image(data, file.filename or "image")

    @app.post("/api/sample", status_code=201, summary="Use the bundled sample photo",
              response_model=ImageInfo, responses=_errors(413, 503))
    async def sample():
        from ..data import sample_path

        with open(sample_path(), "rb") as handle:
            return await add_image(handle.read(), "coffee.jpg")

    async def add_image(data: bytes, name: str) -> dict:
        store: ImageStore = state["store"]
        try:
            stored = await state["uploads"].run(lambda: store.add(data, name))
        except _Busy:
            raise HTTPException(503, "busy: too many requests waiting, try again") from None
        except ImageTooLargeError as error:  # kmseg's message names CLI flags: not here
            raise HTTPException(413, f"{name}: {error.what} is more than this "
                                     f"server accepts ({store.max_pixels:,} pixels)") from None
        except ImageReadError as error:
            message = str(error).split(": ", 1)[-1]  # the temporary path means nothing here
            raise HTTPException(415, f"{name}: {message}") from None
        return _describe(stored)

    @app.get("/api/images/{image_id}", summary="Image metadata", response_model=ImageInfo,
             responses=_errors(404))
    async def image_info(image_id: str):
        return _describe(stored_or_404(image_id))

    @app.get("/api/images/{image_id}/preview.png", summary="The preview, as PNG",
             response_class=Response, responses=_PNG | _errors(404, 503))
    async def preview(image_id: str):
        stored = stored_or_404(image_id)
        data = await compute(lambda: _png(_display_rgba(stored.preview)))
        return Response(data, media_type="image/png")

    @app.post("/api/images/{image_id}/segment", summary="Segment the preview",
              response_model=SegmentResult, responses=_errors(400, 404, 409, 413, 503))
    async def segment_preview(image_id: str, params: SegmentParams):
        """Labels of the preview (a PNG data URL: gray level = cluster, 255 = masked), the
        palette (display colour and share of each cluster) and timings."""
        stored = stored_or_404(image_id)
        latest = state["latest"]
        if params.client:
            key = (image_id, params.client)
            latest[key] = max(latest.get(key, -1), params.seq)

        def work():
            if params.client and params.seq < latest[(image_id, params.client)]:
                raise _Superseded
            start = time.perf_counter()
            seg = _segment(stored, params)
            labels_png = _png(seg.labels)
            return _result(seg, labels_png, params, time.perf_counter() - start)

        return await compute(work)

    @app.post("/api/images/{image_id}/choose-k", summary="Scores for choosing k",
              response_model=KScores, responses=_errors(400, 404, 413, 503))
    async def choose(image_id: str, params: ChooseParams):
        stored = stored_or_404(image_id)

        def work():
            from .._choose_k import choose_k

            choice = choose_k(stored.preview, ks=range(2, params.k_max + 1), space=params.space,
                              seed=params.seed)
            # JSON has no infinity: the PSNR of an exact reproduction becomes null.
            psnr = [float(p) if np.isfinite(p) else None for p in choice.psnr]
            return {"ks": choice.ks.tolist(), "sse": choice.sse.tolist(), "psnr": psnr,
                    "knee": choice.knee, "k": choice.k, "reason": choice.reason}

        return await compute(work)

    @app.get("/api/images/{image_id}/colors", summary="A sample of the preview's colours",
             response_model=ColourSample, responses=_errors(404, 503))
    async def colors(image_id: str, n: int = 3000):
        stored = stored_or_404(image_id)
        n = max(1, min(int(n), 20_000))
        return await compute(lambda: {"colors": _colour_sample(stored, n)})

    @app.post("/api/images/{image_id}/export", summary="A full-resolution export",
              response_class=Response, responses=_EXPORTS | _errors(400, 404, 413, 503))
    async def export(image_id: str, params: ExportParams):
        """``labels`` (PNG), ``segmented`` (PNG, or TIFF for multi-band / float images),
        ``cutout`` (RGBA PNG of cluster ``cluster``) or ``report`` (JSON), computed on the
        full image with the palette fitted on the preview."""
        stored = stored_or_404(image_id)

        def work():
            full = state["store"].full(stored)
            seg = _segment(stored, params, full=full)
            if params.what == "report":
                body = json.dumps(seg.summary() | {"source": stored.name}, indent=2)
                return body.encode(), "application/json", "json"
            if params.what == "cutout":
                if params.cluster >= seg.k:
                    raise ParameterError(f"cluster {params.cluster} does not exist (k = {seg.k})")
                cutout = _display_rgba_cutout(seg, params.cluster, full)
                return _png(cutout), "image/png", "png"
            image = seg.labels if params.what == "labels" else seg.segmented()
            return _encoded(image, state["store"].folder, alpha=(
                params.what == "segmented" and seg.output_alpha() is not None))

        data, media, suffix = await compute(work)
        suffix_name = {"labels": "labels", "segmented": "segmented", "report": "report",
                       "cutout": f"cutout_{params.cluster}"}[params.what]
        return Response(data, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="{stored.name}_{suffix_name}.{suffix}"'})

    @app.exception_handler(Exception)
    async def unexpected(request, error):  # never a traceback to the client
        return JSONResponse({"detail": f"internal error: {type(error).__name__}"}, 500)

    return app


class _Busy(Exception):
    pass


class _Superseded(Exception):
    pass


class _Pool:
    """A thread pool that refuses work past a queue bound instead of piling it up."""

    def __init__(self, workers: int, max_pending: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="kmseg-serve")
        self._max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()

    async def run(self, function: Callable[[], Any]) -> Any:
        with self._lock:
            if self._pending >= self._max_pending:
                raise _Busy
            self._pending += 1
        try:
            return await asyncio.wrap_future(self._executor.submit(function))
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class _BodyTooLarge(HTTPException):
    """Raised by _BodyLimit's receive: FastAPI passes HTTPExceptions from body parsing on (any
    other error there would become a 400), and its handler answers it as JSON."""

    def __init__(self, detail: str) -> None:
        # The rest of the body is never read: the connection cannot serve another request.
        super().__init__(413, detail, headers={"Connection": "close"})


class _BodyLimit:
    """Refuse a POST body over its route's limit as soon as that is known: at once when the
    declared Content-Length is over, else when the bytes received pass it, without reading the
    rest (Starlette's multipart parser would spool all of it to a temporary file first)."""

    def __init__(self, app: ASGIApp, limit_of: Callable[[str], tuple[int, str]]) -> None:
        self.app = app
        self.limit_of = limit_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        limit, message = self.limit_of(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await _too_large(message)(scope, receive, send)
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(message)
            return event

        async def watching_send(event: Message) -> None:
            nonlocal started
            started = started or event["type"] == "http.response.start"
            await send(event)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _BodyTooLarge:  # read outside a route's body parsing: answer it here
            if started:
                raise
            await _too_large(message)(scope, receive, send)


def _too_large(message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, 413, headers={"Connection": "close"})


_PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}
_EXPORTS: dict[int | str, dict[str, Any]] = {200: {
    "description": "PNG, TIFF (images beyond PNG's reach) or the JSON report",
    "content": {"image/png": {}, "image/tiff": {}, "application/json": {}}}}


def _segment(stored: StoredImage, params, full=None):
    """The segmentation of the preview (or of ``full`` with the preview's palette)."""
    from .._segment import KMeansSegmenter, segment

    k = params.k
    if k == "auto":
        k = _fitted(stored, ("auto", params.space, params.seed), lambda: _auto_k(stored, params))
    if params.regions:  # spatial features: recomputed on whatever image is asked for
        return segment(stored.preview if full is None else full, k=k, space=params.space,
                       attempts=params.attempts, seed=params.seed, regions=True)

    def fit():
        model = KMeansSegmenter(k=k, space=params.space, attempts=params.attempts,
                                seed=params.seed)
        values, counts = _fitted(stored, ("histogram",),
                                 lambda: model.image_histogram(stored.preview))
        return model.fit_histogram(values, counts, like=stored.preview)

    model = _fitted(stored, (k, params.space, params.attempts, params.seed), fit)
    return model.segment(stored.preview if full is None else full)


def _auto_k(stored: StoredImage, params) -> int:
    from .._choose_k import choose_k

    return choose_k(stored.preview, space=params.space, seed=params.seed).k


def _fitted(stored: StoredImage, key: tuple, make: Callable[[], Any]) -> Any:
    """A cached per-image value (the colour histogram, fitted palettes, the auto k); a value
    another request is computing is waited for, not computed twice."""
    with stored.lock:
        entry = stored.fits.get(key)
        owner = entry is None
        if owner:
            entry = stored.fits[key] = Future()
            _forget_oldest(stored)
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


def _forget_oldest(stored: StoredImage) -> None:
    while len(stored.fits) > _FITS_PER_IMAGE:
        oldest = next(key for key in stored.fits if key != ("histogram",))
        del stored.fits[oldest]


def _describe(stored: StoredImage) -> dict:
    return {"id": stored.id, "name": stored.name, "width": stored.width,
            "height": stored.height, "description": stored.description,
            "preview_width": stored.preview.pixels.shape[1],
            "preview_height": stored.preview.pixels.shape[0]}


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


def _display_rgba(loaded, keep: np.ndarray | None = None) -> np.ndarray:
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
    return _display_rgba(full, keep=seg.labels == cluster)


def _colour_sample(stored: StoredImage, n: int) -> list[str]:
    rgba = _display_rgba(stored.preview).reshape(-1, 4)
    rgba = rgba[rgba[:, 3] > 0]
    picked = rgba[np.random.default_rng(0).choice(len(rgba), size=min(n, len(rgba)),
                                                  replace=False)]
    return ["#{:02x}{:02x}{:02x}".format(*row[:3]) for row in picked.tolist()]


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _encoded(image: np.ndarray, folder, *, alpha: bool) -> tuple[bytes, str, str]:
    """A label map or painted image as the bytes kmseg would save (PNG, or TIFF beyond
    PNG's reach)."""
    import tempfile
    from pathlib import Path

    from .._save import fits_png, write_image

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


def _docs_page(schema: dict) -> str:
    """The API reference as plain HTML (Swagger UI would need a CDN)."""
    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {})
            rows.append(
                f"<h3><code>{method.upper()} {html.escape(path)}</code> — "
                f"{html.escape(operation.get('summary', ''))}</h3>"
                f"<p>{html.escape(operation.get('description', ''))}</p>"
                + (f"<p>Body: {', '.join(html.escape(t) for t in body)}</p>" if body else ""))
    models = json.dumps(schema.get("components", {}).get("schemas", {}), indent=2)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>kmseg API</title>"
        "<link rel='stylesheet' href='/static/app.css'></head><body class='docs'>"
        f"<h1>kmseg API</h1><p>{html.escape(schema['info'].get('description', ''))}</p>"
        f"{''.join(rows)}<h2>Schemas</h2><pre>{html.escape(models)}</pre>"
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p></body></html>")
