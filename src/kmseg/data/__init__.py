"""Bundled sample data.

``coffee.jpg`` is scikit-image's ``coffee`` photo (400x600 RGB, "No copyright restrictions. CC0 by
the photographer (Rachel Michetti)"; courtesy of Pikolo Espresso Bar), re-encoded as JPEG.
"""

from __future__ import annotations

__all__ = ["sample_path"]


def sample_path() -> str:
    """Path of the bundled sample photo (400x600 RGB JPEG, CC0).

    Returns
    -------
    str
        The path of ``coffee.jpg`` inside the installed :mod:`kmseg.data` package, for
        :func:`kmseg.load_image` or any other reader.

    Examples
    --------
    >>> from kmseg.data import sample_path
    >>> sample_path().endswith("coffee.jpg")
    True
    """
    from importlib.resources import files  # here: 3 ms of a 0.3 s `kmseg segment`

    return str(files(__name__) / "coffee.jpg")
