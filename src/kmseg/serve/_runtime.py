"""What the routes share while the app runs: the image store and the bounded thread pools.

Work runs on a bounded thread pool: past ``max_pending`` queued requests the answer is a 503.
Uploads queue apart, so that a flood of segment requests does not lock new users out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import HTTPException, Request

from .._errors import ImageReadError, ImageTooLargeError, KmsegError
from ._store import ImageStore, StoredImage, StoredVolume


class Busy(Exception):
    """The pool's queue is full."""


class Superseded(Exception):
    """A newer request of the same client has started."""


class Pool:
    """A thread pool that refuses work past a queue bound instead of piling it up."""

    def __init__(self, workers: int, max_pending: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="kmseg-serve")
        self._max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()

    async def run(self, function: Callable[[], Any]) -> Any:
        with self._lock:
            if self._pending >= self._max_pending:
                raise Busy
            self._pending += 1
        try:
            return await asyncio.wrap_future(self._executor.submit(function))
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def invalid(message: str, *loc: str | int) -> HTTPException:
    """A 422 shaped as FastAPI's own validation errors, so that one schema describes both."""
    return HTTPException(422, [{"loc": ["body", *loc], "msg": message, "type": "value_error"}])


class Runtime:
    """The app's settings, and its store and pools while its lifespan runs (:meth:`open`)."""

    def __init__(self, *, max_upload_bytes: int, max_pixels: int, preview_pixels: int,
                 capacity: int, workers: int, max_pending: int) -> None:
        self.max_upload_bytes = max_upload_bytes
        self._sizes = (capacity, preview_pixels, max_pixels)
        self._threads = (workers, max_pending)
        # (image id, client) -> the client's newest seq (see the segment route)
        self.latest: dict[tuple[str, str], int] = {}

    def open(self) -> ImageStore:
        workers, max_pending = self._threads
        self.store = ImageStore(*self._sizes)
        self.pool = Pool(workers, max_pending)
        self.uploads = Pool(1, max_pending)
        self.latest = {}
        return self.store

    def close(self) -> None:
        self.pool.close()
        self.uploads.close()
        self.store.close()

    def stored_or_404(self, image_id: str) -> StoredImage:
        stored = self.store.get(image_id)
        if stored is None:
            raise HTTPException(404, "no such image (unknown id, or forgotten: upload it again)")
        return stored

    def volume_or_404(self, volume_id: str) -> StoredVolume:
        stored = self.store.get(volume_id, StoredVolume)
        if stored is None:
            raise HTTPException(404, "no such scan (unknown id, or forgotten: upload it again)")
        return stored

    async def compute(self, function: Callable[[], Any]) -> Any:
        try:
            return await self.pool.run(function)
        except Busy:
            raise HTTPException(503, "busy: too many requests waiting, try again") from None
        except Superseded:
            raise HTTPException(409, "superseded by a newer request of this client") from None
        except KmsegError as error:  # the parameters do not fit the image
            raise invalid(str(error)) from None

    async def add_image(self, data: bytes, name: str) -> StoredImage:
        return await self._add(lambda store: store.add(data, name), name, "pixels")

    async def add_volume(self, files: list[tuple[str, bytes]]) -> StoredVolume:
        name = files[0][0] if len(files) == 1 else f"a series of {len(files)} files"
        return await self._add(lambda store: store.add_volume(files), name, "voxels")

    async def _add(self, add: Callable[[ImageStore], Any], name: str, unit: str) -> Any:
        store = self.store
        try:
            return await self.uploads.run(lambda: add(store))
        except Busy:
            raise HTTPException(503, "busy: too many requests waiting, try again") from None
        except ImageTooLargeError as error:  # kmseg's message names CLI flags: not here
            raise HTTPException(413, f"{name}: {error.what} is more than this "
                                     f"server accepts ({store.max_pixels:,} {unit})") from None
        except ImageReadError as error:
            message = str(error).split(": ", 1)[-1]  # the temporary path means nothing here
            raise HTTPException(415, f"{name}: {message}") from None


def runtime(request: Request) -> Runtime:
    """The route dependency: the app's :class:`Runtime`."""
    return request.app.state.runtime
