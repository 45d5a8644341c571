"""Uploaded images and scans: a private temporary folder, random ids, a least-recently-used
bound.

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

import numpy as np

from .._errors import ImageReadError, ImageTooLargeError
from .._spatial import shrink
from ..io import LoadedImage, load_image
from ..io._volume import NIFTI_SUFFIXES, Volume, is_dicom_path, name_stem

_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
#: Scans kept at most (the least recently used forgotten first), within ``capacity``.
SCANS_KEPT = 4


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


@dataclass
class StoredVolume:
    """One uploaded scan (a file, or the files of a DICOM series), read once, and its cached
    segmentations."""

    id: str
    path: Path  # the file, or the folder of the series' files
    name: str
    volume: Volume
    description: str
    display: tuple[float, float]  # the values shown black and white (1st, 99th percentile)
    dicom: bool  # read from DICOM: a DICOM SEG can be exported
    fits: OrderedDict = field(default_factory=OrderedDict)  # params -> segmentation
    lock: threading.Lock = field(default_factory=threading.Lock)


class ImageStore:
    """At most ``capacity`` images and scans; adding one more forgets (and deletes) the least
    recently used."""

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
        self._keep(stored)
        return stored

    def add_volume(self, files: list[tuple[str, bytes]]) -> StoredVolume:
        """Store an uploaded scan: one NIfTI / MGH / DICOM / TIFF z-stack file, or the files of
        a DICOM series; raises ImageReadError (naming the upload, not the temporary folder) if
        kmseg cannot read it as a volume, ImageTooLargeError past ``max_pixels`` voxels."""
        from ..io._volume import read_volume

        volume_id = secrets.token_urlsafe(16)
        folder = self.folder / volume_id
        folder.mkdir()
        # Each file under its own (cleaned) name, numbered: a series may repeat names, and a
        # file's suffix (.nii.gz, .dcm) tells the reader what it is.
        paths = [folder / f"{i:05d}-{_file_name(name)}" for i, (name, _) in enumerate(files)]
        for path, (_, data) in zip(paths, files, strict=True):
            path.write_bytes(data)
        target = paths[0] if len(paths) == 1 else folder
        name = _scan_name(files[0][0]) if len(files) == 1 else _series_name(files[0][0])
        try:
            # Frame 0: of a 4-D file the first, of any other the one there is.
            volume = read_volume(target, frame=0, max_voxels=self.max_pixels)
        except ImageTooLargeError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        except ImageReadError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise ImageReadError(said_of_upload(str(error), folder, name)) from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        stored = StoredVolume(volume_id, folder, name, volume, _describe(volume, target),
                              _display_range(volume.data),
                              is_dicom_path(target))
        self._keep(stored)
        return stored

    def _keep(self, stored: StoredImage | StoredVolume) -> None:
        with self._lock:
            self._images[stored.id] = stored
            while len(self._images) > self.capacity:
                _, old = self._images.popitem(last=False)
                _remove(old.path)
            # Scans stay in memory (a CT series: hundreds of MB with its segmentations).
            scans = [key for key, kept in self._images.items() if isinstance(kept, StoredVolume)]
            for key in scans[: max(0, len(scans) - SCANS_KEPT)]:
                _remove(self._images.pop(key).path)

    def get(self, image_id: str, kind: type = StoredImage):
        """The stored image (or, with ``kind=StoredVolume``, scan) of that id, or None."""
        if not _ID.match(image_id):
            return None
        with self._lock:
            stored = self._images.get(image_id)
            if not isinstance(stored, kind):
                return None
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


def said_of_upload(message: str, folder: Path, name: str) -> str:
    """A message about a scan's temporary files, said of the upload's own file names."""
    message = message.replace(f"{folder}/", "").replace(str(folder), name)
    return re.sub(r"(?<![\w.-])\d{5}-", "", message)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _file_name(name: str) -> str:
    """A client's file name (of a folder upload: its last part) cleaned to safe characters,
    its suffix kept."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name or "file").name).strip("._")
    return cleaned[-80:] or "file"


def _frames(target: Path) -> int:
    """Frames of a NIfTI / MGH file by its header (1 for any other file)."""
    if not (target.is_file() and target.name.endswith(NIFTI_SUFFIXES)):
        return 1
    import nibabel

    shape = nibabel.load(target).shape  # read already: the header is sound
    return shape[3] if len(shape) == 4 else 1


def _describe(volume: Volume, target: Path) -> str:
    kind = (f"DICOM series of {volume.data.shape[2]} slices" if target.is_dir() else
            "NIfTI / MGH" if target.name.endswith(NIFTI_SUFFIXES) else
            "TIFF z-stack" if target.name.endswith((".tif", ".tiff")) else "DICOM")
    size = " x ".join(str(n) for n in volume.data.shape[:3])
    spacing = " x ".join(f"{s:g}" for s in volume.spacing)
    channels = f", {volume.data.shape[3]} channels" if volume.data.ndim == 4 else ""
    frames = _frames(target)
    frame = f", the first of {frames} frames" if frames > 1 else ""
    return f"{kind} {volume.data.dtype}, {size} voxels of {spacing} mm{channels}{frame}"


def _display_range(data: np.ndarray) -> tuple[float, float]:
    """The 1st and 99th percentiles of the first channel's nonzero voxels (of every voxel when
    all are zero), on at most ~1 M of them: what a slice shows from black to white."""
    values = (data if data.ndim == 3 else data[..., 0]).ravel()
    values = values[:: max(1, values.size // 1_000_000)]
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    shown = finite[finite != 0] if (finite != 0).any() else finite
    if shown.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(shown, [1, 99]))
    return low, max(high, low + 1e-12)


def _display_name(name: str) -> str:
    """A file name safe to show and to suggest for downloads (never used as a path)."""
    return _cleaned(Path(name or "image").stem) or "image"


def _scan_name(name: str) -> str:
    """:func:`_display_name` of a scan: ``brain.nii.gz`` -> ``brain``; a DICOM file named by
    its UID keeps its dots."""
    return _cleaned(name_stem(Path(name or "scan").name)) or "scan"


def _series_name(name: str) -> str:
    """The folder of a series' files (a browser sends ``folder/file`` for a folder upload),
    else ``dicom_series``."""
    parts = Path(name).parts
    return (_cleaned(parts[-2]) if len(parts) > 1 else "") or "dicom_series"


def _cleaned(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60]
