"""Tessellation: the plan area cut by barrier lines into blocks, and each block into building cells.

Units are unions of cells, so their boundaries run along the streets wherever they cross one:

1. the *study area* is the union of the given communities, or the buildings' surroundings: a concave
   hull of the footprints, grown to hold every footprint with a margin;
2. tier-2/3 lines (and community boundaries) cut the study area into *blocks* (polygonize); tier-1 lines
   are cut out as a thin corridor and water areas removed, so no cell ever straddles a hard barrier;
3. inside each block, a Voronoi diagram of points sampled along the footprints (shrunk a little, as in
   momepy's enclosed tessellation) gives each building a cell that holds its footprint; blocks with one
   building are its cell, blocks with none are *empty cells* (households 0) that join a neighbour.

Examples
--------
>>> import geopandas as gpd, shapely
>>> b = gpd.GeoSeries([shapely.box(0, 0, 10, 10), shapely.box(30, 0, 40, 10)], crs=32650)
>>> road = gpd.GeoDataFrame({"tier": [3]}, geometry=[shapely.LineString([(20, -50), (20, 60)])], crs=32650)
>>> t = tessellate(b, road)
>>> t.building_of_cell.tolist()
[0, 1]
>>> [round(x) for x in shapely.bounds(t.cells[0])[[0, 2]]]  # the first cell ends at the road
[-30, 20]
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

__all__ = ["Tessellation", "tessellate", "study_area", "locate", "off_land"]

log = logging.getLogger(__name__)

#: Half-width of the corridor cut out along tier-1 lines, in metres.
HARD_CORRIDOR = 0.25
#: Precision grid of unit coordinates, in metres: units are snapped to it after the (exact) union of
#: their cells, which removes sub-millimetre spikes that reprojection could turn into self-intersections.
GRID_SIZE = 0.001
#: Blocks smaller than this (m²) are dropped as slivers of the line network.
MIN_BLOCK_AREA = 0.5


@dataclass(frozen=True)
class Tessellation:
    """Cells tiling the plan area: one per building, plus empty cells where no building stands.

    ``cells[i]`` is a Polygon; ``building_of_cell[i]`` is the building it was drawn for (-1 for an empty
    cell); ``cell_of_building[b]`` the cell building ``b`` belongs to (almost always its own; a building
    whose cell vanished, e.g. one drawn on top of another, shares its neighbour's); ``block_of_cell[i]``
    the block it lies in; ``blocks`` the blocks; ``hard`` the area removed as tier-1 corridors and water.
    """

    cells: np.ndarray
    building_of_cell: np.ndarray
    cell_of_building: np.ndarray
    block_of_cell: np.ndarray
    blocks: np.ndarray
    hard: shapely.Geometry
    area: shapely.Geometry


def study_area(footprints: np.ndarray, *, margin: float = 30.0, concavity: float = 0.3) -> shapely.Geometry:
    """The buildings' surroundings as one piece: a concave hull of the buildings (``concavity`` 0 hugs
    them, 1 is the convex hull), grown to hold every footprint with ``margin`` metres to spare.

    Open land between clusters of buildings stays in the plan, so clusters that no hard barrier separates
    stay connected.
    """
    reps = shapely.multipoints(shapely.get_coordinates(shapely.convex_hull(footprints)))
    hull = shapely.concave_hull(reps, ratio=concavity)
    grown = shapely.union_all(np.concatenate([[hull], shapely.buffer(shapely.convex_hull(footprints), margin, quad_segs=2)]))
    return shapely.make_valid(shapely.buffer(shapely.buffer(grown, margin, quad_segs=2), -margin, quad_segs=2))


def locate(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """For each point, the index of the polygon holding it, else of the nearest polygon.

    Examples
    --------
    >>> locate(shapely.points([(1, 1), (15, 1)]), np.array([shapely.box(0, 0, 2, 2), shapely.box(10, 0, 12, 2)])).tolist()
    [0, 1]
    """
    tree = shapely.STRtree(np.asarray(polygons, dtype=object))
    pi, qj = tree.query(points, predicate="within")
    which = np.full(len(points), -1, dtype=np.int64)
    which[pi[::-1]] = qj[::-1]  # the first polygon found wins where they overlap
    lost = np.flatnonzero(which < 0)
    if len(lost):
        near = tree.query_nearest(points[lost], all_matches=False)
        which[lost[near[0]]] = near[1]
    return which


def _hard_features(barriers: gpd.GeoDataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Tier-1 lines and tier-1 areas (water) of a tiered barrier layer."""
    if barriers is None or not len(barriers):
        return np.array([], dtype=object), np.array([], dtype=object)
    geoms = np.asarray(barriers.geometry.values, dtype=object)
    tier1 = barriers["tier"].to_numpy() == 1
    kind = shapely.get_type_id(geoms)
    return geoms[tier1 & np.isin(kind, [1, 2, 5])], geoms[tier1 & np.isin(kind, [3, 6])]


def off_land(footprints: gpd.GeoSeries | np.ndarray, barriers: gpd.GeoDataFrame | None) -> np.ndarray:
    """For each building, the row of the tier-1 area (water, a reservoir) holding its representative point, or -1
    for a building on land.

    Such a building (a houseboat, a pontoon, a station on a river bridge, a pier reaching out over the water)
    has no land to stand on: no unit may cross the water to hold it, so it is left out of the plan and listed
    (see :func:`gridplan.inputs.osm.load_osm`). A building astride a tier-1 *line* (a railway, a motorway) is on
    land: it belongs to the side holding its representative point. Footprints and barriers share one CRS;
    ``barriers`` has a ``tier`` column (:func:`gridplan.inputs.barriers.classify_barriers`).

    Examples
    --------
    >>> river = gpd.GeoDataFrame({"tier": [1, 1]}, geometry=[shapely.box(50, -100, 110, 100),
    ...                                                      shapely.LineString([(0, -50), (200, -50)])])
    >>> off_land(np.array([shapely.box(0, 0, 20, 10), shapely.box(60, 0, 90, 10), shapely.box(40, 20, 80, 30),
    ...                    shapely.box(0, -60, 20, -45)]), river).tolist()  # land, houseboat, pier, astride the railway
    [-1, 0, 0, -1]
    """
    fp = np.asarray(footprints.geometry.values if hasattr(footprints, "geometry") else footprints, dtype=object)
    out = np.full(len(fp), -1, dtype=np.int64)
    if barriers is None or not len(barriers) or not len(fp):
        return out
    geoms = np.asarray(barriers.geometry.values, dtype=object)
    rows = np.flatnonzero((barriers["tier"].to_numpy() == 1) & np.isin(shapely.get_type_id(geoms), [3, 6]))
    if not len(rows):
        return out
    areas = shapely.make_valid(geoms[rows])
    bi, ai = shapely.STRtree(areas).query(shapely.point_on_surface(fp), predicate="within")
    out[bi[::-1]] = rows[ai[::-1]]  # the first area found wins where areas overlap
    return out


def _lines_of(geoms: np.ndarray) -> np.ndarray:
    """Linework of geometries: polygons give their boundaries, lines stay lines."""
    poly = np.isin(shapely.get_type_id(geoms), [3, 6])
    out = geoms.copy()
    out[poly] = shapely.boundary(geoms[poly])
    return out


def _blocks(area: shapely.Geometry, cut_lines: np.ndarray, hard: shapely.Geometry) -> np.ndarray:
    """Polygonize the area's boundary with the cut lines, then remove the hard barriers."""
    # lines are noded whole (clipping first would leave their ends a hair off the boundary)
    shapely.prepare(area)
    inside = cut_lines[shapely.intersects(area, cut_lines)] if len(cut_lines) else cut_lines
    noded = shapely.union_all(np.concatenate([[shapely.boundary(area)], inside]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.within(shapely.point_on_surface(faces), area)]
    if not shapely.is_empty(hard):
        shapely.prepare(hard)
        touched = shapely.intersects(faces, hard)
        faces = np.concatenate([faces[~touched], shapely.get_parts(shapely.difference(faces[touched], hard))])
    faces = shapely.get_parts(shapely.set_precision(shapely.make_valid(faces), GRID_SIZE))
    faces = faces[(shapely.get_type_id(faces) == 3) & (shapely.area(faces) >= MIN_BLOCK_AREA)]
    # a stable order: west to east, then south to north, by representative point
    p = shapely.get_coordinates(shapely.point_on_surface(faces))
    return faces[np.lexsort((p[:, 1], p[:, 0]))]


def _sample_points(footprints: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along each footprint, shrunk inward a little; returns coordinates and owner index."""
    shrunk = shapely.buffer(footprints, -0.4, quad_segs=1)
    shrunk = np.where(shapely.is_empty(shrunk) | (shapely.area(shrunk) < 1.0), footprints, shrunk)
    rings = shapely.boundary(shrunk)
    dense = shapely.segmentize(rings, spacing)
    coords, owner = shapely.get_coordinates(dense, return_index=True)
    reps = shapely.get_coordinates(shapely.point_on_surface(footprints))
    coords = np.vstack([reps, coords])
    owner = np.concatenate([np.arange(len(footprints)), owner])
    # drop duplicates (closing vertices, shared walls): keep the first owner
    key = np.round(coords, 2)
    _, first = np.unique(key, axis=0, return_index=True)
    first.sort()
    return coords[first], owner[first]


def _cells_in_block(block: shapely.Geometry, footprints: np.ndarray, spacing: float) -> np.ndarray:
    """One cell per footprint inside ``block`` (footprints given in the block's order).

    Each sample point's Voronoi cell is clipped to the block (only those that cross its edge: the rest
    are inside already), then the cells of one footprint are merged.
    """
    if len(footprints) == 1:
        return np.array([block])
    coords, owner = _sample_points(footprints, spacing)
    vor = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(coords), extend_to=block, ordered=True))
    shapely.prepare(block)
    crossing = ~shapely.contains_properly(block, vor)
    vor[crossing] = shapely.intersection(vor[crossing], block)
    vor, idx = shapely.get_parts(vor, return_index=True)
    poly = shapely.get_type_id(vor) == 3
    vor, owner = vor[poly], owner[idx[poly]]
    cells = np.empty(len(footprints), dtype=object)
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(len(footprints) + 1))
    for i in range(len(footprints)):
        pieces = vor[order[bounds[i] : bounds[i + 1]]]
        try:
            cells[i] = shapely.coverage_union_all(pieces)
        except shapely.errors.GEOSException:
            cells[i] = shapely.union_all(pieces)
    return cells


def tessellate(
    footprints: gpd.GeoSeries,
    barriers: gpd.GeoDataFrame | None = None,
    *,
    area: shapely.Geometry | None = None,
    extra_lines: np.ndarray | None = None,
    spacing: float = 4.0,
    progress=None,
    total=None,
) -> Tessellation:
    """Cut the plan area into building cells bounded by the barrier lines.

    Parameters
    ----------
    footprints
        Building polygons in a projected CRS (metres).
    barriers
        Barrier features in the same CRS with an integer ``tier`` column (1 hard, 2 strong, 3 soft).
    area
        The plan area; by default :func:`study_area` of the footprints.
    extra_lines
        More cut lines (e.g. community boundaries), treated like tier-3 lines.
    spacing
        Distance between points sampled along footprints, in metres.
    progress
        Optional callable taking the number of blocks done (for a progress bar).
    total
        Optional callable told the number of blocks once they are cut (the bar's total).
    """
    fp = np.asarray(footprints.geometry.values if hasattr(footprints, "geometry") else footprints, dtype=object)
    if area is None:
        area = study_area(fp)
    hard_lines, hard_polys = _hard_features(barriers)
    if barriers is not None and len(barriers):
        geoms = np.asarray(barriers.geometry.values, dtype=object)
        cut = _lines_of(np.asarray(geoms[barriers["tier"].to_numpy() >= 2], dtype=object))
    else:
        cut = np.array([], dtype=object)
    hard_parts = [shapely.buffer(hard_lines, HARD_CORRIDOR, quad_segs=1)] if len(hard_lines) else []
    if len(hard_polys):
        hard_parts.append(shapely.make_valid(hard_polys))
    hard = shapely.union_all(np.concatenate(hard_parts)) if hard_parts else shapely.Polygon()
    hard = shapely.intersection(hard, area)
    if extra_lines is not None and len(extra_lines):
        cut = np.concatenate([cut, _lines_of(np.asarray(extra_lines, dtype=object))])
    blocks = _blocks(area, cut, hard)
    if total is not None:  # progress: one step per block
        total(len(blocks))
    log.info("tessellation: %d blocks from %d cut lines, %d hard features", len(blocks), len(cut), len(hard_lines) + len(hard_polys))

    # each building goes to the block holding its representative point (else the nearest block: a building
    # astride a tier-1 line belongs to the side its point is on; one on water should have been left out, see off_land)
    reps = shapely.point_on_surface(fp)
    block_of_b = locate(reps, blocks)
    if not shapely.is_empty(hard):
        wet = int(shapely.intersects(hard, reps).sum())
        if wet:
            log.info("tessellation: %d buildings have their point on a hard barrier (water, a tier-1 corridor); "
                     "they go to the nearest block", wet)

    cells, owners, cell_block = [], [], []
    order = np.argsort(block_of_b, kind="stable")
    bounds = np.searchsorted(block_of_b[order], np.arange(len(blocks) + 1))
    for k in range(len(blocks)):
        members = order[bounds[k] : bounds[k + 1]]
        if len(members) == 0:
            cells.append(np.array([blocks[k]]))
            owners.append(np.array([-1]))
        else:
            cells.append(_cells_in_block(blocks[k], fp[members], spacing))
            owners.append(members)
        cell_block.append(np.full(len(owners[-1]), k))
        if progress is not None:
            progress(1)
    cells_a = np.concatenate(cells)
    owner_a = np.concatenate(owners)
    block_a = np.concatenate(cell_block)
    cells_a = shapely.make_valid(cells_a)
    # a cell held together by a sub-millimetre bridge (a hard corridor ending a hair from the block edge)
    # would fall apart when units are snapped: split such cells now, so each part is a node of its own
    snapped = shapely.set_precision(cells_a, GRID_SIZE)
    pinched = shapely.get_type_id(snapped) != 3
    cells_a[pinched] = snapped[pinched]
    cells_a, owner_a, block_a = _single_parts(cells_a, owner_a, block_a, reps)
    cell_of_b = np.full(len(fp), -1, dtype=np.int64)
    has = owner_a >= 0
    cell_of_b[owner_a[has]] = np.flatnonzero(has)
    orphans = np.flatnonzero(cell_of_b < 0)
    if len(orphans):
        near = shapely.STRtree(cells_a).query_nearest(reps[orphans], return_distance=False, all_matches=False)
        cell_of_b[orphans[near[0]]] = near[1]
        log.info("tessellation: %d buildings with no cell of their own share the nearest cell", len(orphans))
    return Tessellation(cells_a, owner_a, cell_of_b, block_a, blocks, hard, area)


def _single_parts(cells: np.ndarray, owner: np.ndarray, block: np.ndarray, reps: np.ndarray):
    """Make every cell one Polygon: a building keeps the part under its point, others become empty cells."""
    cells = shapely.make_valid(cells)
    parts, idx = shapely.get_parts(cells, return_index=True)
    keep = shapely.get_type_id(parts) == 3
    parts, idx = parts[keep], idx[keep]
    counts = np.bincount(idx, minlength=len(cells))
    if (counts == 1).all():
        return parts, owner[idx], block[idx]
    own = owner[idx].copy()
    multi = counts[idx] > 1
    is_b = own >= 0
    # for multi-part building cells, the owning part holds the representative point (else the biggest)
    check = multi & is_b
    holds = np.zeros(len(parts), bool)
    holds[check] = shapely.intersects(parts[check], reps[own[check]])
    for c in np.unique(idx[check]):
        sel = np.flatnonzero(idx == c)
        if not holds[sel].any():
            holds[sel[np.argmax(shapely.area(parts[sel]))]] = True
        elif holds[sel].sum() > 1:
            first = sel[holds[sel]][0]
            holds[sel] = False
            holds[first] = True
    own[check & ~holds] = -1
    log.info("tessellation: %d cell parts cut off from their building became empty cells", int((check & ~holds).sum()))
    return parts, own, block[idx]
