"""Re-splitting given communities: the step of :func:`gridplan.planning.redistrict.redistrict` (and of
``gridplan.plan(..., redistrict=...)``) between the planner's communities and its grids.

:func:`split_communities` decides what is redrawn and into how many (jointly: :mod:`gridplan.planning.joint`;
with ``joint=False`` each community on its own, :func:`allocate_counts`) and cuts the cells; kept
communities keep their codes and their given polygons (:attr:`~gridplan.planning.planner.Level.fixed`).
:func:`retire_split` records the retired codes and the core figures in the finished plan. The whole
procedure is described in :mod:`gridplan.planning.redistrict`.
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..config import SizeRange, counts_in_range
from ..core.codes import sequence_codes
from ..core.partition import UnitGraph, least_bad_count, partition
from ..errors import InfeasibleError, OptionError
from ..model import Plan
from .joint import MARGIN, Scopes, clusters, core_figures, cut_region, regions, span, with_bridges
from .planner import Level, Planner, rng_for
from .stable_codes import CodeBook

__all__ = ["allocate_counts", "bridged_subgraph", "given_polygons", "split_communities", "retire_split"]

log = logging.getLogger(__name__)

_NUMERALS = "一二三四五六七八九十"


def allocate_counts(households: dict[str, float], size: SizeRange, *, kept: int, total: int | None, margin: float = 0.0) -> dict[str, int]:
    """How many new communities each community (or region) to split gets.

    Without ``total``, each gets the count closest to households / target. With ``total``, the counts add
    up to ``total - kept``: each starts at its fewest feasible (with ``margin``: see
    :func:`~gridplan.planning.joint.span`) and the next one always goes to the community whose new units
    would be largest. Raises :class:`InfeasibleError` listing the feasible totals.

    Examples
    --------
    >>> allocate_counts({"a": 4400, "b": 3200}, SizeRange(1000, 3000, 2000), kept=10, total=15)
    {'a': 3, 'b': 2}
    >>> allocate_counts({"a": 4400}, SizeRange(1000, 3000, 2000), kept=0, total=9)
    Traceback (most recent call last):
    ...
    gridplan.errors.InfeasibleError: `count` was 9: with communities of 1000:3000 households the feasible totals are 2–4 (0 kept + a: 2–4); ask for one of those, change the community size, or redraw jointly (joint=True)
    """
    spans = {k: span(h, size, margin) for k, h in households.items()}
    if total is None:
        return {k: least_bad_count(h, size)[0] for k, h in households.items()}
    lo = kept + sum(a for a, _ in spans.values())
    hi = kept + sum(b for _, b in spans.values())
    if not lo <= total <= hi:
        parts = ", ".join(f"{k}: {a}–{b}" if a != b else f"{k}: {a}" for k, (a, b) in list(spans.items())[:10])
        more = f" and {len(spans) - 10} more" if len(spans) > 10 else ""
        raise InfeasibleError(
            f"`count` was {total}: with communities of {size} households the feasible totals are {lo}–{hi} "
            f"({kept} kept + {parts}{more}); ask for one of those, change the community size, or redraw jointly (joint=True)"
        )
    counts = {k: a for k, (a, _) in spans.items()}
    for _ in range(total - lo):
        grow = [k for k in counts if counts[k] < spans[k][1]]
        k = max(grow, key=lambda k: (households[k] / counts[k], k))
        counts[k] += 1
    return counts


def bridged_subgraph(pl: Planner, cells: np.ndarray) -> UnitGraph:
    """The cells' subgraph with cheap bridge edges joining every piece that hard barriers cut apart (the
    per-community split of ``joint=False``; a joint redraw bridges only pieces too small to stand alone)."""
    (region,) = regions(pl, cells, None)
    return with_bridges(pl, region.cells, region.bridges)


def given_polygons(communities, pl: Planner) -> np.ndarray:
    """The given community polygons in the plan's output CRS (the buildings' input CRS), row by row as
    ``pl.prep.communities``: the caller's own geometries where their CRS allows, else the work-CRS ones
    projected back (after a GCJ-02/BD-09 conversion, a repair or a CRS change)."""
    prep = pl.prep
    back = np.asarray(prep.communities.to_crs(prep.input_crs).geometry.values, dtype=object)
    if communities is None:
        return back
    frame = communities if isinstance(communities, gpd.GeoDataFrame) else None
    if frame is None:
        from ..inputs.io import read_layer

        frame = read_layer(communities, role="communities")
    if len(frame) != len(back):
        return back
    if frame.crs is not None and not prep.input_crs.equals(frame.crs):
        return back
    own = np.asarray(frame.geometry.values, dtype=object)
    # the caller's geometry where it is the one planned (same shape once projected), else the projection
    same = shapely.is_valid(own) & (np.abs(shapely.area(own) - shapely.area(back)) <= 1e-9 * np.maximum(shapely.area(back), 1e-12))
    return np.where(same, own, back)


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


def _joint_jobs(pl: Planner, old: Level, hh: np.ndarray, codes: list[str], mode: str, count: int | None):
    """Scopes, regions and counts of a joint redraw; raises when ``count`` is out of every mode's reach."""
    size = pl.cfg.community
    scopes_of = Scopes(pl, old.labels, hh, codes, size)
    over = [c for c in range(len(hh)) if hh[c] > size.hi]
    scopes = [frozenset(range(len(hh)))] if mode == "all" else clusters(scopes_of.adj, over)
    added: list[int] = []
    if count is not None:
        lo, hi = scopes_of.totals(scopes)[:2]
        if mode == "oversized" and not lo <= count <= hi:
            scopes, added = scopes_of.grow(scopes, count)
            lo, hi = scopes_of.totals(scopes)[:2]
        if not lo <= count <= hi:
            base = clusters(scopes_of.adj, over)
            a, b = scopes_of.totals(base)[:2]
            low, high = scopes_of.totals(scopes_of.grow(base, 1)[0])[0], scopes_of.totals(scopes_of.grow(base, 10**9)[0])[1]
            x, y = scopes_of.totals([frozenset(range(len(hh)))])[:2]
            raise InfeasibleError(
                f"`count` was {count}: with communities of {size} households the feasible totals are {a}–{b} redrawing the "
                f"{len(over)} oversized together, {min(a, low)}–{max(b, high)} adding in-range neighbours, {x}–{y} with mode 'all'; "
                "ask for one of those, or change the community size")
    jobs = [(s, r, reg) for s, scope in enumerate(scopes) for r, reg in enumerate(scopes_of.regions(scope))]
    kept = len(hh) - sum(len(s) for s in scopes)
    counts = allocate_counts({(s, r): reg.households for s, r, reg in jobs}, size, kept=kept, total=count, margin=MARGIN)
    return scopes, added, [(reg.cells, with_bridges(pl, reg.cells, reg.bridges, old.labels), counts[(s, r)], (s, r)) for s, r, reg in jobs]


def split_communities(pl: Planner, old: Level, *, mode: Literal["oversized", "all"], count: int | None, start_date: str,
                      joint: bool = True, given=None) -> tuple[Level, CodeBook]:
    """Redraw the given communities held by ``old`` (labels over cells); see the module docstring.

    ``joint``: redraw the oversized communities together across the old lines between them (and, when
    ``count`` needs it, the fewest neighbours); False splits each one inside its own old boundary.
    ``given``: the communities as the caller gave them (path or GeoDataFrame), for the kept polygons.
    """
    if count is not None and (not isinstance(count, (int, np.integer)) or count < 1):
        raise OptionError(f"`count` was {count!r}; expected a whole number of communities ≥ 1, e.g. 35")
    size, given_frame = pl.cfg.community, pl.prep.communities
    codes_all, names_all = _old_codes(pl)
    src = pl.community_source
    n_old = len(src)
    codes = [str(codes_all[src[c]]) for c in range(n_old)]
    hh = np.bincount(old.labels[old.labels >= 0], weights=pl.g.households[old.labels >= 0], minlength=n_old)
    if joint:
        scopes, added, jobs = _joint_jobs(pl, old, hh, codes, mode, count)
        redrawn = sorted(set().union(*scopes)) if scopes else []
    else:
        redrawn, added = [c for c in range(n_old) if mode == "all" or hh[c] > size.hi], []
        scopes = [frozenset({c}) for c in redrawn]
        counts = allocate_counts({codes[c]: float(hh[c]) for c in redrawn}, size, kept=n_old - len(redrawn), total=count)
        jobs = [(np.flatnonzero(old.labels == c), None, counts[codes[c]], (c,)) for c in redrawn]
    kept = [c for c in range(n_old) if c not in set(redrawn)]
    polygons = given_polygons(given, pl)

    labels = np.full(pl.g.n, -1, dtype=np.int64)
    origin, fixed, issues = [], [], []
    for c in kept:
        labels[old.labels == c] = len(origin)
        origin.append(codes[c])
        fixed.append(polygons[src[c]])
    for cells, graph, k, path in jobs:
        if graph is None:  # each old community on its own, the old lines are walls
            graph = bridged_subgraph(pl, cells)
            ok = counts_in_range(graph.households.sum(), size)
            target = SizeRange(size.lo, size.hi, graph.households.sum() / k) if k in ok else size
            for attempt in range(4):  # the bisection may settle for one unit fewer; other trees usually manage
                result = partition(graph, target, rng=rng_for(pl.cfg.seed, 0, path[0], attempt), strong_tier=None)
                if result.count == k:
                    break
        else:
            result = cut_region(pl, graph, k, size, old.labels[cells], path)
        where = " and ".join(sorted({codes[c] for c in np.unique(old.labels[cells])}))
        if result.count != k:
            issues.append({"parent": 0, "cells": cells, "households": float(graph.households.sum()), "reason": f"community {where}: asked for {k} new communities, the cuts found allow {result.count}",
                           "resolution": f"split into {result.count}", "kind": "limit"})
        for i in result.issues:
            issues.append({"parent": 0, "cells": cells[list(i.nodes)], "households": i.households, "reason": i.reason, "resolution": i.resolution, "kind": i.kind})
        labels[cells] = result.labels + len(origin)
        origin += [None] * result.count
        fixed += [None] * result.count
    figures = core_figures(labels, old.labels, pl.g.households)
    cores = [codes[c] for c in figures.core]
    parents = [c[:9] for c in cores]
    # provisional names (retire_split renames them in the codes' reading order): the core's name, numbered
    n_of, seen, names = Counter(cores[len(kept):]), Counter(), []
    for u, core in enumerate(cores):
        names.append(_new_name(str(names_all[src[figures.core[u]]]), seen[core], n_of[core] if u >= len(kept) else 1))
        seen[core] += u >= len(kept)
    starts = {}
    if "start_date" in given_frame.columns:
        starts = {str(k): str(v) for k, v in zip(codes_all, given_frame["start_date"]) if isinstance(v, str) and v}
    book = CodeBook.from_codes(codes_all, starts)
    receivers = {c: sorted({int(u) for u in np.unique(labels[old.labels == c]) if u >= len(kept)}) for c in redrawn}
    pl.extra_report = {"redistricting": {
        "mode": mode, "joint": bool(joint), "count_asked": count, "old_communities": int(n_old), "kept": [codes[c] for c in kept],
        "split": {codes[c]: {"households": int(hh[c]), "into": len(receivers[c])} for c in redrawn},
        "scopes": [{"communities": [codes[c] for c in sorted(s)], "households": int(hh[sorted(s)].sum()),
                    "into": len({int(u) for c in s for u in receivers[c]})} for s in scopes],
        "neighbours_added": [codes[c] for c in added],
        "undersized_kept": [codes[c] for c in kept if hh[c] < size.lo],
        "core": {"overall": round(figures.overall, 4), "households_kept": int(round(figures.kept.sum())),
                 "households_moved": int(round(figures.households - figures.kept.sum())), "by_community": {}},
    }}
    pl.formed_from = cores
    pl.core_figures = figures
    pl.receivers = {codes[c]: r for c, r in receivers.items()}
    log.info("re-districting (%s): %d old communities, %d kept, %d redrawn into %d; %.1f%% of households kept with their old community",
             "joint" if joint else "each alone", n_old, len(kept), len(redrawn), len(origin) - len(kept), 100 * figures.overall)
    return Level(labels, np.zeros(len(origin), dtype=np.int64), issues, origin=origin, parent_codes=parents, names=names, fixed=fixed), book


def retire_split(plan: Plan, pl: Planner, end_date: str) -> None:
    """Record in ``plan.report`` the retired codes of the redrawn communities, what replaced them, and the
    core figures of every new community (codes are known only now)."""
    info = pl.extra_report["redistricting"]
    given = pl.prep.communities
    codes_all, names_all = _old_codes(pl)
    name_of = dict(zip(codes_all.tolist(), names_all.tolist()))
    new_codes = plan.communities["code"].astype(str).tolist()
    start_of = {}
    if "start_date" in given.columns:
        start_of = dict(zip(codes_all.tolist(), given["start_date"].astype(str).tolist()))
    retired = []
    names = plan.communities["name"].astype(object).to_numpy().copy() if "name" in plan.communities.columns else None
    for code, d in info["split"].items():
        mine = sorted(n for n, f in zip(new_codes, pl.formed_from) if f == code and n != code)
        if names is not None:  # provisional names follow the codes' reading order: 一, 二, ...
            for j, n in enumerate(mine):
                names[new_codes.index(n)] = _new_name(name_of.get(code, ""), j, len(mine))
        repl = sorted(new_codes[u] for u in pl.receivers[code])
        retired.append({"level": "community", "code": code, "parent_code": code[:9], "name": name_of.get(code, ""), "households": d["households"],
                        "start_date": start_of.get(code, ""), "end_date": end_date, "replaced_by": " ".join(repl)})
    if names is not None:
        plan.communities["name"] = pd.array(names, dtype="string")
    plan.report["retired"] = retired
    info["new"] = {code: sorted(new_codes[u] for u in pl.receivers[code]) for code in info["split"]}
    f = pl.core_figures
    info["core"]["by_community"] = {new_codes[u]: {"core": pl.formed_from[u], "share": round(float(f.share[u]), 4)}
                                    for u in range(len(new_codes)) if new_codes[u] not in set(info["kept"])}
