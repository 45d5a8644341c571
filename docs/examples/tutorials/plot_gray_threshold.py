"""
A gray threshold with k = 2, and isolating a region of interest
===============================================================

Medical-imaging tutorials cluster a gray image into two classes to separate an object from its
background, then keep one class as a mask. On one feature (gray values) kmseg finds the exact
optimum of the k-means objective by dynamic programming over the gray levels, so the k = 2
threshold is the best one, not a local optimum (the JSON report says
``"algorithm": "optimal-1d"``).
"""

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import kmseg

path = kmseg.data.sample_path()
gray = np.asarray(Image.open(path).convert("L"))     # (M, N) uint8
seg = kmseg.segment(gray, k=2)
print(seg.algorithm, "centres:", seg.centers.ravel())

# %%
# Label 0 is the darker centre; label 1 the brighter. The threshold is halfway between them.
mask = seg.labels == 1
threshold = seg.centers.ravel().mean()
print(f"threshold {threshold:.1f}: {mask.mean():.1%} of the pixels are brighter")

# %%
# The gray histogram with both centres and the threshold, the image, and the mask.
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), layout="constrained")
axes[0].hist(gray.ravel(), bins=256, range=(0, 256), color="0.4")
for centre in seg.centers.ravel():
    axes[0].axvline(centre, color="tab:blue")
axes[0].axvline(threshold, color="tab:red", linestyle="--", label="threshold")
axes[0].set_xlabel("gray level")
axes[0].set_ylabel("pixels")
axes[0].legend()
axes[1].imshow(gray, cmap="gray")
axes[1].set_title("gray image")
axes[2].imshow(mask, cmap="gray")
axes[2].set_title("label 1 (k = 2)")
for ax in axes[1:]:
    ax.set_axis_off()

# %%
# A region of interest inside a mask: cluster only the pixels of the bright class again, in
# colour this time (``mask=``: the other pixels are left out and keep the masked label), and cut
# one cluster out as an RGBA image, transparent elsewhere.
colour = kmseg.read_image(path)
inner = kmseg.segment(colour, k=3, mask=mask)
print("masked label:", inner.masked_label, "; sizes:", inner.sizes)
roi = inner.cutout(2)                                  # (M, N, 4) uint8
fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
axes[0].imshow(inner.segmented())
axes[0].set_title("k = 3 inside the mask")
axes[1].imshow(roi)
axes[1].set_title("cluster 2 cut out")
for ax in axes:
    ax.set_axis_off()
plt.show()
