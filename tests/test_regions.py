"""Regions: connected components, small-region merging and the region table on hand-made maps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from kmseg import regions
from kmseg._errors import ParameterError


def components_by_scipy(region_map: np.ndarray, connectivity: int = 1) -> int:
    """Connected components of each region id, counted by scipy: 1 per id if connected."""
    structure = ndimage.generate_binary_structure(2, connectivity)
    return sum(ndimage.label(region_map == i, structure)[1] for i in np.unique(region_map) if i)


def test_connected_regions_by_hand():
    labels = np.array([
        [0, 0, 1, 1],
        [2, 0, 1, 0],
        [2, 2, 0, 0],
    ])
    expected = np.array([
        [1, 1, 2, 2],
        [3, 1, 2, 4],
        [3, 3, 4, 4],
    ])
    np.testing.assert_array_equal(regions.connected_regions(labels), expected)
    # With corners touching, the patch of label 0 at the bottom right joins the first.
    corners = regions.connected_regions(labels, connectivity=2)
    assert corners.max() == 3 and corners[1, 3] == corners[0, 0] == corners[2, 2]


def test_mask_gives_region_zero():
    labels = np.zeros((3, 3), int)
    mask = np.ones((3, 3), bool)
    mask[:, 1] = False  # cuts the image in two
    got = regions.connected_regions(labels, mask=mask)
    np.testing.assert_array_equal(got, [[1, 0, 2]] * 3)


def test_a_region_never_spans_disconnected_parts(rng):
    labels = rng.integers(0, 3, size=(60, 80))
    for connectivity in (1, 2):
        region_map = regions.connected_regions(labels, connectivity=connectivity)
        assert components_by_scipy(region_map, connectivity) == region_map.max()
        features = rng.normal(size=(60, 80, 3))
        merged = regions.merge_small_regions(region_map, features, 30, connectivity=connectivity)
        assert components_by_scipy(merged, connectivity) == merged.max()
        sizes = np.bincount(merged.ravel())[1:]
        assert sizes.min() >= 30 and merged.max() < region_map.max()


def test_small_region_joins_its_most_similar_neighbour():
    # Left half dark, right half bright, a 2x2 patch in the middle of the right half that is
    # nearly bright: it joins the right half, though it touches the left too.
    region_map = np.ones((6, 6), np.uint32)
    region_map[:, 3:] = 2
    region_map[2:4, 2:4] = 3
    colour = np.where(region_map == 1, 10.0, 200.0)
    colour[2:4, 2:4] = 180.0
    merged = regions.merge_small_regions(region_map, colour[..., None], min_size=5)
    expected = np.where(np.arange(6) < 3, 1, 2)[None].repeat(6, axis=0)
    expected[2:4, 2] = 2
    np.testing.assert_array_equal(merged, expected)


def test_merging_is_deterministic_and_keeps_zero(rng):
    labels = rng.integers(0, 4, size=(40, 40))
    mask = np.ones((40, 40), bool)
    mask[:5] = False
    region_map = regions.connected_regions(labels, mask=mask)
    features = rng.normal(size=(40, 40, 2))
    first = regions.merge_small_regions(region_map, features, 12)
    second = regions.merge_small_regions(region_map.copy(), features.copy(), 12)
    np.testing.assert_array_equal(first, second)
    assert (first[:5] == 0).all() and (first[5:] > 0).all()


def test_region_table_by_hand():
    region_map = np.array([
        [1, 1, 2],
        [1, 1, 2],
    ], np.uint32)
    image = np.array([
        [[0, 0, 0], [2, 2, 2], [9, 9, 9]],
        [[4, 4, 4], [6, 6, 6], [9, 9, 9]],
    ], np.uint8)
    labels = np.array([[0, 1, 1], [1, 1, 1]])
    table = regions.region_table(region_map, image, labels)
    np.testing.assert_array_equal(table.id, [1, 2])
    np.testing.assert_array_equal(table.area, [4, 2])
    np.testing.assert_allclose(table.centroid, [[0.5, 0.5], [0.5, 2.0]])
    np.testing.assert_array_equal(table.bbox, [[0, 0, 2, 2], [0, 2, 2, 3]])
    np.testing.assert_allclose(table.mean_color, [[3, 3, 3], [9, 9, 9]])
    np.testing.assert_array_equal(table.label, [1, 1])
    assert table.as_records()[1] == {"id": 2, "area": 2, "centroid": [0.5, 2.0],
                                     "bbox": [0, 2, 2, 3], "mean_color": [9.0, 9.0, 9.0],
                                     "label": 1}


@pytest.mark.parametrize("chunk", [1 << 20, 50, 1])  # a few rows, one row at a time
def test_region_table_and_majorities_match_brute_force_in_row_chunks(rng, monkeypatch, chunk):
    monkeypatch.setattr(regions, "_CHUNK_PIXELS", chunk)
    region_map = rng.integers(0, 7, (23, 31)).astype(np.uint32)  # 0 and absent ids too
    region_map[region_map == 5] = 6
    labels = rng.integers(0, 4, (23, 31)).astype(np.uint8)
    image = rng.integers(0, 65536, (23, 31, 2)).astype(np.uint16)
    table = regions.region_table(region_map, image, labels)
    majorities = regions.majority_labels(region_map, labels)
    for row, region in enumerate(table.id):
        inside = region_map == region
        assert table.area[row] == inside.sum()
        if not inside.any():
            assert np.isnan(table.centroid[row]).all() and table.label[row] == 0
            continue
        np.testing.assert_allclose(table.centroid[row], np.argwhere(inside).mean(axis=0))
        np.testing.assert_allclose(table.mean_color[row], image[inside].mean(axis=0))
        counts = np.bincount(labels[inside], minlength=4)
        majority = np.flatnonzero(counts == counts.max())[0]  # ties: the smaller label
        assert table.label[row] == majorities[region] == majority


def test_boundaries_mark_both_sides():
    region_map = np.array([[1, 1, 2, 2]] * 3, np.uint32)
    np.testing.assert_array_equal(regions.boundaries(region_map), [[0, 1, 1, 0]] * 3)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: regions.connected_regions(np.zeros((2, 2, 2), int)), "non-empty"),
        (lambda: regions.connected_regions(np.zeros((2, 2)), ), "integer array"),
        (lambda: regions.connected_regions(np.zeros((2, 2), int), connectivity=3), "use 1 or 2"),
        (lambda: regions.connected_regions(np.zeros((2, 2), int), mask=np.ones((3, 2), bool)),
         "mask must be"),
        (lambda: regions.merge_small_regions(np.ones((2, 2), np.uint32), np.ones((2, 3, 1)), 2),
         "does not fit"),
        (lambda: regions.majority_labels(np.ones((7, 9), int), np.ones((8, 9), int)),
         "does not match"),
        (lambda: regions.merge_small_regions(np.ones((2, 2), np.uint32), np.ones((2, 2, 1)), 0),
         "min_size"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ParameterError, match=match):
        call()
