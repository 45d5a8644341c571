"""Multi-band GeoTIFFs: band selection, nodata left out, georeferencing kept in the outputs.

rasterio (GDAL) is the independent reader here: kmseg itself reads and writes with tifffile.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kmseg
from kmseg import ParameterError

rasterio = pytest.importorskip("rasterio", reason="rasterio (the test extra) reads GeoTIFFs")
from affine import Affine  # noqa: E402

MULTIBAND = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus" / "multiband"
CRS = "EPSG:32614"
TRANSFORM = Affine(5.0, 0.0, 500_000.0, 0.0, -5.0, 5_300_000.0)  # 5 m pixels, north up


@pytest.fixture
def geotiff(tmp_path, rng) -> tuple[Path, np.ndarray]:
    """A 4-band uint8 GeoTIFF (R, G, B, NIR) written by rasterio, with a nodata (0) collar."""
    bands = np.clip(rng.normal(120, 40, size=(4, 60, 80)), 1, 255).astype(np.uint8)
    bands[:, :, 60:] = rng.integers(1, 60, size=(4, 60, 20))  # a darker field on the right
    bands[:, :6, :] = 0  # nodata in every band: left out
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=80, height=60, count=4, dtype="uint8",
                       crs=CRS, transform=TRANSFORM, nodata=0) as dataset:
        dataset.write(bands)
    return path, np.moveaxis(bands, 0, -1)


def test_bands_are_chosen_by_number_and_nodata_is_left_out(geotiff):
    path, pixels = geotiff
    loaded = kmseg.load_image(path, bands=(4, 1, 2))
    np.testing.assert_array_equal(loaded.pixels, pixels[..., [3, 0, 1]])
    np.testing.assert_array_equal(loaded.mask, ~(pixels == 0).all(axis=-1))
    assert loaded.georef is not None and loaded.georef.nodata == 0
    seg = kmseg.segment(path, k=3, bands=(4, 1, 2))
    expected = kmseg.segment(pixels[..., [3, 0, 1]], k=3, mask=loaded.mask)
    np.testing.assert_array_equal(seg.labels, expected.labels)
    assert (seg.labels[:6] == seg.masked_label).all()


def test_outputs_keep_the_crs_transform_and_nodata(geotiff, tmp_path):
    path, _ = geotiff
    seg = kmseg.segment(path, k=3)
    written = seg.save(tmp_path / "out")
    assert written["labels"].suffix == ".tif" and written["segmented"].suffix == ".tif"
    with rasterio.open(written["labels"]) as labels:
        assert labels.crs == rasterio.crs.CRS.from_string(CRS)
        assert labels.transform == TRANSFORM
        assert labels.nodata == seg.masked_label
        np.testing.assert_array_equal(labels.read(1), seg.labels)
    with rasterio.open(written["segmented"]) as painted:
        assert painted.crs == labels.crs and painted.transform == TRANSFORM
        np.testing.assert_array_equal(np.moveaxis(painted.read(), 0, -1)[..., :4],
                                      seg.segmented()[..., :4])


def test_a_file_without_georeferencing_keeps_png_outputs(tmp_path, rng):
    import tifffile

    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8),
                     photometric="rgb")
    seg = kmseg.segment(path, k=2)
    assert seg.georef is None
    assert seg.save(tmp_path / "out")["labels"].suffix == ".png"


@pytest.mark.parametrize("bands", [(5,), (0, 1), "1,2", ()])
def test_bad_bands_are_one_clear_error(geotiff, bands):
    path, _ = geotiff
    with pytest.raises(ParameterError, match="band"):
        kmseg.load_image(path, bands=bands)


def test_a_band_the_raster_has_not_is_a_parameter_error_in_strips_too(geotiff):
    """Read in strips (--chunked), a band past the last is the option's fault, not the file's."""
    from kmseg.io import raster_rows, raster_strips

    path, _ = geotiff
    with pytest.raises(ParameterError, match="band 5 asked for, but the image has 4 band"):
        next(raster_strips(path, rows=8, bands=(5,)))
    with pytest.raises(ParameterError, match="band 5 asked for"):
        raster_rows(path, top=0, rows=8, bands=(5,))


def test_bands_of_an_array_are_refused(rng):
    with pytest.raises(ParameterError, match="bands selects bands of a file"):
        kmseg.segment(rng.integers(0, 256, size=(8, 8, 4), dtype=np.uint8), k=2, bands=(1, 2))


def test_cli_bands_and_errors(geotiff, tmp_path):
    path, _ = geotiff
    run = [sys.executable, "-m", "kmseg", "segment", str(path), "-k", "3", "-o",
           str(tmp_path / "cli")]
    done = subprocess.run([*run, "--bands", "4,1,2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with rasterio.open(tmp_path / "cli" / "scene_labels.tif") as labels:
        assert labels.transform == TRANSFORM
    for bad in ("9", "0,1", "a"):
        done = subprocess.run([*run, "--bands", bad], capture_output=True, text=True)
        assert done.returncode == 2 and "band" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not MULTIBAND.is_dir(), reason="../shared/data/corpus/multiband is absent")
@pytest.mark.parametrize("name", ["landsat7_RGB.byte.tif", "landsat8_rgb16.tif",
                                  "naip_rgbn_m_4709963_se_14_1_20200831.tif"])
def test_corpus_rasters_round_trip(name, tmp_path):
    source = MULTIBAND / name
    seg = kmseg.segment(source, k=4)
    written = seg.save(tmp_path)
    with rasterio.open(source) as original, rasterio.open(written["labels"]) as labels:
        assert labels.crs == original.crs and labels.transform == original.transform
        assert labels.shape == original.shape
        clustered = labels.read(1) != seg.masked_label
        if original.nodata is not None:  # pixels nodata in every band are left out
            np.testing.assert_array_equal(
                clustered, ~(original.read() == original.nodata).all(axis=0))
