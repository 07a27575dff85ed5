"""Unit polygons: cells dissolved into units, with no slivers, children closed up to tile their parent.

A union of cells in floating point leaves hair-thin holes where cells of two blocks nearly meet (0.002 m²
is typical). No unit owns that land, so :func:`drop_slivers` fills holes under :data:`MIN_HOLE_AREA`
(never one another unit lies in), and :func:`close_gaps` hands each such gap between the children of one
parent to the child with the longest contact, so the children still tile it. Larger land of a parent that no
child covers (the strip :func:`~gridplan.planning.assemble.assemble` lays across a hard corridor to keep a
community one polygon) is shared by :func:`close_gaps` (``share``) among the children it touches, each point to the
nearest. Children kept exactly as they were (``frozen``, a re-plan's kept units) never change: the others are
cut back by them (:func:`without_fixed`) and take every gap.

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

__all__ = ["dissolve", "single_polygon", "largest_polygon", "drop_slivers", "close_gaps", "without_fixed", "MIN_HOLE_AREA"]

log = logging.getLogger(__name__)

#: Interior rings and gaps smaller than this (m²) are floating-point artefacts, never planned land.
MIN_HOLE_AREA = 1.0


def single_polygon(geom: shapely.Geometry) -> shapely.Geometry:
    """The geometry as one valid Polygon: slivers from floating-point noise are dropped.

    A union of edge-adjacent cells is one polygon in exact arithmetic; in floating point it can leave
    hair-thin gaps or specks. Parts under :data:`MIN_HOLE_AREA` beside a bigger one are dropped; if real
    parts remain separate they are kept as a MultiPolygon (the caller reports it).

    >>> single_polygon(shapely.MultiPolygon([shapely.box(0, 0, 10, 10), shapely.box(20, 0, 20.1, 0.1)])).area
    100.0
    """
    geom = shapely.make_valid(geom)
    if geom.geom_type == "Polygon":
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > 0]
    if len(parts) > 1:  # specks beside a real part are floating-point artefacts, never planned land
        parts = [p for p in parts if p.area >= MIN_HOLE_AREA] or [max(parts, key=lambda p: p.area)]
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
    """Union of the cells of each label 0..count-1, without slivers (:func:`drop_slivers`)."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(count + 1))
    out = np.empty(count, dtype=object)
    for k in range(count):
        members = cells[order[bounds[k] : bounds[k + 1]]]
        if not len(members):
            out[k] = shapely.Polygon()
            continue
        out[k] = _union(members)
    return drop_slivers(out)


def largest_polygon(geom: shapely.Geometry) -> shapely.Geometry:
    """The largest Polygon of ``geom`` (an empty Polygon if it has none).

    >>> largest_polygon(shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(5, 0, 8, 1)])).bounds
    (5.0, 0.0, 8.0, 1.0)
    """
    parts = [p for p in shapely.get_parts(shapely.make_valid(geom)) if p.geom_type == "Polygon" and p.area > 0]
    return max(parts, key=lambda p: p.area) if parts else shapely.Polygon()


def _fill(geom: shapely.Geometry, keep) -> shapely.Geometry:
    """``geom`` with the interior rings ``keep(ring)`` refuses removed (per Polygon part)."""
    out = []
    for part in shapely.get_parts(geom):
        if part.geom_type != "Polygon":
            out.append(part)
            continue
        holes = [r for r in part.interiors if keep(r)]
        out.append(shapely.Polygon(part.exterior, holes) if len(holes) != len(part.interiors) else part)
    if len(out) == 1:
        return out[0]
    return shapely.MultiPolygon(out) if out else geom


def _ring_counts(geoms: np.ndarray) -> np.ndarray:
    """Interior rings of each geometry, over all its Polygon parts (shapely counts none for a MultiPolygon)."""
    parts, idx = shapely.get_parts(geoms, return_index=True)
    return np.bincount(idx, weights=shapely.get_num_interior_rings(parts), minlength=len(geoms)).astype(np.int64)


def drop_slivers(geoms: np.ndarray, *, min_area: float = MIN_HOLE_AREA) -> np.ndarray:
    """Each unit without its interior rings under ``min_area`` m², unless another unit lies in the ring.

    ``geoms`` are the sibling units of one layer; a ring that holds (part of) a sibling is real and kept,
    so filling never makes two units overlap.

    Examples
    --------
    >>> speck = shapely.box(5, 5, 5.5, 5.5)          # 0.25 m², empty
    >>> island = shapely.box(2, 2, 2.8, 2.8)          # 0.64 m², another unit
    >>> ring = shapely.Polygon(shapely.box(0, 0, 10, 10).exterior.coords, [speck.exterior.coords, island.exterior.coords])
    >>> out = drop_slivers(np.array([ring, island], dtype=object))
    >>> len(out[0].interiors), round(out[0].area, 2), out[1].area
    (1, 99.36, 0.64...)
    >>> multi = shapely.MultiPolygon([ring, shapely.box(20, 0, 30, 10)])  # rings of every part
    >>> len(drop_slivers(np.array([multi, island], dtype=object))[0].geoms[0].interiors)
    1
    """
    geoms = np.asarray(geoms, dtype=object)
    out = geoms.copy()
    todo = np.flatnonzero(_ring_counts(geoms) > 0)
    if not len(todo):
        return out
    tree = shapely.STRtree(geoms)
    for k in todo:
        def keep(ring, k=k):
            hole = shapely.Polygon(ring)
            if hole.area >= min_area:
                return True
            near = tree.query(hole, predicate="intersects")
            near = near[near != k]
            return bool(len(near)) and bool((shapely.area(shapely.intersection(geoms[near], hole)) > 1e-9).any())
        out[k] = _fill(geoms[k], keep)
    n = int(_ring_counts(geoms[todo]).sum() - _ring_counts(out[todo]).sum())
    if n:
        log.debug("filled %d interior rings under %g m2", n, min_area)
    return out


def _siblings(parent_of: np.ndarray, n_parents: int) -> list[np.ndarray]:
    """The children of each parent 0..n_parents-1 (indices into ``parent_of``)."""
    order = np.argsort(parent_of, kind="stable")
    bounds = np.searchsorted(parent_of[order], np.arange(n_parents + 1))
    return [order[bounds[p] : bounds[p + 1]] for p in range(n_parents)]


def _frozen(frozen: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n, bool) if frozen is None else np.asarray(frozen, dtype=bool)


def _contact(geoms: np.ndarray, piece: shapely.Geometry) -> np.ndarray:
    """Length of each geometry's boundary along ``piece`` (on the :data:`GRID_SIZE` grid)."""
    return shapely.length(shapely.intersection(shapely.boundary(geoms), shapely.buffer(piece, GRID_SIZE, quad_segs=2)))


def _close_once(out: np.ndarray, kids: np.ndarray, parent: shapely.Geometry, min_area: float, frozen: np.ndarray, share_width: float) -> int:
    """Give each gap under ``min_area`` of ``parent`` − ∪ ``out[kids]`` to the kid not ``frozen`` with the
    longest contact, and each larger one no wider than ``share_width`` to the kids it touches, each point to
    the nearest (``out`` is changed in place); the number of gaps given."""
    gap = shapely.difference(parent, shapely.union_all(out[kids], grid_size=GRID_SIZE), grid_size=GRID_SIZE)
    open_kids = kids[~frozen[kids]]
    given = 0
    for piece in shapely.get_parts(gap):
        small = 0 < piece.area < min_area
        strip = share_width > 0 and piece.area > 0 and shapely.is_empty(shapely.buffer(piece, -share_width / 2, quad_segs=2))
        if not len(open_kids) or piece.geom_type != "Polygon" or not (small or strip):
            continue
        near = open_kids[shapely.intersects(out[open_kids], shapely.buffer(piece, GRID_SIZE, quad_segs=2))]
        contact = _contact(out[near], piece)
        if not len(near) or contact.max() <= 0:
            continue
        if small or (contact > 0).sum() == 1:
            touch, regions = [near[int(np.argmax(contact))]], [piece]
        else:
            touch = near[contact > 0]
            regions = _nearest_split(piece, out[touch])
        for k, region in zip(touch, regions):
            if not region.is_empty:
                out[k] = single_polygon(shapely.union(out[k], region, grid_size=GRID_SIZE))
        given += 1
    return given


def without_fixed(children: np.ndarray, parent_of: np.ndarray, frozen: np.ndarray) -> np.ndarray:
    """Every child not ``frozen`` minus the ``frozen`` children of its parent, without new slivers.

    >>> kids = np.array([shapely.box(0, 0, 6, 1), shapely.box(5, 0, 10, 1)], dtype=object)
    >>> [g.bounds for g in without_fixed(kids, np.array([0, 0]), np.array([False, True]))]
    [(0.0, 0.0, 5.0, 1.0), (5.0, 0.0, 10.0, 1.0)]
    """
    out = np.asarray(children, dtype=object).copy()
    frozen = _frozen(frozen, len(out))
    parent_of = np.asarray(parent_of, dtype=np.int64)
    if not frozen.any() or frozen.all():
        return out
    for kids in _siblings(parent_of, int(parent_of.max()) + 1):
        fixed, free = kids[frozen[kids]], kids[~frozen[kids]]
        if not len(fixed) or not len(free):
            continue
        wall = shapely.union_all(out[fixed], grid_size=GRID_SIZE)
        hit = free[shapely.intersects(out[free], wall)]
        for k in hit:
            out[k] = single_polygon(shapely.difference(out[k], wall, grid_size=GRID_SIZE))
    out[~frozen] = drop_slivers(out)[~frozen]
    return out


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The Polygon parts of an overlay result (snap rounding can leave lines and points beside them)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > 0]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts) if parts else shapely.Polygon()


def _nearest_split(piece: shapely.Geometry, kids: np.ndarray) -> list[shapely.Geometry]:
    """``piece`` cut into one region per kid: the points nearer its boundary along the piece than any other's."""
    pts, owner = [], []
    for k, g in enumerate(kids):
        along = shapely.intersection(shapely.boundary(g), shapely.buffer(piece, GRID_SIZE, quad_segs=2))
        xy = shapely.get_coordinates(shapely.segmentize(along, 0.25)) if not along.is_empty else np.empty((0, 2))
        pts.append(xy)
        owner.append(np.full(len(xy), k))
    xy, owner = np.concatenate(pts), np.concatenate(owner)
    _, first = np.unique(np.round(xy / GRID_SIZE), axis=0, return_index=True)
    xy, owner = xy[np.sort(first)], owner[np.sort(first)]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=piece, ordered=True))
    out = []
    for k in range(len(kids)):
        mine = cells[owner == k]
        # the Voronoi cells tile the plane without overlap: a coverage union of each owner's is exact and fast
        if not len(mine):
            out.append(shapely.Polygon())
            continue
        try:
            whole = _polygonal(shapely.coverage_union_all(mine))
        except shapely.errors.GEOSException:  # cells of nearly collinear points are not always an exact coverage
            whole = shapely.union_all(mine)
        out.append(_polygonal(shapely.intersection(piece, whole, grid_size=GRID_SIZE)))
    return out


def close_gaps(children: np.ndarray, parent_of: np.ndarray | None = None, parents: np.ndarray | None = None, *,
               min_area: float = MIN_HOLE_AREA, frozen: np.ndarray | None = None, share_width: float = 0.0) -> np.ndarray:
    """The children with every gap under ``min_area`` m² inside their parent given to one of them.

    A gap is a piece of ``parents[p]`` that none of its children covers (``parent_of[i]`` is child
    ``i``'s parent). Each goes to the child of that parent with the longest contact, on the
    :data:`GRID_SIZE` grid, so the children tile the parent and never overlap; ``frozen`` children never
    take one. Larger gaps are left as they are (real land no child holds, a river inside a given community),
    except strips no wider than ``share_width`` m: those are shared among the children they touch, each
    point to the nearest, so a strip laid across a river between two grids is cut near its middle, each
    grid stays one polygon on its own bank and the grids tile the parent.
    With ``parents`` None the children share one parent: their union with its small holes filled (the gaps
    between top-level units).

    Examples
    --------
    >>> kids = np.array([shapely.box(0, 0, 5, 10), shapely.box(5.01, 0, 10, 10)], dtype=object)
    >>> out = close_gaps(kids, np.array([0, 0]), np.array([shapely.box(0, 0, 10, 10)], dtype=object))
    >>> [round(g.area, 2) for g in out], out[0].union(out[1]).area
    ([50.1, 49.9], 100.0)
    >>> out = close_gaps(kids, np.array([0, 0]), np.array([shapely.box(0, 0, 10, 10)], dtype=object), frozen=np.array([True, False]))
    >>> [round(g.area, 2) for g in out]
    [50.0, 50.0]
    >>> kids = np.array([shapely.box(0, 0, 10, 10), shapely.box(14, 0, 24, 10)], dtype=object)
    >>> strip = shapely.box(10, 4, 14, 6)                       # joins the two across a gap of 4 m
    >>> out = close_gaps(kids, np.array([0, 0]), np.array([shapely.union_all([*kids, strip])], dtype=object), share_width=3)
    >>> [round(g.area, 3) for g in out], [g.geom_type for g in out]
    ([104.0, 104.0], ['Polygon', 'Polygon'])
    >>> pond = shapely.box(10, 0, 14, 10)                      # 4 m wide: real land, not a strip
    >>> [round(g.area, 3) for g in close_gaps(kids, np.array([0, 0]), np.array([shapely.union_all([*kids, pond])], dtype=object), share_width=3)]
    [100.0, 100.0]
    """
    children = np.asarray(children, dtype=object)
    out = children.copy()
    frozen = _frozen(frozen, len(out))
    if parents is None:
        whole = shapely.union_all(out, grid_size=GRID_SIZE) if len(out) else shapely.Polygon()
        parents, parent_of = drop_slivers(np.array([whole], dtype=object), min_area=min_area), np.zeros(len(out), dtype=np.int64)
    parent_of = np.asarray(parent_of, dtype=np.int64)
    given = 0
    for p, kids in enumerate(_siblings(parent_of, len(parents))):
        kids = kids[~shapely.is_empty(out[kids])]
        if not len(kids) or shapely.is_empty(parents[p]):
            continue
        given += _close_once(out, kids, parents[p], min_area, frozen, share_width)
    if given:
        log.debug("closed %d gaps under %g m2 between children", given, min_area)
    return out
