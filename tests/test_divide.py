"""Dividing a building too big for one micro-grid, by entrance and floor; entrance slices of a footprint; the land
and polygons of its parts (strips tile the land, parts overlap only on the footprint)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import affinity

from gridplan.config import SizeRange
from gridplan.core.divide import BuildingPart, divide_building, entrance_slices, part_land, part_polygons

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


# ---- land and polygons of the parts ----------------------------------------------------------------

#: land with a C-shaped notch open to the east: the band east of x = 50 falls into two pieces::
#:
#:   100 ┌──────────────┐
#:       │      ┊       │   the top-right piece (x 50–100, y 70–100) joins the west strip
#:    70 │      ┊  ┌────┘
#:       │      ┊  │
#:    30 │      ┊  └────┐
#:       │ ▭▭▭▭▭┊▭▭▭▭▭  │   ▭ the footprint (x 10–90, y 5–25), 2 entrances cut at x = 50
#:     0 └──────┴───────┘
C_LAND = shapely.difference(shapely.box(0, 0, 100, 100), shapely.box(40, 30, 100, 70))
C_FOOT = shapely.box(10, 5, 90, 25)

LAND_CASES = {
    "rectangle": (shapely.box(0, 0, 100, 40), shapely.box(20, 10, 80, 30), 3, None),
    "across-the-block": (shapely.box(0, 20, 100, 40), shapely.box(10, 19, 70, 41), 2, None),  # pokes over both streets
    "rotated": (affinity.rotate(shapely.box(0, 0, 120, 50), 25, origin=(0, 0)),
                affinity.rotate(shapely.box(20, 15, 100, 35), 25, origin=(0, 0)), 4, [(1, 2), (3, 3), (4, 4)]),
    "c-shaped": (C_LAND, C_FOOT, 2, None),
}


def assert_no_small_rings(geoms) -> None:
    for g in geoms:
        for part in shapely.get_parts(g):
            assert all(shapely.Polygon(r).area >= 1.0 for r in part.interiors)


@pytest.mark.parametrize("case", list(LAND_CASES))
def test_strips_tile_the_land_and_slices_lie_on_them(case):
    land, foot, units, groups = LAND_CASES[case]
    pl = part_land(land, foot, units, groups)
    assert pl is not None
    assert len(pl.strips) == len(pl.slices) == len(groups or range(units))
    assert all(s.geom_type == "Polygon" and s.area > 0 for s in (*pl.strips, *pl.slices))
    assert shapely.union_all(pl.strips).symmetric_difference(land).area < 0.01
    for a, b in itertools.combinations(pl.strips, 2):
        assert shapely.intersection(a, b).area < 1e-6
    for strip, sl in zip(pl.strips, pl.slices):
        assert shapely.difference(sl, shapely.intersection(strip, foot)).area < 1e-3
    # the slices are the footprint on the land, cut where entrance_slices cuts it
    assert sum(sl.area for sl in pl.slices) == pytest.approx(shapely.intersection(foot, land).area, abs=0.1)  # snapped to 1 mm
    assert_no_small_rings(pl.strips)


def test_a_strip_that_falls_apart_keeps_the_piece_under_its_slice():
    pl = part_land(C_LAND, C_FOOT, 2)
    assert pl.strips[1].equals(shapely.box(50, 0, 100, 30))
    assert pl.strips[0].area == pytest.approx(C_LAND.area - 1500)  # the top-right piece joined the west strip
    assert pl.slices[0].equals(shapely.box(10, 5, 50, 25))


def test_no_strips_when_a_group_has_no_footprint_on_the_land():
    """The footprint's east half lies beyond the land: no strip for entrance 2."""
    assert part_land(shapely.box(0, 0, 50, 40), shapely.box(20, 10, 80, 30), 2) is None


#: (land, footprint, households, units, levels); every case is divided (households > 100)
PART_CASES = {
    "entrance-and-floor": (shapely.box(0, 0, 100, 40), shapely.box(20, 10, 80, 30), 256, 2, 32),
    "entrance": (shapely.box(0, 0, 100, 40), shapely.box(10, 10, 90, 30), 180, 6, 6),
    "floor": (shapely.box(0, 0, 40, 40), shapely.box(10, 10, 30, 30), 200, 1, 20),
    "across-the-block": (shapely.box(0, 20, 100, 40), shapely.box(10, 19, 70, 41), 256, 2, 32),
    "c-shaped": (C_LAND, C_FOOT, 256, 2, 32),
    "strips-fail": (shapely.box(0, 0, 50, 40), shapely.box(20, 10, 80, 30), 256, 2, 32),  # entrance 2 off the land
}


@pytest.mark.parametrize("case", list(PART_CASES))
def test_parts_tile_the_land_and_overlap_only_on_the_footprint(case):
    land, foot, hh, units, levels = PART_CASES[case]
    parts = divide_building(hh, units=units, levels=levels, size=MICRO)
    assert len(parts) > 1
    polys, slices, *_ = part_polygons(land, foot, units, parts)
    assert len(polys) == len(slices) == len(parts)
    assert all(g.geom_type == "Polygon" and g.area > 0 for g in (*polys, *slices))
    assert shapely.union_all(polys).symmetric_difference(land).area < 0.01
    on_land = shapely.intersection(foot, land)
    for a, b in itertools.combinations(polys, 2):
        assert shapely.difference(shapely.intersection(a, b), on_land).area < 1e-3  # never the land around it
    # the rest of the land belongs to exactly one part
    bare = shapely.difference(land, on_land)
    assert sum(shapely.intersection(p, bare).area for p in polys) == pytest.approx(bare.area, abs=0.01)
    assert all(shapely.difference(sl, on_land).area < 1e-3 for sl in slices)
    assert_no_small_rings(polys)


def test_entrance_parts_hold_their_own_strip_and_floors_share_the_slice():
    land, foot, hh, units, levels = PART_CASES["entrance-and-floor"]
    parts = divide_building(hh, units=units, levels=levels, size=MICRO)
    polys, slices, *_ = part_polygons(land, foot, units, parts)
    assert [(p.entrances, p.floors) for p in parts] == [((1, 1), (1, 16)), ((1, 1), (17, 32)), ((2, 2), (1, 16)), ((2, 2), (17, 32))]
    assert polys[0].equals(shapely.box(0, 0, 50, 40)) and polys[2].equals(shapely.box(50, 0, 100, 40))
    assert polys[1].equals(shapely.box(20, 10, 50, 30)) and polys[3].equals(shapely.box(50, 10, 80, 30))
    assert slices[0].equals(slices[1]) and slices[2].equals(polys[3])


def test_no_parts_are_drawn_when_the_footprint_is_off_its_land():
    """Issue 12: a floor-divided building whose land does not overlap its footprint gave an empty slice."""
    parts = divide_building(200, units=1, levels=20, size=MICRO)
    assert part_polygons(shapely.box(0, 0, 40, 40), shapely.box(60, 10, 80, 30), 1, parts) is None
