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
    make_inputs(tmp_path / "in", 24)
    command = [sys.executable, "-m", "kmseg", "batch", str(tmp_path / "in"), "-o",
               str(tmp_path / "out"), "-k", "4", "--workers", "1", "--no-progress",
               "--attempts", "30"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((tmp_path / "out").rglob("*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = len(list((tmp_path / "out").rglob("p*.json")))
    assert 3 <= finished_before < 24, "the kill must come mid-way"
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{finished_before} already complete" in result.stdout
    leftovers = [p for p in (tmp_path / "out").rglob(".*") if p.is_file()]
    assert leftovers == []  # no temporary file left behind
    for report_path in (tmp_path / "out").rglob("p*.json"):
        report = json.loads(report_path.read_text())
        for name in report["files"].values():
            assert read_png(report_path.parent / name).size > 0  # complete, readable
    assert len(list((tmp_path / "out").rglob("p*.json"))) == 24


def test_batch_command_line(tmp_path, capsys):
    make_inputs(tmp_path / "in", 3)
    code = main(["batch", str(tmp_path / "in" / "*.png"), "-o", str(tmp_path / "out"), "-k",
                 "3", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "2 segmented, 0 already complete, 0 failed" in out


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
