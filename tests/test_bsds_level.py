"""How benchmarks/bsds.py fixes the preset's hierarchy level from a split's mean scores."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bsds


def test_the_level_is_the_best_pri_within_the_voi_bound():
    pri = np.array([0.80, 0.83, 0.82, 0.81])
    voi = np.array([1.95, 1.85, 1.70, 1.60])
    # The best PRI (0.83) is past the bound: the best of the others.
    assert bsds.VOI_BOUND == 1.80
    assert bsds.level_index(pri, voi) == 2
    assert bsds.level_index(pri, voi - 0.1) == 1


def test_with_every_level_past_the_bound_the_lowest_voi():
    assert bsds.level_index(np.array([0.83, 0.80, 0.81]), np.array([2.0, 1.9, 1.95])) == 1
