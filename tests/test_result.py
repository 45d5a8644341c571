"""Segmentation outputs: painted image, masks, cut-outs, and the files save() writes."""

from __future__ import annotations

import base64
import io
import json
import os
import re

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
    assert seg.cluster_mask(red).sum() == 12 * 8 and seg.cluster_mask(red)[:, 8:].all()
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
    assert kmseg.segment(bands, k=2, channel_axis=2).cutout(0).shape == (5, 6, 7)


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
        seg.cluster_mask(label)


def test_save_writes_every_file(tmp_path, two_tone):
    seg = kmseg.segment(two_tone, k=2)
    files = seg.save(tmp_path / "out", stem="tone", masks=True, compare=True)
    names = sorted(path.name for path in files.values())
    assert names == sorted(
        ["tone_labels.png", "tone_labels_preview.png", "tone_segmented.png", "tone.json",
         "tone_compare.png"]
        + [f"tone_{kind}_{i}.png" for kind in ("mask", "cutout") for i in range(2)]
    )
    labels = read_png(files["labels"])
    np.testing.assert_array_equal(labels, seg.labels)
    np.testing.assert_array_equal(read_png(files["labels_preview"]), seg.labels * 255)
    np.testing.assert_array_equal(read_png(files["segmented"]), seg.segmented())
    np.testing.assert_array_equal(read_png(files["cutout_1"]), seg.cutout(1))
    np.testing.assert_array_equal(read_png(files["mask_0"]) > 0, seg.cluster_mask(0))
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


# --- the viewable label map beside the raw one ----------------------------------------------


def levels_of(k: int) -> np.ndarray:
    return np.rint(np.linspace(0, 255, k)).astype(np.uint8)


def test_labels_preview_gives_each_label_its_own_gray_level(tmp_path, rng):
    image = np.kron(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), np.ones((3, 3, 1), np.uint8))
    seg = kmseg.segment(image, k=5)
    files = seg.save(tmp_path)
    raw, preview = read_png(files["labels"]), read_png(files["labels_preview"])
    np.testing.assert_array_equal(raw, seg.labels)  # the raw map is unchanged
    assert files["labels_preview"].name == "image_labels_preview.png"
    assert preview.dtype == np.uint8 and preview.shape == seg.labels.shape
    np.testing.assert_array_equal(preview, levels_of(5)[seg.labels])
    assert len(np.unique(preview)) == 5 and preview.min() == 0 and preview.max() == 255
    report = json.loads(files["json"].read_text())
    assert report["files"]["labels_preview"] == "image_labels_preview.png"  # batch's check


def test_labels_preview_masked_pixels_are_transparent(tmp_path, two_tone):
    keep = np.ones(two_tone.shape[:2], bool)
    keep[:3] = False
    seg = kmseg.segment(two_tone, k=2, mask=keep)
    files = seg.save(tmp_path)
    with Image.open(files["labels_preview"]) as preview:
        assert preview.mode == "LA"
        gray_alpha = np.asarray(preview)
    np.testing.assert_array_equal(gray_alpha[..., 1], np.where(keep, 255, 0))
    np.testing.assert_array_equal(gray_alpha[keep, 0], (seg.labels * 255)[keep])
    assert (read_png(files["labels"])[:3] == seg.masked_label).all()


def test_labels_preview_is_16_bit_above_256_clusters(tmp_path):
    image = np.arange(400, dtype=np.uint16).reshape(20, 20) * 100
    seg = kmseg.segment(image, k=300, attempts=1)
    preview = kmseg.read_image(seg.save(tmp_path)["labels_preview"])
    assert preview.dtype == np.uint16
    np.testing.assert_array_equal(preview,
                                  np.rint(np.linspace(0, 65535, 300)).astype(int)[seg.labels])
    assert len(np.unique(preview)) == 300


def test_labels_preview_of_one_cluster_is_white(tmp_path):
    seg = kmseg.segment(np.full((4, 5, 3), 7, np.uint8), k=1)
    assert (read_png(seg.save(tmp_path)["labels_preview"]) == 255).all()


# --- repr, and the notebook previews ----------------------------------------------------------


def decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGBA"))


def inline_images(html: str) -> list[np.ndarray]:
    return [decode(base64.b64decode(data))
            for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_repr_is_one_short_line(two_tone, tmp_path):
    seg = kmseg.segment(two_tone, k=2)
    text = repr(seg)
    assert text == (f"Segmentation(k=2, image=(12, 16, 3) uint8, space='rgb', "
                    f"compactness={seg.compactness:.6g}, source=None)")
    path = tmp_path / ("a_very_long_file_name_" * 8 + ".png")
    Image.fromarray(two_tone).save(path)
    text = repr(kmseg.segment(path, k=2, space="lab"))
    assert len(text) < 200 and "\n" not in text and "array" not in text
    assert "space='lab'" in text and "a_very_long_file_name_a_very" in text and "..." in text


def test_repr_png_shows_original_segmented_and_palette(two_tone):
    seg = kmseg.segment(two_tone, k=2)
    rgba = decode(seg._repr_png_())
    assert rgba.shape == (max(12, 16), 16 + 8 + 16 + 8 + 32, 4)
    np.testing.assert_array_equal(rgba[:12, :16, :3], two_tone)
    np.testing.assert_array_equal(rgba[:12, 24:40, :3], seg.segmented())
    np.testing.assert_array_equal(rgba[0, 48:, :3], np.repeat(seg.colors[:1], 32, axis=0))
    np.testing.assert_array_equal(rgba[-1, 48:, :3], np.repeat(seg.colors[1:], 32, axis=0))
    assert (rgba[12:, :40, 3] == 0).all()  # below the images: transparent


def test_repr_png_of_a_large_image_is_at_most_800_pixels_wide(rng):
    small = rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)
    image = np.kron(small, np.ones((100, 100, 1), np.uint8))  # 900 x 1600
    seg = kmseg.segment(image, k=4)
    rgba = decode(seg._repr_png_())
    factor = 5  # the smallest that fits 1600 columns in 376
    assert rgba.shape == (900 // factor, 2 * 1600 // factor + 48, 4)
    assert rgba.shape[1] <= 800
    np.testing.assert_array_equal(rgba[:, :320, :3], image[2::5, 2::5])  # flat blocks: exact


def test_repr_html_has_thumbnails_and_k_swatches(rng):
    image = np.kron(rng.integers(0, 256, (9, 16, 3), dtype=np.uint8),
                    np.ones((50, 50, 1), np.uint8))  # 450 x 800
    seg = kmseg.segment(image, k=5)
    html = seg._repr_html_()
    assert html.count('class="kmseg-swatch"') == 5
    shares = seg.sizes / seg.sizes.sum()
    for colour, share in zip(seg.hex_colors, shares, strict=True):
        assert f"background:{colour}" in html and f"<code>{colour}</code> {share:.1%}" in html
    original, painted = inline_images(html)
    assert original.shape == painted.shape == (150, 266, 4)  # factor 3: within 240 x 320
    assert len(np.unique(painted.reshape(-1, 4), axis=0)) == 5
    assert "Segmentation(k=5, image=(450, 800, 3) uint8" in html


@pytest.mark.parametrize("kind", ["gray", "rgb16", "float", "bands", "masked", "alpha"])
def test_previews_of_every_kind_of_image(rng, kind):
    image = np.kron(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), np.ones((4, 4, 1), np.uint8))
    kwargs = {}
    if kind == "gray":
        image = image[..., 0]
    elif kind == "rgb16":
        image = image.astype(np.uint16) * 257
    elif kind == "float":
        image = image.astype(np.float64) * 3 - 100
    elif kind == "bands":
        image = np.dstack([image, image[..., :2]])
    elif kind == "masked":
        kwargs["mask"] = np.arange(24 * 32).reshape(24, 32) % 3 > 0
    elif kind == "alpha":
        image = np.dstack([image, np.where(np.arange(32) < 8, 0, 255).astype(np.uint8)[None]
                           .repeat(24, axis=0)])
        kwargs["alpha"] = True
    seg = kmseg.segment(image, k=3, **kwargs)
    assert len(repr(seg)) < 200
    rgba = decode(seg._repr_png_())
    assert rgba.shape == (24, 32 * 2 + 48, 4)
    html = seg._repr_html_()
    assert html.count('class="kmseg-swatch"') == 3
    assert len(inline_images(html)) == 2
    if kind in ("masked", "alpha"):
        opaque = seg.output_alpha() > 0
        np.testing.assert_array_equal(rgba[:, 40:72, 3] > 0, opaque)
    if kind == "bands":
        assert seg.hex_colors is None and "false colour" in html


def test_previews_of_a_pixel_list_show_the_palette_only(rng):
    pixels = rng.integers(0, 256, (200, 3), dtype=np.uint8)
    seg = kmseg.segment(pixels, k=3, channel_axis=1)
    assert seg.labels.shape == (200,)
    assert repr(seg).startswith("Segmentation(k=3, pixels=(200, 3) uint8, ")
    rgba = decode(seg._repr_png_())
    assert rgba.shape == (32, 3 * 32, 4)
    np.testing.assert_array_equal(rgba[0, ::32, :3], seg.colors)
    html = seg._repr_html_()
    assert html.count('class="kmseg-swatch"') == 3 and "<img" not in html


def test_display_copy_takes_the_majority_label_and_averages_the_image(rng):
    image = rng.integers(0, 256, (30, 45, 3), dtype=np.uint8)
    keep = rng.random((30, 45)) < 0.7
    seg = kmseg.segment(image, k=3, mask=keep)
    small = seg._display_copy(3)
    blocks = seg.labels.reshape(10, 3, 15, 3).transpose(0, 2, 1, 3).reshape(10, 15, 9)
    majority = [[np.argmax(np.bincount(block, minlength=256)) for block in row] for row in blocks]
    np.testing.assert_array_equal(small.labels, majority)
    assert (small.labels == 255).any()  # a block mostly masked is masked
    np.testing.assert_array_equal(small.valid, small.labels != 255)
    expected = image.reshape(10, 3, 15, 3, 3).mean(axis=(1, 3))
    np.testing.assert_array_equal(small.image, np.rint(expected).astype(np.uint8))
    painted = small.segmented()
    np.testing.assert_array_equal(painted[..., 3] > 0, small.valid)
    np.testing.assert_array_equal(painted[small.valid, :3], seg.colors[small.labels[small.valid]])
    assert seg._display_copy(1) is seg
    sampled = seg._display_copy(3, average=False)
    np.testing.assert_array_equal(sampled.image, image[1::3, 1::3])
