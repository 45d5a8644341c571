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
  JSON report, computed at full resolution with the palette fitted on the preview;
- ``GET /api/options``: the parameters' choices (colour spaces, ...) and ranges (k, ...).

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

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from ._limits import BodyLimit, body_limits
from ._routes import ROUTERS
from ._routes.pages import STATIC
from ._runtime import Runtime


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
        Images and scans kept; the least recently used is deleted past that (and past
        :data:`kmseg.serve._store.SCANS_KEPT` scans, which stay in memory).
    workers, max_pending : int
        Threads computing at once; requests waiting beyond ``max_pending`` get a 503.
    """
    runtime = Runtime(max_upload_bytes=max_upload_bytes, max_pixels=max_pixels,
                      preview_pixels=preview_pixels, capacity=capacity, workers=workers,
                      max_pending=max_pending)

    @asynccontextmanager
    async def lifespan(app):
        app.state.store = runtime.open()
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(title="kmseg", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=__doc__.split("\n\n", 1)[1])
    app.state.runtime = runtime
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_middleware(BodyLimit, limit_of=body_limits(max_upload_bytes))
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(Exception)
    async def unexpected(request, error):  # never a traceback to the client
        return JSONResponse({"detail": f"internal error: {type(error).__name__}"}, 500)

    return app
