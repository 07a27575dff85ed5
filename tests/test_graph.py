"""The cell adjacency graph: tiers and barriers on edges, costs, households, and no edge across tier 1.

The scene is the one of ``scene.py`` (and ``test_tessellate.py``) (EPSG:32650, metres from (500 000, 3 540 000))::

          ┌────────┬────────┬────────┬────────────┐
          │ □   □  │ □   □  │ □   □  ┃ □  ~~~~~   │   ~~~ pond (tier 1)
          │━━━ □   │ □   □  │ □   □  ┃ □          │   ━━━ dangling tier-1 line
          │ □   □  │ □   □  │ □   □  ┃ □          │
          └────────┴────────┴────────┸────────────┘
          0       50       100      150          200
             row 0: tier 3  row 1: tier 2  rows 2–4: tier 1
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridplan.config import SizeRange
from gridplan.core.graph import CUT_WEIGHT, cell_graph
from gridplan.core.partition import partition
from gridplan.core.tessellate import Tessellation, tessellate
from scene import AREA, X0, box, line, scene_barriers, scene_buildings

BUILDINGS = scene_buildings()
BARRIERS = scene_barriers(name=["石鼓路", "中山路", "铁路", "莫愁湖", None],
                          kind=["highway=residential", "highway=primary", "railway=rail", "natural=water", "railway=rail"])
HOUSEHOLDS = np.arange(len(BUILDINGS)) + 10.0


@pytest.fixture(scope="module")
def scene():
    tess = tessellate(BUILDINGS, BARRIERS, area=AREA)
    return tess, cell_graph(tess, BARRIERS, households=HOUSEHOLDS)


def cell_x(tess) -> np.ndarray:
    return shapely.get_coordinates(shapely.centroid(tess.cells))[:, 0] - X0


def test_edges_are_unique_sorted_pairs(scene):
    _, cg = scene
    e = cg.graph.edges
    assert (e[:, 0] < e[:, 1]).all()
    assert len(np.unique(e, axis=0)) == len(e)
    assert len(cg.edge_barrier) == len(e) == len(cg.graph.cost) == len(cg.graph.tier)


def test_households_are_summed_onto_cells(scene):
    tess, cg = scene
    assert cg.graph.households.sum() == pytest.approx(HOUSEHOLDS.sum())
    assert (cg.graph.households[tess.cell_of_building] == HOUSEHOLDS).all()


def test_no_edge_across_the_railway(scene):
    tess, cg = scene
    x = cell_x(tess)
    e = cg.graph.edges
    assert not ((x[e[:, 0]] < 150) != (x[e[:, 1]] < 150)).any()


@pytest.mark.parametrize(("road_x", "tier", "row"), [(50, 3, 0), (100, 2, 1)])
def test_edges_across_a_road_carry_its_tier_and_row(scene, road_x, tier, row):
    tess, cg = scene
    x = cell_x(tess)
    e = cg.graph.edges
    across = (x[e[:, 0]] < road_x) != (x[e[:, 1]] < road_x)
    assert across.sum() == 4  # one per row of buildings
    assert (cg.graph.tier[across] == tier).all()
    assert (cg.edge_barrier[across] == row).all()
    assert cg.barrier_names(BARRIERS, np.flatnonzero(across)) == [BARRIERS["name"][row]]


def test_edges_inside_blocks_are_tier_0_with_no_barrier(scene):
    tess, cg = scene
    e = cg.graph.edges
    inside = tess.block_of_cell[e[:, 0]] == tess.block_of_cell[e[:, 1]]
    assert (cg.graph.tier[inside] == 0).all() and (cg.edge_barrier[inside] == -1).all()
    assert (cg.graph.tier[~inside] > 0).all()


def test_cost_is_shared_length_times_the_tier_weight(scene):
    tess, cg = scene
    e = cg.graph.edges
    shared = shapely.length(shapely.intersection(tess.cells[e[:, 0]], tess.cells[e[:, 1]]))
    weight = np.array([CUT_WEIGHT[int(t)] for t in cg.graph.tier])
    assert cg.graph.cost == pytest.approx(shared * weight)
    assert CUT_WEIGHT[2] < CUT_WEIGHT[3] < CUT_WEIGHT[0]


def test_barrier_names_fall_back_to_the_kind():
    tess = tessellate(BUILDINGS, BARRIERS, area=AREA)
    barriers = BARRIERS.assign(name=["", "中山路", "", "", ""])
    cg = cell_graph(tess, barriers, households=HOUSEHOLDS)
    assert cg.barrier_names(barriers, np.arange(len(cg.edge_barrier))) == ["unnamed highway=residential", "中山路"]


def test_groups_follow_buildings_onto_cells(scene):
    tess, _ = scene
    group = np.where(np.arange(len(BUILDINGS)) < 4, 3, -1)
    cg = cell_graph(tess, BARRIERS, households=HOUSEHOLDS, group=group)
    assert (cg.graph.group[tess.cell_of_building] == group).all()


def test_cells_touching_at_a_corner_are_not_adjacent():
    """Three cells: A and B share a side, C touches B only at a corner::

            ┌───┐
            │ C │
        ┌───┼───┘
        │ A │ B │
        └───┴───┘
    """
    cells = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(2, 1, 3, 2)])
    tess = Tessellation(cells, np.arange(3), np.arange(3), np.zeros(3, dtype=np.int64), np.array([shapely.box(0, 0, 3, 2)]),
                        shapely.Polygon(), shapely.box(0, 0, 3, 2))
    cg = cell_graph(tess, None, households=[1, 1, 1])
    assert cg.graph.edges.tolist() == [[0, 1]]
    assert cg.graph.tier.tolist() == [0] and cg.graph.cost.tolist() == [1.0]


def test_a_block_edge_with_no_barrier_along_is_tier_3():
    """Blocks cut by an extra line (a community boundary) with no barrier: the edge is tier 3, no barrier."""
    b = gpd.GeoSeries([box(0, 0), box(40, 0)], crs=32650)
    tess = tessellate(b, None, area=box(-20, -20, 80, 50), extra_lines=np.array([line((30, -100), (30, 100))]))
    cg = cell_graph(tess, None, households=[5, 5])
    assert cg.graph.edges.tolist() == [[0, 1]]
    assert cg.graph.tier.tolist() == [3] and cg.edge_barrier.tolist() == [-1]


def test_partition_of_the_scene_keeps_to_the_strong_road(scene):
    """Units of 100–200 households: each side of the strong road is feasible, so no grid crosses it."""
    tess, cg = scene
    result = partition(cg.graph, SizeRange(100, 200), rng=0)
    strong = cg.graph.edges[cg.graph.tier == 2]
    assert len(strong) == 4
    assert (result.labels[strong[:, 0]] != result.labels[strong[:, 1]]).all()
    units = np.bincount(result.labels, weights=cg.graph.households)
    assert units.sum() == pytest.approx(HOUSEHOLDS.sum())
