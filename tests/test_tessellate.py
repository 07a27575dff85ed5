"""Tessellation on small hand-made scenes in EPSG:32650 (UTM 50N, metres).

The main scene (drawn in ``scene.py``): 28 buildings in a 200 × 120 m box cut by a residential road (tier 3),
a primary road (tier 2) and a railway (tier 1), with a pond and a dangling tier-1 line.
"""
from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridplan.core.tessellate import HARD_CORRIDOR, tessellate
from scene import AREA, X0, box, line, scene_buildings
from scene import scene_barriers as _scene_barriers


def scene_barriers() -> gpd.GeoDataFrame:
    return _scene_barriers(name=["石鼓路", "中山路", "铁路", "莫愁湖", "断头路"], kind=["highway=residential"] * 5)


TIER1_LINE, POND, DANGLING = 2, 3, 4


@pytest.fixture(scope="module")
def tess():
    return tessellate(scene_buildings(), scene_barriers(), area=AREA)


def assert_tiles(t, expected_area: shapely.Geometry) -> None:
    areas = shapely.area(t.cells)
    union = shapely.union_all(t.cells)
    assert areas.sum() == pytest.approx(union.area, abs=0.05), "cells overlap"
    assert union.symmetric_difference(expected_area).area < 1.0, "cells do not cover the area"


# ---- coverage and ownership -------------------------------------------------------------------------


def test_cells_are_single_valid_polygons(tess):
    assert (shapely.get_type_id(tess.cells) == 3).all()
    assert shapely.is_valid(tess.cells).all()
    assert len(tess.cells) == len(tess.building_of_cell) == len(tess.block_of_cell)


def test_cells_tile_the_area_minus_hard_barriers(tess):
    assert_tiles(tess, AREA.difference(tess.hard))
    assert tess.hard.area == pytest.approx(20 * 30 + 120 * 2 * HARD_CORRIDOR + 25 * 2 * HARD_CORRIDOR, rel=0.02)


def test_every_building_has_its_own_cell_holding_its_point(tess):
    fp = scene_buildings().values
    assert (tess.cell_of_building >= 0).all()
    assert (tess.building_of_cell[tess.cell_of_building] == np.arange(len(fp))).all()
    reps = shapely.point_on_surface(fp)
    assert shapely.contains(tess.cells[tess.cell_of_building], reps).all()
    # the footprint (shrunk a little) lies inside its cell
    assert shapely.within(shapely.buffer(fp, -0.5), tess.cells[tess.cell_of_building]).all()


def test_cells_lie_in_their_blocks(tess):
    blocks = tess.blocks[tess.block_of_cell]
    assert (shapely.area(shapely.difference(tess.cells, blocks)) < 1e-6).all()
    # blocks: west of the soft road, between soft and strong, between strong and the railway, east of it
    assert len(tess.blocks) == 4


def test_no_cell_crosses_a_tier_1_line_or_the_water(tess):
    bar = scene_barriers().geometry.values
    for k in (TIER1_LINE, DANGLING):
        assert shapely.length(shapely.intersection(tess.cells, bar[k])).max() < 1e-9
        # the corridor keeps cells clear of the line (its ends are chamfered, so a little under HARD_CORRIDOR)
        assert shapely.distance(tess.cells, bar[k]).min() > HARD_CORRIDOR / 2
    assert shapely.area(shapely.intersection(tess.cells, bar[POND])).max() < 1e-6


def test_cells_on_either_side_of_the_railway_never_touch(tess):
    x = shapely.get_coordinates(shapely.centroid(tess.cells))[:, 0] - X0
    west, east = tess.cells[x < 150], tess.cells[x > 150]
    assert len(west) and len(east)
    for a, b in itertools.product(west, east):
        assert not shapely.intersects(a, b)


def test_cells_end_at_the_soft_and_strong_roads(tess):
    bar = scene_barriers().geometry.values
    for k in (0, 1):
        inner = shapely.buffer(tess.cells, -0.01)  # boundaries may run along a road, interiors never cross it
        assert shapely.length(shapely.intersection(inner, bar[k])).max() < 1e-9


def test_tessellation_is_deterministic():
    a = tessellate(scene_buildings(), scene_barriers(), area=AREA)
    b = tessellate(scene_buildings(), scene_barriers(), area=AREA)
    assert shapely.to_wkb(a.cells).tolist() == shapely.to_wkb(b.cells).tolist()
    assert (a.cell_of_building == b.cell_of_building).all()


# ---- awkward scenes ---------------------------------------------------------------------------------


def test_an_empty_block_is_an_empty_cell():
    """Two buildings west of a soft road; the block east of it holds none and becomes an empty cell."""
    b = gpd.GeoSeries([box(0, 0), box(20, 0)], crs=32650)
    road = gpd.GeoDataFrame({"tier": [3]}, geometry=[line((40, -100), (40, 100))], crs=32650)
    area = box(-20, -20, 100, 50)
    t = tessellate(b, road, area=area)
    assert sorted(t.building_of_cell.tolist()) == [-1, 0, 1]
    empty = t.cells[t.building_of_cell == -1][0]
    assert shapely.get_coordinates(empty.centroid)[0, 0] > X0 + 40
    assert_tiles(t, area)


def test_default_study_area_holds_every_footprint():
    b = scene_buildings()
    t = tessellate(b, scene_barriers())
    assert shapely.within(shapely.buffer(b.values, -0.5), t.area).all()
    assert_tiles(t, t.area.difference(t.hard))
    assert (t.cell_of_building >= 0).all()


@pytest.mark.parametrize(
    "footprints",
    [
        [box(0, 0), box(0, 0), box(20, 0)],  # an exact duplicate
        [box(0, 0, 30, 30), box(10, 10, 5, 5), box(40, 0)],  # one inside another
        [box(0, 0), box(5, 5), box(40, 0)],  # overlapping by a quarter
        [box(0, 0), box(10, 0), box(40, 0)],  # sharing a wall
    ],
    ids=["duplicate", "nested", "overlap", "shared-wall"],
)
def test_overlapping_footprints_still_get_cells(footprints):
    b = gpd.GeoSeries(footprints, crs=32650)
    t = tessellate(b, None)
    assert (t.cell_of_building >= 0).all() and (t.cell_of_building < len(t.cells)).all()
    assert_tiles(t, t.area)
    reps = shapely.point_on_surface(b.values)
    assert shapely.intersects(t.cells[t.cell_of_building], reps).all()


def test_a_building_on_a_railway_joins_a_neighbouring_block():
    """A building straddling a tier-1 line (the corridor runs under it) still gets a cell."""
    b = gpd.GeoSeries([box(0, 0), box(20, -5, 10, 20), box(40, 0)], crs=32650)
    rail = gpd.GeoDataFrame({"tier": [1]}, geometry=[line((25, -100), (25, 100))], crs=32650)
    t = tessellate(b, rail, area=box(-20, -20, 80, 50))
    assert (t.cell_of_building >= 0).all()
    assert shapely.length(shapely.intersection(t.cells, rail.geometry.values[0])).max() < 1e-9


def test_extra_lines_cut_like_soft_roads():
    b = gpd.GeoSeries([box(0, 0), box(40, 0)], crs=32650)
    t = tessellate(b, None, area=box(-20, -20, 80, 50), extra_lines=np.array([line((30, -100), (30, 100))]))
    assert len(t.blocks) == 2 and t.block_of_cell[t.cell_of_building[0]] != t.block_of_cell[t.cell_of_building[1]]
    x = shapely.bounds(t.cells[t.cell_of_building])
    assert x[0, 2] == pytest.approx(X0 + 30) and x[1, 0] == pytest.approx(X0 + 30)


def test_progress_counts_blocks(tess):
    seen = []
    tessellate(scene_buildings(), scene_barriers(), area=AREA, progress=seen.append)
    assert sum(seen) == len(tess.blocks)


def test_sample_pieces_fenced_by_hard_barriers_are_only_the_planted_one():
    """On the bundled sample only the planted 534-household piece is cut off by hard barriers (river,
    railway); every other piece of land with households stays connected to its neighbours (a regression
    test: a change in how cells are clipped once dropped ~10% of the adjacencies)."""
    from gridplan.config import PlanConfig
    from gridplan.inputs.validate import prepare
    from gridplan.planning import Planner, components
    from gridplan.sample import sample_path

    pl = Planner(prepare(sample_path("buildings"), sample_path("roads")), PlanConfig(), None)
    pl.build_graph()
    comps = components(pl.g, np.arange(pl.g.n))
    totals = sorted(int(pl.g.households[c].sum()) for c in comps if pl.g.households[c].sum() > 0)
    assert totals[0] == 534, totals[:5]
    assert totals[1] >= 1000, totals[:5]
