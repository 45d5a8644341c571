"""
A merge hierarchy: regions at every scale
=========================================

:func:`kmseg.regions.hierarchy` over-segments the image into watershed superpixels of the
Lab gradient, then merges them, most similar neighbours first (border strength plus the
chi-squared distance of their soft-binned Lab histograms, small regions sooner; a border's
strength is its colour gradient plus its two sides' distance in the spectral embedding of the
superpixel graph). Each boundary keeps the
level at which its two sides joined: the result is an ultrametric contour map (UCM), the
BSDS convention, of shape ``(2H+1, 2W+1)`` with levels in ``[0, 1)``.
:func:`kmseg.regions.cut` thresholds it at any level; the cuts of a higher level are unions of
those of a lower one; without a level it uses the one fitted on BSDS500's training photos.
``kmseg segment photo.jpg --hierarchy`` writes the map as a 16-bit PNG.
"""

import matplotlib.pyplot as plt
import numpy as np

import kmseg

image = kmseg.read_image(kmseg.data.sample_path())
ucm = kmseg.regions.hierarchy(image)
print("image", image.shape[:2], "-> UCM", ucm.shape, f"levels {ucm.min():.2f}..{ucm.max():.2f}")

# %%
# The UCM itself: the darker a boundary, the later (higher) its two sides merge.
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
shown = ax.imshow(ucm, cmap="gray_r")
fig.colorbar(shown, ax=ax, label="merge level")
ax.set_axis_off()

# %%
# Cuts at three levels (the middle one the default), each region painted with its mean colour:
# fewer, larger regions as the level rises.
levels = (0.3, None, 0.7)
fig, axes = plt.subplots(1, 3, figsize=(12, 3), layout="constrained")
for ax, level in zip(axes, levels, strict=True):
    regions = kmseg.regions.cut(ucm) if level is None else kmseg.regions.cut(ucm, level)
    flat = regions.ravel()
    counts = np.bincount(flat)
    means = np.stack([np.bincount(flat, weights=image[..., c].ravel()) for c in range(3)], 1)
    means = means / np.maximum(counts, 1)[:, None]
    painted = means[regions].astype(np.uint8)
    painted[kmseg.regions.boundaries(regions)] = (255, 255, 0)
    ax.imshow(painted)
    ax.set_title(f"level {level or 'default'}: {int(regions.max())} regions")
    ax.set_axis_off()

# %%
# The number of regions as a function of the level: one hierarchy, every scale.
grid = np.linspace(0.05, 0.95, 19)
counts = [int(kmseg.regions.cut(ucm, level).max()) for level in grid]
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.plot(grid, counts, "o-")
ax.set_yscale("log")
ax.set_xlabel("level")
ax.set_ylabel("regions")
plt.show()
