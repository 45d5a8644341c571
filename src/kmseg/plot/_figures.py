"""Figures of segmentations and colour distributions (matplotlib object API, no pyplot).

Every function returns a new :class:`matplotlib.figure.Figure` and touches no global state:
nothing is shown, nothing needs closing, ``fig.savefig(...)`` works on any backend.

Display convention (:func:`to_display`): values are divided by the dtype's full scale (255,
65535, 1.0 for floats in [0, 1]); floats outside [0, 1] are min-max scaled; multi-band images
show their first three bands in false colour; transparent and masked pixels stay transparent,
over a light checkerboard.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from matplotlib.figure import Figure

from .._choose_k import KChoice
from .._display import display_limits, display_with_limits, scale_to_unit, value_limits
from .._errors import ParameterError
from .._features import value_range
from .._io import DEFAULT_MAX_PIXELS, load_image
from .._result import Segmentation
from .._segment import as_image, clustered_values, segment

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.gridspec import GridSpec

    from .._segment import ImageLike

_PANEL_INCHES = 4.0
_THUMBNAIL = 240
_MAX_COLUMNS = 4
_HIST_BINS = 256
_RGB_NAMES = ("R", "G", "B")
_RGB_COLORS = ("red", "green", "blue")


class _Panel(NamedTuple):
    title: str
    pixels: np.ndarray
    alpha: np.ndarray | None


def compare(seg: Segmentation) -> Figure:
    """The original image and its segmentation side by side.

    Parameters
    ----------
    seg : Segmentation
        From :func:`kmseg.segment`. Gray panels use the ``"gray"`` colormap over the dtype's
        full range (a two-level result is not stretched); transparent input pixels
        (``seg.alpha``) and masked pixels (``seg.output_alpha()``) show as transparent.

    Returns
    -------
    Figure
        Two axes titled ``"Original"`` and ``"Segmented, k = <k>"``.

    Raises
    ------
    ParameterError
        ``seg`` is not a Segmentation.

    Examples
    --------
    >>> import kmseg
    >>> fig = kmseg.plot.compare(kmseg.segment(kmseg.data.sample_path(), k=4))
    >>> [ax.get_title() for ax in fig.axes]
    ['Original', 'Segmented, k = 4']
    """
    _check_segmentation(seg)
    return _panel_grid([_original_panel(seg), _segmented_panel(seg, f"Segmented, k = {seg.k}")])


def sweep(image: ImageLike, ks: Sequence[int] = (4, 6, 10), **segment_kwargs: Any) -> Figure:
    """The image segmented with several ``k``, in one grid.

    Shortcut for ``sweep_figure(sweep_segmentations(image, ks, **segment_kwargs))``; call those
    two yourself to keep the segmentations.

    Parameters
    ----------
    image : str, path, (M, N[, C]) ndarray or LoadedImage
        Anything :func:`kmseg.segment` takes; a file is read once.
    ks : sequence of int, default (4, 6, 10)
        The values of ``k``, one panel each, in this order.
    **segment_kwargs
        Passed to :func:`kmseg.segment` (``space``, ``seed``, ``mask``, ...).

    Returns
    -------
    Figure
        Axes titled ``"Original"``, then ``"k = <k>"`` per ``k``; up to 4 per row.

    Raises
    ------
    ParameterError
        ``ks`` is empty or not a sequence of integers, or :func:`kmseg.segment` rejects the
        image or a parameter.
    ImageReadError
        The file cannot be read.

    Examples
    --------
    >>> import numpy as np, kmseg
    >>> image = np.arange(24, dtype=np.uint8).reshape(4, 6)
    >>> fig = kmseg.plot.sweep(image, ks=(2, 3))
    >>> [ax.get_title() for ax in fig.axes]
    ['Original', 'k = 2', 'k = 3']
    """
    return sweep_figure(sweep_segmentations(image, ks, **segment_kwargs))


def sweep_segmentations(
    image: ImageLike, ks: Sequence[int] = (4, 6, 10), **segment_kwargs: Any
) -> list[Segmentation]:
    """Segment one image once per ``k`` (the computation behind :func:`sweep`).

    Parameters
    ----------
    image, ks, **segment_kwargs
        See :func:`sweep`. A path is read once (``frame`` and ``max_pixels`` apply to the read).

    Returns
    -------
    list of Segmentation
        One per ``k``, in the order of ``ks``.

    Raises
    ------
    ParameterError, ImageReadError
        See :func:`sweep`.

    Examples
    --------
    >>> import numpy as np, kmseg
    >>> image = np.arange(24, dtype=np.uint8).reshape(4, 6)
    >>> segs = kmseg.plot.sweep_segmentations(image, ks=(2, 3))
    >>> [seg.k for seg in segs]
    [2, 3]
    """
    ks = _check_ks(ks)
    if isinstance(image, (str, os.PathLike)):
        image = load_image(
            image,
            frame=segment_kwargs.pop("frame", 0),
            max_pixels=segment_kwargs.pop("max_pixels", DEFAULT_MAX_PIXELS),
        )
    return [segment(image, k, **segment_kwargs) for k in ks]


def sweep_figure(segmentations: Sequence[Segmentation]) -> Figure:
    """Grid of segmentations of one image: the original, then one panel per segmentation.

    Parameters
    ----------
    segmentations : sequence of Segmentation
        Of the same image (e.g. from :func:`sweep_segmentations`); the original is taken from
        the first.

    Returns
    -------
    Figure
        See :func:`sweep`.

    Raises
    ------
    ParameterError
        The sequence is empty, holds something else than Segmentations, or their images differ
        in shape.

    Examples
    --------
    >>> import numpy as np, kmseg
    >>> image = np.arange(24, dtype=np.uint8).reshape(4, 6)
    >>> segs = kmseg.plot.sweep_segmentations(image, ks=(2, 3))
    >>> [ax.get_title() for ax in kmseg.plot.sweep_figure(segs).axes]
    ['Original', 'k = 2', 'k = 3']
    """
    segmentations = list(segmentations)
    if not segmentations:
        raise ParameterError("segmentations is empty; give at least one Segmentation")
    for seg in segmentations:
        _check_segmentation(seg)
    first = segmentations[0]
    if any(seg.image.shape != first.image.shape for seg in segmentations):
        raise ParameterError(
            "segmentations are of images of different shapes; give segmentations of one image"
        )
    panels = [_segmented_panel(seg, f"k = {seg.k}") for seg in segmentations]
    return _panel_grid([_original_panel(first), *panels])


def colors(
    image: ImageLike,
    *,
    sample: int = 20000,
    seed: int = 0,
    mask: np.ndarray | None = None,
    alpha: bool | None = None,
) -> Figure:
    """The colour distribution of an image's clustered pixels.

    A 3-D scatter of a random sample of pixels, each drawn in its own colour, beside one
    histogram per channel. Gray images get only their histogram; images with ``C`` other than
    1 or 3 bands get a scatter of their first three bands in false colour (none for two bands)
    and histograms titled ``"band 0"``, ``"band 1"``, ...

    Parameters
    ----------
    image : str, path, (M, N[, C]) ndarray or LoadedImage
        Anything :func:`kmseg.segment` takes.
    sample : int, default 20000
        Largest number of pixels in the scatter, drawn without replacement.
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` for the sample: the scatter shows the pixels
        ``rng.choice(n, min(sample, n), replace=False)`` of the ``n`` clustered pixels in
        row-major order.
    mask, alpha
        As in :func:`kmseg.segment`: masked and transparent pixels are left out everywhere.

    Returns
    -------
    Figure
        The scatter axes first (``projection="3d"``, labelled R, G, B or band 0..2), then the
        histograms: 256 bins over the dtype's range (one value per bin for uint8, 256 values
        per bin for uint16, [0, 1] or the data range for floats), drawn with ``stairs``.

    Raises
    ------
    ParameterError
        ``sample`` is not an integer >= 1, ``seed`` not an integer >= 0, no pixel is clustered,
        or the image, mask or alpha is invalid (see :func:`kmseg.segment`).
    ImageReadError
        The file cannot be read.

    Examples
    --------
    >>> import kmseg
    >>> fig = kmseg.plot.colors(kmseg.data.sample_path(), sample=1000)
    >>> [ax.name for ax in fig.axes], [ax.get_title() for ax in fig.axes[1:]]
    (['3d', 'rectilinear', 'rectilinear', 'rectilinear'], ['R', 'G', 'B'])
    """
    _check_integer("sample", sample, minimum=1)
    _check_integer("seed", seed, minimum=0)
    values = clustered_values(as_image(image, mask=mask, alpha=alpha))
    if len(values) == 0:
        raise ParameterError("no pixel is clustered (all are masked or transparent)")
    with_scatter = values.shape[1] >= 3
    fig, grid = _colors_layout(values.shape[1], with_scatter)
    names, hist_colors = _channel_names(values.shape[1])
    if with_scatter:
        n_points = min(sample, len(values))
        chosen = np.random.default_rng(seed).choice(len(values), n_points, replace=False)
        _scatter(fig.add_subplot(grid[:, 0], projection="3d"), values, chosen, names)
    edges = _bin_edges(values)
    for i, (name, color) in enumerate(zip(names, hist_colors, strict=True)):
        _histogram(fig.add_subplot(grid[i, -1]), values[:, i], edges, name, color)
    return fig


def _check_integer(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name}={value!r} is invalid; use an integer >= {minimum}")


def _check_segmentation(seg: object) -> None:
    if not isinstance(seg, Segmentation):
        raise ParameterError(
            f"expected a Segmentation (from kmseg.segment), got {type(seg).__name__}"
        )


def _check_ks(ks: Sequence[int]) -> list[int]:
    if isinstance(ks, (int, np.integer, str)) or not isinstance(ks, Sequence | np.ndarray):
        raise ParameterError(f"ks={ks!r} is invalid; give a sequence of k values, e.g. (4, 6, 10)")
    if len(ks) == 0:
        raise ParameterError("ks is empty; give at least one k, e.g. ks=(4, 6, 10)")
    return list(ks)


def _original_panel(seg: Segmentation) -> _Panel:
    return _Panel("Original", seg.image, seg.alpha)


def _segmented_panel(seg: Segmentation, title: str) -> _Panel:
    """The painted image without its alpha channel, and that alpha separately."""
    alpha = seg.output_alpha()
    painted = seg.segmented()
    if alpha is not None:
        painted = painted[..., :-1]
        if painted.shape[-1] == 1:
            painted = painted[..., 0]
    return _Panel(title, painted, alpha)


def _panel_grid(panels: Sequence[_Panel]) -> Figure:
    """One image panel per entry, up to four per row, all on the first panel's display range."""
    ncols = min(len(panels), _MAX_COLUMNS)
    nrows = -(-len(panels) // ncols)
    rows, cols = panels[0].pixels.shape[:2]
    aspect = min(max(rows / cols, 0.25), 4.0)
    fig = Figure(
        figsize=(ncols * _PANEL_INCHES, nrows * (_PANEL_INCHES * aspect + 0.5)),
        layout="constrained",
    )
    limits = display_limits(panels[0].pixels, panels[0].alpha)
    for i, panel in enumerate(panels):
        _draw_panel(fig.add_subplot(nrows, ncols, i + 1), panel, limits)
    return fig


def _draw_panel(ax: Axes, panel: _Panel, limits: tuple[float, float]) -> None:
    """One image, titled, without axes; gray without alpha through the gray colormap."""
    if panel.alpha is None and panel.pixels.ndim == 2:
        ax.imshow(panel.pixels, cmap="gray", vmin=limits[0], vmax=limits[1])
    else:
        ax.imshow(display_with_limits(panel.pixels, panel.alpha, limits))
    if panel.alpha is not None:
        _draw_checkerboard(ax, panel.pixels.shape[:2])
    ax.set_title(panel.title)
    ax.set_axis_off()


def _draw_checkerboard(ax: Axes, shape: tuple[int, ...]) -> None:
    """A light checkerboard behind the image (added after it, so ``get_images()[0]`` is data)."""
    rows, cols = shape
    tile = max(1, max(rows, cols) // 32)
    parity = (np.arange(-(-rows // tile))[:, None] + np.arange(-(-cols // tile))) % 2
    board = np.repeat(np.where(parity, 0.8, 1.0)[..., None], 3, axis=-1)
    ax.imshow(board, extent=(-0.5, cols - 0.5, rows - 0.5, -0.5), zorder=-1)


def _colors_layout(n_channels: int, with_scatter: bool) -> tuple[Figure, GridSpec]:
    """Figure and grid for :func:`colors`: one row per histogram, the scatter left of them."""
    fig = Figure(
        figsize=(11.0 if with_scatter else 6.0, max(3.0, 1.8 * n_channels)), layout="constrained"
    )
    fig.get_layout_engine().set(wspace=0.08)  # room for the 3-D axis labels
    ncols, ratios = (2, (1.4, 1)) if with_scatter else (1, None)
    return fig, fig.add_gridspec(n_channels, ncols, width_ratios=ratios)


def _scatter(ax: Axes, values: np.ndarray, chosen: np.ndarray, names: Sequence[str]) -> None:
    """3-D scatter of the first three channels of ``values[chosen]`` in their own colours."""
    bands = values[:, :3]
    low, high = value_limits(bands)
    points = bands[chosen]
    ax.scatter(*points.T, c=scale_to_unit(points, low, high), s=2, depthshade=False, linewidths=0)
    ax.set(xlim=(low, high), ylim=(low, high), zlim=(low, high))
    ax.set(xlabel=names[0], ylabel=names[1], zlabel=names[2])
    ax.set_title(f"{len(chosen)} of {len(values)} pixels")


def _histogram(ax: Axes, values: np.ndarray, edges: np.ndarray, title: str, color: str) -> None:
    ax.stairs(np.histogram(values, bins=edges)[0], edges, fill=True, color=color)
    ax.set_title(title)
    ax.set_ylabel("pixels")


def _channel_names(n_channels: int) -> tuple[list[str], list[str]]:
    """Histogram titles and colours: gray, R/G/B, or band 0..C-1."""
    if n_channels == 1:
        return ["gray"], ["gray"]
    if n_channels == 3:
        return list(_RGB_NAMES), list(_RGB_COLORS)
    return [f"band {i}" for i in range(n_channels)], ["dimgray"] * n_channels


def _bin_edges(values: np.ndarray) -> np.ndarray:
    """256 bins over the dtype's range: integer-aligned for uint8 and uint16."""
    if values.dtype.kind == "u":
        return np.linspace(0, value_range(values.dtype) + 1, _HIST_BINS + 1)
    return np.linspace(*value_limits(values), _HIST_BINS + 1)


def choose_k(choice: KChoice, image: ImageLike, *, strip: int = 6) -> Figure:
    """SSE and silhouette against k, the recommended k marked, over a strip of the image
    segmented with a few of the candidate k (the recommended one included).

    Parameters
    ----------
    choice : KChoice
        From :func:`kmseg.choose_k` on ``image``.
    image : str, path, ndarray or LoadedImage
        The image the choice was made on (shown small).
    strip : int, default 6
        Segmented panels at most.

    Examples
    --------
    >>> import kmseg
    >>> choice = kmseg.choose_k(kmseg.data.sample_path(), ks=range(2, 6))
    >>> len(kmseg.plot.choose_k(choice, kmseg.data.sample_path()).axes)
    6
    """
    _check_integer("strip", strip, minimum=1)
    pixels = as_image(image).pixels
    step = max(1, -(-max(pixels.shape[:2]) // _THUMBNAIL))
    small = pixels[::step, ::step]
    shown = _strip_ks(list(choice.ks), choice.k, strip)
    fig = Figure(figsize=(max(8.0, 2.2 * len(shown)), 6.5), layout="constrained")
    grid = fig.add_gridspec(2, len(shown), height_ratios=(1.2, 1.0))
    curve = fig.add_subplot(grid[0, :])
    curve.plot(choice.ks, choice.sse, "o-", color="tab:blue")
    curve.set_xlabel("k")
    curve.set_ylabel("SSE (compactness)", color="tab:blue")
    other = curve.twinx()
    other.plot(choice.ks, choice.silhouette, "s--", color="tab:orange")
    other.set_ylabel("silhouette", color="tab:orange")
    curve.axvline(choice.k, color="gray", linestyle=":")
    curve.set_title(f"recommended {choice.reason}", fontsize=9)
    limits = display_limits(small, None)
    for i, k in enumerate(shown):
        ax = fig.add_subplot(grid[1, i])
        painted = choice.painted(small, k).astype(np.float64)
        painted = painted[..., 0] if painted.shape[2] == 1 else painted
        _draw_panel(ax, _Panel(f"k = {k}" + (" (chosen)" if k == choice.k else ""),
                               _cast_painted(painted, small.dtype), None), limits)
    return fig


def _strip_ks(ks: list[int], chosen: int, count: int) -> list[int]:
    """Up to ``count`` of ``ks``, evenly spread, the one nearest ``chosen`` replaced by it."""
    if len(ks) <= count:
        return ks
    picks = sorted({ks[round(i)] for i in np.linspace(0, len(ks) - 1, count)})
    if chosen not in picks:
        picks[int(np.argmin([abs(k - chosen) for k in picks]))] = chosen
    return sorted(picks)


def _cast_painted(painted: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.dtype(dtype).kind == "u":
        return np.clip(np.rint(painted), 0, np.iinfo(dtype).max).astype(dtype)
    return painted.astype(dtype)
