"""Stage 6 — result: the :class:`Segmentation` object (render, masks, cut-outs, save)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._display import to_rgb8
from ._errors import ParameterError
from ._features import value_range
from ._labels import masked_label

if TYPE_CHECKING:
    from .io import GeoReference
    from .regions import RegionTable


@dataclass(frozen=True, eq=False)
class Segmentation:
    """A k-means segmentation of one image.

    Made by :func:`kmseg.segment` or :meth:`kmseg.KMeansSegmenter.segment`; not built by hand.

    Attributes
    ----------
    image : (M, N[, C]) ndarray
        The input's colour or band channels (alpha removed), upright, in the input dtype.
    labels : (M, N) uint8 or uint16 ndarray
        Cluster id ``0..k-1`` of each pixel; masked pixels hold :attr:`masked_label`.
    centers : (k, C_out) float64 ndarray
        Cluster centres in the input's units and colour space (RGB for ``"lab"``/``"oklab"``, one
        gray channel for ``space="gray"``).
    feature_centers : (k, d) float64 ndarray
        The same centres in feature units (Lab for ``"lab"``, OKLab x 100 for ``"oklab"``;
        [0, 1] with ``normalize``).
    compactness : float
        Sum over clustered pixels of the squared feature distance to their centre, as returned
        by ``cv2.kmeans``.
    sizes : (k,) int64 ndarray
        Pixels per cluster.
    n_iter : int
        Lloyd iterations of the kept attempt.
    converged : bool
        Whether the kept attempt stopped because no centre moved more than ``eps``.
    space : str
        Feature space clustered: ``"rgb"``, ``"gray"``, ``"lab"`` or ``"oklab"``.
    alpha : (M, N) ndarray or None
        The input's alpha channel, if it had one.
    valid : (M, N) bool ndarray or None
        True where the pixel was clustered; None when every pixel was.
    params : dict
        Every parameter of the run (for the JSON report).
    source : str or None
        The input file, when read from one.
    timings : dict
        Seconds spent per stage.
    algorithm : str
        ``"lloyd"`` (k-means iterations), or ``"optimal-1d"``: one feature (gray) is clustered
        exactly, the global optimum by dynamic programming, with no iterations.
    regions : (M, N) uint32 ndarray or None
        With ``min_region``: connected patches of one label, ids ``1..R``, 0 where masked
        (see :mod:`kmseg.regions`); the labels were cleaned to match.
    georef : GeoReference or None
        The input GeoTIFF's georeferencing, which :meth:`save` copies into its rasters.
    decoder_messages : tuple of str
        What the input file's decoders printed while it was read (see
        :attr:`LoadedImage.decoder_messages`); in the report, not on the terminal.
    """

    image: np.ndarray
    labels: np.ndarray
    centers: np.ndarray
    feature_centers: np.ndarray
    compactness: float
    sizes: np.ndarray
    n_iter: int
    converged: bool
    space: str
    alpha: np.ndarray | None = None
    valid: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    description: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    algorithm: str = "lloyd"
    regions: np.ndarray | None = None
    georef: GeoReference | None = None
    decoder_messages: tuple[str, ...] = ()

    @property
    def k(self) -> int:
        """Number of clusters."""
        return len(self.centers)

    @property
    def masked_label(self) -> int:
        """Label value of masked pixels (255 for uint8 labels, 65535 for uint16)."""
        return masked_label(self.labels.dtype)

    @property
    def is_gray(self) -> bool:
        """True when the painted image has one channel (show it with a gray colormap)."""
        return self.centers.shape[1] == 1

    @property
    def colors(self) -> np.ndarray:
        """Centres rounded to the input dtype: the colours the segmented image is painted with.

        Returns
        -------
        (k, C_out) ndarray of the input dtype
        """
        return cast_like(self.centers, self.image.dtype)

    @property
    def hex_colors(self) -> list[str] | None:
        """Centres as ``#rrggbb`` strings (gray or RGB images in their value range), else None."""
        full = value_range(self.image.dtype)
        if self.centers.shape[1] not in (1, 3) or not 0 <= self.centers.min() <= full:
            return None
        if self.centers.max() > full:
            return None
        rgb = np.clip(np.rint(self.centers / full * 255), 0, 255).astype(int)
        if rgb.shape[1] == 1:
            rgb = np.repeat(rgb, 3, axis=1)
        return ["#{:02x}{:02x}{:02x}".format(*row) for row in rgb]

    def segmented(self) -> np.ndarray:
        """The image with each pixel painted with its cluster centre.

        Returns
        -------
        (M, N[, C_out]) ndarray of the input dtype
            ``(M, N)`` for one channel. When the input had alpha or some pixels were masked, an
            alpha channel is appended: the input's alpha, 0 at masked pixels.

        Examples
        --------
        >>> import kmseg
        >>> seg = kmseg.segment(kmseg.data.sample_path(), k=4)
        >>> seg.segmented().shape, seg.segmented().dtype
        ((400, 600, 3), dtype('uint8'))
        """
        # Masked pixels (the masked label) paint 0; with none, the labels index the colours
        # as they are (np.where cost 0.1 s and two label-sized arrays on a 21 MP photo).
        table = np.concatenate([self.colors, np.zeros_like(self.colors[:1])])
        index = self.labels if self.valid is None else np.where(
            self.labels == self.masked_label, self.k, self.labels)
        painted = table.take(index, axis=0)  # table[index], in 0.5 ms instead of 2 (481x321)
        if painted.shape[-1] == 1:
            painted = painted[..., 0]
        return _with_alpha(painted, self.output_alpha())

    def cluster_mask(self, label: int) -> np.ndarray:
        """Boolean ``(M, N)`` mask of the pixels in cluster ``label``."""
        return self.labels == self._check_label(label)

    def cutout(self, label: int) -> np.ndarray:
        """The original pixels of one cluster, transparent elsewhere (region of interest).

        Returns
        -------
        (M, N, 4) ndarray of the input dtype
            RGBA; gray images are repeated to RGB. Multi-band images keep their ``B`` bands and
            get ``(M, N, B + 1)``.
        """
        self._check_layout("a cut-out")
        full = value_range(self.image.dtype)
        inside = self.cluster_mask(label)
        alpha = np.where(inside, full, 0).astype(self.image.dtype)
        if self.alpha is not None:
            alpha = np.where(inside, self.alpha, alpha)
        colour = self.image if self.image.ndim == 3 else self.image[..., None]
        if colour.shape[-1] == 1:
            colour = np.repeat(colour, 3, axis=-1)
        colour = np.where(inside[..., None], colour, 0).astype(self.image.dtype)
        return np.concatenate([colour, alpha[..., None]], axis=-1)

    def output_alpha(self) -> np.ndarray | None:
        """Alpha for outputs: the input's alpha, 0 at masked pixels; None if nothing is masked."""
        if self.alpha is None and self.valid is None:
            return None
        alpha = self.alpha
        if alpha is None:
            alpha = np.full(self.labels.shape, value_range(self.image.dtype), self.image.dtype)
        if self.valid is not None:
            alpha = np.where(self.valid, alpha, 0).astype(self.image.dtype)
        return alpha

    def summary(self) -> dict[str, Any]:
        """Everything about the run as JSON-ready values (the ``<stem>.json`` report)."""
        from ._version import __version__

        return {
            "kmseg_version": __version__,
            "source": self.source,
            "input": {
                "shape": list(self.image.shape),
                "dtype": str(self.image.dtype),
                "description": self.description,
                "has_alpha": self.alpha is not None,
                "decoder_messages": list(self.decoder_messages),
            },
            "k": self.k,
            "space": self.space,
            "params": self.params,
            "centers": self.centers.tolist(),
            "centers_hex": self.hex_colors,
            "feature_centers": self.feature_centers.tolist(),
            "sizes": self.sizes.tolist(),
            "compactness": self.compactness,
            "algorithm": self.algorithm,
            "n_iter": self.n_iter,
            "converged": self.converged,
            "masked_label": self.masked_label,
            "n_masked": 0 if self.valid is None else int((~self.valid).sum()),
            "timings_s": self.timings,
        } | ({} if self.regions is None else {"regions": self.region_table().as_records()})

    @property
    def n_regions(self) -> int:
        """Number of regions (0 without a region map)."""
        return 0 if self.regions is None else int(self.regions.max())

    def region_table(self) -> RegionTable:
        """Area, centroid, bounding box, mean colour and label of each region.

        Raises
        ------
        ParameterError
            The segmentation has no region map (made without ``min_region``).
        """
        from .regions import region_table  # regions only: 2 ms of a 0.3 s `kmseg segment`

        return region_table(self._region_map(), self.image, self.labels)

    def region_mask(self, region: int) -> np.ndarray:
        """``(M, N)`` bool: the pixels of region ``region`` (``1..n_regions``)."""
        region_map = self._region_map()
        if isinstance(region, bool) or not isinstance(region, (int, np.integer)) or not (
            1 <= region <= self.n_regions
        ):
            raise ParameterError(f"region {region!r} is not a region id; use 1..{self.n_regions}")
        return region_map == region

    def boundaries(self) -> np.ndarray:
        """The photo (8-bit RGB) with region boundaries drawn in yellow.

        Raises
        ------
        ParameterError
            No region map (see :meth:`region_table`).
        """
        from .regions import boundaries  # see region_table

        picture = to_rgb8(self.image)
        picture[boundaries(self._region_map())] = (255, 255, 0)
        return picture

    def _region_map(self) -> np.ndarray:
        if self.regions is None:
            raise ParameterError("this segmentation has no regions; segment with min_region "
                                 "(or regions=True)")
        return self.regions

    def save(
        self,
        outdir: str | PathLike[str],
        *,
        stem: str | None = None,
        compare: bool = False,
        masks: bool = False,
        region_masks: bool = False,
        protect: Iterable[str | PathLike[str]] = (),
        figure_width: float | None = None,
        figure_dpi: float | None = None,
    ) -> dict[str, Path]:
        """Write the labels, segmented image and JSON report (and optional extras) to ``outdir``.

        See :func:`kmseg.save_segmentation` for the files, the figure size and guarantees.
        """
        from ._save import save_segmentation

        self._check_layout("saving")
        return save_segmentation(
            self, outdir, stem=stem, compare=compare, masks=masks, region_masks=region_masks,
            protect=protect, figure_width=figure_width, figure_dpi=figure_dpi,
        )

    def _check_layout(self, what: str) -> None:
        """Raise for a pixel list (``(N,)`` labels): ``what`` needs an image layout."""
        if self.labels.ndim == 1:
            raise ParameterError(f"{what} needs an image; these are the labels of a pixel "
                                 f"list: reshape seg.labels to the image's (M, N) yourself")

    def _check_label(self, label: int) -> int:
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise ParameterError(f"label must be an integer cluster id, got {label!r}")
        if not 0 <= label < self.k:
            raise ParameterError(f"label {label} is not a cluster id; use 0..{self.k - 1}")
        return int(label)

    # --- display: a one-line repr, and previews for Jupyter (IPython's rich display) --------
    # Built from display-sized copies (at most _PREVIEW_BOX pixels per image), so a 15 MP
    # photo previews in ~0.2 s. A pixel list (``(N,)`` labels) has no picture: palette only.

    def __repr__(self) -> str:
        """One line: k, the image's shape and dtype, space, compactness, source file name."""
        layout = "image" if self.labels.ndim == 2 else "pixels"
        source = None if self.source is None else _shorten(Path(self.source).name, 60)
        regions = "" if self.regions is None else f", regions={self.n_regions}"
        return (f"Segmentation(k={self.k}, {layout}={self.image.shape} {self.image.dtype}, "
                f"space={self.space!r}, compactness={self.compactness:.6g}{regions}, "
                f"source={source!r})")

    def _repr_png_(self) -> bytes:
        """PNG bytes: original | segmented | palette strip (cluster 0 at the top), at most
        800 pixels wide, transparent where masked; the palette alone for a pixel list."""
        from ._display import png_bytes

        palette = self._palette_rgba()
        if self.labels.ndim != 2:
            cell = max(1, min(_SWATCH_PIXELS, _PREVIEW_WIDTH // self.k))
            return png_bytes(np.repeat(np.repeat(palette[None], cell, axis=1), cell, axis=0))
        original, painted = self._thumbnails(_PREVIEW_BOX)
        rows = max(original.shape[0], _SWATCH_PIXELS // 4 * min(self.k, 32))
        strip = palette[np.arange(rows) * self.k // rows][:, None]
        panels = [original, painted, np.repeat(strip, _SWATCH_PIXELS, axis=1)]
        width = sum(panel.shape[1] for panel in panels) + _PREVIEW_GAP * (len(panels) - 1)
        canvas = np.zeros((rows, width, 4), np.uint8)
        left = 0
        for panel in panels:
            canvas[: panel.shape[0], left : left + panel.shape[1]] = panel
            left += panel.shape[1] + _PREVIEW_GAP
        return png_bytes(canvas)

    def _repr_html_(self) -> str:
        """HTML: the repr, thumbnails of original and segmented (PNG data URLs), and the
        palette as swatches with each cluster's ``#rrggbb`` and share of the clustered pixels."""
        import html

        parts = [f'<div class="kmseg-segmentation"><div style="font-family:monospace">'
                 f"{html.escape(repr(self))}</div>"]
        if self.labels.ndim == 2:
            original, painted = self._thumbnails(_HTML_BOX)
            parts.append('<div style="display:flex;gap:8px;align-items:flex-start">')
            for rgba, caption in ((original, "original"), (painted, f"segmented, k = {self.k}")):
                parts.append(f'<figure style="margin:0">{_png_img(rgba, caption)}'
                             f"<figcaption>{caption}</figcaption></figure>")
            parts.append("</div>")
        shown = ["#{:02x}{:02x}{:02x}".format(*rgba[:3]) for rgba in self._palette_rgba()]
        exact = self.hex_colors
        total = max(int(self.sizes.sum()), 1)
        note = "" if exact is not None else " (false colour: the first three bands as shown)"
        parts.append(f"<div>palette{note}</div>"
                     '<div class="kmseg-palette" style="display:flex;flex-wrap:wrap;gap:4px 14px">')
        for i, colour in enumerate(shown):
            parts.append(
                f'<div class="kmseg-swatch" title="cluster {i}"><span style="display:inline-block;'
                f"width:1.3em;height:1.3em;vertical-align:middle;border:1px solid #888;"
                f'background:{colour}"></span> {i} <code>{colour if exact is None else exact[i]}'
                f"</code> {self.sizes[i] / total:.1%}</div>")
        parts.append("</div></div>")
        return "".join(parts)

    def _thumbnails(self, box: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Original and segmented as ``(m, n, 4)`` uint8 RGBA within ``box`` (rows, columns),
        on the original's display limits (see :func:`kmseg.plot.to_display`)."""
        from ._display import display_limits, reduction_factor, to_rgba8

        small = self._display_copy(reduction_factor(self.image.shape, box, cover=False))
        limits = display_limits(self.image, self.alpha)
        painted, alpha = small.segmented(), small.output_alpha()
        if alpha is not None:
            painted = painted[..., :-1]
        return to_rgba8(small.image, small.alpha, limits), to_rgba8(painted, alpha, limits)

    def _palette_rgba(self) -> np.ndarray:
        """``(k, 4)`` uint8: the painted colours as displayed (false colour for other than
        1 or 3 bands), opaque."""
        from ._display import display_limits, to_rgba8

        limits = display_limits(self.image, self.alpha)
        return to_rgba8(self.colors[None], None, limits)[0]

    def _display_copy(self, factor: int, *, average: bool = True) -> Segmentation:
        """This segmentation on its image shrunk ``factor`` times, for figures and previews:
        image and alpha area-averaged, labels and regions the most frequent of each block
        (masked where most of it is), see :mod:`kmseg._display`; itself for ``factor`` 1 or a
        pixel list. Centres, sizes and the rest are the full image's. ``average=False``
        samples the image and alpha at each block's centre instead (cheaper, when only
        :meth:`segmented` is shown)."""
        if factor == 1 or self.labels.ndim != 2:
            return self
        from dataclasses import replace

        from ._display import block_mode, sample_blocks, shrink_image

        pixels = shrink_image if average else sample_blocks
        labels = block_mode(self.labels, factor)
        return replace(
            self, image=pixels(self.image, factor), labels=labels,
            alpha=None if self.alpha is None else pixels(self.alpha, factor),
            valid=None if self.valid is None else labels != self.masked_label,
            regions=None if self.regions is None else block_mode(self.regions, factor),
        )


# Notebook previews: each image within 400 x 376 pixels (rows, columns), 8 pixels apart, and a
# 32-pixel palette strip: at most 800 pixels wide. The HTML's inline thumbnails are smaller
# (~100 kB each for a photo), as notebooks store them.
_PREVIEW_BOX = (400, 376)
_HTML_BOX = (240, 320)
_PREVIEW_GAP = 8
_PREVIEW_WIDTH = 800
_SWATCH_PIXELS = 32


def _png_img(rgba: np.ndarray, title: str) -> str:
    """An ``<img>`` element showing ``rgba`` as an inline PNG (data URL)."""
    import base64

    from ._display import png_bytes

    data = base64.b64encode(png_bytes(rgba)).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" width="{rgba.shape[1]}" '
            f'height="{rgba.shape[0]}" alt="{title}" title="{title}">')


def _shorten(text: str, limit: int) -> str:
    """``text``, its middle replaced by "..." when longer than ``limit`` characters."""
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return text[:half] + "..." + text[-half:]


def cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float values to an image dtype: rounded and clipped for integers."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def _with_alpha(image: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    if alpha is None:
        return image
    colour = image if image.ndim > alpha.ndim else image[..., None]  # (M, N[, C]) or (N[, C])
    return np.concatenate([colour, alpha[..., None].astype(image.dtype)], axis=-1)
