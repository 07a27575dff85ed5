"""Dividing a building with more households than a micro-grid may hold, by entrance and floor.

DOMAIN.md §2: micro-grids split such a building by unit (entrance) and floor, never the other way round.
Whole entrances are grouped while each group stays in range; an entrance that is itself too big is split
by floors. Without entrance or floor data nothing can be divided: the building stays one micro-grid and
the report says so.

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

__all__ = ["BuildingPart", "divide_building", "entrance_slices"]


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


def entrance_slices(footprint: shapely.Geometry, units: int) -> list[shapely.Geometry]:
    """The footprint cut across its long axis into ``units`` equal slices (entrance 1 first).

    Examples
    --------
    >>> [round(s.area) for s in entrance_slices(shapely.box(0, 0, 60, 12), 3)]
    [240, 240, 240]
    """
    if units <= 1:
        return [footprint]
    rect = shapely.oriented_envelope(footprint)
    xy = np.asarray(rect.exterior.coords)[:4]
    e1, e2 = xy[1] - xy[0], xy[2] - xy[1]
    axis, across = (e1, e2) if np.hypot(*e1) >= np.hypot(*e2) else (e2, e1)
    origin = xy[0] if np.hypot(*e1) >= np.hypot(*e2) else xy[1]
    length = np.hypot(*axis)
    unit = axis / length
    pad = across * 2
    out = []
    for i in range(units):
        a = origin + unit * length * i / units - pad - unit * (length if i == 0 else 0)
        b = origin + unit * length * (i + 1) / units - pad + unit * (length if i == units - 1 else 0)
        strip = shapely.Polygon([a, b, b + 2 * pad + across, a + 2 * pad + across])
        out.append(shapely.intersection(footprint, strip))
    return out
