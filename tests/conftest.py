"""Shared fixtures: the bundled sample photo and the optional ../shared data sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def shared_dir(*parts: str) -> Path:
    """A folder of ../shared/data, or skip the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"{path} is absent (the shared data sets live beside the repository)")
    return path


@pytest.fixture
def corpus_dir() -> Path:
    return shared_dir("corpus")


@pytest.fixture
def bsds_val_dir() -> Path:
    return shared_dir("bsds500", "images", "val")


@pytest.fixture
def bsds_val_gt_dir() -> Path:
    return shared_dir("bsds500", "groundTruth", "val")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def read_png(path: Path) -> np.ndarray:
    """Pixels of an image file by Pillow alone (closing the file)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image)
