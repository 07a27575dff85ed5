"""The adjacency graph of cells: the one place where geometry becomes a plain :class:`UnitGraph`.

Two cells are adjacent when they share a stretch of boundary (touching at a point does not count, so a
union of adjacent cells is always one polygon). Each edge carries:

- ``tier``: 0 when both cells lie in the same block, else the strongest barrier line along the shared
  boundary (2 strong, 3 soft; cells across a tier-1 barrier never touch, so never share an edge);
- ``cost``: the shared length times a weight per tier, so that a cut through a block is dear, a cut along a
  soft street cheap and a cut along a strong road cheapest (:data:`CUT_WEIGHT`).

Examples
--------
>>> import geopandas as gpd, shapely
>>> from gridplan.core.tessellate import tessellate
>>> b = gpd.GeoSeries([shapely.box(0, 0, 10, 10), shapely.box(30, 0, 40, 10), shapely.box(0, 30, 10, 40)], crs=32650)
>>> road = gpd.GeoDataFrame({"tier": [2], "name": ["中山路"]}, geometry=[shapely.LineString([(20, -50), (20, 90)])], crs=32650)
>>> cg = cell_graph(tessellate(b, road), road, households=[10, 20, 30])
>>> cg.graph.edges.tolist(), cg.graph.tier.tolist()
([[0, 1], [0, 2], [1, 2]], [0, 2, 2])
>>> cg.edge_barrier.tolist()  # the road along each edge (-1 inside a block)
[-1, 0, 0]
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from .partition import UnitGraph
from .tessellate import Tessellation

__all__ = ["CellGraph", "cell_graph", "CUT_WEIGHT"]

log = logging.getLogger(__name__)

#: Cut cost per metre of shared boundary, by what lies along it.
CUT_WEIGHT = {0: 1.0, 3: 0.25, 2: 0.1}
#: Shared boundaries shorter than this (m) do not make cells adjacent.
MIN_SHARED = 0.05
#: A barrier within this distance (m) of a shared boundary lies along it.
ALONG = 0.5


@dataclass(frozen=True)
class CellGraph:
    """A :class:`UnitGraph` over the cells of a tessellation, with the barrier behind each edge."""

    graph: UnitGraph
    edge_barrier: np.ndarray  # row of the barrier along each edge, -1 inside a block

    def barrier_names(self, barriers: gpd.GeoDataFrame, edge_ids: np.ndarray) -> list[str]:
        """Names (or kinds) of the barriers along ``edge_ids``, without repeats."""
        rows = self.edge_barrier[edge_ids]
        rows = rows[rows >= 0]
        names = []
        for r in dict.fromkeys(rows.tolist()):
            name = str(barriers["name"].iloc[r]) if "name" in barriers.columns else ""
            kind = str(barriers["kind"].iloc[r]) if "kind" in barriers.columns else "barrier"
            label = name if name and name not in ("nan", "None") else f"unnamed {kind}"
            if label not in names:
                names.append(label)
        return names


def cell_graph(
    tess: Tessellation,
    barriers: gpd.GeoDataFrame | None,
    *,
    households: np.ndarray,
    group: np.ndarray | None = None,
) -> CellGraph:
    """Build the adjacency graph of ``tess`` with ``households`` (per building) summed onto cells.

    ``group`` gives each building a keep-together group id (>= 0) or -1; a cell takes its building's.
    """
    cells = tess.cells
    n = len(cells)
    hh = np.bincount(tess.cell_of_building, weights=np.asarray(households, dtype=float), minlength=n)
    tree = shapely.STRtree(cells)
    i, j = tree.query(cells, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    order = np.lexsort((j, i))
    i, j = i[order], j[order]
    shared = shapely.intersection(cells[i], cells[j])
    length = shapely.length(shared)
    keep = length > MIN_SHARED
    i, j, shared, length = i[keep], j[keep], shared[keep], length[keep]
    same_block = tess.block_of_cell[i] == tess.block_of_cell[j]
    tier = np.zeros(len(i), dtype=np.int8)
    along = np.full(len(i), -1, dtype=np.int64)
    cross = np.flatnonzero(~same_block)
    if len(cross):
        tier[cross] = 3  # a block boundary with no barrier along it: a community line or a sliver
        if barriers is not None and len(barriers):
            soft = np.flatnonzero(barriers["tier"].to_numpy() >= 2)
            if len(soft):
                btree = shapely.STRtree(barriers.geometry.values[soft])
                ei, bj = btree.query(shared[cross], predicate="dwithin", distance=ALONG)
                bt = barriers["tier"].to_numpy()[soft][bj]
                # the strongest barrier along each edge; ties go to the longest overlap (first found)
                order = np.lexsort((bt, ei))
                ei, bj, bt = ei[order], bj[order], bt[order]
                first = np.r_[True, ei[1:] != ei[:-1]]
                tier[cross[ei[first]]] = bt[first]
                along[cross[ei[first]]] = soft[bj[first]]
    cost = length * np.vectorize(CUT_WEIGHT.get)(tier) if len(tier) else length
    grp = None
    if group is not None:
        grp = np.full(n, -1, dtype=np.int64)
        g = np.asarray(group, dtype=np.int64)
        grp[tess.cell_of_building] = g
    graph = UnitGraph(hh, np.c_[i, j], cost, tier, grp)
    log.info("built adjacency: %d cells, %d edges (%d across streets)", n, len(i), len(cross))
    return CellGraph(graph, along)
