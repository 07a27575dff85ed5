"""Fenced pieces: the one rule that ``gridplan inspect`` and :func:`gridplan.plan` both apply.

A *fenced piece* is a connected part of one community's land, in the plan's own graph (tier-1 lines —
motorways, railways, rivers, water — are never edges of it), whose households no count of units fits at
some level: fewer than a community (planned communities only), a grid or a micro-grid holds, a number
between two counts (550 for grids of 300–500), or none at all (a piece of non-residential buildings).
With given communities, each community's land is cut apart on its own (a community's boundary fences its
pieces in as a tier-1 line does); without, the whole input is one scope. A piece that is the whole input
(or a whole given community) is listed too: it is not cut off, it is simply too small.

:func:`fenced_pieces` decides the pieces from a :class:`~gridplan.planning.planner.Planner` after
:meth:`~gridplan.planning.planner.Planner.build_graph`; :func:`describe_piece` gives the JSON a report
shows. ``inspect`` lists them before planning; the plan's ``report.json`` lists the same pieces
(``fenced_pieces``) with the codes of the units that hold them.

Examples
--------
>>> _misses(0, {"grid": SizeRange(300, 500), "micro": SizeRange(30, 100)})
['grid', 'micro']
>>> _misses(550, {"grid": SizeRange(300, 500), "micro": SizeRange(30, 100)})
['grid']
>>> _why(550, SizeRange(300, 500), "grid")
'550 households; 1 grid > 500, 2 grids < 300'
>>> _why(0, SizeRange(300, 500), "grid")
'no households'
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from ..config import SizeRange, counts_in_range
from .planner import Planner

__all__ = ["FencedPiece", "fenced_pieces", "describe_piece", "hard_piece_labels", "fenced_report", "empty_units"]

#: The levels in planning order.
LEVELS = ("community", "grid", "micro")


@dataclass(frozen=True)
class FencedPiece:
    """One fenced piece: its nodes (of ``Planner.g``), what the ranges count on it, its buildings, the
    levels whose range no count of units fits, and whether it is all of its scope (nothing fences it)."""

    nodes: np.ndarray
    households: int
    buildings: int
    levels: tuple[str, ...]
    whole_scope: bool


def _why(h: int, size: SizeRange, unit: str) -> str:
    """Why no count of units fits ``h`` households, e.g. "550 households; 1 grid > 500, 2 grids < 300"."""
    if h <= 0:
        return "no households"
    if h < size.lo:
        return f"{h:,} households; 1 {unit} < {size.lo:g}"
    k = math.ceil(h / size.hi)
    return f"{h:,} households; {k - 1} {unit}{'s' if k - 1 > 1 else ''} > {size.hi:g}, {k} {unit}s < {size.lo:g}"


def _misses(h: float, sizes: dict[str, SizeRange]) -> list[str]:
    return [lv for lv, size in sizes.items() if not len(counts_in_range(h, size))]


def hard_piece_labels(pl: Planner, community_of: np.ndarray | None) -> np.ndarray:
    """The piece of every node of ``pl.g`` (-1: land with no building, left out of every plan).

    Pieces are the connected parts of each given community (``community_of``, per node; -1 outside
    every community), or of the whole input when ``community_of`` is None; a part with no building is
    left out, as :meth:`~gridplan.planning.planner.Planner.communities` leaves it out.
    """
    g = pl.g
    scope = np.zeros(g.n, dtype=np.int64) if community_of is None else np.asarray(community_of, dtype=np.int64)
    e = g.edges
    keep = (scope[e[:, 0]] == scope[e[:, 1]]) & (scope[e[:, 0]] >= 0)
    m = sparse.coo_matrix((np.ones(int(keep.sum())), (e[keep, 0], e[keep, 1])), shape=(g.n, g.n))
    _, label = csgraph.connected_components(m, directed=False)
    label = np.where(scope >= 0, label, -1)
    with_buildings = np.bincount(label[label >= 0], weights=pl.bld_per_cell[label >= 0], minlength=label.max() + 1) > 0
    label = np.where((label >= 0) & with_buildings[np.maximum(label, 0)], label, -1)
    kept = label >= 0
    label[kept] = np.unique(label[kept], return_inverse=True)[1].ravel()  # 0..pieces-1, in node order
    return label


def fenced_pieces(pl: Planner, community_of: np.ndarray | None = None) -> list[FencedPiece]:
    """The pieces no count of units fits at some level, most households first (see the module docstring).

    ``community_of``: the given community of every node (``Level.labels`` of
    :meth:`~gridplan.planning.planner.Planner.communities` when the input gives communities), else None
    (communities are planned, and checked too).
    """
    cfg, g = pl.cfg, pl.g
    label = hard_piece_labels(pl, community_of)
    n = int(label.max()) + 1
    if n == 0:
        return []
    ok = label >= 0
    hh = np.bincount(label[ok], weights=g.households[ok], minlength=n)
    nb = np.bincount(label[ok], weights=pl.bld_per_cell[ok], minlength=n).astype(int)
    sizes = {lv: cfg.size(lv) for lv in LEVELS if lv != "community" or community_of is None}
    scope = np.zeros(g.n, dtype=np.int64) if community_of is None else np.asarray(community_of)
    pieces_in_scope = {s: len(np.unique(label[ok & (scope == s)])) for s in np.unique(scope[ok])}
    out = []
    order = np.argsort(label, kind="stable")
    cut = np.searchsorted(label[order], np.arange(-1, n + 1))
    for c in range(n):
        misses = _misses(float(hh[c]), sizes)
        if not misses:
            continue
        nodes = order[cut[c + 1] : cut[c + 2]]
        out.append(FencedPiece(nodes, int(round(hh[c])), int(nb[c]), tuple(misses), pieces_in_scope[int(scope[nodes[0]])] == 1))
    out.sort(key=lambda p: (-p.households, int(p.nodes[0])))
    return out


def describe_piece(pl: Planner, piece: FencedPiece) -> dict:
    """The piece as ``inspect`` and ``report.json`` show it: households, buildings, a point inside it,
    the tier-1 lines around it, and per level why no count of units fits."""
    cfg, prep = pl.cfg, pl.prep
    geom = shapely.union_all([x for x in pl.land[piece.nodes] if x is not None and not x.is_empty])
    hard = prep.barriers[prep.barriers["tier"] == 1] if len(prep.barriers) else prep.barriers
    near = hard[hard.intersects(geom.buffer(30))] if len(hard) and not geom.is_empty else hard.iloc[:0]
    names = [x for x in dict.fromkeys(near["name"].astype(str)) if x and x != "None"] if len(near) else []
    names = names or (list(dict.fromkeys(near["kind"].astype(str))) if len(near) and "kind" in near.columns else [])
    if geom.is_empty:
        where = ""
    else:
        centre = gpd.GeoSeries([geom.representative_point()], crs=prep.work_crs).to_crs(4326).iloc[0]
        where = f"{centre.x:.5f},{centre.y:.5f}"
    unit = {"community": "community", "grid": "grid", "micro": "micro-grid"}
    return {
        "households": piece.households, "buildings": piece.buildings, "near": where, "fenced_by": names[:4],
        "reasons": [f"{lv}: {_why(piece.households, cfg.size(lv), unit[lv])}" for lv in piece.levels],
    }


def fenced_report(pl: Planner, community_of: np.ndarray | None, levels) -> list[dict]:
    """``report.json``'s ``fenced_pieces``: :func:`describe_piece` of each piece, with ``codes``, per level,
    the codes of the units that hold it. ``levels``: ``(name, labels per node, codes per unit)``."""
    out = []
    for piece in fenced_pieces(pl, community_of):
        d = describe_piece(pl, piece)
        d["codes"] = {name: sorted({str(codes[u]) for u in labels[piece.nodes] if u >= 0}) for name, labels, codes in levels}
        out.append(d)
    return out


def _what(pl: Planner, rows: np.ndarray) -> str:
    """'2 buildings (school, office: b7, b9)': the buildings of a unit, by type and id (first 5)."""
    b = pl.b
    ids = ", ".join(str(x) for x in b["building_id"].iloc[rows[:5]]) + (", …" if len(rows) > 5 else "")
    types = ""
    if "building" in b.columns:
        kinds = list(dict.fromkeys(b["building"].iloc[rows].dropna().astype(str)))[:3]
        types = ", ".join(kinds) + ": " if kinds else ""
    return f"{len(rows):,} building{'s' if len(rows) != 1 else ''} ({types}{ids})" if len(rows) else "no buildings"


def empty_units(pl: Planner, report: dict, levels) -> list[dict]:
    """``report.json``'s ``empty_units``: every unit with no households or no land, and why it is one.

    ``levels``: ``(name, labels per node, unit table)``. A unit with no households exists only where it
    could not join a neighbour of the same parent without crossing a tier-1 or tier-2 line (the
    partitioner joins it otherwise): a piece of non-residential buildings fenced in by tier-1 lines
    (listed in ``fenced_pieces`` too), or one cut off by a strong road. A unit with no land holds
    buildings whose cells have no area (e.g. drawn on water the barriers cover).
    """
    fenced = {}
    for f in report.get("fenced_pieces", []):
        for lv, codes in f["codes"].items():
            for c in codes:
                fenced[(lv, c)] = f
    issue_of = {(i["level"], c): i for i in report.get("infeasible", []) for c in i.get("codes", [])}
    out = []
    for name, labels, table in levels:
        first = labels[pl.node_of_building]  # unit of every building (a divided one: of its first part)
        for u, (code, h, geom) in enumerate(zip(table["code"].astype(str), table["households"], table.geometry)):
            empty_geom = geom is None or geom.is_empty
            if h > 0 and not empty_geom:
                continue
            rows = np.flatnonzero(first == u)
            what = _what(pl, rows)
            piece, issue = fenced.get((name, code)), issue_of.get((name, code))
            if empty_geom:
                reason = f"no land: {what} whose cells have no area (drawn on water or outside the area planned?)"
            elif piece is not None and piece["households"] == 0:
                by = ", ".join(piece["fenced_by"]) or "the edge of its community or of the data"
                reason = f"no households: {what} fenced in by {by}, with no other unit to join"
            elif issue is not None:
                reason = f"no households: {what}; {issue['reason']}"
            else:
                reason = f"no households: {what}, with no unit of the same parent to join without crossing a tier-1 or tier-2 line"
            out.append({"level": name, "code": code, "households": int(h), "buildings": int(len(rows)), "reason": reason})
    return out
