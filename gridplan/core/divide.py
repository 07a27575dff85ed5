"""Dividing a building with more households than a micro-grid may hold, by entrance and floor.

DOMAIN.md §2: micro-grids split such a building by unit (entrance) and floor, never the other way round.
Whole entrances are grouped while each group stays in range; an entrance that is itself too big is split
by floors. Without entrance or floor data nothing can be divided: the building stays one micro-grid and
the report says so.

Geometry (:func:`part_polygons`): a division by entrance slices the footprint and cuts the building's land
into strips along the same lines (:func:`part_land`); a division by floor shares the footprint. Each
entrance group's ground part holds its strip, its upper floors the footprint slice, so the parts overlap
only on the footprint and together tile the land.

Examples
--------
A 6-entrance walk-up of 180 households: three groups of two entrances.

>>> from gridplan.config import SizeRange
>>> [(p.entrances, p.households) for p in divide_building(180, units=6, levels=6, size=SizeRange(30, 100))]
[((1, 2), 60), ((3, 4), 60), ((5, 6), 60)]

A 32-storey tower of 256 households with 2 entrances: each entrance by floors.

>>> [(p.entrances, p.floors, p.households) for p in divide_building(256, units=2, levels=32, size=SizeRange(30, 100))]
[((1, 1), (1, 16), 64), ((1, 1), (17, 32), 64), ((2, 2), (1, 16), 64), ((2, 2), (17, 32), 64)]
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from ..config import SizeRange
from .partition import least_bad_count
from .tessellate import GRID_SIZE
from .units import largest_polygon

__all__ = ["BuildingPart", "PartLand", "divide_building", "entrance_slices", "part_land", "part_polygons"]


@dataclass(frozen=True)
class BuildingPart:
    """One part of a divided building: entrances ``(first, last)``, floors ``(first, last)`` or None."""

    entrances: tuple[int, int] | None
    floors: tuple[int, int] | None
    households: int


def _known(x) -> int | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return int(v) if math.isfinite(v) and v >= 1 else None


def _split_int(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights``, in whole numbers that add up exactly."""
    cum = np.cumsum([0, *weights], dtype=float)
    edges = np.rint(total * cum / cum[-1]).astype(int)
    return np.diff(edges).tolist()


def _ranges(n: int, k: int) -> list[tuple[int, int]]:
    """``n`` items (1-based) in ``k`` contiguous runs as equal as possible."""
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    out, start = [], 1
    for s in sizes:
        out.append((start, start + s - 1))
        start += s
    return out


def divide_building(households: int, *, units=None, levels=None, size: SizeRange) -> list[BuildingPart]:
    """Parts of one building, each in ``size`` where the data allow; ``[]`` when it cannot be divided.

    Households are assumed equal per entrance and per floor (the usual ledger-free assumption).
    """
    households = int(round(households))
    u, f = _known(units), _known(levels)
    if households <= size.hi or (u is None and f is None):
        return []
    u = u or 1
    per_entrance = households / u
    if per_entrance <= size.hi and u > 1:
        k0 = min(max(least_bad_count(households, size)[0], 1), u)
        # whole entrances are grouped: take the count nearest the ideal whose groups all fit
        for k in sorted(range(1, u + 1), key=lambda k: (abs(k - k0), k)):
            runs = _ranges(u, k)
            hh = _split_int(households, [b - a + 1 for a, b in runs])
            if all(size.contains(h) for h in hh):
                break
        else:
            runs = _ranges(u, k0)
            hh = _split_int(households, [b - a + 1 for a, b in runs])
        return [BuildingPart(r, None, h) for r, h in zip(runs, hh)]
    if f is None:  # an entrance too big and no floors known: entrances are the finest parts
        hh = _split_int(households, [1] * u)
        return [BuildingPart((e, e), None, h) for e, h in zip(range(1, u + 1), hh)] if u > 1 else []
    parts = []
    for e, h_e in zip(range(1, u + 1), _split_int(households, [1] * u)):
        k0 = min(least_bad_count(h_e, size)[0], f)
        for k in sorted(range(1, f + 1), key=lambda k: (abs(k - k0), k)):
            runs = _ranges(f, k)
            if all(size.contains(h) for h in _split_int(h_e, [b - a + 1 for a, b in runs])):
                break
        else:
            k = k0
        runs = _ranges(f, k)
        for r, h in zip(runs, _split_int(h_e, [b - a + 1 for a, b in runs])):
            parts.append(BuildingPart((e, e), r, h))
    return parts


def _bands(footprint: shapely.Geometry, edges: list[float], reach: float = 0.0) -> list[shapely.Polygon]:
    """Bands across the footprint's long axis (``oriented_envelope``), cut at the given shares of its
    length (``edges`` from 0 to 1), reaching ``reach`` metres beyond it on every side: the first and last
    band are open-ended, so the bands cover anything within ``reach``. Neighbouring bands share their
    cut line exactly."""
    rect = shapely.oriented_envelope(footprint)
    if rect.geom_type != "Polygon":  # a degenerate footprint (a line or a point): one band covers all
        return [shapely.buffer(rect, reach + 1.0)] * (len(edges) - 1)
    xy = np.asarray(rect.exterior.coords)[:4]
    e1, e2 = xy[1] - xy[0], xy[2] - xy[1]
    long1 = np.hypot(*e1) >= np.hypot(*e2)
    axis, across = (e1, e2) if long1 else (e2, e1)
    origin = xy[0] if long1 else xy[1]
    length, width = np.hypot(*axis), np.hypot(*across)
    unit, side = axis / length, across / max(width, 1e-12)
    far = reach + length + width + 1.0
    cuts = [origin + unit * length * t for t in edges]
    cuts[0], cuts[-1] = cuts[0] - unit * far, cuts[-1] + unit * far
    lo, hi = -side * far, side * (width + far)
    return [shapely.Polygon([a + lo, b + lo, b + hi, a + hi]) for a, b in zip(cuts, cuts[1:])]


def entrance_slices(footprint: shapely.Geometry, units: int) -> list[shapely.Geometry]:
    """The footprint cut across its long axis into ``units`` equal slices (entrance 1 first).

    Examples
    --------
    >>> [round(s.area) for s in entrance_slices(shapely.box(0, 0, 60, 12), 3)]
    [240, 240, 240]
    """
    if units <= 1:
        return [footprint]
    return [shapely.intersection(footprint, band) for band in _bands(footprint, [i / units for i in range(units + 1)])]


@dataclass(frozen=True)
class PartLand:
    """The land of a building divided by entrance groups: ``strips[g]`` tile the land (each one Polygon,
    in order along the building), ``slices[g]`` = the footprint on ``strips[g]`` (one Polygon each)."""

    strips: tuple[shapely.Polygon, ...]
    slices: tuple[shapely.Polygon, ...]


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of an overlay result (snapping to the grid can leave lines and points beside them)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > 0]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts) if parts else shapely.Polygon()


def part_land(land: shapely.Geometry, footprint: shapely.Geometry, units: int,
              groups: list[tuple[int, int]] | None = None, *, grid_size: float = GRID_SIZE) -> PartLand | None:
    """The land cut into one strip per entrance group, along the cut lines of :func:`entrance_slices`.

    ``groups`` are runs of entrances ``(first, last)``, 1-based, covering 1..``units`` in order (default:
    each entrance). The cut lines are extended across the land, so the strips tile it exactly (on the
    ``grid_size`` grid). A strip that falls apart keeps the part holding most of its footprint slice; the
    other parts join the neighbouring strip with the longest contact. None when that still leaves a strip
    that is not one Polygon, or a group with no footprint on the land: the building is then divided by
    floor only on this land.

    Examples
    --------
    >>> pl = part_land(shapely.box(-20, -20, 80, 40), shapely.box(0, 0, 60, 12), 3, [(1, 1), (2, 3)])
    >>> [round(s.area) for s in pl.strips], [round(s.area) for s in pl.slices]
    ([2400, 3600], [240, 480])
    """
    groups = groups or [(e, e) for e in range(1, units + 1)]
    land = shapely.set_precision(land, grid_size)
    if len(groups) == 1:
        sl = largest_polygon(shapely.intersection(footprint, land, grid_size=grid_size))
        return None if sl.is_empty or land.geom_type != "Polygon" else PartLand((land,), (sl,))
    x0, y0, x1, y1 = shapely.bounds(shapely.union(land, footprint))
    bands = _bands(footprint, [(a - 1) / units for a, _ in groups] + [1.0], reach=float(np.hypot(x1 - x0, y1 - y0)))
    raw, taken = [], shapely.Polygon()
    for g, band in enumerate(bands):
        s = land if g == len(bands) - 1 else _polygonal(shapely.intersection(land, band, grid_size=grid_size))
        s = _polygonal(shapely.difference(s, taken, grid_size=grid_size))
        raw.append(s)
        taken = _polygonal(shapely.union(taken, s, grid_size=grid_size))
    kept, orphans = [], []
    for g, s in enumerate(raw):
        parts = [p for p in shapely.get_parts(s) if p.geom_type == "Polygon" and p.area > 0]
        on_fp = [shapely.area(shapely.intersection(p, footprint)) for p in parts]
        if not parts or max(on_fp) <= 0:
            return None
        best = int(np.argmax(on_fp))
        kept.append(parts[best])
        orphans += [p for i, p in enumerate(parts) if i != best]
    for _ in range(len(orphans) + 1):
        left = []
        for o in orphans:
            edge = shapely.buffer(o, grid_size, quad_segs=2)
            contact = [shapely.length(shapely.intersection(shapely.boundary(k), edge)) for k in kept]
            if max(contact) > 0:
                g = int(np.argmax(contact))
                kept[g] = _polygonal(shapely.union(kept[g], o, grid_size=grid_size))
            else:
                left.append(o)
        if not left or len(left) == len(orphans):
            orphans = left
            break
        orphans = left
    if orphans or any(k.geom_type != "Polygon" for k in kept):
        return None
    slices = [largest_polygon(shapely.intersection(footprint, k, grid_size=grid_size)) for k in kept]
    if any(sl.is_empty for sl in slices):
        return None
    return PartLand(tuple(kept), tuple(slices))


def part_polygons(land: shapely.Geometry, footprint: shapely.Geometry, units: int, parts: list[BuildingPart]
                  ) -> tuple[list[shapely.Geometry], list[shapely.Geometry], list[bool], list[int]] | None:
    """What each part of one divided building brings to its unit: its polygon, its footprint slice, whether it
    stands on the ground (holds land beyond the footprint) and its entrance group (0-based).

    ``land`` is the building's cell. With entrance groups the land is cut into strips
    (:func:`~gridplan.core.divide.part_land`): each group's lowest part (floor 1, or the whole group) holds its
    strip, every upper floor part the group's footprint slice. Where the strips cannot be drawn, or the
    building is divided by floor only, the first part holds all the land and every other part its slice. So
    the parts overlap only on the footprint and together tile the land. None when the footprint does not lie
    on the land (nothing to draw the upper parts on).

    Examples
    --------
    A tower of 2 entrances × 2 floor runs on its land: entrance 1's ground part holds the west strip,
    its upper part the footprint's west half; the same for entrance 2.

    >>> parts = divide_building(256, units=2, levels=32, size=SizeRange(30, 100))
    >>> polys, slices, ground, group = part_polygons(shapely.box(0, 0, 100, 40), shapely.box(20, 10, 80, 30), 2, parts)
    >>> [round(p.area) for p in polys], ground, group
    ([2000, 600, 2000, 600], [True, False, True, False], [0, 0, 1, 1])
    """
    groups = list(dict.fromkeys(p.entrances or (1, units) for p in parts))
    on_land = largest_polygon(shapely.intersection(footprint, land, grid_size=GRID_SIZE))
    if on_land.is_empty:
        return None
    pl = part_land(land, footprint, units, groups) if len(groups) > 1 else None
    if pl is not None:
        strips, slices = list(pl.strips), list(pl.slices)
    elif len(groups) == 1:
        strips, slices = [land], [on_land]
    else:
        cut = entrance_slices(footprint, units)
        slices = [largest_polygon(shapely.intersection(shapely.union_all(cut[a - 1 : b]), land, grid_size=GRID_SIZE)) for a, b in groups]
        slices = [sl if not sl.is_empty else on_land for sl in slices]
        strips = [land] + [None] * (len(groups) - 1)
    polys, part_slices, ground_of, group_of, grounded = [], [], [], [], set()
    for p in parts:
        g = groups.index(p.entrances or (1, units))
        ground = strips[g] is not None and g not in grounded
        grounded.add(g)
        polys.append(strips[g] if ground else slices[g])
        part_slices.append(slices[g])
        ground_of.append(ground)
        group_of.append(g)
    return polys, part_slices, ground_of, group_of
