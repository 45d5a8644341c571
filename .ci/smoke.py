"""Every kmseg command once, and the README's Python blocks, on a plain install (no extras).

Run by .ci/plain-install with the plain venv's python, in an empty temporary folder. Commands
of an extra (serve, zarr, Dask) must refuse in one line that names what to install. Exits 1
with the failures listed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import kmseg
from readme_blocks import blocks

KMSEG = str(Path(sys.executable).with_name("kmseg"))
failures: list[str] = []


def run(*args: str, expect: int = 0, says: str | None = None, files: tuple[str, ...] = ()):
    result = subprocess.run([KMSEG, *args], capture_output=True, text=True, timeout=600)
    problem = None
    if result.returncode != expect:
        problem = f"exit {result.returncode}, expected {expect}"
    elif "Traceback" in result.stderr:
        problem = "a traceback"
    elif says and says not in result.stdout + result.stderr:
        problem = f"no {says!r} in its output"
    elif missing := [name for name in files if not Path(name).exists()]:
        problem = f"did not write {missing}"
    status = "ok  " if problem is None else "FAIL"
    print(f"{status} kmseg {' '.join(args)}" + ("" if problem is None else f": {problem}"))
    if problem:
        print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
        failures.append(f"kmseg {' '.join(args)}: {problem}")


def main() -> int:
    sample = kmseg.data.sample_path()
    shutil.copy(sample, "photo.jpg")
    Path("photos").mkdir()
    shutil.copy(sample, "photos/a.jpg")
    shutil.copy(sample, "photos/b.jpg")
    from PIL import Image

    frames = [Image.open(sample).rotate(angle) for angle in (0, 5, 10)]
    frames[0].save("clip.gif", save_all=True, append_images=frames[1:], duration=100)
    frames[0].save("photo.tif")
    import pillow_heif  # a dependency: it writes HEIC too

    pillow_heif.register_heif_opener()
    frames[0].save("photo.heic")
    shutil.copy("photo.tif", "camera.nef")  # a RAW name: rawpy (the 'raw' extra) is asked for

    run("--version", says=kmseg.__version__)
    for command in ("segment", "sweep", "colors", "choose-k", "batch", "video", "evaluate",
                    "serve", "demo"):
        run(command, "--help", says="usage:")
    run("segment", "photo.jpg", "-k", "4", "-o", "out", "--compare", "--masks",
        files=("out/photo_labels.png", "out/photo_compare.png", "out/photo_cutout_0.png"))
    run("segment", "photo.jpg", "--regions", "-o", "regions",
        files=("regions/photo_regions.png",))
    run("segment", "photo.jpg", "-k", "4", "--region-level", "0.6", "-o", "coarse",
        files=("coarse/photo_regions.png", "coarse/photo_boundaries.png"))
    run("segment", "photo.jpg", "-k", "auto", "-o", "auto", files=("auto/photo.json",))
    run("segment", "photo.heic", "-k", "4", "-o", "heic", files=("heic/photo_labels.png",))
    run("segment", "photo.jpg", "-k", "2", "--space", "gray", "-o", "gray",
        files=("gray/photo_labels.png",))
    run("sweep", "photo.jpg", "-k", "4,6,10", "-o", "figs", files=("figs/photo_sweep.png",))
    run("colors", "photo.jpg", "-o", "figs", files=("figs/photo_colors.png",))
    run("choose-k", "photo.jpg", "-k", "2..6", "-o", "figs", says="recommended",
        files=("figs/photo_choose_k.png",))
    run("batch", "photos", "-o", "batch", "-k", "3", "--no-progress",
        files=("batch/a_labels.png", "batch/b_labels.png"))
    run("video", "clip.gif", "-o", "video", "-k", "4", files=("video/clip.json",))
    Path("truth").mkdir()
    if Path("regions/photo_regions.png").exists():
        shutil.copy("regions/photo_regions.png", "truth/photo.png")
    run("evaluate", "out", "--ground-truth", "truth", says="PRI")
    run("demo", "-o", "demo", files=("demo/coffee_compare.png",))
    run("segment", "photo.tif", "-k", "4", "--chunked", "-o", "chunked",
        files=("chunked/photo_labels.tif", "chunked/photo_segmented.tif"))
    # Extras: one line naming what to install, exit 2.
    run("serve", expect=2, says="pip install")
    run("segment", "photo.tif", "--chunked", "--zarr", "-o", "zarr", expect=2,
        says="pip install")
    run("batch", "photos", "-o", "dask", "--scheduler", "local", expect=2, says="pip install")
    run("segment", "camera.nef", "-o", "raw", expect=2, says="pip install rawpy")
    # Scans: a NIfTI volume (nibabel is a dependency) and the shared DICOM series when present.
    import nibabel
    import numpy as np

    volume = np.zeros((24, 20, 12), np.int16)
    volume[6:18, 5:15, 3:9] = 400
    nibabel.save(nibabel.Nifti1Image(volume, np.diag([0.8, 0.8, 2.0, 1.0])), "scan.nii.gz")
    run("segment", "scan.nii.gz", "-k", "2", "-o", "scan",
        files=("scan/scan_labels.nii.gz", "scan/scan.json"), says="mL by class")
    nibabel.save(nibabel.Nifti1Image(volume + 100, np.eye(4)), "mr.nii.gz")  # positive: N4
    run("segment", "mr.nii.gz", "-k", "2", "--tissue", "-o", "mr", expect=2,
        says="pip install '.[med]'")
    series = Path(__file__).resolve().parents[2] / "shared" / "data" / "med" / "ct" / "dicom"
    if series.is_dir():  # JPEG 2000 slices, decoded by the plain install's Pillow
        run("segment", str(series), "-k", "4", "--window", "soft-tissue", "-o", "ct",
            files=("ct/dicom_labels.nii.gz",))
        run("segment", str(series), "-k", "4", "--dicom-seg", "-o", "ct_seg", expect=2,
            says="pip install '.[med]'")

    for number, code in enumerate(blocks("python"), 1):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=600)
        ok = result.returncode == 0
        print(f"{'ok  ' if ok else 'FAIL'} README python block {number}")
        if not ok:
            print(result.stderr[-3000:])
            failures.append(f"README python block {number}")
    print(f"{len(failures)} failed" if failures else "plain install: every command works")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
