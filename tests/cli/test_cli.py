"""The kmseg command end to end, in temporary folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import kmseg
from conftest import read_png
from kmseg._options import REGION_LEVEL
from kmseg.cli import main

HEAVY = ("numpy", "PIL", "matplotlib", "skimage", "sklearn", "scipy", "dask", "tifffile", "numba")


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kmseg", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    Image.open(kmseg.data.sample_path()).resize((120, 80)).save(path)
    return path


def test_help_does_not_import_the_heavy_stack():
    code = (
        "import sys, kmseg.cli\n"
        "try:\n    kmseg.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    "command", ["segment", "sweep", "colors", "choose-k", "batch", "video", "evaluate", "demo"]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: kmseg {command}" in capsys.readouterr().out


def test_version():
    result = run_process("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"kmseg {kmseg.__version__}"


def test_segment_writes_outputs(photo, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = run([
        "segment", str(photo), "-k", "3", "-o", str(out), "--compare", "--masks",
        "--space", "lab", "--seed", "4",
    ], capsys)
    assert code == 0, err
    assert "photo.png: k=3" in stdout
    labels = read_png(out / "photo_labels.png")
    assert labels.shape == (80, 120) and set(np.unique(labels)) == {0, 1, 2}
    report = json.loads((out / "photo.json").read_text())
    assert report["k"] == 3 and report["space"] == "lab" and report["params"]["seed"] == 4
    for name in ["photo_segmented.png", "photo_compare.png", "photo_mask_2.png",
                 "photo_cutout_0.png"]:
        assert (out / name).is_file(), name


def test_init_from_a_previous_report_and_from_files(photo, tmp_path, capsys):
    first = tmp_path / "first"
    assert run(["segment", str(photo), "-k", "3", "-o", str(first)], capsys)[0] == 0
    centers = json.loads((first / "photo.json").read_text())["centers"]
    again = tmp_path / "again"
    code, _, err = run(["segment", str(photo), "-k", "3", "--init",
                        str(first / "photo.json"), "-o", str(again)], capsys)
    assert code == 0, err
    report = json.loads((again / "photo.json").read_text())
    np.testing.assert_allclose(report["centers"], centers, rtol=1e-9)
    np.save(tmp_path / "init.npy", np.array(centers))
    assert run(["segment", str(photo), "-k", "3", "--init", str(tmp_path / "init.npy"),
                "-o", str(again)], capsys)[0] == 0
    code, _, _ = run(["segment", str(photo), "-k", "3", "--init",
                      str(first / "photo_labels.png"), "-o", str(again)], capsys)
    assert code == 0
    np.testing.assert_array_equal(read_png(again / "photo_labels.png"),
                                  read_png(first / "photo_labels.png"))


def test_mask_file(photo, tmp_path, capsys):
    mask = np.zeros((80, 120), np.uint8)
    mask[:, 60:] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    code, _, err = run(["segment", str(photo), "-k", "2", "--mask", str(tmp_path / "mask.png"),
                        "-o", str(tmp_path / "o")], capsys)
    assert code == 0, err
    labels = read_png(tmp_path / "o" / "photo_labels.png")
    assert (labels[:, :60] == 255).all() and labels[:, 60:].max() == 1


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (None, ["-k", "2"], "no such file"),
        ("text", ["-k", "2"], "not an image"),
        ("empty", ["-k", "2"], "empty file"),
        ("flat", ["-k", "5"], "exceeds the 1 distinct"),
        ("flat", ["-k", "2", "--init", "nonsense"], "--init 'nonsense'"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, capsys, make, args, message):
    path = tmp_path / "input.png"
    if make == "text":
        path.write_text("hello")
    elif make == "empty":
        path.write_bytes(b"")
    elif make == "flat":
        Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(path)
    code, _, err = run(["segment", str(path), *args, "-o", str(tmp_path / "o")], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    if make != "flat" or args[-2] == "-k":  # parameter errors are not about the file
        assert "input.png" in lines[0]


def test_usage_error_is_one_line():
    result = run_process("segment", "x.png", "-k", "zero")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "expected" in result.stderr


def test_unwritable_output_folder(photo, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    code, _, err = run(["segment", str(photo), "-o", str(blocker / "out")], capsys)
    assert code == 2 and "cannot create the output folder" in err
    assert len(err.strip().splitlines()) == 1


def test_a_bad_file_does_not_stop_the_others(photo, tmp_path, capsys):
    code, _out, err = run(["segment", str(tmp_path / "missing.png"), str(photo), "-k", "2",
                          "-o", str(tmp_path / "o")], capsys)
    assert code == 2
    assert (tmp_path / "o" / "photo_labels.png").is_file()
    assert "missing.png" in err and "1 of 2 images failed" in err


def test_a_batch_never_overwrites_another_input(photo, tmp_path, capsys):
    other = tmp_path / "photo_labels.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(other)
    before = other.read_bytes()
    code, _, err = run(["segment", str(photo), str(other), "-k", "2", "-o", str(tmp_path)],
                       capsys)
    assert code == 2 and "refusing to overwrite an input" in err
    assert other.read_bytes() == before


def test_a_batch_refuses_two_inputs_with_one_name(photo, tmp_path, capsys):
    twin = tmp_path / "twin" / "photo.jpg"
    twin.parent.mkdir()
    Image.open(photo).convert("RGB").save(twin)
    code, _, err = run(["segment", str(photo), str(twin), "-k", "2", "-o", str(tmp_path / "o")],
                       capsys)
    assert code == 2 and "same file name" in err and str(twin) in err
    report = json.loads((tmp_path / "o" / "photo.json").read_text())
    assert report["source"] == str(photo)


def test_sweep_and_colors_figures(photo, tmp_path, capsys):
    code, _, err = run(["sweep", str(photo), "-k", "2", "3", "-o", str(tmp_path / "s")], capsys)
    assert code == 0, err
    assert read_png(tmp_path / "s" / "photo_sweep.png").ndim == 3
    code, _, err = run(["colors", str(photo), "-o", str(tmp_path / "c")], capsys)
    assert code == 0, err
    assert read_png(tmp_path / "c" / "photo_colors.png").shape[1] > 100


@pytest.mark.parametrize("ks", [["4,6,10"], ["4", "6", "10"], ["4..6", "10"]])
def test_sweep_takes_the_tutorials_list_of_k(photo, tmp_path, capsys, ks, monkeypatch):
    import kmseg.plot

    asked = []
    real = kmseg.plot.sweep
    monkeypatch.setattr(kmseg.plot, "sweep",
                        lambda image, ks, **kw: asked.append(ks) or real(image, ks=ks, **kw))
    code, _, err = run(["sweep", str(photo), "-k", *ks, "--attempts", "1", "-o",
                        str(tmp_path)], capsys)
    assert code == 0, err
    assert asked[0][0] == 4 and asked[0][-1] == 10 and len(asked[0]) in (3, 4)


@pytest.mark.parametrize("command", ["segment", "sweep", "colors", "choose-k", "batch", "video"])
def test_o_is_a_folder_never_named_like_a_file(photo, tmp_path, capsys, command):
    code, _, err = run([command, str(photo), "-o", str(tmp_path / "seg.png")], capsys)
    assert code == 2
    assert "seg.png" in err and "folder" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "seg.png").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["segment", "IMG", "-k", "four"], "expected a number of clusters >= 1 or 'auto'"),
    (["sweep", "IMG", "-k", "four"], "expected K, K,K,... or FROM..TO"),
    (["segment", "IMG", "--seed", "x"], "expected an integer >= 0, got 'x'"),
    (["segment", "IMG", "--seed", "-1"], "must be >= 0"),
    (["segment", "IMG", "--compare", "--width", "abc"], "expected a number > 0, got 'abc'"),
    (["segment", "IMG", "--attempts", "0"], "must be >= 1"),
    (["segment", "IMG", "--eps", "-1"], "must be a finite number >= 0"),
    (["segment", "IMG", "--comapre"], "did you mean '--compare'?"),
    (["serve", "--port", "70000"], "must be a port number from 1 to 65535"),
    (["segment", "IMG", "--space", "lba"], "did you mean 'lab'?"),
    (["segmnt", "IMG"], "did you mean 'segment'?"),
    (["choose-k", "IMG", "--spaec", "lab"], "did you mean '--space'?"),
])
def test_usage_errors_say_what_is_expected_without_internal_names(photo, capsys, args, expected):
    args = [str(photo) if a == "IMG" else a for a in args]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert "_int" not in err and "_k_" not in err and "_positive" not in err


@pytest.mark.parametrize(("args", "expected"), [
    (["choose-k", "IMG", "-k", "4"], "-k 4: choose-k compares several k"),
    (["colors", "IMG", "--space", "lab"], "--space is the clustering's: use it with -k"),
    (["segment", "IMG", "--dpi", "50"], "--width and --dpi size the --compare figure"),
])
def test_options_that_need_another_say_so(photo, tmp_path, capsys, args, expected):
    args = [str(photo) if a == "IMG" else a for a in args]
    code, _, err = run([*args, "-o", str(tmp_path / "out")], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1


def test_commands_show_progress_on_a_terminal(photo, tmp_path, capsys, monkeypatch):
    from kmseg.cli import _progress

    class Terminal:  # what the commands print to, as a terminal would show it
        def __init__(self):
            self.text = ""

        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> int:
            self.text += text
            return len(text)

        def flush(self) -> None:
            pass

    terminal = Terminal()
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(["segment", str(photo), "-k", "3", "--compare", "-o", str(tmp_path)])
    assert code == 0
    assert f"kmseg: segmenting {photo}" in terminal.text
    assert f"kmseg: writing the outputs of {photo}" in terminal.text


def test_progress_line_on_a_terminal_only():
    import io
    import time

    from kmseg.cli._progress import working

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        with working("segmenting photo.jpg", stream=stream, delay=0.05):
            time.sleep(0.3)
    assert "kmseg: segmenting photo.jpg ... 0 s" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r\x1b[K")  # erased at the end
    assert log.getvalue() == ""
    quick = Terminal()
    with working("quick", stream=quick, delay=5):
        pass
    assert quick.getvalue() == ""


def test_default_figure_names_land_in_the_working_folder(photo, tmp_path):
    result = run_process("colors", str(photo), "--sample", "500", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "photo_colors.png").is_file()
    result = run_process("colors", str(photo), "--sample", "500", "-o", "figs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "figs" / "photo_colors.png").is_file()


def test_demo(tmp_path):
    result = run_process("demo", "-o", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    names = {p.name for p in (tmp_path / "demo").iterdir()}
    assert {"coffee_labels.png", "coffee_segmented.png", "coffee.json", "coffee_compare.png",
            "coffee_sweep.png", "coffee_colors.png", "coffee_cutout_3.png"} <= names
    assert str(tmp_path / "demo") in result.stdout


def _upright_size(path: Path) -> tuple[int, int] | None:
    """(width, height) after EXIF rotation, by Pillow alone; None if Pillow cannot tell."""
    try:
        with Image.open(path) as image:
            orientation = image.getexif().get(0x0112, 1)
            size = image.size
    except Exception:
        return None
    return size[::-1] if orientation in (5, 6, 7, 8) else size


def test_corpus_sweep(corpus_dir, tmp_path, capsys):
    """Every odd file is segmented at its upright size, or rejected in one line naming it."""
    files = sorted((corpus_dir / "odd").iterdir())
    assert files
    outcomes = {}
    for path in files:
        out = tmp_path / path.stem
        code, _, err = run(["segment", str(path), "-k", "2", "--attempts", "1", "--max-iter",
                            "10", "-o", str(out)], capsys)
        if code == 0:
            labels = read_png(out / f"{path.stem}_labels.png")
            size = _upright_size(path)
            if size is not None:
                assert labels.shape == (size[1], size[0]), path.name
            outcomes[path.name] = "segmented"
        else:
            assert code == 2, path.name
            lines = err.strip().splitlines()
            assert len(lines) == 1 and path.name in lines[0], (path.name, err)
            outcomes[path.name] = lines[0]
    rejected = {name for name, outcome in outcomes.items() if outcome != "segmented"}
    must_fail = {name for name in outcomes if name.startswith(("bomb_decompression.", "truncated_",
                                                               "corrupt_", "bomb_giant",
                                                               "bomb_65536", "tiff_crash_",
                                                               "tiff_fuzz_"))}
    assert must_fail <= rejected
    # Formats without a decoder here (HEIC, JPEG XL) are refused as such, in one line.
    undecoded = {name for name in rejected if name.startswith(("heic_", "jxl_"))}
    for name in undecoded:
        assert "not an image file" in outcomes[name], outcomes[name]
    # Anything else rejected may only be a one-colour image (k = 2 exceeds its colours).
    for name in rejected - must_fail - undecoded:
        assert "k=2 exceeds the 1 distinct" in outcomes[name], outcomes[name]
    assert len(rejected - undecoded) <= len(must_fail) + 2


def test_exif_rotation_is_applied(corpus_dir):
    path = corpus_dir / "odd" / "exif_Landscape_6.jpg"
    seg = kmseg.segment(path, k=2, attempts=1, max_iter=5)
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image)
        assert seg.labels.shape == (upright.height, upright.width) == (1200, 1800)


def test_evaluate_scores_kmseg_outputs_against_label_images(photo, tmp_path, capsys):
    """``kmseg segment`` output scored against itself and against a coarser truth."""
    out, truth = tmp_path / "out", tmp_path / "gt"
    assert run(["segment", str(photo), "-k", "3", "-o", str(out)], capsys)[0] == 0
    labels = read_png(out / "photo_labels.png")
    truth.mkdir()
    (truth / "photo").mkdir()
    Image.fromarray(labels).save(truth / "photo" / "same.png")
    Image.fromarray((labels > 0).astype(np.uint8)).save(truth / "photo" / "coarse.png")
    Image.fromarray(labels).save(truth / "absent.png")
    code, stdout, err = run(["evaluate", str(out), "--ground-truth", str(truth),
                             "--json", str(tmp_path / "scores.json")], capsys)
    assert code == 0  # one truth without a segmentation: said, not an error
    assert "1 ground truth has no segmentation in" in err and "absent" in err
    assert "error" not in err and err.count("\n") == 1
    report = json.loads((tmp_path / "scores.json").read_text())
    scores = report["photos"]["photo"]
    expected = kmseg.metrics.evaluate(labels, [labels, (labels > 0).astype(np.uint8)])
    assert scores["pri"] == pytest.approx(expected.pri) and 0.5 < scores["pri"] < 1
    assert scores["voi"] == pytest.approx(expected.voi) and scores["voi"] > 0
    assert scores["n_segments"] == 3 and scores["n_truth_segments"] == 2.5
    assert f"PRI {expected.pri:.4f}" in stdout


def test_evaluate_with_nothing_to_score(tmp_path, capsys):
    (tmp_path / "gt").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "gt" / "a.png")
    code, _, err = run(["evaluate", str(tmp_path), "--ground-truth", str(tmp_path / "gt")],
                       capsys)
    assert code == 2 and "no segmentation matches" in err
    code, _, err = run(["evaluate", str(tmp_path), "--ground-truth", str(tmp_path / "nope")],
                       capsys)
    assert code == 2 and "nope: not a folder" in err


def test_segment_regions_preset_writes_region_outputs(photo, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = run(["segment", str(photo), "--regions", "-o", str(out),
                             "--region-masks"], capsys)
    assert code == 0, err
    report = json.loads((out / "photo.json").read_text())
    assert report["params"]["region_level"] == REGION_LEVEL
    regions = read_png(out / "photo_regions.png")
    assert report["k"] == min(8, regions.max())  # k-means of the regions' colours
    assert regions.dtype == np.uint16 and regions.max() == len(report["regions"])
    assert f"regions={regions.max()}" in stdout
    assert read_png(out / "photo_boundaries.png").shape == (*regions.shape, 3)
    np.testing.assert_array_equal(read_png(out / "photo_region_1.png") > 0, regions == 1)
    # A gray photo too (the preset's Lab is the gray's lightness).
    gray_photo = tmp_path / "gray.png"
    Image.open(photo).convert("L").save(gray_photo)
    code, stdout, err = run(["segment", str(gray_photo), "--regions", "-o", str(out)], capsys)
    assert code == 0, err
    assert read_png(out / "gray_segmented.png").ndim == 2
    assert read_png(out / "gray_regions.png").max() > 1
    # Explicit options override the preset's.
    code, _, err = run(["segment", str(photo), "--regions", "-k", "3", "--superpixel-method",
                        "slic", "-o", str(tmp_path / "o2")], capsys)
    report = json.loads((tmp_path / "o2" / "photo.json").read_text())
    assert code == 0 and report["k"] == 3 and report["params"]["superpixel_method"] == "slic"
    # --region-level cuts the photo's hierarchy there: the API's regions, fewer higher up.
    counts = []
    for level in ("0.3", "0.7"):
        folder = tmp_path / f"level{level}"
        code, _, err = run(["segment", str(photo), "-k", "3", "--region-level", level,
                            "-o", str(folder)], capsys)
        assert code == 0, err
        cut = kmseg.segment(photo, k=3, region_level=float(level)).regions
        np.testing.assert_array_equal(read_png(folder / "photo_regions.png"), cut)
        counts.append(int(cut.max()))
    assert counts[0] > counts[1]


def test_regions_preset_takes_rasters_and_scans_lab_cannot_read(photo, tmp_path, capsys):
    """--regions on a 4-band raster and a float scan in its own units: the preset clusters
    their values as they are (space "auto"), in segment and in a batch, where --space lab
    stops with a one-line error."""
    import tifffile

    rgb = np.asarray(Image.open(photo))
    folder = tmp_path / "rasters"
    folder.mkdir()
    bands = np.stack([*np.moveaxis(rgb, -1, 0), rgb[..., 1]]).astype(np.uint16) * 100
    tifffile.imwrite(folder / "bands.tif", bands, photometric="minisblack", planarconfig="separate")
    tifffile.imwrite(folder / "scan.tif", (rgb[..., 0].astype(np.float32) - 100) * 12.5)
    for name in ("bands", "scan"):
        code, _, err = run(["segment", str(folder / f"{name}.tif"), "--regions", "--space",
                            "lab", "-o", str(tmp_path / "lab")], capsys)
        assert code == 2 and "space='lab' needs" in err and len(err.splitlines()) == 1
        code, stdout, err = run(["segment", str(folder / f"{name}.tif"), "--regions", "-o",
                                 str(tmp_path / "auto")], capsys)
        assert code == 0, err
        report = json.loads((tmp_path / "auto" / f"{name}.json").read_text())
        assert report["space"] == report["params"]["space"] == "rgb"
        regions = read_png(tmp_path / "auto" / f"{name}_regions.png")
        assert 1 < len(report["regions"]) == regions.max()
    code, stdout, err = run(["batch", str(folder), "--regions", "-o", str(tmp_path / "b")], capsys)
    assert code == 0 and "2 segmented" in stdout and "0 failed" in stdout, err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--min-region", "2", "fraction from 0 to 1"), ("--position", "-1", "finite number >= 0"),
     ("--region-level", "1.5", "fraction from 0 to 1"),
     ("--superpixel-method", "watershed", "invalid choice")],
)
def test_bad_spatial_options(photo, option, value, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["segment", str(photo), option, value])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_save_and_apply_a_palette(photo, tmp_path, capsys):
    palette = tmp_path / "palette.json"
    code, stdout, err = run(["segment", str(photo), "-k", "5", "--space", "lab",
                             "-o", str(tmp_path / "a"), "--save-palette", str(palette)], capsys)
    assert code == 0 and f"wrote {palette}" in stdout, err
    model = kmseg.KMeansSegmenter.load(palette)
    other = tmp_path / "other.png"
    Image.open(kmseg.data.sample_path()).rotate(90, expand=True).resize((90, 70)).save(other)
    code, _, err = run(["segment", str(other), "--palette", str(palette),
                        "-o", str(tmp_path / "b")], capsys)
    assert code == 0, err
    np.testing.assert_array_equal(read_png(tmp_path / "b" / "other_labels.png"),
                                  model.predict(str(other)))
    report = json.loads((tmp_path / "b" / "other.json").read_text())
    assert report["centers"] == json.loads((tmp_path / "a" / "photo.json").read_text())["centers"]
    code, _, err = run(["segment", str(photo), str(other), "--save-palette", str(palette)],
                       capsys)
    assert code == 2 and "one IMAGE" in err


def test_fixed_colours_on_the_command_line(photo, tmp_path, capsys):
    code, _, err = run(["segment", str(photo), "-k", "3", "--fix", "#ff0000, #ffffff",
                        "-o", str(tmp_path)], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "photo.json").read_text())
    assert report["centers"][:2] == [[255.0, 0.0, 0.0], [255.0, 255.0, 255.0]]
    code, _, err = run(["segment", str(photo), "--fix", "#zz0000", "-o", str(tmp_path)], capsys)
    assert code == 2 and "is not '#rrggbb'" in err and err.count("\n") == 1


@pytest.mark.parametrize("command", [
    ["choose-k", "IMG", "-k", "2..3", "--json", "IMG"],
    ["segment", "IMG", "--save-palette", "IMG"],
])
def test_no_output_option_writes_over_the_input(photo, tmp_path, capsys, command):
    before = photo.read_bytes()
    args = [str(photo) if a == "IMG" else a for a in command]
    code, _, err = run([*args, "-o", str(tmp_path / "out")], capsys)
    assert code == 2 and "refusing to overwrite an input file" in err
    assert photo.read_bytes() == before
    assert not (tmp_path / "out" / "photo_choose_k.png").exists()  # refused before any work


@pytest.mark.parametrize("chunked", [[], ["--chunked"]])
def test_pixel_limit_holds_for_rasters_read_in_strips(tmp_path, capsys, chunked):
    import tifffile

    from kmseg._chunked import CHUNKED_FROM

    path = tmp_path / "claims.tif"  # more pixels than CHUNKED_FROM: strips even without --chunked
    rows = CHUNKED_FROM // 10_000 + 1
    tifffile.imwrite(path, np.zeros((rows, 10_000), np.uint8), tile=(512, 512),
                     compression="zlib")
    code, _, err = run(["segment", str(path), "-k", "2", "--max-pixels", "1000",
                        "-o", str(tmp_path / "out"), *chunked], capsys)
    assert code == 2 and "exceeds the decompression-bomb limit of 1,000 pixels" in err
    assert "claims.tif" in err and not (tmp_path / "out" / "claims_labels.tif").exists()


@pytest.mark.parametrize("argv", [["--help"], ["--help", "segment"], ["-h", "batch"]])
def test_top_level_help_lists_every_command(argv, capsys):
    """Only the named command's parser is built, except when help comes before it."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("segment", "sweep", "colors", "choose-k", "batch", "video", "evaluate",
                    "serve", "demo"):
        assert command in out, command
