"""Unit polygons and tables: cells dissolved into units, divided buildings sliced, attributes computed.

Examples
--------
>>> import numpy as np, shapely
>>> cells = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(2, 0, 3, 1)])
>>> [g.bounds for g in dissolve(cells, np.array([0, 0, 1]), 2)]
[(0.0, 0.0, 2.0, 1.0), (2.0, 0.0, 3.0, 1.0)]
"""
from __future__ import annotations

import logging

import numpy as np
import shapely

from .tessellate import GRID_SIZE

__all__ = ["dissolve", "single_polygon", "divided_polygons"]

log = logging.getLogger(__name__)


def single_polygon(geom: shapely.Geometry) -> shapely.Geometry:
    """The geometry as one valid Polygon: slivers from floating-point noise are dropped.

    A union of edge-adjacent cells is one polygon in exact arithmetic; in floating point it can leave
    hair-thin gaps or specks. Parts under 0.01 m² are dropped; if real parts remain separate they are
    kept as a MultiPolygon (the caller reports it).
    """
    geom = shapely.make_valid(geom)
    if geom.geom_type == "Polygon":
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area >= 0.01]
    if not parts:
        return shapely.Polygon()
    if len(parts) == 1:
        return parts[0]
    return shapely.MultiPolygon(parts)


def _union(members: np.ndarray) -> shapely.Geometry:
    """Union of edge-adjacent cells as one polygon on the :data:`GRID_SIZE` grid.

    The exact union snapped afterwards is tried first; where floating point leaves a hair-thin gap
    between cells of two blocks, snap-rounded unions at a few grid sizes close it. The first single
    polygon wins (a true gap in the cells would stay a MultiPolygon and be reported).
    """
    if len(members) == 1:
        return single_polygon(shapely.set_precision(members[0], GRID_SIZE))
    attempt = shapely.Polygon()
    for how in ("exact", GRID_SIZE, GRID_SIZE * 10, GRID_SIZE / 10):
        try:
            union = shapely.set_precision(shapely.union_all(members), GRID_SIZE) if how == "exact" else shapely.union_all(members, grid_size=how)
        except shapely.errors.GEOSException:
            continue
        attempt = single_polygon(union)
        if attempt.geom_type == "Polygon":
            return attempt
    return attempt


def dissolve(cells: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Union of the cells of each label 0..count-1."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(count + 1))
    out = np.empty(count, dtype=object)
    for k in range(count):
        members = cells[order[bounds[k] : bounds[k + 1]]]
        if not len(members):
            out[k] = shapely.Polygon()
            continue
        out[k] = _union(members)
    return out


def divided_polygons(cell_region: shapely.Geometry, slices: list[shapely.Geometry], parts_per_slice: list[int]) -> list[shapely.Geometry]:
    """Polygons for the micro-grids of one divided building.

    ``cell_region`` is the land of the building's micro-grid (its cell and any empty land joined to
    it); ``slices`` the footprint slice of each entrance group; ``parts_per_slice`` how many micro-grids
    (floor parts) each slice holds. The first part of the first slice takes the land minus the other
    slices; every other part is its slice. Parts of one building thus overlap only on that building's
    footprint, and together they tile the land.

    >>> land = shapely.box(0, 0, 100, 40)
    >>> polys = divided_polygons(land, [shapely.box(20, 10, 50, 30), shapely.box(50, 10, 80, 30)], [1, 2])
    >>> [round(p.area) for p in polys]
    [3400, 600, 600]
    """
    others = shapely.union_all(slices[1:]) if len(slices) > 1 else shapely.Polygon()
    first = single_polygon(shapely.difference(cell_region, others)) if len(slices) > 1 else cell_region
    if first.geom_type != "Polygon":  # slices would cut the land apart: give every part the whole land
        log.info("divided building: entrance slices would cut its land apart; parts share the whole cell")
        return [cell_region] * sum(parts_per_slice)
    out = []
    for i, (sl, k) in enumerate(zip(slices, parts_per_slice)):
        for j in range(k):
            out.append(first if (i == 0 and j == 0) else single_polygon(sl))
    return out
