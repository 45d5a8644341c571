"""
Rasters larger than memory: strips, a process pool, Dask
========================================================

A whole-slide scan, a satellite scene or a gigapixel mosaic does not fit in memory.
:func:`kmseg.segment_chunked` (``kmseg segment big.tif --chunked``) reads a TIFF strip by
strip, adds up the strips' colour histograms, fits one palette on that exact histogram, then
labels every strip and writes the outputs tile by tile. A colour gets the same label in every
strip — the labels equal those of segmenting the whole image at once — and memory follows the
strip, not the raster. With ``output="zarr"`` the strips are tasks on a process pool or a Dask
cluster (``scheduler="local"`` starts a ``LocalCluster``; ``"tcp://host:8786"`` uses yours),
each worker reading its own rows and writing its own zarr chunks.

The raster here is small (a 2 400 x 3 000 mosaic of the sample photo, 7.2 MP) so the example
runs in seconds; the strips are made small to match (0.5 MP each).
"""

import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import tifffile
import zarr

import kmseg

workdir = tempfile.TemporaryDirectory()                    # removed at exit
tmp = Path(workdir.name)
photo = kmseg.read_image(kmseg.data.sample_path())            # (400, 600, 3)
mosaic = np.concatenate([np.concatenate([np.rot90(photo, 2 * ((r + c) % 2)) for c in range(5)],
                                        axis=1) for r in range(6)], axis=0)
big = tmp / "mosaic.tif"
tifffile.imwrite(big, mosaic, rowsperstrip=64)                # a striped TIFF, as scanners write
print(mosaic.shape, f"{mosaic.shape[0] * mosaic.shape[1] / 1e6:.1f} MP")

# %%
# Strip by strip, to tiled BigTIFFs. ``model`` carries the parameters (colour features only)
# and is fitted on the summed histogram.
result = kmseg.segment_chunked(big, tmp / "tiff", model=kmseg.KMeansSegmenter(k=6),
                               strip_pixels=500_000)
print(f"{result.n_strips} strips; files:", {role: p.name for role, p in result.files.items()})
print("timings (s):", {step: round(t, 2) for step, t in result.timings.items()})
labels = tifffile.imread(result.files["labels"])
painted = tifffile.imread(result.files["segmented"])

# %%
# The same labels as segmenting the whole mosaic in memory, bit for bit.
whole = kmseg.segment(mosaic, k=6)
print("labels equal to the in-memory result:", np.array_equal(labels, whole.labels))

# %%
# On a Dask cluster: a ``LocalCluster`` of two worker processes, zarr outputs written by the
# workers. Dask starts its workers as new Python processes, which import the script that
# started them: as with :mod:`multiprocessing`, the code that starts a cluster goes under
# ``if __name__ == "__main__"`` so that they do not start clusters of their own.
if __name__ == "__main__":
    dask_result = kmseg.segment_chunked(big, tmp / "dask", model=kmseg.KMeansSegmenter(k=6),
                                        strip_pixels=500_000, output="zarr",
                                        scheduler="local", workers=2)
    zarr_labels = zarr.open_array(dask_result.files["labels"], mode="r")
    print("zarr:", zarr_labels.shape, zarr_labels.dtype, "chunks", zarr_labels.chunks)
    print("Dask labels equal to the BigTIFF path's:", np.array_equal(zarr_labels[:], labels))
    report = json.loads(dask_result.files["json"].read_text())
    print("JSON report keys:", sorted(report)[:8], "...")

# %%
# The raster, its labels with the strip boundaries marked, and the cluster sizes.
rows = max(1, 500_000 // mosaic.shape[1])
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
axes[0].imshow(mosaic[::4, ::4])
axes[0].set_title("7.2 MP mosaic (shown at 1/4)")
axes[1].imshow(painted[::4, ::4])
for edge in range(rows, mosaic.shape[0], rows):
    axes[1].axhline(edge / 4, color="yellow", linewidth=0.6)
axes[1].set_title(f"painted, {result.n_strips} strips of {rows} rows")
for ax in axes[:2]:
    ax.set_axis_off()
colours = whole.colors / 255
axes[2].bar(range(6), result.sizes / result.sizes.sum(), color=colours, edgecolor="black")
axes[2].set_xlabel("cluster")
axes[2].set_ylabel("share of pixels")
plt.show()
