"""Figures of segmentations and colour distributions (matplotlib object API, no pyplot).

Every function returns a new :class:`matplotlib.figure.Figure` and touches no global state:
nothing is shown, nothing needs closing, ``fig.savefig(...)`` works on any backend.

Display convention (:func:`to_display`): values are divided by the dtype's full scale (255,
65535, 1.0 for floats in [0, 1]); floats outside [0, 1] are min-max scaled; multi-band images
show their first three bands in false colour; transparent and masked pixels stay transparent,
over a light checkerboard.

Size: every function takes keyword-only ``width`` (the figure's width in inches; the height
follows the layout) and ``dpi`` (dots per inch, default matplotlib's ``figure.dpi``, 100), as
matplotlib's ``figsize`` and ``dpi``: the saved PNG is ``width * dpi`` pixels wide. Images are
drawn from copies shrunk to the pixels their panel shows at that dpi (the photo area-averaged,
labels the majority of each block, so a segmented panel keeps exactly its k colours): a 15 MP
photo's comparison figure takes ~0.5 s to make and save, not 5-12 s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from matplotlib.figure import Figure

from .._choose_k import KChoice
from .._display import (
    display_limits,
    display_with_limits,
    reduction_factor,
    shrink_image,
    value_limits,
)
from .._errors import ParameterError
from .._features import value_range
from .._panels import (
    Panel,
    check_figure_size,
    compare_figure,
    draw_panel,
    segmentation_grid,
)
from .._result import Segmentation
from .._segment import segment
from .._validation import as_image, clustered_values
from ..io import DEFAULT_MAX_PIXELS, load_image

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.gridspec import GridSpec

    from .._validation import ImageLike

_CENTER_MARKER = {"edgecolors": "black", "linewidths": 1.2, "depthshade": False}
_HIST_BINS = 256
_RGB_NAMES = ("R", "G", "B")
_RGB_COLORS = ("red", "green", "blue")


def compare(
    seg: Segmentation, *, width: float | None = None, dpi: float | None = None
) -> Figure:
    """The original image and its segmentation side by side.

    Parameters
    ----------
    seg : Segmentation
        From :func:`kmseg.segment`. Gray panels use the ``"gray"`` colormap over the dtype's
        full range (a two-level result is not stretched); transparent input pixels
        (``seg.alpha``) and masked pixels (``seg.output_alpha()``) show as transparent.
    width : float, optional
        Figure width in inches (default 8: 4 per panel); the height follows the image's aspect.
    dpi : float, optional
        Dots per inch (default matplotlib's ``figure.dpi``, 100): the PNG is ``width * dpi``
        pixels wide. Each panel is drawn from the image shrunk by the largest integer factor
        that keeps at least the pixels the panel shows.

    Returns
    -------
    Figure
        Two axes titled ``"Original"`` and ``"Segmented, k = <k>"``.

    Raises
    ------
    ParameterError
        ``seg`` is not a Segmentation, or is one of a pixel list (no image to show);
        ``width`` or ``dpi`` is not a number > 0.

    Examples
    --------
    >>> import kmseg
    >>> fig = kmseg.plot.compare(kmseg.segment(kmseg.data.sample_path(), k=4))
    >>> [ax.get_title() for ax in fig.axes]
    ['Original', 'Segmented, k = 4']
    """
    _check_segmentation(seg, image=True)
    return compare_figure(seg, width=width, dpi=dpi)


def sweep(
    image: ImageLike,
    ks: Sequence[int] = (4, 6, 10),
    *,
    width: float | None = None,
    dpi: float | None = None,
    **segment_kwargs: Any,
) -> Figure:
    """The image segmented with several ``k``, in one grid.

    Shortcut for ``sweep_figure(sweep_segmentations(image, ks, **segment_kwargs), width=width,
    dpi=dpi)``; call those two yourself to keep the segmentations.

    Parameters
    ----------
    image : str, path, (M, N[, C]) ndarray or LoadedImage
        Anything :func:`kmseg.segment` takes; a file is read once.
    ks : sequence of int, default (4, 6, 10)
        The values of ``k``, one panel each, in this order.
    width : float, optional
        Figure width in inches (default 4 per column, up to 4 columns).
    dpi : float, optional
        Dots per inch (default matplotlib's ``figure.dpi``, 100); see :func:`compare`.
    **segment_kwargs
        Passed to :func:`kmseg.segment` (``space``, ``seed``, ``mask``, ...).

    Returns
    -------
    Figure
        Axes titled ``"Original"``, then ``"k = <k>"`` per ``k``; up to 4 per row.

    Raises
    ------
    ParameterError
        ``ks`` is empty or not a sequence of integers, ``width`` or ``dpi`` is not a number
        > 0, or :func:`kmseg.segment` rejects the image or a parameter.
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
    check_figure_size(width, dpi)
    return sweep_figure(sweep_segmentations(image, ks, **segment_kwargs), width=width, dpi=dpi)


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


def sweep_figure(
    segmentations: Sequence[Segmentation],
    *,
    width: float | None = None,
    dpi: float | None = None,
) -> Figure:
    """Grid of segmentations of one image: the original, then one panel per segmentation.

    Parameters
    ----------
    segmentations : sequence of Segmentation
        Of the same image (e.g. from :func:`sweep_segmentations`); the original is taken from
        the first.
    width, dpi : float, optional
        See :func:`sweep`.

    Returns
    -------
    Figure
        See :func:`sweep`.

    Raises
    ------
    ParameterError
        The sequence is empty, holds something else than Segmentations (or ones of pixel
        lists), their images differ in shape, or ``width`` or ``dpi`` is not a number > 0.

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
        _check_segmentation(seg, image=True)
    check_figure_size(width, dpi)
    first = segmentations[0]
    if any(seg.image.shape != first.image.shape for seg in segmentations):
        raise ParameterError(
            "segmentations are of images of different shapes; give segmentations of one image"
        )
    titles = [f"k = {seg.k}" for seg in segmentations]
    return segmentation_grid(segmentations, titles, width=width, dpi=dpi)


def colors(
    image: ImageLike | Segmentation,
    *,
    sample: int = 20000,
    seed: int = 0,
    mask: np.ndarray | None = None,
    alpha: bool | None = None,
    channel_axis: int | None = -1,
    width: float | None = None,
    dpi: float | None = None,
) -> Figure:
    """The colour distribution of an image's clustered pixels, or of a clustering.

    A 3-D scatter of a random sample of pixels beside one histogram per channel. Given an
    image, each point is drawn in its own colour. Given a :class:`~kmseg.Segmentation`, each
    point is drawn in its cluster's colour (``seg.colors``, the colour the segmented image
    paints it with), the cluster centres are drawn over them as large dots edged in black, and
    each histogram marks the centres with edged triangles on its axis. Gray images get only
    their histogram; images with ``C`` other than 1 or 3 bands get a scatter of their first
    three bands in false colour (none for two bands) and histograms titled ``"band 0"``,
    ``"band 1"``, ...

    Parameters
    ----------
    image : str, path, (M, N[, C]) ndarray, LoadedImage or Segmentation
        Anything :func:`kmseg.segment` takes, or a segmentation (of an image or of a pixel
        list): its clustered pixels are shown, coloured by cluster. A result of
        ``space="gray"`` on an RGB image places its gray centres ``g`` at ``(g, g, g)``.
    sample : int, default 20000
        Largest number of pixels in the scatter, drawn without replacement.
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` for the sample: the scatter shows the pixels
        ``rng.choice(n, min(sample, n), replace=False)`` of the ``n`` clustered pixels in
        row-major order (the same pixels for an image and for its segmentation).
    mask, alpha, channel_axis
        As in :func:`kmseg.segment` (``channel_axis=1`` for an ``(N, C)`` pixel list): masked
        and transparent pixels are left out everywhere. Not with a Segmentation, which says
        itself which pixels it clustered.
    width : float, optional
        Figure width in inches (default 11 with the scatter, 6 without); the height scales
        with it.
    dpi : float, optional
        Dots per inch (default matplotlib's ``figure.dpi``, 100).

    Returns
    -------
    Figure
        The scatter axes first (``projection="3d"``, labelled R, G, B or band 0..2; with a
        Segmentation its collections are the pixels, then the centres), then the histograms:
        256 bins over the dtype's range (one value per bin for uint8, 256 values per bin for
        uint16, [0, 1] or the data range for floats), drawn with ``stairs``.

    Raises
    ------
    ParameterError
        ``sample`` is not an integer >= 1, ``seed`` not an integer >= 0, ``width`` or ``dpi``
        not a number > 0, no pixel is clustered, the image, mask or alpha is invalid (see
        :func:`kmseg.segment`), or ``mask`` or ``alpha`` is given with a Segmentation.
    ImageReadError
        The file cannot be read.

    Examples
    --------
    >>> import kmseg
    >>> fig = kmseg.plot.colors(kmseg.data.sample_path(), sample=1000)
    >>> [ax.name for ax in fig.axes], [ax.get_title() for ax in fig.axes[1:]]
    (['3d', 'rectilinear', 'rectilinear', 'rectilinear'], ['R', 'G', 'B'])
    >>> seg = kmseg.segment(kmseg.data.sample_path(), k=4)
    >>> len(kmseg.plot.colors(seg, sample=1000).axes[0].collections)  # pixels, centres
    2
    """
    _check_integer("sample", sample, minimum=1)
    _check_integer("seed", seed, minimum=0)
    check_figure_size(width, dpi)
    clusters = None
    if isinstance(image, Segmentation):
        if mask is not None or alpha is not None:
            raise ParameterError("mask and alpha apply to an image, not to a Segmentation, "
                                 "which shows the pixels it clustered; leave them out")
        values, clusters = _clusters(image)
    else:
        values = clustered_values(as_image(image, mask=mask, alpha=alpha,
                                           channel_axis=channel_axis))
    if len(values) == 0:
        raise ParameterError("no pixel is clustered (all are masked or transparent)")
    with_scatter = values.shape[1] >= 3
    fig, grid = _colors_layout(values.shape[1], with_scatter, width, dpi)
    names, hist_colors = _channel_names(values.shape[1])
    limits = value_limits(values[:, :3])
    if with_scatter:
        n_points = min(sample, len(values))
        chosen = np.random.default_rng(seed).choice(len(values), n_points, replace=False)
        ax = fig.add_subplot(grid[:, 0], projection="3d")
        _scatter(ax, values, chosen, names, limits, clusters)
    edges = _bin_edges(values)
    for i, (name, color) in enumerate(zip(names, hist_colors, strict=True)):
        ax = fig.add_subplot(grid[i, -1])
        _histogram(ax, values[:, i], edges, name, color)
        if clusters is not None:  # the centres as triangles on the value axis
            ax.scatter(clusters.centers[:, i], np.zeros(len(clusters.centers)), marker="^",
                       s=70, c=_shown_colours(clusters.colors, limits), zorder=3,
                       clip_on=False, edgecolors="black", linewidths=1.0)
    return fig


class _Clusters(NamedTuple):
    """A segmentation's view for :func:`colors`: cluster of each clustered pixel, and the
    centres and painted colours in the image's channels."""

    labels: np.ndarray
    centers: np.ndarray
    colors: np.ndarray


def _clusters(seg: Segmentation) -> tuple[np.ndarray, _Clusters]:
    """``(n, C)`` values of the clustered pixels (row-major) and their clusters."""
    values = seg.image.reshape(seg.labels.size, -1)
    labels = seg.labels.ravel()
    clustered = labels != seg.masked_label
    centers, colours = seg.centers, seg.colors
    if centers.shape[1] != values.shape[1]:  # space="gray" of a colour image: g at (g, g, g)
        centers = np.repeat(centers, values.shape[1], axis=1)
        colours = np.repeat(colours, values.shape[1], axis=1)
    return values[clustered], _Clusters(labels[clustered], centers, colours)


def _check_integer(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name}={value!r} is invalid; use an integer >= {minimum}")


def _check_segmentation(seg: object, *, image: bool) -> None:
    """A Segmentation; with ``image``, one of an image (not of a pixel list)."""
    if not isinstance(seg, Segmentation):
        raise ParameterError(
            f"expected a Segmentation (from kmseg.segment), got {type(seg).__name__}"
        )
    if image and seg.labels.ndim != 2:
        raise ParameterError("this Segmentation is of a pixel list (labels of shape (N,)), "
                             "which has no image to show; kmseg.plot.colors(seg) shows its "
                             "colours")


def _check_ks(ks: Sequence[int]) -> list[int]:
    if isinstance(ks, (int, np.integer, str)) or not isinstance(ks, Sequence | np.ndarray):
        raise ParameterError(f"ks={ks!r} is invalid; give a sequence of k values, e.g. (4, 6, 10)")
    if len(ks) == 0:
        raise ParameterError("ks is empty; give at least one k, e.g. ks=(4, 6, 10)")
    return list(ks)


def _colors_layout(
    n_channels: int, with_scatter: bool, width: float | None, dpi: float | None
) -> tuple[Figure, GridSpec]:
    """Figure and grid for :func:`colors`: one row per histogram, the scatter left of them."""
    default_width = 11.0 if with_scatter else 6.0
    scale = 1.0 if width is None else width / default_width
    fig = Figure(figsize=(default_width * scale, max(3.0, 1.8 * n_channels) * scale), dpi=dpi,
                 layout="constrained")
    fig.get_layout_engine().set(wspace=0.08)  # room for the 3-D axis labels
    ncols, ratios = (2, (1.4, 1)) if with_scatter else (1, None)
    return fig, fig.add_gridspec(n_channels, ncols, width_ratios=ratios)


def _scatter(
    ax: Axes, values: np.ndarray, chosen: np.ndarray, names: Sequence[str],
    limits: tuple[float, float], clusters: _Clusters | None,
) -> None:
    """3-D scatter of the first three channels of ``values[chosen]``, in their own colours or
    (``clusters``) in their cluster's, with the centres over them."""
    points = values[chosen, :3]
    if clusters is None:
        colours = _shown_colours(points, limits)
    else:
        colours = _shown_colours(clusters.colors, limits)[clusters.labels[chosen]]
    ax.scatter(*points.T, c=colours, s=2, depthshade=False, linewidths=0)
    title = f"{len(chosen)} of {len(values)} pixels"
    if clusters is not None:
        ax.scatter(*clusters.centers[:, :3].T, c=_shown_colours(clusters.colors, limits), s=160,
                   **_CENTER_MARKER)
        title += f", k = {len(clusters.centers)} centres"
    ax.set(xlim=limits, ylim=limits, zlim=limits)
    ax.set(xlabel=names[0], ylabel=names[1], zlabel=names[2])
    ax.set_title(title)


def _shown_colours(values: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """``(n, 3)`` display colours of ``(n, C)`` values (gray repeated, bands in false colour)."""
    shown = display_with_limits(values[None], None, limits)[0]
    return np.repeat(shown[:, None], 3, axis=1) if shown.ndim == 1 else shown


def _histogram(ax: Axes, values: np.ndarray, edges: np.ndarray, title: str, color: str) -> None:
    # Equal bins given as a count and range: NumPy's fast path (edges as an array sort every
    # value: 1.6 s instead of 0.1 s for three channels of 18 MP).
    counts = np.histogram(values, bins=len(edges) - 1, range=(edges[0], edges[-1]))[0]
    ax.stairs(counts, edges, fill=True, color=color)
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


def choose_k(
    choice: KChoice,
    image: ImageLike,
    *,
    strip: int = 6,
    width: float | None = None,
    dpi: float | None = None,
) -> Figure:
    """Compactness and silhouette against k, the recommended k marked, over a strip of the image
    segmented with a few of the candidate k (the recommended one included).

    Parameters
    ----------
    choice : KChoice
        From :func:`kmseg.choose_k` on ``image``.
    image : str, path, ndarray or LoadedImage
        The image the choice was made on, shown small: area-averaged to the pixels a panel of
        the strip shows, then painted with each k's centres.
    strip : int, default 6
        Segmented panels at most.
    width : float, optional
        Figure width in inches (default 2.2 per panel, at least 8); the height scales with it.
    dpi : float, optional
        Dots per inch (default matplotlib's ``figure.dpi``, 100).

    Returns
    -------
    Figure
        The curves' axes (and their twin, for the silhouette), then one axes per panel.

    Raises
    ------
    ParameterError
        ``strip`` is not an integer >= 1, or ``width`` or ``dpi`` is not a number > 0.

    Examples
    --------
    >>> import kmseg
    >>> choice = kmseg.choose_k(kmseg.data.sample_path(), ks=range(2, 6))
    >>> len(kmseg.plot.choose_k(choice, kmseg.data.sample_path()).axes)
    6
    """
    _check_integer("strip", strip, minimum=1)
    check_figure_size(width, dpi)
    pixels = as_image(image).pixels
    shown = _strip_ks(list(choice.ks), choice.k, strip)
    default_width = max(8.0, 2.2 * len(shown))
    fig_width = default_width if width is None else width
    fig_height = 6.5 * fig_width / default_width
    fig = Figure(figsize=(fig_width, fig_height), dpi=dpi, layout="constrained")
    grid = fig.add_gridspec(2, len(shown), height_ratios=(1.2, 1.0))
    curve = fig.add_subplot(grid[0, :])
    curve.plot(choice.ks, choice.compactness, "o-", color="tab:blue")
    curve.set_xlabel("k")
    curve.set_ylabel("compactness (SSE)", color="tab:blue")
    other = curve.twinx()
    other.plot(choice.ks, choice.silhouette, "s--", color="tab:orange")
    other.set_ylabel("silhouette", color="tab:orange")
    curve.axvline(choice.k, color="gray", linestyle=":")
    curve.set_title(f"recommended {choice.reason}", fontsize=9)
    # A strip panel: its share of the width, and the lower row's share of the height.
    box = (fig_height / 2.2 * fig.dpi, fig_width / len(shown) * fig.dpi)
    small = shrink_image(pixels, reduction_factor(pixels.shape, box))
    limits = display_limits(pixels, None)
    for i, k in enumerate(shown):
        ax = fig.add_subplot(grid[1, i])
        painted = choice.painted(small, k).astype(np.float64)
        painted = painted[..., 0] if painted.shape[2] == 1 else painted
        draw_panel(ax, Panel(f"k = {k}" + (" (chosen)" if k == choice.k else ""),
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
