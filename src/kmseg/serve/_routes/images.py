"""Stored images: upload one (or the bundled sample), its metadata, its preview."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, UploadFile
from fastapi.responses import Response

from .. import _work
from .._runtime import Runtime, invalid, runtime
from .._schemas import PNG, ImageInfo, errors

router = APIRouter()
App = Annotated[Runtime, Depends(runtime)]


@router.post("/api/images", status_code=201, summary="Upload an image",
             response_model=ImageInfo, responses=errors(400, 413, 415, 503))
async def upload(file: UploadFile, app: App):
    """Store an uploaded image (JPEG, PNG, TIFF, WebP, ...: recognised from its content,
    not its name) and return its id and sizes."""
    # BodyLimit has refused bodies far over the limit; this is the exact file size.
    data = await file.read(app.max_upload_bytes + 1)
    if len(data) > app.max_upload_bytes:
        raise HTTPException(413, f"upload larger than {app.max_upload_bytes:,} bytes")
    if not data:
        raise invalid("empty upload", "file")
    return _work.describe(await app.add_image(data, file.filename or "image"))


@router.post("/api/sample", status_code=201, summary="Use the bundled sample photo",
             response_model=ImageInfo, responses=errors(413, 503))
async def sample(app: App):
    from ...data import sample_path

    with open(sample_path(), "rb") as handle:
        return _work.describe(await app.add_image(handle.read(), "coffee.jpg"))


@router.get("/api/images/{image_id}", summary="Image metadata", response_model=ImageInfo,
            responses=errors(404))
async def image_info(image_id: str, app: App):
    return _work.describe(app.stored_or_404(image_id))


@router.get("/api/images/{image_id}/preview.png", summary="The preview, as PNG",
            response_class=Response, responses=PNG | errors(404, 503))
async def preview(image_id: str, app: App):
    stored = app.stored_or_404(image_id)
    data = await app.compute(lambda: _work.png(_work.display_rgba(stored.preview)))
    return Response(data, media_type="image/png")
