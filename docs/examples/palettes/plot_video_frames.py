"""
One palette for every frame of a clip: no flicker
=================================================

Clustering each frame of a video on its own gives each frame its own centres: a wall whose
colour does not change can still change label (and painted colour) from one frame to the next,
and the clip flickers. Fitting one palette on all the frames and labelling every frame by its
nearest centre gives a pixel whose colour does not change the same label in every frame.
``kmseg video`` does this for animated GIFs / WebPs, folders of frames and video files; in
Python it is :meth:`kmseg.KMeansSegmenter.fit` on the frames, then ``predict`` on each.
"""

import subprocess
import sys
import tempfile
from itertools import pairwise
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import kmseg

# %%
# A short clip made from the sample photo: the camera pans to the right, eight frames of
# 320 x 400 pixels, 20 columns apart.
photo = kmseg.read_image(kmseg.data.sample_path())
frames = [photo[40:360, 20 * i:20 * i + 400] for i in range(8)]

# %%
# One palette fitted on every frame (their colour histograms added up, k-means run once), then
# each frame labelled. Beside it, the per-frame recipe: ``segment`` on each frame alone.
model = kmseg.KMeansSegmenter(k=6).fit(frames)
shared = [model.predict(frame) for frame in frames]
alone = [kmseg.segment(frame, k=6) for frame in frames]

# %%
# Pixels seen in two consecutive frames (the pan moves them 20 columns to the left): how many
# changed label although their colour did not change at all?
def relabelled(labels):
    return [float(np.mean(a[:, 20:] != b[:, :-20])) for a, b in pairwise(labels)]


flicker_shared = relabelled(shared)
flicker_alone = relabelled([seg.labels for seg in alone])
print("share of pixels relabelled, shared palette:", np.round(flicker_shared, 3))
print("share of pixels relabelled, frame by frame:", np.round(flicker_alone, 3))

fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
steps = np.arange(1, len(frames))
ax.plot(steps, flicker_shared, "o-", label="one palette (fit on all frames)")
ax.plot(steps, flicker_alone, "s-", label="each frame clustered alone")
ax.set_xlabel("frame")
ax.set_ylabel("pixels relabelled since last frame")
ax.legend()

# %%
# Frames 0, 3 and 7 painted both ways: with one palette the colours stay put.
fig, axes = plt.subplots(2, 3, figsize=(10, 5.2), layout="constrained")
for col, i in enumerate((0, 3, 7)):
    axes[0, col].imshow(np.round(model.centers_[shared[i]]).astype(np.uint8))
    axes[0, col].set_title(f"frame {i}, one palette")
    axes[1, col].imshow(alone[i].segmented())
    axes[1, col].set_title(f"frame {i}, alone")
for ax in axes.ravel():
    ax.set_axis_off()

# %%
# The same on the command line: an animated GIF in, a folder of labelled and painted frames,
# an animated GIF and a JSON report (palette, per-frame compactness) out.
with tempfile.TemporaryDirectory() as tmp:
    clip = Path(tmp) / "clip.gif"
    Image.fromarray(frames[0]).save(clip, save_all=True,
                                    append_images=[Image.fromarray(f) for f in frames[1:]])
    command = [sys.executable, "-m", "kmseg", "video", str(clip), "-k", "6",
               "-o", str(Path(tmp) / "out")]
    print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    print(sorted(p.name for p in (Path(tmp) / "out").iterdir())[:5], "...")
plt.show()
