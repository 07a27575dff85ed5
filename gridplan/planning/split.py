"""Re-splitting given communities: the step of :func:`gridplan.planning.redistrict.redistrict` (and of
``gridplan.plan(..., redistrict=...)``) between the planner's communities and its grids.

:func:`split_communities` hands each community to split its count of new communities
(:func:`allocate_counts`) and cuts its cells into exactly that many; :func:`retire_split` records the
retired codes in the finished plan. The whole procedure is described in :mod:`gridplan.planning.redistrict`.
"""
from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd
import shapely

from ..config import SizeRange, counts_in_range
from ..core.codes import sequence_codes
from ..core.partition import UnitGraph, least_bad_count, partition
from ..errors import InfeasibleError, OptionError
from ..model import Plan
from .planner import Level, Planner, components, rng_for
from .stable_codes import CodeBook

__all__ = ["allocate_counts", "bridged_subgraph", "split_communities", "retire_split"]

log = logging.getLogger(__name__)

_NUMERALS = "一二三四五六七八九十"
#: Cut cost of a bridge joining two pieces of one old community across a hard barrier (cheap: a good boundary).
_BRIDGE_COST = 0.05


def allocate_counts(households: dict[str, float], size: SizeRange, *, kept: int, total: int | None) -> dict[str, int]:
    """How many new communities each community to split gets.

    Without ``total``, each gets the count closest to households / target. With ``total``, the counts add
    up to ``total - kept``: each starts at its fewest feasible and the next one always goes to the
    community whose new units would be largest. Raises :class:`InfeasibleError` listing the feasible totals.

    Examples
    --------
    >>> allocate_counts({"a": 4400, "b": 3200}, SizeRange(1000, 3000, 2000), kept=10, total=15)
    {'a': 3, 'b': 2}
    >>> allocate_counts({"a": 4400}, SizeRange(1000, 3000, 2000), kept=0, total=9)
    Traceback (most recent call last):
    ...
    gridplan.errors.InfeasibleError: `count` was 9: with communities of 1000:3000 households the feasible totals are 2–4 (0 kept + a: 2–4); ask for one of those, change --community-size, or use --all to re-split every community
    """
    span = {}
    for key, h in households.items():
        ok = counts_in_range(h, size)
        span[key] = (ok.start, ok.stop - 1) if len(ok) else (least_bad_count(h, size)[0],) * 2
    if total is None:
        return {k: least_bad_count(h, size)[0] for k, h in households.items()}
    lo = kept + sum(a for a, _ in span.values())
    hi = kept + sum(b for _, b in span.values())
    if not lo <= total <= hi:
        parts = ", ".join(f"{k}: {a}–{b}" if a != b else f"{k}: {a}" for k, (a, b) in list(span.items())[:10])
        more = f" and {len(span) - 10} more" if len(span) > 10 else ""
        raise InfeasibleError(
            f"`count` was {total}: with communities of {size} households the feasible totals are {lo}–{hi} "
            f"({kept} kept + {parts}{more}); ask for one of those, change --community-size, or use --all to re-split every community"
        )
    counts = {k: a for k, (a, _) in span.items()}
    for _ in range(total - lo):
        grow = [k for k in counts if counts[k] < span[k][1]]
        k = max(grow, key=lambda k: (households[k] / counts[k], k))
        counts[k] += 1
    return counts


def bridged_subgraph(pl: Planner, cells: np.ndarray) -> UnitGraph:
    """The cells' subgraph with cheap bridge edges joining pieces that hard barriers cut apart."""
    sub, _ = pl.g.subgraph(cells)
    local = np.full(pl.g.n, -1, dtype=np.int64)
    local[cells] = np.arange(len(cells))
    comps = components(pl.g, cells)
    extra = []
    while len(comps) > 1:
        comps.sort(key=lambda c: -float(pl.g.households[c].sum()))
        main, rest = comps[0], np.concatenate(comps[1:])
        tree = shapely.STRtree(pl.land[main])
        near, dist = tree.query_nearest(pl.land[rest], return_distance=True, all_matches=False)
        j = int(np.argmin(dist))
        a, b = int(rest[near[0][j]]), int(main[near[1][j]])
        extra.append((local[a], local[b]))
        joined = next(i for i, c in enumerate(comps) if a in set(c.tolist()))
        comps = [np.concatenate([main, comps[joined]])] + [c for i, c in enumerate(comps[1:], 1) if i != joined]
    if not extra:
        return sub
    e = np.vstack([sub.edges, np.asarray(extra, dtype=np.int64)])
    return UnitGraph(sub.households, e, np.r_[sub.cost, np.full(len(extra), _BRIDGE_COST)], np.r_[sub.tier, np.full(len(extra), 3)], sub.group, sub.building)


def _new_name(old: str, k: int, n: int) -> str:
    if n == 1:
        return old
    stem = old[:-2] if old.endswith("社区") else old
    return f"{stem}{_NUMERALS[k] if k < len(_NUMERALS) else k + 1}社区" if old else ""


def _old_codes(pl: Planner) -> tuple[np.ndarray, np.ndarray]:
    """Codes and names of the given communities (codes made up in reading order when absent)."""
    given, cfg = pl.prep.communities, pl.cfg
    polys = np.asarray(given.geometry.values, dtype=object)
    if "code" in given.columns and given["code"].notna().all():
        codes = given["code"].astype(str).to_numpy()
    else:
        xy = shapely.get_coordinates(shapely.point_on_surface(polys))
        codes = sequence_codes([cfg.street_code] * len(given), xy, shapely.area(polys))
    names = given["name"].fillna("").astype(str).to_numpy() if "name" in given.columns else np.full(len(given), "", dtype=object)
    return np.asarray(codes, dtype=object), names


def split_communities(pl: Planner, old: Level, *, mode: Literal["oversized", "all"], count: int | None, start_date: str) -> tuple[Level, CodeBook]:
    """Re-split the given communities held by ``old`` (labels over cells); see the module docstring."""
    if count is not None and (not isinstance(count, (int, np.integer)) or count < 1):
        raise OptionError(f"`count` was {count!r}; expected a whole number of communities ≥ 1, e.g. 35")
    size, given = pl.cfg.community, pl.prep.communities
    codes_all, names_all = _old_codes(pl)
    src = pl.community_source
    n_old = len(src)
    hh = np.bincount(old.labels[old.labels >= 0], weights=pl.g.households[old.labels >= 0], minlength=n_old)
    split = [c for c in range(n_old) if mode == "all" or hh[c] > size.hi]
    kept = [c for c in range(n_old) if c not in split]
    counts = allocate_counts({str(codes_all[src[c]]): float(hh[c]) for c in split}, size, kept=len(kept), total=count)

    labels = np.full(pl.g.n, -1, dtype=np.int64)
    origin, parents, names, formed_from, issues = [], [], [], [], []
    for c in kept:
        labels[old.labels == c] = len(origin)
        origin.append(str(codes_all[src[c]]))
        parents.append(str(codes_all[src[c]])[:9])
        names.append(str(names_all[src[c]]))
        formed_from.append(c)
    for c in split:
        code = str(codes_all[src[c]])
        cells = np.flatnonzero(old.labels == c)
        k = counts[code]
        sub = bridged_subgraph(pl, cells)
        ok = counts_in_range(hh[c], size)
        rng_size = SizeRange(size.lo, size.hi, hh[c] / k) if k in ok else size
        for attempt in range(4):  # the bisection may settle for one unit fewer; other trees usually manage
            result = partition(sub, rng_size, rng=rng_for(pl.cfg.seed, 0, c, attempt), strong_tier=None)
            if result.count == k:
                break
        if result.count != k:
            issues.append({"parent": 0, "cells": cells, "households": float(hh[c]), "reason": f"community {code}: asked for {k} new communities, the cuts found allow {result.count}", "resolution": f"split into {result.count}"})
        for i in result.issues:
            issues.append({"parent": 0, "cells": cells[list(i.nodes)], "households": i.households, "reason": i.reason, "resolution": i.resolution})
        base = len(origin)
        labels[cells] = result.labels + base
        for j in range(result.count):
            origin.append(None)
            parents.append(code[:9])
            names.append(_new_name(str(names_all[src[c]]), j, result.count))
            formed_from.append(c)
    starts = {}
    if "start_date" in given.columns:
        starts = {str(k): str(v) for k, v in zip(codes_all, given["start_date"]) if isinstance(v, str) and v}
    book = CodeBook.from_codes(codes_all, starts)
    pl.extra_report = {"redistricting": {
        "mode": mode, "count_asked": count, "old_communities": int(n_old), "kept": [str(codes_all[src[c]]) for c in kept],
        "split": {str(codes_all[src[c]]): {"households": int(hh[c]), "into": counts[str(codes_all[src[c]])]} for c in split},
        "undersized_kept": [str(codes_all[src[c]]) for c in kept if hh[c] < size.lo],
    }}
    pl.formed_from = [str(codes_all[src[c]]) for c in formed_from]
    log.info("re-districting: %d old communities, %d kept, %d split into %d", n_old, len(kept), len(split), len(origin) - len(kept))
    return Level(labels, np.zeros(len(origin), dtype=np.int64), issues, origin=origin, parent_codes=parents, names=names), book


def retire_split(plan: Plan, pl: Planner, end_date: str) -> None:
    """Record in ``plan.report`` the retired codes of the split communities and what replaced them."""
    info = pl.extra_report["redistricting"]
    given = pl.prep.communities
    codes_all, names_all = _old_codes(pl)
    name_of = dict(zip(codes_all.tolist(), names_all.tolist()))
    new_codes = plan.communities["code"].astype(str).tolist()
    hh_of = {c: d["households"] for c, d in info["split"].items()}
    start_of = {}
    if "start_date" in given.columns:
        start_of = dict(zip(codes_all.tolist(), given["start_date"].astype(str).tolist()))
    retired = []
    names = plan.communities["name"].astype(object).to_numpy().copy() if "name" in plan.communities.columns else None
    for code in info["split"]:
        repl = sorted(n for n, f in zip(new_codes, pl.formed_from) if f == code and n != code)
        if names is not None:  # provisional names follow the codes' reading order: 一, 二, ...
            for j, n in enumerate(repl):
                names[new_codes.index(n)] = _new_name(name_of.get(code, ""), j, len(repl))
        retired.append({"level": "community", "code": code, "parent_code": code[:9], "name": name_of.get(code, ""), "households": hh_of[code],
                        "start_date": start_of.get(code, ""), "end_date": end_date, "replaced_by": " ".join(repl)})
    if names is not None:
        plan.communities["name"] = pd.array(names, dtype="string")
    plan.report["retired"] = retired
    info["new"] = {f: [n for n, g in zip(new_codes, pl.formed_from) if g == f and n != f] for f in info["split"]}
