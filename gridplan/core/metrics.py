"""Figures of a plan's units: balance, range, compactness (the numbers the report and benchmarks print).

Examples
--------
>>> import numpy as np
>>> f = level_figures(np.array([300.0, 400, 500, 600]), ["a", "a", "b", "b"], SizeRange(300, 500))
>>> f["count"], f["share_in_range"], f["hh_max"]
(4, 0.75, 600.0)
>>> round(f["cv_within_parent_max"], 3)
0.143
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import shapely

from ..config import SizeRange

__all__ = ["polsby_popper", "cv_within_parent", "level_figures"]


def polsby_popper(geoms) -> np.ndarray:
    """4πA / P² per polygon: 1 for a circle, about 0.785 for a square, near 0 for a sliver.

    >>> polsby_popper([shapely.box(0, 0, 1, 1)]).round(3).tolist()
    [0.785]
    """
    g = np.asarray(geoms, dtype=object)
    return 4 * np.pi * shapely.area(g) / np.maximum(shapely.length(g) ** 2, 1e-12)


def cv_within_parent(households, parents) -> pd.Series:
    """Coefficient of variation (population std / mean) of households among the children of each parent."""
    s = pd.Series(np.asarray(households, dtype=float))
    grouped = s.groupby(np.asarray(parents, dtype=object))
    mean = grouped.mean()
    return (grouped.std(ddof=0) / mean.where(mean > 0)).fillna(0.0)


def level_figures(households, parents, size: SizeRange, geoms=None, *, bounds: Mapping[object, float] | None = None) -> dict:
    """Count, min/max/mean households, share in range, CV within parent, mean Polsby–Popper.

    ``bounds`` maps a parent to the lowest CV its children's atoms allow (``Partition.cv_bound``, a
    lower bound: contiguity is ignored); with it come ``cv_bound_median``, ``cv_gap_median`` (achieved
    minus bound, per parent) and ``share_parents_cv_le_0_10_possible``.

    >>> f = level_figures([300.0, 500, 400, 400], ["a", "a", "b", "b"], SizeRange(300, 500), bounds={"a": 0.05, "b": 0.0})
    >>> f["cv_within_parent_median"], f["cv_bound_median"], f["cv_gap_median"], f["share_parents_cv_le_0_10_possible"]
    (0.125, 0.025, 0.1, 1.0)
    """
    hh = np.asarray(households, dtype=float)
    out: dict[str, object] = {"count": int(len(hh)), "range": str(size)}
    if not len(hh):
        return out
    inr = (hh >= size.lo) & (hh <= size.hi)
    cv = cv_within_parent(hh, parents)
    out.update(
        hh_min=float(hh.min()),
        hh_max=float(hh.max()),
        hh_mean=round(float(hh.mean()), 1),
        share_in_range=round(float(inr.mean()), 4),
        below_range=int((hh < size.lo).sum()),
        above_range=int((hh > size.hi).sum()),
        cv_within_parent_median=round(float(cv.median()), 4),
        cv_within_parent_max=round(float(cv.max()), 4),
        share_parents_cv_le_0_10=round(float((cv <= 0.10).mean()), 4),
    )
    if bounds is not None:
        bound = pd.Series({p: float(bounds[p]) for p in cv.index if p in bounds}, dtype=float)
        if len(bound):
            out.update(
                cv_bound_median=round(float(bound.median()), 4),
                cv_gap_median=round(float((cv[bound.index] - bound).median()), 4),
                share_parents_cv_le_0_10_possible=round(float((bound <= 0.10 + 1e-9).mean()), 4),
            )
    if geoms is not None:
        out["polsby_popper_mean"] = round(float(polsby_popper(geoms).mean()), 4)
    return out
