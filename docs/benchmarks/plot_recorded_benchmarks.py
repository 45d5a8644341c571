"""
Recorded benchmark figures, plotted
===================================

Every number on this page is read from the markdown tables of ``benchmarks/README.md`` as the
documentation is built; nothing is measured here. Each section names the script and command
that produced its table; the README gives the date, the machine (2 cores), the versions and
how each figure is taken. Timings on that virtual machine vary by 10-30 % from run to run.
"""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

# %%
# The README, found from the folder the example runs in (``docs/benchmarks``), and a reader
# for the first markdown table after a heading (and, optionally, after a line starting with
# some text, such as ``Cold,``), as rows of cells keyed by the header.
readme = next(parent / "benchmarks" / "README.md" for parent in Path.cwd().resolve().parents
              if (parent / "benchmarks" / "README.md").exists())
lines = readme.read_text(encoding="utf-8").splitlines()


def table(heading, after=None):
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("#") and line.lstrip("#").strip().startswith(heading))
    if after is not None:
        start = next(i for i in range(start, len(lines)) if lines[i].startswith(after))
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    rows = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("*") for cell in line.strip("|").split("|")])
    header, body = rows[0], rows[2:]
    return [dict(zip(header, row, strict=False)) for row in body]


def number(cell):
    return float(re.match(r"[-\d.,]+", cell).group().replace(",", ""))


def short(photo):
    return photo.split("_")[0].split(".")[0]


# %%
# Warm time on large photos, k = 8, one thread each
# -------------------------------------------------
# ``bench_engine.py``: the in-process call on 14-21 MP photos against Pillow's FASTOCTREE
# quantizer and scikit-learn ``KMeans(n_init=10)`` on the weighted distinct colours (its time
# excludes building that histogram). Command: ``.venv/bin/python benchmarks/bench_engine.py
# --bsds 10 --repeat 3 --cold-python /tmp/plainvenv/bin/python``.
warm = [row for row in table("large: large photos", after="Warm")
        if not row["photo"].startswith("median")]
names = [short(row["photo"]) for row in warm]
methods = {"kmseg": "kmseg s (k=8)", "Pillow FASTOCTREE": "FASTOCTREE s",
           "scikit-learn n_init=10": "sklearn n_init=10 s"}
x = np.arange(len(names))
fig, ax = plt.subplots(figsize=(9, 3.5), layout="constrained")
for n, (label, column) in enumerate(methods.items()):
    ax.bar(x + (n - 1) * 0.27, [number(row[column]) for row in warm], 0.27, label=label)
ax.set_xticks(x, names)
ax.set_ylabel("seconds (warm, one thread)")
ax.set_title("large photos, k = 8 (recorded, benchmarks/README.md)")
ax.legend()

# %%
# Cold whole-process time against the tutorial's cv2 script
# ---------------------------------------------------------
# The same run: ``kmseg segment photo -k 4`` from start to exit against the tutorials' six-line
# ``cv2.kmeans`` script, on BSDS photos (0.15 MP) and on the large photos.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
for ax, heading in zip(axes, ("small: BSDS500 val", "large: large photos"), strict=True):
    cold = [row for row in table(heading, after="Cold") if not row["photo"].startswith("median")]
    x = np.arange(len(cold))
    ax.bar(x - 0.2, [number(row["kmseg s"]) for row in cold], 0.4, label="kmseg segment")
    ax.bar(x + 0.2, [number(row["cv2 s"]) for row in cold], 0.4, label="cv2.kmeans script")
    ax.set_xticks(x, [short(row["photo"]) for row in cold], rotation=20)
    ax.set_ylabel("seconds, whole process")
    ax.set_title(heading.split(":")[0] + " photos, cold, k = 4")
    ax.legend()

# %%
# Segmentation quality on BSDS500
# -------------------------------
# ``bsds.py`` on all 100 BSDS500 val photos: Probabilistic Rand Index (higher is better) and
# Variation of Information in bits (lower is better) against the human segmentations.
# Command: ``python benchmarks/bsds.py``.
bsds = table("BSDS500 val, all 100 photos")
labels = [row["method"].replace(" (clusters as segments)", "").replace("`", "")
          for row in bsds]
y = np.arange(len(bsds))
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True, layout="constrained")
colours = ["tab:orange" if "regions preset" in label else
           "tab:gray" if label.startswith(("seed", "scikit")) else "tab:blue" for label in labels]
axes[0].barh(y, [number(row["PRI"]) for row in bsds], color=colours)
axes[0].set_xlim(0.5, 0.8)
axes[0].set_xlabel("PRI (higher is better)")
axes[1].barh(y, [number(row["VoI (bits)"]) for row in bsds], color=colours)
axes[1].set_xlabel("VoI, bits (lower is better)")
axes[0].set_yticks(y, [label if len(label) < 60 else label[:57] + "..." for label in labels],
                   fontsize=7)
axes[0].invert_yaxis()
fig.suptitle("BSDS500 val, 100 photos (recorded); kmseg regions preset in orange, "
             "the seed recipe and scikit-image in gray", fontsize=9)

# %%
# Medical volumes: Dice against reference segmentations
# -----------------------------------------------------
# ``bench_medical.py``: plain k-means (the exact 1-D optimum), the ``--tissue`` preset and ANTs
# Atropos on a brain MR scan (CSF / grey / white matter against FSL FAST) and three BraTS
# FLAIR scans (the brightest class against the whole tumour), and a CT (fat). Command:
# ``.venv/bin/python benchmarks/bench_medical.py`` (Atropos from a venv of its own, see the
# README).
medical = table("Medical volumes")
cases, scores = [], {}
for row in medical:
    for part in re.findall(r"([A-Za-z]+) (\d\.\d+)", row["Dice"]):
        scan = row["case"].split()[0]
        name = re.sub(r"brats_\d+_pat0*(\d+)_\d", r"BraTS \1", scan).replace("_fast", "")
        case = f"{'CT' if name == 'ct' else name} {part[0]}"
        if case not in cases:
            cases.append(case)
        scores.setdefault(row["method"], {})[case] = float(part[1])
x = np.arange(len(cases))
fig, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
for n, (method, by_case) in enumerate(scores.items()):
    ax.bar(x + (n - 1.5) * 0.2, [by_case.get(case, np.nan) for case in cases], 0.2,
           label=method)
ax.set_xticks(x, cases, rotation=20)
ax.set_ylim(0.7, 1.0)
ax.set_ylabel("Dice")
ax.legend(ncol=4, fontsize=8)
ax.set_title("medical volumes (recorded)")
plt.show()
