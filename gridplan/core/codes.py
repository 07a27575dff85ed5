"""Unit codes (DOMAIN.md §4): parent code + a 3-digit sequence, numbered west→east, north→south.

Units are read like text: in rows from north to south (a row is as tall as a typical unit), and west to
east inside a row. A community code is the 9-digit street code + 3 digits (12); a grid adds 3 (15); a
micro-grid 3 more (18).

Examples
--------
>>> import numpy as np
>>> xy = np.array([[0, 100], [100, 100], [0, 0], [100, 0]])  # NW, NE, SW, SE
>>> sequence_codes(["320102001"] * 4, xy, np.full(4, 100.0 ** 2)).tolist()
['320102001001', '320102001002', '320102001003', '320102001004']
"""
from __future__ import annotations

import numpy as np

from ..errors import OptionError

__all__ = ["anchor_points", "reading_order", "sequence_codes", "MAX_SEQUENCE"]

MAX_SEQUENCE = 999


def anchor_points(geoms) -> np.ndarray:
    """The point each unit is ordered by (a point on its surface), one row per geometry: NaN for an empty or
    missing geometry, so rows never shift (an empty unit is numbered last in its parent).

    Examples
    --------
    >>> import shapely
    >>> anchor_points([shapely.box(0, 0, 2, 2), shapely.Polygon(), None]).tolist()
    [[1.0, 1.0], [nan, nan], [nan, nan]]
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    out = np.full((len(geoms), 2), np.nan)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if len(geoms) else np.zeros(0, bool)
    if present.any():
        out[present] = shapely.get_coordinates(shapely.point_on_surface(geoms[present]))
    return out


def reading_order(xy: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """Indices of units in reading order (rows north→south, then west→east); units with no point (NaN, an
    empty geometry) come last, in their given order."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    known = np.isfinite(xy).all(axis=1)
    if not known.all():
        return np.r_[np.flatnonzero(known)[reading_order(xy[known], np.asarray(areas, dtype=float)[known])],
                     np.flatnonzero(~known)]
    sizes = np.asarray(areas, dtype=float)
    sizes = sizes[np.isfinite(sizes) & (sizes > 0)]
    row_height = max(float(np.sqrt(np.median(sizes))) if len(sizes) else 0.0, 1e-9)
    # rows are centred on the northmost unit, so units a hair apart in y never fall in different rows
    row = np.rint((xy[:, 1].max() - xy[:, 1]) / row_height)
    return np.lexsort((xy[:, 1] * -1, xy[:, 0], row))


def sequence_codes(parent_codes, xy: np.ndarray, areas: np.ndarray, *, start: dict | None = None) -> np.ndarray:
    """Codes ``parent + NNN`` in reading order inside each parent.

    ``start`` maps a parent code to the first free sequence number (default 1). ``xy`` has one row per unit
    (:func:`anchor_points`: NaN for an empty geometry, numbered last in its parent).

    Examples
    --------
    >>> import shapely
    >>> units = [shapely.box(0, 0, 1, 1), shapely.Polygon(), shapely.box(-5, 0, -4, 1)]
    >>> sequence_codes(["320102001"] * 3, anchor_points(units), shapely.area(units)).tolist()
    ['320102001002', '320102001003', '320102001001']
    """
    parent_codes = np.asarray(parent_codes, dtype=object)
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    areas = np.asarray(areas, dtype=float)
    if not len(xy) == len(areas) == len(parent_codes):
        raise ValueError(f"sequence_codes: {len(parent_codes)} parent codes but {len(xy)} points and {len(areas)} areas; "
                         "give one point per unit (anchor_points keeps a NaN row for an empty geometry)")
    codes = np.empty(len(parent_codes), dtype=object)
    for parent in dict.fromkeys(parent_codes.tolist()):
        idx = np.flatnonzero(parent_codes == parent)
        first = (start or {}).get(parent, 1)
        if first + len(idx) - 1 > MAX_SEQUENCE:
            raise OptionError(
                f"parent {parent} would need {len(idx)} child codes from {first:03d}; at most {MAX_SEQUENCE} fit in 3 digits. "
                "Split the area (e.g. plan each street office separately with its own --street-code)"
            )
        for seq, i in enumerate(idx[reading_order(xy[idx], areas[idx])], start=first):
            codes[i] = f"{parent}{seq:03d}"
    return codes
