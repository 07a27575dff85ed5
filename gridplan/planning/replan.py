"""Minimal-change re-plans: rebalance a previous plan after the buildings change, moving as few households as possible.

The updated buildings are cut into cells along the previous plan's unit boundaries, so every cell lies
inside one previous micro-grid, grid and community. Then, level by level (communities, grids in kept
communities, micro-grids in kept grids), only the units that **changed and fell out of range** are
re-partitioned; every other unit keeps its cells and its code. A re-partitioned *scope* is the unit alone
when its households fit some count of units, else it grows by its smallest neighbours (same parent) until
they do. Inside a scope the previous units are first kept whole (contracted), so an estate of 500
households added to a 400-household grid becomes a grid of its own and moves nobody; only when that cannot
balance are the previous units cut. A unit holding the same buildings as before keeps its code; new units
take the next free codes; retired codes are recorded and never reused. ``lock`` keeps named units (and the
codes of their parents) fixed: a locked unit that must change raises :class:`InfeasibleError`.

Examples
--------
>>> import tempfile, gridplan
>>> from gridplan.sample import make_district
>>> d = make_district(households=3000, communities=1)
>>> old = gridplan.plan(d.buildings, d.roads, seed=1, start_date="2026-01-01")
>>> r = replan(old, d.buildings, start_date="2026-06-01")
>>> r.changes.summary["households_moved"]["micro"], r.changes.summary["units_changed"]
(0, 0)
"""
from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike

import numpy as np
import shapely

from .._version import __version__
from ..config import SizeRange, counts_in_range
from ..core.partition import UnitGraph, partition
from ..core.tessellate import locate
from ..errors import InfeasibleError, OptionError, first_ids
from ..inputs.validate import prepare
from ..model import Plan
from ..outputs.reader import read_plan
from .assemble import assemble, crossing_counts
from .diff import ChangeList, diff
from .planner import Level, Planner, components, rng_for
from .split import bridged_subgraph
from .stable_codes import CodeBook

__all__ = ["replan", "Replanning"]

log = logging.getLogger(__name__)
_LEVELS = ("community", "grid", "micro")


@dataclass(frozen=True)
class Replanning:
    """What :func:`replan` returns: the new plan and its change list against the previous one."""

    plan: Plan
    changes: ChangeList


@dataclass
class _Unit:
    cells: np.ndarray
    origin: object  # previous code (str), or None for a new unit
    old: int  # index of the previous unit it continues (-1: none)


class _Rebalancer:
    def __init__(self, pl, prev: Plan, lock: set[str]):
        self.pl, self.prev, self.lock = pl, prev, lock
        self.scopes: list[dict] = []
        self.issues: dict[str, list[dict]] = {lvl: [] for lvl in _LEVELS}
        b = pl.b
        prev_ids = set(prev.buildings[prev.id_field].astype(str))
        ids = b["building_id"].astype(str).to_numpy()
        self.new_cell = pl.nodes_of_buildings(~np.isin(ids, list(prev_ids)))
        self.ids = ids

    # ---- helpers -------------------------------------------------------------------------------------
    def members(self, cells: np.ndarray) -> frozenset:
        inside = np.zeros(self.pl.g.n, bool)
        inside[cells] = True
        return frozenset(self.ids[np.unique(self.pl.pair_building[inside[self.pl.pair_node]])].tolist())

    def hh(self, cells: np.ndarray) -> float:
        """Households on the nodes."""
        return float(self.pl.atoms.households[cells].sum())

    def w(self, cells: np.ndarray) -> float:
        """What the ranges count on the nodes (households, or persons with population balance)."""
        return float(self.pl.g.households[cells].sum())

    def ok(self, cells: np.ndarray, size: SizeRange, level: str) -> bool:
        return size.contains(self.w(cells))

    def graph(self, cells: np.ndarray, groups: np.ndarray | None, bridge: bool) -> UnitGraph:
        if bridge:
            sub = bridged_subgraph(self.pl, cells)
        else:
            sub, _ = self.pl.g.subgraph(cells)
        return UnitGraph(sub.households, sub.edges, sub.cost, sub.tier, groups, sub.building)

    def add_issues(self, level: str, parent: int, cells: np.ndarray, issues) -> None:
        """Record the issues of a partition of ``cells`` inside the new unit ``parent`` of the level above."""
        for iss in issues:
            self.issues[level].append({"parent": parent, "cells": cells[list(iss.nodes)], "households": iss.households, "reason": iss.reason,
                                       "resolution": iss.resolution, "kind": iss.kind})

    # ---- one parent --------------------------------------------------------------------------------
    def rebalance(self, units: list[_Unit], old_members: list[frozenset], old_hh: list[float], codes: list[str], locked_below: list[bool],
                  size: SizeRange, level: str, key: tuple, compounds: bool, parent: int = 0) -> list[_Unit]:
        """Keep every unit that did not change or is still fine; re-partition the scopes around the others
        (``parent``: the index of the new unit these are the children of, for the issues found)."""
        n = len(units)
        changed = [self.members(u.cells) != old_members[i] or self.hh(u.cells) != old_hh[i] for i, u in enumerate(units)]
        need = [i for i in range(n) if changed[i] and not self.ok(units[i].cells, size, level)]
        for i in need:
            if codes[i] in self.lock or locked_below[i]:
                what = f"locked {level} {codes[i]}" if codes[i] in self.lock else f"{level} {codes[i]}, which holds a locked unit,"
                raise InfeasibleError(f"{what} now holds {self.w(units[i].cells):g}, outside {size}; it must be re-partitioned. "
                                      f"Unlock it (drop its code from `lock`), or plan afresh with another `{level}_size`")
        if not need:
            return units
        owner = np.full(self.pl.g.n, -1, dtype=np.int64)
        for i, u in enumerate(units):
            owner[u.cells] = i
        e = owner[self.pl.g.edges]
        e = e[(e[:, 0] >= 0) & (e[:, 1] >= 0) & (e[:, 0] != e[:, 1])]
        nbr = {i: set() for i in range(n)}
        for a, b in e.tolist():
            nbr[a].add(b)
            nbr[b].add(a)
        taken: set[int] = set()
        out = []
        for i in need:
            if i in taken:
                continue
            scope = {i}
            blocked = []
            while not len(counts_in_range(sum(self.w(units[j].cells) for j in scope), size)):
                cand = sorted({q for j in scope for q in nbr[j]} - scope - taken, key=lambda q: (self.w(units[q].cells), q))
                free = [q for q in cand if codes[q] not in self.lock and not locked_below[q]]
                blocked += [codes[q] for q in cand if q not in free]
                if not free:
                    if blocked:
                        raise InfeasibleError(f"{level} {codes[i]} holds {self.w(units[i].cells):g} after the update, outside {size}, and "
                                              f"its neighbours {first_ids(sorted(set(blocked)))} are locked (or hold locked units); unlock some of them")
                    break
                scope.add(free[0])
            taken |= scope
            out.append(sorted(scope))
        new_units = [u for j, u in enumerate(units) if j not in taken]
        for s, scope in enumerate(out):
            new_units += self.partition_scope([units[j] for j in scope], [old_members[j] for j in scope], [codes[j] for j in scope], size, level, key + (s,), compounds, parent)
        return new_units

    def carve(self, units: list[_Unit], olds: list[frozenset], size: SizeRange, level: str, key: tuple) -> list[_Unit] | None:
        """Keep each previous unit as it was and make the cells of new buildings units of their own, if all fit."""
        new = np.concatenate([u.cells[self.new_cell[u.cells]] for u in units])
        if not len(new) or not len(counts_in_range(self.w(new), size)):
            return None
        out = []
        for u, o in zip(units, olds):
            rest = u.cells[~self.new_cell[u.cells]]
            if not len(rest) or len(components(self.pl.g, rest)) != 1 or not (self.ok(rest, size, level) or self.members(rest) == o):
                return None
            out.append(_Unit(rest, u.origin, u.old))
        res = partition(self.graph(new, None, False), size, rng=rng_for(self.pl.cfg.seed, 8, *key), strong_tier=None if level == "community" else 2)
        parts = [new[res.labels == k] for k in range(res.count)]
        if not all(self.ok(c, size, level) for c in parts):
            return None
        return out + [_Unit(c, None, -1) for c in parts]

    def partition_scope(self, units: list[_Unit], olds: list[frozenset], codes: list[str], size: SizeRange, level: str, key: tuple, compounds: bool,
                        parent: int = 0) -> list[_Unit]:
        cells = np.concatenate([u.cells for u in units])
        h = self.hh(cells)
        carved = self.carve(units, olds, size, level, key)
        if carved is not None:
            self.scopes.append({"level": level, "codes": codes, "households": int(round(h)), "into": len(carved),
                                "units_households": [int(round(self.hh(u.cells))) for u in carved], "how": "new buildings made units of their own"})
            return carved
        keep_whole = np.concatenate([np.where(self.new_cell[u.cells], -1, j) for j, u in enumerate(units)])
        base = self.pl.g.group[cells] if compounds and self.pl.g.group is not None else None
        result = None
        for groups in (keep_whole, base):  # previous units whole first, then free cuts
            res = partition(self.graph(cells, groups, level == "community"), size, rng=rng_for(self.pl.cfg.seed, 9, *key), strong_tier=None if level == "community" else 2)
            hh_units = np.bincount(res.labels, weights=self.pl.atoms.households[cells])
            # a unit is fine in range, or when it is a previous unit unchanged (moving nobody beats fixing an old miss)
            fine = all(self.ok(c, size, level) or self.members(c) in olds for c in (cells[res.labels == k] for k in range(res.count)))
            result = res
            if fine:
                break
        self.add_issues(level, parent, cells, result.issues)
        self.scopes.append({"level": level, "codes": codes, "households": int(round(h)), "into": int(result.count),
                            "units_households": [int(round(x)) for x in hh_units]})
        out, used = [], set()
        for k in range(result.count):
            c = cells[result.labels == k]
            m = self.members(c)
            # a previous unit's code goes to one new unit at most: two new units can hold the same buildings (the
            # entrance/floor parts of one tower), and a code named twice would be two units under one code
            same = [j for j, o in enumerate(olds) if o and o == m and j not in used]
            used.update(same[:1])
            out.append(_Unit(c, units[same[0]].origin if same else None, units[same[0]].old if same else -1))
        return out


def _rect_of(entrances: str, floors: str, levels: int) -> tuple[int, int, int, int]:
    e0, _, e1 = str(entrances).partition("-")
    f = str(floors) if isinstance(floors, str) and floors.strip() else f"1-{levels}"
    f0, _, f1 = f.partition("-")
    return int(e0), int(e1 or e0), int(f0), int(f1 or f0)


def _old_micro(pl: Planner, mg, roster) -> np.ndarray:
    """For each node, the previous micro-grid (row of ``mg``) holding it: a part of a divided building by
    the previous roster's rectangles (entrances × floors), any other node by where its land lies."""
    at = pl.atoms
    row_of = {c: i for i, c in enumerate(mg["code"].tolist())}
    which = locate(shapely.point_on_surface(np.asarray(pl.land, dtype=object)), mg.geometry.values)
    ids = pl.b["building_id"].astype(str).to_numpy()
    parts = roster[roster["part"].astype(int) > 0]
    prev_rows = {bid: list(zip(g["entrances"], g["floors"], g["micro_code"].astype(str))) for bid, g in parts.groupby("_id")}
    kept_whole = dict(zip(roster["_id"], roster["micro_code"].astype(str)))
    for v in np.flatnonzero(at.building >= 0):
        b = int(at.building[v])
        e0, e1, f0, f1 = (int(x) for x in at.rect[v])
        if ids[b] in prev_rows:
            levels = int(pl.b["levels"].iloc[b])
            for ent, fl, code in prev_rows[ids[b]]:
                r = _rect_of(ent, fl, levels)
                if r[0] <= e0 and e1 <= r[1] and r[2] <= f0 and f1 <= r[3] and code in row_of:
                    which[v] = row_of[code]
                    break
        elif kept_whole.get(ids[b]) in row_of:  # kept whole before: all its parts stay there
            which[v] = row_of[kept_whole[ids[b]]]
    which[pl.excluded] = -1
    return which


def _kept_polygons(units: list[_Unit], old_of_node: np.ndarray, layer, crs) -> list:
    """Per new unit, its previous polygon (in ``crs``, the new plan's output CRS) when it holds exactly the
    nodes of the previous unit it continues (nothing re-partitioned it), else None (see :attr:`Level.fixed`)."""
    geoms = layer.geometry if layer.crs is None or layer.crs == crs else layer.geometry.to_crs(crs)
    geoms = np.asarray(geoms.values, dtype=object)
    count = np.bincount(old_of_node[old_of_node >= 0], minlength=len(geoms))
    return [geoms[u.old] if u.origin is not None and u.old >= 0 and len(u.cells) == count[u.old]
            and bool((old_of_node[u.cells] == u.old).all()) else None for u in units]


def _starved_parents(layer, parent: list[int]) -> set[int]:
    """The parents (grid indexes) of the units of ``layer`` (rows in unit order) that got no land.

    >>> import geopandas as gpd, shapely
    >>> t = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1), shapely.Polygon(), shapely.box(1, 0, 2, 1)])
    >>> _starved_parents(t, [0, 1, 1])
    {1}
    """
    empty = np.asarray(layer.geometry.is_empty | layer.geometry.isna())
    return {parent[i] for i in np.flatnonzero(empty)}


def _carry_over(prev: Plan, new: Plan, kept: dict[str, list[str]]) -> None:
    """What the previous report says of the units that stand as they were (kept polygon) goes into ``new``'s:
    its ``infeasible`` entries whose units all kept their households too (unless the new report already
    explains them, counted in ``out_of_range``), and its tier-2 ``crossings`` of kept grids and micro-grids
    (the cells of a re-plan are cut finer, so counting them again would report other road edges of the
    very same polygon)."""
    report = new.report
    hh = {(lvl, str(c)): float(h) for lvl, t in (("community", new.communities), ("grid", new.grids), ("micro", new.micro_grids))
          for c, h in zip(t["code"], t["households"])}
    hh_prev = {(lvl, str(c)): float(h) for lvl, t in (("community", prev.communities), ("grid", prev.grids), ("micro", prev.micro_grids))
               for c, h in zip(t["code"], t["households"])}
    kept_set = {(lvl, c) for lvl, codes in kept.items() for c in codes}
    have = {(i["level"], tuple(i.get("codes", []))) for i in report["infeasible"]}
    carried = []
    for i in prev.report.get("infeasible", []):
        keys = [(i["level"], str(c)) for c in i.get("codes", [])]
        if keys and all(k in kept_set and hh.get(k) == hh_prev.get(k) for k in keys) and (i["level"], tuple(i["codes"])) not in have:
            carried.append(dict(i))
    report["infeasible"] += carried
    explained = {(i["level"], str(c)) for i in report["infeasible"] for c in i.get("codes", [])}
    kinds = {(i["level"], str(c)): i.get("kind") for i in report["infeasible"] for c in i.get("codes", [])}
    for o in report.get("out_of_range", []):
        o["explained_in_infeasible"] = (o["level"], o["code"]) in explained
        o["kind"] = kinds.get((o["level"], o["code"]))
    if carried:
        log.info("re-plan: %d explanations carried over from the previous plan for units it keeps", len(carried))
    if "crossings" in prev.report:
        report["crossings"] = ([c for c in report["crossings"] if (c["level"], c["code"]) not in kept_set]
                               + [c for c in prev.report["crossings"] if (c["level"], c["code"]) in kept_set])
        report["crossing_counts"] = crossing_counts(report["crossings"])


def replan(previous: Plan | str | PathLike, buildings, *, lock: Sequence[str] = (), seed: int | None = None, start_date: str | None = None,
           households_field: str = "households", estimate: str = "auto", input_crs: str = "auto", fix_geometry: bool = False,
           accept_large: bool = False, progress=None) -> Replanning:
    """Re-plan ``previous`` (a Plan or a plan directory) for the updated ``buildings`` with the fewest changes.

    Parameters
    ----------
    previous
        The plan to update: a :class:`~gridplan.model.Plan` or a directory written by ``gridplan plan``.
    buildings
        Every building as it is now (new estates added, demolished ones gone, counts changed), with the
        previous plan's id field; they must lie inside the previous plan's communities.
    lock
        Codes of units (any level) to keep exactly as they are.
    seed, start_date
        Seed (default: the previous plan's) and the start date of new units (default today); it is also
        the end date of retired codes.
    households_field, estimate, input_crs, fix_geometry, accept_large
        As for :func:`gridplan.plan`.

    Returns
    -------
    Replanning
        The new plan (its report has a ``replan`` section: scopes re-partitioned, households moved, units
        changed) and the change list against ``previous``.
    """
    prev = previous if isinstance(previous, Plan) else read_plan(previous)
    start_date = start_date or _dt.date.today().isoformat()
    lock = {str(c) for c in lock}
    known = {str(c) for lvl in ("communities", "grids", "micro_grids") for c in getattr(prev, lvl)["code"]}
    if lock - known:
        raise OptionError(f"`lock` names codes that are not in the previous plan: {first_ids(sorted(lock - known))}; give community, grid or micro-grid codes from it")
    cfg = prev.config if seed is None else prev.config.with_(seed=int(seed))
    comms = prev.communities[[c for c in ("code", "name", "geometry") if c in prev.communities.columns]]
    prep = prepare(buildings, prev.input_barriers, comms, id_field=prev.id_field, households_field=households_field,
                   estimate=estimate, input_crs=input_crs, fix_geometry=fix_geometry, accept_large=accept_large)
    pl = Planner(prep, cfg, progress)
    roster = prev.buildings.assign(_id=prev.buildings[prev.id_field].astype(str))
    divided = set(roster.loc[roster["part"].astype(int) > 0, "micro_code"].astype(str))
    micro_w = prev.micro_grids.to_crs(prep.work_crs)
    whole = micro_w[~micro_w["code"].astype(str).isin(divided)]
    lines = shapely.boundary(np.concatenate([np.asarray(prev.grids.to_crs(prep.work_crs).geometry.values, dtype=object),
                                             np.asarray(whole.geometry.values, dtype=object)]))
    pl.build_graph(extra_lines=lines)
    pl.communities()

    mg = prev.micro_grids.assign(code=prev.micro_grids["code"].astype(str)).to_crs(prep.work_crs).reset_index(drop=True)
    m_codes = mg["code"].tolist()
    m_cell = _old_micro(pl, mg, roster)
    m_origin = m_codes
    m_parent = mg["parent_code"].astype(str).tolist()
    g_codes = prev.grids["code"].astype(str).tolist()
    c_codes = prev.communities["code"].astype(str).tolist()
    g_index, c_index = {c: i for i, c in enumerate(g_codes)}, {c: i for i, c in enumerate(c_codes)}
    g_cell = np.where(m_cell >= 0, np.array([g_index[p] for p in m_parent] + [-1])[m_cell], -1)
    g_parent = prev.grids["parent_code"].astype(str).tolist()
    c_cell = np.where(g_cell >= 0, np.array([c_index[p] for p in g_parent] + [-1])[g_cell], -1)

    def old_sets(code_col: str) -> dict[str, frozenset]:
        return {str(k): frozenset(v) for k, v in roster.groupby(roster[code_col].astype(str))["_id"]}

    sets = {"community": old_sets("community_code"), "grid": old_sets("grid_code"), "micro": old_sets("micro_code")}
    hh_old = {lvl: dict(zip(getattr(prev, lay)["code"].astype(str), getattr(prev, lay)["households"].astype(float)))
              for lvl, lay in (("community", "communities"), ("grid", "grids"), ("micro", "micro_grids"))}
    locked_g = {c[:15] for c in lock if len(c) == 18}
    locked_c = {c[:12] for c in lock if len(c) >= 15}
    rb = _Rebalancer(pl, prev, lock)

    # ---- communities
    cu = [_Unit(np.flatnonzero(c_cell == i), c, i) for i, c in enumerate(c_codes)]
    cu = [u for u in cu if len(u.cells)]
    cu = rb.rebalance(cu, [sets["community"].get(u.origin, frozenset()) for u in cu], [hh_old["community"].get(u.origin, 0.0) for u in cu],
                      [u.origin for u in cu], [u.origin in locked_c for u in cu], cfg.community, "community", (0,), compounds=True)
    c_lab = np.full(pl.g.n, -1, dtype=np.int64)
    grid_units, grid_parent = [], []
    for ci, u in enumerate(cu):
        c_lab[u.cells] = ci
        if u.origin is None:  # a new community: plan its grids afresh
            res = partition(rb.graph(u.cells, pl.g.group[u.cells] if pl.g.group is not None else None, False), cfg.grid, rng=np.random.default_rng([cfg.seed, 1, ci]))
            units = [_Unit(u.cells[res.labels == k], None, -1) for k in range(res.count)]
            rb.add_issues("grid", ci, u.cells, res.issues)
        else:
            units = [_Unit(u.cells[g_cell[u.cells] == g_index[c]], c, g_index[c]) for c in g_codes if c[:12] == u.origin]
            units = [x for x in units if len(x.cells)]
            units = rb.rebalance(units, [sets["grid"].get(x.origin, frozenset()) for x in units], [hh_old["grid"].get(x.origin, 0.0) for x in units],
                                 [x.origin for x in units], [x.origin in locked_g for x in units], cfg.grid, "grid", (1, ci), compounds=True, parent=ci)
        grid_units += units
        grid_parent += [ci] * len(units)
    g_lab = np.full(pl.g.n, -1, dtype=np.int64)
    micro_units, micro_parent = [], []
    for gi, u in enumerate(grid_units):
        g_lab[u.cells] = gi
        if u.origin is None:
            res = partition(rb.graph(u.cells, None, False), cfg.micro, rng=np.random.default_rng([cfg.seed, 2, gi]))
            units = [_Unit(u.cells[res.labels == k], None, -1) for k in range(res.count)]
            rb.add_issues("micro", gi, u.cells, res.issues)
        else:
            units = [_Unit(u.cells[m_cell[u.cells] == mi], o, mi) for mi, (o, p) in enumerate(zip(m_origin, m_parent)) if p == u.origin]
            units = [x for x in units if len(x.cells)]
            units = rb.rebalance(units, [sets["micro"].get(x.origin, frozenset()) for x in units], [hh_old["micro"].get(x.origin, 0.0) for x in units],
                                 [x.origin for x in units], [False] * len(units), cfg.micro, "micro", (2, gi), compounds=False, parent=gi)
        micro_units += units
        micro_parent += [gi] * len(units)
    m_lab = np.full(pl.g.n, -1, dtype=np.int64)
    for mi, u in enumerate(micro_units):
        m_lab[u.cells] = mi

    names = prev.communities["name"].astype(str).tolist() if "name" in prev.communities.columns else [""] * len(c_codes)
    out_crs = prep.input_crs
    comm = Level(c_lab, np.zeros(len(cu), dtype=np.int64), rb.issues["community"], origin=[u.origin for u in cu],
                  parent_codes=[c_codes[u.old][:9] if u.old >= 0 else c_codes[0][:9] for u in cu],
                  names=[names[u.old] if u.old >= 0 and u.origin else "" for u in cu],
                  fixed=_kept_polygons(cu, c_cell, prev.communities, out_crs))
    grids = Level(g_lab, np.asarray(grid_parent, dtype=np.int64), rb.issues["grid"], origin=[u.origin for u in grid_units],
                  fixed=_kept_polygons(grid_units, g_cell, prev.grids, out_crs))
    micro = Level(m_lab, np.asarray(micro_parent, dtype=np.int64), rb.issues["micro"], origin=[u.origin for u in micro_units],
                  fixed=_kept_polygons(micro_units, m_cell, prev.micro_grids, out_crs))
    starts = {str(c): str(s) for lay in (prev.communities, prev.grids, prev.micro_grids) if "start_date" in lay.columns
              for c, s in zip(lay["code"], lay["start_date"])}
    book = CodeBook.from_codes(known, starts, prev.report.get("retired", []))
    pl.extra_report = {"retired": book.retired}
    new = assemble(pl, comm, grids, micro, start_date=start_date, version=__version__, book=book)
    starved = _starved_parents(new.micro_grids, micro_parent)
    if starved:  # kept micro-grid outlines left a re-partitioned sibling no land: redraw that grid's micro-grids
        log.info("re-plan: the kept micro-grid outlines of %d grid(s) left new siblings no land; their micro-grids "
                 "are redrawn", len(starved))
        micro.fixed = [None if micro_parent[i] in starved else f for i, f in enumerate(micro.fixed)]
        book = CodeBook.from_codes(known, starts, prev.report.get("retired", []))
        pl.extra_report = {"retired": book.retired}
        new = assemble(pl, comm, grids, micro, start_date=start_date, version=__version__, book=book)
        new.report["replan_redrawn_grids"] = sorted(str(new.grids["code"].iloc[g]) for g in starved)
    _carry_over(prev, new, {lvl: [str(c) for c, f in zip(lev.origin, lev.fixed) if f is not None]
                                  for lvl, lev in (("community", comm), ("grid", grids), ("micro", micro))})
    changes = diff(prev, new)
    new.report["retired"] = changes.retired.astype(object).where(changes.retired.notna(), None).to_dict("records")
    new.report["replan"] = {"previous_start_date": prev.report.get("start_date"), "locked": sorted(lock), "scopes": rb.scopes,
                            "households_moved": changes.summary["households_moved"], "units_changed": changes.summary["units_changed"],
                            "units": changes.summary["units"]}
    log.info("re-plan: %d scopes re-partitioned, %d units changed, %s households moved", len(rb.scopes), changes.summary["units_changed"], changes.summary["households_moved"])
    return Replanning(new, changes)
