"""The routes, one router per resource: the page and its docs, stored images, what is computed
from an image, and the parameters' choices."""

from __future__ import annotations

from . import images, options, pages, results

ROUTERS = (pages.router, images.router, results.router, options.router)
