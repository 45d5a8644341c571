"""The ``kmseg`` argument parser: one function per command, the option groups several commands
share defined once. Only :mod:`argparse` and the numpy-free :mod:`kmseg._options` are imported,
so that ``kmseg --help`` stays fast."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from typing import Any

from .._options import (
    CT_WINDOWS,
    DEFAULT_ATTEMPTS,
    DEFAULT_K,
    DEFAULT_SPACE,
    INIT_METHODS,
    SPACES,
    SUPERPIXEL_METHODS,
)
from .._version import __version__
from ._types import (
    band_list,
    colour_list,
    ct_window,
    fraction,
    k_list,
    k_or_auto,
    non_negative_float,
    non_negative_int,
    port,
    positive_float,
    positive_int,
)

_OUTDIR_HELP = "output folder (default: the current folder)"
_BANDS_HELP = ("bands to cluster, numbered from 1 as in GDAL, e.g. 4,3,2 (default: all); a "
               "GeoTIFF's outputs keep its CRS and transform")
_DEBUG_HELP = "show tracebacks on errors, and what decoders printed"

_Commands = Any  # argparse's _SubParsersAction (private, hence not named in the annotations)


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


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser; given the arguments, only for the command they name (the
    others' options took 14 ms of a whole 0.3 s ``kmseg segment``)."""
    commands_by_name = {
        "segment": _add_segment, "sweep": _add_sweep, "colors": _add_colors,
        "choose-k": _add_choose_k, "batch": _add_batch, "video": _add_video,
        "evaluate": _add_evaluate, "serve": _add_serve, "demo": _add_demo,
    }
    words = list(argv or ())
    named = next((i for i, word in enumerate(words) if not word.startswith("-")), None)
    # Only the first word that is no option can name the command (the top level has no
    # option that takes a value); help or "--" before it needs every command.
    wanted = list(commands_by_name)
    if named is not None and words[named] in commands_by_name and not (
            {"-h", "--help", "--"} & set(words[:named])):
        wanted = [words[named]]
    parser = _Parser(
        prog="kmseg",
        description="Image segmentation by k-means clustering of pixel colours.",
        epilog="Run 'kmseg COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"kmseg {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for name in wanted:
        commands_by_name[name](commands)
    for command in commands.choices.values():  # also after the command: kmseg segment --debug
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=_DEBUG_HELP)
    return parser


# Options several commands share ---------------------------------------------------------------


def _add_outdir(parser: Any, help: str = _OUTDIR_HELP, **options: Any) -> None:
    parser.add_argument("-o", "--outdir", **({"default": "."} | options), help=help)


def _add_space(parser: Any, help: str) -> None:
    parser.add_argument("--space", choices=SPACES, default=DEFAULT_SPACE, help=help)


def _add_attempts(parser: Any, help: str) -> None:
    parser.add_argument("--attempts", type=positive_int, default=None, help=help)


def _add_seed(parser: Any, help: str) -> None:
    parser.add_argument("--seed", type=non_negative_int, default=0, help=help)


def _add_fix(parser: Any, help: str) -> None:
    parser.add_argument("--fix", type=colour_list, default=None, metavar="COLOURS", help=help)


def _add_k_candidates(parser: Any, default: list[int], help: str) -> None:
    parser.add_argument("-k", "--k", nargs="+", type=k_list, default=[default], metavar="K",
                        help=help)


def _add_read_options(parser: Any, frame_help: str = "frame of an animated file",
                      max_pixels_help: str = "decompression-bomb limit in pixels; 0 lifts it",
                      ) -> None:
    parser.add_argument("--frame", type=non_negative_int, default=0, help=frame_help)
    parser.add_argument("--max-pixels", type=non_negative_int, default=None,
                        help=max_pixels_help)
    parser.add_argument("--bands", type=band_list, default=None, metavar="B,B,...",
                        help=_BANDS_HELP)


def _add_quality_targets(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--min-psnr", type=positive_float, default=None, metavar="DB",
                       help="choose the smallest k whose painted image has this PSNR (dB)")
    group.add_argument("--max-error", type=positive_float, default=None, metavar="DE",
                       help="choose the smallest k whose mean CIEDE2000 difference to the "
                            "image is at most this")


def _add_figure_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("figure")
    group.add_argument("--width", type=positive_float, default=None, metavar="INCHES",
                       help="figure width in inches (default: the figure's own)")
    group.add_argument("--dpi", type=positive_int, default=None,
                       help="dots per inch of the saved figure (default: 100)")


def _add_clustering_options(parser: argparse.ArgumentParser) -> None:
    """The clustering, reading and spatial options of segment, sweep and batch."""
    group = parser.add_argument_group("clustering")
    group.add_argument("--space", choices=SPACES, default=None,
                       help="feature space: channel values, luminance, CIE L*a*b*, OKLab, or "
                            "auto (Lab where it applies, else the channel values; default: "
                            "rgb, or auto with --regions)")
    _add_attempts(group, "runs from different seeds, the most compact kept "
                         f"(default: {DEFAULT_ATTEMPTS})")
    group.add_argument("--max-iter", type=positive_int, default=300,
                       help="Lloyd iterations per attempt at most (default: %(default)s)")
    group.add_argument("--eps", type=non_negative_float, default=0.0,
                       help="stop when no centre moves more than this, in feature units; "
                            "0 = until labels stop changing (default: %(default)s)")
    _add_seed(group, "random seed; same input and seed give the same labels "
                     "(default: %(default)s)")
    group.add_argument("--normalize", action="store_true",
                       help="cluster values scaled to [0, 1] (centres, compactness and eps "
                            "in those units)")
    _add_fix(group, "colours that must stay centres, e.g. '#ff0000,#00ff00' (labels 0, 1, ...); "
                    "the other centres move")
    _add_read_options(group, "frame of an animated GIF/WebP or page of a TIFF (default: 0)",
                      "decompression-bomb limit in pixels; 0 lifts it "
                      "(default: Pillow's, 178956970)")
    _add_spatial_options(parser)


def _add_spatial_options(parser: argparse.ArgumentParser) -> None:
    spatial = parser.add_argument_group(
        "regions and spatial features",
        "--regions turns on the regions preset (coherent regions instead of colour clusters); "
        "each option below overrides the preset's value",
    )
    spatial.add_argument("--regions", action="store_true",
                         help="the regions preset: regions cut from the photo's merge "
                              "hierarchy (level 0.48), painted by k-means of their mean "
                              "colours (k = 8, space auto); writes <stem>_regions.png and "
                              "<stem>_boundaries.png too")
    spatial.add_argument("--position", type=non_negative_float, default=None, metavar="W",
                         help="weight of pixel position next to colour (colour units per "
                              "sqrt(pixels / k) pixels, as SLIC's compactness; default 0)")
    spatial.add_argument("--texture", type=non_negative_float, default=0.0, metavar="W",
                         help="weight of Gabor texture features (default 0: off)")
    spatial.add_argument("--smooth", type=non_negative_float, default=None, metavar="SIGMA",
                         help="Gaussian blur in pixels before clustering (default 0: off)")
    spatial.add_argument("--superpixels", type=positive_int, default=None, metavar="N",
                         help="cluster about N SLIC superpixels instead of pixels")
    spatial.add_argument("--superpixel-method", choices=SUPERPIXEL_METHODS, default=None,
                         help="superpixels: compact SLIC ones, or Felzenszwalb's, which follow "
                              "edges (default: slic, or the preset's with --regions)")
    spatial.add_argument("--min-region", type=fraction, default=None, metavar="F",
                         help="make regions, merging patches smaller than this share of the "
                              "image (e.g. 0.004)")
    spatial.add_argument("--region-level", type=fraction, default=None, metavar="L",
                         help="make regions by cutting the photo's merge hierarchy at this "
                              "level from 0 to 1 (higher: fewer regions; default: none, or "
                              "0.48 with --regions)")
    spatial.add_argument("--work-pixels", type=non_negative_int, default=1_000_000,
                         metavar="N",
                         help="spatial features work on a copy of at most N pixels, labels "
                              "scaled back up; 0 = full size (default: %(default)s)")


# The commands ---------------------------------------------------------------------------------


def _add_segment(commands: _Commands) -> None:
    seg = commands.add_parser(
        "segment", help="segment images and write labels, segmented image and a JSON report",
        description="Segment each IMAGE by k-means and write <stem>_labels.png, "
                    "<stem>_segmented.png and <stem>.json to OUTDIR. A scan (NIfTI .nii / "
                    ".nii.gz, MGH .mgz, a DICOM file or series folder) is clustered as one "
                    "volume: <stem>_labels.nii.gz on its grid (0 outside --mask, 1..k by "
                    "intensity) and <stem>.json with each class's volume in mL.",
    )
    seg.add_argument("images", nargs="+", metavar="IMAGE",
                     help="image files, or scans (NIfTI, MGH, DICOM file or series folder)")
    seg.add_argument("-k", "--k", type=k_or_auto, default=None,
                     help="number of clusters, or 'auto' (see kmseg choose-k) (default: "
                          f"{DEFAULT_K}, or the preset's with --regions)")
    seg.add_argument("--init", default=INIT_METHODS[0],
                     metavar=f"{{{','.join(INIT_METHODS)},FILE}}",
                     help="seeding, or a FILE of initial centres (.npy, .csv/.txt, a kmseg "
                          ".json report) or an initial label map image (default: %(default)s)")
    seg.add_argument("--mask", metavar="FILE",
                     help="mask image: pixels that are 0 (or transparent) are left out")
    _add_outdir(seg)
    seg.add_argument("--compare", action="store_true",
                     help="also write <stem>_compare.png (original and segmented side by side; "
                          "--width and --dpi set its size)")
    seg.add_argument("--masks", action="store_true",
                     help="also write <stem>_mask_<i>.png and <stem>_cutout_<i>.png per cluster")
    _add_chunked_options(seg)
    seg.add_argument("--region-masks", action="store_true",
                     help="with regions, also write <stem>_region_<id>.png per region")
    seg.add_argument("--hierarchy", action="store_true",
                     help="also write <stem>_ucm2.png: the photo's merge hierarchy as a 16-bit "
                          "ultrametric contour map at twice its size plus one (BSDS's ucm2: "
                          "kmseg.regions.cut(ucm / 65535, level) gives the regions of a level)")
    _add_quality_targets(seg)
    _add_figure_options(seg)
    palette = seg.add_mutually_exclusive_group()
    palette.add_argument("--palette", metavar="FILE",
                         help="apply a saved palette (KMeansSegmenter.save, --save-palette) "
                              "instead of clustering: labels by nearest centre")
    palette.add_argument("--save-palette", metavar="FILE",
                         help="also save the fitted palette as JSON (one image)")
    _add_clustering_options(seg)
    _add_scan_options(seg)
    seg.set_defaults(run="segment")


def _add_scan_options(seg: argparse.ArgumentParser) -> None:
    scans = seg.add_argument_group("scans (NIfTI, MGH, DICOM)")
    scans.add_argument("--window", type=ct_window, default=None,
                       metavar="CENTRE,WIDTH|NAME",
                       help="clip intensities to CENTRE -/+ WIDTH/2 before clustering, or a "
                            f"named CT window ({', '.join(CT_WINDOWS)}); a negative centre "
                            "takes '=': --window=-600,1500")
    scans.add_argument("--tissue", action="store_true",
                       help="the tissue preset: N4 bias-field correction of MR intensities "
                            "(the med extra: pip install '.[med]'), k-means, then a spatial "
                            "prior on the labels (neighbouring voxels tend to share a class)")
    scans.add_argument("--volume", action="store_true",
                       help="read each input as a scan: a multi-page TIFF as a z-stack (NIfTI, "
                            "MGH and DICOM are scans anyway)")
    scans.add_argument("--channels", nargs="+", metavar="SCAN",
                       help="more scans on the same grid, clustered with each input as its "
                            "channels (e.g. flair.nii.gz --channels t1c.nii.gz)")
    scans.add_argument("--series", metavar="UID",
                       help="the SeriesInstanceUID (or a unique prefix) to read from a DICOM "
                            "folder holding several series")
    scans.add_argument("--dicom-seg", action="store_true",
                       help="for a DICOM input, also write <stem>_seg.dcm: the classes as a "
                            "DICOM SEG over the source series (highdicom, the med extra)")


def _add_chunked_options(seg: argparse.ArgumentParser) -> None:
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
    seg.add_argument("--workers", type=positive_int, default=None,
                     help="with --zarr: processes (default: one per core)")


def _add_sweep(commands: _Commands) -> None:
    sweep = commands.add_parser(
        "sweep", help="figure of the segmentation for several k",
        description="Segment IMAGE for each k and write the grid figure <stem>_sweep.png to "
                    "OUTDIR.",
    )
    sweep.add_argument("image", metavar="IMAGE")
    _add_k_candidates(sweep, [4, 6, 10], "values of k: 4 6 10, 4,6,10 or 2..8 (default: 4,6,10)")
    _add_outdir(sweep)
    _add_figure_options(sweep)
    _add_clustering_options(sweep)
    sweep.set_defaults(run="sweep")


def _add_colors(commands: _Commands) -> None:
    colors = commands.add_parser(
        "colors", help="figure of the image's colour distribution",
        description="3-D scatter of a pixel sample in its own colours and per-channel "
                    "histograms, written as <stem>_colors.png to OUTDIR; with -k, of the "
                    "clustering: points coloured by their cluster's centre, centres marked.",
    )
    colors.add_argument("image", metavar="IMAGE")
    colors.add_argument("-k", "--k", type=positive_int, default=None,
                        help="cluster with this k (as kmseg segment) and show the clusters")
    _add_space(colors, "with -k: feature space (default: %(default)s)")
    _add_outdir(colors)
    _add_figure_options(colors)
    colors.add_argument("--sample", type=positive_int, default=20000,
                        help="pixels in the scatter (default: %(default)s)")
    _add_seed(colors, "sampling seed (default: 0)")
    _add_read_options(colors)
    colors.set_defaults(run="colors")


def _add_choose_k(commands: _Commands) -> None:
    choose = commands.add_parser(
        "choose-k", help="score k = 2..16 and recommend one",
        description="Cluster IMAGE for each k and print compactness (SSE), PSNR of the painted "
                    "image, mean CIEDE2000, silhouette, Calinski-Harabasz and Davies-Bouldin; "
                    "recommend the knee of the compactness curve (or the smallest k meeting "
                    "--min-psnr / --max-error), saying so when the silhouette disagrees.",
    )
    choose.add_argument("image", metavar="IMAGE")
    _add_k_candidates(choose, list(range(2, 17)),
                      "candidates: 2..16, 2,4,8 or 2 4 8 (default: 2..16)")
    _add_space(choose, "feature space (default: %(default)s)")
    _add_attempts(choose, "k-means attempts per k (default: 3)")
    _add_seed(choose, "random seed (default: 0)")
    _add_quality_targets(choose)
    _add_outdir(choose, "output folder of the figure <stem>_choose_k.png: compactness and "
                        "silhouette against k, segmented strip (default: the current folder)")
    _add_figure_options(choose)
    choose.add_argument("--json", metavar="FILE", help="also write the scores to FILE")
    _add_read_options(choose)
    choose.set_defaults(run="choose_k")


def _add_batch(commands: _Commands) -> None:
    batch = commands.add_parser(
        "batch", help="segment many images on a process pool, resumable",
        description="Segment every image of INPUT (files, folders searched recursively, glob "
                    "patterns) into OUTDIR on a pool of processes, with a progress bar. A bad "
                    "file is reported (one line, and in OUTDIR/errors.json) and the rest go "
                    "on; run the same command again to finish a killed batch (complete outputs "
                    "are skipped). Inputs are never written.",
    )
    batch.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, patterns")
    _add_outdir(batch, "output folder", default=None, required=True)
    batch.add_argument("-k", "--k", type=k_or_auto, default=None,
                       help=f"number of clusters, or 'auto' (default: {DEFAULT_K})")
    palettes = batch.add_mutually_exclusive_group()
    palettes.add_argument("--palette", metavar="FILE",
                          help="apply a saved palette to every image")
    palettes.add_argument("--shared-palette", action="store_true",
                          help="fit one palette on all images (summed histograms), then label "
                               "each with it")
    batch.add_argument("--workers", type=positive_int, default=None,
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


def _add_video(commands: _Commands) -> None:
    video = commands.add_parser(
        "video", help="segment every frame of a clip with one palette (no flicker)",
        description="Fit one palette on all frames of INPUT (an animated GIF/WebP, a folder of "
                    "frames, or a video file with the 'video' extra), then write each frame's "
                    "labels and painted frame, an animated GIF (or MP4 for video) and a JSON "
                    "report with the per-frame compactness to OUTDIR.",
    )
    video.add_argument("input", metavar="INPUT")
    _add_outdir(video, "output folder", default=None, required=True)
    video.add_argument("-k", "--k", type=positive_int, default=8,
                       help="number of colours (default: %(default)s)")
    _add_space(video, "feature space (default: %(default)s)")
    _add_attempts(video, f"k-means attempts (default: {DEFAULT_ATTEMPTS})")
    _add_seed(video, "random seed (default: 0)")
    _add_fix(video, "colours that must stay in the palette, e.g. '#ff0000'")
    video.set_defaults(run="video")


def _add_evaluate(commands: _Commands) -> None:
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


def _add_serve(commands: _Commands) -> None:
    serve = commands.add_parser(
        "serve", help="a local web app: drop a photo, drag k, see the segments, export",
        description="Start a local web server with an interactive page for kmseg (the 'serve' "
                    "extra: FastAPI and uvicorn). Uploads stay in a temporary folder deleted "
                    "on exit. The JSON API is described at /docs.",
    )
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: %(default)s, this machine only)")
    serve.add_argument("--port", type=port, default=8765,
                       help="port (default: %(default)s)")
    serve.add_argument("--open", action="store_true", help="open the page in a browser")
    serve.add_argument("--max-upload-mb", type=positive_int, default=50,
                       help="largest upload in MB (default: %(default)s)")
    serve.set_defaults(run="serve")


def _add_demo(commands: _Commands) -> None:
    demo = commands.add_parser(
        "demo", help="run the whole recipe on the bundled sample photo",
        description="Segment the bundled photo (k = 4) and write every output and figure.",
    )
    demo.add_argument("-o", "--outdir", default="kmseg-demo",
                      help="output folder (default: %(default)s)")
    demo.set_defaults(run="demo")
