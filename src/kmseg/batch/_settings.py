"""The settings that made a batch output, recorded in its JSON report, and how two differ.

A batch redoes an image whose outputs were made with other settings. The settings are what
decides the outputs, as JSON values:

- clustering each image: every parameter of :func:`kmseg.segment` (``k``, ``space``, ``seed``,
  ``attempts``, ``min_region``, ``mask``, ``bands``, ...), defaults filled in and the regions
  preset resolved, so that ``regions=True`` and the preset's parameters given one by one are
  the same settings; an array (``init``, ``mask``, ``fixed_colors``) by its SHA-256;
- with a palette (a saved one, or the batch's shared palette): the SHA-256 of the palette (its
  parameters, the kind of image it applies to and its centres), the only thing the outputs
  then depend on.

Not settings: the kmseg version (an upgrade does not redo a batch; ``force=True`` does),
``workers``, ``scheduler`` and ``progress`` (the results are the same).

This module imports NumPy and the result stage; :mod:`kmseg.batch` imports it on use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

import numpy as np

from .._result import Segmentation

RECORD_KEY = "batch_settings"  # where an output's JSON report holds its settings
PALETTE_KEY = "palette_sha256"
FORCED = "forced"
NOT_RECORDED = "settings not recorded"
_SHOWN = 3  # changes named in a reason; the others counted


def image_settings(segment_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Settings of a batch clustering each image with ``segment(image, **segment_kwargs)``."""
    import inspect

    from .._options import REGIONS_PRESET, resolve_preset
    from .._segment import segment

    given = {name: parameter.default
             for name, parameter in inspect.signature(segment).parameters.items()
             if name != "image"} | segment_kwargs
    regions = bool(given.pop("regions"))
    given |= resolve_preset(regions, **{name: given[name] for name in REGIONS_PRESET})
    return _as_json({name: _jsonable(value) for name, value in given.items()})


def palette_settings(model: Any) -> dict[str, Any]:
    """Settings of a batch labelling each image with a fitted :class:`KMeansSegmenter`."""
    content = {
        "params": {name: _jsonable(value) for name, value in model.get_params().items()},
        "dtype": model.dtype_,
        "channels": model.n_channels_,
        "cluster_centers": _jsonable(np.asarray(model.cluster_centers_, dtype=np.float64)),
        "centers": _jsonable(np.asarray(model.centers_, dtype=np.float64)),
    }
    text = json.dumps(content, sort_keys=True, default=str)
    return {PALETTE_KEY: hashlib.sha256(text.encode()).hexdigest()}


def changes(old: Any, new: dict[str, Any]) -> str:
    """What differs between the settings recorded with an output and ``new``, in one line
    (``"k 6 -> 3, seed 0 -> 1"``); ``""`` if nothing does.

    ``old`` is what the report held: not a dict (an output of an older kmseg) gives
    :data:`NOT_RECORDED`. A setting missing from one side counts as its default, so a parameter
    added by a later kmseg, left at its default, changes nothing.
    """
    if not isinstance(old, dict):
        return NOT_RECORDED
    if (PALETTE_KEY in old) != (PALETTE_KEY in new):
        return ("a palette instead of clustering each image" if PALETTE_KEY in new
                else "clustering each image instead of a palette")
    defaults = _defaults()
    differing = []
    for name in dict.fromkeys([*new, *old]):
        before, after = (side.get(name, defaults.get(name)) for side in (old, new))
        if before != after:
            differing.append("another palette" if name == PALETTE_KEY
                             else f"{name} {_short(before)} -> {_short(after)}")
    if len(differing) > _SHOWN:
        differing[_SHOWN:] = [f"{len(differing) - _SHOWN} more"]
    return ", ".join(differing)


def recorded(seg: Segmentation, settings: dict[str, Any]) -> Segmentation:
    """``seg``, whose JSON report also holds ``settings``: one write, and the report is written
    last, so every output with a report says what made it."""
    values = {f.name: getattr(seg, f.name) for f in fields(seg)}
    return _Recorded(**values, batch_settings=settings)


@dataclass(frozen=True, eq=False)
class _Recorded(Segmentation):
    """A segmentation whose report (``summary``) records the batch settings."""

    batch_settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return super().summary() | {RECORD_KEY: self.batch_settings}


@cache
def _defaults() -> dict[str, Any]:
    return image_settings({})


def _jsonable(value: Any) -> Any:
    """A parameter value as JSON: an array by its SHA-256, shape and dtype."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value).tobytes()
        return {"sha256": hashlib.sha256(data).hexdigest(), "shape": list(value.shape),
                "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def _as_json(value: Any) -> Any:
    """``value`` as it reads back from a JSON report (tuples become lists, paths strings)."""
    return json.loads(json.dumps(value, default=str))


def _short(value: Any) -> str:
    """A setting's value as a change shows it: ``lab``, ``None``, ``0.01``, ``[4, 3, 2]``."""
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= 24 else text[:21] + "..."
