"""
One palette for several images
==============================

:meth:`kmseg.KMeansSegmenter.fit` on a list of images adds up their colour histograms (one
pass each) and runs k-means once: one set of centres for all of them. :meth:`~kmseg.
KMeansSegmenter.predict` then labels any image by nearest centre, so a colour gets the same
label in every image — what ``kmseg batch --shared-palette`` and ``--palette FILE`` do for
folders of photos.
"""

import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import kmseg

photo = kmseg.read_image(kmseg.data.sample_path())   # (400, 600, 3) uint8

# %%
# Three "photos" made from the sample: its left and right halves, and a darker, warmer copy
# of the whole, as a second shot of the same scene under other light would be.
left, right = photo[:, :300], photo[:, 300:]
darker = np.clip(photo * [0.8, 0.7, 0.6], 0, 255).astype(np.uint8)

# %%
# Fit on the two halves, in CIE L*a*b* (perceptual distances; centres still reported in
# RGB), then predict all three.
model = kmseg.KMeansSegmenter(k=6, space="lab").fit([left, right])
# ``cluster_centers_`` are in feature units (here L*a*b*); ``centers_`` in the images' units.
centres = model.centers_
print("palette (RGB):", np.round(centres).astype(int).tolist())
labels = [model.predict(image) for image in (left, right, darker)]

# %%
# Each image painted with the shared palette: the same colour, the same label. The darker
# copy falls onto the darker centres of the palette fitted on the originals.
fig, axes = plt.subplots(2, 3, figsize=(11, 5), layout="constrained")
for col, (name, image, lab) in enumerate(zip(("left half", "right half", "darker copy"),
                                             (left, right, darker), labels, strict=True)):
    axes[0, col].imshow(image)
    axes[0, col].set_title(name)
    axes[1, col].imshow(np.round(centres[lab]).astype(np.uint8))
    axes[1, col].set_title("shared palette, k = 6")
for ax in axes.ravel():
    ax.set_axis_off()

# %%
# Share of each image's pixels per palette colour: one bar chart, one colour per centre.
shares = np.array([np.bincount(lab.ravel(), minlength=6) / lab.size for lab in labels])
fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
bottom = np.zeros(3)
for i, colour in enumerate(centres / 255):
    ax.barh(["left", "right", "darker"], shares[:, i], left=bottom, color=colour,
            edgecolor="black", linewidth=0.5)
    bottom += shares[:, i]
ax.set_xlabel("share of the image's pixels")
ax.set_xlim(0, 1)

# %%
# A palette is saved as JSON and loaded back (``kmseg segment --save-palette`` /
# ``--palette`` on the command line); the loaded model labels images exactly as the original.
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "palette.json"
    model.save(path)
    print(json.loads(path.read_text()).keys())
    loaded = kmseg.KMeansSegmenter.load(path)
    print("same labels after loading:", np.array_equal(loaded.predict(darker), labels[2]))
plt.show()
