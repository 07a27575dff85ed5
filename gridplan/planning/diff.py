"""The change list between two plans (DOMAIN.md §5): who moved where, which units changed, which codes retired.

:func:`diff` compares two plans (or a plan and the old community polygons it re-districted) and returns a
:class:`ChangeList`; :meth:`ChangeList.write` writes it as

=========================  ===================================================================================
``changes.csv``            per building: status, its name, address, building type and compound name (when the
                           input has them), households before/after, old → new community, grid and micro-grid
``changes_units.csv``      per unit (every level): status ``kept``/``changed``/``recoded``/``new``/``retired``,
                           the old code of a recoded unit, parent, and households, population and buildings
                           before/after
``migration.csv``          old community × new community: households and buildings that went from one to the other
``new_communities.csv``    each new community: households, population, buildings, its 四至 (the named streets or
                           features bounding it to the east, south, west and north), its compounds, its sources
``retired.csv``            the register of retired codes: level, code, parent, name, households, start and end date,
                           the codes that replaced it (carried from plan to plan: a retired code is never reused)
``changed_units.geojson``  the units that are new, changed or recoded (after geometry) and retired (before
                           geometry), EPSG:4326, with ``level`` and ``status``
``changes.json``           the summary: households moved between communities / grids / micro-grids (of buildings
                           now in another unit, a recoded unit being the same one; ``None`` where the old grids are
                           not known), units by status
=========================  ===================================================================================

Every CSV is UTF-8 with a byte-order mark, as the code tables, so that Excel shows the Chinese.

Units are matched by code: a code in both plans is the same unit (``kept`` when it holds the same
buildings, parts and households, else ``changed``). A unit whose code is gone while a new code holds exactly
its buildings and households (a new street code, a renumbering) is ``recoded``, not retired and new: its
households did not move. A retired unit is ``replaced_by`` the new units holding most of its households.

When the old state is only the old community polygons (:func:`state_from_communities` without ``old_plan``),
nobody knows the old grids: moves between grids and micro-grids are ``None``, not counted.

Examples
--------
>>> import gridplan
>>> from gridplan.sample import make_district
>>> d = make_district(households=3000, communities=1)
>>> a = gridplan.plan(d.buildings, d.roads, seed=1, street_code="320102001", start_date="2026-01-01")
>>> b = gridplan.plan(d.buildings, d.roads, seed=1, street_code="320102002", start_date="2026-02-01")
>>> ch = diff(a, b)  # the same plan under another street code: every unit recoded, nobody moved
>>> ch.summary["households_moved"], ch.summary["units_changed"], ch.summary["units_recoded"] == len(ch.units)
({'community': 0, 'grid': 0, 'micro': 0}, 0, True)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..outputs.tables import SIDES, four_sides, layer_sides, level_names
from ..core.tessellate import locate
from ..errors import InputError
from ..model import LAYER_NAMES, Plan
from .stable_codes import RETIRED_COLUMNS

__all__ = ["diff", "ChangeList", "PlanState", "state_of", "state_from_communities", "four_to", "CHANGE_FILES",
           "ATTRIBUTE_COLUMNS", "REPLACED_MIN_SHARE", "write_with_changes"]

CHANGE_FILES = ("changes.csv", "changes_units.csv", "migration.csv", "new_communities.csv", "retired.csv", "changed_units.geojson", "changes.json")
#: Input columns ``changes.csv`` carries per building when the roster (or the input buildings) has them.
ATTRIBUTE_COLUMNS = ("name", "address", "building", "compound_name")
#: A retired unit is replaced by the new units holding at least this share of its households (and always by the largest).
REPLACED_MIN_SHARE = 0.1
_LEVELS = ("community", "grid", "micro")
_CODE_COL = {"community": "community_code", "grid": "grid_code", "micro": "micro_code"}
_STATUSES = ("kept", "changed", "recoded", "new", "retired")


@dataclass(frozen=True)
class PlanState:
    """What a diff compares: units per level, the roster (one row per building or part) and retired codes.

    ``attributes``: per building id (the index, as text), the :data:`ATTRIBUTE_COLUMNS` the plan has.
    """

    layers: dict[str, gpd.GeoDataFrame]
    roster: pd.DataFrame  # columns id, part, households, community_code, grid_code, micro_code (+ compound names)
    retired: list[dict]
    barriers: gpd.GeoDataFrame | None = None
    start_date: str = ""
    attributes: pd.DataFrame | None = None

    @property
    def grids_known(self) -> bool:
        """Whether the state knows its grids (a plan does; old community polygons do not)."""
        return "grid" in self.layers and bool(self.roster["grid_code"].notna().any())


def state_of(plan: Plan) -> PlanState:
    """The state of a :class:`~gridplan.model.Plan`."""
    from ..outputs.parts import column_lookup

    r = pd.DataFrame(plan.buildings.drop(columns="geometry")).rename(columns={plan.id_field: "id"})
    r["id"] = r["id"].astype(str)
    if "part" not in r.columns:
        r["part"] = 0
    layers = {lvl: getattr(plan, LAYER_NAMES[lvl]) for lvl in _LEVELS}
    ids = pd.Index(r["id"].unique(), name="id")
    attrs = pd.DataFrame({c: pd.Series(column_lookup(plan, (c,)), dtype=object).reindex(ids)
                          for c in ATTRIBUTE_COLUMNS if c in plan.buildings.columns or c in plan.input_buildings.columns}, index=ids)
    return PlanState(layers, r, list(plan.report.get("retired", [])), plan.input_barriers, str(plan.report.get("start_date", "")), attrs)


def state_from_communities(communities, plan: Plan, *, old_plan: Plan | str | PathLike | None = None) -> PlanState:
    """The state before a re-districting.

    Without ``old_plan``: the old community polygons, with ``plan``'s buildings assigned to the polygon holding
    each one's representative point (else the nearest); its grids are unknown. With ``old_plan`` (a
    :class:`~gridplan.model.Plan` or a plan directory): that plan, grids and micro-grids included, so that a
    diff counts real moves between grids (``communities`` is then not read).

    Raises
    ------
    InputError
        ``old_plan`` is not a plan directory, or shares no building id with ``plan``.
    """
    if old_plan is not None:
        return _state_of_old_plan(old_plan, plan)
    from ..inputs.io import read_layer

    old = communities if isinstance(communities, gpd.GeoDataFrame) else read_layer(communities, role="communities")
    old = old.to_crs(plan.crs).reset_index(drop=True)
    b = plan.input_buildings
    pts = shapely.point_on_surface(np.asarray(b.geometry.values, dtype=object))
    which = locate(pts, old.geometry.values)
    codes = old["code"].astype(str).to_numpy() if "code" in old.columns else np.array([f"old{i + 1:03d}" for i in range(len(old))], dtype=object)
    hh = b["households"].to_numpy(dtype=float)
    roster = pd.DataFrame({"id": b[plan.id_field].astype(str).to_numpy(), "part": 0, "households": hh,
                           "community_code": codes[which], "grid_code": pd.NA, "micro_code": pd.NA})
    per = roster.groupby("community_code")["households"].agg(["sum", "size"])
    units = gpd.GeoDataFrame({"code": pd.array(codes, dtype="string"), "parent_code": [c[:9] for c in codes],
                              "name": old["name"].to_numpy() if "name" in old.columns else "",
                              "households": per["sum"].reindex(codes).fillna(0).astype(np.int64).to_numpy(),
                              "buildings": per["size"].reindex(codes).fillna(0).astype(np.int64).to_numpy()},
                             geometry=old.geometry.values, crs=old.crs)
    units["population"] = np.rint(units["households"] * plan.config.persons_per_household).astype(np.int64)
    return PlanState({"community": units}, roster, [], plan.input_barriers)


def _state_of_old_plan(old_plan: Plan | str | PathLike, plan: Plan) -> PlanState:
    from ..outputs.reader import read_plan

    old = old_plan if isinstance(old_plan, Plan) else read_plan(old_plan)
    state = state_of(old)
    ids = set(plan.buildings[plan.id_field].astype(str))
    if ids and not ids & set(state.roster["id"]):
        raise InputError(f"`old_plan` shares no building id with the new plan (its ids look like "
                         f"{', '.join(sorted(set(state.roster['id']))[:3])}; the new plan's like {', '.join(sorted(ids)[:3])}): "
                         "give the previous plan directory of these same buildings")
    return state


@dataclass(frozen=True)
class ChangeList:
    """The change list: tables described in the module docstring, and ``summary`` (a JSON-ready dict).

    ``before`` is the old state compared (for maps: its community polygons are the old boundaries).
    """

    buildings: pd.DataFrame
    units: pd.DataFrame
    migration: pd.DataFrame
    new_communities: pd.DataFrame
    retired: pd.DataFrame
    changed_units: gpd.GeoDataFrame
    summary: dict
    before: PlanState | None = field(default=None, repr=False, compare=False)

    def write(self, directory: str | PathLike) -> Path:
        """Write the files of :data:`CHANGE_FILES` into ``directory`` (created if missing; CSV in UTF-8 with a BOM);
        returns its path."""
        from ..outputs.export import to_geojson_layer

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name, table in (("changes.csv", self.buildings), ("changes_units.csv", self.units), ("migration.csv", self.migration),
                            ("new_communities.csv", self.new_communities), ("retired.csv", self.retired)):
            table.to_csv(d / name, index=False, encoding="utf-8-sig")
        gj = to_geojson_layer(self.changed_units) if len(self.changed_units) else self.changed_units.to_crs(4326)
        gj.to_file(d / "changed_units.geojson", driver="GeoJSON", engine="pyogrio")
        (d / "changes.json").write_text(json.dumps(self.summary, ensure_ascii=False, indent=2), encoding="utf-8")
        return d


def write_with_changes(plan: Plan, changes: ChangeList, directory: str | PathLike, *, compare=None) -> Path:
    """Write ``plan`` into ``directory`` with its change list and a review map that shows what was before.

    ``compare`` is what ``map.html`` shows as before: the previous :class:`~gridplan.model.Plan`, or old
    community polygons; default the old communities of ``changes.before``. If the change list or the map
    cannot be written, the directory is removed again: a plan without its change list is never left behind.
    """
    import shutil

    from ..outputs.review_map import write_review_map

    if compare is None and changes.before is not None:
        compare = changes.before.layers["community"]
    out = plan.write(directory, map_html=False)
    try:
        changes.write(out)
        write_review_map(plan, Path(out) / "map.html", compare=compare)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return Path(out)


def _members(state: PlanState, level: str) -> dict[str, frozenset]:
    """Per code, its buildings with their households (micro-grids: per part, as towers are divided)."""
    col = _CODE_COL[level]
    r = state.roster.dropna(subset=[col])
    if level != "micro":
        r = r.groupby([col, "id"], as_index=False)["households"].sum().assign(part=0)
    keys = r["id"].astype(str) + "#" + r["part"].astype(str) + "#" + r["households"].astype(int).astype(str)
    return {str(k): frozenset(v) for k, v in keys.groupby(r[col].astype(str).to_numpy())}


def _recodes(mo: dict[str, frozenset], mn: dict[str, frozenset], gone: list[str], fresh: list[str]) -> dict[str, str]:
    """Old code → new code for each gone unit whose buildings and households a fresh code holds exactly."""
    by_members = {mn[c]: c for c in fresh if mn.get(c)}
    return {o: by_members[mo[o]] for o in gone if mo.get(o) and mo[o] in by_members}


def _flows(old: PlanState, new: PlanState, level: str) -> pd.DataFrame:
    """Households and buildings from each old unit to each new one (``old``, ``new``, ``households``, ``buildings``):
    a building's households go with it; a building divided between units in the new plan is shared by households."""
    col = _CODE_COL[level]
    o = old.roster.dropna(subset=[col]).groupby(["id", col], as_index=False)["households"].sum()
    n = new.roster.dropna(subset=[col]).groupby(["id", col], as_index=False)["households"].sum()
    total = n.groupby("id")["households"].transform("sum")
    count = n.groupby("id")["households"].transform("size")
    n["share"] = np.where(total > 0, n["households"] / total.where(total > 0, 1), 1.0 / count)
    m = o.merge(n[["id", col, "share"]], on="id", suffixes=("_old", "_new"))
    m["households"] = m["households"] * m["share"]
    m = m.rename(columns={f"{col}_old": "old", f"{col}_new": "new", "share": "buildings"})
    return m.groupby(["old", "new"], as_index=False)[["households", "buildings"]].sum()


def _replaced_by(flows: pd.DataFrame) -> dict[str, str]:
    """Per old code, the new codes holding most of its households: largest first, down to
    :data:`REPLACED_MIN_SHARE` of them (at least the largest), space-separated."""
    out = {}
    for code, f in flows.groupby("old", sort=False):
        f = f.sort_values(["households", "buildings", "new"], ascending=[False, False, True])
        total = float(f["households"].sum())
        keep = f["households"] >= REPLACED_MIN_SHARE * total if total > 0 else f["buildings"] >= REPLACED_MIN_SHARE * f["buildings"].sum()
        keep.iloc[0] = True
        out[str(code)] = " ".join(f.loc[keep, "new"].astype(str))
    return out


def _per_building(state: PlanState) -> pd.DataFrame:
    r = state.roster
    agg = r.groupby("id", sort=False).agg(households=("households", "sum"), community=("community_code", "first"), grid=("grid_code", "first"),
                                          micro=("micro_code", lambda s: " ".join(str(x) for x in s if pd.notna(x))))
    agg["micro"] = agg["micro"].replace("", pd.NA)
    return agg


def _renamed(codes: pd.Series, recode: dict[str, str], *, joined: bool = False) -> pd.Series:
    """``codes`` with recoded old codes replaced by their new ones (``joined``: space-separated lists of codes)."""
    if not recode:
        return codes
    if joined:
        return codes.map(lambda s: s if pd.isna(s) else " ".join(recode.get(c, c) for c in str(s).split()))
    return codes.map(lambda c: c if pd.isna(c) else recode.get(str(c), c))


def _building_table(old: PlanState, new: PlanState, recode: dict[str, dict[str, str]]) -> tuple[pd.DataFrame, dict]:
    """``changes.csv`` (per building its status, input attributes, households and codes before/after) and the
    households moved per level: of buildings in another unit of that level (a recoded unit is the same unit;
    ``None`` where the old grids are unknown)."""
    a, b = _per_building(old), _per_building(new)
    bt = a.add_suffix("_before").join(b.add_suffix("_after"), how="outer")
    bt.index.name = "building_id"
    both = bt["households_before"].notna() & bt["households_after"].notna()
    comm = _renamed(bt["community_before"], recode.get("community", {}))
    grid = _renamed(bt["grid_before"], recode.get("grid", {}))
    micro = _renamed(bt["micro_before"], recode.get("micro", {}), joined=True)
    known = old.grids_known
    same_codes = bt["community_before"] == bt["community_after"]
    if known:
        same_codes &= (bt["grid_before"].fillna("") == bt["grid_after"].fillna("")) & (bt["micro_before"].fillna("") == bt["micro_after"].fillna(""))
    moved = {"community": both & (comm != bt["community_after"]), "grid": both & known & bt["grid_before"].notna() & (grid != bt["grid_after"])}
    moved["micro"] = moved["grid"] | (both & known & bt["micro_before"].notna() & (micro.fillna("") != bt["micro_after"].fillna("")))
    status = np.select(
        [bt["households_before"].isna(), bt["households_after"].isna(), moved["community"], moved["grid"], moved["micro"], both & ~same_codes],
        ["added", "removed", "moved community", "moved grid", "moved micro-grid", "recoded"], "unchanged")
    bt["status"] = status
    hh = bt["households_after"].fillna(0)
    households_moved = {lvl: int(hh[m].sum()) if lvl == "community" or known else None for lvl, m in moved.items()}
    attrs = [x for x in (new.attributes, old.attributes) if x is not None and len(x.columns)]
    cols = [c for c in ATTRIBUTE_COLUMNS if any(c in x.columns for x in attrs)]
    for c in cols:  # the new plan's value, else the old one's (a removed building)
        values = pd.concat([x[c] for x in attrs if c in x.columns]).dropna()
        bt[c] = values[~values.index.duplicated()].reindex(bt.index)
    bt = bt.reset_index()[["building_id", "status", *cols, "households_before", "households_after", "community_before", "community_after",
                           "grid_before", "grid_after", "micro_before", "micro_after"]]
    for c in ("households_before", "households_after"):
        bt[c] = bt[c].astype("Int64")
    return bt, households_moved


def diff(old: Plan | PlanState, new: Plan | PlanState) -> ChangeList:
    """The change list from ``old`` to ``new`` (plans, or states from :func:`state_of` /
    :func:`state_from_communities`)."""
    old = state_of(old) if isinstance(old, Plan) else old
    new = state_of(new) if isinstance(new, Plan) else new
    levels = [lvl for lvl in _LEVELS if lvl in old.layers and lvl in new.layers]
    # ---- per unit (codes first: a recoded unit is matched by its buildings)
    rows, geoms, recode = [], [], {}
    for lvl in levels:
        mo, mn = _members(old, lvl), _members(new, lvl)
        lo, ln = old.layers[lvl].set_index(old.layers[lvl]["code"].astype(str)), new.layers[lvl].set_index(new.layers[lvl]["code"].astype(str))
        recode[lvl] = _recodes(mo, mn, sorted(set(lo.index) - set(ln.index)), sorted(set(ln.index) - set(lo.index)))
        was = {n: o for o, n in recode[lvl].items()}
        for code in sorted((set(lo.index) - set(recode[lvl])) | set(ln.index)):
            old_code = was.get(code, code)
            before, after = (lo.loc[old_code] if old_code in lo.index else None), (ln.loc[code] if code in ln.index else None)
            st = ("recoded" if code in was else "new" if before is None else "retired" if after is None
                  else "kept" if mo.get(code) == mn.get(code) else "changed")
            row = {"level": lvl, "code": code, "status": st, "old_code": old_code if code in was else None,
                   "parent_before": None if before is None else str(before["parent_code"]), "parent_after": None if after is None else str(after["parent_code"])}
            for f in ("households", "population", "buildings"):
                row[f"{f}_before"] = None if before is None else int(before[f])
                row[f"{f}_after"] = None if after is None else int(after[f])
            rows.append(row)
            if st != "kept":
                src, layer = (after, new.layers[lvl]) if after is not None else (before, old.layers[lvl])
                geoms.append(gpd.GeoSeries([src.geometry], crs=layer.crs).to_crs(4326).iloc[0])
    ut = pd.DataFrame(rows, columns=["level", "code", "status", "old_code", "parent_before", "parent_after", "households_before",
                                     "households_after", "population_before", "population_after", "buildings_before", "buildings_after"])
    for c in ut.columns[6:]:
        ut[c] = ut[c].astype("Int64")
    changed = ut[ut["status"] != "kept"]
    cu = gpd.GeoDataFrame(changed[["level", "code", "status", "households_before", "households_after"]].reset_index(drop=True),
                          geometry=geoms, crs=4326)
    # ---- per building
    bt, households_moved = _building_table(old, new, recode)
    # ---- migration old × new community
    mig = bt[bt["community_before"].notna() & bt["community_after"].notna()].groupby(["community_before", "community_after"], sort=True).agg(
        households=("households_after", "sum"), buildings=("building_id", "size")).reset_index()
    mig.columns = ["old_community", "new_community", "households", "buildings"]
    names_o = _names(old.layers["community"])
    names_n = _names(new.layers["community"])
    mig.insert(1, "old_name", mig["old_community"].map(names_o))
    mig.insert(3, "new_name", mig["new_community"].map(names_n))
    # ---- new communities with their 四至 and compounds
    newc = ut[(ut["level"] == "community") & (ut["status"] == "new")]["code"].tolist()
    nct = _new_communities(new, newc, mig)
    # ---- retired register: retired units and the old codes of recoded ones, each with the codes that replaced it
    rt = _retired(old, new, ut, levels)
    # ---- summary
    summary = {
        "buildings": {k: int(v) for k, v in bt["status"].value_counts().sort_index().items()},
        "households_moved": households_moved,
        "old_grids_known": old.grids_known,
        "households_added": int(bt.loc[bt["status"] == "added", "households_after"].fillna(0).sum()),
        "households_removed": int(bt.loc[bt["status"] == "removed", "households_before"].fillna(0).sum()),
        "units": {lvl: {s: int(((ut["level"] == lvl) & (ut["status"] == s)).sum()) for s in _STATUSES} for lvl in levels},
        "units_changed": int(ut["status"].isin(["changed", "new", "retired"]).sum()),
        "units_recoded": int((ut["status"] == "recoded").sum()),
        "retired": {lvl: int(((ut["level"] == lvl) & (ut["status"] == "retired")).sum()) for lvl in levels},
    }
    return ChangeList(bt, ut, mig, nct, rt, cu, summary, before=old)


def _retired(old: PlanState, new: PlanState, ut: pd.DataFrame, levels: list[str]) -> pd.DataFrame:
    """``retired.csv``: the register carried by ``new`` plus the codes this change retires (retired units and the
    old codes of recoded ones), each ``replaced_by`` the new units holding most of its households."""
    retired = list(new.retired)
    known = {r["code"] for r in retired}
    gone = ut[ut["status"].isin(["retired", "recoded"])]
    gone = gone.assign(was=np.where(gone["status"] == "recoded", gone["old_code"], gone["code"]))
    for lvl in levels:
        rows = gone[(gone["level"] == lvl) & ~gone["was"].isin(known)]
        if not len(rows):
            continue
        repl = _replaced_by(_flows(old, new, lvl))
        lo = old.layers[lvl].set_index(old.layers[lvl]["code"].astype(str))
        for _, r in rows.iterrows():
            code = r["was"]
            u = lo.loc[code]
            retired.append({"level": lvl, "code": code, "parent_code": r["parent_before"], "name": str(u.get("name", "") or ""),
                            "households": r["households_before"], "start_date": str(u.get("start_date", "") or ""), "end_date": new.start_date,
                            "replaced_by": r["code"] if r["status"] == "recoded" else repl.get(code, "")})
    return pd.DataFrame(retired, columns=list(RETIRED_COLUMNS))


def _names(layer: gpd.GeoDataFrame) -> dict[str, str]:
    if "name" not in layer.columns:
        return {}
    return {str(c): ("" if pd.isna(n) else str(n)) for c, n in zip(layer["code"], layer["name"])}


def four_to(polygon: shapely.Geometry, barriers: gpd.GeoDataFrame) -> dict[str, str]:
    """The 四至 of one polygon (in the barriers' CRS) by :func:`gridplan.outputs.tables.four_sides`, the rule every
    deliverable uses (there with the neighbouring units: see :func:`gridplan.outputs.tables.unit_sides`)."""
    unit = gpd.GeoDataFrame({"code": ["_"]}, geometry=[polygon], crs=barriers.crs)
    return {k: str(v) for k, v in four_sides(unit, barriers).iloc[0].items()}


def _new_communities(new: PlanState, codes: list[str], mig: pd.DataFrame) -> pd.DataFrame:
    cols = ["code", "name", "households", "population", "buildings", "east", "south", "west", "north", "compounds", "formed_from"]
    layer = new.layers["community"]
    if not codes:
        return pd.DataFrame(columns=cols)
    # the 四至 of the code tables: the same function, geometry, barriers and neighbour names (computed once)
    sides = layer_sides(layer, new.barriers, level_names(layer, "community"))
    lu = layer.set_index(layer["code"].astype(str).to_numpy())
    sides = sides.set_axis(lu.index)
    comp_col = "compound_name" if "compound_name" in new.roster.columns else "compound" if "compound" in new.roster.columns else None
    rows = []
    for code in codes:
        u = lu.loc[code]
        comps = ""
        if comp_col:
            vals = new.roster.loc[new.roster["community_code"].astype(str) == code, comp_col].dropna().astype(str)
            comps = "、".join(sorted(v for v in vals.unique() if v.strip()))
        src = mig[mig["new_community"] == code].sort_values("households", ascending=False)
        rows.append({"code": code, "name": "" if pd.isna(u.get("name", "")) else str(u.get("name", "")), "households": int(u["households"]),
                     "population": int(u["population"]), "buildings": int(u["buildings"]), **sides.loc[code, list(SIDES)].to_dict(),
                     "compounds": comps, "formed_from": " ".join(f"{o}:{h}" for o, h in zip(src["old_community"], src["households"]))})
    return pd.DataFrame(rows, columns=cols)
