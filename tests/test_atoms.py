"""The atom graph: cells with divisible buildings cut into entrance/floor parts (gridplan.core.atoms)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from gridplan.config import SizeRange
from gridplan.core.atoms import divide_cells
from gridplan.core.graph import cell_graph
from gridplan.core.partition import UnitGraph, partition
from gridplan.core.tessellate import tessellate
from scene import box, line


def _scene(units=(3, 2, 3), levels=(5, 26, 5), hh=(90.0, 208.0, 90.0)):
    fp = gpd.GeoSeries([box(0, 20, 40, 12), box(70, 20, 30, 15), box(130, 20, 40, 12)], crs=32650)
    roads = gpd.GeoDataFrame({"tier": [3, 3]}, geometry=[line((-30, 0), (200, 0)), line((-30, 60), (200, 60))], crs=32650)
    tess = tessellate(fp, roads)
    hh = np.asarray(hh, dtype=float)
    cg = cell_graph(tess, roads, households=hh)
    g, at = divide_cells(cg, tess, np.asarray(fp.values, dtype=object), hh, units=list(units), levels=list(levels), size=SizeRange(30, 100))
    return tess, cg, g, at


def test_only_buildings_above_the_micro_maximum_are_cut_into_parts():
    tess, _, g, at = _scene()
    assert at.n_cells == len(tess.cells)
    assert at.divided.tolist() == [1]  # the tower (208 > 100); the walk-ups of 90 stay whole
    parts = at.nodes_of(1)
    assert at.households[parts].sum() == 208 and (at.households[parts] <= 100).all()
    assert parts[0] == tess.cell_of_building[1]  # the first part keeps the cell's node id
    assert g.graph.building[parts].tolist() == [1] * len(parts)
    assert g.graph.households.sum() == 388


def test_ground_strips_tile_the_cell_and_upper_parts_stand_on_the_footprint():
    tess, _, _, at = _scene()
    cell = tess.cells[tess.cell_of_building[1]]
    parts = at.nodes_of(1)
    ground = parts[at.ground[parts]]
    assert len(ground) == 2  # one strip per entrance
    strips = at.land[ground]
    assert abs(sum(s.area for s in strips) - cell.area) < 1.0
    assert shapely.area(shapely.intersection(strips[0], strips[1])) < 1e-6
    fp = box(70, 20, 30, 15)
    for v in parts[~at.ground[parts]]:
        assert shapely.area(shapely.difference(at.land[v], fp)) < 1e-3  # an upper part is a footprint slice


def test_upper_parts_touch_only_parts_of_their_own_building():
    _, _, g, at = _scene()
    e = g.graph.edges
    upper = np.flatnonzero((at.building >= 0) & ~at.ground)
    assert len(upper)
    for v in upper:
        nb = np.r_[e[e[:, 0] == v, 1], e[e[:, 1] == v, 0]]
        assert len(nb) and (at.building[nb] == at.building[v]).all(), v
    # the parts of the tower are one connected piece, and the whole graph stays connected
    from gridplan.planning.planner import components
    assert len(components(g.graph, at.nodes_of(1))) == 1
    assert len(components(g.graph, np.arange(g.graph.n))) == 1


def test_partition_divides_a_building_only_where_that_brings_units_into_range():
    """A path 150 – tower (4 parts of 52) – 150: at 200:300 the tower is divided (254 | 254); at 140:400 it
    stays whole in one unit."""
    hh = [150, 52, 52, 52, 52, 150]
    edges = [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]
    g = UnitGraph(hh, edges, [1, 3, 3, 3, 1], [0] * 5, building=[-1, 7, 7, 7, 7, -1])
    split = partition(g, SizeRange(200, 300), rng=0)
    assert sorted(np.bincount(split.labels, weights=g.households).tolist()) == [254.0, 254.0]
    assert len(set(split.labels[1:5].tolist())) == 2 and not split.issues
    whole = partition(g, SizeRange(140, 400), rng=0)
    assert len(set(whole.labels[1:5].tolist())) == 1
    assert sorted(np.bincount(whole.labels, weights=g.households).tolist()) in ([150.0, 358.0],)


def test_a_building_above_the_maximum_is_always_divided():
    """A tower of 4 × 150 at 200:400 cannot be one unit: its parts are split however the rest lies."""
    g = UnitGraph([150, 150, 150, 150], [[0, 1], [1, 2], [2, 3]], [3, 3, 3], [0, 0, 0], building=[3, 3, 3, 3])
    res = partition(g, SizeRange(200, 400), rng=1)
    assert sorted(np.bincount(res.labels, weights=g.households).tolist()) == [300.0, 300.0]


def test_same_seed_same_atoms_and_labels():
    a = _scene()[2].graph
    b = _scene()[2].graph
    assert np.array_equal(a.edges, b.edges) and np.array_equal(a.households, b.households)
    assert np.array_equal(partition(a, SizeRange(100, 300), rng=3).labels, partition(b, SizeRange(100, 300), rng=3).labels)
