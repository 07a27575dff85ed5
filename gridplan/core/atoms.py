"""The nodes every level is planned on: whole cells, and the parts of buildings too big to keep whole.

A building alone in its cell with more households than a micro-grid may hold is divided into parts by
:func:`~gridplan.core.divide.divide_building` (entrance groups, then floor runs of an entrance that is too
big), and each part becomes a node of the graph. Communities and grids are planned on the same nodes, so
they may divide such a building too; the partitioner keeps every building whole wherever it fits
(``UnitGraph.building``, the keep-together rung below compounds) and divides one only where that is what
brings a unit into range.

Node ids ``0 .. n_cells-1`` are the cells (the node of a divided cell is the building's first part); the
other parts follow. What each node brings to its unit (:attr:`Atoms.land`):

- a whole cell: the cell;
- the lowest part of an entrance group: that group's strip of the cell (:func:`~gridplan.core.divide.part_land`);
- an upper part: the group's footprint slice only.

So units holding parts of one building overlap only on its footprint, and the rest of its cell belongs to
exactly one of them. Where the strips cannot be drawn, the first part holds the whole cell and every other
part its slice. Upper parts have edges only to parts of their own building, so a unit that is connected in
the graph is one polygon on the map.

Examples
--------
A tower of 2 entrances × 32 floors (256 households) between two walk-ups of 90, each in its own cell:

>>> import geopandas as gpd, numpy as np, shapely
>>> from gridplan.config import SizeRange
>>> from gridplan.core.graph import cell_graph
>>> from gridplan.core.tessellate import tessellate
>>> fp = gpd.GeoSeries([shapely.box(0, 0, 20, 12), shapely.box(40, 0, 80, 12), shapely.box(100, 0, 120, 12)], crs=32650)
>>> tess = tessellate(fp, None)
>>> hh = np.array([90.0, 256.0, 90.0])
>>> cg = cell_graph(tess, None, households=hh)
>>> g, atoms = divide_cells(cg, tess, fp.values, hh, units=[2, 2, 2], levels=[6, 32, 6], size=SizeRange(30, 100))
>>> g.graph.n, atoms.households.tolist()
(6, [90.0, 64.0, 90.0, 64.0, 64.0, 64.0])
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely

from ..config import SizeRange
from .divide import BuildingPart, divide_building, part_polygons
from .graph import MIN_SHARED, CellGraph
from .tessellate import Tessellation
from .unitgraph import UnitGraph
from .units import MIN_HOLE_AREA

__all__ = ["Atoms", "divide_cells", "BUILDING_CUT_WEIGHT"]

log = logging.getLogger(__name__)

#: Cut cost per metre inside a building, against 1.0 inside a block: cuts prefer streets, then blocks,
#: then buildings. [proposal]
BUILDING_CUT_WEIGHT = 3.0
#: Least footprint (m²) per entrance group for a building to be divided: smaller slices are lost as specks.
MIN_SLICE_AREA = MIN_HOLE_AREA
#: How far (m) a strip reaches to claim a stretch of its cell's shared boundary.
_TOUCH = 0.05


@dataclass(frozen=True)
class Atoms:
    """The nodes of a plan's graph (see the module docstring): per node its cell, its building (for the
    part of a divided building, else -1), its entrance/floor rectangle ``rect = (e0, e1, f0, f1)``
    (1-based, inclusive; zeros for a whole cell), the land it brings to a unit, its footprint slice
    (None for a whole cell), whether it stands on the ground (holds land beyond the footprint), its
    households and its weight (what the ranges count). ``undivided`` says, per building row above the
    micro-grid maximum that stays whole, why."""

    cell: np.ndarray
    building: np.ndarray
    rect: np.ndarray
    land: np.ndarray
    footprint: np.ndarray
    ground: np.ndarray
    households: np.ndarray
    weight: np.ndarray
    n_cells: int
    undivided: dict[int, str]

    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.cell)

    @property
    def divided(self) -> np.ndarray:
        """Rows of the buildings that were cut into parts (sorted)."""
        return np.unique(self.building[self.building >= 0])

    def spread(self, values: np.ndarray, cell_of_building: np.ndarray) -> np.ndarray:
        """A quantity per building spread onto the nodes: summed over a whole cell's buildings, shared over
        a divided building's parts in proportion to their households.

        >>> at = Atoms(np.array([0, 1, 1]), np.array([-1, 1, 1]), np.zeros((3, 4), int), np.empty(3, object),
        ...            np.empty(3, object), np.ones(3, bool), np.array([5.0, 30.0, 10.0]), np.ones(3), 2, {})
        >>> at.spread(np.array([10.0, 80.0]), np.array([0, 1])).tolist()
        [10.0, 60.0, 20.0]
        """
        values = np.asarray(values, dtype=float)
        out = np.bincount(cell_of_building, weights=values, minlength=self.n_cells).astype(float)
        out = np.r_[out, np.zeros(self.n - self.n_cells)]
        parts = self.building >= 0
        if parts.any():
            b = self.building[parts]
            total = np.bincount(b, weights=self.households[parts], minlength=len(values))
            out[parts] = values[b] * self.households[parts] / np.where(total[b] > 0, total[b], 1.0)
        return out

    def building_nodes(self, cell_of_building: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (node, building) pair: a whole building on its cell's node, a divided one on each of its parts.

        >>> at = Atoms(np.array([0, 1, 1]), np.array([-1, 1, 1]), np.zeros((3, 4), int), np.empty(3, object),
        ...            np.empty(3, object), np.ones(3, bool), np.array([5.0, 30.0, 10.0]), np.ones(3), 2, {})
        >>> [a.tolist() for a in at.building_nodes(np.array([0, 1]))]
        [[0, 1, 2], [0, 1, 1]]
        """
        whole = np.setdiff1d(np.arange(len(cell_of_building)), self.divided)
        parts = np.flatnonzero(self.building >= 0)
        return np.r_[cell_of_building[whole], parts], np.r_[whole, self.building[parts]]

    def nodes_of(self, b: int) -> np.ndarray:
        """The part nodes of building ``b`` (ascending, i.e. in part order)."""
        return np.flatnonzero(self.building == b)


def _rect(p: BuildingPart, units: int, levels: int) -> tuple[int, int, int, int]:
    e0, e1 = p.entrances or (1, units)
    f0, f1 = p.floors or (1, levels)
    return e0, e1, f0, f1


def divide_cells(cg: CellGraph, tess: Tessellation, footprints: np.ndarray, households: np.ndarray, *, units, levels,
                 size: SizeRange, weight: np.ndarray | None = None, compound: np.ndarray | None = None) -> tuple[CellGraph, Atoms]:
    """The graph over :class:`Atoms`: the cell graph with every divisible building cut into its parts.

    ``households``, ``units``, ``levels``, ``weight`` (default: households) and ``compound`` (keep-together
    group, -1 for none) are per building; ``size`` is the micro-grid range the parts are cut for. The
    graph carries ``group`` (compound) and ``building`` per node, the keep-together rungs of the partitioner.
    """
    cells, cell_of_b = tess.cells, tess.cell_of_building
    n_cells, n_b = len(cells), len(cell_of_b)
    hh_b = np.asarray(households, dtype=float)
    w_b = hh_b if weight is None else np.asarray(weight, dtype=float)
    units = np.asarray(units, dtype=float) if units is not None else np.full(n_b, np.nan)
    levels = np.asarray(levels, dtype=float) if levels is not None else np.full(n_b, np.nan)
    per_cell = np.bincount(cell_of_b, minlength=n_cells)
    base = cg.graph
    grp_b = np.full(n_b, -1, dtype=np.int64) if compound is None else np.asarray(compound, dtype=np.int64)

    cell_w = np.bincount(cell_of_b, weights=w_b, minlength=n_cells)
    node_cell, node_b, node_rect, node_land, node_fp, node_ground, node_hh, node_w = (
        list(range(n_cells)), [-1] * n_cells, [(0, 0, 0, 0)] * n_cells, list(cells), [None] * n_cells,
        [True] * n_cells, base.households.tolist(), cell_w.tolist())
    undivided: dict[int, str] = {}
    divided: dict[int, list[tuple[int, int, bool]]] = {}  # cell -> [(node, group, holds a strip)]
    for b in np.flatnonzero(hh_b > size.hi):
        c = int(cell_of_b[b])
        if per_cell[c] > 1:
            undivided[int(b)] = "it shares its cell with other buildings"
            continue
        parts = divide_building(hh_b[b], units=units[b], levels=levels[b], size=size)
        if not parts:
            undivided[int(b)] = "no entrance (units) or floor (levels) data to divide it by"
            continue
        area = float(shapely.area(footprints[b]))
        if area < MIN_SLICE_AREA * len({p.entrances for p in parts}):
            undivided[int(b)] = f"its footprint ({area:.2g} m²) is too small to draw its parts"
            continue
        u = int(units[b]) if np.isfinite(units[b]) and units[b] >= 1 else 1
        f = int(levels[b]) if np.isfinite(levels[b]) and levels[b] >= 1 else 1
        drawn = part_polygons(cells[c], footprints[b], u, parts)
        if drawn is None:
            undivided[int(b)] = "its footprint does not lie on its cell, so its parts cannot be drawn"
            continue
        rows = []
        for k, (p, land, sl, ground, g) in enumerate(zip(parts, *drawn)):
            if k == 0:
                v = c
            else:
                v = len(node_cell)
                node_cell.append(c), node_b.append(-1), node_rect.append(None), node_land.append(None)
                node_fp.append(None), node_ground.append(False), node_hh.append(0.0), node_w.append(0.0)
            node_b[v], node_rect[v], node_land[v], node_fp[v], node_ground[v] = int(b), _rect(p, u, f), land, sl, ground
            node_hh[v] = float(p.households)
            node_w[v] = float(w_b[b] * p.households / hh_b[b])
            rows.append((v, g, ground))
        divided[c] = rows

    edges, cost, tier, barrier = _edges(cg, cells, divided, node_land)
    b_edges, b_cost = _building_edges(divided, node_rect, node_fp, node_land, cells)
    edges = np.vstack([edges, b_edges]) if len(b_edges) else edges
    cost = np.r_[cost, b_cost]
    tier = np.r_[tier, np.zeros(len(b_edges), dtype=np.int8)]
    barrier = np.r_[barrier, np.full(len(b_edges), -1, dtype=np.int64)]
    node_b_arr = np.asarray(node_b, dtype=np.int64)
    node_cell_arr = np.asarray(node_cell, dtype=np.int64)
    cell_grp = base.group if base.group is not None else np.full(n_cells, -1, dtype=np.int64)
    group = np.where(node_b_arr >= 0, grp_b[np.maximum(node_b_arr, 0)], cell_grp[node_cell_arr])
    graph = UnitGraph(np.asarray(node_w, dtype=float), edges, cost, tier, group if (group >= 0).any() else None,
                      node_b_arr if (node_b_arr >= 0).any() else None)
    atoms = Atoms(node_cell_arr, node_b_arr, np.asarray([r for r in node_rect], dtype=np.int64).reshape(-1, 4),
                  np.asarray(node_land, dtype=object), np.asarray(node_fp, dtype=object), np.asarray(node_ground, dtype=bool),
                  np.asarray(node_hh, dtype=float), np.asarray(node_w, dtype=float), n_cells, undivided)
    if divided:
        log.info("divided %d buildings into %d parts", len(divided), sum(len(r) for r in divided.values()))
    return CellGraph(graph, barrier), atoms


def _edges(cg: CellGraph, cells: np.ndarray, divided: dict, land: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cell edges, those of divided cells handed to the strips that touch the shared boundary."""
    g = cg.graph
    e = g.edges
    if not divided or not len(e):
        return e, g.cost, g.tier, cg.edge_barrier
    hit = np.isin(e[:, 0], list(divided)) | np.isin(e[:, 1], list(divided))
    keep = np.flatnonzero(~hit)
    out_e, out_c, out_t, out_b = [e[keep]], [g.cost[keep]], [g.tier[keep]], [cg.edge_barrier[keep]]
    ids = np.flatnonzero(hit)
    shared = _linear(shapely.intersection(cells[e[ids, 0]], cells[e[ids, 1]]))
    total = np.maximum(shapely.length(shared), 1e-9)
    reach: dict[int, shapely.Geometry] = {}

    def pieces(c: int) -> list[tuple[int, shapely.Geometry | None]]:
        rows = divided.get(c)
        if rows is None:
            return [(c, None)]
        out = []
        for v, _, strip in rows:
            if strip and land[v] is cells[c]:
                out.append((v, None))
            elif strip:
                if v not in reach:
                    reach[v] = shapely.buffer(land[v], _TOUCH, quad_segs=2)
                out.append((v, reach[v]))
        return out or [(c, None)]

    pa, pb, line, owner = [], [], [], []
    for k, i in enumerate(ids):
        for a, ga in pieces(int(e[i, 0])):
            for b, gb in pieces(int(e[i, 1])):
                seg = shared[k]
                if ga is not None:
                    seg = shapely.intersection(seg, ga)
                if gb is not None:
                    seg = shapely.intersection(seg, gb)
                pa.append(a), pb.append(b), line.append(seg), owner.append(k)
    contact = shapely.length(np.asarray(line, dtype=object)) if line else np.zeros(0)
    pa, pb, owner = np.asarray(pa, dtype=np.int64), np.asarray(pb, dtype=np.int64), np.asarray(owner, dtype=np.int64)
    take = contact > MIN_SHARED
    # an edge no strip claims beyond MIN_SHARED (floating point) goes to the pair touching most
    claimed = np.bincount(owner[take], minlength=len(ids)) > 0
    for k in np.flatnonzero(~claimed):
        rows = np.flatnonzero(owner == k)
        if contact[rows].max() > 0:  # never an edge between lands that do not touch
            take[rows[np.argmax(contact[rows])]] = True
    share = np.where(take, contact / total[owner], 0.0)
    share = np.where(take & ~claimed[owner], 1.0, share)
    sel = np.flatnonzero(take)
    out_e.append(np.c_[pa[sel], pb[sel]])
    out_c.append(g.cost[ids[owner[sel]]] * np.minimum(share[sel], 1.0))
    out_t.append(g.tier[ids[owner[sel]]])
    out_b.append(cg.edge_barrier[ids[owner[sel]]])
    edges = np.vstack(out_e)
    edges.sort(axis=1)
    return edges, np.concatenate(out_c), np.concatenate(out_t).astype(np.int8), np.concatenate(out_b)


def _linear(geoms: np.ndarray) -> np.ndarray:
    """The line parts of each geometry (and the outlines of its polygon parts) as one MultiLineString: an
    overlay of two cells can also hold points and specks, which GEOS cannot intersect with a polygon."""
    parts, idx = shapely.get_parts(geoms, return_index=True)
    sub, k = shapely.get_parts(parts, return_index=True)  # a collection may hold multi-parts
    parts, idx = sub, idx[k]
    # two cells that overlap by a sliver share its outline (the cell graph counts it so too)
    poly = shapely.get_type_id(parts) == 3
    parts = np.where(poly, shapely.boundary(parts), parts)
    sub, k = shapely.get_parts(parts, return_index=True)
    parts, idx = sub, idx[k]
    lines = np.isin(shapely.get_type_id(parts), (1, 2))  # LineString, LinearRing
    out = np.empty(len(geoms), dtype=object)
    by_edge: dict[int, list] = {}
    for k, line in zip(idx[lines].tolist(), parts[lines]):
        by_edge.setdefault(k, []).append(line)
    for k in range(len(geoms)):
        out[k] = shapely.MultiLineString(by_edge.get(k, []))
    return out


def _building_edges(divided: dict, rect: list, footprint: list, land: list, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges between the parts of one building (tier 0): consecutive floor runs of an entrance group, and
    parts of neighbouring groups whose floors overlap; where the first part holds the whole cell, it
    touches every other part."""
    pairs, costs = [], []
    for c, rows in divided.items():
        whole_cell = land[rows[0][0]] is cells[c] and len({g for _, g, _ in rows}) > 1
        width = float(np.sqrt(max(shapely.area(footprint[rows[0][0]]), 1.0)))
        for i, (v, gv, _) in enumerate(rows):
            for w, gw, _ in rows[i + 1:]:
                rv, rw = rect[v], rect[w]
                floors_touch = gv == gw and rw[2] == rv[3] + 1
                side = abs(gw - gv) == 1 and rv[2] <= rw[3] and rw[2] <= rv[3]
                if floors_touch or side or (whole_cell and i == 0):
                    pairs.append((v, w))
                    costs.append(BUILDING_CUT_WEIGHT * width * (2.0 if floors_touch else 1.0))
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2), np.asarray(costs, dtype=float)
