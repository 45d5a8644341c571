"""The one place parameters and images are checked, at the API's boundary.

:func:`check_params` applies the rules table (one rule and one wording per parameter, ranges
from :mod:`kmseg._options`); :func:`as_image` turns a path, an array (channels-last once, see
:func:`channels_last`) or a :class:`~kmseg.io.LoadedImage` into a checked LoadedImage;
:func:`checked_values` checks the values to cluster against the colour space and k;
:func:`described_params` gives the parameters as run, as JSON values. The stages
below (features, k-means, labels, result) trust what comes out of here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from ._errors import ParameterError, exceeds, with_source
from ._options import (
    DEFAULT_ATTEMPTS,
    INIT_METHODS,
    MAX_ATTEMPTS,
    MAX_ITER,
    MAX_K,
    MAX_SMOOTH,
    MAX_SUPERPIXELS,
    MAX_WEIGHT,
    MIN_WORK_PIXELS,
    PERCEPTUAL,
    SPACES,
    SUPERPIXEL_METHODS,
    one_of,
)
from .io import LoadedImage, load_image

__all__ = [
    "ImageLike",
    "as_image",
    "attempts_run",
    "channels_last",
    "check_finite_values",
    "check_param",
    "check_params",
    "check_space",
    "checked_values",
    "clustered_values",
    "described_params",
    "is_many",
    "resolved_space",
]

ImageLike = str | os.PathLike | np.ndarray | LoadedImage

_ARRAY_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.float32, np.float64))


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)



def _in_range(value: Any, low: float, high: float) -> bool:
    return _is_number(value) and bool(np.isfinite(value)) and low <= value <= high


def _optional_fraction(value: Any) -> bool:
    return value is None or (_is_number(value) and 0 <= value < 1)


# name -> (check, what a valid value is). Checked once, when fit starts.
_PARAMETER_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "k": (lambda v: _is_int(v) and 1 <= v <= MAX_K, f"an integer from 1 to {MAX_K}"),
    "space": (lambda v: v in SPACES, one_of(SPACES)),
    "init": (
        lambda v: v in INIT_METHODS if isinstance(v, str) else isinstance(v, np.ndarray),
        f"{', '.join(map(repr, INIT_METHODS))}, a (k, C) array of centres or an (M, N) label map",
    ),
    "attempts": (lambda v: v is None or (_is_int(v) and 1 <= v <= MAX_ATTEMPTS),
                 f"None or an integer from 1 to {MAX_ATTEMPTS}"),
    "max_iter": (lambda v: _is_int(v) and 1 <= v <= MAX_ITER,
                 f"an integer from 1 to {MAX_ITER:_}"),
    "eps": (lambda v: _is_number(v) and np.isfinite(v) and v >= 0, "a number >= 0"),
    "seed": (lambda v: v is None or (_is_int(v) and v >= 0), "None or an integer >= 0"),
    "normalize": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "position": (lambda v: _in_range(v, 0, MAX_WEIGHT), f"a number from 0 to {MAX_WEIGHT:g}"),
    "texture": (lambda v: _in_range(v, 0, MAX_WEIGHT), f"a number from 0 to {MAX_WEIGHT:g}"),
    "smooth": (lambda v: _in_range(v, 0, MAX_SMOOTH),
               f"a number from 0 to {MAX_SMOOTH:g} (pixels)"),
    "superpixels": (lambda v: v is None or (_is_int(v) and 2 <= v <= MAX_SUPERPIXELS),
                    f"None or an integer from 2 to {MAX_SUPERPIXELS:_} (at most the pixels)"),
    "superpixel_method": (lambda v: v in SUPERPIXEL_METHODS, one_of(SUPERPIXEL_METHODS)),
    "min_region": (_optional_fraction, "None or a fraction of the image from 0 to 1"),
    "region_level": (_optional_fraction, "None or a level from 0 to 1 (below 1)"),
    "max_work_pixels": (lambda v: v is None or (_is_int(v) and v >= MIN_WORK_PIXELS),
                        f"None or an integer >= {MIN_WORK_PIXELS}"),
    "fixed_colors": (lambda v: v is None or isinstance(v, (list, tuple, np.ndarray)),
                     "None, a list of '#rrggbb' strings or an (f, C) array of colours"),
}



def as_image(
    image: ImageLike,
    *,
    mask: np.ndarray | None = None,
    alpha: bool | None = None,
    channel_axis: int | None = -1,
    check_finite: bool = True,
) -> LoadedImage:
    """Check an image (path, array or LoadedImage) and a mask; return a LoadedImage.

    Arrays are put channels-last here, once (see :func:`channels_last`); a pixel list
    ``(N, C)`` becomes an ``(N, 1, C)`` image marked ``pixel_list``. ``check_finite=False``
    leaves NaN and infinity to :meth:`KMeansSegmenter.checked_values` (or the histogram),
    which read the values anyway.

    Raises
    ------
    ParameterError
        Wrong type, shape or dtype; an ambiguous layout; NaN or infinity in pixels to cluster;
        a mask that does not match the image.
    """
    if isinstance(image, (str, os.PathLike)):
        loaded = load_image(image)
    elif isinstance(image, LoadedImage):
        loaded = image
    elif isinstance(image, np.ndarray):
        loaded = _from_array(image, alpha=bool(alpha), channel_axis=channel_axis)
    else:
        raise ParameterError(
            f"image must be a file path or a numpy array, got {type(image).__name__}"
        )
    if mask is not None:
        if loaded.pixel_list:
            mask = np.asarray(mask)
            if mask.shape != (len(loaded.pixels),):
                raise ParameterError(f"mask shape {mask.shape} does not match the "
                                     f"{len(loaded.pixels)} pixels; give ({len(loaded.pixels)},)")
            mask = mask[:, None]
        loaded = _with_user_mask(loaded, mask)
    if check_finite:
        check_finite_values(clustered_values(loaded), loaded.source)
    return loaded


def is_many(image: object) -> bool:
    """Whether ``fit`` was given several images (an iterable that is not itself one)."""
    return isinstance(image, Iterable) and not isinstance(
        image, (str, bytes, os.PathLike, np.ndarray, LoadedImage)
    )


def check_finite_values(values: np.ndarray, source: str | None = None) -> None:
    """Raise ParameterError if float ``values`` hold NaN or infinity.

    One pass and no temporary: the float64 sum of finite pixels is finite unless they are
    ~1e300 (then the exact check decides); ``isfinite().all()`` took 0.1 s at 16 MP.
    """
    if values.dtype.kind == "f" and not np.isfinite(np.sum(values, dtype=np.float64)) and (
        not np.isfinite(values).all()
    ):
        raise ParameterError(
            with_source("image has NaN or infinite values; mask them out", source)
        )


# A 2-D array of at most this many columns (and more rows) may be N pixels of C channels as
# well as a gray image; a 3-D one whose first axis is at most _CHANNELS_FIRST_MAX long and
# shorter than its last (itself longer than this) may be channels-first.
_FEW_CHANNELS = 4
_CHANNELS_FIRST_MAX = 16


def channels_last(array: np.ndarray, channel_axis: int | None) -> tuple[np.ndarray, bool]:
    """An array as ``(M, N)`` or ``(M, N, C)`` (channels last), and whether it was a pixel list.

    ``channel_axis`` as in scikit-image: the axis holding channels, or None for a gray
    ``(M, N)`` image. The default -1 takes a 3-D array as channels-last and a 2-D one as a gray
    image, except where that is ambiguous (an ``(N, 3)`` array; a ``(3, M, N)`` one), which is
    an error saying what to pass; a non-negative axis is never second-guessed. A 1-D array, and
    a 2-D one with ``channel_axis=1`` (or 0 for ``(C, N)``), are lists of pixels.

    Raises
    ------
    ParameterError
        An ambiguous or impossible layout; the message says which ``channel_axis`` to pass.
    """
    shape = array.shape
    if channel_axis is not None and not (_is_int(channel_axis)
                                         and -max(array.ndim, 1) <= channel_axis < array.ndim):
        raise ParameterError(f"channel_axis={channel_axis!r} is not an axis of an array of "
                             f"shape {shape}; use None or -{array.ndim}..{array.ndim - 1}")
    if array.ndim == 1:
        return array.reshape(-1, 1), True
    if array.ndim == 2:
        if channel_axis is None:
            return array, False
        if channel_axis == -1:
            if shape[1] <= _FEW_CHANNELS and shape[0] > shape[1]:
                raise ParameterError(
                    f"an array of shape {shape} looks like {shape[0]} pixels of {shape[1]} "
                    "channel(s): pass channel_axis=1 to cluster it as a pixel list (labels of "
                    f"shape ({shape[0]},)), or channel_axis=None for a gray image"
                )
            return array, False
        return np.moveaxis(array, channel_axis, -1)[:, None, :], True
    if array.ndim == 3:
        if channel_axis is None:
            raise ParameterError(f"a 3-D array {shape} needs its channel axis: pass "
                                 "channel_axis=-1 for (M, N, C) or 0 for (C, M, N)")
        if channel_axis == -1 and shape[0] <= _CHANNELS_FIRST_MAX and (
            shape[2] > max(shape[0], _FEW_CHANNELS)
        ):
            raise ParameterError(
                f"an array of shape {shape} looks channels-first ({shape[0]} channels of "
                f"{shape[1]} x {shape[2]} pixels): pass channel_axis=0, or channel_axis=2 if "
                f"its last axis really holds {shape[2]} channels"
            )
        return np.moveaxis(array, channel_axis, -1), False
    raise ParameterError(f"image must be (M, N) or (M, N, C), or (N, C) pixels, got shape "
                         f"{shape}")


def _from_array(array: np.ndarray, *, alpha: bool, channel_axis: int | None) -> LoadedImage:
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    if array.dtype not in _ARRAY_DTYPES:
        raise ParameterError(
            f"image dtype {array.dtype} is not supported; convert it to uint8, uint16 or "
            "float (e.g. array.astype(np.uint8))"
        )
    if 0 in array.shape:
        raise ParameterError(f"image has no pixels: shape {array.shape}")
    array, pixel_list = channels_last(array, channel_axis)
    pixels, alpha_channel = array, None
    if alpha:
        if array.ndim != 3 or array.shape[2] < 2:
            raise ParameterError("alpha=True needs at least 2 channels, the last being alpha")
        pixels, alpha_channel = array[..., :-1], array[..., -1]
    pixels = np.ascontiguousarray(pixels)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    mask = None if alpha_channel is None else alpha_channel != 0
    kind = "pixel list" if pixel_list else "array"
    return LoadedImage(pixels, alpha_channel, mask, None, f"{kind} {array.dtype}",
                       pixel_list=pixel_list)


def _with_user_mask(loaded: LoadedImage, mask: np.ndarray) -> LoadedImage:
    mask = np.asarray(mask)
    if mask.shape != loaded.pixels.shape[:2]:
        raise ParameterError(with_source(
            f"mask shape {mask.shape} does not match the image's {loaded.pixels.shape[:2]}",
            loaded.source,
        ))
    if mask.dtype != bool:
        raise ParameterError(f"mask must be a boolean array, got dtype {mask.dtype}")
    combined = mask if loaded.mask is None else mask & loaded.mask
    return replace(loaded, mask=combined)


def _channels(pixels: np.ndarray) -> int:
    return 1 if pixels.ndim == 2 else pixels.shape[2]


def clustered_values(loaded: LoadedImage) -> np.ndarray:
    """``(n, C)`` values of the pixels to cluster."""
    values = loaded.pixels.reshape(-1, _channels(loaded.pixels))
    return values if loaded.mask is None else values[loaded.mask.ravel()]


def check_param(name: str, value: Any) -> None:
    """Raise ParameterError if a parameter of the rules table breaks its rule (other names,
    ``None`` meaning "the default", and ``k="auto"`` pass)."""
    if name in _PARAMETER_RULES and value is not None and not (name == "k" and value == "auto"):
        _check_rule(name, value)


def check_params(params: dict[str, Any]) -> None:
    """Raise ParameterError for the first parameter that breaks its rule."""
    for name in _PARAMETER_RULES:
        _check_rule(name, params[name])


def attempts_run(init: str | np.ndarray, attempts: int | None) -> int:
    """Attempts actually run: an array init runs once; None means the default."""
    return 1 if isinstance(init, np.ndarray) else (attempts or DEFAULT_ATTEMPTS)


def described_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as run, as JSON values (an init array is summarised by its shape)."""
    described = dict(params)
    described["attempts"] = attempts_run(params["init"], params["attempts"])
    if isinstance(params["init"], np.ndarray):
        described["init"] = f"array of shape {list(described['init'].shape)}"
    if isinstance(params["fixed_colors"], np.ndarray):
        described["fixed_colors"] = params["fixed_colors"].tolist()
    elif params["fixed_colors"] is not None:
        described["fixed_colors"] = list(params["fixed_colors"])
    if isinstance(described["eps"], np.generic):
        described["eps"] = described["eps"].item()
    return described


def _check_rule(name: str, value: Any) -> None:
    is_valid, expected = _PARAMETER_RULES[name]
    if not is_valid(value):
        raise ParameterError(f"{name}={value!r} is invalid; use {expected}")


def resolved_space(space: str, values: LoadedImage | np.ndarray, dtype: Any = None) -> str:
    """``space``, with "auto" made "lab" where Lab can read the values (RGB or gray; integers,
    or floats in [0, 1]) and "rgb" (the values as they are) otherwise: a multiband raster, a
    float scan in its own units. ``values``: an image, or the ``(n, C)`` values of images of
    ``dtype`` (a histogram's bins of integers are floats). NaN and infinity are left to the
    checks that name them."""
    if space != "auto":
        return space
    image = values if isinstance(values, LoadedImage) else None
    if image is not None:  # the pixels are read only for a float image's range
        channels, dtype = _channels(image.pixels), image.pixels.dtype
    else:
        channels = values.shape[1]
    if channels not in (1, 3):
        return "rgb"
    if np.dtype(dtype).kind != "f":
        return "lab"
    values = clustered_values(image) if image is not None else values
    finite = values[np.isfinite(values)]
    return "lab" if finite.size and finite.min() >= 0 and finite.max() <= 1 else "rgb"


def check_space(space: str, n_channels: int) -> None:
    """Raise ParameterError unless ``space`` can be computed from ``n_channels`` channels."""
    if space == "auto":
        raise AssertionError("space='auto' is resolved (resolved_space) before it is used")
    if space not in SPACES:
        raise ParameterError(f"space={space!r} is not one of {', '.join(map(repr, SPACES))}")
    if space != "rgb" and n_channels not in (1, 3):
        raise ParameterError(
            f"space={space!r} needs an RGB or gray image, this one has {n_channels} "
            "channels; use space='rgb' to cluster all bands"
        )


def checked_values(
    loaded: LoadedImage, space: str, k: int, *, check_k: bool = True, check_finite: bool = True
) -> np.ndarray:
    """The ``(n, C)`` values to cluster, once checked against ``space`` and ``k``.
    ``check_finite=False``: for values that go to :func:`~kmseg._compress.histogram`,
    which rejects NaN and infinity as it reads them."""
    check_space(space, _channels(loaded.pixels))
    values = clustered_values(loaded)
    if len(values) == 0:
        raise ParameterError("no pixel to cluster: every pixel is masked or transparent")
    if check_k and len(values) < k:
        raise exceeds("k", k, len(values), "pixels to cluster")
    if space in PERCEPTUAL and values.dtype.kind == "f":
        low, high = values.min(), values.max()  # NaN if any is: checked here too
        if not np.isfinite(low) or not np.isfinite(high):
            check_finite_values(values)
        if low < 0 or high > 1:
            raise ParameterError(
                f"space={space!r} needs float RGB values in [0, 1], these span "
                f"{low:g}..{high:g}; rescale the image or use space='rgb'")
    elif check_finite:
        check_finite_values(values)
    return values
