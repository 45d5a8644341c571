"""Subcommand bodies. Loaded only when a command runs (see :func:`kmseg.cli.main`)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
import threading
from pathlib import Path

import numpy as np

from .._errors import KmsegError, OutputError, ParameterError, with_source
from .._options import DEFAULT_SPACE, INIT_METHODS, resolve_preset
from .._result import Segmentation
from .._segment import KMeansSegmenter
from .._segment import segment as segment_image
from .._validation import check_params
from .._write import atomic_write, output_folder, refuse_inputs, save_figure, write_image
from ..data import sample_path
from ..io import DEFAULT_MAX_PIXELS, load_image
from ..io._volume import is_volume_path
from ._progress import working


def segment(args: argparse.Namespace) -> int:
    """``kmseg segment``: every image in turn; a bad one is reported and the rest go on."""
    init = _read_init(args.init)
    if (args.min_psnr or args.max_error) and args.k != "auto":
        raise ParameterError("--min-psnr and --max-error choose k: use them with -k auto")
    if args.save_palette and len(args.images) > 1:
        raise ParameterError("--save-palette saves the palette of one image; give one IMAGE "
                             "(or fit many with KMeansSegmenter.fit([...]))")
    if args.save_palette:  # before any work: never over an input
        refuse_inputs(args.save_palette, [*args.images, args.mask, args.palette, args.init])
    palette = KMeansSegmenter.load(args.palette) if args.palette else None
    options = _clustering(args)
    if options["k"] == "auto":
        options["k"] = 2  # chosen per image; the other parameters are checked now
    check_params(KMeansSegmenter(init=init, **options).get_params())
    failures = 0
    first_with_stem: dict[str, str] = {}
    for image in args.images:
        try:
            earlier = first_with_stem.setdefault(Path(image).stem, image)
            if earlier != image:
                raise OutputError(with_source(
                    f"its outputs would replace those of {earlier} (same file name); "
                    "segment it with another -o folder", image))
            _segment_one(image, args, init, palette)
        except KmsegError as error:
            if args.debug:
                raise
            print(f"kmseg: error: {error}", file=sys.stderr)
            failures += 1
    if failures and len(args.images) > 1:
        print(f"kmseg: {failures} of {len(args.images)} images failed", file=sys.stderr)
    return 2 if failures else 0


def sweep(args: argparse.Namespace) -> int:
    from .. import plot

    path = _figure_path(args, "sweep")
    ks = _k_values(args.k)
    loaded = load_image(args.image, **_read_options(args))
    options = _clustering(args)
    del options["k"]
    with working(f"segmenting {args.image} for k = {', '.join(map(str, ks))}"):
        figure = plot.sweep(loaded, ks=tuple(ks), **options, **_figure_size(args))
        _save_figure(figure, path, args.image)
    return 0


def colors(args: argparse.Namespace) -> int:
    from .. import plot

    if args.k is None and args.space != DEFAULT_SPACE:
        raise ParameterError("--space is the clustering's: use it with -k")
    path = _figure_path(args, "colors")
    loaded = load_image(args.image, **_read_options(args))
    with working(f"drawing the colours of {args.image}"):
        shown = loaded if args.k is None else segment_image(loaded, k=args.k, space=args.space,
                                                            seed=args.seed)
        figure = plot.colors(shown, sample=args.sample, seed=args.seed, **_figure_size(args))
        _save_figure(figure, path, args.image)
    return 0


def choose_k(args: argparse.Namespace) -> int:
    """``kmseg choose-k``: the score table, the recommendation, a figure (and JSON)."""
    from .._choose_k import choose_k as choose
    from .._write import atomic_write
    from ..plot import choose_k as choose_figure

    ks = _k_values(args.k)
    if len(ks) < 2:
        raise ParameterError(f"-k {ks[0]}: choose-k compares several k; give at least two, "
                             "e.g. -k 2..16 or -k 4,6,10")
    path = _figure_path(args, "choose_k")
    if args.json:
        refuse_inputs(args.json, [args.image])
    loaded = load_image(args.image, **_read_options(args))
    with working(f"scoring k for {args.image}"):
        choice = choose(loaded, ks=ks, space=args.space, attempts=args.attempts,
                        seed=args.seed, min_psnr=args.min_psnr, max_error=args.max_error)
    print(choice.table())
    print(f"recommended {choice.reason}")
    with working("drawing the figure"):
        _save_figure(choose_figure(choice, loaded, **_figure_size(args)), path, args.image)
    if args.json:
        path = Path(args.json)
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(choice.summary(), indent=2)
                                                      + "\n"))
        print(f"wrote {path}")
    return 0


def batch(args: argparse.Namespace) -> int:
    """``kmseg batch``: a summary line, one line per failed image, exit 2 if any failed."""
    from ..batch import run_batch

    options = _clustering(args)
    if options["k"] == "auto" and (args.palette or args.shared_palette):
        raise ParameterError("-k auto chooses k per image; it does not go with a palette")
    report = run_batch(args.inputs, args.outdir, workers=args.workers, palette=args.palette,
                       shared_palette=args.shared_palette, progress=not args.no_progress,
                       scheduler=args.scheduler, force=args.force, **options)
    reasons = sorted(set(report.redone.values()))
    why = f" ({'; '.join(reasons[:2])}{'; ...' if len(reasons) > 2 else ''})" if reasons else ""
    print(f"{len(report.done) - len(report.redone)} segmented, {len(report.redone)} redone"
          f"{why}, {len(report.skipped)} already complete, {len(report.failed)} failed "
          f"({report.seconds:.1f} s) -> {args.outdir}/")
    for error in report.failed.values():
        print(f"kmseg: error: {error}", file=sys.stderr)
    return 2 if report.failed else 0


def video(args: argparse.Namespace) -> int:
    """``kmseg video``: one palette for the clip, every frame labelled with it."""
    from .._video import segment_video

    model = KMeansSegmenter(args.k, space=args.space, attempts=args.attempts, seed=args.seed,
                            fixed_colors=args.fix)
    with working(f"segmenting the frames of {args.input}"):
        result = segment_video(args.input, args.outdir, model=model)
    compactness = np.array(result.compactness)
    print(f"{args.input}: {result.n_frames} frames, k={args.k}, one palette; compactness per "
          f"frame {compactness.min():.6g}..{compactness.max():.6g} -> {args.outdir}/")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``kmseg evaluate``: a table of scores per photo and their means; problems listed, and
    exit status 2 if any photo could not be scored."""
    from dataclasses import asdict

    from .. import metrics
    from .._write import atomic_write

    result = metrics.evaluate_folder(args.segdir, args.ground_truth)
    scores, problems = result.scores, result.problems
    if not scores:
        for line in [f"error: {problem}" for problem in problems.values()] + result.notes():
            print(f"kmseg: {line}", file=sys.stderr)
        raise ParameterError(f"{args.segdir}: no segmentation matches a ground truth in "
                             f"{args.ground_truth} (see kmseg evaluate --help for file names)")
    fields = ("pri", "voi", "gce", "n_segments", "n_truth_segments")
    means = {f: float(np.mean([getattr(s, f) for s in scores.values()])) for f in fields}
    if not args.quiet:
        print("photo\tPRI\tVoI\tGCE\tsegments\thuman segments")
        for stem, score in scores.items():
            print(f"{stem}\t{score.pri:.4f}\t{score.voi:.4f}\t{score.gce:.4f}\t"
                  f"{score.n_segments}\t{score.n_truth_segments:.1f}")
    print(f"mean of {len(scores)} photos: PRI {means['pri']:.4f}  VoI {means['voi']:.4f} bits  "
          f"GCE {means['gce']:.4f}  segments {means['n_segments']:.1f} "
          f"(human {means['n_truth_segments']:.1f})")
    for problem in problems.values():
        print(f"kmseg: error: {problem}", file=sys.stderr)
    for note in result.notes():  # photos on one side only: worth saying, not errors
        print(f"kmseg: {note}", file=sys.stderr)
    if args.json:
        report = {"mean": means, "photos": {stem: asdict(s) for stem, s in scores.items()},
                  "problems": problems, "no_ground_truth": result.no_ground_truth,
                  "no_segmentation": result.no_segmentation}
        path = Path(args.json)
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n"))
        print(f"wrote {path}")
    return 2 if problems else 0


def serve(args: argparse.Namespace) -> int:
    """``kmseg serve``: the web app, until Ctrl+C."""
    from ..serve import serve as run_server

    run_server(args.host, args.port, open_browser=args.open,
               max_upload_bytes=args.max_upload_mb * 1024 * 1024)
    return 0


def demo(args: argparse.Namespace) -> int:
    """The recipe end to end on the bundled photo: k = 4 with extras, a k sweep, the colours."""
    from .. import plot

    outdir = output_folder(Path(args.outdir))
    photo = load_image(sample_path())
    with working("segmenting the sample photo (the first run loads the kernels)"):
        seg = segment_image(photo, k=4)
        written = seg.save(outdir, stem="coffee", compare=True, masks=True)
        _save_figure(plot.sweep(photo, ks=(4, 6, 10)), outdir / "coffee_sweep.png", None)
        _save_figure(plot.colors(seg), outdir / "coffee_colors.png", None)
    print(f"segmented {sample_path()} with k = 4 (compactness {seg.compactness:.4g}, "
          f"{seg.n_iter} iterations)")
    print(f"centres: {', '.join(seg.hex_colors or [])}")
    print(f"wrote {len(written) + 2} files to {outdir.resolve()}/")
    return 0


def _segment_one(
    image: str, args: argparse.Namespace, init: object, palette: KMeansSegmenter | None
) -> None:
    if args.volume or is_volume_path(image):
        from ._volume import segment_scan

        segment_scan(image, args)
        return
    if args.tissue or args.window or args.series or args.channels or args.dicom_seg:
        raise ParameterError(with_source("--tissue, --window, --series, --channels and "
                                         "--dicom-seg apply to scans (NIfTI, MGH, DICOM), not "
                                         "to an image", image))
    if args.chunked or _too_large_for_memory(image):
        _segment_chunked(image, args, init, palette)
        return
    if args.zarr or args.scheduler or args.workers:
        raise ParameterError(with_source("--zarr, --scheduler and --workers apply to a raster "
                                         "segmented in strips: add --chunked", image))
    output_folder(Path(args.outdir))  # a bad -o fails before the work
    if (args.width or args.dpi) and not args.compare:
        raise ParameterError("--width and --dpi size the --compare figure: add --compare")
    # matplotlib's import (0.5-0.9 s) overlaps the clustering; joined before the figure.
    plotting = threading.Thread(target=importlib.import_module, args=("kmseg.plot",))
    if args.compare:
        plotting.start()
    mask = _read_mask(args.mask) if args.mask else None
    with working(f"segmenting {image}"):
        if palette is not None:
            loaded = load_image(image, **_read_options(args))
            seg = palette.segment(loaded, mask=mask)
        else:
            seg = segment_image(image, init=init, mask=mask, **_clustering(args),
                                min_psnr=args.min_psnr, max_error=args.max_error,
                                **_read_options(args))
    if args.save_palette:
        model = KMeansSegmenter.from_segmentation(seg)
        print(f"wrote {model.save(args.save_palette)}")
    if args.compare:
        plotting.join()
    with working(f"writing the outputs of {image}"):
        written = seg.save(args.outdir, compare=args.compare, masks=args.masks,
                           region_masks=args.region_masks, protect=args.images,
                           figure_width=args.width, figure_dpi=args.dpi)
    if args.hierarchy:
        with working(f"building the merge hierarchy of {image}"):
            _write_hierarchy(seg, written["json"].with_name(
                f"{written['json'].stem}_ucm2.png"), args.images)
    seconds = sum(seg.timings.values())
    regions = f" regions={seg.n_regions}" if seg.regions is not None else ""
    print(f"{image}: k={seg.k}{regions} compactness={seg.compactness:.6g} "
          f"iterations={seg.n_iter} ({seconds:.2f} s) -> "
          f"{written['json'].parent}/{Path(written['json']).stem}_*")
    if args.debug:  # otherwise only in the report, away from the results
        for message in seg.decoder_messages:
            print(f"kmseg: {image}: the decoder said: {message}", file=sys.stderr)


def _write_hierarchy(seg: Segmentation, path: Path, inputs: list[str]) -> None:
    """The image's ultrametric contour map as a 16-bit PNG (levels x 65535), atomically: the
    map the regions are cut from (above ``max_work_pixels``, from a shrunk copy's)."""
    from .._labelling import regions_drawn_on
    from ..regions import hierarchy

    ucm = np.rint(hierarchy(regions_drawn_on(seg.image, seg.valid)) * 65535).astype(np.uint16)
    refuse_inputs(path, inputs)
    atomic_write(path, lambda tmp: write_image(tmp, ucm, alpha=False))


def _too_large_for_memory(image: str) -> bool:
    from ..io import raster_info

    try:
        info = raster_info(image)
    except KmsegError:  # not streamable: the whole-image reader says what is wrong
        return False
    if info is None:  # not a TIFF: _chunked's import (2 ms) is not needed
        return False
    from .._chunked import CHUNKED_FROM

    return info.pixels > CHUNKED_FROM


def _segment_chunked(
    image: str, args: argparse.Namespace, init: object, palette: KMeansSegmenter | None
) -> None:
    from .._chunked import segment_chunked

    unsupported = [flag for flag, value in (
        ("--mask", args.mask), ("--compare", args.compare), ("--masks", args.masks),
        ("--region-masks", args.region_masks), ("--save-palette", args.save_palette),
        ("--hierarchy", args.hierarchy),
        ("-k auto", args.k == "auto"), ("--init FILE", not isinstance(init, str)),
    ) if value]
    if unsupported:
        raise ParameterError(with_source(
            f"{', '.join(unsupported)} cannot be used on a raster segmented in strips", image))
    model = palette or KMeansSegmenter(init=init, **_clustering(args))
    zarr = bool(args.zarr or args.scheduler)
    # The zarr path has a progress bar of its strips; the BigTIFF path a status line.
    with working(f"segmenting {image} in strips") if not zarr else contextlib.nullcontext():
        result = segment_chunked(image, args.outdir, model=model, bands=args.bands,
                                 max_pixels=_read_options(args)["max_pixels"],
                                 refit=palette is None, protect=args.images,
                                 output="zarr" if zarr else "tiff", scheduler=args.scheduler,
                                 workers=args.workers, progress=zarr and sys.stderr.isatty())
    print(f"{image}: k={model.k} compactness={model.inertia_:.6g} in {result.n_strips} strips "
          f"({sum(result.timings.values()):.2f} s) -> {result.files['json'].parent}/"
          f"{result.files['json'].stem}_*")


def _clustering(args: argparse.Namespace) -> dict[str, object]:
    """Keyword arguments of ``segment`` / ``KMeansSegmenter``, the regions preset resolved."""
    k = None if isinstance(args.k, list) else args.k  # sweep's k is a list
    return resolve_preset(
        args.regions, k=k, space=args.space, position=args.position, smooth=args.smooth,
        superpixels=args.superpixels, superpixel_method=args.superpixel_method,
        min_region=args.min_region, region_level=args.region_level,
    ) | {
        "attempts": args.attempts,
        "max_iter": args.max_iter,
        "eps": args.eps,
        "seed": args.seed,
        "normalize": args.normalize,
        "texture": args.texture,
        "max_work_pixels": args.work_pixels or None,
        "fixed_colors": args.fix,
    }


def _read_options(args: argparse.Namespace) -> dict[str, object]:
    """``load_image`` keyword arguments: --frame, --max-pixels (0 lifts it), --bands."""
    if args.max_pixels is None:
        max_pixels = DEFAULT_MAX_PIXELS
    else:
        max_pixels = None if args.max_pixels == 0 else args.max_pixels
    return {"frame": args.frame, "max_pixels": max_pixels, "bands": args.bands}


def _read_init(value: str) -> str | np.ndarray:
    """``--init``: a method name, or a file of centres or an initial label map."""
    if value in INIT_METHODS:
        return value
    path = Path(value)
    if not path.is_file():
        raise ParameterError(f"--init {value!r} is neither "
                             f"{', '.join(map(repr, INIT_METHODS))} nor an existing file")
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            return np.asarray(data["centers"] if isinstance(data, dict) else data, dtype=float)
        if path.suffix in (".csv", ".txt"):
            return np.atleast_2d(np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ParameterError(with_source(f"cannot read initial centres ({error})", path)) from None
    labels = load_image(path).pixels
    if labels.ndim != 2 or labels.dtype.kind != "u":
        raise ParameterError(with_source("an initial label map must be a gray integer image", path))
    return labels


def _read_mask(path: str) -> np.ndarray:
    loaded = load_image(path)
    mask = loaded.pixels != 0 if loaded.pixels.ndim == 2 else loaded.pixels.any(axis=2)
    return mask if loaded.mask is None else mask & loaded.mask


def _figure_path(args: argparse.Namespace, kind: str) -> Path:
    """``<stem>_<kind>.png`` in the ``-o`` folder (checked before any work)."""
    return output_folder(Path(args.outdir)) / f"{Path(args.image).stem}_{kind}.png"


def _k_values(groups: list[list[int]]) -> list[int]:
    """The k of ``-k 4 6 10``, ``-k 4,6,10`` or ``-k 2..16``, in order, each once."""
    return list(dict.fromkeys(k for group in groups for k in group))


def _figure_size(args: argparse.Namespace) -> dict[str, float]:
    """``--width`` and ``--dpi`` for the figure functions (which shrink images to fit)."""
    return {name: value for name, value in (("width", args.width), ("dpi", args.dpi))
            if value is not None}


def _save_figure(figure: object, path: str | Path, source: str | None) -> None:
    print(f"wrote {save_figure(figure, path, source=source)}")  # type: ignore[arg-type]
