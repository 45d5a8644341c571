"""Rasters segmented in strips: the same answer as the whole image, written as tiled BigTIFF."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

import kmseg
from kmseg import ImageReadError, KMeansSegmenter, ParameterError
from kmseg._chunked import segment_chunked
from kmseg.cli import main


def photo(shape: tuple[int, int]) -> np.ndarray:
    """The sample photo resized: real colours, many distinct values."""
    return np.asarray(Image.open(kmseg.data.sample_path()).resize(shape[::-1]))


@pytest.fixture
def tiled(tmp_path):
    pixels = photo((700, 900))
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, pixels, tile=(128, 128), photometric="rgb")
    return path, pixels


@pytest.mark.parametrize("layout", ["tiles", "strips"])
def test_strips_give_the_whole_image_labels(tmp_path, layout):
    pixels = photo((700, 900))
    path = tmp_path / "big.tif"
    if layout == "tiles":
        tifffile.imwrite(path, pixels, tile=(128, 128), photometric="rgb")
    else:
        tifffile.imwrite(path, pixels, rowsperstrip=50, photometric="rgb")
    # ~100 k pixels a strip: 6 strips of 128 rows, or 7 of 100 (2 TIFF strips each).
    result = segment_chunked(path, tmp_path / "out", model=KMeansSegmenter(k=6),
                             strip_pixels=100_000)
    assert result.n_strips == (6 if layout == "tiles" else 7)
    whole = kmseg.segment(pixels, k=6)
    with tifffile.TiffFile(result.files["labels"]) as labels:
        assert labels.is_bigtiff and labels.pages[0].is_tiled
        np.testing.assert_array_equal(labels.asarray(), whole.labels)
    np.testing.assert_array_equal(tifffile.imread(result.files["segmented"]), whole.segmented())
    report = json.loads(result.files["json"].read_text())
    assert report["sizes"] == whole.sizes.tolist()
    assert report["compactness"] == pytest.approx(whole.compactness, rel=1e-12)
    assert report["files"] == {"labels": "big_labels.tif", "segmented": "big_segmented.tif",
                               "json": "big.json"}


def test_bands_nodata_and_uint16(tmp_path, rng):
    # Values that repeat (a histogram, as for the whole image); strips of 64 rows.
    bands = (rng.integers(0, 30, size=(600, 410, 4)) * 100).astype(np.uint16)
    bands[:, :200] += 20_000  # two kinds of land
    bands[:40] = 0  # a nodata collar
    path = tmp_path / "scene.tif"
    tifffile.imwrite(path, bands, tile=(64, 64), photometric="minisblack",
                     planarconfig="contig", extratags=[(42113, 2, 2, "0", True)])
    result = segment_chunked(path, tmp_path / "out", model=KMeansSegmenter(k=3),
                             bands=(4, 2), strip_pixels=30_000)
    assert result.n_strips == 10
    mask = ~(bands == 0).all(axis=-1)
    whole = kmseg.segment(np.ascontiguousarray(bands[..., [3, 1]]), k=3, mask=mask)
    labels = tifffile.imread(result.files["labels"])
    np.testing.assert_array_equal(labels, whole.labels)
    assert (labels[:40] == 255).all()
    with tifffile.TiffFile(result.files["labels"]) as tif:
        assert tif.pages[0].tags.valueof(42113) == "255"  # GDAL nodata = masked label


def test_a_saved_palette_labels_every_strip_alike(tiled, tmp_path):
    path, pixels = tiled
    palette = KMeansSegmenter(k=5).fit(photo((200, 300)))
    result = segment_chunked(path, tmp_path / "out", model=palette, refit=False,
                             strip_pixels=100_000)
    assert result.n_strips == 6
    np.testing.assert_array_equal(tifffile.imread(result.files["labels"]),
                                  palette.predict(pixels))
    assert "histogram" not in result.timings


def test_geotiff_strips_keep_the_georeferencing(tmp_path, rng):
    rasterio = pytest.importorskip("rasterio", reason="rasterio (the test extra) reads GeoTIFFs")
    from affine import Affine

    transform = Affine(30.0, 0.0, 300_000.0, 0.0, -30.0, 4_600_000.0)
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=300, height=200, count=3,
                       dtype="uint8", crs="EPSG:32618", transform=transform, nodata=0,
                       tiled=True, blockxsize=64, blockysize=64) as dataset:
        data = rng.integers(1, 256, size=(3, 200, 300), dtype=np.uint8)
        data[:, :, :20] = 0
        dataset.write(data)
    result = segment_chunked(path, tmp_path / "out", model=KMeansSegmenter(k=4),
                             strip_pixels=20_000)
    for role in ("labels", "segmented"):
        with rasterio.open(result.files[role]) as written:
            assert written.crs == rasterio.crs.CRS.from_epsg(32618)
            assert written.transform == transform
    with rasterio.open(result.files["labels"]) as labels:
        assert labels.nodata == 255 and (labels.read(1)[:, :20] == 255).all()


def test_what_cannot_be_read_in_strips_is_one_clear_error(tmp_path, tiled):
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(photo((60, 80))).save(jpeg)
    with pytest.raises(ImageReadError, match=r"photo\.jpg: only TIFF"):
        segment_chunked(jpeg, tmp_path / "out", model=KMeansSegmenter(k=3))
    planar = tmp_path / "planar.tif"
    tifffile.imwrite(planar, np.zeros((3, 40, 50), np.uint8), photometric="rgb",
                     planarconfig="separate")
    with pytest.raises(ImageReadError, match=r"planar\.tif: this TIFF cannot be read in strips"):
        segment_chunked(planar, tmp_path / "out", model=KMeansSegmenter(k=3))
    with pytest.raises(ParameterError, match="colour features only"):
        segment_chunked(tiled[0], tmp_path / "out", model=KMeansSegmenter(k=3, position=1.0))


def test_cli_chunked_and_automatic_above_the_threshold(tiled, tmp_path, capsys, monkeypatch):
    path, pixels = tiled
    before = path.read_bytes()
    assert main(["segment", str(path), "-k", "4", "--chunked", "-o", str(tmp_path / "a")]) == 0
    assert "strips" in capsys.readouterr().out
    expected = kmseg.segment(pixels, k=4).labels
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a" / "big_labels.tif"), expected)
    from kmseg import _chunked

    monkeypatch.setattr(_chunked, "CHUNKED_FROM", 1000)  # every TIFF is "large" now
    assert main(["segment", str(path), "-k", "4", "-o", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "big_labels.tif").is_file()
    assert not (tmp_path / "b" / "big_labels.png").exists()
    assert path.read_bytes() == before  # the input is only read
    code = main(["segment", str(path), "-k", "4", "--chunked", "--masks", "-o",
                 str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2 and "--masks cannot be used" in err and len(err.strip().splitlines()) == 1
