"""The vocabulary: every choice and limit kmseg offers, spelled once.

The Python API's rules (:mod:`kmseg._validation`), the command line's choices, the web API's
schemas and the page (which asks the API) all read their names and ranges here, so that adding
a colour space or a file suffix is one line in this module (and its code in its stage). No
numpy: the command line imports this before anything heavy.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CT_WINDOWS",
    "DEFAULT_ATTEMPTS",
    "DEFAULT_K",
    "DEFAULT_SPACE",
    "DEFAULT_SUPERPIXEL_METHOD",
    "HIERARCHY_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "INIT_METHODS",
    "MAX_ATTEMPTS",
    "MAX_ITER",
    "MAX_K",
    "MAX_SMOOTH",
    "MAX_SUPERPIXELS",
    "MAX_WEIGHT",
    "MIN_WORK_PIXELS",
    "PERCEPTUAL",
    "REGIONS_PRESET",
    "REGION_LEVEL",
    "SPACES",
    "SUPERPIXEL_METHODS",
    "TISSUE_PRESET",
    "VIDEO_SUFFIXES",
    "VOLUME_SUFFIXES",
    "VOLUME_VIEWS",
    "one_of",
    "resolve_preset",
]

#: Colour spaces clustered (:mod:`kmseg._features` holds their conversions); the perceptual
#: ones take RGB in [0, 1] when the image is float. "auto" is Lab where Lab can read the image,
#: else its values as they are (:func:`kmseg._validation.resolved_space`, at fit).
SPACES = ("rgb", "gray", "lab", "oklab", "auto")
PERCEPTUAL = ("lab", "oklab")
#: Superpixel methods of scikit-image (:mod:`kmseg._compress`).
SUPERPIXEL_METHODS = ("slic", "felzenszwalb")
#: Seedings by name (an array of centres or a label map is the other kind of ``init``).
INIT_METHODS = ("k-means++", "random")

DEFAULT_K = 4
DEFAULT_SPACE = "rgb"
DEFAULT_SUPERPIXEL_METHOD = "slic"
DEFAULT_ATTEMPTS = 10
#: Most clusters: labels are uint16, and 65535 marks masked pixels.
MAX_K = 65534
# Caps of the numeric parameters: beyond them the work grows without end (attempts, max_iter,
# smooth: a sigma of 1000 px takes ~30 s on a 1 MP working copy), features overflow (position,
# texture), or the working copy is too small to segment (max_work_pixels).
MAX_ATTEMPTS = 1000
MAX_ITER = 1_000_000
MAX_WEIGHT = 1e6
MAX_SMOOTH = 1000.0
MAX_SUPERPIXELS = 1 << 31
MIN_WORK_PIXELS = 64

#: Larger photos are merged on a copy shrunk by block means to at most this many pixels (BSDS
#: photos have 0.15 MP), and the UCM is drawn back at full size: merging a 2.4 MP photo took
#: 7.1 s, its shrunk copy 1.3 s.
HIERARCHY_MAX_PIXELS = 1 << 18

#: The level the merge hierarchy (:mod:`kmseg._hierarchy`) is cut at unless told: the best PRI
#: on BSDS500 train among the levels with VoI at most 1.80 (benchmarks/bsds.py --hierarchy
#: --split train).
REGION_LEVEL = 0.48

# The plain recipe: what the parameters the regions preset sets are without it.
_PLAIN: dict[str, Any] = {"k": DEFAULT_K, "space": DEFAULT_SPACE, "position": 0.0, "smooth": 0.0,
                          "superpixels": None, "superpixel_method": DEFAULT_SUPERPIXEL_METHOD,
                          "min_region": None, "region_level": None}

# The regions preset: regions cut from the merge hierarchy at REGION_LEVEL, then k-means of
# their mean colours paints them with at most 8 colours (benchmarks/README.md: "Painting the
# regions"). Lab where it applies ("auto"), else the values as they are (a multiband raster,
# a float scan).
REGIONS_PRESET: dict[str, Any] = _PLAIN | {"k": 8, "space": "auto", "region_level": REGION_LEVEL}


def resolve_preset(regions: bool, **given: Any) -> dict[str, Any]:
    """The parameters given (not None), the rest from the regions preset or the defaults."""
    base = REGIONS_PRESET if regions else _PLAIN
    return {name: base[name] if value is None else value for name, value in given.items()}


#: Files a folder of images (batch, video frames) is searched for, and video containers.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif",
                  ".heic", ".heif", ".avif", ".jxl")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
#: Scans read as volumes (:mod:`kmseg.io._volume`); a folder of DICOM files is one too.
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh", ".dcm", ".dicom")
#: Slice planes of a scan (each across one RAS axis: S, A, R).
VOLUME_VIEWS = ("axial", "coronal", "sagittal")

# The tissue preset for scans (``--tissue``): N4 bias-field correction of positive (MR)
# intensities, then k-means, then a Potts prior on the labels (mean field over the 6 face
# neighbours, weighted by 1 / spacing). Chosen on the shared brain T1 (vs FSL FAST) and the
# three BraTS FLAIR cases (benchmarks/bench_medical.py): beta 0.5 favoured the brain's thin
# cortex, 2 the tumours' large blobs; 1.0 met both bars (GM 0.922, WM 0.955; BraTS mean 0.851).
TISSUE_PRESET: dict[str, Any] = {
    "bias_shrink": 4,  # N4 on a copy shrunk 4x per axis, the field then applied at full size
    "bias_iterations": (50, 50, 30, 20),
    "prior_weight": 1.0,
    "prior_iterations": 10,
}

#: Named CT windows, (centre, width) in Hounsfield units, as radiology viewers preset them:
#: values outside ``centre -/+ width / 2`` are clipped before clustering.
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
    "soft-tissue": (50.0, 400.0),
    "mediastinum": (50.0, 350.0),
    "liver": (30.0, 150.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}


def one_of(choices: tuple[str, ...]) -> str:
    """The choices as an error message lists them: ``"'a', 'b' or 'c'"``."""
    quoted = [repr(choice) for choice in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
