"""KMeansSegmenter as a reusable model: fit on many images, predict, transform, save / load."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import kmseg
from kmseg._compress import histogram, pool_histograms
from kmseg._errors import ImageReadError, ParameterError


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list:
    """Four BSDS-sized crops of the sample photo, as files, and the arrays."""
    folder = tmp_path_factory.mktemp("photos")
    image = kmseg.read_image(kmseg.data.sample_path())
    crops = [image[:200, :300], image[200:, :300], image[:200, 300:], image[200:, 300:]]
    paths = []
    for i, crop in enumerate(crops):
        paths.append(folder / f"crop{i}.png")
        Image.fromarray(crop).save(paths[-1])
    return list(zip(paths, crops, strict=True))


def brute_force_labels(image: np.ndarray, centers: np.ndarray) -> np.ndarray:
    d2 = ((image.reshape(-1, 1, image.shape[-1]).astype(float) - centers[None]) ** 2).sum(-1)
    return d2.argmin(axis=1).reshape(image.shape[:2])


def test_predict_on_another_image_is_the_nearest_centre(photos):
    (_, a), (_, b) = photos[0], photos[3]
    model = kmseg.KMeansSegmenter(k=5).fit(a)
    labels = model.predict(b)
    expected = brute_force_labels(b, model.cluster_centers_)
    d2 = ((b.reshape(-1, 1, 3).astype(float) - model.cluster_centers_[None]) ** 2).sum(-1)
    differ = (labels != expected).ravel()
    # Ties only: where the labels differ both centres are equally near.
    np.testing.assert_allclose(d2[differ, labels.ravel()[differ]], d2[differ].min(axis=1))
    assert differ.mean() < 1e-3


def test_fit_on_many_pools_their_histograms(photos):
    paths = [p for p, _ in photos]
    model = kmseg.KMeansSegmenter(k=4, seed=3).fit(paths)
    # The same as one image made of all the crops: the pooled histogram is theirs.
    stacked = np.concatenate([c for _, c in photos], axis=0)
    single = kmseg.KMeansSegmenter(k=4, seed=3).fit(stacked)
    np.testing.assert_allclose(model.cluster_centers_, single.cluster_centers_, rtol=1e-9)
    assert model.inertia_ == pytest.approx(single.inertia_, rel=1e-9)
    assert model.labels_ is None and single.labels_ is not None


def test_pooled_histogram_counts_every_pixel(photos, rng):
    parts = [histogram(c.reshape(-1, 3)) for _, c in photos]
    pooled = None
    for part in parts:
        pooled = pool_histograms(pooled, part.values, part.counts)
    everything = np.concatenate([c.reshape(-1, 3) for _, c in photos])
    values, counts = np.unique(everything, axis=0, return_counts=True)
    np.testing.assert_array_equal(pooled[0], values)
    np.testing.assert_array_equal(pooled[1], counts)
    # Other dtypes go through np.unique on rows.
    sixteen = rng.integers(0, 5, size=(50, 2)).astype(np.uint16)
    first = pool_histograms(None, sixteen[:20], np.ones(20))
    merged = pool_histograms(first, sixteen[20:], np.ones(30))
    values, counts = np.unique(sixteen, axis=0, return_counts=True)
    np.testing.assert_array_equal(merged[0], values)
    np.testing.assert_array_equal(merged[1], counts)


def test_transform_gives_distances_to_every_centre(photos):
    _, image = photos[1]
    model = kmseg.KMeansSegmenter(k=3, space="lab").fit(image)
    distances = model.transform(image)
    from skimage.color import rgb2lab

    lab = rgb2lab(image)
    expected = np.sqrt(((lab[..., None, :] - model.cluster_centers_) ** 2).sum(-1))
    np.testing.assert_allclose(distances, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(distances.argmin(axis=2), model.predict(image))


def test_save_and_load_round_trip(photos, tmp_path):
    model = kmseg.KMeansSegmenter(k=5, space="oklab", seed=2).fit([p for p, _ in photos])
    path = model.save(tmp_path / "palette.json")
    report = json.loads(path.read_text())
    assert report["params"]["space"] == "oklab" and len(report["centers"]) == 5
    again = kmseg.KMeansSegmenter.load(path)
    assert again.get_params() == model.get_params() | {"attempts": 10}
    np.testing.assert_array_equal(again.cluster_centers_, model.cluster_centers_)
    np.testing.assert_array_equal(again.predict(photos[2][1]), model.predict(photos[2][1]))


def test_set_params_and_get_params():
    model = kmseg.KMeansSegmenter(k=3)
    assert model.set_params(k=5, space="lab") is model
    assert model.get_params()["k"] == 5 and model.get_params()["space"] == "lab"
    with pytest.raises(ParameterError, match="'colour' is not a KMeansSegmenter parameter"):
        model.set_params(colour=1)


def test_bad_inputs(photos, tmp_path):
    model = kmseg.KMeansSegmenter(k=3)
    with pytest.raises(ParameterError, match="list is empty"):
        model.fit([])
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    with pytest.raises(ImageReadError, match=r"notes\.png"):
        model.fit([photos[0][0], not_an_image])
    gray = tmp_path / "gray.png"
    Image.fromarray(photos[0][1][..., 0]).save(gray)
    with pytest.raises(ParameterError, match=r"gray\.png: 1-channel uint8 image among 3-channel"):
        model.fit([photos[0][0], gray])
    with pytest.raises(ParameterError, match="not fitted yet"):
        kmseg.KMeansSegmenter(k=3).predict(photos[0][1])
    model.fit(photos[0][0])
    with pytest.raises(ParameterError, match="fitted on 3-channel uint8 images"):
        model.predict(gray)
    with pytest.raises(ParameterError, match="colour features only"):
        kmseg.KMeansSegmenter(k=3, position=5.0).fit([photos[0][0], photos[1][0]])
    bad = tmp_path / "bad.json"
    bad.write_text('{"kmseg_model": 1}')
    with pytest.raises(ImageReadError, match="not a kmseg model file"):
        kmseg.KMeansSegmenter.load(bad)


# -- scikit-learn's estimator API -----------------------------------------------------------------

def test_clone_get_params_and_set_params():
    base = pytest.importorskip("sklearn.base")
    model = kmseg.KMeansSegmenter(k=5, space="lab", seed=3)
    copy = base.clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert model.get_params(deep=True) == model.get_params(deep=False)
    assert copy.set_params(k=7) is copy and copy.k == 7 and model.k == 5
    with pytest.raises(ParameterError, match="'kk' is not a KMeansSegmenter parameter"):
        copy.set_params(kk=2)


def test_fit_predict_equals_fit_then_labels(photos):
    _, image = photos[0]
    labels = kmseg.KMeansSegmenter(k=4).fit_predict(image)
    model = kmseg.KMeansSegmenter(k=4).fit(image)
    np.testing.assert_array_equal(labels, model.labels_)
    np.testing.assert_array_equal(labels, model.predict(image))


def test_pipeline_style_fit_with_y(photos):
    _, image = photos[1]
    model = kmseg.KMeansSegmenter(k=3).fit(image, None)
    assert model.cluster_centers_.shape == (3, 3)


def test_repr_is_short_and_shows_changed_parameters():
    assert repr(kmseg.KMeansSegmenter()) == "KMeansSegmenter()"
    assert repr(kmseg.KMeansSegmenter(k=6, space="lab")) == "KMeansSegmenter(k=6, space='lab')"
    big = kmseg.KMeansSegmenter(k=2, init=np.zeros((2, 3)), fixed_colors=np.ones((1, 3)))
    text = repr(big)
    assert "init=<array (2, 3)>" in text and len(text) < 120


def test_in_a_scikit_learn_pipeline(photos):
    pipeline = pytest.importorskip("sklearn.pipeline")
    base = pytest.importorskip("sklearn.base")
    _, image = photos[2]
    steps = pipeline.Pipeline([("segment", kmseg.KMeansSegmenter(k=3))]).fit(image)
    np.testing.assert_array_equal(steps.predict(image), kmseg.segment(image, k=3).labels)
    assert base.is_clusterer(kmseg.KMeansSegmenter())
