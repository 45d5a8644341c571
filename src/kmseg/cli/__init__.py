"""The ``kmseg`` command.

Only :mod:`argparse` is imported to build the parser; each subcommand imports what it needs when
it runs, so ``kmseg --help`` stays fast. Errors print one line and exit with status 2
(``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from .._version import __version__

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) and a close match for a mistyped option,
    command or choice."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self._command_parser(namespace)
            known = [option for parser in (self, command) if parser is not None
                     for option in parser._option_string_actions]
            self.error(f"unrecognized arguments: {' '.join(extras)}"
                       f"{_did_you_mean(extras[0].split('=')[0], known)}",
                       prog=command.prog if command is not None else None)
        return namespace

    def error(self, message: str, prog: str | None = None) -> None:  # type: ignore[override]
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = re.findall(r"'?([^',]+)'?", choice.group(2))
            message += _did_you_mean(choice.group(1), [o.strip() for o in options])
        prog = prog or self.prog
        self.exit(2, f"{prog}: error: {message} (see {prog} --help)\n")

    def _command_parser(self, namespace: argparse.Namespace) -> argparse.ArgumentParser | None:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices.get(getattr(namespace, action.dest, None))
        return None


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _number(text: str, kind: type, what: str) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _non_negative_int(text: str) -> int:
    value = _number(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = _number(text, int, "an integer >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _port(text: str) -> int:
    value = _number(text, int, "a port number from 1 to 65535")
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {value}")
    return value


def _k_or_auto(text: str) -> int | str:
    if text == "auto":
        return "auto"
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a number of clusters >= 1 or 'auto', got {text!r}") from None


def _positive_float(text: str) -> float:
    value = _number(text, float, "a number > 0")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _k_list(text: str) -> list[int]:
    """``4``, ``4,6,10`` or ``2..16``."""
    try:
        if ".." in text:
            low, high = (int(part) for part in text.split(".."))
            values = list(range(low, high + 1))
        else:
            values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected K, K,K,... or FROM..TO, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"needs values of k >= 1, got {text!r}")
    return values


def _colour_list(text: str) -> list[str]:
    colours = [part.strip() for part in text.split(",") if part.strip()]
    if not colours:
        raise argparse.ArgumentTypeError("expected colours such as '#ff0000,#00ff00'")
    return colours


_SPACES = ("rgb", "gray", "lab", "oklab")
_OUTDIR_HELP = "output folder (default: the current folder)"
_BANDS_HELP = ("bands to cluster, numbered from 1 as in GDAL, e.g. 4,3,2 (default: all); a "
               "GeoTIFF's outputs keep its CRS and transform")


def _band_list(text: str) -> list[int]:
    try:
        bands = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected band numbers such as 4,3,2, got {text!r}") from None
    if min(bands) < 1:
        raise argparse.ArgumentTypeError(f"band numbers start at 1, got {text!r}")
    return bands


def _add_read_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frame", type=_non_negative_int, default=0,
                        help="frame of an animated file")
    parser.add_argument("--max-pixels", type=_non_negative_int, default=None,
                        help="decompression-bomb limit in pixels; 0 lifts it")
    parser.add_argument("--bands", type=_band_list, default=None, metavar="B,B,...",
                        help=_BANDS_HELP)


def _add_quality_targets(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--min-psnr", type=_positive_float, default=None, metavar="DB",
                       help="choose the smallest k whose painted image has this PSNR (dB)")
    group.add_argument("--max-error", type=_positive_float, default=None, metavar="DE",
                       help="choose the smallest k whose mean CIEDE2000 difference to the "
                            "image is at most this")


def _non_negative_float(text: str) -> float:
    value = _number(text, float, "a number >= 0")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = _number(text, float, "a fraction from 0 to 1")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction from 0 to 1, got {text}")
    return value


def _add_figure_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("figure")
    group.add_argument("--width", type=_positive_float, default=None, metavar="INCHES",
                       help="figure width in inches (default: the figure's own)")
    group.add_argument("--dpi", type=_positive_int, default=None,
                       help="dots per inch of the saved figure (default: 100)")


def _add_clustering_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("clustering")
    group.add_argument("--space", choices=_SPACES, default=None,
                       help="feature space: channel values, luminance, CIE L*a*b* or OKLab "
                            "(default: rgb, or the preset's with --regions)")
    group.add_argument("--attempts", type=_positive_int, default=None,
                       help="runs from different seeds, the most compact kept (default: 10)")
    group.add_argument("--max-iter", type=_positive_int, default=300,
                       help="Lloyd iterations per attempt at most (default: %(default)s)")
    group.add_argument("--eps", type=_non_negative_float, default=0.0,
                       help="stop when no centre moves more than this, in feature units; "
                            "0 = until labels stop changing (default: %(default)s)")
    group.add_argument("--seed", type=_non_negative_int, default=0,
                       help="random seed; same input and seed give the same labels "
                            "(default: %(default)s)")
    group.add_argument("--normalize", action="store_true",
                       help="cluster values scaled to [0, 1] (centres, compactness and eps "
                            "in those units)")
    group.add_argument("--fix", type=_colour_list, default=None, metavar="COLOURS",
                       help="colours that must stay centres, e.g. '#ff0000,#00ff00' (labels "
                            "0, 1, ...); the other centres move")
    group.add_argument("--frame", type=_non_negative_int, default=0,
                       help="frame of an animated GIF/WebP or page of a TIFF (default: 0)")
    group.add_argument("--max-pixels", type=_non_negative_int, default=None,
                       help="decompression-bomb limit in pixels; 0 lifts it "
                            "(default: Pillow's, 178956970)")
    group.add_argument("--bands", type=_band_list, default=None, metavar="B,B,...",
                       help=_BANDS_HELP)
    spatial = parser.add_argument_group(
        "regions and spatial features",
        "--regions turns on the regions preset (coherent regions instead of colour clusters); "
        "each option below overrides the preset's value",
    )
    spatial.add_argument("--regions", action="store_true",
                         help="the regions preset: Lab colour and position over "
                              "Felzenszwalb superpixels, small patches merged; writes "
                              "<stem>_regions.png and <stem>_boundaries.png too")
    spatial.add_argument("--position", type=_non_negative_float, default=None, metavar="W",
                         help="weight of pixel position next to colour (colour units per "
                              "sqrt(pixels / k) pixels, as SLIC's compactness; default 0)")
    spatial.add_argument("--texture", type=_non_negative_float, default=0.0, metavar="W",
                         help="weight of Gabor texture features (default 0: off)")
    spatial.add_argument("--smooth", type=_non_negative_float, default=None, metavar="SIGMA",
                         help="Gaussian blur in pixels before clustering (default 0: off)")
    spatial.add_argument("--superpixels", type=_positive_int, default=None, metavar="N",
                         help="cluster about N SLIC superpixels instead of pixels")
    spatial.add_argument("--superpixel-method", choices=("slic", "felzenszwalb"), default=None,
                         help="superpixels: compact SLIC ones, or Felzenszwalb's, which follow "
                              "edges (default: slic, or the preset's with --regions)")
    spatial.add_argument("--min-region", type=_fraction, default=None, metavar="F",
                         help="make regions, merging patches smaller than this share of the "
                              "image (e.g. 0.004)")
    spatial.add_argument("--work-pixels", type=_non_negative_int, default=1_000_000,
                         metavar="N",
                         help="spatial features work on a copy of at most N pixels, labels "
                              "scaled back up; 0 = full size (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kmseg",
        description="Image segmentation by k-means clustering of pixel colours.",
        epilog="Run 'kmseg COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"kmseg {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks on errors, and what decoders printed")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    seg = commands.add_parser(
        "segment", help="segment images and write labels, segmented image and a JSON report",
        description="Segment each IMAGE by k-means and write <stem>_labels.png, "
                    "<stem>_segmented.png and <stem>.json to OUTDIR.",
    )
    seg.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    seg.add_argument("-k", "--k", type=_k_or_auto, default=None,
                     help="number of clusters, or 'auto' (see kmseg choose-k) (default: 4, or "
                          "the preset's with --regions)")
    seg.add_argument("--init", default="k-means++", metavar="{k-means++,random,FILE}",
                     help="seeding, or a FILE of initial centres (.npy, .csv/.txt, a kmseg "
                          ".json report) or an initial label map image (default: %(default)s)")
    seg.add_argument("--mask", metavar="FILE",
                     help="mask image: pixels that are 0 (or transparent) are left out")
    seg.add_argument("-o", "--outdir", default=".", help=_OUTDIR_HELP)
    seg.add_argument("--compare", action="store_true",
                     help="also write <stem>_compare.png (original and segmented side by side; "
                          "--width and --dpi set its size)")
    seg.add_argument("--masks", action="store_true",
                     help="also write <stem>_mask_<i>.png and <stem>_cutout_<i>.png per cluster")
    seg.add_argument("--chunked", action="store_true",
                     help="read and write a TIFF in strips, one palette for all of it: memory "
                          "follows the strip, not the raster (automatic above 100 MP; writes "
                          "tiled BigTIFF labels and painted image)")
    seg.add_argument("--zarr", action="store_true",
                     help="with --chunked: write the labels and painted image as zarr arrays, "
                          "strips on --workers processes at once")
    seg.add_argument("--scheduler", metavar="ADDRESS",
                     help="with --chunked: run the strips on Dask, tcp://HOST:PORT of a running "
                          "scheduler or 'local' for a LocalCluster (implies --zarr; the workers "
                          "must see the input and -o at the same paths)")
    seg.add_argument("--workers", type=_positive_int, default=None,
                     help="with --zarr: processes (default: one per core)")
    seg.add_argument("--region-masks", action="store_true",
                     help="with regions, also write <stem>_region_<id>.png per region")
    _add_quality_targets(seg)
    _add_figure_options(seg)
    palette = seg.add_mutually_exclusive_group()
    palette.add_argument("--palette", metavar="FILE",
                         help="apply a saved palette (KMeansSegmenter.save, --save-palette) "
                              "instead of clustering: labels by nearest centre")
    palette.add_argument("--save-palette", metavar="FILE",
                         help="also save the fitted palette as JSON (one image)")
    _add_clustering_options(seg)
    seg.set_defaults(run="segment")

    sweep = commands.add_parser(
        "sweep", help="figure of the segmentation for several k",
        description="Segment IMAGE for each k and write the grid figure <stem>_sweep.png to "
                    "OUTDIR.",
    )
    sweep.add_argument("image", metavar="IMAGE")
    sweep.add_argument("-k", "--k", nargs="+", type=_k_list, default=[[4, 6, 10]],
                       metavar="K",
                       help="values of k: 4 6 10, 4,6,10 or 2..8 (default: 4,6,10)")
    sweep.add_argument("-o", "--outdir", default=".", help=_OUTDIR_HELP)
    _add_figure_options(sweep)
    _add_clustering_options(sweep)
    sweep.set_defaults(run="sweep")

    colors = commands.add_parser(
        "colors", help="figure of the image's colour distribution",
        description="3-D scatter of a pixel sample in its own colours and per-channel "
                    "histograms, written as <stem>_colors.png to OUTDIR; with -k, of the "
                    "clustering: points coloured by their cluster's centre, centres marked.",
    )
    colors.add_argument("image", metavar="IMAGE")
    colors.add_argument("-k", "--k", type=_positive_int, default=None,
                        help="cluster with this k (as kmseg segment) and show the clusters")
    colors.add_argument("--space", choices=_SPACES, default="rgb",
                        help="with -k: feature space (default: %(default)s)")
    colors.add_argument("-o", "--outdir", default=".", help=_OUTDIR_HELP)
    _add_figure_options(colors)
    colors.add_argument("--sample", type=_positive_int, default=20000,
                        help="pixels in the scatter (default: %(default)s)")
    colors.add_argument("--seed", type=_non_negative_int, default=0,
                        help="sampling seed (default: 0)")
    _add_read_options(colors)
    colors.set_defaults(run="colors")

    choose = commands.add_parser(
        "choose-k", help="score k = 2..16 and recommend one",
        description="Cluster IMAGE for each k and print compactness (SSE), PSNR of the painted "
                    "image, mean CIEDE2000, silhouette, Calinski-Harabasz and Davies-Bouldin; "
                    "recommend the knee of the SSE curve (or the smallest k meeting "
                    "--min-psnr / --max-error), saying so when the silhouette disagrees.",
    )
    choose.add_argument("image", metavar="IMAGE")
    choose.add_argument("-k", "--k", nargs="+", type=_k_list, default=[list(range(2, 17))],
                        metavar="K", help="candidates: 2..16, 2,4,8 or 2 4 8 (default: 2..16)")
    choose.add_argument("--space", choices=_SPACES, default="rgb",
                        help="feature space (default: %(default)s)")
    choose.add_argument("--attempts", type=_positive_int, default=None,
                        help="k-means attempts per k (default: 3)")
    choose.add_argument("--seed", type=_non_negative_int, default=0,
                        help="random seed (default: 0)")
    _add_quality_targets(choose)
    choose.add_argument("-o", "--outdir", default=".",
                        help="output folder of the figure <stem>_choose_k.png: SSE and "
                             "silhouette against k, segmented strip (default: the current "
                             "folder)")
    _add_figure_options(choose)
    choose.add_argument("--json", metavar="FILE", help="also write the scores to FILE")
    _add_read_options(choose)
    choose.set_defaults(run="choose_k")

    batch = commands.add_parser(
        "batch", help="segment many images on a process pool, resumable",
        description="Segment every image of INPUT (files, folders searched recursively, glob "
                    "patterns) into OUTDIR on a pool of processes, with a progress bar. A bad "
                    "file is reported (one line, and in OUTDIR/errors.json) and the rest go "
                    "on; run the same command again to finish a killed batch (complete outputs "
                    "are skipped). Inputs are never written.",
    )
    batch.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, patterns")
    batch.add_argument("-o", "--outdir", required=True, help="output folder")
    batch.add_argument("-k", "--k", type=_k_or_auto, default=None,
                       help="number of clusters, or 'auto' (default: 4)")
    palettes = batch.add_mutually_exclusive_group()
    palettes.add_argument("--palette", metavar="FILE",
                          help="apply a saved palette to every image")
    palettes.add_argument("--shared-palette", action="store_true",
                          help="fit one palette on all images (summed histograms), then label "
                               "each with it")
    batch.add_argument("--workers", type=_positive_int, default=None,
                       help="processes, each on one core (default: one per core)")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch.add_argument("--force", action="store_true",
                       help="redo every output, even those complete with the same settings")
    batch.add_argument("--scheduler", metavar="ADDRESS",
                       default=os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
                       help="run on Dask: tcp://HOST:PORT of a running scheduler, or 'local' "
                            "for a LocalCluster of --workers processes (default: "
                            "$DASK_SCHEDULER_ADDRESS, else the local process pool)")
    _add_clustering_options(batch)
    batch.set_defaults(run="batch")

    video = commands.add_parser(
        "video", help="segment every frame of a clip with one palette (no flicker)",
        description="Fit one palette on all frames of INPUT (an animated GIF/WebP, a folder of "
                    "frames, or a video file with the 'video' extra), then write each frame's "
                    "labels and painted frame, an animated GIF (or MP4 for video) and a JSON "
                    "report with the per-frame compactness to OUTDIR.",
    )
    video.add_argument("input", metavar="INPUT")
    video.add_argument("-o", "--outdir", required=True, help="output folder")
    video.add_argument("-k", "--k", type=_positive_int, default=8,
                       help="number of colours (default: %(default)s)")
    video.add_argument("--space", choices=_SPACES, default="rgb",
                       help="feature space (default: %(default)s)")
    video.add_argument("--attempts", type=_positive_int, default=None,
                       help="k-means attempts (default: 10)")
    video.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default: 0)")
    video.add_argument("--fix", type=_colour_list, default=None, metavar="COLOURS",
                       help="colours that must stay in the palette, e.g. '#ff0000'")
    video.set_defaults(run="video")

    evaluate = commands.add_parser(
        "evaluate", help="score segmentations against human ones (PRI, VoI, GCE)",
        description="Score each label map in SEGDIR against the ground truth of the same photo "
                    "in GTDIR: Probabilistic Rand Index, Variation of Information (bits) and "
                    "Global Consistency Error, each the mean over the photo's human "
                    "segmentations, then the mean over photos. For photo <stem>, SEGDIR holds "
                    "<stem>_regions.png, <stem>_labels.png or <stem>.png (PNG or TIFF); GTDIR "
                    "holds <stem>.mat (BSDS500), a label image <stem>.png, or a folder <stem>/ "
                    "of label images.",
    )
    evaluate.add_argument("segdir", metavar="SEGDIR", help="folder of label maps")
    evaluate.add_argument("--ground-truth", required=True, metavar="GTDIR",
                          help="folder of ground truths")
    evaluate.add_argument("--json", metavar="FILE", help="also write every score to FILE")
    evaluate.add_argument("--quiet", action="store_true", help="print the means only")
    evaluate.set_defaults(run="evaluate")

    serve = commands.add_parser(
        "serve", help="a local web app: drop a photo, drag k, see the segments, export",
        description="Start a local web server with an interactive page for kmseg (the 'serve' "
                    "extra: FastAPI and uvicorn). Uploads stay in a temporary folder deleted "
                    "on exit. The JSON API is described at /docs.",
    )
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: %(default)s, this machine only)")
    serve.add_argument("--port", type=_port, default=8765,
                       help="port (default: %(default)s)")
    serve.add_argument("--open", action="store_true", help="open the page in a browser")
    serve.add_argument("--max-upload-mb", type=_positive_int, default=50,
                       help="largest upload in MB (default: %(default)s)")
    serve.set_defaults(run="serve")

    demo = commands.add_parser(
        "demo", help="run the whole recipe on the bundled sample photo",
        description="Segment the bundled photo (k = 4) and write every output and figure.",
    )
    demo.add_argument("-o", "--outdir", default="kmseg-demo",
                      help="output folder (default: %(default)s)")
    demo.set_defaults(run="demo")
    for command in commands.choices.values():  # also after the command: kmseg segment --debug
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show tracebacks on errors, and what decoders printed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    from .. import _parallel
    from .._errors import KmsegError

    _parallel.skip_final_collections()

    try:
        from . import _commands

        return getattr(_commands, args.run)(args)
    except KmsegError as error:
        if args.debug:
            raise
        print(f"kmseg: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("kmseg: interrupted", file=sys.stderr)
        return 130
