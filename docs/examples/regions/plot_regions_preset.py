"""
Regions, not just colour clusters
=================================

Pixel-colour k-means gives clusters: one label scattered over the image, speckle, and two
objects of one colour merged. ``regions=True`` (``kmseg segment --regions``) gives coherent
regions instead: the photo's merge hierarchy (:func:`kmseg.regions.hierarchy`) cut at the level
fitted on BSDS500, ``region_level=0.48``, then k-means of the regions' mean Lab colours (k = 8)
paints each region with its cluster's colour. Without ``region_level``, regions are the
connected patches of one label
(``min_region``); each step is also a function of :mod:`kmseg.regions`, for any label map.
"""

import matplotlib.pyplot as plt
import numpy as np

import kmseg

path = kmseg.data.sample_path()
plain = kmseg.segment(path, k=8, space="lab")
seg = kmseg.segment(path, regions=True)
print(f"regions preset: {seg.n_regions} regions, k = {seg.k}")

# %%
# Plain Lab k-means beside the preset: the preset's labels are cleaned (each region has one
# label) and its boundaries follow the objects' edges.
fig, axes = plt.subplots(1, 3, figsize=(12, 3), layout="constrained")
axes[0].imshow(plain.segmented())
axes[0].set_title("pixel k-means, Lab, k = 8")
axes[1].imshow(seg.segmented())
axes[1].set_title("regions preset: labels")
axes[2].imshow(seg.boundaries())
axes[2].set_title(f"{seg.n_regions} regions, boundaries")
for ax in axes:
    ax.set_axis_off()

# %%
# The region table: area, centroid, bounding box, mean colour and cluster label of each region
# (:class:`kmseg.regions.RegionTable`; ``as_records()`` gives JSON-ready rows). The five
# largest regions:
table = seg.region_table()
for i in np.argsort(table.area)[::-1][:5]:
    print(f"region {table.id[i]:2d}: {table.area[i]:6d} px, label {table.label[i]}, "
          f"centroid {np.round(table.centroid[i]).astype(int).tolist()}, "
          f"mean colour {np.round(table.mean_color[i]).astype(int).tolist()}")

# %%
# The pieces, on the plain clustering: :func:`kmseg.regions.connected_regions` numbers the
# connected patches of equal label (plain k-means leaves thousands, most of a few pixels);
# :func:`kmseg.regions.clean_labels` merges the patches under 1 % of the image into the
# neighbour of the nearest centre and gives the labels to match.
patches = kmseg.regions.connected_regions(plain.labels)
cleaned, regions = kmseg.regions.clean_labels(plain.labels, plain.feature_centers, 0.01)
print("connected patches:", int(patches.max()), "-> regions after merging:", int(regions.max()))

sizes = np.bincount(patches.ravel())[1:]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), layout="constrained")
axes[0].hist(sizes, bins=np.logspace(0, np.log10(sizes.max() + 1), 30), color="0.4")
axes[0].set_xscale("log")
axes[0].set_yscale("log")
axes[0].set_xlabel("patch size (pixels)")
axes[0].set_ylabel("patches")
axes[0].set_title(f"plain k-means: {int(patches.max())} patches")
overlay = plain.colors[cleaned]                           # (M, N, 3) uint8
overlay[kmseg.regions.boundaries(regions)] = (255, 255, 0)   # region edges in yellow
axes[1].imshow(overlay)
axes[1].set_title(f"clean_labels(min_region=0.01): {int(regions.max())} regions")
axes[1].set_axis_off()
plt.show()
