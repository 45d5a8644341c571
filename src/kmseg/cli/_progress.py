"""A status line on the terminal for work that may take a while.

Batches and strip-wise rasters have a progress bar of their own (tqdm); single steps (a first
run, a large k, a figure of a large photo) show ``kmseg: segmenting photo.jpg ... 3 s`` once they
have taken :data:`DELAY` seconds, updated until they end and then erased. Nothing is printed
when standard error is not a terminal (logs and pipes stay clean).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

DELAY = 2.0  # seconds before the line appears: quick steps print nothing
_TICK = 0.5


@contextlib.contextmanager
def working(
    what: str, *, stream: TextIO | None = None, delay: float | None = None
) -> Iterator[None]:
    """Show ``kmseg: <what> ... N s`` on ``stream`` (standard error) while the block runs,
    from ``delay`` seconds (:data:`DELAY`) on, if the stream is a terminal."""
    stream = sys.stderr if stream is None else stream
    delay = DELAY if delay is None else delay
    if not stream.isatty():
        yield
        return
    done = threading.Event()
    start = time.monotonic()
    shown = threading.Event()

    def show() -> None:
        if done.wait(delay):
            return
        while True:
            shown.set()
            stream.write(f"\r\x1b[Kkmseg: {what} ... {time.monotonic() - start:.0f} s")
            stream.flush()
            if done.wait(_TICK):
                return

    thread = threading.Thread(target=show, name="kmseg-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if shown.is_set():
            stream.write("\r\x1b[K")
            stream.flush()
