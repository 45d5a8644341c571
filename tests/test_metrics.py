"""Segmentation scores against hand computations, scikit-learn and scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import variation_of_information as skimage_voi
from sklearn.metrics import rand_score

from kmseg import metrics
from kmseg._errors import ImageReadError, ParameterError


def test_hand_computed_small_cases():
    a = np.array([[0, 0, 1, 1]])
    crossing = np.array([[0, 1, 0, 1]])
    # Pairs (6): (0,1) same/same, (2,3) same/same, the other four differ in both: all agree.
    assert metrics.rand_index(a, a * 7 + 2) == 1.0
    # a vs crossing: (0,1),(2,3) same in a only; (0,2),(1,3) same in crossing only; 2 of 6 agree.
    assert metrics.rand_index(a, crossing) == pytest.approx(2 / 6)
    # One segment against two halves: H(A | B) = 1 bit, H(B | A) = 0.
    assert metrics.variation_of_information(a, np.zeros_like(a)) == pytest.approx(1.0)
    assert metrics.variation_of_information(np.arange(4)[None], np.zeros((1, 4), int)) == 2.0
    # Each pixel of the crossing pair sits in a 2-pixel segment that shares 1 pixel: error 1/2
    # per pixel whichever way round.
    assert metrics.global_consistency_error(a, crossing) == pytest.approx(0.5)
    # A refinement is consistent: GCE 0, though Rand and VoI see a difference.
    assert metrics.global_consistency_error(np.arange(4)[None], a) == 0.0
    assert metrics.rand_index(np.arange(4)[None], a) == pytest.approx(4 / 6)


def test_against_scikit_learn_and_scikit_image(rng):
    for _ in range(5):
        a = rng.integers(0, 6, size=(30, 40))
        b = rng.integers(10, 14, size=(30, 40)) * (a % 2 + 1)  # correlated with a
        assert metrics.rand_index(a, b) == pytest.approx(rand_score(b.ravel(), a.ravel()),
                                                         rel=1e-12)
        expected = sum(skimage_voi(a, b))  # scikit-image: the two conditional entropies, bits
        assert metrics.variation_of_information(a, b) == pytest.approx(expected, rel=1e-9)


def test_scores_are_means_over_ground_truths(rng):
    seg = rng.integers(0, 3, size=(20, 20))
    truths = [rng.integers(0, k, size=(20, 20)) for k in (2, 4, 5)]
    scores = metrics.evaluate(seg, truths)
    assert scores.pri == pytest.approx(np.mean([metrics.rand_index(seg, t) for t in truths]))
    assert scores.voi == pytest.approx(np.mean([metrics.variation_of_information(seg, t)
                                                for t in truths]))
    assert scores.gce == pytest.approx(np.mean([metrics.global_consistency_error(seg, t)
                                                for t in truths]))
    assert scores.n_segments == 3 and scores.n_truth_segments == pytest.approx(11 / 3)
    assert metrics.probabilistic_rand_index(seg, truths) == scores.pri
    identical = metrics.evaluate(seg, seg + 100)
    assert (identical.pri, identical.voi, identical.gce) == (1.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("seg", "truth", "match"),
    [
        (np.zeros((3, 4), int), np.zeros((4, 3), int), "does not match"),
        (np.zeros((0, 4), int), np.zeros((0, 4), int), "empty"),
        (np.full((2, 2), np.nan), np.zeros((2, 2), int), "segment ids"),
    ],
)
def test_bad_label_maps(seg, truth, match):
    with pytest.raises(ParameterError, match=match):
        metrics.evaluate(seg, truth)
    with pytest.raises(ParameterError, match="no ground truth"):
        metrics.evaluate(np.zeros((2, 2), int), [])


def test_bsds_ground_truth_file(bsds_val_gt_dir):
    path = sorted(bsds_val_gt_dir.glob("*.mat"))[0]
    truths = metrics.read_ground_truth(path)
    assert 4 <= len(truths) <= 9
    assert all(t.shape in ((321, 481), (481, 321)) and t.min() >= 1 for t in truths)
    # Each human segmentation scores perfectly against itself and less against the others.
    scores = metrics.evaluate(truths[0], truths)
    assert 0.5 < scores.pri < 1.0 and scores.voi > 0


def test_folder_evaluation_reports_each_problem(tmp_path):
    truth_dir, seg_dir = tmp_path / "gt", tmp_path / "seg"
    truth_dir.mkdir()
    seg_dir.mkdir()
    halves = np.repeat(np.array([[1, 2]], np.uint8), 4, axis=0).repeat(3, axis=1)  # 4 x 6
    Image.fromarray(halves).save(truth_dir / "good.png")
    (truth_dir / "two").mkdir()  # a folder of several segmentations for one photo
    Image.fromarray(halves).save(truth_dir / "two" / "a.png")
    Image.fromarray(np.ones_like(halves)).save(truth_dir / "two" / "b.png")
    Image.fromarray(halves).save(truth_dir / "missing.png")
    Image.fromarray(halves[:2]).save(truth_dir / "small.png")
    Image.fromarray(halves * 10).save(seg_dir / "good_labels.png")
    Image.fromarray(halves).save(seg_dir / "two_regions.png")
    Image.fromarray(halves).save(seg_dir / "small_labels.png")
    (seg_dir / "broken_labels.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.fromarray(halves).save(truth_dir / "broken.png")
    result = metrics.evaluate_folder(seg_dir, truth_dir)
    scores, problems = result  # the return of earlier versions still unpacks
    assert scores is result.scores and problems is result.problems
    assert scores["good"].pri == 1.0 and scores["good"].voi == 0.0
    assert scores["two"].voi == pytest.approx(0.5)  # 0 bits against a, 1 bit against b
    assert set(problems) == {"small", "broken"}  # real problems only
    assert "small_labels.png" in problems["small"] and "does not match" in problems["small"]
    assert "broken_labels.png" in problems["broken"]
    assert result.no_segmentation == ["missing"] and result.no_ground_truth == []


def test_photos_on_one_side_only_are_listed_not_problems(tmp_path):
    truth_dir, seg_dir = tmp_path / "gt", tmp_path / "seg"
    truth_dir.mkdir()
    seg_dir.mkdir()
    labels = np.array([[0, 0, 1, 1]], np.uint8)
    Image.fromarray(labels).save(truth_dir / "scored.png")
    for stem in ("scored", "extra1", "extra2", "extra3", "extra4"):
        Image.fromarray(labels).save(seg_dir / f"{stem}_labels.png")
        Image.fromarray(labels).save(seg_dir / f"{stem}_segmented.png")  # kmseg's other outputs
        (seg_dir / f"{stem}.json").write_text("{}")
    Image.fromarray(labels).save(seg_dir / "scored_regions.png")
    for stem in ("t1", "t2"):
        Image.fromarray(labels).save(truth_dir / f"{stem}.png")
    result = metrics.evaluate_folder(seg_dir, truth_dir)
    assert list(result.scores) == ["scored"] and result.problems == {}
    assert result.no_ground_truth == ["extra1", "extra2", "extra3", "extra4"]
    assert result.no_segmentation == ["t1", "t2"]
    assert result.notes() == [
        f"4 segmentations have no ground truth in {truth_dir} (first: extra1, extra2, extra3, "
        "...)",
        f"2 ground truths have no segmentation in {seg_dir} (t1, t2)",
    ]
    (truth_dir / "t2.png").unlink()
    for stem in ("extra2", "extra3", "extra4"):
        (seg_dir / f"{stem}_labels.png").unlink()
        (seg_dir / f"{stem}_segmented.png").unlink()
    assert metrics.evaluate_folder(seg_dir, truth_dir).notes() == [
        f"1 segmentation has no ground truth in {truth_dir} (extra1)",
        f"1 ground truth has no segmentation in {seg_dir} (t1)",
    ]


def test_segmentation_stems_of_kmseg_outputs_and_plain_label_maps(tmp_path):
    for name in ("a_labels.png", "a_segmented.png", "a_mask_0.png", "a.json", "b_regions.tif",
                 "b_boundaries.png", "b_labels.tif", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert metrics.segmentation_stems(tmp_path) == ["a", "b"]
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("12003.png", "2092.tif", "readme.md"):
        (plain / name).write_bytes(b"")
    assert metrics.segmentation_stems(plain) == ["12003", "2092"]
    with pytest.raises(ImageReadError, match="nope: not a folder"):
        metrics.evaluate_folder(tmp_path / "nope", plain)


def test_unreadable_ground_truth(tmp_path):
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"not a mat file")
    with pytest.raises(ImageReadError, match=r"bad\.mat"):
        metrics.read_ground_truth(bad)
    with pytest.raises(ImageReadError, match="no label image"):
        metrics.read_ground_truth(tmp_path)
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(rgb)
    with pytest.raises(ImageReadError, match="one channel"):
        metrics.read_ground_truth(rgb)


def test_covering_against_a_brute_force_count(rng):
    """Each ground-truth segment's best intersection over union with a segment, weighted by its
    size, by sets of pixel indices."""
    for _ in range(5):
        seg = rng.integers(0, 4, (9, 11))
        truth = rng.integers(0, 3, (9, 11))
        total = 0.0
        for r in np.unique(truth):
            region = set(np.flatnonzero(truth == r))
            total += len(region) * max(
                len(region & set(np.flatnonzero(seg == s))) /
                len(region | set(np.flatnonzero(seg == s))) for s in np.unique(seg))
        assert metrics.segmentation_covering(seg, [truth]) == pytest.approx(total / truth.size)
        assert metrics.evaluate(seg, [truth, truth]).covering == pytest.approx(total / truth.size)
    assert metrics.segmentation_covering(truth, [truth]) == 1.0
