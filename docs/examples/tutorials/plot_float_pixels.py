"""
Float images and pixel arrays, as in scikit-learn's tutorials
=============================================================

scikit-learn's colour-quantisation example divides the photo by 255 to get floats in
``[0, 1]``, flattens it into an ``(N, 3)`` array of pixels and fits ``KMeans`` on it. kmseg
takes both forms: a float image gives the same labels as the uint8 one it came from, and a
pixel list is clustered with ``channel_axis=1``, its labels coming back as ``(N,)``.
:class:`kmseg.KMeansSegmenter` is a scikit-learn estimator, with ``fit``, ``predict``,
``fit_predict``, ``get_params`` and ``set_params``.
"""

import matplotlib.pyplot as plt
import numpy as np

import kmseg

image = kmseg.read_image(kmseg.data.sample_path())   # (M, N, 3) uint8

# %%
# Floats in ``[0, 1]``: exactly ``uint8 / 255``, so they are counted through their 8-bit
# codes and give the uint8 image's labels; the centres come back in the float's units.
seg_uint8 = kmseg.segment(image, k=4)
seg_float = kmseg.segment(image / 255.0, k=4)
print("same labels:", np.array_equal(seg_uint8.labels, seg_float.labels))
print("centres in [0, 1]:\n", np.round(seg_float.centers, 3))

# %%
# A list of pixels, ``(N, 3)``, as the tutorials reshape the image. Say which axis holds the
# channels (``channel_axis=1``); the labels are one per row and reshape back to the image.
pixels = image.reshape(-1, 3)
labels = kmseg.segment(pixels, k=4, channel_axis=1).labels
rebuilt = labels.reshape(image.shape[:2])
print(pixels.shape, "->", labels.shape, "; same as the image's:",
      np.array_equal(rebuilt, seg_uint8.labels))

# %%
# The scikit-learn way: an estimator fitted on the pixels, then asked for labels.
model = kmseg.KMeansSegmenter(k=4, seed=0)
pixel_labels = model.fit_predict(pixels, channel_axis=1)
print(model)
print("cluster_centers_:", np.round(model.cluster_centers_, 1).tolist())

# %%
# The colour distribution: each pixel as a point in RGB space, in its cluster's colour, with
# the centres as large edged dots and one histogram per channel. This is the scatter plot the
# tutorials draw by hand.
fig = kmseg.plot.colors(seg_float, width=10)   # a Figure: fig.savefig("colors.png")

# %%
# And the quantised image rebuilt from the pixel list's labels and the model's centres, as the
# tutorials do with ``centers[labels]``.
quantised = model.cluster_centers_[pixel_labels].reshape(image.shape).astype(np.uint8)
fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
axes[0].imshow(image)
axes[0].set_title("original")
axes[1].imshow(quantised)
axes[1].set_title("centres[labels], k = 4")
for ax in axes:
    ax.set_axis_off()
plt.show()
