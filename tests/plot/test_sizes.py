"""Figure sizes (``width``, ``dpi``) and display-sized images: every figure draws its images
from copies shrunk to the pixels its panels show, and says how large it is."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import kmseg
from kmseg import ParameterError, Segmentation
from kmseg._display import block_mode, reduction_factor, sample_blocks, shrink_image
from kmseg._write import save_figure
from kmseg.plot import choose_k, colors, compare, sweep, sweep_figure, to_display


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 900 x 1500 uint8 RGB image of flat 30 x 30 blocks: few colours, fast to segment."""
    small = np.random.default_rng(5).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    return np.kron(small, np.ones((30, 30, 1), np.uint8))


@pytest.fixture(scope="module")
def seg(photo) -> Segmentation:
    return kmseg.segment(photo, k=4)


def saved_size(fig) -> tuple[int, int]:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    with Image.open(buffer) as image:
        return image.size


def drawn(ax) -> np.ndarray:
    return np.asarray(ax.get_images()[0].get_array())


# --- the shrinking helpers -------------------------------------------------------------------


def test_reduction_factor_covers_or_fits_the_box():
    assert reduction_factor((3000, 4000), (300, 390)) == 10  # 400 columns >= 390 shown
    assert reduction_factor((3000, 4000), (300, 390), cover=False) == 11  # 363 <= 390
    assert reduction_factor((30, 40), (300, 400)) == 1


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_shrink_image_averages_blocks_in_the_input_dtype(rng, dtype):
    image = (rng.random((13, 17, 3)) * 200).astype(dtype)
    small = shrink_image(image, 4)
    assert small.dtype == dtype and small.shape == (3, 4, 3)
    expected = image[:12, :16].astype(np.float64).reshape(3, 4, 4, 4, 3).mean(axis=(1, 3))
    if np.dtype(dtype).kind == "u":
        expected = np.rint(expected)
    np.testing.assert_allclose(small, expected.astype(dtype), rtol=1e-6)
    assert shrink_image(image, 1) is image


def test_shrinking_a_thin_image_keeps_its_short_side():
    line = np.arange(2 * 100, dtype=np.uint8).reshape(2, 100)
    assert shrink_image(line, 10).shape == (1, 10)
    np.testing.assert_array_equal(sample_blocks(line, 10), line[1:2, 5::10])
    assert block_mode(line, 10).shape == (1, 10)


def reference_mode(blocks: np.ndarray) -> np.ndarray:
    """Most frequent value (smallest on ties) of each row."""
    return np.array([np.argmax(np.bincount(row)) for row in blocks])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_block_mode_is_each_blocks_majority(rng, dtype):
    labels = rng.integers(0, 4, (12, 20)).astype(dtype)
    mode = block_mode(labels, 4)  # blocks of 16: every pixel counts
    assert mode.dtype == dtype and mode.shape == (3, 5)
    blocks = labels.reshape(3, 4, 5, 4).transpose(0, 2, 1, 3).reshape(15, 16)
    np.testing.assert_array_equal(mode.ravel(), reference_mode(blocks))
    ties = np.array([[3, 1], [1, 3]], dtype)
    assert block_mode(ties, 2).item() == 1


def test_block_mode_of_large_blocks_counts_4_x_4_spread_pixels(rng):
    labels = rng.integers(0, 3, (24, 36)).astype(np.uint8)
    offsets = np.array([1, 4, 7, 10])  # (i * 12 + 6) // 4 for blocks of 12
    picked = labels.reshape(2, 12, 3, 12)[:, offsets][:, :, :, offsets]
    blocks = picked.transpose(0, 2, 1, 3).reshape(6, 16)
    np.testing.assert_array_equal(block_mode(labels, 12).ravel(), reference_mode(blocks))
    assert block_mode(labels, 1) is labels


# --- compare and sweep ------------------------------------------------------------------------


def test_compare_draws_from_the_pixels_its_panels_show(seg, photo):
    fig = compare(seg)
    assert saved_size(fig)[0] == 800  # today's default: 8 inches at 100 dpi
    # A panel is 4 inches = 400 pixels wide: the largest factor keeping >= 400 columns is 3.
    original, painted = (drawn(ax) for ax in fig.axes)
    assert original.shape == (300, 500, 3) and painted.shape == (300, 500, 3)
    assert 400 <= painted.shape[1] < 2 * 400
    np.testing.assert_array_equal(painted, to_display(seg.segmented()[1::3, 1::3]))
    np.testing.assert_array_equal(original, to_display(photo[::3, ::3]))  # flat 30-px blocks
    assert len(np.unique(painted.reshape(-1, 3), axis=0)) == 4  # sampled: no blended colours


@pytest.mark.parametrize(("width", "dpi", "columns"), [(4, 50, 100), (12, 100, 600), (6, 150, 450)])
def test_compare_width_and_dpi(seg, width, dpi, columns):
    fig = compare(seg, width=width, dpi=dpi)
    assert fig.get_size_inches()[0] == pytest.approx(width) and fig.dpi == dpi
    assert saved_size(fig)[0] == round(width * dpi)
    for ax in fig.axes:
        rows, cols = drawn(ax).shape[:2]
        assert columns <= cols < 2 * columns and rows / cols == pytest.approx(0.6, abs=0.01)


def test_compare_never_paints_the_full_resolution_image(seg, monkeypatch):
    painted_shapes = []
    original = Segmentation.segmented

    def spy(self):
        painted_shapes.append(self.labels.shape)
        return original(self)

    monkeypatch.setattr(Segmentation, "segmented", spy)
    compare(seg, width=4, dpi=50)
    assert painted_shapes == [(60, 100)]


def test_compare_masked_large_image_keeps_the_mask(photo):
    keep = np.ones(photo.shape[:2], bool)
    keep[300:600, 500:1000] = False
    seg = kmseg.segment(photo, k=3, mask=keep)
    painted = drawn(compare(seg).axes[1])
    np.testing.assert_array_equal(painted[..., 3], keep[1::3, 1::3].astype(np.float32))


def test_sweep_width_and_dpi_and_display_sized_panels(photo):
    fig = sweep(photo, ks=(2, 3), width=6, dpi=80, attempts=1)
    assert saved_size(fig)[0] == 480
    assert [drawn(ax).shape[:2] for ax in fig.axes] == [(100, 166)] * 3  # panels of 160 px
    segs = [kmseg.segment(photo, k=k, attempts=1) for k in (2, 3)]
    assert saved_size(sweep_figure(segs, dpi=50))[0] == 3 * 4 * 50


def test_figures_refuse_pixel_lists_and_bad_sizes(seg, rng):
    pixels = kmseg.segment(rng.integers(0, 256, (100, 3), dtype=np.uint8), k=2, channel_axis=1)
    with pytest.raises(ParameterError, match="pixel list"):
        compare(pixels)
    with pytest.raises(ParameterError, match="pixel list"):
        sweep_figure([pixels])
    for kwargs, match in [({"width": 0}, "width=0"), ({"dpi": -3}, "dpi=-3"),
                          ({"width": "8"}, "width='8'"), ({"dpi": float("nan")}, "dpi=nan"),
                          ({"width": True}, "width=True")]:
        with pytest.raises(ParameterError, match=match):
            compare(seg, **kwargs)
        with pytest.raises(ParameterError, match=match):
            colors(seg.image[:20, :20], **kwargs)


# --- colors and choose_k -----------------------------------------------------------------------


def test_colors_width_and_dpi(rng):
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert saved_size(colors(image))[0] == 1100
    fig = colors(image, width=5.5, dpi=60)
    assert tuple(fig.get_size_inches()) == pytest.approx((5.5, 1.8 * 3 * 5.5 / 11))
    assert saved_size(fig)[0] == 330
    assert saved_size(colors(image[..., 0], width=3, dpi=100))[0] == 300


def test_choose_k_draws_a_display_sized_strip(photo):
    choice = kmseg.choose_k(photo, ks=range(2, 5))
    fig = choose_k(choice, photo)
    assert saved_size(fig)[0] == 800  # at least 8 inches, 100 dpi, as before
    # 3 strip panels of 8 / 3 inches (267 px), the lower row's 6.5 / 2.2 inches: factor 5
    assert [drawn(ax).shape[:2] for ax in fig.axes[2:]] == [(180, 300)] * 3
    fig = choose_k(choice, photo, width=6, dpi=50)
    assert saved_size(fig)[0] == 300
    assert [drawn(ax).shape[:2] for ax in fig.axes[2:]] == [(60, 100)] * 3  # 100-px panels


def test_save_figure_dpi(tmp_path, seg):
    fig = compare(seg, width=4, dpi=50)
    path = save_figure(fig, tmp_path / "a.png")
    with Image.open(path) as image:
        assert image.size[0] == 200
    with Image.open(save_figure(fig, tmp_path / "b.png", dpi=100)) as image:
        assert image.size[0] == 400
