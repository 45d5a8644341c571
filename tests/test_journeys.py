"""The three tutorials kmseg replaces, end to end, as their authors wrote them: through the API
(with their own arrays: cv2-style float pixels, a PIL grayscale image, a normalised float image
flattened and rebuilt) and through the command line, on the bundled photo.

1. OpenCV: RGB pixels as an ``(N, 3)`` float32 array, ``cv2.kmeans(pixels, 3, None, (EPS +
   MAX_ITER, 100, 0.2), 10, KMEANS_RANDOM_CENTERS)``, centres to uint8, the image rebuilt from
   ``centers[labels]``, one cluster blacked out.
2. PIL: ``Image.open(...).convert("L")``, k = 2 (a threshold), the mask of the bright class.
3. Normalise (``/ 255``), flatten, cluster, rebuild, and look at the colour distribution.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

import kmseg
from kmseg.cli import main


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return _png(kmseg.data.sample_path())  # an RGB JPEG


def _png(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def _sse(pixels: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> float:
    return float(((pixels - centers[labels]) ** 2).sum())


# -- 1. OpenCV's recipe -------------------------------------------------------------------------

def test_opencv_recipe_float32_pixels(rgb):
    cv2 = pytest.importorskip("cv2")
    pixels = np.float32(rgb.reshape((-1, 3)))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 0.2)
    cv2.setRNGSeed(0)
    cv_sse, _, _ = cv2.kmeans(pixels, 3, None, criteria, 10,
                                  cv2.KMEANS_RANDOM_CENTERS)

    seg = kmseg.segment(pixels, k=3, channel_axis=1, init="random", attempts=10,
                        max_iter=100, eps=0.2)
    assert seg.labels.shape == (pixels.shape[0],)
    assert seg.centers.shape == (3, 3)
    # At least as compact as the snippet (the SSE of the pixels against kmseg's own centres).
    assert _sse(pixels.astype(np.float64), seg.labels, seg.centers) <= cv_sse * (1 + 1e-6)
    assert seg.compactness == pytest.approx(
        _sse(pixels.astype(np.float64), seg.labels, seg.centers), rel=1e-9)

    centers = np.uint8(seg.centers)
    segmented = centers[seg.labels].reshape(rgb.shape)   # the tutorial's rebuild
    assert segmented.shape == rgb.shape and len(np.unique(segmented.reshape(-1, 3), axis=0)) == 3
    masked = np.copy(rgb).reshape((-1, 3))
    masked[seg.labels == 2] = [0, 0, 0]                  # "disable" cluster 2
    assert (masked.reshape(rgb.shape)[seg.labels.reshape(rgb.shape[:2]) == 2] == 0).all()

    # The same labels as the photo itself, as uint8 (same pixels, same clustering).
    image_seg = kmseg.segment(rgb, k=3, init="random", attempts=10, max_iter=100, eps=0.2)
    np.testing.assert_array_equal(image_seg.labels.ravel(), seg.labels)


def test_opencv_recipe_without_channel_axis_says_what_to_pass(rgb):
    with pytest.raises(kmseg.ParameterError, match="channel_axis=1"):
        kmseg.segment(np.float32(rgb.reshape((-1, 3))), k=3)


def test_opencv_recipe_on_the_command_line(tmp_path, capsys):
    photo = tmp_path / "image.jpg"
    shutil.copy(kmseg.data.sample_path(), photo)
    code = main(["segment", str(photo), "-k", "3", "--init", "random", "--attempts", "10",
                 "--max-iter", "100", "--eps", "0.2", "--masks", "--compare",
                 "-o", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    out = tmp_path / "out"
    report = json.loads((out / "image.json").read_text())
    assert report["k"] == 3 and report["params"]["init"] == "random"
    labels = _png(out / "image_labels.png")
    painted = _png(out / "image_segmented.png")
    centres = np.array(report["centers"])
    np.testing.assert_array_equal(painted, np.clip(np.rint(centres), 0, 255).astype(
        np.uint8)[labels])
    cutout = _png(out / "image_cutout_2.png")
    assert cutout.shape == (*labels.shape, 4)
    np.testing.assert_array_equal(cutout[..., 3] > 0, labels == 2)
    assert (out / "image_compare.png").is_file()


# -- 2. PIL grayscale, k = 2 ----------------------------------------------------------------------

def test_pil_grayscale_two_classes():
    with Image.open(kmseg.data.sample_path()) as image:
        gray = np.array(image.convert("L"))
    seg = kmseg.segment(gray, k=2)
    assert seg.labels.shape == gray.shape and set(np.unique(seg.labels)) == {0, 1}
    assert seg.algorithm == "optimal-1d"
    # The exact optimum: a threshold between the centres, and no 2-split of the gray levels
    # is more compact (brute force over every threshold).
    values = gray.ravel().astype(np.float64)
    best = min(_sse(values, (values > t).astype(int),
                    np.array([values[values <= t].mean(), values[values > t].mean()]))
               for t in np.unique(values)[:-1])
    assert seg.compactness == pytest.approx(best, rel=1e-12)
    bright = seg.labels == 1
    assert gray[bright].min() > gray[~bright].max()
    # sklearn on the flattened pixels (the tutorial's own) does no better.
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    km = sklearn_cluster.KMeans(2, n_init=10, random_state=0).fit(values.reshape(-1, 1))
    assert seg.compactness <= km.inertia_ * (1 + 1e-9)
    # The flattened gray pixels give the same labels, as (N,).
    flat = kmseg.segment(gray.reshape(-1), k=2)
    np.testing.assert_array_equal(flat.labels, seg.labels.ravel())
    column = kmseg.segment(gray.reshape(-1, 1), k=2, channel_axis=1)
    np.testing.assert_array_equal(column.labels, seg.labels.ravel())


def test_pil_grayscale_on_the_command_line(tmp_path, capsys):
    photo = tmp_path / "gray.png"
    with Image.open(kmseg.data.sample_path()) as image:
        image.convert("L").save(photo)
    assert main(["segment", str(photo), "-k", "2", "-o", str(tmp_path / "out")]) == 0
    labels = _png(tmp_path / "out" / "gray_labels.png")
    assert set(np.unique(labels)) == {0, 1}
    painted = _png(tmp_path / "out" / "gray_segmented.png")
    assert painted.ndim == 2 and len(np.unique(painted)) == 2


# -- 3. Normalise, flatten, cluster, rebuild, colour distribution ---------------------------------

def test_normalised_float_image_flattened_and_rebuilt(rgb):
    image = rgb / 255.0                                  # float64 in [0, 1]
    seg = kmseg.segment(image, k=4)
    uint8_seg = kmseg.segment(rgb, k=4)
    np.testing.assert_array_equal(seg.labels, uint8_seg.labels)
    np.testing.assert_allclose(seg.centers, uint8_seg.centers / 255, atol=1e-9)
    assert seg.segmented().dtype == np.float64 and seg.segmented().max() <= 1

    pixels = image.reshape(-1, 3)                        # flatten
    flat = kmseg.segment(pixels, k=4, channel_axis=1)
    np.testing.assert_array_equal(flat.labels, seg.labels.ravel())
    rebuilt = flat.centers[flat.labels].reshape(image.shape)   # rebuild
    np.testing.assert_allclose(rebuilt, seg.segmented(), atol=1e-12)


def test_colour_distribution_of_the_clustering(rgb):
    seg = kmseg.segment(rgb / 255.0, k=4)
    figure = kmseg.plot.colors(seg)
    scatter = [c for ax in figure.axes for c in ax.collections]
    assert scatter, "no scatter drawn"
    colours = np.unique(np.round(scatter[0].get_facecolors()[:, :3], 4), axis=0)
    # Points take their cluster's centre colour: at most k colours among them.
    assert len(colours) <= seg.k


def test_colour_distribution_on_the_command_line(tmp_path, capsys):
    code = main(["colors", kmseg.data.sample_path(), "-k", "4", "-o", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    assert _png(tmp_path / "coffee_colors.png").shape[1] > 300


# -- the same journeys on photos the suite did not make ------------------------------------------

@pytest.fixture(scope="module")
def unseen_photos():
    from conftest import shared_dir

    odd = shared_dir("corpus", "odd")
    photos = sorted(shared_dir("bsds500", "images", "val").glob("*.jpg"))[5:8]
    return [*photos, odd / "cmyk_photo_with_icc.jpg", odd / "png16_rgb_photo.png"]


def test_tutorial_journeys_on_unseen_photos(unseen_photos, tmp_path, capsys):
    for path in unseen_photos:
        image = kmseg.read_image(path)
        scale = float(np.iinfo(image.dtype).max)
        seg = kmseg.segment(image, k=4)
        # 3: normalise, flatten, cluster, rebuild
        floats = kmseg.segment(image / scale, k=4)
        np.testing.assert_array_equal(floats.labels, seg.labels, err_msg=path.name)
        flat = kmseg.segment(image.reshape(-1, 3) / scale, k=4, channel_axis=1)
        np.testing.assert_array_equal(flat.labels, seg.labels.ravel(), err_msg=path.name)
        assert kmseg.plot.colors(floats, sample=2000).axes
        # 1: float32 pixels (the values themselves, not / 255) give the same clustering
        pixels32 = np.float32(image.reshape(-1, 3))
        np.testing.assert_array_equal(
            kmseg.segment(pixels32, k=4, channel_axis=1).labels, seg.labels.ravel())
        # 2: gray k = 2 is the exact threshold
        gray = kmseg.segment(image, k=2, space="gray")
        assert gray.algorithm == "optimal-1d" and set(np.unique(gray.labels)) == {0, 1}
        # and through the command line
        out = tmp_path / path.stem
        assert main(["segment", str(path), "-k", "4", "--compare", "-o", str(out)]) == 0
        written = json.loads((out / f"{path.stem}.json").read_text())
        assert written["k"] == 4 and written["sizes"] == seg.sizes.tolist()
        assert _png(out / f"{path.stem}_labels_preview.png").max() == 255
    capsys.readouterr()
