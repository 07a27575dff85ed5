"""Turn cell labels of the three levels into the :class:`~gridplan.model.Plan`: polygons, codes, roster, report."""
from __future__ import annotations

import logging
from collections import Counter

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..config import PlanConfig, SizeRange
from ..core.codes import anchor_points, sequence_codes
from ..core.metrics import level_figures
from ..core.graph import CUT_WEIGHT
from ..model import Plan
from ..outputs.parts import parse_run, part_label
from .stable_codes import CodeBook, assign_codes
from ..core.tessellate import GRID_SIZE
from ..core.units import close_gaps, dissolve, largest_polygon, single_polygon, without_fixed
from .pieces import empty_units, fenced_report
from .outlines import SHARE_WIDTH, bridge_parts, fixed_polygons, level_geoms, output_table, trim_to_children
from .planner import Level, Planner

__all__ = ["assemble", "crossing_counts"]

log = logging.getLogger(__name__)

_LEVEL_NAMES = ("community", "grid", "micro")


def _centroids(geoms: np.ndarray) -> np.ndarray:
    return anchor_points(geoms)  # one row per unit, NaN for an empty one (numbered last)


def _near(pl: Planner, cells: np.ndarray, k: int = 3) -> list[str]:
    """Names of the barriers most often along the edge of a set of cells."""
    e = pl.g.edges
    inside = np.zeros(pl.g.n, bool)
    inside[cells] = True
    rim = np.flatnonzero((inside[e[:, 0]] ^ inside[e[:, 1]]) & (pl.cg.edge_barrier >= 0))
    names = [pl.cg.barrier_names(pl.prep.barriers, np.array([i]))[0] for i in rim[:200]]
    return [n for n, _ in Counter(names).most_common(k)]


def _strong_pieces(pl: Planner) -> np.ndarray:
    """The piece of every cell once tier-2 edges are removed (the land between strong roads)."""
    from scipy import sparse
    from scipy.sparse import csgraph

    keep = pl.g.tier != 2
    e = pl.g.edges[keep]
    m = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(pl.g.n, pl.g.n))
    return csgraph.connected_components(m, directed=False)[1]


def _crossings(pl: Planner, labels: np.ndarray, codes: np.ndarray, level: str, piece: np.ndarray) -> list[dict]:
    """Every unit that contains a tier-2 edge, the roads it spans, and whether it joins households from both
    sides of them (``households_across``) or only takes in land without households (a traffic island, the
    strip between two carriageways)."""
    e = pl.g.edges
    same = (labels[e[:, 0]] == labels[e[:, 1]]) & (labels[e[:, 0]] >= 0) & (pl.g.tier == 2)
    out = []
    for unit in np.unique(labels[e[same, 0]]):
        ids = np.flatnonzero(same & (labels[e[:, 0]] == unit))
        cells = np.flatnonzero(labels == unit)
        peopled = {int(p) for p in np.unique(piece[cells]) if pl.g.households[cells[piece[cells] == p]].sum() > 0}
        out.append({"level": level, "code": str(codes[unit]), "tier": 2, "barriers": pl.cg.barrier_names(pl.prep.barriers, ids),
                    "shared_m": round(float(pl.g.cost[ids].sum() / CUT_WEIGHT[2]), 1), "households_across": len(peopled) > 1})
    return out


def crossing_counts(crossings: list[dict]) -> dict[str, int]:
    """The report's ``crossing_counts``: grids and micro-grids holding a tier-2 edge, and those of them that
    join households from both sides.

    >>> crossing_counts([{"level": "grid", "households_across": True}, {"level": "micro", "households_across": False}])
    {'grid': 1, 'micro': 1, 'grid_households_across': 1, 'micro_households_across': 0}
    """
    out = {lvl: sum(1 for c in crossings if c["level"] == lvl) for lvl in ("grid", "micro")}
    out.update({f"{lvl}_households_across": sum(1 for c in crossings if c["level"] == lvl and c["households_across"]) for lvl in ("grid", "micro")})
    return out


def _bounds(level: Level, parent_codes) -> dict | None:
    """Parent code → the lowest CV of its children the atoms allow (see :attr:`Level.cv_bounds`), if known."""
    return None if level.cv_bounds is None else dict(zip(parent_codes, level.cv_bounds))


def _issues(pl: Planner, lev: Level, codes: np.ndarray, parent_codes: np.ndarray, level: str, skip_cells: set[int]) -> list[dict]:
    out = []
    for i in lev.issues:
        cells = np.asarray(i["cells"])
        if len(cells) == 1 and int(cells[0]) in skip_cells:
            continue
        units = np.unique(lev.labels[cells])
        out.append({
            "level": level,
            "parent_code": str(parent_codes[i["parent"]]) if len(parent_codes) else None,
            "codes": [str(codes[u]) for u in units if u >= 0],
            "households": float(i["households"]),
            "near": _near(pl, cells),
            "reason": i["reason"],
            "resolution": i["resolution"],
            "kind": i.get("kind"),
        })
    return out


def _given_out_of_range(comm_t: gpd.GeoDataFrame, size: SizeRange, kept: np.ndarray | bool) -> list[dict]:
    """Given communities kept as drawn whose households are out of range: why (they were kept) and the fix."""
    kept = np.broadcast_to(np.asarray(kept, dtype=bool), (len(comm_t),))
    out = []
    for code, h, k in zip(comm_t["code"].astype(str), comm_t["households"], kept):
        if k and not size.contains(h):
            side = f"above the maximum {size.hi:g}" if h > size.hi else f"below the minimum {size.lo:g}"
            fix = "--redistrict oversized splits it" if h > size.hi else "merge it with a neighbour in the community polygons"
            out.append({"level": "community", "parent_code": code[:9], "codes": [code], "households": float(h), "near": [],
                        "reason": f"a given community kept as drawn: {int(h):,} households, {side}",
                        "resolution": f"kept as given; {fix}", "kind": "given"})
    return out


def _merge_rects(rects: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Entrance × floor rectangles merged while two of them make one rectangle (same floors on
    neighbouring entrances, or the same entrances on consecutive floors).

    >>> _merge_rects([(1, 1, 1, 16), (1, 1, 17, 32), (2, 2, 1, 32)])
    [(1, 2, 1, 32)]
    >>> _merge_rects([(1, 1, 1, 16), (2, 2, 1, 32)])
    [(1, 1, 1, 16), (2, 2, 1, 32)]
    """
    out = sorted(rects)
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(len(out)):
                a, b = out[i], out[j]
                if i == j:
                    continue
                if a[2:] == b[2:] and b[0] == a[1] + 1:
                    new = (a[0], b[1], a[2], a[3])
                elif a[:2] == b[:2] and b[2] == a[3] + 1:
                    new = (a[0], a[1], a[2], b[3])
                else:
                    continue
                out = sorted([r for k, r in enumerate(out) if k not in (i, j)] + [new])
                merged = True
                break
            if merged:
                break
    return out


def _divided_rows(pl: Planner, micro: Level) -> dict[int, list[tuple[int, tuple[int, int, int, int], float, object]]]:
    """Per building that ends up in more than one micro-grid: its rows (micro-grid, rectangle, households,
    footprint slice), one per maximal rectangle of its parts in each micro-grid."""
    at = pl.atoms
    out = {}
    for b in at.divided.tolist():
        nodes = at.nodes_of(b)
        labs = micro.labels[nodes]
        if len(np.unique(labs)) == 1:
            continue  # all its parts in one micro-grid: shown whole
        rows = []
        for m in dict.fromkeys(labs.tolist()):
            mine = nodes[labs == m]
            for r in _merge_rects([tuple(int(x) for x in at.rect[v]) for v in mine]):
                inside = [v for v in mine if r[0] <= at.rect[v][0] and at.rect[v][1] <= r[1] and r[2] <= at.rect[v][2] and at.rect[v][3] <= r[3]]
                geom = shapely.union_all([at.footprint[v] for v in inside], grid_size=GRID_SIZE)
                rows.append((int(m), r, float(at.households[inside].sum()), largest_polygon(geom) if geom.geom_type != "Polygon" else geom))
        out[b] = rows
    return out


def _per_unit_buildings(pl: Planner, labels: np.ndarray, n: int) -> np.ndarray:
    """Distinct buildings in each unit (a divided building counts in every unit holding a part of it)."""
    unit = labels[pl.pair_node]
    keep = unit >= 0
    pairs = np.unique(np.c_[unit[keep], pl.pair_building[keep]], axis=0)
    return np.bincount(pairs[:, 0], minlength=n)


def _child_units(land: np.ndarray, lev: Level, parent_geom: np.ndarray, parent_codes: np.ndarray,
                 book: CodeBook | None, fixed: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The polygons, codes and parent codes of one level's units (grids or micro-grids): fixed ones as given,
    the others dissolved from their nodes' land and closed up so that all tile their parents (a bridging
    strip shared by the units at its ends), coded in reading order (or keeping ``lev.origin`` with a book)."""
    n = len(lev.parent)
    geom = close_gaps(level_geoms(land, lev, n, fixed), lev.parent, parent_geom, frozen=fixed[0], share_width=SHARE_WIDTH)
    parents = parent_codes[lev.parent]
    if book is None:
        codes = sequence_codes(parents, _centroids(geom), shapely.area(geom))
    else:
        codes = assign_codes(parents, _centroids(geom), shapely.area(geom), origin=lev.origin, book=book)
    return geom, codes, parents


def _community_codes(pl: Planner, comm: Level, c_geom: np.ndarray, book: CodeBook | None) -> tuple[np.ndarray, np.ndarray]:
    cfg, given, n_c = pl.cfg, pl.prep.communities, len(c_geom)
    if comm.origin is not None:
        parents = np.asarray(comm.parent_codes or [cfg.street_code] * n_c, dtype=object)
        c_codes = assign_codes(parents, _centroids(c_geom), shapely.area(c_geom), origin=comm.origin, book=book)
    elif given is not None and "code" in given.columns and given["code"].notna().all():
        c_codes = given["code"].astype(str).to_numpy()[pl.community_source]
    else:
        c_codes = sequence_codes([cfg.street_code] * n_c, _centroids(c_geom), shapely.area(c_geom))
    return np.asarray(c_codes, dtype=object), np.array([c[:9] for c in c_codes], dtype=object)


def _unit_table(geoms, codes, parents, hh, nb, cfg: PlanConfig, size: SizeRange, crs, pop, weighted: bool) -> gpd.GeoDataFrame:
    """One level's units; ``in_range`` counts persons when ``weighted`` (population balance), else households."""
    g = np.asarray(geoms, dtype=object)
    counted = np.asarray(pop if weighted else hh, dtype=float)
    return gpd.GeoDataFrame(
        {
            "code": pd.array(codes, dtype="string"),
            "parent_code": pd.array(parents, dtype="string"),
            "households": np.asarray(hh, dtype=np.int64),
            "population": np.rint(np.asarray(pop, dtype=float)).astype(np.int64),
            "buildings": np.asarray(nb, dtype=np.int64),
            "area_m2": np.round(shapely.area(g), 1),
            "perimeter_m": np.round(shapely.length(g), 1),
            "in_range": (counted >= size.lo) & (counted <= size.hi),
        },
        geometry=g,
        crs=crs,
    )


def assemble(pl: Planner, comm: Level, grids: Level, micro: Level, *, start_date: str, version: str, book: CodeBook | None = None) -> Plan:
    """The plan from the three levels. With ``book`` (a re-districting or re-plan), units carrying an
    ``origin`` keep that code and the others take the next free sequence numbers."""
    cfg, prep, tess, b = pl.cfg, pl.prep, pl.tess, pl.b
    crs_work = b.crs
    hh_b = b["households"].to_numpy()

    # ---- communities
    n_c = int(comm.labels.max()) + 1 if (comm.labels >= 0).any() else 0
    land = pl.land
    valid = comm.labels >= 0
    fix = {name: fixed_polygons(lev, n, prep.input_crs, crs_work) for name, lev, n in (("community", comm, n_c), ("grid", grids, len(grids.parent)),
                                                                       ("micro", micro, len(micro.parent)))}
    c_geom = level_geoms(land, comm, n_c, fix["community"])
    given = prep.communities
    bridge_parts(pl, comm, c_geom, fix["community"][0])
    c_geom = close_gaps(c_geom, frozen=fix["community"][0])
    n_g, n_m = len(grids.parent), len(micro.parent)
    trimmed = trim_to_children(c_geom, fix["community"][0], level_geoms(land, grids, n_g, fix["grid"]), grids.parent)
    c_codes, c_parent = _community_codes(pl, comm, c_geom, book)

    # ---- grids and micro-grids; a divided building has one roster row per rectangle of its parts in each micro-grid
    g_geom, g_codes, g_parent = _child_units(land, grids, c_geom, c_codes, book, fix["grid"])
    m_geom, mm_codes, mm_parent = _child_units(land, micro, g_geom, g_codes, book, fix["micro"])
    at = pl.atoms
    rows_of = _divided_rows(pl, micro)
    heavy_cells = {int(pl.node_of_building[bi]) for bi in at.undivided}
    m_hh = np.bincount(micro.labels[valid], weights=at.households[valid], minlength=n_m)
    undivided_heavy = [{"parent_code": str(mm_parent[micro.labels[pl.node_of_building[bi]]]),
                        "codes": [str(mm_codes[micro.labels[pl.node_of_building[bi]]])],
                        "building_id": str(b["building_id"].iloc[bi]), "households": int(hh_b[bi]),
                        "reason": f"one building of {int(hh_b[bi]):,} households, not divided: {why}",
                        "resolution": "kept as one micro-grid above the maximum", "kind": "counting"}
                       for bi, why in sorted(at.undivided.items()) if m_hh[micro.labels[pl.node_of_building[bi]]] > cfg.micro.hi]
    divided = []
    for bi, rows in rows_of.items():
        nodes = at.nodes_of(bi)
        by_level = {name: sorted({str(codes[lev.labels[v]]) for v in nodes})
                    for name, lev, codes in (("community", comm, c_codes), ("grid", grids, g_codes), ("micro", micro, mm_codes))}
        divided.append({"building_id": str(b["building_id"].iloc[bi]), "households": int(hh_b[bi]), "parts": len(rows),
                        "by": "entrance and floor" if any(r[1][2] > 1 or r[1][3] < int(b["levels"].iloc[bi]) for r in rows) else "entrance",
                        "part_households": [int(round(r[2])) for r in rows],
                        "levels_divided": [k for k in ("community", "grid", "micro") if len(by_level[k]) > 1],
                        "by_level": by_level})

    # ---- roster
    id_field = prep.id_field
    keys = (id_field, "households", "community_code", "grid_code", "micro_code", "part", "entrances", "floors", "geometry")
    rows = []
    for bi in range(len(b)):
        if bi in rows_of:
            levels_b = int(b["levels"].iloc[bi])
            for k, (m, r, h, geom) in enumerate(rows_of[bi], start=1):
                g_unit = micro.parent[m]
                rows.append((str(b["building_id"].iloc[bi]), int(round(h)), c_codes[grids.parent[g_unit]], g_codes[g_unit], mm_codes[m], k,
                             f"{r[0]}-{r[1]}", "" if (r[2], r[3]) == (1, levels_b) else f"{r[2]}-{r[3]}", geom))
        else:
            v = pl.node_of_building[bi]
            rows.append((str(b["building_id"].iloc[bi]), int(hh_b[bi]), c_codes[comm.labels[v]], g_codes[grids.labels[v]],
                         mm_codes[micro.labels[v]], 0, "", "", b.geometry.iloc[bi]))
    rec = {k: list(col) for k, col in zip(keys, zip(*rows))} if rows else {k: [] for k in keys}
    roster = gpd.GeoDataFrame(rec, geometry="geometry", crs=crs_work)
    shape = b.set_index("building_id")
    units_of = shape["units"].reindex(roster[id_field]).to_numpy() if "units" in b.columns else [None] * len(roster)
    levels_of = shape["levels"].reindex(roster[id_field]).to_numpy() if "levels" in b.columns else [None] * len(roster)
    roster["part_label"] = [part_label([(parse_run(e), parse_run(f))], units=u, levels=lv) if k else ""
                            for k, e, f, u, lv in zip(roster["part"], roster["entrances"], roster["floors"], units_of, levels_of)]
    for col in ("units_source", "levels_source", "compound", "name", "address", "building", "compound_name"):
        if col in b.columns:
            roster[col] = shape[col].reindex(roster[id_field]).to_numpy()
    for col in (id_field, "community_code", "grid_code", "micro_code"):
        roster[col] = roster[col].astype("string")
    roster["households"] = roster["households"].astype(np.int64)

    # ---- unit tables
    def per_unit(lev: Level, n: int, values: np.ndarray) -> np.ndarray:
        return np.bincount(lev.labels[valid], weights=values[valid], minlength=n)

    c_hh, g_hh = per_unit(comm, n_c, at.households), per_unit(grids, n_g, at.households)
    weighted = cfg.balance == "population"
    pop = pl.atoms_population()
    comm_t = _unit_table(c_geom, c_codes, c_parent, c_hh, _per_unit_buildings(pl, comm.labels, n_c), cfg, cfg.community, crs_work,
                         per_unit(comm, n_c, pop), weighted)
    if comm.names is not None:
        comm_t.insert(2, "name", pd.array(comm.names, dtype="string"))
    elif given is not None and "name" in given.columns:
        comm_t.insert(2, "name", given["name"].to_numpy()[pl.community_source])
    grid_t = _unit_table(g_geom, g_codes, g_parent, g_hh, _per_unit_buildings(pl, grids.labels, n_g), cfg, cfg.grid, crs_work,
                         per_unit(grids, n_g, pop), weighted)
    micro_t = _unit_table(m_geom, mm_codes, mm_parent, m_hh, _per_unit_buildings(pl, micro.labels, n_m), cfg, cfg.micro, crs_work,
                          per_unit(micro, n_m, pop), weighted)
    for t in (comm_t, grid_t, micro_t):
        t["start_date"] = [book.start_of(c, start_date) for c in t["code"]] if book is not None else start_date

    # ---- report
    multipart = {name: [str(c) for c, g in zip(t["code"], t.geometry) if g.geom_type != "Polygon"] for name, t in (("community", comm_t), ("grid", grid_t), ("micro", micro_t))}
    excluded_area = float(shapely.area(land[pl.excluded]).sum())
    piece = _strong_pieces(pl)
    report = {
        "gridplan_version": version,
        "seed": cfg.seed,
        "start_date": start_date,
        "parameters": {
            "community_size": str(cfg.community), "grid_size": str(cfg.grid), "micro_size": str(cfg.micro),
            "community_target": cfg.community.target, "grid_target": cfg.grid.target, "micro_target": cfg.micro.target,
            "persons_per_household": cfg.persons_per_household, "street_code": cfg.street_code,
            "communities_given": given is not None, "id_field": id_field,
            "balance": cfg.balance, "ranges_count": "persons" if weighted else "households",
        },
        "input": {
            "buildings": int(len(b)), "households": int(hh_b.sum()),
            "household_source": {str(k): int(v) for k, v in b["household_source"].value_counts().sort_index().items()} if "household_source" in b.columns else {},
            "barriers_by_tier": {str(k): int(v) for k, v in prep.barriers["tier"].value_counts().sort_index().items()} if len(prep.barriers) else {},
            "input_crs": prep.input_crs.to_string(), "work_crs": prep.work_crs.to_string(),
            "notes": list(prep.notes),
            "division_estimates": getattr(prep, "division_estimates", {}),
            "cells": int(pl.atoms.n_cells), "nodes": int(pl.g.n), "blocks": int(len(tess.blocks)), "adjacencies": int(len(pl.g.edges)),
        },
        "levels": {
            "community": level_figures(c_hh, c_parent, cfg.community, c_geom),
            "grid": level_figures(g_hh, g_parent, cfg.grid, g_geom, bounds=_bounds(grids, c_codes)),
            "micro": level_figures(m_hh, mm_parent, cfg.micro, m_geom, bounds=_bounds(micro, g_codes)),
        },
        "crossings": _crossings(pl, grids.labels, g_codes, "grid", piece) + _crossings(pl, micro.labels, mm_codes, "micro", piece),
        "infeasible": (
            _issues(pl, comm, c_codes, np.array([cfg.street_code]), "community", set())
            + _issues(pl, grids, g_codes, c_codes, "grid", set())
            + _issues(pl, micro, mm_codes, g_codes, "micro", heavy_cells)
            + [dict(level="micro", near=[], **d) for d in undivided_heavy]
            + _given_out_of_range(comm_t, cfg.community, given is not None if comm.origin is None
                                  else np.array([o is not None for o in comm.origin], dtype=bool))
        ),
        "divided_buildings": divided,
        "not_single_polygon": {k: v for k, v in multipart.items() if v},
        "excluded_land": {"cells": int(pl.excluded.sum()), "area_m2": round(excluded_area, 1),
                          "why": "land with no building that hard barriers cut off from every building (e.g. a median strip)"},
    }
    report["trimmed_communities"] = [
        {"code": str(c_codes[t["index"]]), "area_m2": t["area_m2"],
         "why": "a kept community drawn over land no grid may hold (water, a rail or motorway corridor, land cut off from every "
                "building): its polygon is the given one less that land, so that its grids tile it without crossing a tier-1 line"}
        for t in trimmed]
    report["fenced_pieces"] = fenced_report(pl, comm.labels if given is not None else None, (("community", comm.labels, c_codes),
                                          ("grid", grids.labels, g_codes), ("micro", micro.labels, mm_codes)))
    report["empty_units"] = empty_units(pl, report, (("community", comm.labels, comm_t), ("grid", grids.labels, grid_t),
                                                     ("micro", micro.labels, micro_t)))
    # every unit out of range is listed, whether or not it belongs to a piece reported above
    covered = {c for i in report["infeasible"] for c in i.get("codes", [])}
    kinds = {(i["level"], c): i.get("kind") for i in report["infeasible"] for c in i.get("codes", [])}
    report["out_of_range"] = [
        {"level": lvl, "code": str(code), "households": int(h), "range": str(size),
         "explained_in_infeasible": str(code) in covered, "kind": kinds.get((lvl, str(code)))}
        for lvl, t, size in (("community", comm_t, cfg.community), ("grid", grid_t, cfg.grid), ("micro", micro_t, cfg.micro))
        for code, h in zip(t["code"], t["households"]) if not size.contains(h)
    ]
    report.update(getattr(pl, "extra_report", {}))
    report["crossing_counts"] = crossing_counts(report["crossings"])
    if n_c > 199:
        report.setdefault("warnings", []).append(f"{n_c} communities under one street code: sequences above 199 are village codes (200–399) in the statistical standard; give each street office its own --street-code")

    keep_cols = [c for c in ("building_id", "households", "population", "units", "levels", "units_source", "levels_source", "compound",
                             "household_source", "name", "address", "building", "compound_name") if c in b.columns]
    inputs = b[keep_cols + ["geometry"]].rename(columns={"building_id": id_field}).copy()
    out_crs = prep.input_crs
    return Plan(
        communities=output_table(comm_t, comm, fix["community"][0], out_crs), grids=output_table(grid_t, grids, fix["grid"][0], out_crs),
        micro_grids=output_table(micro_t, micro, fix["micro"][0], out_crs),
        buildings=roster.to_crs(out_crs), report=report, input_buildings=inputs.to_crs(out_crs),
        input_barriers=prep.barriers.to_crs(out_crs), config=cfg, id_field=id_field,
    )
