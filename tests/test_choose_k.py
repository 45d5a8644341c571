"""Choosing k: scores against direct computations, the knee, quality targets, k="auto"."""

from __future__ import annotations

import json

import numpy as np
import pytest

import kmseg
from kmseg._choose_k import _knee
from kmseg._errors import ParameterError
from kmseg.cli import main


@pytest.fixture(scope="module")
def five_colours() -> np.ndarray:
    """Five well-separated colour patches with a little noise."""
    rng = np.random.default_rng(1)
    palette = np.array([[20, 20, 20], [230, 40, 40], [40, 200, 60], [50, 60, 220],
                        [240, 240, 120]])
    index = np.repeat(np.arange(5), 40 * 30).reshape(5 * 40, 30)
    image = palette[index] + rng.normal(0, 4, size=(200, 30, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def test_five_patches_give_five(five_colours):
    choice = kmseg.choose_k(five_colours, ks=range(2, 10))
    assert choice.k == 5 and choice.knee == 5 and choice.best_silhouette == 5 and choice.agree
    assert "best silhouette" in choice.reason
    assert np.all(np.diff(choice.compactness) < 0)  # more clusters, more compact
    assert np.all((-1 <= choice.silhouette) & (choice.silhouette <= 1))
    assert np.nanargmin(choice.davies_bouldin) == 3  # k = 5 is also Davies-Bouldin's best


def test_scores_match_a_direct_computation(five_colours):
    choice = kmseg.choose_k(five_colours, ks=(3, 4, 6), attempts=3, seed=2)
    for i, k in enumerate(choice.ks):
        seg = kmseg.segment(five_colours, k=int(k), attempts=3, seed=2)
        assert choice.compactness[i] == pytest.approx(seg.compactness, rel=1e-9)
        painted = seg.centers[seg.labels]
        mse = ((five_colours.astype(float) - painted) ** 2).mean()
        assert choice.psnr[i] == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-9)


def test_knee_by_hand():
    # Scaled to [0, 1], the curve lies farthest below its chord at the third point (k = 4).
    assert _knee(np.arange(2, 8), np.array([100.0, 40, 20, 15, 12, 10])) == 2
    assert _knee(np.arange(2, 4), np.array([10.0, 5.0])) == 0


def test_quality_targets_pick_the_smallest_k():
    image = kmseg.read_image(kmseg.data.sample_path())[::2, ::2]
    choice = kmseg.choose_k(image, ks=range(2, 13), min_psnr=25.0)
    i = list(choice.ks).index(choice.k)
    assert choice.psnr[i] >= 25.0 and choice.psnr[i - 1] < 25.0
    choice = kmseg.choose_k(image, ks=range(2, 13), max_error=5.0)
    i = list(choice.ks).index(choice.k)
    assert choice.mean_delta_e[i] <= 5.0 and choice.mean_delta_e[i - 1] > 5.0
    with pytest.raises(ParameterError, match=r"no k in 2\.\.4 meets PSNR >= 60"):
        kmseg.choose_k(image, ks=range(2, 5), min_psnr=60)


def test_mean_delta_e_is_ciede2000_against_the_image(five_colours):
    from skimage.color import deltaE_ciede2000, rgb2lab

    choice = kmseg.choose_k(five_colours, ks=(2, 3))
    painted = choice.painted(five_colours, 2)
    exact = deltaE_ciede2000(rgb2lab(five_colours), rgb2lab(painted / 255)).mean()
    # A 20 000-pixel sample drawn by pixel count: close to the exact mean.
    assert choice.mean_delta_e[0] == pytest.approx(exact, rel=0.03)


def test_auto_k_in_segment(five_colours):
    seg = kmseg.segment(five_colours, k="auto")
    assert seg.k == 5 and "choose_k" in seg.timings
    with pytest.raises(ParameterError, match="use them with k='auto'"):
        kmseg.segment(five_colours, k=4, min_psnr=30)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ks": [4]}, "at least two"),
        ({"ks": [0, 2]}, "at least two integers >= 1"),
        ({"ks": "abc"}, "sequence of integers"),
        ({"min_psnr": 30, "max_error": 2}, "not both"),
        ({"min_psnr": -1}, "min_psnr=-1 is invalid"),
        ({"ks": (2, 400)}, "exceeds the .* distinct colour"),
    ],
)
def test_bad_arguments(five_colours, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        kmseg.choose_k(five_colours[::4, ::4], **kwargs)


def test_max_error_needs_colour():
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (8, 1))
    with pytest.raises(ParameterError, match="needs an RGB image"):
        kmseg.choose_k(gray, ks=(2, 3), max_error=3)


def test_figure_and_command_line(five_colours, tmp_path, capsys):
    from PIL import Image

    choice = kmseg.choose_k(five_colours, ks=range(2, 12))
    figure = kmseg.plot.choose_k(choice, five_colours, strip=4)
    assert len(figure.axes) == 2 + 4  # the curves (two y axes) and four panels
    titles = [ax.get_title() for ax in figure.axes[2:]]
    assert "k = 5 (chosen)" in titles
    path = tmp_path / "patches.png"
    Image.fromarray(five_colours).save(path)
    code = main(["choose-k", str(path), "-k", "2..8", "-o", str(tmp_path / "figs"),
                 "--json", str(tmp_path / "k.json")])
    out = capsys.readouterr().out
    assert code == 0 and "recommended k=5" in out
    assert json.loads((tmp_path / "k.json").read_text())["k"] == 5
    assert (tmp_path / "figs" / "patches_choose_k.png").stat().st_size > 0
    code = main(["segment", str(path), "-k", "auto", "-o", str(tmp_path / "out")])
    assert code == 0 and json.loads((tmp_path / "out" / "patches.json").read_text())["k"] == 5
    assert main(["segment", str(path), "-k", "4", "--min-psnr", "30"]) == 2
    assert "use them with -k auto" in capsys.readouterr().err
