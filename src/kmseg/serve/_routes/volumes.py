"""Stored scans: upload a NIfTI / MGH / DICOM file or a DICOM series, its slices in the three
planes, its segmentation (classes with their volumes), and exports a medical tool opens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, UploadFile
from fastapi.responses import Response

from .. import _volume_work
from .._runtime import Runtime, invalid, runtime
from .._schemas import (
    PNG,
    VOLUME_EXPORTS,
    View,
    VolumeExportParams,
    VolumeInfo,
    VolumeParams,
    VolumeResult,
    errors,
)

router = APIRouter()
App = Annotated[Runtime, Depends(runtime)]
Index = Annotated[int, Path(ge=0, description="slice number, 0 at the low end of the plane's "
                                               "axis (inferior, posterior, left)")]


@router.post("/api/volumes", status_code=201, summary="Upload a scan",
             response_model=VolumeInfo, responses=errors(400, 413, 415, 503))
async def upload_volume(files: list[UploadFile], app: App):
    """Store a scan: one NIfTI (``.nii``, ``.nii.gz``), MGH (``.mgz``), DICOM or multi-page
    TIFF file, or the files of one DICOM series (a folder's files); a 4-D file's first frame."""
    limit = app.max_upload_bytes
    contents, total = [], 0
    for upload in files:
        data = await upload.read(limit + 1 - total)
        total += len(data)
        if total > limit:
            raise HTTPException(413, f"upload larger than {limit:,} bytes")
        contents.append((upload.filename or "scan", data))
    if not any(data for _, data in contents):
        raise invalid("empty upload", "files")
    return _volume_work.describe(await app.add_volume(contents))


@router.get("/api/volumes/{volume_id}", summary="Scan metadata", response_model=VolumeInfo,
            responses=errors(404))
async def volume_info(volume_id: str, app: App):
    return _volume_work.describe(app.volume_or_404(volume_id))


@router.get("/api/volumes/{volume_id}/{view}/{index}/scan.png", summary="A slice of the scan",
            response_class=Response, responses=PNG | errors(404, 503))
async def scan_slice(volume_id: str, view: View, index: Index, app: App,
                     window: Annotated[str | None, Query(max_length=40)] = None):
    """8-bit gray: the window (``centre,width`` or a named CT window) or else the scan's 1st
    to 99th percentile from black to white; patient's left on the left."""
    stored = app.volume_or_404(volume_id)
    data = await app.compute(lambda: _volume_work.scan_slice_png(stored, view, index, window))
    return Response(data, media_type="image/png")


@router.get("/api/volumes/{volume_id}/{view}/{index}/labels.png",
            summary="A slice of the label volume", response_class=Response,
            responses=PNG | errors(404, 503))
async def labels_slice(volume_id: str, view: View, index: Index, app: App,
                       params: Annotated[VolumeParams, Query()]):
    """Gray level = class (1..k by intensity, 0 = not clustered), segmented with the query's
    parameters (as the segment request's body)."""
    stored = app.volume_or_404(volume_id)
    data = await app.compute(
        lambda: _volume_work.labels_slice_png(stored, params, view, index))
    return Response(data, media_type="image/png")


@router.post("/api/volumes/{volume_id}/segment", summary="Segment a scan",
             response_model=VolumeResult, responses=errors(400, 404, 503))
async def segment_volume(volume_id: str, params: VolumeParams, app: App):
    """Cluster the scan's voxels (all, or those not 0) into k classes: per class its display
    colour, voxels, volume in mL, mean and standard deviation."""
    stored = app.volume_or_404(volume_id)
    return await app.compute(lambda: _volume_work.segment_result(stored, params))


@router.post("/api/volumes/{volume_id}/export", summary="Export a scan's segmentation",
             response_class=Response, responses=VOLUME_EXPORTS | errors(400, 404, 503))
async def export_volume(volume_id: str, params: VolumeExportParams, app: App):
    """``labels`` (the label volume) or ``mask`` (class ``label``) as gzipped NIfTI on the
    scan's grid, ``report`` (JSON), or ``dicom-seg`` (a DICOM upload's classes as a DICOM SEG
    over its series; needs highdicom, the med extra)."""
    stored = app.volume_or_404(volume_id)
    data, media, name = await app.compute(lambda: _volume_work.export(stored, params))
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
