"""Figures: original vs segmented, a sweep over ``k``, and an image's colour distribution.

Needs matplotlib, which ``import kmseg`` never loads; every function returns a new
:class:`matplotlib.figure.Figure` (object API, no pyplot state), saved with ``fig.savefig``.
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
