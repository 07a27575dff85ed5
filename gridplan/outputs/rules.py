"""The validation report: every rule of DOMAIN.md checked on every unit, pass / warn / fail.

One row per unit and rule (:data:`RULES` lists them with their basis), plus rows for the whole plan
(``level='plan'``). A rule that is law or a standard fails; a rule that is practice or our proposal
warns where DOMAIN.md allows exceptions (a reported tier-2 crossing, a sibling CV above 0.10, a split
compound, a building bigger than a micro-grid with no entrance/floor data, a divided building that
``report.json`` does not list). A building may be divided between communities, grids and micro-grids
only into declared parts; units holding parts of it may overlap only on its footprint. Every unit out
of range says its shortfall's proof kind (:data:`PROOF_WORDING`) when ``report.json`` gives one.

Examples
--------
>>> sorted(RULES)[:3]
['balance_cv', 'building_not_split', 'children_tile_parent']
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import shapely

from ..core.metrics import cv_within_parent
from ..errors import plural
from ..model import LAYER_NAMES, Plan
from .tables import metric_crs

__all__ = ["RULES", "PROOF_WORDING", "validation_report", "shortfall_detail", "summary", "failed_rules", "failed_rules_text"]

RULES: dict[str, tuple[str, str]] = {
    "size_in_range": ("households within the level's range (community 1,000–3,000: over is oversized)", "law / practice, DOMAIN §2"),
    "balance_cv": ("coefficient of variation of households among the parent's children ≤ 0.10", "proposal, DOMAIN §2"),
    "single_polygon": ("the unit is one valid, non-empty polygon (contiguous)", "std, DOMAIN §1"),
    "code_format": ("12/15/18 digits, extending the parent's code, unique", "std, DOMAIN §4"),
    "nested_in_parent": ("the parent exists and the unit lies inside it", "std DB6101/T 3185-2024 §5.2b"),
    "no_sibling_overlap": ("no overlap with siblings, except on the footprint of a building both hold parts of", "std DB11/T 2157-2023"),
    "children_tile_parent": ("the children cover the unit with no gap (无缝覆盖)", "std DB11/T 2157-2023"),
    "tier1_not_crossed": ("no motorway, trunk, railway, river or water area crosses the unit", "practice, DOMAIN §3"),
    "tier2_crossing": ("primary/secondary roads crossed only where reported as needed", "practice, DOMAIN §3"),
    "roster_agrees": ("the roster's households and buildings add up to the unit's", "DOMAIN §5"),
    "building_not_split": ("a building is split between units only into declared parts (part ≥ 1 on every row) whose households "
                           "add up to the building's, each listed in report.json divided_buildings", "practice, DOMAIN §3"),
    "compound_kept_whole": ("a gated compound that fits in one grid is not split", "practice, DOMAIN §3"),
    "every_building_assigned": ("every building in the roster has a community, grid and micro-grid code", "DOMAIN §1"),
}
"""Rule id → (what it checks, its basis)."""

_CODE_LEN = {"community": 12, "grid": 15, "micro": 18}
_PARENT = {"grid": "community", "micro": "grid"}
_CHILD = {"community": "grid", "grid": "micro"}
_ROSTER_CODE = {"community": "community_code", "grid": "grid_code", "micro": "micro_code"}
_AREA_TOL_M2 = 1.0


def _row(rows: list, level: str, code: str, rule: str, status: str, value="", limit="", detail: str = "") -> None:
    rows.append({"level": level, "code": code, "rule": rule, "status": status, "value": value, "limit": limit,
                 "basis": RULES[rule][1], "detail": detail})


def validation_report(plan: Plan, *, cv_max: float = 0.10, area_tol_m2: float = _AREA_TOL_M2) -> pd.DataFrame:
    """Check every rule of :data:`RULES` on every unit of ``plan``.

    Parameters
    ----------
    plan
        The plan to check.
    cv_max
        The largest coefficient of variation of households among siblings that passes.
    area_tol_m2
        Areas (gaps, overlaps, parts outside the parent) up to this many m² count as none.

    Returns
    -------
    pandas.DataFrame
        Columns ``level``, ``code``, ``rule``, ``status`` (``pass``/``warn``/``fail``), ``value``,
        ``limit``, ``basis``, ``detail``; codes as text.
    """
    crs = metric_crs(plan.communities)
    layers = {lv: getattr(plan, attr).to_crs(crs) for lv, attr in LAYER_NAMES.items()}
    geoms = {lv: dict(zip(g["code"].astype(str), g.geometry)) for lv, g in layers.items()}
    crossings = defaultdict(list)
    for c in plan.report.get("crossings", []):
        crossings[(c.get("level"), str(c.get("code")))].extend(c.get("barriers", []))
    explained = {(o.get("level"), str(o.get("code"))): o for o in plan.report.get("out_of_range", [])}
    pieces = {}
    for piece in plan.report.get("infeasible", []):
        for code in piece.get("codes", []):
            pieces[(piece.get("level"), str(code))] = piece
    barriers = plan.input_barriers.to_crs(crs) if plan.input_barriers is not None and len(plan.input_barriers) else None
    tiers = _tier_lines(barriers)
    b = plan.buildings
    parts = b.loc[pd.to_numeric(b["part"], errors="coerce").fillna(0) > 0].to_crs(crs)
    parts = parts.assign(_id=parts[plan.id_field].astype(str))
    footprints = {bid: shapely.union_all(np.asarray(g.geometry.array, dtype=object)) for bid, g in parts.groupby("_id")}
    rows: list[dict] = []
    for level, units in layers.items():
        size = plan.config.size(level)
        codes = units["code"].astype(str).to_numpy()
        parents = units["parent_code"].astype(str).to_numpy()
        hh = units["households"].astype(float).to_numpy()
        cv = cv_within_parent(hh, parents)
        dup = set(pd.Series(codes)[pd.Series(codes).duplicated()])
        roster_code = b[_ROSTER_CODE[level]].astype(str)
        roster_hh = b["households"].astype(float).groupby(roster_code).sum()
        roster_n = b.groupby(roster_code)[plan.id_field].nunique()
        divided_in = set(parts[_ROSTER_CODE[level]].astype(str))
        held = parts.groupby(parts[_ROSTER_CODE[level]].astype(str))["_id"].agg(frozenset).to_dict()
        garr = np.asarray(units.geometry.array, dtype=object)
        n_buildings = units["buildings"].astype(int).to_numpy()
        kids_of = defaultdict(list)
        if level in _CHILD:
            child = layers[_CHILD[level]]
            for k, pc in zip(child["code"].astype(str), child["parent_code"].astype(str)):
                kids_of[pc].append(geoms[_CHILD[level]][k])
        tree = shapely.STRtree(garr)
        for i, (code, parent, h, g) in enumerate(zip(codes, parents, hh, garr)):
            # size
            ok = size.lo <= h <= size.hi
            one_building = level == "micro" and h > size.hi and roster_n.get(code, 0) == 1 and code not in divided_in
            status = "pass" if ok else "warn" if one_building else "fail"
            note = _size_note(level, code, h, size, pieces, explained, one_building=one_building)
            _row(rows, level, code, "size_in_range", status, h, str(size), note)
            c = float(cv.get(parent, 0.0))
            _row(rows, level, code, "balance_cv", "pass" if c <= cv_max + 1e-9 else "warn", round(c, 4), cv_max,
                 "" if c <= cv_max + 1e-9 else f"households among the children of {parent} vary by CV {c:.2f}")
            single = g is not None and not g.is_empty and g.geom_type == "Polygon" and g.is_valid
            _row(rows, level, code, "single_polygon", "pass" if single else "fail", "" if g is None else g.geom_type,
                 "Polygon", "" if single else "not one valid polygon: the unit is not contiguous or its ring is invalid")
            problems = []
            if not (code.isascii() and code.isdigit() and len(code) == _CODE_LEN[level]):
                problems.append(f"expected {_CODE_LEN[level]} digits")
            if not code.startswith(parent):
                problems.append(f"does not extend its parent code {parent}")
            if code in dup:
                problems.append("used by more than one unit")
            _row(rows, level, code, "code_format", "fail" if problems else "pass", code, f"{_CODE_LEN[level]} digits", "; ".join(problems))
            _nesting(rows, level, code, parent, g, geoms, area_tol_m2, plan.config.street_code)
            _sibling_overlap(rows, level, codes, i, parents, garr, tree, held, footprints, area_tol_m2)
            if level in _CHILD:
                kids = kids_of.get(code, [])
                gap = g.difference(shapely.union_all(kids)).area if kids else g.area
                _row(rows, level, code, "children_tile_parent", "pass" if gap <= area_tol_m2 else "fail", round(gap, 1), area_tol_m2,
                     "" if gap <= area_tol_m2 else f"{gap:,.0f} m² not covered by any {_CHILD[level]}")
            _crossings(rows, level, code, g, tiers, crossings.get((level, code), []))
            rh, rn = float(roster_hh.get(code, 0.0)), int(roster_n.get(code, 0))
            ok = abs(rh - h) < 1e-6 and rn == n_buildings[i]
            _row(rows, level, code, "roster_agrees", "pass" if ok else "fail", f"{rh:g} households, {rn} buildings",
                 f"{h:g} households, {n_buildings[i]} buildings", "" if ok else "the roster and the unit disagree")
    _building_rules(rows, plan)
    return pd.DataFrame(rows, columns=["level", "code", "rule", "status", "value", "limit", "basis", "detail"])


#: How each kind of shortfall proof reads in the validation report.
PROOF_WORDING = {
    "counting": "counting proof",
    "exact": "exact search: no contiguous plan in range exists",
    "limit": "no plan found within the limit",
}


def shortfall_detail(entry: dict) -> str:
    """The validation report's detail for an ``infeasible`` or ``out_of_range`` entry of ``report.json``:
    its proof kind, then its reason. Plans written before proof kinds existed read as before.

    >>> shortfall_detail({"kind": "counting", "reason": "550 households: 1 unit(s) would be too big, 2 too small"})
    'counting proof: 550 households: 1 unit(s) would be too big, 2 too small'
    >>> shortfall_detail({"reason": "fenced in"})
    'fenced in'
    """
    kind, reason = entry.get("kind"), str(entry.get("reason", "") or "")
    if kind not in PROOF_WORDING:
        return reason
    return f"{PROOF_WORDING[kind]}: {reason}" if reason else PROOF_WORDING[kind]


def _size_note(level: str, code: str, households: float, size, pieces: dict, explained: dict, *, one_building: bool) -> str:
    """The size rule's detail: the shortfall's proof kind (from ``out_of_range``, else its ``infeasible`` piece) and reason."""
    piece = pieces.get((level, code))
    if size.lo <= households <= size.hi:
        return shortfall_detail(piece) if piece else ""  # in range, but in a piece reported infeasible
    entry = explained.get((level, code)) or {}
    kind = entry.get("kind") or (piece or {}).get("kind")
    reason = str((piece or {}).get("reason", "") or "")
    if not reason and one_building:
        reason = "one building bigger than a micro-grid with no entrance/floor data to divide it"
    if not reason and level == "community" and households > size.hi:
        reason = "oversized community: re-split it"
    if not reason and not kind and entry:
        reason = "listed in report.json out_of_range"
    return shortfall_detail({"kind": kind, "reason": reason})


def _sibling_overlap(rows, level, codes, i, parents, garr, tree, held, footprints, tol) -> None:
    """Overlap with siblings, of which only the footprint of a divided building both hold parts of is allowed."""
    code, g, total, beyond, shared_ids = codes[i], garr[i], 0.0, 0.0, set()
    near = tree.query(g, predicate="intersects") if g is not None else np.array([], int)
    near = near[(near != i) & (parents[near] == parents[i])]
    # siblings share edges: only those whose interiors meet (DE-9IM) can overlap by any area
    for j in near[shapely.relate_pattern(g, garr[near], "2********")] if len(near) else near:
        inter = shapely.intersection(g, garr[j])
        if inter.area <= 0:
            continue
        total += inter.area
        shared = sorted(held.get(code, frozenset()) & held.get(codes[j], frozenset()))
        if shared:
            inter = inter.difference(shapely.union_all([footprints[s] for s in shared]))
            shared_ids.update(shared)
        beyond += inter.area
    if beyond > tol:
        status, detail = "fail", f"overlaps its siblings by {beyond:,.0f} m² beyond the footprint of any building both hold parts of"
    elif total > tol:
        status, detail = "pass", f"shares the footprint of a divided building with a sibling: {sorted(shared_ids)[:10]}"
    else:
        status, detail = "pass", ""
    _row(rows, level, code, "no_sibling_overlap", status, round(total, 1), tol, detail)


def _nesting(rows, level, code, parent, g, geoms, tol, street_code) -> None:
    if level == "community":
        ok = parent == street_code or code.startswith(parent)
        _row(rows, level, code, "nested_in_parent", "pass" if ok else "fail", parent, street_code,
             "" if ok else f"parent {parent} is not the street office {street_code}")
        return
    pg = geoms[_PARENT[level]].get(parent)
    if pg is None:
        _row(rows, level, code, "nested_in_parent", "fail", parent, "", f"no {_PARENT[level]} has code {parent}")
        return
    outside = g.difference(pg).area if g is not None else 0.0
    _row(rows, level, code, "nested_in_parent", "pass" if outside <= tol else "fail", round(outside, 1), tol,
         "" if outside <= tol else f"{outside:,.0f} m² lie outside its parent {parent}")


def _tier_lines(barriers) -> dict[int, tuple[np.ndarray, np.ndarray, shapely.STRtree]]:
    """Per tier 1 and 2: the barrier lines (a water area's outline), their names and an index over them."""
    out = {}
    if barriers is None:
        return out
    for tier in (1, 2):
        sel = barriers[barriers["tier"] == tier]
        if not len(sel):
            continue
        geoms = np.asarray(sel.geometry.array, dtype=object)
        lines = np.where(shapely.get_dimensions(geoms) == 2, shapely.boundary(geoms), geoms)
        names = sel["name"].to_numpy(dtype=object) if "name" in sel.columns else np.full(len(sel), None, dtype=object)
        out[tier] = (lines, names, shapely.STRtree(lines))
    return out


def _crossings(rows, level, code, g, tiers, reported) -> None:
    inside = {1: 0.0, 2: 0.0}
    names = {1: set(), 2: set()}
    if g is not None and not g.is_empty and tiers:
        near = {tier: tree.query(g, predicate="intersects") for tier, (_, _, tree) in tiers.items()}
        core = g.buffer(-1.0) if any(len(v) for v in near.values()) else None
        for tier, (lines, labels, _) in tiers.items():
            hit = near[tier][shapely.intersects(lines[near[tier]], core)] if core is not None and len(near[tier]) else []
            lengths = shapely.length(shapely.intersection(lines[hit], core)) if len(hit) else np.array([])
            for j, length in zip(hit, lengths):
                if length > 1.0:
                    inside[tier] += length
                    if isinstance(labels[j], str) and labels[j]:
                        names[tier].add(labels[j])
    _row(rows, level, code, "tier1_not_crossed", "pass" if inside[1] <= 1.0 else "fail", round(inside[1], 1), 0,
         "" if inside[1] <= 1.0 else f"crossed by {'、'.join(sorted(names[1])) or 'a tier-1 barrier'}")
    if inside[2] <= 1.0 and not reported:
        _row(rows, level, code, "tier2_crossing", "pass", 0, 0)
    else:
        what = "、".join(sorted(set(reported) | names[2])) or "a tier-2 road"
        _row(rows, level, code, "tier2_crossing", "warn", round(inside[2], 1), 0,
             f"crosses {what}" + (" (reported in report.json crossings)" if reported else " (not reported)"))


def _building_rules(rows, plan: Plan) -> None:
    b = plan.buildings
    ids = b[plan.id_field].astype(str)
    problems, across = _divided_buildings(plan)
    held = sorted(set(zip(b["grid_code"].astype(str), ids)))
    compound_split = defaultdict(list)
    if "compound" in b.columns:
        comp = b.assign(_id=ids).dropna(subset=["compound"])
        comp = comp[comp["compound"].astype(str).str.strip() != ""]
        for name, grp in comp.groupby(comp["compound"].astype(str)):
            codes = sorted(set(grp["grid_code"].astype(str)))
            if len(codes) > 1 and grp["households"].astype(float).sum() <= plan.config.grid.hi:
                for c in codes:
                    compound_split[c].append(name)
    per_grid = defaultdict(lambda: defaultdict(list))  # grid -> problem kind -> texts
    failing, held_across = defaultdict(set), defaultdict(list)
    for grid, bid in held:
        for kind, text in problems.get(bid, ()):
            per_grid[grid][kind].append(text)
            if kind != "unlisted":
                failing[grid].add(bid)
        if bid in across:
            held_across[grid].append(bid)
    for code in plan.grids["code"].astype(str):
        found = per_grid.get(code, {})
        detail = "; ".join(f"{wording}: {_listing(found[k])}" for k, wording in _SPLIT_WORDING.items() if found.get(k))
        status = "fail" if failing.get(code) else "warn" if found else "pass"
        if not found and held_across.get(code):
            detail = f"declared parts of buildings also in another grid: {_listing(held_across[code])}"
        _row(rows, "grid", code, "building_not_split", status, len(failing.get(code, ())), 0, detail)
        comps = compound_split.get(code, [])
        _row(rows, "grid", code, "compound_kept_whole", "warn" if comps else "pass", len(comps), 0,
             f"compounds that fit one grid but are split: {comps[:10]}" if comps else "")
    missing = b[[c for c in _ROSTER_CODE.values()]].astype(str).apply(lambda s: s.isin(["", "nan", "None", "<NA>"])).any(axis=1)
    bad = ids[missing].tolist()
    _row(rows, "plan", "", "every_building_assigned", "fail" if bad else "pass", len(bad), 0,
         f"roster rows without a full set of codes: {bad[:10]}" if bad else f"{ids.nunique():,} buildings assigned")


_SPLIT_WORDING = {
    "undeclared": "buildings in more than one unit without a declared part (part ≥ 1 on every row)",
    "sum": "parts whose households do not add up to the building's",
    "unlisted": "divided but not listed in report.json divided_buildings",
}


def _listing(items: list[str]) -> str:
    """The first 10 of ``items`` as a list: ``['0900', '0901']``."""
    return str(sorted(items)[:10])


def _divided_buildings(plan: Plan) -> tuple[dict[str, list[tuple[str, str]]], set[str]]:
    """Building id → its problems, each (a kind of :data:`_SPLIT_WORDING`, the text naming it); and the buildings
    held by more than one grid."""
    b = plan.buildings
    ids = b[plan.id_field].astype(str)
    part = pd.to_numeric(b["part"], errors="coerce").fillna(0)
    unit = b["community_code"].astype(str) + "|" + b["grid_code"].astype(str) + "|" + b["micro_code"].astype(str)
    units = unit.groupby(ids).nunique()
    grids = b["grid_code"].astype(str).groupby(ids).nunique()
    whole_row = (part < 1).groupby(ids).any()
    held = b["households"].astype(float).groupby(ids).sum()
    declared = (part > 0).groupby(ids).any()
    inputs = plan.input_buildings
    whole = pd.to_numeric(inputs["households"], errors="coerce").groupby(inputs[plan.id_field].astype(str)).sum()
    divided = plan.report.get("divided_buildings")
    listed = {str(d.get("building_id")) for d in divided if isinstance(d, dict)} if isinstance(divided, list) else None
    out = defaultdict(list)
    for bid in units.index[(units > 1) | declared]:
        if units[bid] > 1 and whole_row[bid]:
            out[bid].append(("undeclared", bid))
        if declared[bid] and bid in whole.index and abs(held[bid] - whole[bid]) > 1e-6:
            out[bid].append(("sum", f"{bid} ({held[bid]:g} of {whole[bid]:g} households)"))
        if units[bid] > 1 and listed is not None and bid not in listed:
            out[bid].append(("unlisted", bid))
    return dict(out), set(grids.index[grids > 1])


def summary(report: pd.DataFrame) -> dict[str, int]:
    """Counts of ``pass``, ``warn`` and ``fail`` in a validation report."""
    counts = report["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in ("pass", "warn", "fail")}


def failed_rules(report: pd.DataFrame, *, first: int = 10) -> list[dict]:
    """Every rule that fails in a validation report, per level: JSON-ready dicts ``rule``, ``level``, ``count``
    (units failing it), ``codes`` (the first ``first``, in code order) and ``detail`` (the first one's), in
    the order of :data:`RULES` and the levels (community, grid, micro, plan); ``[]`` when none fails.

    >>> report = pd.DataFrame({"level": ["community", "grid", "grid"], "code": ["320102001001", "320102001001002", "320102001001001"],
    ...                        "rule": ["tier1_not_crossed", "size_in_range", "size_in_range"], "status": ["fail", "fail", "fail"],
    ...                        "detail": ["crossed by 秦淮河", "196 households", "88 households"]})
    >>> [(f["rule"], f["level"], f["count"], f["codes"][0]) for f in failed_rules(report)]
    [('size_in_range', 'grid', 2, '320102001001001'), ('tier1_not_crossed', 'community', 1, '320102001001')]
    """
    failed = report[report["status"] == "fail"]
    order = {r: i for i, r in enumerate(RULES)}
    levels = {lv: i for i, lv in enumerate((*LAYER_NAMES, "plan"))}
    out = []
    for (rule, level), rows in failed.groupby(["rule", "level"], sort=False):
        rows = rows.assign(code=rows["code"].astype(str)).sort_values("code", kind="stable")
        out.append({"rule": rule, "level": level, "count": len(rows), "codes": rows["code"].head(first).tolist(),
                    "detail": str(rows["detail"].iloc[0])})
    return sorted(out, key=lambda f: (order.get(f["rule"], len(order)), levels.get(f["level"], len(levels))))


def failed_rules_text(failed: list[dict]) -> str:
    """``failed`` (:func:`failed_rules`) as lines to print: one per rule and level; ``''`` when none fails.

    >>> print(failed_rules_text([{"rule": "tier1_not_crossed", "level": "community", "count": 1, "codes": ["320102001001"],
    ...                           "detail": "crossed by 秦淮河"}]))
    validation: 1 rule fails (every unit and rule: validation.csv of `gridplan export --format csv`)
      tier1_not_crossed, community: 1 unit ['320102001001']: crossed by 秦淮河
    """
    if not failed:
        return ""
    n = len({f["rule"] for f in failed})
    lines = [f"validation: {plural(n, 'rule')} {'fails' if n == 1 else 'fail'} (every unit and rule: validation.csv of "
             "`gridplan export --format csv`)"]
    for f in failed:
        codes = [c for c in f["codes"] if c]
        more = f" and {f['count'] - len(codes):,} more" if codes and f["count"] > len(codes) else ""
        shown = f" {codes!r}{more}" if codes else ""
        lines.append(f"  {f['rule']}, {f['level']}: {plural(f['count'], 'unit')}{shown}" + (f": {f['detail']}" if f["detail"] else ""))
    return "\n".join(lines)
