"""Tests of kmseg.plot: compare, sweep, colors and to_display, on small synthetic images."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from PIL import Image

import kmseg
import kmseg._segment
import kmseg.plot._figures as figures
from kmseg import ParameterError
from kmseg._display import to_rgb8
from kmseg.plot import colors, compare, sweep, sweep_figure, sweep_segmentations, to_display

SHAPE = (40, 60)


@pytest.fixture
def rgb(rng: np.random.Generator) -> np.ndarray:
    """Random uint8 RGB image: many more than 10 distinct colours."""
    return rng.integers(0, 256, (*SHAPE, 3), dtype=np.uint8)


@pytest.fixture
def blocks() -> np.ndarray:
    """uint8 RGB image of three flat colours with a lighter dot pattern."""
    image = np.zeros((*SHAPE, 3), np.uint8)
    image[:, 20:40] = [200, 30, 30]
    image[:, 40:] = [20, 200, 90]
    image[::2, ::3] = [240, 240, 240]
    return image


@pytest.fixture
def box_mask() -> np.ndarray:
    mask = np.ones(SHAPE, bool)
    mask[10:30, 10:50] = False
    return mask


def render(fig: Figure) -> None:
    """Draw the figure to PNG in memory (layout and 3-D projection run; warnings are errors)."""
    fig.savefig(io.BytesIO(), format="png")


def image_data(ax) -> np.ndarray:
    return np.asarray(ax.get_images()[0].get_array())


def n_colors(data: np.ndarray) -> int:
    return len(np.unique(data.reshape(-1, data.shape[-1]) if data.ndim == 3 else data, axis=0))


def sorted_rows(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort(rows.T[::-1])]


# --- to_display -----------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "full"), [(np.uint8, 255), (np.uint16, 65535)])
def test_to_display_divides_integers_by_full_scale(dtype, full):
    pixels = np.array([[0, full // 5, full]], dtype=dtype)
    display = to_display(pixels)
    assert display.dtype == np.float32
    np.testing.assert_allclose(display, [[0, 0.2, 1]], atol=1e-6)


def test_to_display_keeps_unit_floats_and_scales_others():
    unit = np.array([[0.25, 0.5]], np.float64)
    np.testing.assert_allclose(to_display(unit), unit)
    wide = np.array([[-1.0, 0.5, 2.0]])
    np.testing.assert_allclose(to_display(wide), [[0, 0.5, 1]])


def test_to_display_multiband_shows_first_three_bands():
    pixels = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    np.testing.assert_allclose(to_display(pixels), pixels[..., :3] / 255, atol=1e-6)
    two = to_display(pixels[..., :2])
    assert two.shape == (2, 3, 3)
    assert not two[..., 2].any()


def test_to_display_appends_alpha_and_repeats_gray():
    gray = np.full((2, 3), 255, np.uint8)
    alpha = np.array([[0, 255, 255], [51, 255, 0]], np.uint8)
    display = to_display(gray, alpha)
    assert display.shape == (2, 3, 4)
    np.testing.assert_allclose(display[..., :3], 1.0)
    np.testing.assert_allclose(display[..., 3], alpha / 255, atol=1e-6)


def test_to_display_scales_floats_over_opaque_pixels_only():
    pixels = np.array([[-100.0, 0.0, 2.0]])
    alpha = np.array([[0.0, 1.0, 1.0]])
    np.testing.assert_allclose(to_display(pixels, alpha)[0, 1:, 0], [0, 1])


@pytest.mark.parametrize(
    "pixels",
    [
        np.arange(60, dtype=np.uint8).reshape(4, 5, 3) * 4,  # 8-bit RGB: copied as it is
        np.arange(20, dtype=np.uint8).reshape(4, 5) * 12,  # 8-bit gray
        np.arange(80, dtype=np.uint8).reshape(4, 5, 4) * 3,  # 4 bands: the first three
        np.arange(40, dtype=np.uint8).reshape(4, 5, 2) * 6,  # 2 bands: the third is 0
        np.arange(60, dtype=np.uint16).reshape(4, 5, 3) * 1000,
        np.linspace(-1.0, 3.0, 20).reshape(4, 5),
    ],
)
def test_to_rgb8_is_the_display_in_8_bits(pixels):
    shown = to_display(pixels)
    shown = np.repeat(shown[..., None], 3, axis=2) if shown.ndim == 2 else shown
    got = to_rgb8(pixels)
    assert got.dtype == np.uint8 and got.shape == (4, 5, 3)
    np.testing.assert_array_equal(got, np.rint(shown * 255))
    got[:] = 0  # a copy: drawing on it leaves the image alone
    assert pixels.any()


def test_to_display_rejects_bad_shapes():
    with pytest.raises(ParameterError, match="must be an"):
        to_display(np.zeros(5))
    with pytest.raises(ParameterError, match="alpha shape"):
        to_display(np.zeros((2, 3)), np.zeros((3, 2)))


# --- compare --------------------------------------------------------------------------------


def test_compare_titles_and_panels(blocks):
    seg = kmseg.segment(blocks, 3)
    fig = compare(seg)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["Original", "Segmented, k = 3"]
    np.testing.assert_array_equal(image_data(fig.axes[0]), to_display(seg.image))
    np.testing.assert_array_equal(image_data(fig.axes[1]), to_display(seg.segmented()))
    assert not any(ax.axison for ax in fig.axes)
    render(fig)


@pytest.mark.parametrize(("dtype", "full"), [(np.uint8, 255), (np.uint16, 65535)])
def test_compare_gray_uses_gray_colormap_over_dtype_range(dtype, full):
    gray = np.zeros(SHAPE, dtype)
    gray[:, 30:] = full // 5  # two dark levels: must not be stretched to black and white
    gray[::4, ::4] = full // 10
    seg = kmseg.segment(gray, 2)
    fig = compare(seg)
    for ax, expected in zip(fig.axes, [gray, seg.segmented()], strict=True):
        image = ax.get_images()[0]
        assert image.get_cmap().name == "gray"
        assert image.get_clim() == (0, full)
        np.testing.assert_array_equal(image.get_array(), expected)
    render(fig)


def test_compare_space_gray_shows_gray_result_of_rgb_input(blocks):
    seg = kmseg.segment(blocks, 2, space="gray")
    left, right = (ax.get_images()[0] for ax in compare(seg).axes)
    assert left.get_array().shape == (*SHAPE, 3)
    assert right.get_array().shape == SHAPE
    assert right.get_cmap().name == "gray"
    assert right.get_clim() == (0, 255)


def test_compare_masked_pixels_are_transparent(blocks, box_mask):
    seg = kmseg.segment(blocks, 3, mask=box_mask)
    fig = compare(seg)
    right = image_data(fig.axes[1])
    assert right.shape == (*SHAPE, 4)
    np.testing.assert_array_equal(right[..., 3], box_mask.astype(np.float32))
    # the checkerboard is drawn below the data, which stays the first image
    data, board = fig.axes[1].get_images()
    assert board.get_zorder() < data.get_zorder()
    render(fig)


def test_compare_gray_masked_result_is_rgba(blocks, box_mask):
    seg = kmseg.segment(blocks[..., 0], 2, mask=box_mask)
    right = image_data(compare(seg).axes[1])
    assert right.shape == (*SHAPE, 4)
    np.testing.assert_array_equal(right[..., 3], box_mask.astype(np.float32))
    np.testing.assert_array_equal(right[..., 0], right[..., 2])


def test_compare_input_alpha_is_transparent_in_both_panels(blocks, box_mask):
    alpha = np.where(box_mask, 255, 0).astype(np.uint8)
    seg = kmseg.segment(np.dstack([blocks, alpha]), 3, alpha=True)
    for ax in compare(seg).axes:
        np.testing.assert_array_equal(image_data(ax)[..., 3], box_mask.astype(np.float32))


def test_compare_float_panels_share_the_originals_scale():
    image = np.full(SHAPE, -4.0)
    image[:, 20:40] = 0.0
    image[:, 40:] = 1.0  # k = 2 centres: -4 and 0.5, not stretched to -4..1
    seg = kmseg.segment(image, 2)
    np.testing.assert_allclose(seg.centers.ravel(), [-4, 0.5])
    left, right = (ax.get_images()[0] for ax in compare(seg).axes)
    assert left.get_clim() == right.get_clim() == (-4, 1)
    rgb = np.dstack([image, image, image])
    right = compare(kmseg.segment(rgb, 2)).axes[1].get_images()[0].get_array()
    np.testing.assert_allclose(np.unique(right), [0, 0.9], atol=1e-6)


def test_compare_rejects_other_objects(blocks):
    with pytest.raises(ParameterError, match="expected a Segmentation"):
        compare(blocks)


# --- sweep ----------------------------------------------------------------------------------


def test_sweep_default_panels_have_k_colours(rgb):
    fig = sweep(rgb)
    assert [ax.get_title() for ax in fig.axes] == ["Original", "k = 4", "k = 6", "k = 10"]
    assert [n_colors(image_data(ax)) for ax in fig.axes[1:]] == [4, 6, 10]
    render(fig)


def test_sweep_custom_ks_wrap_after_four_columns(rgb):
    fig = sweep(rgb, ks=(2, 3, 5, 7, 8), seed=1, attempts=1)
    titles = ["Original", *(f"k = {k}" for k in (2, 3, 5, 7, 8))]
    assert [ax.get_title() for ax in fig.axes] == titles
    assert {ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes} == {(2, 4)}
    assert [n_colors(image_data(ax)) for ax in fig.axes[1:]] == [2, 3, 5, 7, 8]


def test_sweep_gray_results_use_gray_colormap(blocks):
    fig = sweep(blocks, ks=(2, 3), space="gray")
    assert [ax.get_images()[0].get_cmap().name for ax in fig.axes[1:]] == ["gray", "gray"]


def test_sweep_segmentations_match_segment_and_feed_sweep_figure(rgb):
    segs = sweep_segmentations(rgb, ks=(2, 5), seed=3)
    assert [seg.k for seg in segs] == [2, 5]
    np.testing.assert_array_equal(segs[1].labels, kmseg.segment(rgb, 5, seed=3).labels)
    fig = sweep_figure(segs)
    assert [ax.get_title() for ax in fig.axes] == ["Original", "k = 2", "k = 5"]
    np.testing.assert_array_equal(image_data(fig.axes[2]), to_display(segs[1].segmented()))


def test_sweep_reads_a_file_once(blocks, tmp_path, monkeypatch):
    path = tmp_path / "blocks.png"
    Image.fromarray(blocks).save(path)
    calls = []

    def counting_load(*args, **kwargs):
        calls.append(args)
        return kmseg.load_image(*args, **kwargs)

    monkeypatch.setattr(figures, "load_image", counting_load)
    monkeypatch.setattr(kmseg._segment, "load_image", counting_load)
    monkeypatch.setattr(kmseg._validation, "load_image", counting_load)
    segs = sweep_segmentations(path, ks=(2, 3), frame=0)
    assert len(calls) == 1
    assert all(seg.source == str(path) for seg in segs)


@pytest.mark.parametrize(
    ("ks", "match"), [(4, "sequence of k values"), ((), "ks is empty"), ("46", "sequence")]
)
def test_sweep_rejects_bad_ks(rgb, ks, match):
    with pytest.raises(ParameterError, match=match):
        sweep(rgb, ks=ks)


def test_sweep_figure_rejects_bad_sequences(rgb):
    with pytest.raises(ParameterError, match="empty"):
        sweep_figure([])
    with pytest.raises(ParameterError, match="expected a Segmentation"):
        sweep_figure([rgb])
    segs = [kmseg.segment(rgb, 2), kmseg.segment(rgb[:20], 2)]
    with pytest.raises(ParameterError, match="different shapes"):
        sweep_figure(segs)


# --- colors ---------------------------------------------------------------------------------


def scatter_of(fig: Figure):
    (ax,) = [ax for ax in fig.axes if ax.name == "3d"]
    return ax, ax.collections[0]


def hist_counts(ax) -> np.ndarray:
    return ax.patches[0].get_data().values


@pytest.mark.parametrize("sample", [500, 10**6])
def test_colors_scatter_shows_the_sampled_pixels_in_their_colours(rgb, sample):
    fig = colors(rgb, sample=sample, seed=7)
    ax, points = scatter_of(fig)
    n = rgb.shape[0] * rgb.shape[1]
    chosen = np.random.default_rng(7).choice(n, min(sample, n), replace=False)
    expected = rgb.reshape(-1, 3)[chosen]
    # point i sits at pixel chosen[i] and has its colour (before drawing, in the given order)
    np.testing.assert_array_equal(np.column_stack(points._offsets3d), expected)
    np.testing.assert_allclose(PathCollection.get_facecolor(points)[:, :3], expected / 255, 1e-6)
    assert [ax.get_xlabel(), ax.get_ylabel(), ax.get_zlabel()] == ["R", "G", "B"]
    render(fig)  # drawn, 3-D points are sorted by depth: colours stay unshaded
    facecolors = points.get_facecolor()
    assert len(points.get_offsets()) == len(facecolors) == min(sample, n)
    np.testing.assert_allclose(facecolors[:, 3], 1.0)
    np.testing.assert_allclose(
        sorted_rows(facecolors[:, :3]), sorted_rows(expected / 255), atol=1e-6
    )


def test_colors_leaves_masked_and_transparent_pixels_out(rgb, box_mask):
    rgb = rgb.copy()
    rgb[~box_mask] = [255, 0, 255]
    rgb[box_mask & np.all(rgb == [255, 0, 255], axis=-1)] = 0
    n_valid = int(box_mask.sum())
    alpha = np.where(box_mask, 255, 0).astype(np.uint8)
    for fig in (
        colors(rgb, mask=box_mask, sample=n_valid - 5),
        colors(np.dstack([rgb, alpha]), alpha=True, sample=n_valid - 5),
    ):
        render(fig)
        _, points = scatter_of(fig)
        facecolors = points.get_facecolor()[:, :3]
        assert len(facecolors) == n_valid - 5
        assert not np.all(facecolors == [1, 0, 1], axis=-1).any()
        hists = [ax for ax in fig.axes if ax.name != "3d"]
        assert [hist_counts(ax).sum() for ax in hists] == [n_valid] * 3
        assert hist_counts(hists[0])[255] == np.count_nonzero(rgb[box_mask][:, 0] == 255)


def test_colors_histograms_count_every_pixel_in_rgb_colours(rgb):
    fig = colors(rgb)
    hists = fig.axes[1:]
    assert [ax.get_title() for ax in hists] == ["R", "G", "B"]
    expected = [to_rgba(name) for name in ("red", "green", "blue")]
    assert [ax.patches[0].get_facecolor() for ax in hists] == expected
    for i, ax in enumerate(hists):
        counts, edges, _ = ax.patches[0].get_data()
        assert len(counts) == 256
        np.testing.assert_array_equal(edges, np.arange(257))
        np.testing.assert_array_equal(counts, np.bincount(rgb[..., i].ravel(), minlength=256))


@pytest.mark.parametrize(
    ("image", "edges"),
    [
        (np.arange(2400, dtype=np.uint16).reshape(SHAPE) * 27, (0, 65536)),
        (np.linspace(0.2, 0.7, 2400).reshape(SHAPE), (0, 1)),
        (np.linspace(-3, 5, 2400).reshape(SHAPE), (-3, 5)),
    ],
)
def test_colors_gray_image_has_one_histogram_over_the_dtype_range(image, edges):
    fig = colors(image)
    assert [ax.name for ax in fig.axes] == ["rectilinear"]
    (ax,) = fig.axes
    assert ax.get_title() == "gray"
    counts, bin_edges, _ = ax.patches[0].get_data()
    assert len(counts) == 256
    assert counts.sum() == image.size
    assert (bin_edges[0], bin_edges[-1]) == edges
    render(fig)


def test_colors_multiband_gets_one_histogram_per_band(rng):
    bands = rng.random((*SHAPE, 5)) * 3 - 1
    fig = colors(bands, sample=300)
    ax, points = scatter_of(fig)
    assert [ax.get_xlabel(), ax.get_ylabel(), ax.get_zlabel()] == ["band 0", "band 1", "band 2"]
    hists = [a for a in fig.axes if a is not ax]
    assert [a.get_title() for a in hists] == [f"band {i}" for i in range(5)]
    assert [hist_counts(a).sum() for a in hists] == [bands[..., 0].size] * 5
    render(fig)
    facecolors = points.get_facecolor()
    assert len(facecolors) == 300
    assert facecolors[:, :3].min() >= 0 and facecolors[:, :3].max() <= 1


def test_colors_two_bands_get_no_scatter(rgb):
    fig = colors(rgb[..., :2])
    assert [ax.get_title() for ax in fig.axes] == ["band 0", "band 1"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"sample": 0}, "sample=0"), ({"sample": 2.5}, "sample=2.5"), ({"seed": -1}, "seed=-1")],
)
def test_colors_rejects_bad_parameters(rgb, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        colors(rgb, **kwargs)


def test_colors_rejects_an_all_masked_image(rgb):
    with pytest.raises(ParameterError, match="no pixel is clustered"):
        colors(rgb, mask=np.zeros(SHAPE, bool))


# --- colors of a clustering -------------------------------------------------------------------


def test_colors_of_a_segmentation_paints_points_with_their_centres(rgb):
    seg = kmseg.segment(rgb, 4, seed=2)
    fig = colors(seg, sample=700, seed=7)
    ax, points = scatter_of(fig)
    centres = ax.collections[1]
    chosen = np.random.default_rng(7).choice(rgb.size // 3, 700, replace=False)
    # the same pixels as colors(image), each in its cluster's painted colour
    np.testing.assert_array_equal(np.column_stack(points._offsets3d), rgb.reshape(-1, 3)[chosen])
    expected = seg.colors[seg.labels.ravel()[chosen]] / 255
    np.testing.assert_allclose(PathCollection.get_facecolor(points)[:, :3], expected, atol=1e-6)
    assert len(np.unique(PathCollection.get_facecolor(points), axis=0)) == 4
    np.testing.assert_allclose(np.column_stack(centres._offsets3d), seg.centers)
    np.testing.assert_allclose(PathCollection.get_facecolor(centres)[:, :3], seg.colors / 255,
                               atol=1e-6)
    np.testing.assert_allclose(centres.get_edgecolor(), [to_rgba("black")])
    assert centres.get_sizes()[0] > 50 * points.get_sizes()[0]
    assert ax.get_title() == f"700 of {rgb.size // 3} pixels, k = 4 centres"
    for i, hist in enumerate(fig.axes[1:]):  # centres marked on every histogram's axis
        (marks,) = hist.collections
        np.testing.assert_allclose(marks.get_offsets()[:, 0], seg.centers[:, i])
    render(fig)


def test_colors_of_a_masked_segmentation_leaves_masked_pixels_out(rgb, box_mask):
    seg = kmseg.segment(rgb, 3, mask=box_mask)
    fig = colors(seg, sample=10**6)
    _, points = scatter_of(fig)
    chosen = np.random.default_rng(0).choice(box_mask.sum(), box_mask.sum(), replace=False)
    np.testing.assert_array_equal(np.column_stack(points._offsets3d), rgb[box_mask][chosen])
    expected = seg.colors[seg.labels[box_mask][chosen]] / 255
    np.testing.assert_allclose(PathCollection.get_facecolor(points)[:, :3], expected, atol=1e-6)
    assert [hist_counts(ax).sum() for ax in fig.axes[1:]] == [box_mask.sum()] * 3
    with pytest.raises(ParameterError, match="not to a Segmentation"):
        colors(seg, mask=box_mask)


def test_colors_of_a_gray_result_of_rgb_puts_centres_on_the_gray_diagonal(blocks):
    seg = kmseg.segment(blocks, 3, space="gray")
    ax, points = scatter_of(colors(seg))
    centres = np.column_stack(ax.collections[1]._offsets3d)
    np.testing.assert_allclose(centres, np.repeat(seg.centers, 3, axis=1))
    facecolors = PathCollection.get_facecolor(points)[:, :3]
    np.testing.assert_array_equal(facecolors[:, 0], facecolors[:, 2])  # gray


def test_colors_of_a_gray_image_and_of_a_pixel_list(rng):
    gray = rng.integers(0, 256, SHAPE, dtype=np.uint8)
    seg = kmseg.segment(gray, 3)
    (hist,) = colors(seg).axes
    (marks,) = hist.collections
    np.testing.assert_allclose(marks.get_offsets()[:, 0], seg.centers[:, 0])
    np.testing.assert_allclose(marks.get_facecolor()[:, 0], seg.colors[:, 0] / 255, atol=1e-6)
    pixels = rng.integers(0, 256, (500, 3), dtype=np.uint8)
    seg = kmseg.segment(pixels, 3, channel_axis=1)
    _, points = scatter_of(colors(seg, sample=100))
    chosen = np.random.default_rng(0).choice(500, 100, replace=False)
    np.testing.assert_allclose(PathCollection.get_facecolor(points)[:, :3],
                               seg.colors[seg.labels[chosen]] / 255, atol=1e-6)


# --- no global state ------------------------------------------------------------------------


def test_plot_never_imports_pyplot():
    code = (
        "import sys, numpy as np, kmseg\n"
        "assert 'matplotlib' not in sys.modules\n"
        "image = np.arange(24, dtype=np.uint8).reshape(4, 6)\n"
        "kmseg.plot.compare(kmseg.segment(image, 2)); kmseg.plot.colors(image)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
