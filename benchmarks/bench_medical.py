"""Medical volumes (issue 18, item 8): Dice against the reference segmentations, and time.

Cases (``../shared/data/med``, see its SOURCES.md):

brain_fast
    Skull-stripped T1 (``bet.nii.gz``), k = 3 inside the brain (voxels > 0), CSF / GM / WM
    against FSL FAST's hard labels (argmax of CSF = 1 - GM - WM, ``pve_1``, ``pve_2``).
brats (3 cases)
    FLAIR, k = 4 inside ``brainmask.nii.gz``; the brightest cluster against the whole tumour
    (``OTMultiClass > 0``).
ct
    ``example_ct_sm.nii.gz`` (HU), k = 4 inside the body (HU > -500); the clusters whose mean
    lies in the fat range (-190..-30 HU) against subcutaneous + torso fat. And the 20-slice
    DICOM series (JPEG 2000) read and clustered with the soft-tissue window (time only).

Methods: ``kmseg.volume.segment_volume`` (the exact 1-D optimum of one channel), the same with
``tissue=True`` (``--tissue``: N4 of positive MR intensities, then the Potts prior), and ANTs
Atropos (k-means initialisation + MRF, ``antspyx``), alone and after ANTs' N4, when it is
installed (n/a otherwise; N4 on the brain only: the BraTS FLAIR are z-scored, with no
multiplicative field to fit). Times are wall seconds of one run after an untimed warm-up of kmseg,
including reading the files. antspyx pins an older NumPy than kmseg's: run it from a venv of
its own (``pip install antspyx SimpleITK`` then ``pip install .`` there).

Usage, from the repository root::

    .venv/bin/python benchmarks/bench_medical.py [--med ../shared/data/med]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import nibabel
import numpy as np

from kmseg.volume import read_volume, segment_volume

ROOT = Path(__file__).resolve().parents[1]
FAT_HU = (-190.0, -30.0)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def voxels(path: Path) -> np.ndarray:
    return np.asanyarray(nibabel.load(path).dataobj)


def brain_case(med: Path) -> tuple[str, dict, list[str]]:
    folder = med / "brain_fast"
    scan = folder / "bet.nii.gz"
    brain = voxels(scan) > 0
    gm, wm = voxels(folder / "pve_1.nii.gz"), voxels(folder / "pve_2.nii.gz")
    reference = np.argmax(np.stack([1 - gm - wm, gm, wm]), axis=0) + 1
    reference[~brain] = 0

    def score(labels: np.ndarray) -> list[float]:
        return [dice(labels == c, reference == c) for c in (1, 2, 3)]

    return "brain_fast (k=3: CSF / GM / WM vs FAST)", {
        "kmseg": lambda: score(segment_volume(scan, 3, mask=brain).labels),
        "kmseg --tissue": lambda: score(segment_volume(scan, 3, mask=brain, tissue=True).labels),
        "Atropos": lambda: score(atropos(scan, brain, 3)),
        "Atropos + N4": lambda: score(atropos(scan, brain, 3, n4=True)),
    }, ["CSF", "GM", "WM"]


def brats_case(med: Path, name: str) -> tuple[str, dict, list[str]]:
    folder = med / "brats" / name
    scan, mask = folder / "Flair_subtrMeanDivStd.nii.gz", folder / "brainmask.nii.gz"
    tumour = voxels(folder / "OTMultiClass.nii.gz") > 0

    def score(labels: np.ndarray) -> list[float]:
        return [dice(labels == 4, tumour)]

    return f"{name} (FLAIR k=4: brightest vs whole tumour)", {
        "kmseg": lambda: score(segment_volume(scan, 4, mask=mask).labels),
        "kmseg --tissue": lambda: score(segment_volume(scan, 4, mask=mask, tissue=True).labels),
        "Atropos": lambda: score(atropos(scan, voxels(mask) > 0, 4)),
    }, ["tumour"]


def ct_case(med: Path) -> tuple[str, dict, list[str]]:
    folder = med / "ct"
    scan = folder / "example_ct_sm.nii.gz"
    body = voxels(scan) > -500
    fat = (voxels(folder / "tissue_types" / "subcutaneous_fat.nii.gz") > 0) | \
        (voxels(folder / "tissue_types" / "torso_fat.nii.gz") > 0)

    def score_kmseg() -> list[float]:
        seg = segment_volume(scan, 4, mask=body)
        fat_classes = [c.label for c in seg.classes if FAT_HU[0] <= c.mean[0] <= FAT_HU[1]]
        return [dice(np.isin(seg.labels, fat_classes), fat)]

    def series() -> list[float]:
        volume = read_volume(folder / "dicom")
        segment_volume(volume, 4, window="soft-tissue")
        return [float(volume.data.shape[2])]

    return "ct (k=4 in the body: fat-range clusters vs fat)", {
        "kmseg": score_kmseg, "Atropos": None, "DICOM series (slices)": series,
    }, ["fat"]


def atropos(scan: Path, mask: np.ndarray, k: int, n4: bool = False) -> np.ndarray:
    """ANTs Atropos with k-means initialisation (antspyx), labels 1..k by intensity; with
    ``n4``, after ANTs' N4 bias-field correction inside the mask (as ANTs' own pipelines)."""
    import ants

    image = ants.image_read(str(scan))
    mask_image = ants.from_numpy(mask.astype(np.float32), origin=image.origin,
                                 spacing=image.spacing, direction=image.direction)
    if n4:
        image = ants.n4_bias_field_correction(image, mask=mask_image)
    result = ants.atropos(a=image, x=mask_image, i=f"kmeans[{k}]", m="[0.2,1x1x1]", c="[5,0]")
    return result["segmentation"].numpy().astype(np.int64)


def timed(run) -> tuple[list[float] | None, float | None, str]:
    if run is None:
        return None, None, "n/a"
    try:
        start = time.perf_counter()
        scores = run()
        return scores, time.perf_counter() - start, ""
    except ImportError as error:
        return None, None, f"n/a ({error.name} not installed)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--med", type=Path, default=ROOT.parent / "shared" / "data" / "med")
    args = parser.parse_args()
    cases = [brain_case(args.med)] + [brats_case(args.med, p.name)
                                     for p in sorted((args.med / "brats").iterdir())] \
        + [ct_case(args.med)]
    segment_volume(np.arange(64.0).reshape(4, 4, 4), 2)  # warm-up: imports
    print("| case | method | Dice | s |")
    print("|---|---|---|---|")
    for title, methods, classes in cases:
        for method, run in methods.items():
            scores, seconds, note = timed(run)
            if scores is None:
                print(f"| {title} | {method} | {note} | |")
                continue
            if method.startswith("DICOM"):
                print(f"| {title} | {method} | {scores[0]:.0f} slices | {seconds:.2f} |")
                continue
            shown = " / ".join(f"{name} {s:.3f}" for name, s in zip(classes, scores,
                                                                     strict=True))
            print(f"| {title} | {method} | {shown} | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
