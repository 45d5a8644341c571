"""Figures of segmentations: the original and its segmentations side by side (matplotlib's
object API, no pyplot).

Below both :mod:`kmseg.plot` (whose ``compare`` and ``sweep`` draw with it) and
:mod:`kmseg._save` (which writes ``<stem>_compare.png``): it takes Segmentations as they are
and imports neither, so that saving a figure does not reach up to the plotting package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from matplotlib.figure import Figure

from ._display import display_limits, display_with_limits, reduction_factor, shrink_image
from ._errors import ParameterError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ._result import Segmentation

__all__ = ["Panel", "check_figure_size", "compare_figure", "draw_panel", "segmentation_grid"]

PANEL_INCHES = 4.0  # image panels of compare and sweep, by default
TITLE_INCHES = 0.5  # room for a panel's title
MAX_COLUMNS = 4

class Panel(NamedTuple):
    title: str
    pixels: np.ndarray
    alpha: np.ndarray | None


def check_figure_size(width: object, dpi: object) -> None:
    for name, value, unit in (("width", width, "inches"), ("dpi", dpi, "dots per inch")):
        if value is not None and not is_positive_number(value):
            raise ParameterError(f"{name}={value!r} is invalid; use a number > 0 ({unit}) "
                                 "or None for the default")


def is_positive_number(value: object) -> bool:
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool)
    return number and bool(np.isfinite(value)) and value > 0


def _original_panel(seg: Segmentation, factor: int) -> Panel:
    """The image and its alpha, area-averaged over ``factor x factor`` blocks."""
    alpha = None if seg.alpha is None else shrink_image(seg.alpha, factor)
    return Panel("Original", shrink_image(seg.image, factor), alpha)


def _segmented_panel(seg: Segmentation, title: str) -> Panel:
    """The painted image without its alpha channel, and that alpha separately."""
    alpha = seg.output_alpha()
    painted = seg.segmented()
    if alpha is not None:
        painted = painted[..., :-1]
        if painted.shape[-1] == 1:
            painted = painted[..., 0]
    return Panel(title, painted, alpha)


def segmentation_grid(
    segs: Sequence[Segmentation], titles: Sequence[str], *, width: float | None,
    dpi: float | None,
) -> Figure:
    """The original (the first segmentation's image), then each segmentation, up to four per
    row, all on the original's display range; each drawn from a copy shrunk to what its panel
    shows (:meth:`Segmentation._display_copy`)."""
    ncols = min(len(segs) + 1, MAX_COLUMNS)
    nrows = -(-(len(segs) + 1) // ncols)
    rows, cols = segs[0].image.shape[:2]
    aspect = min(max(rows / cols, 0.25), 4.0)
    inches = PANEL_INCHES if width is None else width / ncols  # of one panel
    fig = Figure(figsize=(ncols * inches, nrows * (inches * aspect + TITLE_INCHES)), dpi=dpi,
                 layout="constrained")
    factor = reduction_factor((rows, cols), (inches * aspect * fig.dpi, inches * fig.dpi))
    limits = display_limits(segs[0].image, segs[0].alpha)
    panels = [_original_panel(segs[0], factor)]
    for seg, title in zip(segs, titles, strict=True):
        # Only the original panel shows the image: the others need no averaging of it.
        panels.append(_segmented_panel(seg._display_copy(factor, average=False), title))
    for i, panel in enumerate(panels):
        draw_panel(fig.add_subplot(nrows, ncols, i + 1), panel, limits)
    return fig


def draw_panel(ax: Axes, panel: Panel, limits: tuple[float, float]) -> None:
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


def compare_figure(seg: Segmentation, *, width: float | None = None,
                   dpi: float | None = None) -> Figure:
    """The original and ``seg`` side by side (see :func:`kmseg.plot.compare`)."""
    check_figure_size(width, dpi)
    return segmentation_grid([seg], [f"Segmented, k = {seg.k}"], width=width, dpi=dpi)
