"""The change list between two plans (DOMAIN.md §5): who moved where, which units changed, which codes retired.

:func:`diff` compares two plans (or a plan and the old community polygons it re-districted) and returns a
:class:`ChangeList`; :meth:`ChangeList.write` writes it as

=========================  ===================================================================================
``changes.csv``            per building: households before/after, old → new community, grid and micro-grid
``changes_units.csv``      per unit (every level): status ``kept``/``changed``/``new``/``retired``, parent, and
                           households, population and buildings before/after
``migration.csv``          old community × new community: households and buildings that went from one to the other
``new_communities.csv``    each new community: households, population, buildings, its 四至 (the named streets or
                           features bounding it to the east, south, west and north), its compounds, its sources
``retired.csv``            the register of retired codes: level, code, parent, name, households, start and end date,
                           the codes that replaced it (carried from plan to plan: a retired code is never reused)
``changed_units.geojson``  the units that are new or changed (after geometry) and retired (before geometry),
                           EPSG:4326, with ``level`` and ``status``
``changes.json``           the summary: households moved between communities / grids / micro-grids, units by status
=========================  ===================================================================================

Units are matched by code: a code in both plans is the same unit (``kept`` when it holds the same
buildings, parts and households, else ``changed``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..outputs.tables import SIDES, four_sides, layer_sides, level_names
from ..core.tessellate import locate
from ..model import LAYER_NAMES, Plan
from .stable_codes import RETIRED_COLUMNS

__all__ = ["diff", "ChangeList", "PlanState", "state_of", "state_from_communities", "four_to", "CHANGE_FILES"]

CHANGE_FILES = ("changes.csv", "changes_units.csv", "migration.csv", "new_communities.csv", "retired.csv", "changed_units.geojson", "changes.json")
_LEVELS = ("community", "grid", "micro")
_CODE_COL = {"community": "community_code", "grid": "grid_code", "micro": "micro_code"}


@dataclass(frozen=True)
class PlanState:
    """What a diff compares: units per level, the roster (one row per building or part) and retired codes."""

    layers: dict[str, gpd.GeoDataFrame]
    roster: pd.DataFrame  # columns id, part, households, community_code, grid_code, micro_code (+ compound names)
    retired: list[dict]
    barriers: gpd.GeoDataFrame | None = None
    start_date: str = ""


def state_of(plan: Plan) -> PlanState:
    """The state of a :class:`~gridplan.model.Plan`."""
    r = pd.DataFrame(plan.buildings.drop(columns="geometry")).rename(columns={plan.id_field: "id"})
    r["id"] = r["id"].astype(str)
    if "part" not in r.columns:
        r["part"] = 0
    layers = {lvl: getattr(plan, LAYER_NAMES[lvl]) for lvl in _LEVELS}
    return PlanState(layers, r, list(plan.report.get("retired", [])), plan.input_barriers, str(plan.report.get("start_date", "")))


def state_from_communities(communities, plan: Plan) -> PlanState:
    """The state before a re-districting: the old community polygons, with ``plan``'s buildings assigned to
    the polygon holding each one's representative point (else the nearest)."""
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


@dataclass(frozen=True)
class ChangeList:
    """The change list: tables described in the module docstring, and ``summary`` (a JSON-ready dict)."""

    buildings: pd.DataFrame
    units: pd.DataFrame
    migration: pd.DataFrame
    new_communities: pd.DataFrame
    retired: pd.DataFrame
    changed_units: gpd.GeoDataFrame
    summary: dict

    def write(self, directory: str | PathLike) -> Path:
        """Write the files of :data:`CHANGE_FILES` into ``directory`` (created if missing); returns its path."""
        from ..outputs.export import to_geojson_layer

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name, table in (("changes.csv", self.buildings), ("changes_units.csv", self.units), ("migration.csv", self.migration),
                            ("new_communities.csv", self.new_communities), ("retired.csv", self.retired)):
            table.to_csv(d / name, index=False, encoding="utf-8")
        gj = to_geojson_layer(self.changed_units) if len(self.changed_units) else self.changed_units.to_crs(4326)
        gj.to_file(d / "changed_units.geojson", driver="GeoJSON", engine="pyogrio")
        (d / "changes.json").write_text(json.dumps(self.summary, ensure_ascii=False, indent=2), encoding="utf-8")
        return d


def _members(state: PlanState, level: str) -> dict[str, frozenset]:
    """Per code, its buildings with their households (micro-grids: per part, as towers are divided)."""
    col = _CODE_COL[level]
    r = state.roster.dropna(subset=[col])
    if level != "micro":
        r = r.groupby([col, "id"], as_index=False)["households"].sum().assign(part=0)
    keys = r["id"].astype(str) + "#" + r["part"].astype(str) + "#" + r["households"].astype(int).astype(str)
    return {str(k): frozenset(v) for k, v in keys.groupby(r[col].astype(str).to_numpy())}


def _per_building(state: PlanState) -> pd.DataFrame:
    r = state.roster
    agg = r.groupby("id", sort=False).agg(households=("households", "sum"), community=("community_code", "first"), grid=("grid_code", "first"),
                                          micro=("micro_code", lambda s: " ".join(str(x) for x in s if pd.notna(x))))
    agg["micro"] = agg["micro"].replace("", pd.NA)
    return agg


def diff(old: Plan | PlanState, new: Plan | PlanState) -> ChangeList:
    """The change list from ``old`` to ``new`` (plans, or states from :func:`state_of` /
    :func:`state_from_communities`)."""
    old = state_of(old) if isinstance(old, Plan) else old
    new = state_of(new) if isinstance(new, Plan) else new
    # ---- per building
    a, b = _per_building(old), _per_building(new)
    bt = a.add_suffix("_before").join(b.add_suffix("_after"), how="outer")
    bt.index.name = "building_id"
    both = bt["households_before"].notna() & bt["households_after"].notna()
    status = np.select(
        [bt["households_before"].isna(), bt["households_after"].isna(), both & (bt["community_before"] != bt["community_after"]),
         both & bt["grid_before"].notna() & (bt["grid_before"] != bt["grid_after"]),
         both & bt["micro_before"].notna() & (bt["micro_before"].fillna("") != bt["micro_after"].fillna(""))],
        ["added", "removed", "moved community", "moved grid", "moved micro-grid"], "unchanged")
    bt["status"] = status
    bt = bt.reset_index()[["building_id", "status", "households_before", "households_after", "community_before", "community_after",
                           "grid_before", "grid_after", "micro_before", "micro_after"]]
    for c in ("households_before", "households_after"):
        bt[c] = bt[c].astype("Int64")
    # ---- per unit
    rows, geoms = [], []
    levels = [lvl for lvl in _LEVELS if lvl in old.layers and lvl in new.layers]
    for lvl in levels:
        mo, mn = _members(old, lvl), _members(new, lvl)
        lo, ln = old.layers[lvl].set_index(old.layers[lvl]["code"].astype(str)), new.layers[lvl].set_index(new.layers[lvl]["code"].astype(str))
        for code in sorted(set(lo.index) | set(ln.index)):
            before, after = (lo.loc[code] if code in lo.index else None), (ln.loc[code] if code in ln.index else None)
            st = "new" if before is None else "retired" if after is None else "kept" if mo.get(code) == mn.get(code) else "changed"
            row = {"level": lvl, "code": code, "status": st,
                   "parent_before": None if before is None else str(before["parent_code"]), "parent_after": None if after is None else str(after["parent_code"])}
            for f in ("households", "population", "buildings"):
                row[f"{f}_before"] = None if before is None else int(before[f])
                row[f"{f}_after"] = None if after is None else int(after[f])
            rows.append(row)
            if st != "kept":
                src, layer = (after, new.layers[lvl]) if after is not None else (before, old.layers[lvl])
                geoms.append(gpd.GeoSeries([src.geometry], crs=layer.crs).to_crs(4326).iloc[0])
    ut = pd.DataFrame(rows, columns=["level", "code", "status", "parent_before", "parent_after", "households_before", "households_after",
                                     "population_before", "population_after", "buildings_before", "buildings_after"])
    for c in ut.columns[5:]:
        ut[c] = ut[c].astype("Int64")
    changed = ut[ut["status"] != "kept"]
    cu = gpd.GeoDataFrame(changed[["level", "code", "status", "households_before", "households_after"]].reset_index(drop=True),
                          geometry=geoms, crs=4326)
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
    # ---- retired register
    retired = list(new.retired)
    known = {r["code"] for r in retired}
    for _, r in ut[ut["status"] == "retired"].iterrows():
        if r["code"] in known:
            continue
        lo = old.layers[r["level"]].set_index(old.layers[r["level"]]["code"].astype(str)).loc[r["code"]]
        repl = mig[mig["old_community"] == r["code"]]["new_community"].tolist() if r["level"] == "community" else []
        retired.append({"level": r["level"], "code": r["code"], "parent_code": r["parent_before"], "name": str(lo.get("name", "") or ""),
                        "households": r["households_before"], "start_date": str(lo.get("start_date", "") or ""), "end_date": new.start_date,
                        "replaced_by": " ".join(repl)})
    rt = pd.DataFrame(retired, columns=list(RETIRED_COLUMNS))
    # ---- summary
    moved = bt[bt["status"].str.startswith("moved")]
    hh = moved["households_after"].fillna(0)
    summary = {
        "buildings": {k: int(v) for k, v in bt["status"].value_counts().sort_index().items()},
        "households_moved": {"community": int(hh[moved["status"] == "moved community"].sum()),
                             "grid": int(hh[moved["status"].isin(["moved community", "moved grid"])].sum()),
                             "micro": int(hh.sum())},
        "households_added": int(bt.loc[bt["status"] == "added", "households_after"].fillna(0).sum()),
        "households_removed": int(bt.loc[bt["status"] == "removed", "households_before"].fillna(0).sum()),
        "units": {lvl: {s: int(((ut["level"] == lvl) & (ut["status"] == s)).sum()) for s in ("kept", "changed", "new", "retired")} for lvl in levels},
        "units_changed": int((ut["status"] != "kept").sum()),
        "retired": {lvl: int(((ut["level"] == lvl) & (ut["status"] == "retired")).sum()) for lvl in levels},
    }
    return ChangeList(bt, ut, mig, nct, rt, cu, summary)


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
