"""Spatial features (position, texture, smoothing), superpixel k-means, working copies and the
regions preset, end to end through kmseg.segment."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage
from skimage.color import rgb2lab
from skimage.segmentation import slic
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

import kmseg
from conftest import read_png
from kmseg._compress import _SLIC_COMPACTNESS, _superpixel_map, superpixels
from kmseg._errors import ParameterError
from kmseg._labels import upscale
from kmseg._options import REGIONS_PRESET
from kmseg._spatial import position_features, shrink, texture_features
from kmseg.io import LoadedImage


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return kmseg.read_image(kmseg.data.sample_path())


@pytest.fixture(scope="module")
def regions_seg(sample):
    return kmseg.segment(sample, regions=True)


def test_position_features_do_not_depend_on_image_size():
    small = position_features((30, 40), 5, 10.0).reshape(30, 40, 2)
    large = position_features((60, 80), 5, 10.0).reshape(60, 80, 2)
    np.testing.assert_allclose(large[::2, ::2], small, rtol=1e-12)
    # One grid step, sqrt(pixels / k), is worth `weight`.
    step = np.sqrt(30 * 40 / 5)
    assert small[0, 1, 1] - small[0, 0, 1] == pytest.approx(10.0 / step)


def test_texture_separates_what_colour_cannot():
    # Left: black and white stripes; right: flat mid gray. Colour alone splits black from
    # white; with texture, the striped half is one segment and the flat half the other.
    stripes = np.where((np.arange(120) // 3) % 2 == 0, 0, 255)[None, :].repeat(120, axis=0)
    image = np.concatenate([stripes[:, :120], np.full((120, 120), 128)], axis=1)
    image = np.repeat(image[..., None], 3, axis=2).astype(np.uint8)
    plain = kmseg.segment(image, k=2, space="lab").labels
    assert plain[:, :120].min() != plain[:, :120].max()  # colour splits the stripes
    textured = kmseg.segment(image, k=2, space="lab", texture=200.0).labels
    left, right = textured[:, 10:110], textured[:, 130:230]
    assert np.bincount(left.ravel()).max() / left.size > 0.95
    assert np.bincount(right.ravel()).max() / right.size > 0.95
    assert np.bincount(left.ravel()).argmax() != np.bincount(right.ravel()).argmax()
    features = texture_features(image[..., 0], 3.0)
    assert features.shape == (image.shape[0] * image.shape[1], 16)
    np.testing.assert_allclose(features.std(axis=0), 3.0, rtol=1e-9)


def _lab_compactness(lab: np.ndarray) -> float:
    """The compactness that makes scikit-image's slic weigh _SLIC_COMPACTNESS Lab units against
    a grid step: it rescales its input to [0, 1] first."""
    return _SLIC_COMPACTNESS / (lab.max() - lab.min())


def test_superpixel_points_are_slic_segment_means(sample):
    small = sample[::4, ::4]
    colour = kmseg._features.to_features(small.reshape(-1, 3), "lab", full_scale=255.0,
                                          normalize=False)
    compressed = superpixels(colour, colour.reshape(*small.shape[:2], 3), 150, method="slic",
                             mask=None)
    segments = slic(colour.reshape(*small.shape[:2], 3), n_segments=150,
                    compactness=_lab_compactness(colour), convert2lab=False, channel_axis=-1,
                    start_label=1)
    ids = np.unique(segments)
    np.testing.assert_array_equal(compressed.counts, [np.sum(segments == i) for i in ids])
    expected = np.array([colour[segments.ravel() == i].mean(axis=0) for i in ids])
    np.testing.assert_allclose(compressed.values, expected, rtol=1e-9)
    # Labels go back through the segment of each pixel.
    np.testing.assert_array_equal(compressed.expand(np.arange(len(ids))),
                                  np.searchsorted(ids, segments.ravel()))


def test_superpixel_labels_are_constant_within_superpixels(sample):
    seg = kmseg.segment(sample, k=5, space="lab", superpixels=200)
    colour = kmseg._features.to_features(sample.reshape(-1, 3), "lab", full_scale=255.0,
                                          normalize=False)
    segments = slic(colour.reshape(*sample.shape[:2], 3), n_segments=200,
                    compactness=_lab_compactness(colour), convert2lab=False, channel_axis=-1,
                    start_label=1)
    for i in np.unique(segments):
        assert len(np.unique(seg.labels[segments == i])) == 1


def test_regions_preset_regions_are_the_hierarchy_cut_and_labels_follow(regions_seg, sample):
    """The preset's regions are the merge hierarchy cut at its level (computed here apart),
    each one connected and of one label; the labels are a k-means of the regions' mean Lab
    colours weighted by their pixels: a fixed point of Lloyd's step, and at least as compact
    as scikit-learn's k-means of the same points."""
    seg = regions_seg
    assert seg.regions.dtype == np.uint32 and seg.regions.shape == sample.shape[:2]
    level = REGIONS_PRESET["region_level"]
    np.testing.assert_array_equal(
        seg.regions, kmseg.regions.cut(kmseg.regions.hierarchy(sample), level))
    structure = ndimage.generate_binary_structure(2, 1)
    lab = rgb2lab(sample).reshape(-1, 3)
    ids = seg.regions.ravel() - 1
    areas = np.bincount(ids)
    means = np.stack([np.bincount(ids, lab[:, c]) for c in range(3)], axis=1) / areas[:, None]
    region_label = np.empty(seg.n_regions, np.int64)
    for region in range(1, seg.n_regions + 1):
        inside = seg.regions == region
        assert ndimage.label(inside, structure)[1] == 1  # one connected piece
        assert len(np.unique(seg.labels[inside])) == 1  # one label
        region_label[region - 1] = seg.labels[inside][0]
    assert seg.k == min(8, seg.n_regions) == len(np.unique(region_label))
    for c in range(seg.k):  # each centre the mean colour of its pixels
        np.testing.assert_allclose(seg.feature_centers[c], lab[seg.labels.ravel() == c].mean(0),
                                   atol=1e-6)
    distances = ((means[:, None, :] - seg.feature_centers[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(region_label, distances.argmin(axis=1))  # nearest centre
    reference = KMeans(seg.k, n_init=10, random_state=0).fit(means, sample_weight=areas)
    assert seg.compactness <= reference.inertia_ * (1 + 1e-9)
    assert seg.compactness == pytest.approx((areas * distances.min(axis=1)).sum(), rel=1e-9)
    np.testing.assert_array_equal(seg.sizes, np.bincount(seg.labels.ravel(), minlength=seg.k))


def test_a_regions_palette_labels_each_region_of_another_image_by_its_mean(sample):
    """predict with a segmenter fitted by the preset: the other image's own regions, each the
    fitted centre nearest its mean Lab colour."""
    model = kmseg.KMeansSegmenter(**REGIONS_PRESET).fit(sample)
    other = np.ascontiguousarray(sample[::-1, ::-1])
    seg = model.segment(other)
    level = REGIONS_PRESET["region_level"]
    np.testing.assert_array_equal(seg.regions,
                                  kmseg.regions.cut(kmseg.regions.hierarchy(other), level))
    lab = rgb2lab(other)
    for region in range(1, seg.n_regions + 1):
        inside = seg.regions == region
        distances = ((model.cluster_centers_ - lab[inside].mean(axis=0)) ** 2).sum(axis=1)
        assert set(np.unique(seg.labels[inside])) == {distances.argmin()}


def test_region_level_edge_cases_from_review(sample):
    """Fixed colours beyond the regions' colours, init arrays with more clusters than regions
    or a full-size label map on a shrunk copy, a mask enlarged back, pooled fits, transform."""
    flat = np.full((40, 60, 3), 128, np.uint8)
    with pytest.raises(ParameterError, match="2 fixed colours for 1 distinct colours"):
        kmseg.segment(flat, regions=True, fixed_colors=["#ff0000", "#00ff00"])
    centres = sample.reshape(-1, 3)[::5000][:20].astype(float)
    assert kmseg.segment(sample, k=20, init=centres, region_level=0.48, space="lab").k == 20
    label_map = (sample[..., 0] // 90).astype(np.uint8)
    seg = kmseg.segment(sample, k=3, init=label_map, region_level=0.48, max_work_pixels=50_000)
    assert seg.labels.shape == sample.shape[:2] and seg.n_regions > 1
    yy, xx = np.mgrid[:sample.shape[0], :sample.shape[1]]
    circle = (yy - 200) ** 2 + (xx - 300) ** 2 < 170 ** 2
    for options in ({"k": 3, "region_level": 0.48}, {"regions": True}):
        seg = kmseg.segment(sample, mask=circle, max_work_pixels=20_000, **options)
        assert seg.sizes.sum() == circle.sum()  # every masked-in pixel labelled
        assert all(len(np.unique(seg.labels[seg.regions == r])) == 1
                   for r in range(1, seg.n_regions + 1))
    model = kmseg.KMeansSegmenter(**REGIONS_PRESET)
    with pytest.raises(ParameterError, match="no regions"):
        model.fit([sample, sample])
    with pytest.raises(ParameterError, match="region_level"):
        model.fit(sample).transform(sample)


def test_region_level_with_min_region_merges_small_regions_of_the_cut(sample):
    level = 0.3  # a fine cut: many small regions
    fine = kmseg.segment(sample, k=4, region_level=level)
    merged = kmseg.segment(sample, k=4, region_level=level, min_region=0.02)
    areas = np.bincount(fine.regions.ravel())[1:]
    assert areas.min() < 0.02 * sample[..., 0].size
    assert np.bincount(merged.regions.ravel())[1:].min() >= round(0.02 * sample[..., 0].size)
    # Merging only joins regions of the cut: each fine region lies in one merged region.
    pairs = np.unique(np.stack([fine.regions.ravel(), merged.regions.ravel()]), axis=1)
    assert pairs.shape[1] == fine.n_regions > merged.n_regions


def test_region_level_reads_any_image_kind_and_keeps_masked_pixels_out(sample):
    """Floats in [0, 1], 16-bit and gray images give the regions of their 8-bit photo; masked
    pixels are in no region, and a region the mask cuts in two is two."""
    expected = kmseg.segment(sample, k=4, region_level=0.5).regions
    for image in (sample / 255.0, sample.astype(np.uint16) * 257):
        np.testing.assert_array_equal(kmseg.segment(image, k=4, region_level=0.5).regions,
                                      expected)
    gray = kmseg.segment(sample.mean(axis=2).astype(np.uint8), k=2, region_level=0.5)
    assert gray.n_regions >= 2 and gray.regions.min() == 1
    mask = np.ones(sample.shape[:2], bool)
    mask[:, 300:302] = False  # a cut through the middle
    masked = kmseg.segment(sample, k=4, region_level=0.5, mask=mask)
    assert (masked.regions[~mask] == 0).all() and masked.regions[mask].min() == 1
    left, right = masked.regions[:, :300], masked.regions[:, 302:]
    assert not set(np.unique(left)) & set(np.unique(right))


@pytest.mark.parametrize("bits", [10, 12])
def test_regions_preset_reads_a_12_bit_photo_as_its_8_bit_one(regions_seg, sample, bits):
    # Read against 65535 the copy is dark: it was one region.
    copy = np.rint(sample * ((2**bits - 1) / 255)).astype(np.uint16)
    seg = kmseg.segment(copy, regions=True)
    assert seg.n_regions == regions_seg.n_regions > 5
    assert adjusted_rand_score(seg.regions.ravel(), regions_seg.regions.ravel()) > 0.99


def test_regions_preset_is_deterministic(regions_seg, sample):
    again = kmseg.segment(sample, regions=True)
    np.testing.assert_array_equal(again.regions, regions_seg.regions)
    np.testing.assert_array_equal(again.labels, regions_seg.labels)


def test_explicit_parameters_override_the_preset(sample):
    seg = kmseg.segment(sample, regions=True, k=3, region_level=0.7)
    assert seg.k == 3 and seg.params["region_level"] == 0.7 and seg.params["space"] == "lab"
    assert seg.n_regions < kmseg.segment(sample, regions=True, k=3).n_regions


def test_working_copy_is_scaled_back(rng):
    image = np.zeros((301, 403, 3), np.uint8)
    image[:, 200:] = 200
    image[150:, :] += 40
    image = np.clip(image.astype(int) + rng.integers(0, 5, image.shape), 0, 255).astype(np.uint8)
    seg = kmseg.segment(image, k=4, space="lab", position=1.0, max_work_pixels=10_000)
    full = kmseg.segment(image, k=4, space="lab", position=1.0, max_work_pixels=None)
    assert seg.labels.shape == (301, 403)
    # Away from the block edges, the shrunk run agrees with the full-size one.
    agree = (seg.labels == full.labels)[10:-10, 10:-10].mean()
    assert agree > 0.97
    loaded = LoadedImage(image, None, None, None, "")
    small = shrink(loaded, 10_000)
    factor = 301 // small.pixels.shape[0]
    assert small.pixels.shape[0] * small.pixels.shape[1] <= 10_000
    np.testing.assert_allclose(small.pixels[1, 1], image[factor:2 * factor, factor:2 * factor]
                               .reshape(-1, 3).mean(axis=0), atol=0.5)
    back = upscale(np.arange(small.pixels.shape[0] * small.pixels.shape[1]).reshape(
        small.pixels.shape[:2]), (301, 403), factor, None)
    assert back.shape == (301, 403) and back[factor, factor] == small.pixels.shape[1] + 1
    assert back[-1, -1] == back[(small.pixels.shape[0] - 1) * factor, -factor - 1]


def test_a_working_copy_averages_only_the_clustered_pixels():
    pixels = np.array([[10, 20, 0, 0], [30, 40, 0, 90], [5, 5, 7, 7], [5, 5, 7, 7]], np.uint8)
    mask = pixels > 0
    small = shrink(LoadedImage(pixels, None, mask, None, ""), 4)
    # Each block the mean of its clustered pixels; one of four clustered is too few.
    np.testing.assert_array_equal(small.pixels, [[25, 90], [5, 7]])
    np.testing.assert_array_equal(small.mask, [[True, False], [True, True]])


def test_masked_pixels_have_no_region(sample):
    mask = np.ones(sample.shape[:2], bool)
    mask[:, :100] = False
    seg = kmseg.segment(sample, regions=True, mask=mask)
    assert (seg.regions[:, :100] == 0).all() and (seg.regions[:, 100:] > 0).all()
    assert (seg.labels[:, :100] == seg.masked_label).all()


@pytest.mark.parametrize("side", [640, 1100])
def test_a_tilted_nodata_frame_leaves_no_specks(rng, side):
    # A GeoTIFF-like tilted square of two fields in a black frame. Above 0.26 MP the hierarchy
    # merges 2 x 2 blocks, above 1 MP a shrunk copy, and the frame's edge crosses their blocks:
    # it left 175 (640 px) and 678 (1100 px) specks, and the black frame darkened the copy's
    # edge blocks into regions of their own.
    h = w = side
    image = np.zeros((h, w, 3), np.uint8)
    image[:, : w // 2] = (40, 120, 40)
    image[:, w // 2:] = (60, 90, 200)
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    r, c = np.mgrid[:h, :w]
    inside = np.abs(r - h / 2) + np.abs(c - w / 2) < 0.45 * (h + w) / 2
    image[~inside] = 0
    seg = kmseg.segment(image, regions=True, mask=inside)
    assert seg.n_regions == 2 and (seg.regions[~inside] == 0).all()
    assert seg.regions[h // 2, w // 4] != seg.regions[h // 2, 3 * w // 4]


def test_an_icons_anti_aliased_edge_stays_with_its_shape(rng):
    # Three black disks with a one-pixel ring of varied grey, over transparency. Filled in,
    # the outside took the ring's greys; its regions' fringes inside the mask were 63 regions.
    h, w = 120, 260
    r, c = np.mgrid[:h, :w]
    image = np.full((h, w, 4), 255, np.uint8)
    image[..., 3] = 0
    for centre in (50, 130, 210):
        distance = np.hypot(r - 60, c - centre)
        image[distance < 30] = (0, 0, 0, 255)
        ring = (distance >= 30) & (distance < 31.5)
        image[ring, :3] = rng.integers(60, 220, ring.sum())[:, None]
        image[ring, 3] = 255
    seg = kmseg.segment(image, regions=True, alpha=True)
    assert seg.n_regions == 3
    assert seg.regions[60, 50] != seg.regions[60, 130] != seg.regions[60, 210]


@pytest.mark.parametrize("shape", [(40, 50), (2, 2), (1, 7)])
def test_regions_preset_on_a_flat_image_gives_one_region(shape):
    # One superpixel, one pixel value: the preset's k = 8 shrinks to what there is.
    seg = kmseg.segment(np.full((*shape, 3), 120, np.uint8), regions=True)
    assert seg.k == 1 and seg.n_regions == 1
    assert (seg.regions == 1).all() and (seg.labels == 0).all()
    np.testing.assert_allclose(seg.centers, [[120, 120, 120]], atol=0.5)


def test_a_segmenter_fitted_with_fewer_clusters_predicts_and_saves(tmp_path, sample):
    flat = np.full((40, 50, 3), 120, np.uint8)
    model = kmseg.KMeansSegmenter(**REGIONS_PRESET).fit(flat)
    assert model.k == 8 and len(model.cluster_centers_) == 1  # k as given, one centre fitted
    assert (model.predict(sample[::4, ::4]) == 0).all()
    loaded = kmseg.KMeansSegmenter.load(model.save(tmp_path / "flat.json"))
    assert loaded.k == 1
    np.testing.assert_array_equal(loaded.cluster_centers_, model.cluster_centers_)


def test_regions_preset_on_black_text_over_transparency():
    # Every opaque pixel is black; each letter is a region of its own (the mask parts them).
    image = np.zeros((30, 60, 4), np.uint8)
    for left in (5, 25, 45):
        image[8:22, left:left + 8, 3] = 255
    seg = kmseg.segment(image, regions=True, alpha=True)
    mask = image[..., 3] > 0
    assert seg.k == 1 and seg.n_regions == 3
    assert (seg.regions[~mask] == 0).all()
    assert len(np.unique(seg.regions[mask])) == ndimage.label(mask)[1] == 3


def test_regions_of_a_smooth_scan_each_get_their_colour(corpus_dir):
    """A smooth 16-bit satellite image: one superpixel covered most of it and painted all its
    regions one grey. Clustering the regions by their mean values gives each its own."""
    seg = kmseg.segment(corpus_dir / "odd" / "tiff16_gray_goes_watervapour.tiff", regions=True)
    means = [seg.image[seg.regions == r].mean() for r in range(1, seg.n_regions + 1)]
    painted = [np.unique(seg.segmented()[seg.regions == r]) for r in range(1, seg.n_regions + 1)]
    assert seg.n_regions == seg.k == 3 and all(len(p) == 1 for p in painted)
    order = np.argsort(means)  # canonical order: darker regions get darker colours
    assert np.all(np.diff([painted[i][0] for i in order]) > 0)


def test_felzenszwalb_superpixels_of_four_bands_warn_nothing(rng):
    # scikit-image doubts that a fourth axis of 4 is channels; kmseg passes channel_axis.
    bands = np.zeros((40, 60, 4), np.uint8)
    bands[:, 30:] = (200, 50, 50, 250)
    bands = bands + rng.integers(0, 5, bands.shape, dtype=np.uint8)
    seg = kmseg.segment(bands, regions=True, space="rgb")  # pytest turns warnings to errors
    assert seg.n_regions == 2 and seg.regions[0, 0] != seg.regions[0, -1]


def test_an_explicit_k_without_regions_still_must_fit():
    with pytest.raises(ParameterError, match="k=8 exceeds"):
        kmseg.segment(np.full((40, 50, 3), 120, np.uint8), k=8, superpixels=50)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"superpixels": 1}, "superpixels=1 is invalid"),
        ({"min_region": 1.5}, "min_region=1.5 is invalid"),
        ({"position": -1}, "position=-1 is invalid"),
        ({"position": 5.0, "init": np.zeros((4, 3))}, "cannot be combined"),
        ({"k": 50, "superpixels": 20}, "exceeds the .* superpixels"),
    ],
)
def test_bad_spatial_parameters(sample, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        kmseg.segment(sample[::4, ::4], **{"k": 4, **kwargs})


def test_no_regions_without_min_region(sample):
    seg = kmseg.segment(sample[::4, ::4], k=3)
    assert seg.regions is None and seg.n_regions == 0 and "regions" not in seg.summary()
    with pytest.raises(ParameterError, match="no regions"):
        seg.region_table()


def test_regions_outputs(regions_seg, tmp_path):
    written = regions_seg.save(tmp_path, stem="coffee", region_masks=True)
    ids = read_png(written["regions"])
    assert ids.dtype == np.uint16
    np.testing.assert_array_equal(ids, regions_seg.regions)
    overlay = read_png(written["boundaries"])
    edge = kmseg.regions.boundaries(regions_seg.regions)
    assert overlay.shape == (*regions_seg.regions.shape, 3)
    assert (overlay[edge] == (255, 255, 0)).all()
    np.testing.assert_array_equal(overlay[~edge], regions_seg.image[~edge])
    report = json.loads(written["json"].read_text())
    assert len(report["regions"]) == regions_seg.n_regions
    assert sum(r["area"] for r in report["regions"]) == regions_seg.regions.size
    assert report["files"]["regions"] == "coffee_regions.png"
    for region in (1, regions_seg.n_regions):
        mask = read_png(written[f"region_{region}"])
        np.testing.assert_array_equal(mask > 0, regions_seg.regions == region)


def test_texture_features_match_scikit_image_gabor(rng):
    """The FFT filter bank gives scikit-image's direct-convolution Gabor magnitudes."""
    from skimage.filters import gabor, gaussian

    from kmseg import _spatial

    gray = rng.random((40, 56))
    columns = []
    for wavelength in _spatial._TEXTURE_WAVELENGTHS:
        for theta in _spatial._TEXTURE_ORIENTATIONS:
            real, imaginary = gabor(gray, frequency=1 / wavelength, theta=theta)
            columns.append(gaussian(np.hypot(real, imaginary),
                                    sigma=_spatial._TEXTURE_SMOOTHING * wavelength).ravel())
    expected = np.stack(columns, axis=1)
    expected = (expected - expected.mean(axis=0)) / expected.std(axis=0) * 2.0
    np.testing.assert_allclose(texture_features(gray, 2.0), expected, atol=1e-9)


def test_felzenszwalb_superpixels_follow_edges():
    # Two flat halves with a sharp edge: no Felzenszwalb superpixel crosses it.
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, 37:] = (200, 40, 40)
    seg = kmseg.segment(image, k=2, space="lab", superpixels=4,
                        superpixel_method="felzenszwalb")
    assert len(np.unique(seg.labels[:, :37])) == 1 and len(np.unique(seg.labels[:, 37:])) == 1
    assert seg.labels[0, 0] != seg.labels[0, -1]
    with pytest.raises(ParameterError, match="superpixel_method='watershed' is invalid"):
        kmseg.segment(image, k=2, superpixels=4, superpixel_method="watershed")


def test_felzenszwalb_scale_adapts_to_have_k_superpixels(rng):
    # A smooth gradient has few edge-bounded segments at the asked scale; the scale shrinks
    # until there are at least k, so the k clusters still exist.
    ramp = np.linspace(0, 255, 90)[None, :, None].repeat(60, axis=0).repeat(3, axis=2)
    image = np.clip(ramp + rng.normal(0, 2, ramp.shape), 0, 255).astype(np.uint8)
    seg = kmseg.segment(image, k=6, space="lab", superpixels=2, superpixel_method="felzenszwalb")
    assert len(np.unique(seg.labels)) == 6


def _disc_image(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A noisy photo-like disc (off the SLIC grid) on a background of another colour."""
    yy, xx = np.mgrid[:120, :160]
    disc = (yy - 57.3) ** 2 + (xx - 83.6) ** 2 < 41.5 ** 2
    image = np.where(disc[..., None], [150, 110, 90], [110, 130, 150]).astype(np.float64)
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    return image, disc


def _distance_to_edge(inside: np.ndarray) -> np.ndarray:
    """Distance of every pixel to the nearest pixel on the other side of ``inside``'s edge."""
    return np.where(inside, ndimage.distance_transform_edt(inside),
                    ndimage.distance_transform_edt(~inside))


@pytest.mark.parametrize("n_segments", [50, 100, 200])
def test_default_superpixels_follow_a_curved_edge(rng, n_segments):
    # Superpixels on the SLIC grid's squares would cut the disc's edge: a square straddling it
    # gives its one label to pixels up to a grid step from the edge. Edge-following superpixels
    # leave the two sides apart.
    image, disc = _disc_image(rng)
    labels = kmseg.segment(image, k=2, superpixels=n_segments).labels
    wrong = (labels == np.bincount(labels[disc]).argmax()) != disc
    assert _distance_to_edge(disc)[wrong].max(initial=0) <= 2


def test_slic_superpixels_do_not_straddle_a_diagonal_edge(rng):
    yy, xx = np.mgrid[:90, :130]
    below = yy > 0.61 * xx + 12.4
    lab = np.where(below[..., None], [55.0, 20.0, 10.0], [45.0, -5.0, 25.0])
    lab += rng.normal(0, 1.5, lab.shape)
    compressed = superpixels(lab.reshape(-1, 3), lab, 60, method="slic", mask=None)
    segments = compressed.inverse.reshape(below.shape)
    distance = _distance_to_edge(below)
    for segment in range(len(compressed.counts)):
        inside = segments == segment
        minority = below & inside if below[inside].mean() < 0.5 else ~below & inside
        assert distance[minority].max(initial=0) <= 2, segment


def test_slic_compactness_ignores_masked_values(sample):
    # scikit-image rescales by the minimum and maximum under the mask; so does the compactness.
    small = sample[::4, ::4]
    lab = kmseg._features.to_features(small.reshape(-1, 3), "lab", full_scale=255.0,
                                       normalize=False).reshape(*small.shape[:2], 3)
    mask = np.ones(small.shape[:2], bool)
    mask[:, :30] = False
    outlier = lab.copy()
    outlier[~mask] = 1e4
    features = lab[mask]
    kept = superpixels(features, lab, 100, method="slic", mask=mask)
    again = superpixels(features, outlier, 100, method="slic", mask=mask)
    np.testing.assert_array_equal(again.inverse, kept.inverse)


def test_felzenszwalb_is_drawn_on_values_in_unit_range(sample):
    seg = kmseg.segment(sample, k=6, superpixels=110, superpixel_method="felzenszwalb")
    segments = _superpixel_map(sample / 255.0, 110, "felzenszwalb", None)
    for i in np.unique(segments):
        assert len(np.unique(seg.labels[segments == i])) == 1


def _slic_kmeans_reference(image: np.ndarray, k: int, n_segments: int) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """scikit-image's SLIC at its defaults, then k-means of the superpixels' mean RGB weighted
    by their sizes (the features kmseg clusters): labels and superpixels."""
    segments = slic(image, n_segments=n_segments, compactness=10, start_label=0)
    counts = np.bincount(segments.ravel()).astype(np.float64)
    means = np.stack([np.bincount(segments.ravel(), weights=channel, minlength=len(counts))
                      for channel in image.reshape(-1, 3).T.astype(np.float64)], axis=1)
    model = KMeans(k, n_init=10, random_state=0).fit(means / counts[:, None],
                                                      sample_weight=counts)
    return model.labels_[segments], segments


def _recorded_superpixels(monkeypatch) -> list[np.ndarray]:
    maps: list[np.ndarray] = []
    original = kmseg._samples.superpixels

    def recording(*args, **kwargs):
        compressed = original(*args, **kwargs)
        maps.append(compressed.inverse)
        return compressed

    monkeypatch.setattr(kmseg._samples, "superpixels", recording)
    return maps


def test_default_superpixels_agree_with_pixel_kmeans_as_scikit_image_slic(sample):
    # The measure: adjusted Rand index against plain pixel k-means, k = 6, 400
    # superpixels. Grid squares gave 0.24 where scikit-image's SLIC gives 0.36.
    pixel = kmseg.segment(sample, k=6).labels.ravel()
    default = kmseg.segment(sample, k=6, superpixels=400).labels.ravel()
    reference, _ = _slic_kmeans_reference(sample, 6, 400)
    assert adjusted_rand_score(pixel, default) >= adjusted_rand_score(pixel, reference.ravel())


def _boundaries(segments: np.ndarray) -> np.ndarray:
    edge = np.zeros(segments.shape, dtype=bool)
    edge[:, :-1] |= segments[:, :-1] != segments[:, 1:]
    edge[:-1, :] |= segments[:-1, :] != segments[1:, :]
    return edge


def _boundary_recall(segments: np.ndarray, truths: list[np.ndarray]) -> float:
    near = ndimage.distance_transform_edt(~_boundaries(segments)) <= 2
    return float(np.mean([near[_boundaries(truth)].mean() for truth in truths]))


def test_default_superpixels_reach_scikit_image_slic_on_bsds(bsds_val_dir, bsds_val_gt_dir,
                                                             monkeypatch):
    # The acceptance measures (benchmarks/bench_superpixels.py) on the first 5 val photos.
    maps = _recorded_superpixels(monkeypatch)
    ours, theirs = [], []
    for path in sorted(bsds_val_dir.glob("*.jpg"))[:5]:
        image = kmseg.read_image(path)
        truths = kmseg.metrics.read_ground_truth(bsds_val_gt_dir / f"{path.stem}.mat")
        pixel = kmseg.segment(image, k=6).labels.ravel()
        labels = kmseg.segment(image, k=6, superpixels=400).labels.ravel()
        reference, segments = _slic_kmeans_reference(image, 6, 400)
        ours.append((adjusted_rand_score(pixel, labels),
                     _boundary_recall(maps[-1].reshape(image.shape[:2]), truths)))
        theirs.append((adjusted_rand_score(pixel, reference.ravel()),
                       _boundary_recall(segments, truths)))
    (our_ari, our_recall), (their_ari, their_recall) = np.mean(ours, 0), np.mean(theirs, 0)
    assert our_ari >= their_ari and our_recall >= their_recall
