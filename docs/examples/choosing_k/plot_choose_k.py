"""
Choosing k: scores for every candidate, and a recommendation
============================================================

:func:`kmseg.choose_k` clusters the image once per candidate k and scores each clustering:
its compactness (the k-means objective, SSE), the PSNR and mean CIEDE2000 difference of the
painted image against the photo, and three validity indices computed on a fixed sample of
pixels (silhouette, Calinski-Harabasz, Davies-Bouldin). It recommends the knee of the
compactness curve, and says when the silhouette prefers another k.
"""

import matplotlib.pyplot as plt

import kmseg

path = kmseg.data.sample_path()
choice = kmseg.choose_k(path, ks=range(2, 11))
print(choice.table())
print(choice.reason)

# %%
# The figure ``kmseg choose-k`` writes: the curves, with the recommended k marked, above a
# strip of the photo painted with a few of the candidates.
fig = kmseg.plot.choose_k(choice, path, width=10)   # a Figure: fig.savefig("choose_k.png")

# %%
# The same scores by hand: the compactness curve with its knee, and the silhouette.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
ax1.plot(choice.ks, choice.compactness, "o-")
ax1.axvline(choice.knee, color="tab:red", linestyle="--", label=f"knee, k = {choice.knee}")
ax1.set_xlabel("k")
ax1.set_ylabel("compactness (SSE)")
ax1.legend()
ax2.plot(choice.ks, choice.silhouette, "o-", color="tab:green")
ax2.axvline(choice.best_silhouette, color="tab:red", linestyle="--")
ax2.set_xlabel("k")
ax2.set_ylabel("silhouette (higher is better)")

# %%
# A quality target instead: the smallest k whose painted image reaches a PSNR of 28 dB
# (``min_psnr``), or whose mean CIEDE2000 error is at most a bound (``max_error``). The same
# targets are parameters of :func:`kmseg.choose_k`; :func:`kmseg.segment` with ``k="auto"``
# tries k = 2..16 (the table above stops at 27.5 dB for k = 10).
seg = kmseg.segment(path, k="auto", min_psnr=28)
print("segment(k='auto', min_psnr=28) ->", seg.k, "clusters")
fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
ax.imshow(seg.segmented())
ax.set_title(f"k = {seg.k}: the smallest k with PSNR >= 28 dB")
ax.set_axis_off()
plt.show()
