"""kmseg — image segmentation by k-means clustering.

>>> import kmseg
>>> seg = kmseg.segment(kmseg.data.sample_path(), k=4)
>>> seg.k
4

Names are loaded on first use, so ``import kmseg`` (and the ``kmseg`` command's ``--help``) stays
fast and never imports matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageReadError",
    "ImageTooLargeError",
    "KChoice",
    "KMeansSegmenter",
    "KmsegError",
    "KmsegWarning",
    "LoadedImage",
    "OutputError",
    "ParameterError",
    "Segmentation",
    "__version__",
    "batch",
    "choose_k",
    "data",
    "io",
    "load_image",
    "metrics",
    "plot",
    "read_image",
    "regions",
    "save_segmentation",
    "segment",
    "segment_chunked",
    "volume",
]

# public name -> module that defines it
_LAZY = {
    "DEFAULT_MAX_PIXELS": ".io",
    "LoadedImage": ".io",
    "load_image": ".io",
    "read_image": ".io",
    "KMeansSegmenter": "._segment",
    "segment": "._segment",
    "segment_chunked": "._chunked",
    "choose_k": "._choose_k",
    "KChoice": "._choose_k",
    "Segmentation": "._result",
    "save_segmentation": "._save",
    "ImageReadError": "._errors",
    "ImageTooLargeError": "._errors",
    "KmsegError": "._errors",
    "KmsegWarning": "._errors",
    "OutputError": "._errors",
    "ParameterError": "._errors",
}
_SUBPACKAGES = {"batch", "cli", "data", "io", "metrics", "plot", "regions", "volume"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'kmseg' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from . import batch, data, io, metrics, plot, regions, volume
    from ._choose_k import KChoice, choose_k
    from ._chunked import segment_chunked
    from ._errors import (
        ImageReadError,
        ImageTooLargeError,
        KmsegError,
        KmsegWarning,
        OutputError,
        ParameterError,
    )
    from ._result import Segmentation
    from ._save import save_segmentation
    from ._segment import KMeansSegmenter, segment
    from .io import DEFAULT_MAX_PIXELS, LoadedImage, load_image, read_image
