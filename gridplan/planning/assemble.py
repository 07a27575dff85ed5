"""Turn cell labels of the three levels into the :class:`~gridplan.model.Plan`: polygons, codes, roster, report."""
from __future__ import annotations

import logging
from collections import Counter

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..config import PlanConfig, SizeRange
from ..core.codes import sequence_codes
from ..core.divide import divide_building, part_polygons
from ..core.metrics import level_figures
from ..core.graph import CUT_WEIGHT
from ..model import Plan
from .stable_codes import CodeBook, assign_codes
from ..core.tessellate import GRID_SIZE
from ..core.units import close_gaps, dissolve, single_polygon
from .planner import Level, Planner, components

__all__ = ["assemble"]

log = logging.getLogger(__name__)

_LEVEL_NAMES = ("community", "grid", "micro")
#: Half the width (m) of the strip that joins the parts of a community cut apart by a hard corridor.
_BRIDGE_HALF_WIDTH = 1.5


def _centroids(geoms: np.ndarray) -> np.ndarray:
    return shapely.get_coordinates(shapely.point_on_surface(geoms)) if len(geoms) else np.zeros((0, 2))


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


def _row_origin(micro: Level, rows_unit: list[int]) -> list | None:
    """Per micro-grid row, the code it keeps: a kept unit's code, or the k-th part code of a kept divided building."""
    if micro.origin is None:
        return None
    out, seen, total = [], Counter(), Counter(rows_unit)
    for m in rows_unit:
        o = micro.origin[m] if m < len(micro.origin) else None
        k = seen[m]
        seen[m] += 1
        n_rows = total[m]
        if isinstance(o, tuple):
            out.append(o[k] if len(o) == n_rows else None)
        else:
            out.append(o if n_rows == 1 else None)
    return out


def _isolate_heavy(pl: Planner, micro: Level) -> None:
    """A micro-grid holding one building too big for it, plus buildings with no households, is split:
    the big building keeps its cell and the bare land around it (to be divided by entrance/floor), each
    connected group of the other buildings becomes a micro-grid of its own."""
    cell_of_b = pl.tess.cell_of_building
    hh_b = pl.b["households"].to_numpy()
    heavy = np.flatnonzero(hh_b > pl.cfg.micro.hi)
    parent = list(micro.parent)
    for bi in heavy:
        c = cell_of_b[bi]
        m = micro.labels[c]
        cells = np.flatnonzero(micro.labels == m)
        others = cells[(cells != c) & (pl.bld_per_cell[cells] > 0)]
        if not len(others) or (cell_of_b == c).sum() > 1:
            continue
        for comp in components(pl.g, cells[cells != c]):
            if pl.bld_per_cell[comp].sum() > 0:
                micro.labels[comp] = len(parent)
                parent.append(micro.parent[m])
    if micro.origin is not None and len(parent) > len(micro.origin):
        micro.origin = list(micro.origin) + [None] * (len(parent) - len(micro.origin))
    micro.parent = np.asarray(parent, dtype=np.int64)


def _bridge_parts(pl: Planner, comm: Level, c_geom: np.ndarray) -> None:
    """A community whose cells a hard corridor cuts apart (old communities straddle rivers and railways)
    gets a narrow strip of the land no cell covers, along the shortest line between its parts, so it stays
    one Polygon. Grids never cross the corridor; the strip belongs to no other unit, so nothing overlaps."""
    cells = pl.tess.cells
    tree = shapely.STRtree(cells)
    taken: list = []  # strips already given to a community
    for c in range(len(c_geom)):
        geom = c_geom[c]
        for _ in range(20):
            if geom.geom_type != "MultiPolygon":
                break
            parts = sorted(shapely.get_parts(geom), key=lambda g: g.area)
            line = shapely.shortest_line(parts[0], shapely.union_all(parts[1:]))
            patch = shapely.buffer(line, _BRIDGE_HALF_WIDTH)
            near = tree.query(patch, predicate="intersects")
            near = near[(comm.labels[near] != c) & (comm.labels[near] >= 0)]
            if len(near):
                patch = shapely.difference(patch, shapely.union_all(cells[near], grid_size=GRID_SIZE), grid_size=GRID_SIZE)
            if taken:
                patch = shapely.difference(patch, shapely.union_all(taken, grid_size=GRID_SIZE), grid_size=GRID_SIZE)
            merged = single_polygon(shapely.union(geom, patch, grid_size=GRID_SIZE))
            if len(shapely.get_parts(merged)) >= len(parts):
                break
            geom = merged
            taken.append(patch)
        c_geom[c] = geom


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


def _unit_table(geoms, codes, parents, hh, nb, cfg: PlanConfig, size: SizeRange, crs) -> gpd.GeoDataFrame:
    g = np.asarray(geoms, dtype=object)
    return gpd.GeoDataFrame(
        {
            "code": pd.array(codes, dtype="string"),
            "parent_code": pd.array(parents, dtype="string"),
            "households": np.asarray(hh, dtype=np.int64),
            "population": np.rint(np.asarray(hh, dtype=float) * cfg.persons_per_household).astype(np.int64),
            "buildings": np.asarray(nb, dtype=np.int64),
            "area_m2": np.round(shapely.area(g), 1),
            "perimeter_m": np.round(shapely.length(g), 1),
            "in_range": (np.asarray(hh) >= size.lo) & (np.asarray(hh) <= size.hi),
        },
        geometry=g,
        crs=crs,
    )


def assemble(pl: Planner, comm: Level, grids: Level, micro: Level, *, start_date: str, version: str, book: CodeBook | None = None) -> Plan:
    """The plan from the three levels. With ``book`` (a re-districting or re-plan), units carrying an
    ``origin`` keep that code and the others take the next free sequence numbers."""
    cfg, prep, tess, b = pl.cfg, pl.prep, pl.tess, pl.b
    crs_work = b.crs
    cells = tess.cells
    hh_cell = pl.g.households
    cell_of_b = tess.cell_of_building
    hh_b = b["households"].to_numpy()

    # ---- communities
    n_c = int(comm.labels.max()) + 1 if (comm.labels >= 0).any() else 0
    c_geom = dissolve(cells, np.where(comm.labels >= 0, comm.labels, n_c), n_c + 1)[:n_c]
    given = prep.communities
    _bridge_parts(pl, comm, c_geom)
    c_geom = close_gaps(c_geom)
    c_codes, c_parent = _community_codes(pl, comm, c_geom, book)

    # ---- grids
    n_g = len(grids.parent)
    g_geom = dissolve(cells, np.where(grids.labels >= 0, grids.labels, n_g), n_g + 1)[:n_g]
    g_geom = close_gaps(g_geom, grids.parent, c_geom)
    g_parent = c_codes[grids.parent]
    if book is None:
        g_codes = sequence_codes(g_parent, _centroids(g_geom), shapely.area(g_geom))
    else:
        g_codes = assign_codes(g_parent, _centroids(g_geom), shapely.area(g_geom), origin=grids.origin, book=book)

    # ---- micro-grids, with divided buildings
    _isolate_heavy(pl, micro)
    n_m = len(micro.parent)
    m_geom = dissolve(cells, np.where(micro.labels >= 0, micro.labels, n_m), n_m + 1)[:n_m]
    m_geom = close_gaps(m_geom, micro.parent, g_geom)
    b_micro = micro.labels[cell_of_b]
    valid = micro.labels >= 0
    m_hh = np.bincount(micro.labels[valid], weights=hh_cell[valid], minlength=n_m)
    per_unit = pd.Series(np.arange(len(b))).groupby(b_micro).apply(list).to_dict()
    rows_geom, rows_grid, rows_hh, rows_nb, rows_unit = [], [], [], [], []
    parts_of_b: dict[int, list[tuple[int, object, int, str, str]]] = {}
    divided, undivided_heavy = [], []
    heavy_cells: set[int] = set()
    for m in range(n_m):
        members = per_unit.get(m, [])
        parts = []
        if len(members) == 1 and hh_b[members[0]] > cfg.micro.hi:
            bi = members[0]
            heavy_cells.add(int(cell_of_b[bi]))
            parts = divide_building(hh_b[bi], units=b["units"].iloc[bi], levels=b["levels"].iloc[bi], size=cfg.micro)
            why = "no entrance (units) or floor (levels) data to divide it by"
            u = int(b["units"].iloc[bi]) if np.isfinite(b["units"].iloc[bi]) else 1
            drawn = part_polygons(m_geom[m], b.geometry.iloc[bi], u, parts) if parts else None
            if parts and drawn is None:
                parts, why = [], "its footprint does not lie on its micro-grid's land, so its parts cannot be drawn"
            if not parts:
                undivided_heavy.append({"building_id": str(b["building_id"].iloc[bi]), "households": int(hh_b[bi]),
                                        "reason": why, "resolution": "kept as one micro-grid above the maximum"})
        if parts:
            polys, part_slices = drawn
            rows_part = []
            for p, poly, sl in zip(parts, polys, part_slices):
                rows_geom.append(poly)
                rows_grid.append(micro.parent[m])
                rows_hh.append(p.households)
                rows_nb.append(1)
                rows_unit.append(m)
                ent = f"{p.entrances[0]}-{p.entrances[1]}" if p.entrances else ""
                fl = f"{p.floors[0]}-{p.floors[1]}" if p.floors else ""
                rows_part.append((len(rows_geom) - 1, sl, p.households, ent, fl))
            parts_of_b[bi] = rows_part
            divided.append({"building_id": str(b["building_id"].iloc[bi]), "households": int(hh_b[bi]), "parts": len(parts),
                            "by": "entrance and floor" if any(p.floors for p in parts) else "entrance",
                            "part_households": [p.households for p in parts]})
        else:
            rows_geom.append(m_geom[m])
            rows_grid.append(micro.parent[m])
            rows_hh.append(float(m_hh[m]))
            rows_nb.append(len(members))
            rows_unit.append(m)
    rows_grid = np.asarray(rows_grid, dtype=np.int64)
    rows_geom = np.asarray(rows_geom, dtype=object)
    mm_parent = g_codes[rows_grid]
    if book is None:
        mm_codes = sequence_codes(mm_parent, _centroids(rows_geom), shapely.area(rows_geom))
    else:
        mm_codes = assign_codes(mm_parent, _centroids(rows_geom), shapely.area(rows_geom), origin=_row_origin(micro, rows_unit), book=book)
    first_row_of_unit = pd.Series(np.arange(len(rows_unit))).groupby(np.asarray(rows_unit)).first().to_numpy()
    m_codes_unit = mm_codes[first_row_of_unit]

    # ---- roster
    id_field = prep.id_field
    rec = {id_field: [], "households": [], "community_code": [], "grid_code": [], "micro_code": [], "part": [], "entrances": [], "floors": [], "geometry": []}
    for bi in range(len(b)):
        c = cell_of_b[bi]
        gl = grids.labels[c]
        base = (str(b["building_id"].iloc[bi]), c_codes[comm.labels[c]], g_codes[gl])
        if bi in parts_of_b:
            for k, (row, geom, h, ent, fl) in enumerate(parts_of_b[bi], start=1):
                for key, val in zip((id_field, "households", "community_code", "grid_code", "micro_code", "part", "entrances", "floors", "geometry"),
                                    (base[0], h, base[1], base[2], mm_codes[row], k, ent, fl, geom)):
                    rec[key].append(val)
        else:
            for key, val in zip((id_field, "households", "community_code", "grid_code", "micro_code", "part", "entrances", "floors", "geometry"),
                                (base[0], int(hh_b[bi]), base[1], base[2], m_codes_unit[micro.labels[c]], 0, "", "", b.geometry.iloc[bi])):
                rec[key].append(val)
    roster = gpd.GeoDataFrame(rec, geometry="geometry", crs=crs_work)
    for col in ("name", "compound", "compound_name", "building"):
        if col in b.columns:
            roster[col] = b.set_index("building_id")[col].reindex(roster[id_field]).to_numpy()
    for col in (id_field, "community_code", "grid_code", "micro_code"):
        roster[col] = roster[col].astype("string")
    roster["households"] = roster["households"].astype(np.int64)

    # ---- unit tables
    def nbuild(labels_b, n):
        return np.bincount(labels_b, minlength=n)

    c_hh = np.bincount(comm.labels[cell_of_b], weights=hh_b, minlength=n_c)
    g_hh = np.bincount(grids.labels[cell_of_b], weights=hh_b, minlength=n_g)
    comm_t = _unit_table(c_geom, c_codes, c_parent, c_hh, nbuild(comm.labels[cell_of_b], n_c), cfg, cfg.community, crs_work)
    if comm.names is not None:
        comm_t.insert(2, "name", pd.array(comm.names, dtype="string"))
    elif given is not None and "name" in given.columns:
        comm_t.insert(2, "name", given["name"].to_numpy()[pl.community_source])
    grid_t = _unit_table(g_geom, g_codes, g_parent, g_hh, nbuild(grids.labels[cell_of_b], n_g), cfg, cfg.grid, crs_work)
    micro_t = _unit_table(rows_geom, mm_codes, mm_parent, rows_hh, rows_nb, cfg, cfg.micro, crs_work)
    for t in (comm_t, grid_t, micro_t):
        t["start_date"] = [book.start_of(c, start_date) for c in t["code"]] if book is not None else start_date

    # ---- report
    multipart = {name: [str(c) for c, g in zip(t["code"], t.geometry) if g.geom_type != "Polygon"] for name, t in (("community", comm_t), ("grid", grid_t), ("micro", micro_t))}
    excluded_area = float(shapely.area(cells[pl.excluded]).sum())
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
        },
        "input": {
            "buildings": int(len(b)), "households": int(hh_b.sum()),
            "household_source": {str(k): int(v) for k, v in b["household_source"].value_counts().sort_index().items()} if "household_source" in b.columns else {},
            "barriers_by_tier": {str(k): int(v) for k, v in prep.barriers["tier"].value_counts().sort_index().items()} if len(prep.barriers) else {},
            "input_crs": prep.input_crs.to_string(), "work_crs": prep.work_crs.to_string(),
            "notes": list(prep.notes),
            "cells": int(pl.g.n), "blocks": int(len(tess.blocks)), "adjacencies": int(len(pl.g.edges)),
        },
        "levels": {
            "community": level_figures(c_hh, c_parent, cfg.community, c_geom),
            "grid": level_figures(g_hh, g_parent, cfg.grid, g_geom, bounds=_bounds(grids, c_codes)),
            "micro": level_figures(rows_hh, mm_parent, cfg.micro, rows_geom, bounds=_bounds(micro, g_codes)),
        },
        "crossings": _crossings(pl, grids.labels, g_codes, "grid", piece) + _crossings(pl, micro.labels, m_codes_unit, "micro", piece),
        "infeasible": (
            _issues(pl, comm, c_codes, np.array([cfg.street_code]), "community", set())
            + _issues(pl, grids, g_codes, c_codes, "grid", set())
            + _issues(pl, micro, m_codes_unit, g_codes, "micro", heavy_cells)
            + [dict(level="micro", **d) for d in undivided_heavy]
        ),
        "divided_buildings": divided,
        "not_single_polygon": {k: v for k, v in multipart.items() if v},
        "excluded_land": {"cells": int(pl.excluded.sum()), "area_m2": round(excluded_area, 1),
                          "why": "land with no building that hard barriers cut off from every building (e.g. a median strip)"},
    }
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
    report["crossing_counts"] = {lvl: sum(1 for c in report["crossings"] if c["level"] == lvl) for lvl in ("grid", "micro")}
    report["crossing_counts"].update({f"{lvl}_households_across": sum(1 for c in report["crossings"] if c["level"] == lvl and c["households_across"]) for lvl in ("grid", "micro")})
    if n_c > 199:
        report.setdefault("warnings", []).append(f"{n_c} communities under one street code: sequences above 199 are village codes (200–399) in the statistical standard; give each street office its own --street-code")

    keep_cols = [c for c in ("building_id", "households", "units", "levels", "compound", "household_source", "building", "name") if c in b.columns]
    inputs = b[keep_cols + ["geometry"]].rename(columns={"building_id": id_field}).copy()
    out_crs = prep.input_crs
    return Plan(
        communities=comm_t.to_crs(out_crs), grids=grid_t.to_crs(out_crs), micro_grids=micro_t.to_crs(out_crs),
        buildings=roster.to_crs(out_crs), report=report, input_buildings=inputs.to_crs(out_crs),
        input_barriers=prep.barriers.to_crs(out_crs), config=cfg, id_field=id_field,
    )
