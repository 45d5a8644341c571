"""The routes, one router per resource: the page and its docs, stored images, what is computed
from an image, stored scans, and the parameters' choices."""

from __future__ import annotations

from . import images, options, pages, results, volumes

ROUTERS = (pages.router, images.router, results.router, volumes.router, options.router)
