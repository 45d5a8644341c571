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


def test_report_gives_the_space_fitted(tiled, tmp_path):
    path, _ = tiled
    result = segment_chunked(path, tmp_path / "out", model=KMeansSegmenter(k=4, space="auto"),
                             strip_pixels=100_000)
    report = json.loads(result.files["json"].read_text())
    assert report["space"] == report["params"]["space"] == "lab"


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
    # Regions need the whole image: refused, not left out of the outputs.
    for params in ({"position": 1.0}, {"min_region": 0.01}, {"region_level": 0.5}):
        with pytest.raises(ParameterError, match="colour features only"):
            segment_chunked(tiled[0], tmp_path / "out", model=KMeansSegmenter(k=3, **params))


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


@pytest.mark.parametrize("layout", ["tiles", "strips", "gray"])
def test_rows_read_at_random_are_those_of_the_strips(tmp_path, layout):
    from kmseg.io import raster_rows, raster_strips

    pixels = photo((300, 410))
    path = tmp_path / "r.tif"
    if layout == "tiles":
        tifffile.imwrite(path, pixels, tile=(64, 64), photometric="rgb")
    elif layout == "strips":
        tifffile.imwrite(path, pixels, rowsperstrip=37, photometric="rgb")
    else:
        pixels = pixels[..., 1].copy()
        tifffile.imwrite(path, pixels, rowsperstrip=10, extratags=[(42113, 2, 2, "7", True)])
    for top, strip in raster_strips(path, rows=128):
        rows = raster_rows(path, top=top, rows=len(strip.pixels))
        np.testing.assert_array_equal(rows.pixels, strip.pixels)
        np.testing.assert_array_equal(rows.mask, strip.mask)
    middle = raster_rows(path, top=100, rows=90)  # across segment boundaries
    np.testing.assert_array_equal(middle.pixels, pixels[100:190])
    if layout == "gray":
        np.testing.assert_array_equal(middle.mask, pixels[100:190] != 7)


def read_zarr(path):
    zarr = pytest.importorskip("zarr", reason="zarr outputs need the dask extra")
    return zarr.open_array(path, mode="r")


@pytest.mark.parametrize("scheduler", [None, "local"])
def test_zarr_outputs_hold_the_tiff_outputs(tmp_path, rng, scheduler):
    pytest.importorskip("zarr", reason="zarr outputs need the dask extra")
    if scheduler:
        pytest.importorskip("distributed", reason="Dask needs the dask extra")
    bands = (rng.integers(0, 30, size=(600, 410, 4)) * 100).astype(np.uint16)
    bands[:, :200] += 20_000
    bands[:40] = 0  # nodata
    path = tmp_path / "scene.tif"
    tifffile.imwrite(path, bands, tile=(64, 64), photometric="minisblack",
                     planarconfig="contig", extratags=[(42113, 2, 2, "0", True)])
    options = {"bands": (4, 2), "strip_pixels": 60_000}
    tiff = segment_chunked(path, tmp_path / "tiff", model=KMeansSegmenter(k=3), **options)
    result = segment_chunked(path, tmp_path / "zarr", model=KMeansSegmenter(k=3),
                             output="zarr", scheduler=scheduler, workers=2, **options)
    assert result.n_strips == 3  # 60 000 pixels: 146 rows, but strips are whole chunk rows
    labels = read_zarr(result.files["labels"])
    assert labels.chunks == (256, 256) and labels.attrs["nodata"] == 255
    np.testing.assert_array_equal(labels[:], tifffile.imread(tiff.files["labels"]))
    np.testing.assert_array_equal(read_zarr(result.files["segmented"])[:],
                                  tifffile.imread(tiff.files["segmented"]))
    report = json.loads(result.files["json"].read_text())
    assert report["sizes"] == tiff.sizes.tolist() and report["sizes"] == json.loads(
        tiff.files["json"].read_text())["sizes"]
    assert report["files"]["labels"] == "scene_labels.zarr"
    # Again over the same folder: the arrays are replaced whole, no temporary left behind.
    assert 2 in labels[:]
    segment_chunked(path, tmp_path / "zarr", model=KMeansSegmenter(k=2), output="zarr",
                    **options)
    assert set(np.unique(read_zarr(result.files["labels"])[:]).tolist()) == {0, 1, 255}
    assert sorted(p.name for p in (tmp_path / "zarr").iterdir()) == [
        "scene.json", "scene_labels.zarr", "scene_segmented.zarr"]


def test_zarr_of_a_raster_of_many_16_bit_values(tmp_path, rng):
    """Many distinct 16-bit values pool into float bins: the palette is still the raster's
    dtype's, and the zarr outputs are the TIFF outputs."""
    pytest.importorskip("zarr", reason="zarr outputs need the dask extra")
    path = tmp_path / "wide.tif"
    tifffile.imwrite(path, rng.integers(0, 60_000, size=(300, 410, 3)).astype(np.uint16),
                     tile=(64, 64), photometric="rgb")
    tiff = segment_chunked(path, tmp_path / "tiff", model=KMeansSegmenter(k=3),
                           strip_pixels=60_000)
    result = segment_chunked(path, tmp_path / "zarr", model=KMeansSegmenter(k=3),
                             output="zarr", workers=1, strip_pixels=60_000)
    np.testing.assert_array_equal(read_zarr(result.files["labels"])[:],
                                  tifffile.imread(tiff.files["labels"]))


def test_zarr_gray_raster_is_painted_in_two_dimensions(tmp_path):
    pytest.importorskip("zarr", reason="zarr outputs need the dask extra")
    gray = photo((300, 260))[..., 0].copy()
    path = tmp_path / "gray.tif"
    tifffile.imwrite(path, gray, tile=(64, 64))
    tiff = segment_chunked(path, tmp_path / "tiff", model=KMeansSegmenter(k=3),
                           strip_pixels=30_000)
    result = segment_chunked(path, tmp_path / "zarr", model=KMeansSegmenter(k=3),
                             output="zarr", workers=1, strip_pixels=30_000)
    painted = read_zarr(result.files["segmented"])
    assert painted.shape == gray.shape
    np.testing.assert_array_equal(painted[:], tifffile.imread(tiff.files["segmented"]))


def test_zarr_keeps_the_geotiff_tags_and_refuses_dask_without_it(tmp_path, tiled):
    pytest.importorskip("zarr", reason="zarr outputs need the dask extra")
    path, _ = tiled
    with pytest.raises(ParameterError, match="on Dask the outputs are zarr"):
        segment_chunked(path, tmp_path / "out", model=KMeansSegmenter(k=3), scheduler="local")
    with pytest.raises(ParameterError, match="output must be"):
        segment_chunked(path, tmp_path / "out", model=KMeansSegmenter(k=3), output="png")
    geo = tmp_path / "geo.tif"
    tags = [(33550, 12, 3, (30.0, 30.0, 0.0), True),
            (33922, 12, 6, (0.0, 0.0, 0.0, 300_000.0, 4_600_000.0, 0.0), True),
            (34735, 3, 8, (1, 1, 0, 1, 3072, 0, 1, 32618), True)]
    tifffile.imwrite(geo, photo((100, 120)), photometric="rgb", extratags=tags)
    result = segment_chunked(geo, tmp_path / "geo", model=KMeansSegmenter(k=3), output="zarr",
                             workers=1)
    written = read_zarr(result.files["labels"]).attrs["geotiff_tags"]
    assert [tag[0] for tag in written] == [33550, 33922, 34735]
    assert written[2][3] == [1, 1, 0, 1, 3072, 0, 1, 32618]


def test_cli_zarr_and_its_flags_only_with_strips(tiled, tmp_path, capsys):
    pytest.importorskip("zarr", reason="zarr outputs need the dask extra")
    path, pixels = tiled
    assert main(["segment", str(path), "-k", "4", "--chunked", "--zarr", "--workers", "2",
                 "-o", str(tmp_path / "z")]) == 0
    np.testing.assert_array_equal(read_zarr(tmp_path / "z" / "big_labels.zarr")[:],
                                  kmseg.segment(pixels, k=4).labels)
    small = tmp_path / "small.png"
    Image.fromarray(photo((40, 50))).save(small)
    code = main(["segment", str(small), "-k", "3", "--zarr", "-o", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and "add --chunked" in err and len(err.strip().splitlines()) == 1


def test_a_strip_task_is_named_by_its_rows():
    from kmseg._chunked import _strip_name

    assert _strip_name(("big.tif", 256, 256, None, "model")) == "big.tif, rows 256-511"


def test_pixel_limit_and_errors_name_the_raster(tmp_path):
    path = tmp_path / "flat.tif"
    tifffile.imwrite(path, np.zeros((300, 200), np.uint8), tile=(64, 64))
    with pytest.raises(ImageReadError, match=r"flat\.tif: 200x300 = 60,000 pixels exceeds"):
        segment_chunked(path, tmp_path / "out", model=KMeansSegmenter(k=2), max_pixels=1000)
    with pytest.raises(ParameterError, match=r"flat\.tif: k=2 exceeds the 1 distinct"):
        segment_chunked(path, tmp_path / "out", model=KMeansSegmenter(k=2))
