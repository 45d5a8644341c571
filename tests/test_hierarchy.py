"""The merge hierarchy (kmseg.regions.hierarchy / cut): an ultrametric, nested regions, cut as a
brute-force flood fill over the double-resolution map would."""

from __future__ import annotations

import numpy as np
import pytest

from kmseg import ParameterError, regions
from kmseg._options import HIERARCHY_MAX_PIXELS, REGION_LEVEL


@pytest.fixture
def four_squares(rng):
    """Four flat colour quadrants (two close greens, a red, a blue) with a little noise."""
    image = np.zeros((48, 64, 3))
    image[:24, :32] = (0.1, 0.6, 0.1)
    image[:24, 32:] = (0.15, 0.65, 0.12)
    image[24:, :32] = (0.8, 0.1, 0.1)
    image[24:, 32:] = (0.1, 0.1, 0.8)
    return np.clip(image + rng.normal(0, 0.01, image.shape), 0, 1)


def _flood(ucm: np.ndarray, level: float) -> np.ndarray:
    """Pixels joined when the boundary element between two 4-neighbours is <= level."""
    h, w = (ucm.shape[0] - 1) // 2, (ucm.shape[1] - 1) // 2
    ids = np.zeros((h, w), int)
    for start in np.ndindex(h, w):
        if ids[start]:
            continue
        ids[start] = ids.max() + 1
        stack = [start]
        while stack:
            r, c = stack.pop()
            for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < h and 0 <= cc < w and not ids[rr, cc] and \
                        ucm[2 * r + 1 + dr, 2 * c + 1 + dc] <= level:
                    ids[rr, cc] = ids[r, c]
                    stack.append((rr, cc))
    return ids


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.ravel().tolist(), b.ravel().tolist(), strict=True))
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def test_cut_is_a_flood_fill_of_the_map(four_squares):
    ucm = regions.hierarchy(four_squares, superpixels=40)
    assert ucm.shape == (97, 129) and 0 <= ucm.min() and ucm.max() < 1
    for level in np.unique(ucm)[::7]:
        assert _same_partition(regions.cut(ucm, level), _flood(ucm, level))


def test_levels_nest_and_end_in_one_region(four_squares):
    ucm = regions.hierarchy(four_squares, superpixels=40)
    levels = np.unique(ucm)
    previous = regions.cut(ucm, -1.0)
    assert previous.max() == previous.size  # below every level: each pixel alone
    for level in levels:
        current = regions.cut(ucm, level)
        # each region of the lower level lies inside one region of the higher level
        pairs = np.unique(np.stack([previous.ravel(), current.ravel()]), axis=1)
        assert len(np.unique(pairs[0])) == pairs.shape[1]
        previous = current
    assert previous.max() == 1


def test_the_quadrants_part_last_where_they_differ_most(four_squares):
    """The two greens join before the red and the blue: at the level where three regions are
    left, they are the top half, the red and the blue quadrant (away from the quadrants'
    borders: a watershed line on the smoothed gradient's two-pixel ridge may fall on either
    side)."""
    ucm = regions.hierarchy(four_squares, superpixels=40)
    counts = {level: regions.cut(ucm, level).max() for level in np.unique(ucm)}
    three = min(level for level, count in counts.items() if count <= 3)
    cut = regions.cut(ucm, three)
    assert cut.max() == 3
    truth = np.zeros((48, 64), int)
    truth[24:, :32], truth[24:, 32:] = 1, 2
    away = np.ones(truth.shape, bool)
    away[22:26], away[:, 30:34] = False, False
    assert _same_partition(cut[away], truth[away])


def test_gray_and_integer_images_and_determinism(four_squares):
    rgb8 = np.rint(four_squares * 255).astype(np.uint8)
    first = regions.hierarchy(rgb8, superpixels=40)
    np.testing.assert_array_equal(first, regions.hierarchy(rgb8, superpixels=40))
    gray = regions.hierarchy(rgb8.mean(axis=2).astype(np.uint8), superpixels=40)
    assert gray.shape == first.shape
    # float32 (the regions preset's working copy): the textons' k-means runs in float64.
    single = regions.hierarchy(four_squares.astype(np.float32), superpixels=40)
    assert single.shape == first.shape and single.max() > 0


def test_12_bit_values_stored_in_16_bits_read_up_to_4095(four_squares):
    twelve_bit = np.rint(four_squares * 4000).astype(np.uint16)
    np.testing.assert_array_equal(regions.hierarchy(twelve_bit, superpixels=40),
                                  regions.hierarchy(twelve_bit / 4095.0, superpixels=40))


def test_a_large_photo_is_merged_on_a_shrunk_copy_and_drawn_back_at_full_size(rng):
    """Above HIERARCHY_MAX_PIXELS the hierarchy is that of the block-mean copy: at every level, its
    regions are the copy's regions enlarged (the last, partial blocks joined to the whole ones)."""
    from kmseg._spatial import block_mean, enlarge, shrink_factor

    h, w = 613, 509  # 0.31 MP: shrunk by 2, a row and a column past the last whole block
    image = np.zeros((h, w, 3), np.uint8)
    image[:, : w // 3] = (40, 160, 40)
    image[h // 2:, w // 3:] = (200, 30, 30)
    image[: h // 2, w // 3:] = (30, 30, 210)
    yy, xx = np.mgrid[:h, :w]
    image[(yy - 150) ** 2 + (xx - 400) ** 2 < 60 ** 2] = (230, 220, 40)
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    factor = shrink_factor((h, w), HIERARCHY_MAX_PIXELS)
    assert factor == 2
    ucm = regions.hierarchy(image)
    assert ucm.shape == (2 * h + 1, 2 * w + 1)
    small = regions.hierarchy(block_mean(image, factor) / 255)
    levels = np.unique(small)[1:-1]
    for level in [*levels[:: max(1, len(levels) // 6)].tolist(), 0.5]:
        got, expected = regions.cut(ucm, level), enlarge(regions.cut(small, level), (h, w), factor)
        pairs = np.unique(np.stack([got.ravel(), expected.ravel()]), axis=1)
        assert pairs.shape[1] == got.max() == expected.max()  # the same partition


@pytest.mark.parametrize("superpixels", [600, 40])
def test_the_default_level_keeps_flat_areas_whole_and_parts_a_sharp_edge(rng, superpixels):
    """At the default level a flat image (plain, or with camera-like noise) is one region, and two
    flat halves are two: the spectral cue and the contrast scaling must not invent borders
    where the image has none, nor lose the one it has."""
    flat = np.full((120, 160, 3), 0.5)
    noisy = np.clip(flat + rng.normal(0, 0.01, flat.shape), 0, 1)
    halves = flat.copy()
    halves[:, :80] = (0.2, 0.3, 0.7)
    for image, expected in ((flat, 1), (noisy, 1), (halves, 2)):
        cut = regions.cut(regions.hierarchy(image, superpixels=superpixels))
        assert cut.max() == expected
    np.testing.assert_array_equal(np.unique(cut[:, :78]), [1])  # the halves, apart from the
    np.testing.assert_array_equal(np.unique(cut[:, 82:]), [2])  # two columns at their edge


def test_a_smooth_shade_is_not_a_border(rng):
    """A sky-like shade drifting across the Lab histogram's bins, with a dark bird in it: two
    regions at the default level (before the bins spread their counts, the shade was parted
    where it crossed a bin edge)."""
    yy, xx = np.mgrid[:160, :240] / 240.0
    sky = np.stack([0.3 + 0.075 * xx, 0.55 + 0.06 * yy, 0.8 + 0.05 * xx], axis=2)
    sky[60:100, 100:150] = (0.05, 0.05, 0.05)
    image = np.clip(sky + rng.normal(0, 0.01, sky.shape), 0, 1)
    cut = regions.cut(regions.hierarchy(image))
    assert cut.max() == 2
    assert len(np.unique(cut[62:98, 102:148])) == 1 and cut[70, 120] != cut[5, 5]


@pytest.mark.parametrize("shape", [(1, 1), (2, 2, 3), (5, 40), (40, 5), (1, 500), (3, 900, 3)])
@pytest.mark.parametrize("superpixels", [2, 3, 600])
def test_tiny_and_thin_images_give_a_valid_map(rng, shape, superpixels):
    """One superpixel (no border to merge), a side shorter than the seed grid's step, more
    superpixels than pixels: still a map whose cuts nest, flood-filled as the brute force."""
    ucm = regions.hierarchy(rng.random(shape), superpixels=superpixels)
    assert ucm.shape == (2 * shape[0] + 1, 2 * shape[1] + 1)
    assert 0 <= ucm.min() and ucm.max() < 1
    assert regions.cut(ucm, 1.0).max() == 1
    for level in np.unique(ucm)[::5]:
        assert _same_partition(regions.cut(ucm, level), _flood(ucm, level))


def test_region_statistics_are_the_sums_a_brute_force_gives(rng):
    """Each superpixel's statistics against a per-region loop: histogram counts adding up to
    its size, its Lab sums and squares, the fine gradient over its pixels whose four
    neighbours are in it too, and its texton counts."""
    from scipy import ndimage

    from kmseg import _hierarchy

    lab = _hierarchy._lab(rng.random((30, 40, 3)))
    start = np.repeat(np.repeat(np.arange(12).reshape(3, 4), 10, axis=0), 10, axis=1)
    fine = _hierarchy._fine_gradient(lab)
    textons = rng.integers(0, _hierarchy._N_TEXTONS, start.shape)
    statistics = _hierarchy._statistics(lab, fine, textons, start)
    assert statistics.shape == (12, _hierarchy._N_STATISTICS)
    padded = np.pad(start, 1, constant_values=-1)
    for region in range(12):
        inside = start == region
        np.testing.assert_allclose(statistics[region, :_hierarchy._N_BINS].sum(), inside.sum())
        np.testing.assert_allclose(statistics[region, _hierarchy._LAB_SUMS],
                                   lab[inside].sum(axis=0))
        np.testing.assert_allclose(statistics[region, _hierarchy._LAB_SQUARES],
                                   (lab[inside] ** 2).sum(axis=0))
        # Interior: the pixel and its 4 neighbours in the region (the image's edge counts as in).
        interior = inside.copy()
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            shifted = padded[1 + dr:31 + dr, 1 + dc:41 + dc]
            interior &= (shifted == region) | (shifted == -1)
        np.testing.assert_allclose(statistics[region, _hierarchy._INTERIOR], interior.sum())
        np.testing.assert_allclose(statistics[region, _hierarchy._TEXTURE_SUM],
                                   fine[interior].sum())
        np.testing.assert_array_equal(statistics[region, _hierarchy._TEXTONS],
                                      [(textons[inside] == t).sum()
                                       for t in range(_hierarchy._N_TEXTONS)])
    # The fine gradient is the unsmoothed Sobel magnitude, per pixel of a unit ramp 1.
    ramp = np.zeros((9, 9, 3))
    ramp[..., 0] = np.arange(9.0)
    assert _hierarchy._fine_gradient(ramp)[4, 4] == pytest.approx(1.0)
    assert ndimage.sobel(ramp[..., 0], 1)[4, 4] == pytest.approx(8.0)


def test_local_differences_are_those_of_each_edges_two_superpixels_times_its_length(rng):
    """The superpixel-scale cues against a loop over the edges: the chi-squared distance of
    the two superpixels' texton histograms and the distance of their mean colours, each times
    the number of pixel pairs on the border."""
    from kmseg import _hierarchy

    lab = _hierarchy._lab(rng.random((30, 40, 3)))
    start = np.repeat(np.repeat(np.arange(12).reshape(3, 4), 10, axis=0), 10, axis=1)
    fine = _hierarchy._fine_gradient(lab)
    textons = _hierarchy._textons(lab)
    statistics = _hierarchy._statistics(lab, fine, textons, start)
    edges, _ = _hierarchy._adjacency(start, fine)
    local = _hierarchy._local_differences(edges, statistics)
    assert local.shape == (17, 2)  # 3 x 3 horizontal and 2 x 4 vertical borders
    for (i, j, _, length), row in zip(edges, local, strict=True):
        p, q = (np.bincount(textons[start == side],
                            minlength=_hierarchy._N_TEXTONS) / 100 for side in (i, j))
        expected = [0.5 * sum((a - b) ** 2 / (a + b) for a, b in zip(p, q, strict=True) if a + b)]
        means = [lab[start == side].mean(axis=0) for side in (i, j)]
        expected.append(np.linalg.norm(means[0] - means[1]))
        assert length == 10
        np.testing.assert_allclose(row, np.array(expected) * length)


def test_textons_tell_apart_two_textures_of_one_mean_colour(rng):
    """Fine stripes beside a flat area of their mean grey: their texton histograms differ;
    each side's textons are alike within it; a flat image has one texton; the same image
    gives the same textons."""
    from kmseg import _hierarchy

    image = np.full((60, 80), 0.5)
    image[:, :40] = np.where(np.arange(40) % 4 < 2, 0.3, 0.7)
    lab = _hierarchy._lab(np.repeat(image[..., None], 3, axis=2))
    textons = _hierarchy._textons(lab)
    np.testing.assert_array_equal(textons, _hierarchy._textons(lab))
    assert textons.min() >= 0 and textons.max() < _hierarchy._N_TEXTONS
    # Away from the seam (the filters reach 8 px at scale 4, 12 px for the Laplacian there).
    stripes, flat = textons[20:40, 5:25], textons[20:40, 60:75]
    assert not set(np.unique(stripes)) & set(np.unique(flat))
    assert len(np.unique(flat)) == 1
    assert len(np.unique(_hierarchy._textons(np.zeros((20, 30, 3))))) == 1


def test_the_merge_model_rises_with_the_difference_of_two_flat_regions():
    """Two flat halves are parted at a higher level the more their colours differ: a step of
    1.5 Lab units (about a photo's noise) below the default level, one of 7 above it."""
    levels = []
    for blue in (0.51, 0.55, 0.62, 0.8):
        image = np.full((60, 80, 3), 0.5)
        image[:, 40:, 2] = blue
        ucm = regions.hierarchy(image, superpixels=40)
        levels.append(ucm[1:-1, 1:-1].max())
    assert levels == sorted(levels)
    assert levels[0] < REGION_LEVEL < levels[1]


def test_bad_inputs_are_one_sentence():
    with pytest.raises(ParameterError, match="expected an RGB or gray image"):
        regions.hierarchy(np.zeros((8, 8, 4)))
    with_nan = np.zeros((8, 8, 3))
    with_nan[2, 3] = np.nan
    with pytest.raises(ParameterError, match="NaN or infinite"):
        regions.hierarchy(with_nan)
    with pytest.raises(ParameterError, match=r"expected a \(2H \+ 1, 2W \+ 1\) map"):
        regions.cut(np.zeros((8, 9)), 0.5)


def test_kmseg_segment_hierarchy_writes_the_ucm_as_16_bit_png(tmp_path, capsys):
    from PIL import Image

    import kmseg
    from kmseg.cli import main

    photo = tmp_path / "photo.png"
    Image.fromarray(np.rint(np.kron(np.eye(3), np.ones((20, 20)))[:48, :60, None]
                            * [200, 40, 90]).astype(np.uint8)).save(photo)
    assert main(["segment", str(photo), "-k", "2", "--hierarchy", "-o", str(tmp_path / "out")]) == 0
    with Image.open(tmp_path / "out" / "photo_ucm2.png") as written:
        ucm = np.asarray(written)
    expected = regions.hierarchy(kmseg.read_image(photo))
    assert ucm.dtype == np.uint16 and ucm.shape == (97, 121)
    np.testing.assert_array_equal(ucm, np.rint(expected * 65535))
    # The map the regions are cut from: of four bands (it stopped with "expected an RGB or gray
    # image", naming no file), and of a photo in a black transparent frame, which is no border.
    import tifffile

    bands = np.zeros((48, 60, 4), np.uint8)
    bands[:, :30], bands[:, 30:] = (200, 40, 90, 255), (30, 160, 60, 255)
    tifffile.imwrite(tmp_path / "bands.tif", bands, photometric="rgb", extrasamples=["unspecified"])
    bands[:6] = 0
    Image.fromarray(bands).save(photo)
    for name, space in (("bands.tif", "rgb"), ("photo.png", "lab")):
        out = tmp_path / name.replace(".", "_")
        assert main(["segment", str(tmp_path / name), "--regions", "--space", space,
                     "--hierarchy", "-o", str(out)]) == 0
        with Image.open(out / f"{name.split('.')[0]}_ucm2.png") as written:
            cut = regions.cut(np.asarray(written) / 65535)
        assert (cut[:, :30] == cut[10, 5]).all() and (cut[:, 30:] == cut[10, 50]).all()
        assert cut[10, 5] != cut[10, 50]
    scan = tmp_path / "scan.nii.gz"
    import nibabel

    nibabel.save(nibabel.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4)), scan)
    assert main(["segment", str(scan), "--hierarchy", "-o", str(tmp_path / "s")]) == 2
    assert "--hierarchy applies to images" in capsys.readouterr().err
    assert main(["segment", str(scan), "--region-level", "0.5", "-o", str(tmp_path / "s")]) == 2
    assert "--region-level applies to images" in capsys.readouterr().err
