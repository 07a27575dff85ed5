"""Figures per level: balance within parent, range, compactness, and the distance to the best the atoms allow."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridplan.config import SizeRange
from gridplan.core.metrics import cv_within_parent, level_figures, polsby_popper

GRID = SizeRange(300, 500)


def test_cv_within_parent_per_parent():
    cv = cv_within_parent([300, 500, 400, 400], ["a", "a", "b", "b"])
    assert cv["a"] == pytest.approx(0.25)
    assert cv["b"] == 0.0


def test_level_figures_without_bounds_has_no_bound_keys():
    f = level_figures([300.0, 500, 400, 600], ["a", "a", "b", "b"], GRID)
    assert f["share_in_range"] == 0.75 and f["above_range"] == 1
    assert "cv_bound_median" not in f


def test_level_figures_with_bounds():
    """Parent a: 300 and 500 (CV 0.25) where the atoms allow 0.05; b: 400, 400 (CV 0); c: 300, 500, with
    a bound of 0.2 (a big atom)."""
    hh = [300.0, 500, 400, 400, 300, 500]
    parents = ["a", "a", "b", "b", "c", "c"]
    f = level_figures(hh, parents, GRID, bounds={"a": 0.05, "b": 0.0, "c": 0.2})
    assert f["cv_bound_median"] == 0.05
    assert f["cv_gap_median"] == pytest.approx(0.05)  # gaps 0.20, 0.00, 0.05
    assert f["share_parents_cv_le_0_10_possible"] == pytest.approx(2 / 3, abs=1e-4)
    assert f["share_parents_cv_le_0_10"] == pytest.approx(1 / 3, abs=1e-4)


def test_bounds_for_unknown_parents_are_ignored():
    f = level_figures([400.0, 400], ["a", "a"], GRID, bounds={"zz": 0.5})
    assert "cv_bound_median" not in f


def test_polsby_popper_of_a_square_and_a_sliver():
    pp = polsby_popper([shapely.box(0, 0, 1, 1), shapely.box(0, 0, 100, 0.01)])
    assert pp[0] == pytest.approx(np.pi / 4)
    assert pp[1] < 0.01
