"""The web API's bodies: parameters, answers and errors, their choices from :mod:`kmseg._options`.

The web app offers a smaller range of some parameters than the Python API (a slider of k, a few
attempts): those limits are named here once, used by the schemas and sent to the page by
``GET /api/options``.
"""

from __future__ import annotations

import importlib.util
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from .._options import CT_WINDOWS, DEFAULT_ATTEMPTS, DEFAULT_K, DEFAULT_SPACE, SPACES, VOLUME_VIEWS

#: The web app's k: from the slider's left end to its right end.
WEB_MIN_K = 2
WEB_MAX_K = 32
#: Most k-means attempts of one web request.
WEB_MAX_ATTEMPTS = 50
#: Largest seed (31 bits: any client's integers hold it).
WEB_MAX_SEED = 2**31 - 1
#: Largest k of the choose-k scores by default (they run k = 2..k_max).
WEB_CHOOSE_K_MAX = 12

# Literal[SPACES] is Literal["rgb", "gray", ...]: subscripting with a tuple spreads it.
Space = Literal[SPACES]  # type: ignore[valid-type]
Export = Literal["labels", "segmented", "cutout", "report"]
View = Literal[VOLUME_VIEWS]  # type: ignore[valid-type]
VolumeExport = Literal["labels", "mask", "report", "dicom-seg"]
#: The k of a scan by default (gray matter, white matter and fluid of a brain).
WEB_VOLUME_K = 3


class SegmentParams(BaseModel):
    """Parameters of a segmentation (``client``/``seq``: see the module docstring)."""

    k: Annotated[int, Field(ge=WEB_MIN_K, le=WEB_MAX_K)] | Literal["auto"] = Field(
        DEFAULT_K, description=f"clusters, {WEB_MIN_K}-{WEB_MAX_K}, or 'auto'")
    space: Space = DEFAULT_SPACE
    attempts: int = Field(DEFAULT_ATTEMPTS, ge=1, le=WEB_MAX_ATTEMPTS)
    seed: int = Field(0, ge=0, le=WEB_MAX_SEED)
    regions: bool = False
    client: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]*$")
    seq: int = Field(0, ge=0)


class ExportParams(SegmentParams):
    """A segmentation's parameters and what to export (``cluster``: for the cut-out)."""

    what: Export = "labels"
    cluster: int = Field(0, ge=0, le=255)


class ChooseParams(BaseModel):
    """Colour space, seed and largest k of the choose-k scores."""

    space: Space = DEFAULT_SPACE
    seed: int = Field(0, ge=0, le=WEB_MAX_SEED)
    k_max: int = Field(WEB_CHOOSE_K_MAX, ge=3, le=WEB_MAX_K)


class VolumeParams(BaseModel):
    """Parameters of a scan's segmentation (:func:`kmseg.volume.segment_volume`)."""

    k: int = Field(WEB_VOLUME_K, ge=WEB_MIN_K, le=WEB_MAX_K, description="classes")
    window: str | None = Field(None, max_length=40, pattern=r"^[A-Za-z0-9 ,.+-]*$",
                               description="'centre,width' or a named CT window")
    nonzero: bool = Field(False, description="cluster only the voxels that are not 0 (the "
                                             "background of a skull-stripped scan)")
    tissue: bool = Field(False, description="the tissue preset: N4 bias correction and a "
                                            "spatial prior (needs the 'med' extra)")
    seed: int = Field(0, ge=0, le=WEB_MAX_SEED)


class VolumeExportParams(VolumeParams):
    """A scan segmentation's parameters and what to export (``label``: for a mask)."""

    what: VolumeExport = "labels"
    label: int = Field(1, ge=1, le=WEB_MAX_K)


class ViewInfo(BaseModel):
    """One anatomical plane: slices across it and how one is shown (patient's sides at the
    left, right, top and bottom edges)."""

    view: str
    slices: int
    width: int
    height: int
    column_mm: float
    row_mm: float
    edges: list[str]


class VolumeInfo(BaseModel):
    """A stored scan: its id (for the other endpoints), geometry and a one-line description."""

    id: str
    name: str
    description: str
    dicom: bool = Field(description="read from DICOM: a DICOM SEG can be exported")
    shape: list[int]
    spacing: list[float] = Field(description="voxel size along each voxel axis, mm")
    views: list[ViewInfo]


class VolumeClass(BaseModel):
    label: int = Field(description="1..k, by increasing mean intensity")
    hex: str = Field(pattern=r"^#[0-9a-f]{6}$", description="display colour")
    voxels: int
    volume_ml: float
    mean: list[float] = Field(description="per channel, in the scan's units")
    std: list[float]


class VolumeResult(BaseModel):
    k: int
    algorithm: str
    classes: list[VolumeClass]
    compactness: float
    bias_corrected: bool
    seconds: float


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
    """Every criterion for each k (null where undefined or infinite) and the recommendation."""

    ks: list[int]
    compactness: list[float]
    psnr: list[float | None] = Field(description="dB; null where infinite (a k that "
                                                 "reproduces the image exactly)")
    mean_delta_e2000: list[float | None] | None = Field(
        description="mean CIEDE2000 of the painted preview (RGB images only)")
    silhouette: list[float | None] = Field(description="higher is better")
    calinski_harabasz: list[float | None] = Field(description="higher is better")
    davies_bouldin: list[float | None] = Field(description="lower is better")
    knee: int
    best_silhouette: int
    k: int
    reason: str


class ColourSample(BaseModel):
    colors: list[str]


class IntRange(BaseModel):
    """An integer parameter's bounds (both included) and default."""

    min: int
    max: int
    default: int


class Choice(BaseModel):
    """A parameter's names to choose from and its default."""

    choices: list[str]
    default: str


class Options(BaseModel):
    """The choices and ranges of the parameters, for a client to build its controls from."""

    space: Choice = Field(description="colour space")
    k: IntRange = Field(description="number of clusters (else 'auto')")
    attempts: IntRange = Field(description="k-means attempts")
    seed: IntRange = Field(description="random seed")
    k_max: IntRange = Field(description="largest k of the choose-k scores")
    what: Choice = Field(description="what an export is")
    volume_k: IntRange = Field(description="classes of a scan")
    views: list[str] = Field(description="anatomical planes of a scan")
    windows: list[str] = Field(description="named CT windows")
    tissue: bool = Field(description="whether the tissue preset is installed (the med extra)")


def options() -> dict[str, Any]:
    """The body of ``GET /api/options``: the limits above and the schemas' defaults."""
    segment, choose = SegmentParams.model_fields, ChooseParams.model_fields
    return {
        "space": {"choices": list(SPACES), "default": segment["space"].default},
        "k": {"min": WEB_MIN_K, "max": WEB_MAX_K, "default": segment["k"].default},
        "attempts": {"min": 1, "max": WEB_MAX_ATTEMPTS, "default": segment["attempts"].default},
        "seed": {"min": 0, "max": WEB_MAX_SEED, "default": segment["seed"].default},
        "k_max": {"min": 3, "max": WEB_MAX_K, "default": choose["k_max"].default},
        "what": {"choices": list(typing.get_args(Export)),
                 "default": ExportParams.model_fields["what"].default},
        "volume_k": {"min": WEB_MIN_K, "max": WEB_MAX_K, "default": WEB_VOLUME_K},
        "views": list(VOLUME_VIEWS),
        "windows": list(CT_WINDOWS),
        "tissue": importlib.util.find_spec("SimpleITK") is not None,
    }


class ErrorMessage(BaseModel):
    """The body of every error but 422."""

    detail: str = Field(description="what went wrong, one sentence")


_WHY = {
    400: "The body cannot be parsed",
    404: "No such image or scan (unknown id, or forgotten: upload it again)",
    409: "Superseded by a newer request of the same client",
    413: "The body, or the image's pixel count, is over the server's limit",
    415: "Not an image kmseg reads",
    503: "Too many requests waiting: try again",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: its error codes besides 422 (FastAPI documents that)."""
    return {code: {"model": ErrorMessage, "description": _WHY[code]} for code in codes}


PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}
VOLUME_EXPORTS: dict[int | str, dict[str, Any]] = {200: {
    "description": "gzipped NIfTI (labels, mask), the JSON report or a DICOM SEG",
    "content": {"application/gzip": {}, "application/json": {}, "application/dicom": {}}}}
EXPORTS: dict[int | str, dict[str, Any]] = {200: {
    "description": "PNG, TIFF (images beyond PNG's reach) or the JSON report",
    "content": {"image/png": {}, "image/tiff": {}, "application/json": {}}}}
