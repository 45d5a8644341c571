"""Scores of a segmentation against human ones: Probabilistic Rand Index, Variation of
Information, Global Consistency Error, as the BSDS500 benchmark computes them.

A segmentation is an ``(M, N)`` integer array of segment ids (any values: a segment is the set
of pixels sharing one value, connected or not). Against several ground truths (BSDS500 has 4-9
human segmentations per photo) each score is the mean over them: that mean of Rand indices is
the Probabilistic Rand Index of Unnikrishnan et al. (2007). Everything is computed from the
contingency table of two label maps, so a score costs one sort of the pixels.

- Rand index: the share of pixel pairs on which two segmentations agree (same segment in both,
  or different in both); higher is better, 1 is identical.
- Variation of Information (Meila, 2005) in bits (log base 2, as the BSDS benchmark):
  ``H(A | B) + H(B | A)``; lower is better, 0 is identical.
- Global Consistency Error (Martin et al., 2001): the share of pixels whose segment in one map
  is not a subset of its segment in the other, refinement allowed in one direction for the
  whole image; lower is better.

Examples
--------
>>> import numpy as np
>>> from kmseg import metrics
>>> a = np.array([[0, 0, 1, 1]])
>>> metrics.rand_index(a, np.array([[5, 5, 5, 7]]))
0.5
>>> metrics.variation_of_information(a, a + 3)
0.0
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._errors import ImageReadError, ParameterError, with_source

__all__ = [
    "FolderScores",
    "Scores",
    "evaluate",
    "evaluate_folder",
    "global_consistency_error",
    "probabilistic_rand_index",
    "rand_index",
    "read_ground_truth",
    "segmentation_covering",
    "variation_of_information",
]

LabelMaps = np.ndarray | Sequence[np.ndarray]

# Label files a segmentation folder may hold for a photo ``<stem>``, in order of preference:
# ``kmseg segment --regions`` writes the first, plain ``kmseg segment`` the second.
SEGMENTATION_SUFFIXES = ("_regions.png", "_regions.tif", "_labels.png", "_labels.tif", ".png",
                         ".tif")
_LABEL_FILES = (".png", ".tif", ".tiff")


class _Table(NamedTuple):
    """Non-zero cells of the contingency table of two label maps, and its margins."""

    cells: np.ndarray  # (c,) float64 pixel counts of the non-empty (a, b) pairs
    row_of_cell: np.ndarray  # (c,) index into rows
    col_of_cell: np.ndarray  # (c,) index into cols
    rows: np.ndarray  # (na,) pixels per segment of a
    cols: np.ndarray  # (nb,) pixels per segment of b


def _table(a: np.ndarray, b: np.ndarray) -> _Table:
    _, a_ids = np.unique(a.ravel(), return_inverse=True)
    _, b_ids = np.unique(b.ravel(), return_inverse=True)
    n_b = int(b_ids.max()) + 1
    pairs, cells = np.unique(a_ids.astype(np.int64) * n_b + b_ids, return_counts=True)
    row_of_cell, col_of_cell = np.divmod(pairs, n_b)
    cells = cells.astype(np.float64)
    rows = np.bincount(row_of_cell, weights=cells)
    cols = np.bincount(col_of_cell, weights=cells, minlength=n_b)
    return _Table(cells, row_of_cell, col_of_cell, rows, cols)


def _pair(a: np.ndarray, b: np.ndarray) -> _Table:
    a, b = np.asarray(a), np.asarray(b)
    for name, labels in (("segmentation", a), ("ground truth", b)):
        if labels.dtype.kind not in "uib" and not (
            labels.dtype.kind == "f" and np.all(np.isfinite(labels))
        ):
            raise ParameterError(f"{name} must be an array of segment ids, got {labels.dtype}")
    if a.shape != b.shape or a.size == 0:
        raise ParameterError(
            f"segmentation shape {a.shape} does not match ground truth shape {b.shape}"
            if a.size and b.size else "empty label map"
        )
    return _table(a, b)


def _rand(t: _Table) -> float:
    n = t.rows.sum()
    if n < 2:
        return 1.0
    disagreements = 0.5 * (t.rows @ t.rows + t.cols @ t.cols) - t.cells @ t.cells
    return float(1.0 - disagreements / (0.5 * n * (n - 1)))


def _voi(t: _Table) -> float:
    p = t.cells / t.rows.sum()
    # H(A | B) + H(B | A) = -sum p_ab (log p_ab / p_b + log p_ab / p_a)
    pa = t.rows[t.row_of_cell] / t.rows.sum()
    pb = t.cols[t.col_of_cell] / t.rows.sum()
    return float(max(0.0, -(p @ (np.log2(p / pb) + np.log2(p / pa)))))


def _gce(t: _Table) -> float:
    missed_a = t.cells @ (1.0 - t.cells / t.rows[t.row_of_cell])
    missed_b = t.cells @ (1.0 - t.cells / t.cols[t.col_of_cell])
    return float(min(missed_a, missed_b) / t.rows.sum())


def _covering(t: _Table) -> float:
    """How well ``a`` covers ``b``: each segment of ``b`` weighted by its size, with its best
    overlap (intersection over union) with a segment of ``a`` (Arbelaez et al., 2011)."""
    overlap = t.cells / (t.rows[t.row_of_cell] + t.cols[t.col_of_cell] - t.cells)
    best = np.zeros(len(t.cols))
    np.maximum.at(best, t.col_of_cell, overlap)
    return float(t.cols @ best / t.rows.sum())


def rand_index(segmentation: np.ndarray, ground_truth: np.ndarray) -> float:
    """Rand index of two label maps: the share of pixel pairs they agree on.

    Parameters
    ----------
    segmentation, ground_truth : (M, N) integer ndarray
        Segment ids (any values).

    Returns
    -------
    float in [0, 1]

    Raises
    ------
    ParameterError
        Shapes differ, a map is empty, or it holds no integer ids.
    """
    return _rand(_pair(segmentation, ground_truth))


def _mean_over(score, segmentation: np.ndarray, ground_truths: LabelMaps) -> float:
    truths = _as_list(ground_truths)
    return float(np.mean([score(_pair(segmentation, truth)) for truth in truths]))


def _as_list(ground_truths: LabelMaps) -> list[np.ndarray]:
    truths = [ground_truths] if isinstance(ground_truths, np.ndarray) else list(ground_truths)
    if not truths:
        raise ParameterError("no ground truth segmentation given")
    return truths


def probabilistic_rand_index(segmentation: np.ndarray, ground_truths: LabelMaps) -> float:
    """Probabilistic Rand Index: the mean Rand index against each ground truth (higher is
    better).

    Parameters
    ----------
    segmentation : (M, N) integer ndarray
        Segment ids (any values; booleans and finite floats are taken as ids too).
    ground_truths : (M, N) integer ndarray or sequence of (M, N) integer ndarrays
        One human segmentation, or several (e.g. the 4-9 of a BSDS500 photo), each the shape
        of ``segmentation``.

    Returns
    -------
    float in [0, 1]
        The mean over the ground truths of the share of pixel pairs on which the segmentation
        and the ground truth agree; 1 when it matches each of them.

    Raises
    ------
    ParameterError
        No ground truth, shapes that differ, an empty map, or a map that holds no segment ids
        (e.g. NaN).
    """
    return _mean_over(_rand, segmentation, ground_truths)


def variation_of_information(segmentation: np.ndarray, ground_truths: LabelMaps) -> float:
    """Variation of Information in bits, mean over the ground truths (lower is better).

    Parameters
    ----------
    segmentation : (M, N) integer ndarray
        Segment ids (any values; booleans and finite floats are taken as ids too).
    ground_truths : (M, N) integer ndarray or sequence of (M, N) integer ndarrays
        One human segmentation, or several (e.g. the 4-9 of a BSDS500 photo), each the shape
        of ``segmentation``.

    Returns
    -------
    float >= 0
        The mean over the ground truths of ``H(S | G) + H(G | S)`` (log base 2), ``S`` the
        segmentation and ``G`` a ground truth; 0 when it matches each of them.

    Raises
    ------
    ParameterError
        No ground truth, shapes that differ, an empty map, or a map that holds no segment ids
        (e.g. NaN).
    """
    return _mean_over(_voi, segmentation, ground_truths)


def segmentation_covering(segmentation: np.ndarray, ground_truths: LabelMaps) -> float:
    """Covering of each ground truth by the segmentation, mean over the ground truths (higher
    is better): the size-weighted mean, over a ground truth's segments, of the best overlap
    (intersection over union) with a segment of the segmentation.

    Parameters
    ----------
    segmentation : (M, N) integer ndarray
        Segment ids (any values; booleans and finite floats are taken as ids too).
    ground_truths : (M, N) integer ndarray or sequence of (M, N) integer ndarrays
        One human segmentation, or several (e.g. the 4-9 of a BSDS500 photo), each the shape
        of ``segmentation``.

    Returns
    -------
    float in (0, 1]
        The mean covering over the ground truths (Arbelaez et al., 2011); 1 when the
        segmentation matches each of them.

    Raises
    ------
    ParameterError
        No ground truth, shapes that differ, an empty map, or a map that holds no segment ids
        (e.g. NaN).

    Examples
    --------
    >>> import numpy as np
    >>> from kmseg import metrics
    >>> metrics.segmentation_covering(np.array([[1, 1, 1, 2]]), [np.array([[1, 1, 2, 2]])])
    0.5833333333333333
    """
    return _mean_over(_covering, segmentation, ground_truths)


def global_consistency_error(segmentation: np.ndarray, ground_truths: LabelMaps) -> float:
    """Global Consistency Error, mean over the ground truths (lower is better).

    Parameters
    ----------
    segmentation : (M, N) integer ndarray
        Segment ids (any values; booleans and finite floats are taken as ids too).
    ground_truths : (M, N) integer ndarray or sequence of (M, N) integer ndarrays
        One human segmentation, or several (e.g. the 4-9 of a BSDS500 photo), each the shape
        of ``segmentation``.

    Returns
    -------
    float in [0, 1)
        The mean over the ground truths of the share of pixels whose segment in one map is not
        a subset of their segment in the other, refinement allowed in one direction for the
        whole image; 0 when, for each ground truth, one of the two maps refines the other.

    Raises
    ------
    ParameterError
        No ground truth, shapes that differ, an empty map, or a map that holds no segment ids
        (e.g. NaN).
    """
    return _mean_over(_gce, segmentation, ground_truths)


@dataclass(frozen=True)
class Scores:
    """Scores of one segmentation against its ground truths (means over them)."""

    pri: float
    voi: float
    gce: float
    covering: float
    n_segments: int  # segments (distinct ids) of the segmentation
    n_truth_segments: float  # mean segments of the ground truths


def evaluate(segmentation: np.ndarray, ground_truths: LabelMaps) -> Scores:
    """All scores of one segmentation, each contingency table built once.

    Parameters
    ----------
    segmentation : (M, N) integer ndarray
        Segment ids (any values; booleans and finite floats are taken as ids too).
    ground_truths : (M, N) integer ndarray or sequence of (M, N) integer ndarrays
        One human segmentation, or several (e.g. the 4-9 of a BSDS500 photo), each the shape
        of ``segmentation``.

    Returns
    -------
    Scores
        ``pri``, ``voi``, ``gce`` and ``covering``, means over the ground truths (as
        :func:`probabilistic_rand_index`, :func:`variation_of_information`,
        :func:`global_consistency_error` and :func:`segmentation_covering` give them);
        ``n_segments``, the distinct ids of the segmentation, and ``n_truth_segments``, the
        mean number of segments of the ground truths.

    Raises
    ------
    ParameterError
        No ground truth, shapes that differ, an empty map, or a map that holds no segment ids
        (e.g. NaN).

    Examples
    --------
    >>> import numpy as np
    >>> from kmseg import metrics
    >>> truth = np.array([[1, 1, 2, 2]])
    >>> metrics.evaluate(np.array([[0, 0, 0, 1]]), [truth, truth]).pri
    0.5
    """
    truths = _as_list(ground_truths)
    tables = [_pair(segmentation, truth) for truth in truths]
    return Scores(
        pri=float(np.mean([_rand(t) for t in tables])),
        voi=float(np.mean([_voi(t) for t in tables])),
        gce=float(np.mean([_gce(t) for t in tables])),
        covering=float(np.mean([_covering(t) for t in tables])),
        n_segments=len(tables[0].rows),
        n_truth_segments=float(np.mean([len(t.cols) for t in tables])),
    )


def read_ground_truth(path: str | os.PathLike) -> list[np.ndarray]:
    """Human segmentations of one photo.

    Parameters
    ----------
    path : str or path
        A BSDS500 ``.mat`` file (every ``groundTruth[0, i]['Segmentation']``), a label image
        (PNG/TIFF, one segmentation), or a folder of label images (one segmentation each).

    Returns
    -------
    list of (M, N) integer ndarrays

    Raises
    ------
    ImageReadError
        The file is missing or unreadable, or holds no segmentation.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in _LABEL_FILES)
        if not files:
            raise ImageReadError(with_source("no label image in this folder", str(path)))
        return [read_label_map(p) for p in files]
    if path.suffix.lower() == ".mat":
        return _read_bsds_mat(path)
    return [read_label_map(path)]


def _read_bsds_mat(path: Path) -> list[np.ndarray]:
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        cells = loadmat(str(path))["groundTruth"]
        truths = [np.asarray(cells[0, i]["Segmentation"][0, 0]) for i in range(cells.shape[1])]
    except FileNotFoundError:
        raise ImageReadError(with_source("no such file", str(path))) from None
    except (MatReadError, ValueError, KeyError, IndexError, TypeError, OSError) as error:
        raise ImageReadError(with_source(
            f"not a BSDS500 ground-truth file (groundTruth[0, i]['Segmentation']): {error}",
            str(path),
        )) from None
    if not truths:
        raise ImageReadError(with_source("holds no segmentation", str(path)))
    return truths


def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """A one-channel label image (PNG or TIFF, 8, 16 or 32-bit) as an integer array.

    Raises
    ------
    ImageReadError
        Unreadable, or more than one channel.
    """
    from .io import load_image

    image = load_image(path, max_pixels=None)
    if image.pixels.ndim != 2:
        raise ImageReadError(with_source(
            f"a label map has one channel, this image has {image.pixels.shape[2]}", str(path)
        ))
    return image.pixels.astype(np.int64)


def find_segmentation(seg_dir: str | os.PathLike, stem: str) -> Path | None:
    """The label file for photo ``stem`` in a folder (see SEGMENTATION_SUFFIXES), or None."""
    for suffix in SEGMENTATION_SUFFIXES:
        candidate = Path(seg_dir) / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def segmentation_stems(seg_dir: str | os.PathLike) -> list[str]:
    """Photos a folder holds label maps of: ``<stem>_regions``, ``<stem>_labels`` (kmseg's) or
    a plain ``<stem>`` (PNG or TIFF, see SEGMENTATION_SUFFIXES), kmseg's other outputs
    (``<stem>_segmented.png``, masks, figures) left out.

    Raises
    ------
    ImageReadError
        ``seg_dir`` is not a folder.
    """
    seg_dir = Path(seg_dir)
    if not seg_dir.is_dir():
        raise ImageReadError(with_source("not a folder", str(seg_dir)))
    names = sorted(entry.name for entry in seg_dir.iterdir() if entry.is_file())
    plain = tuple(suffix for suffix in SEGMENTATION_SUFFIXES if not suffix.startswith("_"))
    kmseg_stems = {name.removesuffix(suffix) for name in names
                   for suffix in SEGMENTATION_SUFFIXES if suffix.startswith("_")
                   and name.endswith(suffix) and name != suffix}
    stems = set(kmseg_stems)
    for name in names:
        if name.endswith(plain) and not any(name.startswith(f"{stem}_") for stem in kmseg_stems):
            stems.add(Path(name).stem)
    return sorted(stems)


def ground_truth_files(gt_dir: str | os.PathLike) -> dict[str, Path]:
    """Photo stem -> its ground truth (``.mat`` file, label image or folder) in a folder."""
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise ImageReadError(with_source("not a folder", str(gt_dir)))
    entries = {}
    for entry in sorted(gt_dir.iterdir()):
        if entry.is_dir() or entry.suffix.lower() in (".mat", *_LABEL_FILES):
            entries.setdefault(entry.stem, entry)
    if not entries:
        raise ImageReadError(with_source(
            "no ground truth here (.mat files, label images, or one folder per photo)",
            str(gt_dir),
        ))
    return entries


@dataclass(frozen=True)
class FolderScores:
    """What :func:`evaluate_folder` found: scores, problems, and photos with one side only.

    Unpacks as ``scores, problems = evaluate_folder(...)``, its return before the unmatched
    photos were listed apart.

    Attributes
    ----------
    scores : dict of str to Scores
        Photo stem -> its scores, for every photo with a segmentation and a ground truth.
    problems : dict of str to str
        Photo stem -> one-line reason it could not be scored although both exist (a file
        unreadable, sizes that differ).
    no_ground_truth : list of str
        Photos segmented in ``seg_dir`` with no ground truth in ``gt_dir`` (not scored; not
        problems).
    no_segmentation : list of str
        Photos with a ground truth in ``gt_dir`` and no segmentation in ``seg_dir`` (a
        benchmark's photos not segmented; not problems).
    seg_dir, gt_dir : str
        The folders, as given.
    """

    scores: dict[str, Scores]
    problems: dict[str, str]
    no_ground_truth: list[str]
    no_segmentation: list[str]
    seg_dir: str
    gt_dir: str

    def __iter__(self) -> Iterator[dict]:
        return iter((self.scores, self.problems))

    def notes(self) -> list[str]:
        """One line per kind of unmatched photo, e.g. ``"3 segmentations have no ground truth
        in gt/ (first: a, b, c)"``; empty when every photo matched."""
        return [
            line for line in (
                _count_line(self.no_ground_truth, "segmentation", "no ground truth in",
                            self.gt_dir),
                _count_line(self.no_segmentation, "ground truth", "no segmentation in",
                            self.seg_dir),
            ) if line
        ]


def _count_line(stems: list[str], what: str, missing: str, folder: str, shown: int = 3) -> str:
    if not stems:
        return ""
    verb = "has" if len(stems) == 1 else "have"
    names = ", ".join(stems[:shown])
    listed = f"first: {names}, ..." if len(stems) > shown else names
    return (f"{len(stems)} {what}{'s' if len(stems) > 1 else ''} {verb} {missing} {folder} "
            f"({listed})")


def evaluate_folder(seg_dir: str | os.PathLike, gt_dir: str | os.PathLike) -> FolderScores:
    """Scores of every segmentation in ``seg_dir`` that has a ground truth in ``gt_dir``.

    The segmentation of photo ``<stem>`` is ``<stem>_regions.png``, ``<stem>_labels.png`` or
    ``<stem>.png`` (or ``.tif``, see SEGMENTATION_SUFFIXES); its ground truth a BSDS500
    ``<stem>.mat``, a label image ``<stem>.png`` or a folder ``<stem>/`` of label images.
    Photos found on one side only are listed apart, not as problems.

    Parameters
    ----------
    seg_dir, gt_dir : str or path
        Folders of segmentations and of ground truths.

    Returns
    -------
    FolderScores
        ``scores``, ``problems`` (unreadable, wrong size), ``no_ground_truth`` and
        ``no_segmentation`` (stems, sorted); unpacks as ``scores, problems``.

    Raises
    ------
    ImageReadError
        A folder is missing, or ``gt_dir`` holds no ground truth.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from PIL import Image
    >>> from kmseg import metrics
    >>> seg, gt = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.uint8([[0, 0, 1, 1]])).save(seg / "a_labels.png")
    >>> Image.fromarray(np.uint8([[5, 5, 7, 7]])).save(gt / "a.png")
    >>> Image.fromarray(np.uint8([[0, 1, 1, 1]])).save(seg / "b_labels.png")
    >>> result = metrics.evaluate_folder(seg, gt)
    >>> result.scores["a"].pri, result.problems, result.no_ground_truth
    (1.0, {}, ['b'])
    """
    truths = ground_truth_files(gt_dir)
    segmented = segmentation_stems(seg_dir)
    scores: dict[str, Scores] = {}
    problems: dict[str, str] = {}
    no_segmentation: list[str] = []
    for stem, truth_path in truths.items():
        seg_path = find_segmentation(seg_dir, stem)
        if seg_path is None:
            no_segmentation.append(stem)
            continue
        try:
            scores[stem] = evaluate(read_label_map(seg_path), read_ground_truth(truth_path))
        except (ImageReadError, ParameterError) as error:
            problems[stem] = with_source(str(error), str(seg_path))
    no_ground_truth = [stem for stem in segmented if stem not in truths]
    return FolderScores(scores, problems, no_ground_truth, sorted(no_segmentation),
                        str(seg_dir), str(gt_dir))
