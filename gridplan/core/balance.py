"""Balance inside one parent: how many units each piece gets, and the most even plan the atoms allow.

A parent (a community, when grids are planned) falls apart into *pieces* along strong roads; units never
straddle two pieces, so how even the parent's units can be depends first on the count each piece gets.
:func:`choose_counts` picks those counts jointly, so that the pieces' mean unit sizes are as close to each
other as their ranges allow. :func:`cv_bound` says how even the units could be at best: each piece is
water-filled over its count (an atom heavier than the piece's mean holds a unit alone, the others share
evenly), which ignores contiguity and so is a lower bound.

Examples
--------
Two pieces of 1,000 and 700 households, 300:500 per grid. Chosen alone, 1,000 takes 2 (or 3) grids and 700
takes 2 (350 each); chosen together, 1,000 takes 3 (333 each) to sit beside the 350s::

>>> from gridplan.config import SizeRange
>>> choose_counts([1000, 700], SizeRange(300, 500))
[3, 2]
>>> round(cv_bound([1000, 700], [3, 2], [[250] * 4, [350, 350]]), 3)
0.024
>>> cv_bound([900], [2], [[500, 200, 200]])  # the 500 holds a grid alone: 500 and 400
0.1111111111111111
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from ..config import SizeRange, counts_in_range
from .unitgraph import least_bad_count

__all__ = ["choose_counts", "cv_bound", "water_fill"]

#: Most count combinations :func:`choose_counts` enumerates; beyond, each piece takes its own best count.
MAX_COMBINATIONS = 10_000


def _cv(sizes: Sequence[float], weights: Sequence[int] | None = None) -> float:
    x = np.asarray(sizes, dtype=float)
    wt = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    total = wt.sum()
    if total <= 0:
        return 0.0
    mean = float((x * wt).sum() / total)
    if mean <= 0:
        return 0.0
    return math.sqrt(float((wt * (x - mean) ** 2).sum() / total)) / mean


def choose_counts(piece_totals: Sequence[float], size: SizeRange, *, max_combinations: int = MAX_COMBINATIONS) -> list[int]:
    """The unit count of every piece of one parent, chosen together for the most even units.

    Every piece keeps a count that fits it in range (its least-bad count when none does), one of the two
    counts next to households / target, so the number of units stays what the target asks. Among those,
    the combination whose even splits give the lowest coefficient of variation wins (to three decimals),
    then the one nearest households / target in every piece.
    """
    totals = [float(t) for t in piece_totals]
    alone = [least_bad_count(t, size)[0] for t in totals]
    options = []
    for t, k in zip(totals, alone):
        near = {math.floor(t / size.target), math.ceil(t / size.target), k}
        ok = [c for c in counts_in_range(t, size) if c in near]
        options.append(ok if ok else [k])
    if len(totals) <= 1 or math.prod(len(o) for o in options) > max_combinations:
        return alone
    best = None
    for ks in itertools.product(*options):
        means = [t / k for t, k in zip(totals, ks)]
        key = (round(_cv(means, ks), 3), sum(abs(k - t / size.target) for t, k in zip(totals, ks)), ks)
        if best is None or key < best:
            best = key
    return list(best[2])


def water_fill(total: float, count: int, atoms: Sequence[float]) -> list[float]:
    """The most even unit sizes for ``total`` in ``count`` units, when no atom may be divided.

    >>> water_fill(900, 2, [500, 200, 200])
    [500.0, 400.0]
    """
    rest = sorted((float(a) for a in atoms), reverse=True)
    units: list[float] = []
    remaining, k = float(total), int(max(count, 1))
    while k > 1 and rest and rest[0] > remaining / k:
        a = rest.pop(0)
        units.append(a)
        remaining -= a
        k -= 1
    return units + [remaining / k] * k


def cv_bound(piece_totals: Sequence[float], counts: Sequence[int], atoms_per_piece: Sequence[Sequence[float]]) -> float:
    """The lowest CV of unit households that the pieces, their counts and their atoms allow (contiguity ignored)."""
    sizes: list[float] = []
    for total, k, atoms in zip(piece_totals, counts, atoms_per_piece):
        sizes += water_fill(total, k, atoms)
    return _cv(sizes) if sizes else 0.0
