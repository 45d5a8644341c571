"""Feature spaces: values against published references, round trips, and checks."""

from __future__ import annotations

import numpy as np
import pytest

from kmseg._errors import ParameterError
from kmseg._features import from_features, to_features, white_point
from kmseg._spatial import shrink_factor
from kmseg._validation import check_space


def test_oklab_matches_ottossons_reference_values():
    # Björn Ottosson, "A perceptual color space for image processing" (2020): sRGB primaries.
    rgb = np.array([[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    expected = np.array([
        [1.0, 0.0, 0.0],
        [0.62796, 0.22486, 0.12585],
        [0.86644, -0.23389, 0.17950],
        [0.45201, -0.03246, -0.31153],
    ]) * 100
    oklab = to_features(rgb, "oklab", full_scale=255.0, normalize=False)
    np.testing.assert_allclose(oklab, expected, atol=0.1)


@pytest.mark.parametrize("space", ["lab", "oklab"])
def test_perceptual_spaces_round_trip(space, rng):
    rgb = rng.integers(0, 256, size=(500, 3)).astype(np.uint8)
    features = to_features(rgb, space, full_scale=255.0, normalize=False)
    back = from_features(features, space, full_scale=255.0, normalize=False)
    np.testing.assert_allclose(back, rgb, atol=1e-6)
    assert features.flags.c_contiguous and features.dtype == np.float64


def test_oklab_lightness_is_monotonic_in_gray():
    gray = np.repeat(np.arange(256, dtype=np.uint16)[:, None] * 257, 3, axis=1)
    lightness = to_features(gray, "oklab", full_scale=65535.0, normalize=False)[:, 0]
    assert np.all(np.diff(lightness) > 0) and lightness[0] == pytest.approx(0, abs=1e-9)
    np.testing.assert_allclose(to_features(gray, "oklab", full_scale=65535.0,
                                           normalize=False)[:, 1:], 0, atol=0.01)


@pytest.mark.parametrize("space", ["lab", "oklab"])
def test_perceptual_spaces_need_rgb_or_gray(space):
    with pytest.raises(ParameterError, match=f"space='{space}' needs an RGB or gray image"):
        check_space(space, 4)
    check_space(space, 1)
    with pytest.raises(ParameterError, match="is not one of"):
        check_space("hsv", 3)


def test_shrink_factor_keeps_at_least_one_row_and_column():
    # Once 490 for a 400 x 600 image and max_pixels=1: a copy of 0 rows, and a reshape error.
    assert shrink_factor((400, 600), 1) == 400
    assert shrink_factor((10, 1000), 1) == 10
    assert shrink_factor((400, 600), 64) == 62
    assert shrink_factor((400, 600), 1_000_000) == 1


@pytest.mark.parametrize(
    ("values", "white"),
    [
        (np.array([0, 235], np.uint16), 255.0),  # 8-bit values stored in 16 bits
        (np.array([3, 1023], np.uint16), 1023.0),  # 10 bits
        (np.array([0, 1024], np.uint16), 2047.0),  # one more bit is needed
        (np.array([12000], np.uint16), 16383.0),  # 14 bits
        (np.array([0, 40000], np.uint16), 65535.0),
        (np.array([0, 7], np.uint8), 255.0),  # 8-bit images keep their full scale
        (np.array([0.0, 0.2]), 1.0),
        (np.zeros(0, np.uint16), 65535.0),
    ],
)
def test_white_point_is_the_top_of_the_bits_used(values, white):
    assert white_point(values) == white
