"""Uploaded images: a private temporary folder, random ids, a least-recently-used bound.

Nothing a client sends becomes a path: an upload is written under a fresh random id (128 bits,
``secrets.token_urlsafe``), ids are checked against their pattern before any lookup, and the
folder is removed when the store closes.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

from .._spatial import shrink
from ..io import LoadedImage, load_image

_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


@dataclass
class StoredImage:
    """One upload: its file, its preview (at most ``preview_pixels``), cached results."""

    id: str
    path: Path
    name: str  # the client's file name, for download names only
    width: int
    height: int
    description: str
    preview: LoadedImage
    fits: OrderedDict = field(default_factory=OrderedDict)  # params -> fitted segmenter
    lock: threading.Lock = field(default_factory=threading.Lock)


class ImageStore:
    """At most ``capacity`` images; adding one more forgets (and deletes) the least recently
    used."""

    def __init__(self, capacity: int, preview_pixels: int, max_pixels: int) -> None:
        self.capacity = capacity
        self.preview_pixels = preview_pixels
        self.max_pixels = max_pixels
        self.folder = Path(tempfile.mkdtemp(prefix="kmseg-serve-"))
        self._images: OrderedDict[str, StoredImage] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, data: bytes, name: str) -> StoredImage:
        """Store uploaded bytes; raises ImageReadError if they are not an image kmseg reads
        (sniffed from the content, whatever the name) or exceed ``max_pixels``."""
        image_id = secrets.token_urlsafe(16)
        path = self.folder / image_id
        path.write_bytes(data)
        try:
            loaded = load_image(path, max_pixels=self.max_pixels)
        except Exception:
            path.unlink(missing_ok=True)
            raise
        stored = StoredImage(
            image_id, path, _display_name(name), loaded.pixels.shape[1], loaded.pixels.shape[0],
            loaded.description, shrink(loaded, self.preview_pixels),
        )
        with self._lock:
            self._images[image_id] = stored
            while len(self._images) > self.capacity:
                _, old = self._images.popitem(last=False)
                old.path.unlink(missing_ok=True)
        return stored

    def get(self, image_id: str) -> StoredImage | None:
        if not _ID.match(image_id):
            return None
        with self._lock:
            stored = self._images.get(image_id)
            if stored is not None:
                self._images.move_to_end(image_id)
            return stored

    def full(self, stored: StoredImage) -> LoadedImage:
        """The full-resolution image, read again from the stored upload."""
        return replace(load_image(stored.path, max_pixels=self.max_pixels), source=stored.name)

    def __len__(self) -> int:
        return len(self._images)

    def close(self) -> None:
        with self._lock:
            self._images.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def _display_name(name: str) -> str:
    """A file name safe to show and to suggest for downloads (never used as a path)."""
    stem = Path(name or "image").stem
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60]
    return cleaned or "image"
