"""Scans: reading NIfTI / MGH / DICOM / TIFF stacks with their geometry, clustering voxels,
and the files written back (kmseg.volume, kmseg.io._volume, kmseg.io._dicom)."""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil

import nibabel
import numpy as np
import pydicom
import pytest

from conftest import shared_dir
from kmseg import OutputError, ParameterError
from kmseg.io._volume import read_volume
from kmseg.volume import segment_volume


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def optimal_1d_brute_force(levels: np.ndarray, weights: np.ndarray, k: int) -> float:
    """The least weighted SSE of ``k`` contiguous groups of sorted levels: O(k m^2) DP."""
    m = len(levels)
    w = np.concatenate([[0], np.cumsum(weights)])
    s1 = np.concatenate([[0], np.cumsum(weights * levels)])
    s2 = np.concatenate([[0], np.cumsum(weights * levels**2)])

    def cost(i, j):  # levels i..j-1
        return s2[j] - s2[i] - (s1[j] - s1[i]) ** 2 / (w[j] - w[i])

    best = np.array([cost(0, j) if j else np.inf for j in range(m + 1)])
    for _ in range(k - 1):
        best = np.array([min((best[i] + cost(i, j) for i in range(1, j)), default=np.inf)
                         for j in range(m + 1)])
    return float(best[m])


@pytest.fixture
def brain_dir():
    return shared_dir("med", "brain_fast")


@pytest.fixture
def ct_series(tmp_path):
    """A copy of the shared 20-slice CT series (JPEG 2000), to break in tests."""
    folder = tmp_path / "series"
    shutil.copytree(shared_dir("med", "ct", "dicom"), folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


# -- reading ---------------------------------------------------------------------------------

def test_nifti_and_mgh_keep_the_affine(brain_dir, tmp_path):
    scan = read_volume(brain_dir / "bet.nii.gz")
    image = nibabel.load(brain_dir / "bet.nii.gz")
    assert scan.data.shape == image.shape
    np.testing.assert_array_equal(scan.data, np.asanyarray(image.dataobj))
    np.testing.assert_allclose(scan.affine, image.affine)
    mgz = tmp_path / "bet.mgz"
    nibabel.save(nibabel.MGHImage(scan.data.astype(np.float32), scan.affine), mgz)
    again = read_volume(mgz)
    np.testing.assert_allclose(again.affine, scan.affine, atol=1e-4)
    np.testing.assert_array_equal(again.data, scan.data)


def test_dicom_series_in_position_order_with_hounsfield_units(ct_series):
    scan = read_volume(ct_series)
    headers = [pydicom.dcmread(path) for path in sorted(ct_series.iterdir())]
    headers.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    assert scan.data.shape == (512, 512, len(headers))
    # voxel (i, j, k) is column i, row j of slice k, in HU
    first = headers[0].pixel_array.astype(np.int32) * int(headers[0].RescaleSlope) \
        + int(headers[0].RescaleIntercept)
    np.testing.assert_array_equal(scan.data[:, :, 0], first.T)
    assert scan.data.min() == -1024
    # affine: LPS -> RAS of the first slice's position, spacing and the slice step
    x, y, z = (float(v) for v in headers[0].ImagePositionPatient)
    np.testing.assert_allclose(scan.affine[:3, 3], [-x, -y, z])
    step = float(headers[1].ImagePositionPatient[2]) - z
    np.testing.assert_allclose(np.diag(scan.affine)[:3],
                               [-float(headers[0].PixelSpacing[1]),
                                -float(headers[0].PixelSpacing[0]), step])


def test_a_missing_slice_is_named(ct_series):
    files = sorted(ct_series.iterdir(), key=lambda p: float(pydicom.dcmread(
        p, stop_before_pixels=True).ImagePositionPatient[2]))
    files[7].unlink()
    with pytest.raises(Exception, match=r"uneven slice spacing: .*missing slice") as info:
        read_volume(ct_series)
    assert str(ct_series) in str(info.value) and files[6].name in str(info.value)


def test_a_duplicate_slice_is_named(ct_series):
    first = sorted(ct_series.iterdir())[0]
    shutil.copy(first, ct_series / "copy.dcm")
    with pytest.raises(Exception, match=r"duplicate slice: .*copy\.dcm"):
        read_volume(ct_series)


def test_several_series_are_listed_and_one_can_be_chosen(ct_series):
    files = sorted(ct_series.iterdir())
    for path in files[:5]:
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = "1.2.3.4"
        ds.save_as(path)
    with pytest.raises(Exception, match=r"holds 2 series: .*1\.2\.3\.4 \(5 files"):
        read_volume(ct_series)
    assert read_volume(ct_series, series="1.2.3").data.shape[2] == 5


def test_a_tiff_stack_is_a_volume(tmp_path, rng):
    tifffile = pytest.importorskip("tifffile")
    stack = rng.integers(0, 4000, size=(6, 30, 40), dtype=np.uint16)  # slices, rows, columns
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, imagej=True, resolution=(1 / 0.5, 1 / 0.5),
                     metadata={"spacing": 2.0, "unit": "mm"})
    scan = read_volume(path)
    np.testing.assert_array_equal(scan.data, stack.transpose(2, 1, 0))
    np.testing.assert_allclose(scan.spacing, (0.5, 0.5, 2.0))


def test_four_d_needs_a_frame(tmp_path, rng):
    path = tmp_path / "fmri.nii.gz"
    nibabel.save(nibabel.Nifti1Image(rng.normal(size=(4, 5, 6, 3)).astype(np.float32),
                                      np.eye(4)), path)
    with pytest.raises(Exception,
                       match=r"4-D with 3 frames: choose one with frame= \(--frame\) 0\.\.2"):
        read_volume(path)
    np.testing.assert_array_equal(read_volume(path, frame=2).data,
                                  np.asanyarray(nibabel.load(path).dataobj)[..., 2])


# -- clustering ------------------------------------------------------------------------------

def test_one_channel_gets_the_exact_optimum(brain_dir):
    data = np.asanyarray(nibabel.load(brain_dir / "bet.nii.gz").dataobj)
    seg = segment_volume(brain_dir / "bet.nii.gz", 3, mask=data > 0)
    levels, counts = np.unique(data[data > 0], return_counts=True)
    expected = optimal_1d_brute_force(levels.astype(float), counts.astype(float), 3)
    assert seg.algorithm == "optimal-1d"
    assert seg.compactness == pytest.approx(expected, rel=1e-9)
    means = [c.mean[0] for c in seg.classes]
    assert means == sorted(means)  # labels 1..k by intensity
    assert (seg.labels[data == 0] == 0).all()


def test_brain_tissue_matches_fast(brain_dir):
    """CSF / GM / WM against FSL FAST's hard labels (the reference figures: 0.933 / 0.902 /
    0.930 for the exact 1-D optimum)."""
    data = np.asanyarray(nibabel.load(brain_dir / "bet.nii.gz").dataobj)
    gm, wm = (np.asanyarray(nibabel.load(brain_dir / f"pve_{i}.nii.gz").dataobj)
              for i in (1, 2))
    reference = np.argmax(np.stack([1 - gm - wm, gm, wm]), axis=0) + 1
    seg = segment_volume(brain_dir / "bet.nii.gz", 3, mask=data > 0)
    scores = [dice(seg.labels == c, (reference == c) & (data > 0)) for c in (1, 2, 3)]
    assert scores == pytest.approx([0.933, 0.902, 0.930], abs=0.003)


@pytest.mark.parametrize(("case", "expected"), [("brats_2013_pat0001_1", 0.826),
                                                ("brats_2013_pat0002_1", 0.799),
                                                ("brats_2013_pat0003_1", 0.870)])
def test_brats_whole_tumour_is_the_brightest_flair_cluster(case, expected):
    folder = shared_dir("med", "brats", case)
    seg = segment_volume(folder / "Flair_subtrMeanDivStd.nii.gz", 4,
                         mask=folder / "brainmask.nii.gz")
    tumour = np.asanyarray(nibabel.load(folder / "OTMultiClass.nii.gz").dataobj) > 0
    assert dice(seg.labels == 4, tumour) == pytest.approx(expected, abs=0.002)


def test_integer_counting_gives_the_float_path_s_labels(rng):
    scan = rng.integers(-1024, 2000, size=(30, 20, 10)).astype(np.int16)
    counted = segment_volume(scan, 4, window=(40, 400))
    floats = segment_volume(scan.astype(np.float64), 4, window=(40, 400))
    np.testing.assert_array_equal(counted.labels, floats.labels)
    assert counted.compactness == pytest.approx(floats.compactness, rel=1e-12)


def test_volumes_are_in_millilitres():
    scan = np.zeros((20, 20, 10), np.int16)
    scan[5:15, 5:15, 2:8] = 100
    seg = segment_volume(scan, 2, spacing=(0.5, 0.5, 2.0))
    assert [c.voxels for c in seg.classes] == [4000 - 600, 600]
    assert seg.classes[1].volume_ml == pytest.approx(600 * 0.5 * 0.5 * 2.0 / 1000)
    assert seg.volumes_ml[2] == pytest.approx(0.3)


def test_several_channels_cluster_together(rng):
    flair = rng.normal(size=(16, 16, 8))
    t1c = rng.normal(size=(16, 16, 8))
    flair[4:8] += 12
    t1c[4:8, 4:8] += 12
    seg = segment_volume(np.stack([flair, t1c], axis=-1), 3, seed=1)
    assert seg.algorithm == "lloyd" and seg.centers.shape == (3, 2)
    assert seg.classes[2].voxels == 4 * 4 * 8  # bright in both channels
    assert len(seg.classes[0].mean) == 2


def test_same_input_same_labels(rng):
    scan = np.stack([rng.normal(size=(12, 12, 6)) for _ in range(2)], axis=-1)
    first, second = (segment_volume(scan, 3, seed=7) for _ in range(2))
    np.testing.assert_array_equal(first.labels, second.labels)


# -- the tissue preset -----------------------------------------------------------------------

def test_tissue_meets_fast_on_grey_and_white_matter(brain_dir):
    """N4 + k-means + the Potts prior: GM >= 0.92 and WM >= 0.95 against FSL FAST (plain
    k-means: 0.903 / 0.929; ANTs Atropos with N4: 0.927 / 0.948)."""
    pytest.importorskip("SimpleITK")
    data = np.asanyarray(nibabel.load(brain_dir / "bet.nii.gz").dataobj)
    gm, wm = (np.asanyarray(nibabel.load(brain_dir / f"pve_{i}.nii.gz").dataobj)
              for i in (1, 2))
    reference = np.argmax(np.stack([1 - gm - wm, gm, wm]), axis=0) + 1
    seg = segment_volume(brain_dir / "bet.nii.gz", 3, mask=data > 0, tissue=True)
    assert seg.params["tissue"] and seg.params["bias_corrected"]
    assert dice(seg.labels == 2, (reference == 2) & (data > 0)) >= 0.92
    assert dice(seg.labels == 3, (reference == 3) & (data > 0)) >= 0.95


def test_tissue_beats_plain_k_means_on_every_brats_case():
    scores = {False: [], True: []}
    for folder in sorted(shared_dir("med", "brats").iterdir()):
        tumour = np.asanyarray(nibabel.load(folder / "OTMultiClass.nii.gz").dataobj) > 0
        for tissue in (False, True):
            seg = segment_volume(folder / "Flair_subtrMeanDivStd.nii.gz", 4,
                                 mask=folder / "brainmask.nii.gz", tissue=tissue)
            assert not seg.params["bias_corrected"]  # z-scored: no field to fit
            scores[tissue].append(dice(seg.labels == 4, tumour))
    assert all(t > p for t, p in zip(scores[True], scores[False], strict=True)), scores
    assert np.mean(scores[True]) >= 0.85


def test_the_potts_prior_cleans_noise_and_is_the_likelihood_alone_at_weight_zero(rng):
    from kmseg._potts import potts_labels

    truth = np.ones((30, 30, 12), np.uint8)
    truth[:, 15:] = 2
    values = (np.where(truth == 2, 2.0, 0.0) + rng.normal(0, 0.9, truth.shape))[..., None]
    inside = np.ones(truth.shape, bool)
    plain = segment_volume(values[..., 0], 2).labels
    smoothed = potts_labels(values[inside], plain, inside, (1, 1, 1), weight=1.0,
                            iterations=10)
    assert (smoothed != truth).mean() < 0.2 * (plain != truth).mean()
    # weight 0: each voxel's most likely Gaussian (mean, variance, share from the labels)
    alone = potts_labels(values[inside], plain, inside, (1, 1, 1), weight=0.0, iterations=3)
    x = values[..., 0]
    scores = []
    for c in (1, 2):
        members = x[plain == c]
        scores.append(-(x - members.mean()) ** 2 / (2 * members.var())
                      - 0.5 * np.log(members.var()) + np.log(members.size / x.size))
    np.testing.assert_array_equal(alone, np.argmax(scores, axis=0) + 1)


def test_bias_correction_flattens_a_smooth_field(rng):
    pytest.importorskip("SimpleITK")
    from kmseg._bias import bias_corrected

    i, j, k = np.meshgrid(*(np.linspace(-1, 1, n) for n in (48, 48, 24)), indexing="ij")
    tissue = np.where((i * 3).astype(int) % 2 == 0, 100.0, 160.0)
    field = np.exp(0.3 * (i + j) + 0.2 * k)
    scan = tissue * field * rng.normal(1, 0.01, tissue.shape)
    inside = np.ones(scan.shape, bool)
    corrected = bias_corrected(scan, inside, (1, 1, 2), shrink=2, iterations=(50, 50, 30))

    def spread(values):  # within-tissue coefficient of variation
        return max(values[tissue == t].std() / values[tissue == t].mean() for t in (100, 160))

    assert spread(corrected) < 0.5 * spread(scan)


def test_tissue_without_simpleitk_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "SimpleITK", None)
    scan = np.full((8, 8, 8), 50.0)
    scan[2:6] = 120.0
    with pytest.raises(ParameterError, match=r"pip install '\.\[med\]'"):
        segment_volume(scan, 2, tissue=True)
    # negative values (CT, z-scores): no field to fit, no SimpleITK needed
    assert not segment_volume(scan - 100.0, 2, tissue=True).params["bias_corrected"]


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize(("mask", "message"), [
    (np.ones((3, 3, 3)), r"mask's shape \(3, 3, 3\) is not the scan's \(4, 4, 4\)"),
    (np.zeros((4, 4, 4)), r"the mask is empty"),
])
def test_masks_that_do_not_fit_are_refused(mask, message):
    with pytest.raises(ParameterError, match=message):
        segment_volume(np.arange(64.0).reshape(4, 4, 4), 2, mask=mask)


def test_a_mask_on_another_grid_is_refused(tmp_path):
    scan, mask = tmp_path / "scan.nii.gz", tmp_path / "mask.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.arange(64.0).reshape(4, 4, 4), np.eye(4)), scan)
    nibabel.save(nibabel.Nifti1Image(np.ones((4, 4, 4), np.uint8), np.diag([2, 2, 2, 1.0])),
                 mask)
    with pytest.raises(ParameterError, match=r"mask\.nii\.gz: the mask is on another grid"):
        segment_volume(scan, 2, mask=mask)


def test_nan_voxels_and_too_many_classes_are_refused():
    scan = np.zeros((4, 4, 4))
    scan[0, 0, 0] = np.nan
    with pytest.raises(ParameterError, match="NaN or infinite voxels inside the mask"):
        segment_volume(scan, 2)
    mask = np.ones((4, 4, 4), bool)
    mask[0, 0, 0] = False
    with pytest.raises(ParameterError, match=r"k=3 exceeds the 1 distinct"):
        segment_volume(scan, 3, mask=mask)
    with pytest.raises(ParameterError, match="window"):
        segment_volume(np.arange(64.0).reshape(4, 4, 4), 2, window="spleen")


# -- writing ---------------------------------------------------------------------------------

def test_saved_labels_overlay_the_scan(brain_dir, tmp_path):
    data = np.asanyarray(nibabel.load(brain_dir / "bet.nii.gz").dataobj)
    seg = segment_volume(brain_dir / "bet.nii.gz", 3, mask=data > 0)
    paths = seg.save(tmp_path, masks=True)
    assert [p.name for p in paths] == ["bet_labels.nii.gz", "bet_mask_1.nii.gz",
                                       "bet_mask_2.nii.gz", "bet_mask_3.nii.gz", "bet.json"]
    labels = nibabel.load(tmp_path / "bet_labels.nii.gz")
    np.testing.assert_allclose(labels.affine, nibabel.load(brain_dir / "bet.nii.gz").affine)
    np.testing.assert_array_equal(np.asanyarray(labels.dataobj), seg.labels)
    np.testing.assert_array_equal(np.asanyarray(nibabel.load(paths[2]).dataobj),
                                  seg.labels == 2)
    report = json.loads((tmp_path / "bet.json").read_text())
    voxel_ml = abs(np.linalg.det(labels.affine[:3, :3])) / 1000
    for entry, c in zip(report["classes"], seg.classes, strict=True):
        assert entry["voxels"] == int((seg.labels == c.label).sum())
        assert entry["volume_ml"] == pytest.approx(entry["voxels"] * voxel_ml)
    before = (tmp_path / "bet_labels.nii.gz").read_bytes()
    seg.save(tmp_path)
    assert (tmp_path / "bet_labels.nii.gz").read_bytes() == before  # deterministic bytes


def test_the_scan_itself_is_never_overwritten(tmp_path):
    scan = tmp_path / "x_labels.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.arange(64, dtype=np.int16).reshape(4, 4, 4),
                                      np.eye(4)), scan)
    before = scan.read_bytes()
    seg = segment_volume(scan, 2)
    with pytest.raises(OutputError, match="refusing to overwrite an input"):
        seg.save(tmp_path, stem="x")
    assert scan.read_bytes() == before and not (tmp_path / "x.json").exists()


# -- command line ----------------------------------------------------------------------------

def test_kmseg_segment_of_a_nifti_writes_labels_and_volumes(brain_dir, tmp_path, capsys):
    from kmseg.cli import main

    code = main(["segment", str(brain_dir / "bet.nii.gz"), "-k", "3", "--mask",
                 str(brain_dir / "bet.nii.gz"), "-o", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "mL by class {1: 265.9, 2: 616.5, 3: 635.6}" in out
    labels = nibabel.load(tmp_path / "bet_labels.nii.gz")
    np.testing.assert_allclose(labels.affine, nibabel.load(brain_dir / "bet.nii.gz").affine)
    report = json.loads((tmp_path / "bet.json").read_text())
    assert [c["label"] for c in report["classes"]] == [1, 2, 3]
    assert report["algorithm"] == "optimal-1d"


def test_kmseg_segment_of_a_dicom_series_keeps_every_slice(ct_series, tmp_path, capsys):
    from kmseg.cli import main

    code = main(["segment", str(ct_series), "-k", "4", "--window", "40,400", "-o",
                 str(tmp_path), "--masks", "--compare"])
    assert code == 0, capsys.readouterr().err
    labels = nibabel.load(tmp_path / "series_labels.nii.gz")
    assert labels.shape == (512, 512, 20)
    assert sorted(np.unique(np.asanyarray(labels.dataobj)).tolist()) == [1, 2, 3, 4]
    assert (tmp_path / "series_mask_4.nii.gz").exists()
    from PIL import Image

    with Image.open(tmp_path / "series_compare.png") as figure:
        assert figure.size == (2 * 512, 512)
    assert json.loads((tmp_path / "series.json").read_text())["params"]["window"] == [-160, 240]


@pytest.mark.parametrize(("args", "message"), [
    (["--regions"], "--regions applies to images, not to a scan"),
    (["-k", "auto"], "-k auto applies to images"),
    (["--space", "lab"], "--space applies to images"),
    (["--mask", "MISSING.nii.gz"], "missing.nii.gz: no such file"),
])
def test_kmseg_segment_of_a_scan_refuses_in_one_line(tmp_path, capsys, args, message):
    from kmseg.cli import main

    scan = tmp_path / "scan.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.arange(64, dtype=np.int16).reshape(4, 4, 4),
                                      np.eye(4)), scan)
    args = [a.replace("MISSING", str(tmp_path / "missing")) for a in args]
    code = main(["segment", str(scan), "-o", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "scan_labels.nii.gz").exists()


def test_scan_options_on_a_photo_are_refused(capsys, tmp_path):
    import kmseg
    from kmseg.cli import main

    code = main(["segment", str(kmseg.data.sample_path()), "--tissue", "-o", str(tmp_path)])
    assert code == 2 and "apply to scans" in capsys.readouterr().err


def test_the_preview_shows_the_scan_beside_its_classes():
    import io

    from PIL import Image

    scan = np.zeros((20, 16, 9), np.int16)
    scan[5:15, 4:12] = 100
    seg = segment_volume(scan, 2)
    pair = seg.preview()
    assert pair.shape == (16, 40, 3) and pair.dtype == np.uint8
    left, right = pair[:, :20], pair[:, 20:]
    # rows run bottom to top along j, columns along i
    np.testing.assert_array_equal(left[::-1].transpose(1, 0, 2)[..., 0] > 0, scan[:, :, 4] > 0)
    bright = right[::-1].transpose(1, 0, 2)[scan[:, :, 4] > 0]
    assert (bright == bright[0]).all() and not (bright[0] == bright[0][0]).all()  # one colour
    shown = np.asarray(Image.open(io.BytesIO(seg._repr_png_())))
    np.testing.assert_array_equal(shown, pair)


# -- found in review: inputs kept, damaged files, odd layouts --------------------------------

def test_no_input_of_the_run_is_overwritten(tmp_path, capsys):
    from kmseg.cli import main

    scan = tmp_path / "a.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.arange(64, dtype=np.int16).reshape(4, 4, 4),
                                      np.eye(4)), scan)
    mask = tmp_path / "a_mask_1.nii.gz"  # what --masks would write
    nibabel.save(nibabel.Nifti1Image(np.ones((4, 4, 4), np.uint8), np.eye(4)), mask)
    other = tmp_path / "a_labels.nii.gz"  # another input, named as scan a's labels
    shutil.copy(scan, other)
    before = {p: p.read_bytes() for p in (scan, mask, other)}
    assert main(["segment", str(scan), "-k", "2", "--mask", str(mask), "--masks", "-o",
                 str(tmp_path)]) == 2
    assert main(["segment", str(scan), str(other), "-k", "2", "-o", str(tmp_path)]) == 2
    assert "refusing to overwrite an input" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before


def test_damaged_scans_are_one_line_errors(tmp_path, ct_series):
    from kmseg import ImageReadError

    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(200)))
    with pytest.raises(ImageReadError, match=r"corrupt\.nii\.gz: not a readable NIfTI"):
        read_volume(corrupt)
    damaged = ct_series / sorted(p.name for p in ct_series.iterdir())[3]
    data = bytearray(damaged.read_bytes())
    data[200:260] = b"\xff" * 60  # inside the header's elements
    damaged.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=damaged.name):  # a one-line error naming it
        read_volume(ct_series)


def test_slices_of_another_size_are_named(ct_series):
    path = sorted(ct_series.iterdir())[4]
    ds = pydicom.dcmread(path)
    ds.PixelSpacing = [0.5, 0.5]
    ds.save_as(path)
    with pytest.raises(Exception, match=rf"the slices differ: PixelSpacing .* in {path.name}"):
        read_volume(ct_series)


def test_a_series_uid_that_prefixes_another_is_chosen_exactly(ct_series):
    for number, path in enumerate(sorted(ct_series.iterdir())):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = "1.2.3.4" if number < 6 else "1.2.3.45"
        ds.save_as(path)
    assert read_volume(ct_series, series="1.2.3.4").data.shape[2] == 6


def test_a_dicom_file_without_a_suffix_and_a_folder_given_as_dot(ct_series, tmp_path,
                                                                  monkeypatch, capsys):
    from kmseg.cli import main
    from kmseg.io._volume import is_volume_path, volume_stem

    unnamed = tmp_path / "IM0001"
    shutil.copy(sorted(ct_series.iterdir())[0], unnamed)
    assert is_volume_path(unnamed)
    assert main(["segment", str(unnamed), "-k", "2", "-o", str(tmp_path / "one")]) == 0
    assert (tmp_path / "one" / "IM0001_labels.nii.gz").exists()
    monkeypatch.chdir(ct_series)
    assert volume_stem(".") == "series"
    assert main(["segment", ".", "-k", "2", "-o", str(tmp_path / "dot")]) == 0, \
        capsys.readouterr().err
    assert (tmp_path / "dot" / "series_labels.nii.gz").exists()


def test_rgb_nifti_and_rgb_tiff_are_not_scans(tmp_path):
    from kmseg import ImageReadError

    rgb = np.zeros((4, 4, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nibabel.save(nibabel.Nifti1Image(rgb, np.eye(4)), tmp_path / "rgb.nii.gz")
    with pytest.raises(ImageReadError, match="real intensities"):
        read_volume(tmp_path / "rgb.nii.gz")
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((20, 30, 3), np.uint8), photometric="rgb")
    with pytest.raises(ImageReadError, match="stack of 2-D gray pages"):
        read_volume(tmp_path / "rgb.tif")


@pytest.mark.parametrize(("unit", "resolution", "expected"), [
    ("um", 4.0, 0.25e-3),  # ImageJ, microns: 4 pixels per micron
    ("cm", 10.0, 1.0),     # ImageJ, cm
    (None, None, 1.0),     # no unit: pixels
])
def test_tiff_stack_spacing_is_in_millimetres(tmp_path, unit, resolution, expected):
    tifffile = pytest.importorskip("tifffile")
    stack = np.zeros((3, 8, 8), np.uint16)
    kwargs = {} if unit is None else {"resolution": (resolution, resolution),
                                      "metadata": {"unit": unit, "spacing": 1.0}}
    tifffile.imwrite(tmp_path / "s.tif", stack, imagej=True, **kwargs)
    assert read_volume(tmp_path / "s.tif").spacing[0] == pytest.approx(expected)


def test_tissue_on_a_thin_volume_never_shows_a_traceback():
    pytest.importorskip("SimpleITK")
    scan = np.full((40, 40, 3), 100.0)
    scan[10:30] = 180.0
    try:
        seg = segment_volume(scan, 2, tissue=True)
    except ParameterError as error:
        assert "bias-field correction failed" in str(error)
    else:
        assert seg.k == 2


def test_channels_from_several_scans_cluster_together(tmp_path, capsys):
    from kmseg.cli import main

    folder = shared_dir("med", "brats", "brats_2013_pat0001_1")
    flair, t1c = folder / "Flair_subtrMeanDivStd.nii.gz", folder / "T1c_subtrMeanDivStd.nii.gz"
    assert main(["segment", str(flair), "--channels", str(t1c), "-k", "4", "--mask",
                 str(folder / "brainmask.nii.gz"), "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "Flair_subtrMeanDivStd.json").read_text())
    assert report["algorithm"] == "lloyd"
    assert all(len(c["center"]) == 2 and len(c["mean"]) == 2 for c in report["classes"])
    brain = shared_dir("med", "brain_fast") / "bet.nii.gz"
    assert main(["segment", str(flair), "--channels", str(brain), "-o", str(tmp_path)]) == 2
    assert "channels must share one grid" in capsys.readouterr().err


def test_a_tiff_z_stack_from_the_command_line(tmp_path, capsys):
    tifffile = pytest.importorskip("tifffile")
    from kmseg.cli import main

    stack = np.zeros((6, 30, 40), np.uint16)  # slices, rows, columns
    stack[2:4, 10:20, 10:30] = 3000
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True, resolution=(2.0, 2.0),
                     metadata={"spacing": 1.5, "unit": "mm", "axes": "ZYX"})
    assert main(["segment", str(tmp_path / "stack.tif"), "--volume", "-k", "2", "-o",
                 str(tmp_path / "out")]) == 0, capsys.readouterr().err
    labels = nibabel.load(tmp_path / "out" / "stack_labels.nii.gz")
    np.testing.assert_array_equal(np.asanyarray(labels.dataobj),
                                  np.where(stack == 3000, 2, 1).transpose(2, 1, 0))
    np.testing.assert_allclose(labels.header.get_zooms(), (0.5, 0.5, 1.5))


@pytest.mark.parametrize(("params", "message"), [
    ({"k": 0}, r"k=0 is invalid"),
    ({"k": "auto"}, r"choosing k applies to images"),
    ({"attempts": 0}, r"attempts=0 is invalid"),
    ({"eps": -1.0}, r"eps=-1\.0 is invalid"),
])
def test_parameters_follow_the_image_api_s_rules(params, message):
    scan = np.arange(64.0).reshape(4, 4, 4)
    with pytest.raises(ParameterError, match=message):
        segment_volume(scan, **{"k": 2, **params})


@pytest.mark.parametrize("seed", range(6))
def test_view_slices_match_nibabel_closest_canonical(seed):
    """Any axis order and flips: slice ``i`` of a plane is nibabel's RAS+ array's slice,
    upright (rows from the high end of the plane's second axis), with the geometry to draw it."""
    from kmseg._volume_result import slice_view, view_slice

    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(3, 9, 3))
    order, signs = rng.permutation(3), rng.choice([-1.0, 1.0], 3)
    sizes = rng.uniform(0.5, 3, 3)
    affine = np.eye(4)
    affine[:3, :3] = 0
    for axis in range(3):
        affine[order[axis], axis] = signs[axis] * sizes[axis]
    data = rng.integers(0, 1000, shape).astype(np.int32)
    canonical = nibabel.as_closest_canonical(nibabel.Nifti1Image(data, affine))
    ras, ras_mm = np.asarray(canonical.dataobj), canonical.header.get_zooms()
    for view, across in (("axial", 2), ("coronal", 1), ("sagittal", 0)):
        geometry = slice_view(shape, affine, view)
        column, row = (axis for axis in range(3) if axis != across)
        assert geometry.slices == ras.shape[across]
        assert (geometry.width, geometry.height) == (ras.shape[column], ras.shape[row])
        assert (geometry.column_mm, geometry.row_mm) == pytest.approx(
            (ras_mm[column], ras_mm[row]))
        for index in (0, geometry.slices - 1):
            np.testing.assert_array_equal(view_slice(data, affine, view, index),
                                          np.take(ras, index, axis=across).T[::-1])


def test_view_slice_refuses_a_missing_slice_or_plane():
    from kmseg._volume_result import view_slice

    data = np.zeros((4, 5, 6))
    with pytest.raises(ParameterError, match=re.escape(
            "slice 6 does not exist: the axial view has slices 0..5")):
        view_slice(data, np.eye(4), "axial", 6)
    with pytest.raises(ParameterError, match=re.escape(
            "view='oblique': use 'axial', 'coronal' or 'sagittal'")):
        view_slice(data, np.eye(4), "oblique", 0)


def test_window_as_text_is_the_same_window():
    from kmseg.volume import window_bounds

    assert window_bounds("40, 80") == window_bounds((40, 80)) == window_bounds("brain")
    with pytest.raises(ParameterError, match="window='40,x'"):
        window_bounds("40,x")


# -- DICOM SEG -------------------------------------------------------------------------------

@pytest.fixture
def full_series(tmp_path):
    """A 4-slice CT series with every UID (pydicom's CT_small, moved 5 mm per slice and given
    its own SOP instance UIDs), its files named out of slice order."""
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    folder = tmp_path / "full"
    folder.mkdir()
    for i in range(4):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(
            entropy_srcs=["kmseg test", str(i)])
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 5 * i]
        ds.InstanceNumber = i + 1
        ds.save_as(folder / f"im{3 - i}.dcm")
    return folder


def test_a_dicom_seg_holds_each_class_on_its_source_slices(full_series, tmp_path, capsys):
    """Written by the CLI, read back by highdicom: one segment per class, and each source
    slice's frame equal to that slice of the NIfTI labels (rows = the volume's j)."""
    highdicom = pytest.importorskip("highdicom", reason="a DICOM SEG needs the 'med' extra")
    from kmseg.cli import main

    code = main(["segment", str(full_series), "-k", "3", "--dicom-seg", "-o", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    labels = np.asarray(nibabel.load(tmp_path / "full_labels.nii.gz").dataobj)
    seg = highdicom.seg.segread(tmp_path / "full_seg.dcm")
    assert seg.get_segment_numbers() == [1, 2, 3]
    assert [seg.get_segment_description(n).segment_label for n in (1, 2, 3)] == \
        ["class 1", "class 2", "class 3"]
    sources = [pydicom.dcmread(full_series / f"im{3 - i}.dcm") for i in range(4)]
    frames = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[ds.SOPInstanceUID for ds in sources], combine_segments=True)
    np.testing.assert_array_equal(frames, labels.transpose(2, 1, 0))
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    again = segment_volume(full_series, 3).to_dicom_seg()
    assert pydicom.dcmread(io.BytesIO(again)).SOPInstanceUID == seg.SOPInstanceUID


def test_a_dicom_seg_is_refused_in_one_line_and_nothing_written(ct_series, tmp_path, capsys):
    """The shared series is anonymised without study / series UIDs: a SEG could not reference
    it. And a NIfTI has no DICOM series to lay a SEG over."""
    pytest.importorskip("highdicom", reason="a DICOM SEG needs the 'med' extra")
    from kmseg.cli import main

    code = main(["segment", str(ct_series), "-k", "3", "--dicom-seg", "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "has no StudyInstanceUID or SeriesInstanceUID" in err and str(ct_series) in err
    assert list(tmp_path.glob("series*")) == [ct_series]
    scan = tmp_path / "scan.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.arange(64, dtype=np.int16).reshape(4, 4, 4),
                                      np.eye(4)), scan)
    with pytest.raises(ParameterError, match="is not one"):
        segment_volume(scan, 2).to_dicom_seg()


def test_a_scan_over_max_voxels_is_refused_before_its_data_is_decoded(tmp_path, ct_series):
    """From the headers: a compressed TIFF stack, a DICOM series, a NIfTI (a 4-D one by its
    frame's voxels)."""
    import tifffile

    from kmseg import ImageTooLargeError

    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.zeros((30, 64, 64), np.uint16), compression="zlib")
    with pytest.raises(ImageTooLargeError, match="30 x 64 x 64 = 122,880 voxels"):
        read_volume(stack, max_voxels=100_000)
    with pytest.raises(ImageTooLargeError, match="512 x 512 x 20 = 5,242,880 voxels"):
        read_volume(ct_series, max_voxels=1_000_000)
    four_d = tmp_path / "fmri.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.zeros((5, 5, 5, 10), np.int16), np.eye(4)), four_d)
    assert read_volume(four_d, frame=0, max_voxels=125).data.shape == (5, 5, 5)
    with pytest.raises(ImageTooLargeError):
        read_volume(four_d, frame=0, max_voxels=124)


def test_odd_files_are_one_line_errors_or_left_out(tmp_path, full_series):
    from kmseg import ImageReadError

    flat = tmp_path / "flat.nii.gz"  # a zero direction: voxels of no size
    image = nibabel.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4))
    header = image.header
    header["qform_code"], header["sform_code"], header["srow_x"] = 0, 1, [0, 0, 0, 0]
    flat.write_bytes(gzip.compress(header.binaryblock + b"\0" * 4 + image.dataobj.tobytes()))
    with pytest.raises(ImageReadError, match="affine is degenerate"):
        read_volume(flat)
    # kmseg's own DICOM SEG beside its series: still one series of 4 slices
    pytest.importorskip("highdicom", reason="a DICOM SEG needs the 'med' extra")
    (full_series / "seg.dcm").write_bytes(segment_volume(full_series, 2).to_dicom_seg())
    assert read_volume(full_series).data.shape[2] == 4
    for path in full_series.glob("im*.dcm"):  # no PixelSpacing in any slice: 1 mm
        ds = pydicom.dcmread(path)
        del ds.PixelSpacing
        ds.save_as(path)
    assert read_volume(full_series).spacing[:2] == (1.0, 1.0)


# nibabel leaves the file of a damaged MGH open when it raises (its own handle).
@pytest.mark.filterwarnings("ignore::ResourceWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_damaged_mgh_is_a_one_line_error(tmp_path):
    from kmseg import ImageReadError

    mgh = tmp_path / "broken.mgh"
    mgh.write_bytes(b"\0" * 400)
    with pytest.raises(ImageReadError, match=r"broken\.mgh: not a readable NIfTI/MGH"):
        read_volume(mgh)


@pytest.mark.parametrize("dropped", ["PatientID", "StudyDate", "FrameOfReferenceUID"])
def test_a_dicom_seg_of_a_sparse_series_is_made_or_refused_in_one_line(full_series, dropped):
    """Attributes anonymisers drop: an empty one is allowed (made), a missing frame of
    reference is not (refused, naming it)."""
    highdicom = pytest.importorskip("highdicom", reason="a DICOM SEG needs the 'med' extra")
    for path in full_series.glob("im*.dcm"):
        ds = pydicom.dcmread(path)
        delattr(ds, dropped)
        ds.save_as(path)
    seg = segment_volume(full_series, 2)
    if dropped == "FrameOfReferenceUID":
        with pytest.raises(ParameterError, match="has no FrameOfReferenceUID"):
            seg.to_dicom_seg()
        return
    made = highdicom.seg.Segmentation.from_dataset(pydicom.dcmread(io.BytesIO(
        seg.to_dicom_seg())))
    assert made.get_segment_numbers() == [1, 2]
