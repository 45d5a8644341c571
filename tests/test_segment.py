"""kmseg.segment and KMeansSegmenter: the recipe, checked against OpenCV, scikit-learn and brute
force, plus every documented error."""

from __future__ import annotations

import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab
from sklearn.cluster import KMeans

import kmseg
from kmseg import ParameterError
from kmseg._features import LUMA_WEIGHTS

OPENCV_SEED_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.1)


def opencv_seed_call(X: np.ndarray, k: int) -> float:
    """Compactness of the OpenCV recipe users come with."""
    cv2.setRNGSeed(0)
    compactness, _, _ = cv2.kmeans(X.astype(np.float32), k, None, OPENCV_SEED_CRITERIA, 10,
                                   cv2.KMEANS_RANDOM_CENTERS)
    return compactness


def sse(X: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> float:
    """Sum of squared distances, computed independently of kmseg."""
    return float(((X - centers[labels]) ** 2).sum())


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return kmseg.read_image(kmseg.data.sample_path())


@pytest.fixture(scope="module")
def sample_seg() -> kmseg.Segmentation:
    return kmseg.segment(kmseg.data.sample_path(), k=4)


@pytest.fixture(scope="module")
def gray_sample(sample) -> np.ndarray:
    return np.rint(sample.reshape(-1, 3) @ LUMA_WEIGHTS).astype(np.uint8).reshape(sample.shape[:2])


def test_default_is_at_least_as_compact_as_opencv_and_scikit_learn(sample, sample_seg):
    X = sample.reshape(-1, 3).astype(np.float64)
    assert sample_seg.compactness == pytest.approx(
        sse(X, sample_seg.labels.ravel(), sample_seg.centers), rel=1e-9
    )
    assert sample_seg.compactness <= opencv_seed_call(X, 4) * (1 + 1e-6)
    sklearn_inertia = KMeans(4, n_init=10, random_state=0).fit(X).inertia_
    assert sample_seg.compactness <= sklearn_inertia * (1 + 1e-9)


@pytest.mark.parametrize("space", ["rgb", "lab", "gray"])
def test_bsds_photos_at_least_as_compact_as_opencv(bsds_val_dir, space):
    for path in sorted(bsds_val_dir.glob("*.jpg"))[:3]:
        image = kmseg.read_image(path)
        X = image.reshape(-1, 3).astype(np.float64)
        if space == "lab":
            X = rgb2lab(image).reshape(-1, 3)
        elif space == "gray":
            X = X @ LUMA_WEIGHTS[:, None]
        for k in (2, 4, 8):
            seg = kmseg.segment(image, k=k, space=space)
            # cv2 sums in float32: allow its rounding, nothing more.
            assert seg.compactness <= opencv_seed_call(X, k) * (1 + 1e-6), (path.name, k)
            if space == "gray":
                assert seg.algorithm == "optimal-1d" and seg.n_iter == 0


def test_labels_are_nearest_centres_and_centres_are_means(sample_seg, sample):
    X = sample.reshape(-1, 3).astype(np.float64)
    centers = sample_seg.feature_centers
    d2 = ((X[:, None, :] - centers[None]) ** 2).sum(axis=2)
    labels = sample_seg.labels.ravel()
    np.testing.assert_allclose(d2[np.arange(len(X)), labels], d2.min(axis=1), rtol=1e-9)
    for j in range(4):
        np.testing.assert_allclose(centers[j], X[labels == j].mean(axis=0), rtol=1e-9)
    np.testing.assert_array_equal(sample_seg.sizes, np.bincount(labels, minlength=4))
    assert sample_seg.converged and sample_seg.n_iter >= 1


def test_outputs_shapes_and_dtypes(sample_seg, sample):
    assert sample_seg.labels.shape == sample.shape[:2] and sample_seg.labels.dtype == np.uint8
    painted = sample_seg.segmented()
    assert painted.shape == sample.shape and painted.dtype == np.uint8
    np.testing.assert_array_equal(painted, sample_seg.colors[sample_seg.labels])
    assert len(np.unique(painted.reshape(-1, 3), axis=0)) == 4


def test_canonical_order_darkest_first_and_seed_independent(sample_seg):
    luma = sample_seg.centers @ LUMA_WEIGHTS
    assert np.all(np.diff(luma) > 0)
    other = kmseg.segment(kmseg.data.sample_path(), k=4, seed=123)
    # Same optimum from another seed: same label numbers.
    np.testing.assert_allclose(other.centers, sample_seg.centers, rtol=1e-9)
    np.testing.assert_array_equal(other.labels, sample_seg.labels)


def test_same_seed_same_labels_bit_for_bit_across_processes():
    code = (
        "import hashlib, numpy as np, kmseg\n"
        "image = np.random.default_rng(0).integers(0, 256, size=(300, 400, 3), dtype=np.uint8)\n"
        "for space in ('rgb', 'lab'):\n"
        "    seg = kmseg.segment(image, k=6, init='random', seed=5, space=space)\n"
        "    print(hashlib.sha256(seg.labels.tobytes() + seg.centers.tobytes()).hexdigest())\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0].split()) == 2


def test_user_centres_keep_their_order():
    image = np.zeros((10, 10, 3), np.uint8)
    image[:, 5:] = 200
    # Centre 0 is the bright one: label 0 must be the bright half, not the darkest cluster.
    seg = kmseg.segment(image, k=2, init=np.array([[190.0, 190, 190], [10, 10, 10]]))
    assert (seg.labels[:, 5:] == 0).all() and (seg.labels[:, :5] == 1).all()
    np.testing.assert_allclose(seg.centers, [[200, 200, 200], [0, 0, 0]])


def test_init_label_map_one_step_by_hand():
    image = np.array([[0, 1, 2, 10, 11, 30]], dtype=np.uint8)
    start = np.array([[0, 0, 0, 0, 1, 1]])
    seg = kmseg.segment(image, k=2, init=start, max_iter=1)
    np.testing.assert_allclose(seg.centers[:, 0], [4.8, 30.0])
    np.testing.assert_array_equal(seg.labels, [[0, 0, 0, 0, 0, 1]])


def test_gray_space_on_rgb(sample):
    seg = kmseg.segment(sample, k=2, space="gray")
    gray = sample.reshape(-1, 3) @ LUMA_WEIGHTS
    assert seg.centers.shape == (2, 1) and seg.is_gray
    assert seg.segmented().shape == sample.shape[:2]
    # k = 2 on gray: a threshold between the two centres separates the labels.
    threshold = seg.centers.mean()
    np.testing.assert_array_equal(seg.labels.ravel(), (gray > threshold).astype(np.uint8))


def test_lab_space_reports_rgb_centres(sample):
    seg = kmseg.segment(sample, k=3, space="lab")
    assert seg.centers.shape == (3, 3)
    # The reported RGB centres are the Lab centres converted back.
    np.testing.assert_allclose(rgb2lab(seg.centers / 255.0), seg.feature_centers, atol=0.05)
    lab = rgb2lab(sample).reshape(-1, 3)
    labels = seg.labels.ravel()
    np.testing.assert_allclose(seg.feature_centers[1], lab[labels == 1].mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("space", ["lab", "oklab"])
def test_a_gray_image_in_a_perceptual_space_is_its_rgb_copy(gray_sample, space):
    """A gray pixel is the colour R = G = B: the same labels as the three-channel copy, and
    one-channel centres (that copy's, which are gray)."""
    gray = gray_sample
    seg = kmseg.segment(gray, k=4, space=space, seed=3)
    copy = kmseg.segment(np.repeat(gray[..., None], 3, axis=2), k=4, space=space, seed=3)
    np.testing.assert_array_equal(seg.labels, copy.labels)
    assert seg.centers.shape == (4, 1) and seg.is_gray
    np.testing.assert_allclose(seg.centers[:, 0], copy.centers.mean(axis=1), atol=0.01)
    np.testing.assert_allclose(np.ptp(copy.centers, axis=1), 0, atol=0.01)
    assert seg.segmented().shape == gray.shape


def test_the_regions_preset_takes_a_gray_photo(gray_sample):
    """The preset clusters in Lab: a gray photo gives the regions of its RGB copy."""
    gray = gray_sample
    seg = kmseg.segment(gray, regions=True)
    copy = kmseg.segment(np.repeat(gray[..., None], 3, axis=2), regions=True)
    np.testing.assert_array_equal(seg.regions, copy.regions)
    assert seg.n_regions > 1 and seg.centers.shape == (8, 1)


def test_space_auto_is_lab_where_lab_reads_the_image(sample, gray_sample):
    """"auto" (the regions preset's space) is Lab for RGB and gray images, integers or floats in
    [0, 1]: the same labels and regions as asking for Lab."""
    for image in (sample, gray_sample, sample.astype(np.float32) / 255):
        auto = kmseg.segment(image, regions=True)
        lab = kmseg.segment(image, regions=True, space="lab")
        assert auto.space == "lab" == auto.params["space"]
        np.testing.assert_array_equal(auto.labels, lab.labels)
        np.testing.assert_array_equal(auto.regions, lab.regions)


def test_space_auto_clusters_what_lab_cannot_read_as_it_is(sample):
    """A 4-band raster and a float image in its own units (a CT slice) take the preset as they
    are: the labels and regions of space="rgb", where "lab" refuses them."""
    four_bands = np.dstack([sample, sample[..., 1]]).astype(np.uint16) * 200
    scan = (sample[..., 0].astype(np.float32) - 100.0) * 12.5  # Hounsfield-like units
    for image in (four_bands, scan):
        with pytest.raises(ParameterError, match="space='lab' needs"):
            kmseg.segment(image, regions=True, space="lab")
        auto = kmseg.segment(image, regions=True)
        rgb = kmseg.segment(image, regions=True, space="rgb")
        assert auto.space == "rgb" and auto.n_regions > 1
        np.testing.assert_array_equal(auto.labels, rgb.labels)
        np.testing.assert_array_equal(auto.regions, rgb.regions)
    assert kmseg.segment(scan, k="auto", regions=True).k == kmseg.choose_k(scan, space="rgb").k


def test_a_palette_fitted_with_space_auto_keeps_the_fitted_space(sample, tmp_path):
    """The space fitted is ``space_``; predicting, transforming and saving use it, never
    "auto" again (a saved palette says the space it was fitted in)."""
    scan = (sample[..., 0].astype(np.float32) - 100.0) / 50.0
    model = kmseg.KMeansSegmenter(k=3, space="auto").fit(scan)
    reference = kmseg.KMeansSegmenter(k=3, space="rgb").fit(scan)
    assert (model.space, model.space_) == ("auto", "rgb")
    np.testing.assert_array_equal(model.predict(scan), reference.predict(scan))
    np.testing.assert_allclose(model.transform(scan), reference.transform(scan))
    loaded = kmseg.KMeansSegmenter.load(model.save(tmp_path / "palette.json"))
    assert loaded.space == loaded.space_ == "rgb"
    np.testing.assert_array_equal(loaded.predict(scan), model.predict(scan))
    # One palette for many images: the space of their pooled values (here outside [0, 1]).
    unit = (sample[..., 0] / 255.0).astype(np.float32)  # in [0, 1] alone: Lab
    assert kmseg.KMeansSegmenter(k=3, space="auto").fit(unit).space_ == "lab"
    pooled = kmseg.KMeansSegmenter(k=3, space="auto").fit([unit, scan])
    assert pooled.space_ == "rgb"
    assert kmseg.KMeansSegmenter(k=3, space="auto").fit([sample, sample]).space_ == "lab"
    # 16-bit photos pool into float bins (values up to 65535): still integers, so Lab.
    photo16 = sample.astype(np.uint16) * 257 + np.arange(sample.size, dtype=np.uint16).reshape(
        sample.shape) % 200
    assert kmseg.KMeansSegmenter(k=3, space="auto").fit([photo16, photo16]).space_ == "lab"


@pytest.mark.parametrize("gray", [False, True])
def test_space_auto_leaves_nan_to_the_check_that_names_it(sample, gray):
    """A float image in [0, 1] with a NaN resolves to Lab, whose check names the NaN (a NaN
    read as "outside [0, 1]" went to rgb, and the regions' means were NaN)."""
    image = sample[..., 0] / 255.0 if gray else sample / 255.0
    image[5, 5] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        kmseg.segment(image, regions=True)
    with pytest.raises(ParameterError, match="NaN"):
        kmseg.segment(image * 100.0, regions=True)  # and out of range: rgb, checked too


def test_normalize_changes_units_not_labels(sample):
    raw = kmseg.segment(sample, k=3)
    unit = kmseg.segment(sample, k=3, normalize=True)
    np.testing.assert_array_equal(raw.labels, unit.labels)
    assert unit.compactness == pytest.approx(raw.compactness / 255**2, rel=1e-9)
    np.testing.assert_allclose(unit.centers, raw.centers, rtol=1e-9)
    assert unit.feature_centers.max() <= 1


def test_float_input_in_unit_range(sample):
    as_float = sample.astype(np.float32) / 255
    seg = kmseg.segment(as_float, k=3)
    assert seg.segmented().dtype == np.float32
    assert seg.centers.max() <= 1


def test_masked_pixels_never_shift_a_centre():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 100, size=(30, 40, 3), dtype=np.uint8)
    keep = np.ones((30, 40), bool)
    keep[:, :10] = False
    wild = image.copy()
    wild[~keep] = 255
    masked = kmseg.segment(wild, k=3, mask=keep)
    reference = kmseg.segment(image[keep].reshape(30, 30, 3), k=3)
    np.testing.assert_allclose(masked.centers, reference.centers)
    assert (masked.labels[~keep] == masked.masked_label).all()
    assert masked.masked_label == 255 and masked.labels[keep].max() == 2
    alpha = masked.segmented()[..., 3]
    assert (alpha[~keep] == 0).all() and (alpha[keep] == 255).all()


def test_alpha_channel_of_an_array():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., :3] = np.arange(20, dtype=np.uint8)[None, :, None] * 10
    rgba[..., 3] = 255
    rgba[:5, :, :3] = 250
    rgba[:5, :, 3] = 0
    seg = kmseg.segment(rgba, k=2, alpha=True)
    assert (seg.labels[:5] == seg.masked_label).all()
    assert seg.centers.max() < 200
    out = seg.segmented()
    assert out.shape == (20, 20, 4) and (out[:5, :, 3] == 0).all()


def test_uint16_and_multiband_keep_their_depth():
    rng = np.random.default_rng(1)
    bands = rng.integers(0, 65536, size=(25, 30, 7), dtype=np.uint16)
    seg = kmseg.segment(bands, k=5)
    painted = seg.segmented()
    assert painted.dtype == np.uint16 and painted.shape == bands.shape
    assert seg.centers.shape == (5, 7) and seg.hex_colors is None
    X = bands.reshape(-1, 7).astype(np.float64)
    assert seg.compactness == pytest.approx(sse(X, seg.labels.ravel(), seg.centers), rel=1e-9)


def test_more_than_255_clusters_use_uint16_labels():
    image = np.arange(300, dtype=np.uint16).reshape(15, 20) * 200
    seg = kmseg.segment(image, k=300, attempts=1)
    assert seg.labels.dtype == np.uint16 and seg.masked_label == 65535
    assert sorted(np.unique(seg.labels)) == list(range(300))


def test_estimator_fit_predict_matches_brute_force(sample):
    model = kmseg.KMeansSegmenter(k=3).fit(sample)
    other = np.asarray(Image.fromarray(sample).transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    labels = model.predict(other)
    X = other.reshape(-1, 3).astype(np.float64)
    d2 = ((X[:, None, :] - model.cluster_centers_[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(labels.ravel(), d2.argmin(axis=1))
    np.testing.assert_array_equal(model.labels_, kmseg.segment(sample, k=3).labels)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k=0 is invalid"),
        ({"k": 2.5}, "k=2.5 is invalid"),
        ({"k": 5}, "k=5 exceeds the 4 distinct"),
        ({"space": "hsv"}, "space='hsv' is invalid"),
        ({"init": "kmeans"}, "init='kmeans' is invalid"),
        ({"init": np.zeros((3, 3))}, r"init array has shape \(3, 3\)"),
        ({"init": np.full((4, 4), 7)}, "init label map has values"),
        ({"attempts": 0}, "attempts=0 is invalid"),
        ({"max_iter": 0}, "max_iter=0 is invalid"),
        ({"eps": -1.0}, "eps=-1.0 is invalid"),
        ({"eps": float("nan")}, "eps=nan is invalid"),
        ({"seed": -3}, "seed=-3 is invalid"),
        ({"space": "lab", "image": np.zeros((4, 4, 4), np.uint8)}, "space='lab' needs an RGB"),
        ({"space": "gray", "image": np.zeros((8, 8, 5), np.uint8)}, "space='gray' needs"),
        ({"mask": np.ones((3, 3), bool)}, "mask shape"),
        ({"mask": np.zeros((4, 4), bool)}, "no pixel to cluster"),
        ({"mask": np.ones((4, 4))}, "mask must be a boolean"),
        ({"space": "lab", "image": np.full((4, 4, 3), 2.0)}, r"needs float RGB values in \[0, 1\]"),
    ],
)
def test_bad_parameters(kwargs, match):
    image = kwargs.pop("image", np.array([[0, 50], [100, 150]], np.uint8).repeat(2, 0).repeat(2, 1))
    with pytest.raises(ParameterError, match=match):
        kmseg.segment(image, **{"k": 2, **kwargs})


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((0, 5, 3), np.uint8), "shape"),
        (np.zeros((4, 4, 3, 2), np.uint8), "shape"),
        (np.zeros((4, 4), np.int64), "dtype int64"),
        (np.zeros((4, 4), bool), "dtype bool"),
        (np.full((4, 4), np.nan), "NaN or infinite"),
        ([[1, 2], [3, 4]], "numpy array"),
    ],
)
def test_bad_arrays(image, match):
    with pytest.raises(ParameterError, match=match):
        kmseg.segment(image, k=1)


def test_nan_under_the_mask_is_allowed():
    image = np.random.default_rng(0).random((10, 10, 3))
    image[0, 0] = np.nan
    keep = np.ones((10, 10), bool)
    keep[0, 0] = False
    seg = kmseg.segment(image, k=2, mask=keep)
    assert seg.labels[0, 0] == seg.masked_label


def test_errors_from_files_name_the_file(tmp_path):
    flat = tmp_path / "flat.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(flat)
    with pytest.raises(ParameterError, match=r"flat\.png: k=2 exceeds the 1 distinct"):
        kmseg.segment(flat, k=2)
    with pytest.raises(kmseg.ImageReadError, match=r"missing\.png"):
        kmseg.segment(tmp_path / "missing.png")


def test_fixed_colours_stay_and_the_others_are_means(sample):
    fixed = np.array([[255.0, 0.0, 0.0], [240.0, 230.0, 220.0]])
    seg = kmseg.segment(sample, k=5, fixed_colors=fixed, seed=1)
    np.testing.assert_array_equal(seg.centers[:2], fixed)  # labels 0 and 1, as given
    X = sample.reshape(-1, 3).astype(float)
    labels = seg.labels.ravel()
    d2 = ((X[:, None, :] - seg.centers[None]) ** 2).sum(axis=2)
    np.testing.assert_allclose(d2[np.arange(len(X)), labels], d2.min(axis=1), rtol=1e-9)
    for j in range(2, 5):  # the free centres are the means of their pixels
        np.testing.assert_allclose(seg.centers[j], X[labels == j].mean(axis=0), rtol=1e-9)
    assert (labels == 1).sum() > 0  # a colour of the photo gets its pixels
    free = kmseg.segment(sample, k=5, seed=1)
    assert seg.compactness >= free.compactness
    hexed = kmseg.segment(sample, k=3, fixed_colors=["#ff0000"])
    np.testing.assert_array_equal(hexed.centers[0], [255, 0, 0])
    assert hexed.params["fixed_colors"] == ["#ff0000"]


@pytest.mark.parametrize(
    ("colours", "kwargs", "match"),
    [
        (["#ff00"], {}, "is not '#rrggbb'"),
        (["#ff0000"] * 4, {}, "4 fixed colours exceed k=3"),
        (np.zeros((2, 4)), {}, r"give \(f, 3\) colours"),
        (["#ff0000"], {"position": 3.0}, "colour features only"),
    ],
)
def test_bad_fixed_colours(sample, colours, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        kmseg.segment(sample[::8, ::8], k=3, fixed_colors=colours, **kwargs)


# -- array layouts: channel_axis, pixel lists ---------------------------------------------------

def test_pixel_list_gives_one_label_per_pixel(sample, sample_seg):
    pixels = sample.reshape(-1, 3)
    seg = kmseg.segment(pixels, k=sample_seg.k, channel_axis=1)
    assert seg.labels.shape == (pixels.shape[0],) and seg.image.shape == pixels.shape
    np.testing.assert_array_equal(seg.labels, sample_seg.labels.ravel())
    np.testing.assert_allclose(seg.centers, sample_seg.centers)
    assert seg.segmented().shape == pixels.shape
    transposed = kmseg.segment(np.ascontiguousarray(pixels.T), k=sample_seg.k, channel_axis=0)
    np.testing.assert_array_equal(transposed.labels, seg.labels)


def test_pixel_list_with_a_mask_and_gray_values(sample):
    gray = sample.mean(axis=2).astype(np.uint8).ravel()
    keep = gray > 40
    seg = kmseg.segment(gray, k=2, mask=keep)
    assert seg.labels.shape == gray.shape
    assert (seg.labels[~keep] == seg.masked_label).all() and set(seg.labels[keep]) == {0, 1}
    # The exact 1-D optimum: one threshold splits the kept values.
    assert gray[keep][seg.labels[keep] == 0].max() < gray[keep][seg.labels[keep] == 1].min()


def test_pixel_list_has_no_image_to_save(sample, tmp_path):
    seg = kmseg.segment(sample.reshape(-1, 3), k=2, channel_axis=1)
    with pytest.raises(ParameterError, match="pixel list"):
        seg.save(tmp_path)
    with pytest.raises(ParameterError, match="pixel list"):
        seg.cutout(0)
    with pytest.raises(ParameterError, match="need an image"):
        kmseg.segment(sample.reshape(-1, 3), k=2, channel_axis=1, superpixels=50)


def test_channels_first_array(sample, sample_seg):
    first = np.ascontiguousarray(sample.transpose(2, 0, 1))
    seg = kmseg.segment(first, k=sample_seg.k, channel_axis=0)
    np.testing.assert_array_equal(seg.labels, sample_seg.labels)
    assert seg.image.shape == sample.shape


@pytest.mark.parametrize(
    ("shape", "kwargs", "match"),
    [
        ((1000, 3), {}, r"looks like 1000 pixels of 3 channel\(s\): pass channel_axis=1"),
        ((1000, 1), {}, "pass channel_axis=1"),
        ((64, 3), {}, "pass channel_axis=1"),
        ((10, 4), {}, "pass channel_axis=1"),
        ((3, 8, 8), {}, "pass channel_axis=0"),
        ((7, 512, 512), {}, "pass channel_axis=0"),
        ((3, 40, 60), {}, "looks channels-first .* pass channel_axis=0"),
        ((4, 40, 60), {}, "pass channel_axis=0"),
        ((40, 60, 3), {"channel_axis": None}, "needs its channel axis"),
        ((40, 60, 3), {"channel_axis": 3}, "not an axis"),
        ((40, 60, 3), {"channel_axis": 1.0}, "not an axis"),
    ],
)
def test_ambiguous_layouts_say_what_to_pass(shape, kwargs, match):
    image = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    with pytest.raises(ParameterError, match=match):
        kmseg.segment(image, k=2, **kwargs)


def test_explicit_channel_axis_is_never_second_guessed():
    rng = np.random.default_rng(0)
    narrow = rng.integers(0, 255, (1000, 3), dtype=np.uint8)
    gray = kmseg.segment(narrow, k=2, channel_axis=None)      # a 1000 x 3 gray image
    assert gray.labels.shape == (1000, 3) and gray.algorithm == "optimal-1d"
    cube = rng.integers(0, 255, (3, 40, 60), dtype=np.uint8)
    bands = kmseg.segment(cube, k=2, channel_axis=2)          # 60 bands of 3 x 40 pixels
    assert bands.labels.shape == (3, 40) and bands.centers.shape == (2, 60)
    square = kmseg.segment(rng.integers(0, 255, (4, 4), dtype=np.uint8), k=2)
    assert square.labels.shape == (4, 4)                      # as wide as tall: a gray image


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("space", ["rgb", "gray", "lab", "oklab"])
@pytest.mark.parametrize("options", [{}, {"superpixels": 30}, {"k": "auto"}, {"init": "labels"}])
def test_nan_or_infinity_is_refused_on_every_path(sample, bad, space, options):
    image = sample[:60, :80] / 255.0
    image[5, 7, 1] = bad
    if options.get("init") == "labels":
        options = {"init": np.zeros(image.shape[:2], np.uint8)}
    with pytest.raises(ParameterError, match="NaN or infinite"):
        kmseg.segment(image, **({"k": 3} | options), space=space)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_refused_by_fitted_palettes_and_many_bands(sample, bad):
    image = sample[:60, :80] / 255.0
    model = kmseg.KMeansSegmenter(k=3).fit(image)
    broken = image.copy()
    broken[0, 0, 0] = bad
    for call in (model.predict, model.transform, kmseg.KMeansSegmenter(k=3).fit):
        with pytest.raises(ParameterError, match="NaN or infinite"):
            call(broken)
    with pytest.raises(ParameterError, match="NaN or infinite"):
        kmseg.KMeansSegmenter(k=3).fit([image, broken])
    bands = np.random.default_rng(0).random((20, 20, 5))
    bands[1, 1, 1] = bad
    with pytest.raises(ParameterError, match="NaN or infinite"):
        kmseg.segment(bands, k=2)


def test_pixel_lists_with_a_mask_or_alpha_paint_and_refuse_regions(sample):
    pixels = sample.reshape(-1, 3)
    keep = pixels.sum(axis=1) > 100
    seg = kmseg.segment(pixels, k=3, channel_axis=1, mask=keep)
    painted = seg.segmented()
    assert painted.shape == (len(pixels), 4)  # RGB and alpha, 0 where masked
    np.testing.assert_array_equal(painted[:, 3] == 0, ~keep)
    np.testing.assert_array_equal(painted[keep, :3], seg.colors[seg.labels[keep]])
    with_alpha = np.concatenate([pixels, np.where(keep, 255, 0).astype(np.uint8)[:, None]], 1)
    alpha_seg = kmseg.segment(with_alpha, k=3, channel_axis=1, alpha=True)
    np.testing.assert_array_equal(alpha_seg.labels, seg.labels)
    assert alpha_seg.segmented().shape == (len(pixels), 4)
    with pytest.raises(ParameterError, match=r"mask shape \(10,\) does not match the"):
        kmseg.segment(pixels, k=3, channel_axis=1, mask=keep[:10])
    for options in ({"min_region": 0.01}, {"region_level": 0.5}, {"regions": True}):
        with pytest.raises(ParameterError, match="need an image, not a pixel list"):
            kmseg.segment(pixels, k=3, channel_axis=1, **options)


def test_continuous_floats_label_each_pixel_by_its_nearest_centre(sample):
    rng = np.random.default_rng(0)
    image = ((sample + rng.uniform(-0.5, 0.5, sample.shape)) / 255).astype(np.float32)
    model = kmseg.KMeansSegmenter(k=4).fit(image)
    np.testing.assert_array_equal(model.labels_, model.predict(image))
    X = image.reshape(-1, 3).astype(np.float64)
    d2 = ((X[:, None, :] - model.cluster_centers_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(model.labels_.ravel(), d2.argmin(axis=1))
    assert model.inertia_ == pytest.approx(d2.min(axis=1).sum(), rel=1e-9)


def test_superpixels_of_floats_in_any_range_are_those_of_the_image(sample):
    expected = kmseg.segment(sample, k=4, superpixels=150).labels
    for image in (sample / 255.0, sample * 4.0):
        np.testing.assert_array_equal(kmseg.segment(image, k=4, superpixels=150).labels,
                                      expected)


# --- extreme values and parameters (issue 15, items 6, 8 and 9) ---------------------------


def test_tiny_float_image_segments_as_its_rescaled_copy():
    image = np.random.default_rng(0).random((20, 20, 3))
    tiny = np.ldexp(image, -664)  # ~1e-200: squared distances underflow unless scaled
    code = ("import numpy as np, kmseg\n"
            "image = np.random.default_rng(0).random((20, 20, 3))\n"
            "seg = kmseg.segment(np.ldexp(image, -664), k=4)\n"
            "print(sorted(seg.sizes.tolist()))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # apart: once a hang
    assert done.returncode == 0, done.stderr[-2000:]
    seg, plain = kmseg.segment(tiny, k=4), kmseg.segment(image, k=4)
    np.testing.assert_array_equal(seg.labels, plain.labels)
    np.testing.assert_array_equal(np.ldexp(seg.centers, 664), plain.centers)


def test_huge_float_image_is_refused_with_a_rescale_hint():
    image = np.random.default_rng(0).random((20, 20, 3)) * 1e308
    with pytest.raises(ParameterError, match="overflow; rescale the image"):
        kmseg.segment(image, k=4)


def test_identical_floats_and_fewer_distinct_values_than_k():
    with pytest.raises(ParameterError, match="k=4 exceeds the 1 distinct"):
        kmseg.segment(np.full((20, 20, 3), 0.3), k=4)
    two = np.repeat(np.array([[[0.1, 0.2, 0.3]], [[0.5, 0.5, 0.5]]]), 10, axis=1)
    with pytest.raises(ParameterError, match="k=4 exceeds the 2 distinct"):
        kmseg.segment(two, k=4)
    assert sorted(kmseg.segment(two, k=2).sizes.tolist()) == [10, 10]


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("position", 1e308, "a number from 0 to 1e+06"),
    ("texture", 1e308, "a number from 0 to 1e+06"),
    ("smooth", 1e308, "a number from 0 to 1000"),
    ("smooth", 1_000_000, "a number from 0 to 1000"),
    ("attempts", 1_000_000_000, "None or an integer from 1 to 1000"),
    ("max_iter", 10**9, "an integer from 1 to 1_000_000"),
    ("superpixels", 1 << 40, "None or an integer from 2 to"),
    ("max_work_pixels", 1, "None or an integer >= 64"),
])
def test_extreme_parameters_are_refused_with_their_range(name, value, allowed):
    # check_param: the rule alone, so that the test fails (not hangs) without it.
    expected = re.escape(f"{name}={value!r} is invalid; use {allowed}")
    with pytest.raises(ParameterError, match=f"^{expected}"):
        kmseg._validation.check_param(name, value)
    assert kmseg.KMeansSegmenter(**{name: value}).get_params()[name] == value


def test_tiny_working_copy_is_refused_not_a_reshape_error():
    with pytest.raises(ParameterError, match="max_work_pixels=100 leaves 96 pixels"):
        kmseg.segment(kmseg.data.sample_path(), k=4, position=10, superpixels=500,
                      max_work_pixels=100)
    seg = kmseg.segment(kmseg.data.sample_path(), k=4, position=10, max_work_pixels=64)
    assert seg.labels.shape == (400, 600)


def test_more_superpixels_than_pixels_are_refused():
    image = np.random.default_rng(0).random((20, 20, 3))
    with pytest.raises(ParameterError, match="superpixels=1000 exceeds the 400 pixels"):
        kmseg.segment(image, k=4, superpixels=1000)


def test_path_with_a_nul_byte_is_an_image_read_error():
    with pytest.raises(kmseg.ImageReadError, match=r"^a\\0b\.png: .*NUL byte"):
        kmseg.segment("a\0b.png")
