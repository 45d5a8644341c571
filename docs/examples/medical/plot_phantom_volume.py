"""
A scan's voxels clustered as one population, with volumes in mL
===============================================================

Medical k-means tutorials threshold one slice of a scan at a time, from a screenshot. kmseg
takes the scan itself (a NIfTI ``.nii``/``.nii.gz``, a FreeSurfer ``.mgz``, a DICOM file or
series, or an array with its voxel spacing) and clusters every voxel inside a mask at once:
one channel gets the exact 1-D optimum of the k-means objective, labels come back on the
scan's grid ordered by intensity (1..k, 0 outside the mask), and each class's volume in mL.

This example needs no data: it makes a synthetic head phantom with numpy, segments it as an
array, then writes it as NIfTI (nibabel), segments the file as ``kmseg segment scan.nii.gz``
would, and reads the label volume back.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel
import numpy as np

import kmseg

# %%
# The phantom: 96 x 96 x 40 voxels of 1 x 1 x 2.5 mm, int16 like an MR or CT scan. An
# ellipsoidal "head" of dark tissue (CSF-like, 300) holding a brighter shell (grey-matter-like,
# 600) around a bright core (white-matter-like, 900), and a small very bright "lesion" (1300).
# Gaussian noise makes the classes overlap a little, as real intensities do.
shape, spacing = (96, 96, 40), (1.0, 1.0, 2.5)
i, j, k = np.meshgrid(*(np.arange(n) - n / 2 + 0.5 for n in shape), indexing="ij")
radius = np.sqrt((i / 40) ** 2 + (j / 34) ** 2 + (k / 17) ** 2)
rng = np.random.default_rng(0)
scan = np.zeros(shape, np.float64)
scan[radius < 1.0] = 300
scan[radius < 0.85] = 600
scan[radius < 0.6] = 900
scan[(i - 10) ** 2 + (j + 8) ** 2 + ((k - 3) * 2.5) ** 2 < 8 ** 2] = 1300
scan = np.round(scan + rng.normal(0, 60, shape) * (radius < 1.0)).astype(np.int16)
head = radius < 1.0                                     # the mask: voxels to cluster

# %%
# Four classes inside the head. The exact optimum on one channel: no attempts, no seed.
seg = kmseg.volume.segment_volume(scan, k=4, mask=head, spacing=spacing)
print(seg.algorithm, "centres:", np.round(seg.centers.ravel()).astype(int))
for stats in seg.classes:
    print(f"class {stats.label}: {stats.voxels:6d} voxels, {stats.volume_ml:6.1f} mL, "
          f"mean {stats.mean[0]:6.1f}, sd {stats.std[0]:5.1f}")

# %%
# Middle axial slice through the lesion: the scan, its classes, and the lesion class alone.
z = 23
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
axes[0].imshow(scan[:, :, z].T, cmap="gray", origin="lower")
axes[0].set_title(f"phantom, slice {z}")
classes = axes[1].imshow(seg.labels[:, :, z].T, cmap="viridis", origin="lower",
                         interpolation="nearest")
fig.colorbar(classes, ax=axes[1], ticks=range(5), label="class (0: outside)")
axes[1].set_title("4 classes")
axes[2].imshow(scan[:, :, z].T, cmap="gray", origin="lower")
axes[2].imshow(np.ma.masked_equal(seg.mask(4)[:, :, z].T, False), cmap="autumn",
               origin="lower", alpha=0.8)
axes[2].set_title(f"class 4: {seg.volumes_ml[4]:.1f} mL")
for ax in axes:
    ax.set_axis_off()

# %%
# The intensity histogram inside the mask, with the class boundaries the optimum found.
fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
ax.hist(scan[head], bins=200, color="0.5")
for stats in seg.classes:
    ax.axvline(stats.mean[0], color="tab:blue")
bounds = (seg.centers.ravel()[1:] + seg.centers.ravel()[:-1]) / 2
for bound in bounds:
    ax.axvline(bound, color="tab:red", linestyle="--")
ax.set_xlabel("intensity (class means in blue, boundaries dashed)")
ax.set_ylabel("voxels")

# %%
# The same from a NIfTI file: the geometry comes from its affine, and ``save`` writes
# ``<stem>_labels.nii.gz`` on the scan's grid (plus the JSON report), which any viewer overlays
# on the scan. nibabel reads it back.
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "phantom.nii.gz"
    nibabel.save(nibabel.Nifti1Image(scan, np.diag([*spacing, 1.0])), path)
    nibabel.save(nibabel.Nifti1Image(head.astype(np.uint8), np.diag([*spacing, 1.0])),
                 Path(tmp) / "head.nii.gz")
    from_file = kmseg.volume.segment_volume(path, k=4, mask=Path(tmp) / "head.nii.gz")
    from_file.save(Path(tmp) / "out")
    labels_file = Path(tmp) / "out" / "phantom_labels.nii.gz"
    back = nibabel.load(labels_file)
    print("written:", sorted(p.name for p in (Path(tmp) / "out").iterdir()))
    print("labels read back equal:", np.array_equal(np.asarray(back.dataobj), seg.labels),
          "; voxel sizes:", back.header.get_zooms())
plt.show()
