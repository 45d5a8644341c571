"""Clips: one palette for every frame, no flicker, the three kinds of input, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import kmseg
from conftest import read_png
from kmseg._errors import ImageReadError, ParameterError
from kmseg._video import frames, segment_video
from kmseg.cli import main


def clip(n: int = 100) -> list[np.ndarray]:
    """A gradient background with a red square moving across it."""
    rows, cols = np.indices((48, 64))
    background = np.stack([rows * 4, cols * 3, 255 - rows * 3], axis=2).astype(np.uint8)
    out = []
    for i in range(n):
        frame = background.copy()
        left = (i * 3) % 50
        frame[10:24, left:left + 12] = (220, 30, 30)
        out.append(frame)
    return out


@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    for i, frame in enumerate(clip()):
        Image.fromarray(frame).save(folder / f"f{i:03d}.png")
    return folder


def test_no_label_flips_where_colours_stay(frame_folder, tmp_path):
    result = segment_video(frame_folder, tmp_path, model=kmseg.KMeansSegmenter(k=6))
    assert result.n_frames == 100 and len(result.compactness) == 100
    previous_labels, previous_frame = None, None
    for i, frame in enumerate(clip()):
        labels = read_png(tmp_path / f"{frame_folder.name}_labels_{i:05d}.png")
        # Labels are the nearest centre of the one palette, frame after frame.
        d2 = ((frame[..., None, :].astype(float) - result.model.cluster_centers_) ** 2).sum(-1)
        np.testing.assert_array_equal(labels, d2.argmin(axis=2))
        if previous_labels is not None:
            same = (frame == previous_frame).all(axis=2)
            assert (labels[same] != previous_labels[same]).sum() == 0
        previous_labels, previous_frame = labels, frame
    report = json.loads((tmp_path / f"{frame_folder.name}.json").read_text())
    assert report["frames"] == 100 and len(report["compactness_per_frame"]) == 100
    with Image.open(tmp_path / report["files"]["animation"]) as animation:
        assert animation.n_frames == 100


def test_report_gives_the_space_fitted(frame_folder, tmp_path):
    segment_video(frame_folder, tmp_path, model=kmseg.KMeansSegmenter(k=3, space="auto"))
    report = json.loads((tmp_path / f"{frame_folder.name}.json").read_text())
    assert report["params"]["space"] == "lab"


def test_animated_gif_input(tmp_path):
    frames_in = [Image.fromarray(f) for f in clip(8)]
    gif = tmp_path / "moving.gif"
    frames_in[0].save(gif, save_all=True, append_images=frames_in[1:], duration=40, loop=0)
    assert len(list(frames(gif))) == 8
    result = segment_video(gif, tmp_path / "out", model=kmseg.KMeansSegmenter(k=4))
    assert result.n_frames == 8 and (tmp_path / "out" / "moving_segmented.gif").is_file()


def test_video_file_input(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg",
                                         reason="the video extra (ffmpeg) is not installed")
    movie = tmp_path / "clip.mp4"
    writer = imageio_ffmpeg.write_frames(str(movie), (64, 48), macro_block_size=1)
    writer.send(None)
    for frame in clip(10):
        writer.send(frame)
    writer.close()
    result = segment_video(movie, tmp_path / "out", model=kmseg.KMeansSegmenter(k=5))
    assert result.n_frames == 10
    assert (tmp_path / "out" / "clip_segmented.mp4").stat().st_size > 0


def test_bad_inputs(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageReadError, match="no frame here"):
        list(frames(empty))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(clip(1)[0]).save(mixed / "a.png")
    Image.fromarray(clip(1)[0][:20]).save(mixed / "b.png")
    with pytest.raises(ParameterError, match=r"b\.png: frame of shape"):
        list(frames(mixed))
    broken = tmp_path / "broken"
    broken.mkdir()
    Image.fromarray(clip(1)[0]).save(broken / "a.png")
    (broken / "b.png").write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match=r"b\.png"):
        segment_video(broken, tmp_path / "out", model=kmseg.KMeansSegmenter(k=3))
    code = main(["video", str(empty), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "no frame here" in err and err.count("\n") == 1


def test_video_command(frame_folder, tmp_path, capsys):
    code = main(["video", str(frame_folder), "-o", str(tmp_path), "-k", "5", "--fix",
                 "#dc1e1e"])
    out = capsys.readouterr().out
    assert code == 0 and "100 frames, k=5" in out
    report = json.loads((tmp_path / f"{frame_folder.name}.json").read_text())
    assert report["centers"][0] == [220.0, 30.0, 30.0]
