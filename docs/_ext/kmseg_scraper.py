"""A sphinx-gallery image scraper for the figures kmseg.plot returns.

kmseg draws its figures with matplotlib's object API (``matplotlib.figure.Figure``, no pyplot),
so they are not in pyplot's list of open figures, which the matplotlib scraper reads. This one
finds the Figures an example has bound to a name (``fig = kmseg.plot.sweep(...)``) and that
pyplot does not manage, and saves each once, after the cell that made it. It runs before the
matplotlib scraper, which closes pyplot's figures: a closed one looks like kmseg's.
"""

from __future__ import annotations

import weakref

_scraped: weakref.WeakSet = weakref.WeakSet()


def kmseg_figures(block, block_vars, gallery_conf) -> str:
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    paths = []
    for value in list(block_vars["example_globals"].values()):
        if not isinstance(value, Figure) or value in _scraped:
            continue
        _scraped.add(value)
        if value.canvas.manager is not None:
            continue  # pyplot's: the matplotlib scraper, which runs next, saves and closes it
        path = next(block_vars["image_path_iterator"])
        value.savefig(path)
        paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])


def _get_sg_image_scraper():
    """What sphinx-gallery calls when the scraper is named by this module's name."""
    return kmseg_figures
