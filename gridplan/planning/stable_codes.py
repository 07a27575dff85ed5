"""Stable codes across re-plans (DOMAIN.md §4): kept units keep their codes, new units take the next free
sequence under their parent, and retired codes are never used again.

A :class:`CodeBook` remembers every code a district has ever used (live and retired) with its start date.
The planner marks each unit it kept with its previous code (its *origin*); every other unit is numbered
after the highest sequence its parent has ever used, in reading order (west→east, north→south).

Examples
--------
>>> import numpy as np
>>> book = CodeBook(used={"320102001001", "320102001002", "320102001003"})
>>> book.next_free("320102001")  # 001–003 are taken, even if 003 was retired
4
>>> xy = np.array([[0.0, 0.0], [100.0, 0.0], [50.0, 0.0]])
>>> assign_codes(["320102001"] * 3, xy, np.full(3, 1e4), origin=[None, "320102001002", None], book=book).tolist()
['320102001004', '320102001002', '320102001005']
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core.codes import sequence_codes

__all__ = ["CodeBook", "assign_codes", "RETIRED_COLUMNS"]

#: Columns of ``retired.csv``.
RETIRED_COLUMNS = ("level", "code", "parent_code", "name", "households", "start_date", "end_date", "replaced_by")


@dataclass
class CodeBook:
    """Every code used so far (live and retired) and the start date of each live one.

    ``used`` decides the next free sequence under a parent; ``start_dates`` gives a kept unit its
    original start date; ``retired`` is the register carried from plan to plan (rows of ``retired.csv``).
    """

    used: set[str] = field(default_factory=set)
    start_dates: dict[str, str] = field(default_factory=dict)
    retired: list[dict] = field(default_factory=list)

    @classmethod
    def from_codes(cls, codes: Iterable[str], start_dates: dict[str, str] | None = None, retired: Sequence[dict] = ()) -> CodeBook:
        """A book of the live ``codes`` plus the ``retired`` register (dicts with a ``code`` key)."""
        used = {str(c) for c in codes} | {str(r["code"]) for r in retired}
        return cls(used=used, start_dates=dict(start_dates or {}), retired=[dict(r) for r in retired])

    def next_free(self, parent: str) -> int:
        """The first sequence number under ``parent`` above every one used so far."""
        seqs = [int(c[len(parent):]) for c in self.used if len(c) == len(parent) + 3 and c.startswith(parent) and c[len(parent):].isdigit()]
        return max(seqs, default=0) + 1

    def start_of(self, code: str, default: str) -> str:
        """The start date of a kept ``code``, else ``default`` (the plan's date)."""
        return self.start_dates.get(str(code), default)


def assign_codes(parents, xy: np.ndarray, areas: np.ndarray, *, origin: Sequence | None, book: CodeBook | None) -> np.ndarray:
    """Codes for units: the ``origin`` code where a unit was kept (and still has that parent), else the next
    free sequence under its parent in reading order. The new codes are added to ``book.used``."""
    parents = np.asarray(parents, dtype=object)
    n = len(parents)
    codes = np.empty(n, dtype=object)
    keep = np.zeros(n, bool)
    for i in range(n):
        o = None if origin is None or i >= len(origin) else origin[i]
        if isinstance(o, str) and o.startswith(str(parents[i])) and len(o) == len(str(parents[i])) + 3:
            codes[i] = o
            keep[i] = True
    fresh = np.flatnonzero(~keep)
    if len(fresh):
        start = {p: book.next_free(p) for p in dict.fromkeys(parents[fresh].tolist())} if book is not None else None
        if book is not None:  # a kept code in this batch also blocks its sequence
            for p in start:
                taken = [int(c[len(p):]) for c in codes[keep] if c.startswith(p)]
                start[p] = max([start[p] - 1, *taken]) + 1
        codes[fresh] = sequence_codes(parents[fresh], np.asarray(xy)[fresh], np.asarray(areas)[fresh], start=start)
    if book is not None:
        book.used |= {str(c) for c in codes}
    return codes
