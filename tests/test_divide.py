"""Dividing a building too big for one micro-grid, by entrance and floor; entrance slices of a footprint."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import affinity

from gridplan.config import SizeRange
from gridplan.core.divide import BuildingPart, divide_building, entrance_slices

MICRO = SizeRange(30, 100)


def check_parts(parts: list[BuildingPart], households: int, units: int | None, levels: int | None) -> None:
    """Parts add up, entrances and floors are valid 1-based runs, and they tile entrance × floor exactly once."""
    assert sum(p.households for p in parts) == households
    assert all(isinstance(p.households, int) and p.households >= 0 for p in parts)
    u = units or 1
    covered = []
    for p in parts:
        assert p.entrances is not None and 1 <= p.entrances[0] <= p.entrances[1] <= u
        floors = p.floors or (1, 1)
        assert 1 <= floors[0] <= floors[1] <= (levels or 1)
        covered += list(itertools.product(range(p.entrances[0], p.entrances[1] + 1), range(floors[0], floors[1] + 1)))
    floors_total = levels if any(p.floors for p in parts) else 1
    assert sorted(covered) == sorted(itertools.product(range(1, u + 1), range(1, floors_total + 1)))


def test_walk_up_groups_whole_entrances():
    """A 6-entrance walk-up of 180 households: three groups of two neighbouring entrances."""
    parts = divide_building(180, units=6, levels=6, size=MICRO)
    check_parts(parts, 180, 6, 6)
    assert [(p.entrances, p.floors, p.households) for p in parts] == [((1, 2), None, 60), ((3, 4), None, 60), ((5, 6), None, 60)]


def test_tower_is_divided_by_entrance_then_floors():
    """A 32-storey tower of 256 households with 2 entrances: each entrance in two runs of floors."""
    parts = divide_building(256, units=2, levels=32, size=MICRO)
    check_parts(parts, 256, 2, 32)
    assert all(MICRO.contains(p.households) for p in parts)
    assert [p.entrances for p in parts] == [(1, 1), (1, 1), (2, 2), (2, 2)]
    assert [p.floors for p in parts] == [(1, 16), (17, 32), (1, 16), (17, 32)]


def test_floors_only_when_entrances_are_unknown():
    parts = divide_building(150, levels=10, size=MICRO)
    check_parts(parts, 150, None, 10)
    assert all(MICRO.contains(p.households) for p in parts) and all(p.entrances == (1, 1) for p in parts)


@pytest.mark.parametrize(
    ("households", "units", "levels"),
    [(150, None, None), (150, float("nan"), None), (150, "", "n/a"), (150, 0, 0), (150, 1, None), (100, 4, 4), (40, 2, 6)],
)
def test_nothing_is_divided_without_data_or_need(households, units, levels):
    """No entrance/floor data (or only one entrance and no floors), or the building already fits: []."""
    assert divide_building(households, units=units, levels=levels, size=MICRO) == []


def test_too_big_entrances_without_floors_stop_at_entrances():
    parts = divide_building(210, units=2, size=MICRO)
    check_parts(parts, 210, 2, None)
    assert [(p.entrances, p.households) for p in parts] == [((1, 1), 105), ((2, 2), 105)]


def test_too_few_floors_give_the_least_bad_parts():
    parts = divide_building(500, units=1, levels=2, size=MICRO)
    check_parts(parts, 500, 1, 2)
    assert [p.households for p in parts] == [250, 250]


def test_fractional_households_are_rounded_once():
    parts = divide_building(180.4, units=3, levels=5, size=MICRO)
    assert sum(p.households for p in parts) == 180


def test_grouped_entrances_stay_in_range_when_single_entrances_fit():
    """7 entrances × 60 = 420 households: seven parts of 60 fit, but 6 runs give one of 2 entrances (120)."""
    parts = divide_building(420, units=7, levels=6, size=MICRO)
    check_parts(parts, 420, 7, 6)
    assert all(MICRO.contains(p.households) for p in parts), [(p.entrances, p.households) for p in parts]


def test_floor_runs_stay_in_range_when_single_floors_fit():
    parts = divide_building(390, units=1, levels=7, size=MICRO)
    check_parts(parts, 390, 1, 7)
    assert all(MICRO.contains(p.households) for p in parts), [(p.floors, p.households) for p in parts]


@given(
    households=st.integers(101, 2000),
    units=st.one_of(st.none(), st.integers(1, 12)),
    levels=st.one_of(st.none(), st.integers(1, 40)),
)
@settings(max_examples=80, deadline=None)
def test_parts_always_tile_and_add_up(households, units, levels):
    parts = divide_building(households, units=units, levels=levels, size=MICRO)
    if parts:
        check_parts(parts, households, units, levels)
        # entrance groups are contiguous runs in order
        firsts = [p.entrances[0] for p in parts]
        assert firsts == sorted(firsts)
    else:
        assert (units or 1) == 1 and levels is None


# ---- entrance slices ------------------------------------------------------------------------------


def assert_tiles(footprint, slices) -> None:
    assert sum(s.area for s in slices) == pytest.approx(footprint.area, rel=1e-9)
    assert shapely.union_all(slices).symmetric_difference(footprint).area == pytest.approx(0, abs=1e-6)
    for a, b in itertools.combinations(slices, 2):
        assert shapely.intersection(a, b).area == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("units", [1, 2, 3, 6])
@pytest.mark.parametrize(
    "footprint",
    [
        shapely.box(0, 0, 60, 12),
        shapely.box(0, 0, 12, 60),  # long axis north–south
        affinity.rotate(shapely.box(500_000, 3_500_000, 500_060, 3_500_012), 30, origin="centroid"),
        shapely.Polygon([(0, 0), (40, 0), (40, 10), (10, 10), (10, 30), (0, 30)]),  # an L
        shapely.Polygon(shapely.box(0, 0, 60, 20).exterior.coords, [shapely.box(20, 5, 40, 15).exterior.coords]),
    ],
    ids=["east-west", "north-south", "rotated-utm", "L-shape", "courtyard"],
)
def test_slices_tile_the_footprint(footprint, units):
    slices = entrance_slices(footprint, units)
    assert len(slices) == units
    assert_tiles(footprint, slices)


def test_slices_are_equal_and_in_order_along_the_long_axis():
    footprint = affinity.rotate(shapely.box(0, 0, 60, 12), 30, origin=(0, 0))
    slices = entrance_slices(footprint, 4)
    assert [s.area for s in slices] == pytest.approx([180.0] * 4)
    axis = np.array([np.cos(np.radians(30)), np.sin(np.radians(30))])
    along = [float(np.dot(shapely.get_coordinates(s.centroid)[0], axis)) for s in slices]
    assert along == sorted(along) or along == sorted(along, reverse=True)
    for a, b in zip(slices, slices[1:]):  # neighbouring entrances share a wall
        assert shapely.intersection(a, b).length == pytest.approx(12.0, rel=1e-6)
