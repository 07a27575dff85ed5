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

__all__ = ["reading_order", "sequence_codes", "MAX_SEQUENCE"]

MAX_SEQUENCE = 999


def reading_order(xy: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """Indices of units in reading order (rows north→south, then west→east)."""
    xy = np.asarray(xy, dtype=float)
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    row_height = max(float(np.sqrt(np.median(np.asarray(areas, dtype=float)))), 1e-9)
    # rows are centred on the northmost unit, so units a hair apart in y never fall in different rows
    row = np.rint((xy[:, 1].max() - xy[:, 1]) / row_height)
    return np.lexsort((xy[:, 1] * -1, xy[:, 0], row))


def sequence_codes(parent_codes, xy: np.ndarray, areas: np.ndarray, *, start: dict | None = None) -> np.ndarray:
    """Codes ``parent + NNN`` in reading order inside each parent.

    ``start`` maps a parent code to the first free sequence number (default 1).
    """
    parent_codes = np.asarray(parent_codes, dtype=object)
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
