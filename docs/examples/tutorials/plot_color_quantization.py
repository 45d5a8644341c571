"""
Colour quantisation, as in OpenCV's ``cv2.kmeans`` tutorial
===========================================================

OpenCV's tutorial reshapes a photo into an ``(N, 3)`` float32 array, calls
``cv2.kmeans(Z, K, None, criteria, 10, cv2.KMEANS_RANDOM_CENTERS)``, then paints each pixel
with its centre, for ``K = 4``, 6 and 10 side by side. With kmseg the whole recipe is one call
per k: :func:`kmseg.segment` takes the image as it is and returns a
:class:`~kmseg.Segmentation` with the labels, the centres and the painted image.
"""

import matplotlib.pyplot as plt

import kmseg

# %%
# The bundled sample photo (a 400 x 600 RGB JPEG), read as an ``(M, N, 3)`` uint8 array.
image = kmseg.read_image(kmseg.data.sample_path())
print(image.shape, image.dtype)

# %%
# One segmentation per k. The defaults are at least as compact as OpenCV's usual call (greedy
# k-means++ seeding, 10 attempts, run until labels stop changing), and ``seed=0`` makes the
# result the same bit for bit on every run.
segs = {k: kmseg.segment(image, k=k) for k in (4, 6, 10)}
for k, seg in segs.items():
    print(f"k = {k:2d}: compactness {seg.compactness:.4g}, {seg.n_iter} iterations,",
          "palette", " ".join(seg.hex_colors))

# %%
# ``seg.segmented()`` is the quantised image: every pixel painted with its cluster's centre,
# in the input's dtype — what the tutorial builds with ``center[label.flatten()]``.
fig, axes = plt.subplots(1, 4, figsize=(12, 2.8), layout="constrained")
axes[0].imshow(image)
axes[0].set_title("original")
for ax, (k, seg) in zip(axes[1:], segs.items(), strict=True):
    ax.imshow(seg.segmented())
    ax.set_title(f"k = {k}")
for ax in axes:
    ax.set_axis_off()

# %%
# :func:`kmseg.plot.sweep` draws the same comparison in one call (this is also what
# ``kmseg sweep photo.jpg -k 4,6,10`` writes).
fig = kmseg.plot.sweep(image, ks=(4, 6, 10), width=9)   # a Figure: fig.savefig("sweep.png")
plt.show()
