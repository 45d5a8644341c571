"""What is computed from a stored image: its segmentation, the choose-k scores, a sample of its
colours, a full-resolution export.

A client that sends ``client`` and an increasing ``seq`` with its segment requests has a queued
request dropped (409) once a newer one of it for the same image has started: a dragged slider
never makes the server work through stale k values.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from .. import _work
from .._runtime import Runtime, Superseded, runtime
from .._schemas import (
    EXPORTS,
    ChooseParams,
    ColourSample,
    ExportParams,
    KScores,
    SegmentParams,
    SegmentResult,
    errors,
)

router = APIRouter()
App = Annotated[Runtime, Depends(runtime)]


@router.post("/api/images/{image_id}/segment", summary="Segment the preview",
             response_model=SegmentResult, responses=errors(400, 404, 409, 413, 503))
async def segment_preview(image_id: str, params: SegmentParams, app: App):
    """Labels of the preview (a PNG data URL: gray level = cluster, 255 = masked), the
    palette (display colour and share of each cluster) and timings."""
    stored = app.stored_or_404(image_id)
    latest = app.latest
    if params.client:
        key = (image_id, params.client)
        latest[key] = max(latest.get(key, -1), params.seq)

    def work():
        if params.client and params.seq < latest[(image_id, params.client)]:
            raise Superseded
        return _work.segment_result(stored, params)

    return await app.compute(work)


@router.post("/api/images/{image_id}/choose-k", summary="Scores for choosing k",
             response_model=KScores, responses=errors(400, 404, 413, 503))
async def choose(image_id: str, params: ChooseParams, app: App):
    stored = app.stored_or_404(image_id)
    return await app.compute(lambda: _work.choose_scores(stored, params))


@router.get("/api/images/{image_id}/colors", summary="A sample of the preview's colours",
            response_model=ColourSample, responses=errors(404, 503))
async def colors(image_id: str, app: App, n: int = 3000):
    stored = app.stored_or_404(image_id)
    n = max(1, min(int(n), 20_000))
    return await app.compute(lambda: {"colors": _work.colour_sample(stored, n)})


@router.post("/api/images/{image_id}/export", summary="A full-resolution export",
             response_class=Response, responses=EXPORTS | errors(400, 404, 413, 503))
async def export(image_id: str, params: ExportParams, app: App):
    """``labels`` (PNG), ``segmented`` (PNG, or TIFF for multi-band / float images),
    ``cutout`` (RGBA PNG of cluster ``cluster``) or ``report`` (JSON), computed on the
    full image with the palette fitted on the preview."""
    stored = app.stored_or_404(image_id)
    data, media, suffix = await app.compute(lambda: _work.export(app.store, stored, params))
    suffix_name = {"labels": "labels", "segmented": "segmented", "report": "report",
                   "cutout": f"cutout_{params.cluster}"}[params.what]
    return Response(data, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{stored.name}_{suffix_name}.{suffix}"'})
