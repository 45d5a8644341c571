"""Exceptions and warnings raised by kmseg.

Every error kmseg raises on bad input is a :class:`KmsegError`; the message is one line that
names the file (when there is one), the problem and, where it helps, the fix. The command-line
interface prints that line and exits with status 2.
"""

from __future__ import annotations

__all__ = [
    "ImageReadError",
    "ImageTooLargeError",
    "KmsegError",
    "KmsegWarning",
    "OutputError",
    "ParameterError",
    "exceeds",
    "with_source",
]


class KmsegError(Exception):
    """Base class of every error kmseg raises on bad input or parameters."""

    exit_code = 2


class ParameterError(KmsegError, ValueError):
    """A parameter has a wrong value or type, or does not fit the image."""


class ImageReadError(KmsegError, OSError):
    """An image file is missing, unreadable, truncated, too large or not an image."""


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than the decompression-bomb limit allows.

    ``what`` says how large, without the file or the fix (e.g. ``"17000x17000 = 289,000,000
    pixels"``), for applications that word the refusal their own way.
    """

    def __init__(self, message: str, what: str = "the image") -> None:
        super().__init__(message)
        self.what = what

    def __reduce__(self):  # across processes (batch workers) with ``what`` kept
        return type(self), (str(self), self.what)


class OutputError(KmsegError, OSError):
    """An output cannot be written (unwritable folder, or it would overwrite an input)."""


class KmsegWarning(UserWarning):
    """Base class of kmseg's warnings."""


def with_source(message: str, source: object | None) -> str:
    """Prefix ``message`` with the file it is about, when there is one."""
    return f"{source}: {message}" if source else message


def exceeds(name: str, value: int, available: int, what: str,
            fix: str | None = None) -> ParameterError:
    """The one wording of "more clusters (or superpixels) than there is to cluster"."""
    return ParameterError(f"{name}={value} exceeds the {available} {what}; "
                          f"{fix or f'use {name} <= {available}'}")
