"""kmseg batch: same results as one call per image, errors collected, resumable, kill-safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmseg
from conftest import read_png
from kmseg._errors import ParameterError
from kmseg._options import REGIONS_PRESET
from kmseg.batch import find_images, run_batch
from kmseg.cli import main


def make_inputs(folder: Path, n: int = 6) -> list[Path]:
    photo = Image.open(kmseg.data.sample_path())
    (folder / "sub").mkdir(parents=True)
    paths = []
    for i in range(n):
        path = folder / ("sub" if i % 3 == 2 else "") / f"p{i}.png"
        photo.rotate(25 * i).resize((96, 64)).save(path)
        paths.append(path)
    return paths


def outputs_of(outdir: Path, source: Path, root: Path) -> Path:
    return outdir / source.parent.relative_to(root) / f"{source.stem}.json"


def test_batch_equals_one_call_per_image_on_any_pool(tmp_path):
    paths = make_inputs(tmp_path / "in")
    (tmp_path / "in" / "notes.png").write_text("not an image")
    one = run_batch([tmp_path / "in"], tmp_path / "one", workers=1, progress=False, k=3)
    two = run_batch([tmp_path / "in"], tmp_path / "two", workers=2, progress=False, k=3)
    assert sorted(one.done) == sorted(two.done) == sorted(map(str, paths))
    assert list(one.failed) == [str(tmp_path / "in" / "notes.png")]
    errors = json.loads((tmp_path / "two" / "errors.json").read_text())
    assert errors[0]["file"].endswith("notes.png") and "notes.png" in errors[0]["error"]
    for path in paths:
        expected = kmseg.segment(path, k=3).labels
        for outdir in ("one", "two"):
            report = outputs_of(tmp_path / outdir, path, tmp_path / "in")
            labels = read_png(report.parent / f"{path.stem}_labels.png")
            np.testing.assert_array_equal(labels, expected)


def test_resumes_only_what_is_incomplete(tmp_path):
    paths = make_inputs(tmp_path / "in", 4)
    run_batch([tmp_path / "in"], tmp_path / "out", progress=False, k=3)
    (tmp_path / "out" / "p1_segmented.png").unlink()  # as if killed while writing p1
    again = run_batch([tmp_path / "in"], tmp_path / "out", progress=False, k=3)
    assert again.done == [str(paths[1])] and len(again.skipped) == 3
    assert again.redone == {}  # incomplete, not made with other settings
    assert (tmp_path / "out" / "p1_segmented.png").is_file()


def test_shared_palette_is_the_pooled_fit(tmp_path):
    paths = make_inputs(tmp_path / "in", 5)
    report = run_batch([tmp_path / "in"], tmp_path / "out", shared_palette=True,
                       progress=False, k=4, space="lab")
    assert len(report.done) == 5
    model = kmseg.KMeansSegmenter(k=4, space="lab").fit([str(p) for p in paths])
    for path in paths:
        centers = json.loads(outputs_of(tmp_path / "out", path, tmp_path / "in").read_text())[
            "centers"]
        np.testing.assert_allclose(centers, model.centers_, rtol=1e-9)


def test_bad_inputs(tmp_path):
    with pytest.raises(ParameterError, match="no such file, folder or matching pattern"):
        find_images([tmp_path / "nothing"])
    make_inputs(tmp_path / "a", 1)
    make_inputs(tmp_path / "b", 1)
    report = run_batch([tmp_path / "a" / "p0.png", tmp_path / "b" / "p0.png"],
                       tmp_path / "out", progress=False, k=2)
    assert len(report.done) == 1 and "same name" in next(iter(report.failed.values()))
    with pytest.raises(ParameterError, match="k=0 is invalid"):
        run_batch([tmp_path / "a"], tmp_path / "out", progress=False, k=0)
    with pytest.raises(ParameterError, match="not both"):
        run_batch([tmp_path / "a"], tmp_path / "out", palette="p.json", shared_palette=True)


def test_killed_batch_restarts_and_finishes(tmp_path):
    """SIGKILL while the batch runs; the same command again completes every output."""
    n = 200  # enough that the kill comes mid-way: a 96x64 photo takes a few ms
    make_inputs(tmp_path / "in", n)
    command = [sys.executable, "-m", "kmseg", "batch", str(tmp_path / "in"), "-o",
               str(tmp_path / "out"), "-k", "4", "--workers", "1", "--no-progress",
               "--attempts", "30"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # The photos' own reports (the batch writes others of its own): at least 3 before the kill.
    while time.monotonic() < deadline and len(list((tmp_path / "out").rglob("p*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = len(list((tmp_path / "out").rglob("p*.json")))
    assert 3 <= finished_before < n, "the kill must come mid-way"
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{finished_before} already complete" in result.stdout
    leftovers = [p for p in (tmp_path / "out").rglob(".*") if p.is_file()]
    assert leftovers == []  # no temporary file left behind
    for report_path in (tmp_path / "out").rglob("p*.json"):
        report = json.loads(report_path.read_text())
        for name in report["files"].values():
            assert read_png(report_path.parent / name).size > 0  # complete, readable
    assert len(list((tmp_path / "out").rglob("p*.json"))) == n


def test_batch_command_line(tmp_path, capsys):
    make_inputs(tmp_path / "in", 3)
    code = main(["batch", str(tmp_path / "in" / "*.png"), "-o", str(tmp_path / "out"), "-k",
                 "3", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "2 segmented, 0 redone, 0 already complete, 0 failed" in out


def test_restart_removes_half_written_temporaries(tmp_path):
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".p0_labels.png.k2j4_x9q.png"  # as mkstemp names them
    stale.write_bytes(b"\x89PNG half")
    keep = out / ".notes.txt"
    keep.write_text("a user's file")
    run_batch([tmp_path / "in"], out, progress=False, k=2)
    assert not stale.exists() and keep.exists()


def test_dask_local_cluster_gives_the_pool_results(tmp_path):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    paths = make_inputs(tmp_path / "in", 5)
    bad = tmp_path / "in" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    pool = run_batch([tmp_path / "in"], tmp_path / "pool", workers=2, progress=False, k=3)
    dask = run_batch([tmp_path / "in"], tmp_path / "dask", workers=2, progress=False, k=3,
                     scheduler="local")
    assert sorted(dask.done) == sorted(pool.done) == sorted(map(str, paths))
    assert list(dask.failed) == list(pool.failed) == [str(bad)]
    assert dask.failed[str(bad)] == pool.failed[str(bad)]
    for path in paths:
        sub = path.parent.relative_to(tmp_path / "in")
        np.testing.assert_array_equal(
            read_png(tmp_path / "dask" / sub / f"{path.stem}_labels.png"),
            read_png(tmp_path / "pool" / sub / f"{path.stem}_labels.png"))
    shared = run_batch([tmp_path / "in"], tmp_path / "shared", workers=2, progress=False, k=3,
                       shared_palette=True, scheduler="local")
    assert len(shared.done) == 5 and list(shared.failed) == [str(bad)]


def test_unreachable_scheduler_is_one_clear_error(tmp_path):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    make_inputs(tmp_path / "in", 1)
    with pytest.raises(ParameterError, match="cannot reach the Dask scheduler"):
        run_batch([tmp_path / "in"], tmp_path / "out", progress=False, k=2,
                  scheduler="tcp://127.0.0.1:1")


# -- outputs made with other settings are redone ---------------------------------------------


def report_of(outdir: Path, stem: str) -> dict:
    return json.loads((outdir / f"{stem}.json").read_text())


def rerun(tmp_path: Path, **kwargs):
    """The batch of ``tmp_path/in`` into ``tmp_path/out`` on one worker."""
    return run_batch([tmp_path / "in"], tmp_path / "out", workers=1, progress=False, **kwargs)


def test_changed_k_redoes_every_output_same_settings_skip_force_redoes(tmp_path):
    paths = make_inputs(tmp_path / "in", 3)
    first = rerun(tmp_path, k=6)
    assert len(first.done) == 3 and first.redone == {}
    second = rerun(tmp_path, k=3)
    assert sorted(second.done) == sorted(map(str, paths)) and second.skipped == []
    assert second.redone == {str(p): "k 6 -> 3" for p in paths}
    for path in paths:
        report = outputs_of(tmp_path / "out", path, tmp_path / "in")
        assert json.loads(report.read_text())["k"] == 3
        assert read_png(report.parent / f"{path.stem}_labels.png").max() == 2
    # The same settings, spelled with defaults, skip everything.
    third = rerun(tmp_path, k=3, seed=0, space="rgb", regions=False)
    assert third.done == [] and third.redone == {} and len(third.skipped) == 3
    forced = rerun(tmp_path, k=3, force=True)
    assert forced.redone == {str(p): "forced" for p in paths} and forced.skipped == []


@pytest.mark.parametrize(("change", "reason"), [
    ({"space": "lab"}, "space rgb -> lab"),
    ({"seed": 7}, "seed 0 -> 7"),
    ({"attempts": 2, "max_iter": 50}, "attempts None -> 2, max_iter 300 -> 50"),
])
def test_any_clustering_parameter_change_redoes(tmp_path, change, reason):
    make_inputs(tmp_path / "in", 1)
    rerun(tmp_path, k=3)
    again = rerun(tmp_path, k=3, **change)
    assert list(again.redone.values()) == [reason]
    recorded = report_of(tmp_path / "out", "p0")["batch_settings"]
    assert all(recorded[name] == value for name, value in change.items())


def test_regions_off_removes_the_region_files(tmp_path):
    make_inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    rerun(tmp_path, regions=True)
    assert (out / "p0_regions.png").is_file() and (out / "p0_boundaries.png").is_file()
    (out / "p0_notes.txt").write_text("a user's file")
    again = rerun(tmp_path, **(REGIONS_PRESET | {"region_level": None}))
    level = REGIONS_PRESET["region_level"]
    assert again.redone == {str(tmp_path / "in" / "p0.png"): f"region_level {level} -> None"}
    assert not (out / "p0_regions.png").exists() and not (out / "p0_boundaries.png").exists()
    assert (out / "p0_notes.txt").exists()  # not an output of the report: left alone
    assert not {"regions", "boundaries"} & set(report_of(out, "p0")["files"])


def test_the_regions_preset_equals_its_parameters(tmp_path):
    make_inputs(tmp_path / "in", 1)
    rerun(tmp_path, regions=True)
    again = rerun(tmp_path, **REGIONS_PRESET)
    assert again.done == [] and len(again.skipped) == 1


def test_a_changed_palette_file_redoes(tmp_path):
    paths = make_inputs(tmp_path / "in", 2)
    palette = tmp_path / "palette.json"
    kmseg.KMeansSegmenter(k=3).fit(str(paths[0])).save(palette)
    assert len(rerun(tmp_path, palette=palette).done) == 2
    # Options a palette ignores change nothing.
    assert rerun(tmp_path, palette=palette, k=9).skipped == list(map(str, paths))
    kmseg.KMeansSegmenter(k=4).fit(str(paths[1])).save(palette)
    changed = rerun(tmp_path, palette=palette)
    assert changed.redone == {str(p): "another palette" for p in paths}
    assert report_of(tmp_path / "out", "p0")["k"] == 4
    back = rerun(tmp_path, k=4)
    assert set(back.redone.values()) == {"clustering each image instead of a palette"}


def test_shared_palette_resumes_with_the_palette_of_all_images(tmp_path):
    paths = make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert len(rerun(tmp_path, shared_palette=True, k=4).done) == 4
    # Nothing to do (this used to fail: a palette fitted on no image).
    complete = rerun(tmp_path, shared_palette=True, k=4)
    assert complete.done == [] and len(complete.skipped) == 4
    (out / "p1_segmented.png").unlink()  # as if killed while writing p1
    resumed = rerun(tmp_path, shared_palette=True, k=4)
    assert resumed.done == [str(paths[1])] and resumed.redone == {}
    centers = {json.dumps(report_of(outputs_of(out, p, tmp_path / "in").parent, p.stem)[
        "centers"]) for p in paths}
    assert len(centers) == 1  # p1 labelled with the palette of all four, as the others
    Image.open(kmseg.data.sample_path()).resize((96, 64)).save(tmp_path / "in" / "p9.png")
    # A new image changes the shared palette: every output is redone.
    grown = rerun(tmp_path, shared_palette=True, k=4)
    assert len(grown.done) == 5 and set(grown.redone.values()) == {"another palette"}


def test_outputs_without_recorded_settings_are_redone(tmp_path):
    paths = make_inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    kmseg.segment(paths[0], k=3).save(out)  # as a kmseg before the records wrote them
    again = rerun(tmp_path, k=3)
    assert again.redone == {str(paths[0]): "settings not recorded"}
    assert "batch_settings" in report_of(out, "p0")


def test_a_redo_that_fails_is_failed_not_redone(tmp_path):
    (tmp_path / "in").mkdir()
    flat = tmp_path / "in" / "flat.png"
    Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(flat)
    run_batch([flat], tmp_path / "out", workers=1, progress=False, k=1)
    again = run_batch([flat], tmp_path / "out", workers=1, progress=False, k=2)
    assert again.redone == {} and again.done == [] and "k=2" in again.failed[str(flat)]


def test_changes_reads_missing_settings_as_defaults():
    from kmseg.batch._settings import changes, image_settings

    new = image_settings({"k": 3, "bands": (3, 2, 1)})
    assert new["bands"] == [3, 2, 1] and changes(new, new) == ""
    older = {name: value for name, value in new.items() if name != "max_error"}
    assert changes(older, new) == ""  # a parameter a later kmseg added, at its default
    many = image_settings({"k": 5, "seed": 2, "space": "lab", "max_iter": 9, "eps": 0.5})
    assert changes(new, many) == "k 3 -> 5, space rgb -> lab, max_iter 300 -> 9, 3 more"
    assert changes(None, new) == changes("junk", new) == "settings not recorded"


# -- a batch run again does not segment its own outputs ----------------------------------------


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "errors.json"}


@pytest.mark.parametrize("into", ["seg", ""])
@pytest.mark.parametrize("how", ["api", "cli", "glob"])
def test_runs_again_find_the_same_images_not_their_outputs(tmp_path, into, how, capsys):
    paths = make_inputs(tmp_path, 4)
    out = tmp_path / into
    source = str(tmp_path / "**" / "*.png") if how == "glob" else str(tmp_path)
    snapshots = []
    for run in range(3):
        if how == "cli":
            assert main(["batch", source, "-o", str(out), "-k", "2", "--workers", "1",
                         "--no-progress"]) == 0
            assert f"{4 if run == 0 else 0} segmented" in capsys.readouterr().out
        else:
            report = run_batch([source], out, workers=1, progress=False, k=2)
            assert sorted(report.done if run == 0 else report.skipped) == sorted(
                map(str, paths)) and not report.failed
        snapshots.append(files_in(tmp_path))
    assert snapshots[1] == snapshots[2] == snapshots[0]
    assert len(list(tmp_path.rglob("*.json"))) == 4 + 1  # a report per photo, errors.json


def test_photos_named_like_outputs_are_inputs_without_a_report(tmp_path):
    make_inputs(tmp_path / "in", 1)
    photo = Image.open(kmseg.data.sample_path()).resize((48, 32))
    photo.save(tmp_path / "in" / "x_labels.png")  # a user's photo, no x.json beside it
    (tmp_path / "in" / "y.json").write_text('{"files": {"labels": "y_mask.png"}}')  # not kmseg's
    photo.save(tmp_path / "in" / "y_mask.png")
    first = run_batch([tmp_path / "in"], tmp_path / "in", workers=1, progress=False, k=2)
    assert len(first.done) == 3 and not first.failed
    names = {file.name for file, _ in find_images([tmp_path / "in"], outdir=tmp_path / "in")}
    assert names == {"p0.png", "x_labels.png", "y_mask.png"}
    # A file given by name is taken, even an output.
    given = find_images([tmp_path / "in" / "p0_labels.png"], outdir=tmp_path / "in")
    assert given == [(tmp_path / "in" / "p0_labels.png", Path())]


def test_outputs_never_replace_a_photo_named_like_them(tmp_path):
    make_inputs(tmp_path / "in", 2)
    photo = Image.open(kmseg.data.sample_path()).resize((48, 32))
    mine = tmp_path / "in" / "p0_segmented.png"  # a user's photo beside p0.png
    photo.save(mine)
    before = mine.read_bytes()
    report = run_batch([tmp_path / "in"], tmp_path / "in", workers=1, progress=False, k=2)
    assert mine.read_bytes() == before
    assert list(report.failed) == [str(tmp_path / "in" / "p0.png")]
    assert "refusing to overwrite an input" in report.failed[str(tmp_path / "in" / "p0.png")]
    assert str(mine) in report.done and str(tmp_path / "in" / "p1.png") in report.done


def test_a_malformed_file_is_reported_by_name_and_the_batch_goes_on(tmp_path):
    import tifffile

    make_inputs(tmp_path / "in", 2)
    bad = tmp_path / "in" / "broken.tif"
    tifffile.imwrite(bad, np.zeros((32, 32), np.uint8), rowsperstrip=8)
    with tifffile.TiffFile(bad) as tif:
        tag = tif.pages[0].tags[278]  # RowsPerStrip := 0, which made tifffile divide by zero
        offset, size = tag.valueoffset, tag.valuebytecount
    data = bytearray(bad.read_bytes())
    data[offset:offset + size] = bytes(size)
    bad.write_bytes(bytes(data))
    report = run_batch([tmp_path / "in"], tmp_path / "out", workers=2, progress=False, k=2)
    assert report.failed == {str(bad): f"{bad}: corrupt TIFF: the RowsPerStrip tag holds 0"}
    assert len(report.done) == 2
