"""Unit outlines that are given, not dissolved: polygons kept exactly (:attr:`Level.fixed`), communities
joined across a hard corridor, and kept communities trimmed to the land their grids can hold.

:func:`gridplan.planning.assemble.assemble` uses these. A *fixed* unit (a given community kept by a
re-districting, a unit a re-plan does not touch) keeps the very polygon it had; its siblings are dissolved
from their cells minus it. A community whose cells a river or railway cuts apart gets a 3 m strip across
the corridor (:func:`bridge_parts`) that its grids share, each the half on its own bank. A kept given
community drawn over water its grids may not hold (a grid never crosses a tier-1 line) is trimmed to its
grids' land (:func:`trim_to_children`), joined across the water by such a strip when the water cuts it in
two, and the report says so (``trimmed_communities``).

Examples
--------
>>> import numpy as np, shapely
>>> c = np.array([shapely.box(0, 0, 30, 10)], dtype=object)          # a given community over a 10 m river
>>> kids = np.array([shapely.box(0, 0, 10, 10), shapely.box(20, 2, 30, 8)], dtype=object)   # its grids on both banks
>>> mask = np.array([True])
>>> [round(t["area_m2"]) for t in trim_to_children(c, mask, kids, np.array([0, 0]))], round(c[0].area), c[0].geom_type, mask.tolist()
([108], 192, 'Polygon', [False])
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from ..core.tessellate import GRID_SIZE
from ..core.units import MIN_HOLE_AREA, dissolve, single_polygon, without_fixed
from .planner import Level, Planner

__all__ = ["SHARE_WIDTH", "bridge_parts", "fixed_polygons", "level_geoms", "output_table", "trim_to_children"]

#: Half the width (m) of the strip that joins the parts of a community cut apart by a hard corridor.
_BRIDGE_HALF_WIDTH = 1.5
#: Gaps no wider than this (m) are strips the children touching them share (:func:`~gridplan.core.units.close_gaps`).
SHARE_WIDTH = 2 * _BRIDGE_HALF_WIDTH + 0.5


def bridge_parts(pl: Planner, comm: Level, c_geom: np.ndarray, fixed: np.ndarray) -> None:
    """A community whose cells a hard corridor cuts apart (old communities straddle rivers and railways)
    gets a narrow strip of the land no cell covers, along the shortest line between its parts, so it stays
    one Polygon. The strip belongs to no other community (nor a ``fixed`` one), so nothing overlaps; its
    grids share it, each the half on its own bank (:func:`~gridplan.core.units.close_gaps`)."""
    cells = pl.land
    tree = shapely.STRtree(cells)
    taken: list = [g for g, f in zip(c_geom, fixed) if f]  # land no strip may take: fixed communities, strips given
    for c in range(len(c_geom)):
        if fixed[c] or c_geom[c].geom_type != "MultiPolygon":
            continue

        def free(patch: shapely.Geometry, c: int = c) -> shapely.Geometry:
            """The strip less other communities' cells and the land already taken."""
            near = tree.query(patch, predicate="intersects")
            near = near[(comm.labels[near] != c) & (comm.labels[near] >= 0)]
            for other in ([shapely.union_all(cells[near], grid_size=GRID_SIZE)] if len(near) else []) + (
                    [shapely.union_all(taken, grid_size=GRID_SIZE)] if taken else []):
                patch = shapely.difference(patch, other, grid_size=GRID_SIZE)
            return patch

        joined = _joined(c_geom[c], free)
        taken.append(shapely.difference(joined, c_geom[c], grid_size=GRID_SIZE))
        c_geom[c] = joined


def fixed_polygons(lev: Level, n: int, out_crs, work_crs) -> tuple[np.ndarray, np.ndarray]:
    """Which units of a level are :attr:`Level.fixed`, and their polygons projected to the work CRS."""
    given = lev.fixed if lev.fixed is not None else [None] * n
    if len(given) != n:
        raise ValueError(f"Level.fixed has {len(given)} entries for {n} units; give one polygon or None per unit")
    mask = np.array([g is not None for g in given], dtype=bool)
    work = np.full(n, None, dtype=object)
    if mask.any():
        work[mask] = np.asarray(gpd.GeoSeries([g for g in given if g is not None], crs=out_crs).to_crs(work_crs).values, dtype=object)
    return mask, work


def level_geoms(land: np.ndarray, lev: Level, n: int, fixed: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Each unit's polygon in the work CRS: a fixed one as given, the others dissolved from their nodes' land
    minus their fixed siblings (see :attr:`Level.fixed`); not yet closed up inside their parents."""
    mask, work = fixed
    geom = dissolve(land, np.where(lev.labels >= 0, lev.labels, n), n + 1)[:n]
    geom[mask] = work[mask]
    return without_fixed(geom, lev.parent, mask)


def output_table(t: gpd.GeoDataFrame, lev: Level, fixed: np.ndarray, crs) -> gpd.GeoDataFrame:
    """A level's table in the output CRS, its units still ``fixed`` with the very polygons given (no reprojection)."""
    out = t.to_crs(crs)
    if lev.fixed is not None and fixed.any():
        geoms = np.asarray(out.geometry.values, dtype=object)
        for i in np.flatnonzero(fixed):
            geoms[i] = lev.fixed[i]
        out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=crs))
    return out


def _joined(geom: shapely.Geometry, clip) -> shapely.Geometry:
    """``geom`` with its parts joined by strips along the shortest lines between them (``clip(strip)``: the part of
    a strip it may take), while that leaves fewer parts."""
    for _ in range(20):
        if geom.geom_type != "MultiPolygon":
            break
        parts = sorted(shapely.get_parts(geom), key=lambda g: g.area)
        line = shapely.shortest_line(parts[0], shapely.union_all(parts[1:]))
        patch = clip(shapely.buffer(line, _BRIDGE_HALF_WIDTH))
        merged = single_polygon(shapely.union(geom, patch, grid_size=GRID_SIZE))
        if len(shapely.get_parts(merged)) >= len(parts):
            break
        geom = merged
    return geom


def trim_to_children(geoms: np.ndarray, fixed: np.ndarray, kids: np.ndarray, kids_parent: np.ndarray) -> list[dict]:
    """Fixed units whose children cannot cover them (water, a rail corridor, land cut off from every
    building: land no grid may hold) are trimmed to their children's land, in place; they stop being fixed.

    A piece is trimmed when no child holds it, it is at least :data:`~gridplan.core.units.MIN_HOLE_AREA`
    m² and wider than a shared strip (:data:`SHARE_WIDTH`); a unit the trim cuts in two is joined again
    by a strip of the land trimmed. Returns one ``{"index", "area_m2"}`` per unit trimmed.
    """
    out = []
    for c in np.flatnonzero(fixed):
        mine = kids[kids_parent == c]
        cover = shapely.union_all(mine, grid_size=GRID_SIZE) if len(mine) else shapely.Polygon()
        rest = shapely.difference(geoms[c], cover, grid_size=GRID_SIZE)
        pieces = [p for p in shapely.get_parts(rest) if p.geom_type == "Polygon" and p.area >= MIN_HOLE_AREA
                  and not shapely.is_empty(shapely.buffer(p, -SHARE_WIDTH / 2, quad_segs=2))]
        if not pieces:
            continue
        land = shapely.union_all(pieces, grid_size=GRID_SIZE)
        geom = _joined(single_polygon(shapely.difference(geoms[c], land, grid_size=GRID_SIZE)),
                       lambda strip: shapely.intersection(strip, land, grid_size=GRID_SIZE))
        out.append({"index": int(c), "area_m2": round(float(geoms[c].area - geom.area), 1)})
        geoms[c] = geom
        fixed[c] = False
    return out
