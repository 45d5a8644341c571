"""Figures: original vs segmented, a sweep over ``k``, the colour distribution of an image or
of its clustering, and the choice of ``k``.

Needs matplotlib, which ``import kmseg`` never loads; every function returns a new
:class:`matplotlib.figure.Figure` (object API, no pyplot state), saved with ``fig.savefig``.
Every function takes keyword-only ``width`` (inches) and ``dpi``: the PNG is ``width * dpi``
pixels wide, and images are drawn from copies shrunk to that size.
"""

from .._display import to_display
from ._figures import choose_k, colors, compare, sweep, sweep_figure, sweep_segmentations

__all__ = [
    "choose_k",
    "colors",
    "compare",
    "sweep",
    "sweep_figure",
    "sweep_segmentations",
    "to_display",
]
