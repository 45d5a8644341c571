"""Segmentation outputs: painted image, masks, cut-outs, and the files save() writes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tifffile
from PIL import Image

import kmseg
from conftest import read_png
from kmseg import OutputError, ParameterError


@pytest.fixture(scope="module")
def two_tone() -> np.ndarray:
    image = np.zeros((12, 16, 3), np.uint8)
    image[:, 8:] = (200, 40, 10)
    image[:, :8] = (10, 30, 60)
    image[0, 0] = (12, 33, 58)
    return image


def test_mask_and_cutout(two_tone):
    seg = kmseg.segment(two_tone, k=2)
    red = int(np.argmax(seg.centers[:, 0]))
    assert seg.mask(red).sum() == 12 * 8 and seg.mask(red)[:, 8:].all()
    cut = seg.cutout(red)
    assert cut.shape == (12, 16, 4) and cut.dtype == np.uint8
    np.testing.assert_array_equal(cut[:, 8:, :3], two_tone[:, 8:])
    assert (cut[:, 8:, 3] == 255).all() and (cut[:, :8, 3] == 0).all()


def test_cutout_of_gray_and_multiband():
    gray = np.tile(np.array([0, 0, 200, 200], np.uint16), (3, 1)) * 300
    seg = kmseg.segment(gray, k=2)
    cut = seg.cutout(1)
    assert cut.shape == (3, 4, 4) and cut.dtype == np.uint16
    assert (cut[:, 2:, :3] == 60000).all() and (cut[:, 2:, 3] == 65535).all()
    bands = np.random.default_rng(0).integers(0, 255, (5, 6, 6), dtype=np.uint8)
    assert kmseg.segment(bands, k=2).cutout(0).shape == (5, 6, 7)


@pytest.mark.parametrize("kind", ["rgb", "gray", "rgb16", "masked", "bands"])
def test_segmented_paints_each_pixel_with_its_colour(rng, kind):
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    if kind == "gray":
        image = image[..., 0]
    elif kind == "rgb16":
        image = image.astype(np.uint16) * 257
    elif kind == "bands":
        image = np.dstack([image, rng.integers(0, 256, (30, 40), dtype=np.uint8)])
    mask = rng.random((30, 40)) < 0.8 if kind == "masked" else None
    seg = kmseg.segment(image, k=5, mask=mask)
    painted = seg.segmented()
    expected = seg.colors[seg.labels.clip(0, 4)]
    if kind == "gray":
        expected = expected[..., 0]
    colour = painted[..., :3] if kind == "masked" else painted
    valid = np.ones((30, 40), bool) if mask is None else mask
    np.testing.assert_array_equal(colour[valid], expected[valid])
    assert (colour[~valid] == 0).all() and painted.dtype == image.dtype
    if kind == "masked":
        np.testing.assert_array_equal(painted[..., 3], np.where(mask, 255, 0))
    painted[0, 0] = 0  # a new, writeable array


@pytest.mark.parametrize("label", [-1, 2, 1.0, True])
def test_bad_cluster_id(two_tone, label):
    seg = kmseg.segment(two_tone, k=2)
    with pytest.raises(ParameterError, match="label"):
        seg.mask(label)


def test_save_writes_every_file(tmp_path, two_tone):
    seg = kmseg.segment(two_tone, k=2)
    files = seg.save(tmp_path / "out", stem="tone", masks=True, compare=True)
    names = sorted(path.name for path in files.values())
    assert names == sorted(
        ["tone_labels.png", "tone_segmented.png", "tone.json", "tone_compare.png"]
        + [f"tone_{kind}_{i}.png" for kind in ("mask", "cutout") for i in range(2)]
    )
    labels = read_png(files["labels"])
    np.testing.assert_array_equal(labels, seg.labels)
    np.testing.assert_array_equal(read_png(files["segmented"]), seg.segmented())
    np.testing.assert_array_equal(read_png(files["cutout_1"]), seg.cutout(1))
    np.testing.assert_array_equal(read_png(files["mask_0"]) > 0, seg.mask(0))
    report = json.loads(files["json"].read_text())
    assert report["k"] == 2 and report["sizes"] == seg.sizes.tolist()
    assert report["compactness"] == pytest.approx(seg.compactness)
    assert report["centers_hex"] == seg.hex_colors and report["params"]["attempts"] == 10
    assert report["kmseg_version"] == kmseg.__version__
    assert set(report["files"]) == set(files) - {"json"}
    # Atomic writes leave no temporary file behind.
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    assert files["labels"].stat().st_mode & 0o777 == 0o666 & ~_current_umask()


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_save_sixteen_bit_and_bands_losslessly(tmp_path):
    rng = np.random.default_rng(2)
    rgb16 = rng.integers(0, 65536, (6, 7, 3), dtype=np.uint16)
    files = kmseg.segment(rgb16, k=3).save(tmp_path, stem="rgb16")
    assert files["segmented"].suffix == ".png"
    np.testing.assert_array_equal(kmseg.read_image(files["segmented"]),
                                  kmseg.segment(rgb16, k=3).segmented())
    bands = rng.integers(0, 65536, (6, 7, 5), dtype=np.uint16)
    seg = kmseg.segment(bands, k=3)
    files = seg.save(tmp_path, stem="bands")
    assert files["segmented"].suffix == ".tif"
    np.testing.assert_array_equal(tifffile.imread(files["segmented"]), seg.segmented())
    floats = rng.random((6, 7, 3)).astype(np.float32)
    files = kmseg.segment(floats, k=2).save(tmp_path, stem="floats")
    assert tifffile.imread(files["segmented"]).dtype == np.float32


def test_labels_png_is_16_bit_above_255_clusters(tmp_path):
    image = np.arange(400, dtype=np.uint16).reshape(20, 20) * 100
    seg = kmseg.segment(image, k=300, attempts=1)
    files = seg.save(tmp_path)
    labels = kmseg.read_image(files["labels"])
    assert labels.dtype == np.uint16 and labels.max() == 299
    np.testing.assert_array_equal(labels, seg.labels)


def test_masked_pixels_transparent_in_saved_outputs(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = np.arange(10, dtype=np.uint8)[None] * 25
    rgba[..., 3] = 255
    rgba[:3, :, 3] = 0
    path = tmp_path / "in.png"
    Image.fromarray(rgba).save(path)
    files = kmseg.segment(path, k=2).save(tmp_path / "out", masks=True)
    labels = read_png(files["labels"])
    assert (labels[:3] == 255).all() and labels[3:].max() == 1
    for role in ("segmented", "cutout_0", "cutout_1"):
        assert (read_png(files[role])[:3, :, 3] == 0).all(), role


def test_never_overwrites_the_input(tmp_path, two_tone):
    path = tmp_path / "photo_segmented.png"
    Image.fromarray(two_tone).save(path)
    before = path.read_bytes()
    seg = kmseg.segment(path, k=2)
    with pytest.raises(OutputError, match="refusing to overwrite an input"):
        seg.save(tmp_path, stem="photo")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo_segmented.png"]


def test_outputs_beside_a_png_input(tmp_path, two_tone):
    path = tmp_path / "photo.png"
    Image.fromarray(two_tone).save(path)
    before = path.read_bytes()
    files = kmseg.segment(path, k=2).save(tmp_path)
    assert files["labels"] == tmp_path / "photo_labels.png" and path.read_bytes() == before


def test_protected_paths_are_never_written(tmp_path, two_tone):
    other = tmp_path / "photo_labels.png"
    other.write_bytes(b"another input")
    with pytest.raises(OutputError, match=r"photo_labels\.png: refusing"):
        kmseg.segment(two_tone, k=2).save(tmp_path, stem="photo", protect=[other])
    assert other.read_bytes() == b"another input"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo_labels.png"]


def test_multiband_with_a_mask_saves_every_file(tmp_path):
    bands = np.random.default_rng(3).integers(0, 255, (8, 9, 4), dtype=np.uint8)
    keep = np.ones((8, 9), bool)
    keep[0] = False
    seg = kmseg.segment(bands, k=2, mask=keep)
    files = seg.save(tmp_path, masks=True)
    np.testing.assert_array_equal(tifffile.imread(files["segmented"]), seg.segmented())
    np.testing.assert_array_equal(tifffile.imread(files["cutout_1"]), seg.cutout(1))
    assert seg.segmented().shape == (8, 9, 5)


def test_unwritable_output_folder(tmp_path, two_tone):
    if os.geteuid() == 0:
        blocked = tmp_path / "file-not-folder"
        blocked.write_text("x")
        target = blocked / "sub"
    else:
        blocked = tmp_path / "ro"
        blocked.mkdir(mode=0o500)
        target = blocked
    with pytest.raises(OutputError, match="output folder"):
        kmseg.segment(two_tone, k=2).save(target)
