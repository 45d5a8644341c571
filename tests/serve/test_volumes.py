"""The web API for scans: upload (NIfTI, a DICOM series), slices in three planes, the
segmentation and its class volumes, exports, and every refusal."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web app needs the 'serve' extra")
nibabel = pytest.importorskip("nibabel")

from kmseg.volume import segment_volume  # noqa: E402

SHARED_CT = Path(__file__).resolve().parents[3] / "shared" / "data" / "med" / "ct" / "dicom"
AFFINE = np.array([[0.0, 0.0, 3.0, -10.0], [-2.0, 0.0, 0.0, 5.0], [0.0, 1.5, 0.0, 2.0],
                   [0.0, 0.0, 0.0, 1.0]])  # voxel axes along -A, +S, +R: PSR-ish storage


@pytest.fixture
def client():
    from fastapi.testclient import TestClient

    from kmseg.serve import create_app

    with TestClient(create_app(max_pixels=50_000)) as test_client:
        yield test_client


@pytest.fixture
def scan_file(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    data = rng.normal(50, 4, (12, 14, 10)).round().astype(np.int16)
    data[:, 5:] += 100
    data[:, 10:] += 100
    data[:2] = 0  # a zero "background" band
    path = tmp_path / "head.nii.gz"
    nibabel.save(nibabel.Nifti1Image(data, AFFINE), path)
    return path


def _upload(client, *paths: Path, names=None):
    names = names or [path.name for path in paths]
    files = [("files", (name, path.read_bytes())) for name, path in zip(names, paths,
                                                                          strict=True)]
    return client.post("/api/volumes", files=files)


def _png(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as image:
        return np.asarray(image)


def test_upload_describes_the_scan_and_its_planes(client, scan_file):
    answer = _upload(client, scan_file)
    assert answer.status_code == 201, answer.text
    info = answer.json()
    assert info["name"] == "head" and info["shape"] == [12, 14, 10]
    np.testing.assert_allclose(info["spacing"], [2.0, 1.5, 3.0])
    assert "12 x 14 x 10 voxels of 2 x 1.5 x 3 mm" in info["description"]
    # RAS axes: R <- voxel axis 2 (3 mm, 10), A <- axis 0 (2 mm, 12), S <- axis 1 (1.5, 14).
    views = {view["view"]: view for view in info["views"]}
    assert (views["axial"]["slices"], views["axial"]["width"], views["axial"]["height"]) == \
        (14, 10, 12)
    assert (views["axial"]["column_mm"], views["axial"]["row_mm"]) == (3.0, 2.0)
    assert views["sagittal"]["edges"] == ["P", "A", "S", "I"]
    assert client.get(f"/api/volumes/{info['id']}").json() == info


def test_slices_are_the_closest_canonical_planes(client, scan_file):
    """Against nibabel's own reorientation: axial slice z is the RAS+ array's [:, :, z],
    drawn with anterior up and the patient's left on the left."""
    info = _upload(client, scan_file).json()
    canonical = nibabel.as_closest_canonical(nibabel.load(scan_file))
    ras = np.asarray(canonical.dataobj)
    params = {"k": 3}
    reference = nibabel.as_closest_canonical(
        nibabel.Nifti1Image(segment_volume(scan_file, 3).labels, AFFINE)).get_fdata()
    for view, axis in (("axial", 2), ("coronal", 1), ("sagittal", 0)):
        index = ras.shape[axis] // 3
        labels = _png(client.get(f"/api/volumes/{info['id']}/{view}/{index}/labels.png",
                                 params=params))
        np.testing.assert_array_equal(labels, np.take(reference, index, axis=axis).T[::-1])
        gray = _png(client.get(f"/api/volumes/{info['id']}/{view}/{index}/scan.png",
                               params={"window": "100,100"}))
        plane = np.take(ras, index, axis=axis).T[::-1].astype(float)
        expected = np.rint(np.clip((plane - 50) / 100, 0, 1) * 255)
        np.testing.assert_array_equal(gray, expected)


def test_segment_gives_the_library_classes_and_volumes(client, scan_file):
    info = _upload(client, scan_file).json()
    for body, mask in (({"k": 3}, None), ({"k": 2, "nonzero": True}, "nonzero")):
        answer = client.post(f"/api/volumes/{info['id']}/segment", json=body)
        assert answer.status_code == 200, answer.text
        data = nibabel.load(scan_file).get_fdata()
        expected = segment_volume(scan_file, body["k"],
                                  mask=None if mask is None else data != 0)
        got = answer.json()
        assert got["k"] == body["k"] and got["algorithm"] == "optimal-1d"
        for mine, theirs in zip(got["classes"], expected.classes, strict=True):
            assert (mine["label"], mine["voxels"]) == (theirs.label, theirs.voxels)
            assert mine["volume_ml"] == pytest.approx(theirs.voxels * 2 * 1.5 * 3 / 1000)
            assert mine["mean"] == pytest.approx(list(theirs.mean))
    # the same parameters again: the cached segmentation (same seconds), not a new one
    again = client.post(f"/api/volumes/{info['id']}/segment", json={"k": 2, "nonzero": True})
    assert again.json()["seconds"] == got["seconds"]


def test_exports_open_in_nibabel_on_the_scan_grid(client, scan_file):
    info = _upload(client, scan_file).json()
    expected = segment_volume(scan_file, 3)
    labels = client.post(f"/api/volumes/{info['id']}/export", json={"k": 3})
    assert labels.headers["content-disposition"] == 'attachment; filename="head_labels.nii.gz"'
    image = nibabel.Nifti1Image.from_bytes(gzip.decompress(labels.content))
    np.testing.assert_array_equal(np.asarray(image.dataobj), expected.labels)
    np.testing.assert_allclose(image.affine, AFFINE)
    mask = client.post(f"/api/volumes/{info['id']}/export",
                       json={"k": 3, "what": "mask", "label": 2})
    assert 'filename="head_mask_2.nii.gz"' in mask.headers["content-disposition"]
    mask_image = nibabel.Nifti1Image.from_bytes(gzip.decompress(mask.content))
    np.testing.assert_array_equal(np.asarray(mask_image.dataobj), expected.labels == 2)
    report = client.post(f"/api/volumes/{info['id']}/export", json={"k": 3, "what": "report"})
    body = json.loads(report.content)
    assert body["source"] == "head" and [c["voxels"] for c in body["classes"]] == \
        [c.voxels for c in expected.classes]


def test_refusals_are_one_sentence(client, scan_file, tmp_path):
    info = _upload(client, scan_file).json()
    volume = f"/api/volumes/{info['id']}"
    not_nifti = client.post("/api/volumes", files=[("files", ("x.nii.gz", b"not a scan"))])
    assert not_nifti.status_code == 415
    assert not_nifti.json()["detail"].startswith("x.nii.gz: not a readable NIfTI")
    assert "kmseg-serve" not in not_nifti.text  # the temporary folder is never named
    empty = client.post("/api/volumes", files=[("files", ("x.nii.gz", b""))])
    assert empty.status_code == 422
    big = tmp_path / "big.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.zeros((40, 40, 40), np.uint8), np.eye(4)), big)
    too_big = _upload(client, big)
    assert too_big.status_code == 413 and "64,000 voxels" in too_big.json()["detail"]
    assert client.get("/api/volumes/AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    photo = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo, "PNG")
    image_id = client.post("/api/images", files={"file": ("a.png", photo.getvalue())}).json()
    assert client.get(f"/api/volumes/{image_id['id']}").status_code == 404
    assert client.get(f"/api/images/{info['id']}").status_code == 404
    for path, expected in ((f"{volume}/axial/99/scan.png", "slice 99 does not exist"),
                           (f"{volume}/axial/0/scan.png?window=40", "window='40'")):
        answer = client.get(path)
        assert answer.status_code == 422 and expected in answer.json()["detail"][0]["msg"]
    assert client.get(f"{volume}/oblique/0/scan.png").status_code == 422
    answer = client.post(f"{volume}/segment", json={"k": 3, "window": "bone-ish"})
    assert answer.status_code == 422 and "bone-ish" in answer.json()["detail"][0]["msg"]


def test_a_dicom_series_folder_upload(client):
    from fastapi.testclient import TestClient

    from kmseg.serve import create_app

    if not SHARED_CT.is_dir():
        pytest.skip("../shared/data/med/ct/dicom is absent")
    paths = sorted(SHARED_CT.iterdir())
    names = [f"ct_folder/{path.name}" for path in paths]
    with TestClient(create_app()) as roomy:
        answer = _upload(roomy, *paths, names=names)
        assert answer.status_code == 201, answer.text
        info = answer.json()
        assert info["name"] == "ct_folder" and info["shape"] == [512, 512, 20]
        assert info["description"].startswith("DICOM series of 20 slices int16")
        segmented = roomy.post(f"/api/volumes/{info['id']}/segment",
                               json={"k": 3, "window": "soft-tissue"})
        assert segmented.status_code == 200 and len(segmented.json()["classes"]) == 3
        gap = _upload(roomy, *paths[:5], *paths[6:], names=names[:5] + names[6:])
        assert gap.status_code == 415
        detail = gap.json()["detail"]
        assert "uneven slice spacing" in detail and "kmseg-serve" not in detail
        assert paths[4].name in detail or paths[6].name in detail


def test_the_tissue_preset_is_the_library_one(client, scan_file):
    pytest.importorskip("SimpleITK", reason="the tissue preset needs the 'med' extra")
    info = _upload(client, scan_file).json()
    answer = client.post(f"/api/volumes/{info['id']}/segment",
                         json={"k": 2, "nonzero": True, "tissue": True})
    assert answer.status_code == 200, answer.text
    data = nibabel.load(scan_file).get_fdata()
    expected = segment_volume(scan_file, 2, mask=data != 0, tissue=True)
    assert answer.json()["bias_corrected"] is expected.params["bias_corrected"] is True
    assert [c["voxels"] for c in answer.json()["classes"]] == [c.voxels for c in
                                                               expected.classes]
    labels = client.post(f"/api/volumes/{info['id']}/export",
                         json={"k": 2, "nonzero": True, "tissue": True})
    image = nibabel.Nifti1Image.from_bytes(gzip.decompress(labels.content))
    np.testing.assert_array_equal(np.asarray(image.dataobj), expected.labels)


def test_a_dicom_upload_exports_a_dicom_seg(client, scan_file, tmp_path):
    highdicom = pytest.importorskip("highdicom", reason="a DICOM SEG needs the 'med' extra")
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    paths = []
    for i in range(3):  # pydicom's CT_small as a 3-slice series, every UID present
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2], 5.0 * i]
        paths.append(tmp_path / f"slice{i}.dcm")
        ds.save_as(paths[-1])
    info = _upload(client, *paths, names=[f"study/{path.name}" for path in paths]).json()
    assert info["dicom"] is True
    answer = client.post(f"/api/volumes/{info['id']}/export", json={"k": 3, "what": "dicom-seg"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/dicom"
    assert 'filename="study_seg.dcm"' in answer.headers["content-disposition"]
    seg = highdicom.seg.Segmentation.from_dataset(pydicom.dcmread(io.BytesIO(answer.content)))
    assert seg.get_segment_numbers() == [1, 2, 3]
    nifti = _upload(client, scan_file).json()
    assert nifti["dicom"] is False
    refused = client.post(f"/api/volumes/{nifti['id']}/export",
                          json={"k": 3, "what": "dicom-seg"})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == "head: a DICOM SEG is made over a DICOM upload"


def test_only_the_most_recent_scans_are_kept(client, scan_file):
    from kmseg.serve._store import SCANS_KEPT

    ids = [_upload(client, scan_file).json()["id"] for _ in range(SCANS_KEPT + 1)]
    assert client.get(f"/api/volumes/{ids[0]}").status_code == 404
    assert all(client.get(f"/api/volumes/{i}").status_code == 200 for i in ids[1:])


def test_nan_voxels_are_left_out_and_no_temporary_path_is_said(client, tmp_path):
    data = np.arange(6 * 7 * 8, dtype=np.float32).reshape(6, 7, 8)
    data[0, 0, 0] = np.nan
    path = tmp_path / "nan.nii.gz"
    nibabel.save(nibabel.Nifti1Image(data, np.eye(4)), path)
    info = _upload(client, path).json()
    answer = client.post(f"/api/volumes/{info['id']}/segment", json={"k": 3})
    assert answer.status_code == 200, answer.text
    assert sum(c["voxels"] for c in answer.json()["classes"]) == data.size - 1
    refused = client.post(f"/api/volumes/{info['id']}/segment", json={"k": 3, "window": "1,0"})
    assert refused.status_code == 422 and "kmseg-serve" not in refused.text
    flat = np.zeros((6, 7, 8), np.int16)
    nibabel.save(nibabel.Nifti1Image(flat, np.eye(4)), tmp_path / "flat.nii.gz")
    zeros = _upload(client, tmp_path / "flat.nii.gz").json()
    empty = client.post(f"/api/volumes/{zeros['id']}/segment", json={"k": 2, "nonzero": True})
    assert empty.status_code == 422
    assert "the mask is empty" in empty.json()["detail"][0]["msg"]
    assert "kmseg-serve" not in empty.text
