"""What C decoders print while kmseg reads a file, held back from the terminal.

libtiff (inside Pillow) and other codecs write warnings such as "Using code not yet in table"
straight to file descriptor 2, past Python's ``warnings`` and ``sys.stderr``. While a decoder
runs, descriptor 2 points into an anonymous file; its lines end up in the result's report (and
under the CLI's ``--debug``), not between kmseg's own output lines.

Descriptor 2 belongs to the whole process: threads reading at the same time share one
redirection (the first in sets it up, the last out restores the terminal), so each sees its own
lines and possibly another thread's.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

__all__ = ["HeldOutput", "held_stderr"]

_STDERR = 2
_PILLOW_TIFF_NAME = "tempfile.tif: "
_lock = threading.Lock()
_depth = 0
_saved: int | None = None
_spool: int | None = None


class HeldOutput:
    """The lines written to descriptor 2 since the block began (see :func:`held_stderr`)."""

    def __init__(self) -> None:
        self._start = _enter()
        self.messages: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The lines so far, one space between words, blank lines left out."""
        if self._start is None:
            return []
        with _lock:
            end = os.fstat(_spool).st_size
            text = os.pread(_spool, end - self._start, self._start)
        lines = text.decode("utf-8", "replace").splitlines()
        # Pillow hands libtiff the name "tempfile.tif", which means nothing to the user.
        lines = [line.removeprefix(_PILLOW_TIFF_NAME) for line in lines]
        return [" ".join(line.split()) for line in lines if line.strip()]

    def close(self) -> None:
        self.messages = tuple(self.lines())
        _leave(self._start)


@contextlib.contextmanager
def held_stderr() -> Iterator[HeldOutput]:
    """Inside the block, what is written to descriptor 2 is held; ``messages`` after it."""
    held = HeldOutput()
    try:
        yield held
    finally:
        held.close()


def _enter() -> int | None:
    global _depth, _saved, _spool
    with _lock:
        if _depth == 0:
            try:
                sys.stderr.flush()
                saved = os.dup(_STDERR)
            except (OSError, ValueError, AttributeError):  # no descriptor 2 (closed, a service)
                return None
            try:
                spool = _anonymous_file()
            except OSError:
                os.close(saved)
                return None
            _spool, _saved = spool, saved
            os.dup2(_spool, _STDERR)
        _depth += 1
        return os.fstat(_spool).st_size


def _anonymous_file() -> int:
    """A descriptor of a new file that has no name, deleted when closed, opened to append.
    memfd_create (Linux) spares tempfile's import (1 ms of a 0.3 s ``kmseg segment``, which
    needs it nowhere else). Appending: threads writing at once each add their line at the end;
    with a shared file position, a memfd let two writes land at one offset (a lost line in 53 of
    300 rounds of 4 threads), so the lines written are found by the file's size."""
    try:
        spool = os.memfd_create("kmseg-stderr", os.MFD_CLOEXEC)
    except (AttributeError, OSError):  # not Linux, or refused (a sandbox)
        import tempfile

        with tempfile.TemporaryFile() as file:
            spool = os.dup(file.fileno())
    _append(spool)
    return spool


def _append(descriptor: int) -> None:
    """Set O_APPEND on ``descriptor`` where fcntl exists (POSIX; on Windows the file position
    stays shared, and lines written by two threads at once may still overwrite each other)."""
    try:
        import fcntl
    except ImportError:
        return
    fcntl.fcntl(descriptor, fcntl.F_SETFL, fcntl.fcntl(descriptor, fcntl.F_GETFL) | os.O_APPEND)


def _leave(start: int | None) -> None:
    global _depth, _saved, _spool
    if start is None:
        return
    with _lock:
        _depth -= 1
        if _depth == 0:
            os.dup2(_saved, _STDERR)
            os.close(_saved)
            os.close(_spool)
            _saved = _spool = None
