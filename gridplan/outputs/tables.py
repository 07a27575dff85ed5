"""The tables users receive (DOMAIN.md §5): unit names, 四至, code tables and the building roster.

A *code table* has one row per unit of a level: code, name, parent code, households, population,
buildings, area, perimeter, the four bounding features (四至: the named street, river or railway along
the east / south / west / north side, else the neighbouring unit), the range status, empty grid-worker
name/phone columns and the start/end dates. The *roster* has one row per building (or building part).

Every column has an English key (the DataFrame columns), a DBF field name of at most 10 ASCII
characters (:data:`FIELDS`, used by the shapefiles) and a Chinese name (the CSV headers and the
shapefiles' alias table).

Examples
--------
>>> import geopandas as gpd, shapely
>>> units = gpd.GeoDataFrame({"code": ["a"]}, geometry=[shapely.box(0, 0, 100, 100)], crs=32650)
>>> roads = gpd.GeoDataFrame({"tier": [3, 2], "name": ["中山路", "北京路"]},
...     geometry=[shapely.LineString([(105, -50), (105, 150)]), shapely.LineString([(-50, 103), (150, 103)])], crs=32650)
>>> four_sides(units, roads).iloc[0].to_dict()
{'east': '中山路', 'south': '', 'west': '', 'north': '北京路'}
"""
from __future__ import annotations

import csv
import re
import weakref
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..model import LAYER_NAMES, Plan
from .parts import LEVEL_CODE as _LEVEL_CODE, building_shapes, column_lookup, roster_parts, unit_parts

__all__ = ["FIELDS", "SIDES", "SIDE_REACH_M", "SIDE_SPACING_M", "four_sides", "layer_sides", "unit_sides", "level_names",
           "unit_names", "code_table", "roster", "field_label", "metric_crs", "ascii_field_names", "write_csv"]

SIDES = ("east", "south", "west", "north")
"""The four sides of 四至, in the order Chinese documents give them (东南西北)."""

SIDE_REACH_M = 50.0
"""How far beyond a unit's edge a named street, river or railway still bounds it (四至)."""

SIDE_SPACING_M = 10.0
"""How densely a unit's edge is sampled for its 四至 (metres between samples)."""

FIELDS: dict[str, tuple[str, str]] = {
    "level": ("level", "层级"),
    "code": ("code", "编码"),
    "name": ("name", "名称"),
    "parent_code": ("parent", "上级编码"),
    "parent_name": ("parent_nm", "上级名称"),
    "households": ("hh", "户数"),
    "population": ("pop", "人口"),
    "buildings": ("bldgs", "楼栋数"),
    "area_m2": ("area_m2", "面积(平方米)"),
    "perimeter_m": ("perim_m", "周长(米)"),
    "east": ("east", "东至"),
    "south": ("south", "南至"),
    "west": ("west", "西至"),
    "north": ("north", "北至"),
    "in_range": ("in_range", "规模达标"),
    "worker_name": ("worker", "网格员姓名"),
    "worker_phone": ("phone", "网格员电话"),
    "start_date": ("start", "启用日期"),
    "end_date": ("end", "停用日期"),
    "building_id": ("bldg_id", "楼栋编号"),
    "address": ("address", "地址/名称"),
    "building": ("bldg_type", "建筑类型"),
    "compound_name": ("cmpd_name", "小区名称"),
    "community_code": ("comm_code", "社区编码"),
    "grid_code": ("grid_code", "网格编码"),
    "micro_code": ("micro_code", "微网格编码"),
    "part": ("part", "分部(0=整栋)"),
    "entrances": ("entrances", "单元"),
    "floors": ("floors", "楼层"),
    "compound": ("compound", "小区"),
    "rule": ("rule", "规则"),
    "status": ("status", "结果"),
    "value": ("value", "数值"),
    "limit": ("limit", "限值"),
    "basis": ("basis", "依据"),
    "detail": ("detail", "说明"),
    "part_label": ("part_label", "分部"),
    "units_source": ("units_src", "单元数来源"),
    "levels_source": ("levels_src", "层数来源"),
    "parts": ("parts", "分部楼栋"),
    "post": ("post", "岗位"),
    "post_zh": ("post_zh", "岗位名称"),
    "scope": ("scope", "负责范围"),
    "building_name": ("bldg_name", "楼栋名称"),
    "entrance": ("entrance", "单元号"),
    "floor": ("floor", "楼层号"),
    "source": ("source", "单元楼层来源"),
    "holder_name": ("holder", "姓名"),
    "holder_phone": ("holder_ph", "联系电话"),
}
"""English key → (DBF field name ≤ 10 ASCII characters, Chinese name)."""

_LEVEL_ZH = {"community": "社区", "grid": "网格", "micro": "微网格"}
_CODE_TABLE_COLUMNS = (
    "level", "code", "name", "parent_code", "parent_name", "households", "population", "buildings", "area_m2",
    "perimeter_m", *SIDES, "in_range", "worker_name", "worker_phone", "start_date", "end_date", "parts",
)


def field_label(key: str) -> str:
    """The CSV header of a column: its Chinese name and its key (``'户数 households'``)."""
    zh = FIELDS.get(key, (None, None))[1]
    return f"{zh} {key}" if zh else key


def metric_crs(gdf: gpd.GeoDataFrame):
    """A projected CRS to measure ``gdf`` in: its own if projected, else the local UTM zone."""
    if gdf.crs is None or not gdf.crs.is_geographic:
        return gdf.crs
    return gdf.estimate_utm_crs() if len(gdf) else "EPSG:32650"


def _seq(code: str) -> int:
    tail = str(code)[-3:]
    return int(tail) if tail.isdigit() else 0


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """``df`` as CSV, UTF-8 with a byte-order mark, headers ``'<Chinese name> <key>'``."""
    df.rename(columns=field_label).to_csv(path, index=False, encoding="utf-8-sig", quoting=csv.QUOTE_MINIMAL)


def level_names(units: gpd.GeoDataFrame, level: str, parent_names: dict[str, str] | None = None) -> pd.Series:
    """A name per unit of ``level``: its ``name`` column when it has one, else built from its parent's
    (``parent_names``: code → name), indexed like ``units``.

    >>> import geopandas as gpd
    >>> units = gpd.GeoDataFrame({"code": ["320102001002"], "parent_code": ["320102001"], "name": [None]}, geometry=[None])
    >>> level_names(units, "community").tolist()
    ['第2社区']
    """
    parent_names = parent_names or {}
    given = units["name"] if "name" in units.columns else pd.Series([None] * len(units), index=units.index)
    names = []
    for code, parent, name in zip(units["code"].astype(str), units["parent_code"].astype(str), given):
        if isinstance(name, str) and name.strip():
            names.append(name.strip())
        else:
            names.append(f"{parent_names.get(parent, '')}第{_seq(code)}{_LEVEL_ZH[level]}")
    return pd.Series(names, index=units.index, dtype=object)


def unit_names(plan: Plan) -> dict[str, pd.Series]:
    """A name per unit and level (:func:`level_names`).

    A community without a name is called ``第N社区`` (N = its sequence in its code); a grid
    ``<community name>第N网格``; a micro-grid ``<grid name>第N微网格``.
    """
    out: dict[str, pd.Series] = {}
    parent_names: dict[str, str] = {}
    for level, attr in LAYER_NAMES.items():
        units = getattr(plan, attr)
        out[level] = level_names(units, level, parent_names)
        parent_names = dict(zip(units["code"].astype(str), out[level]))
    return out


def _named_features(barriers: gpd.GeoDataFrame | None, crs) -> gpd.GeoDataFrame:
    if barriers is None or len(barriers) == 0 or "name" not in barriers.columns:
        return gpd.GeoDataFrame({"name": []}, geometry=gpd.GeoSeries([], crs=crs))
    names = barriers["name"].astype(object).where(barriers["name"].notna(), "").astype(str).str.strip()
    keep = (names != "") & (names.str.lower() != "nan")
    return gpd.GeoDataFrame({"name": names[keep].to_numpy()}, geometry=barriers.geometry[keep].to_numpy(), crs=barriers.crs).to_crs(crs)


def _boundary_samples(geoms: np.ndarray, spacing: float, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along each polygon's exterior: (unit index, points, side index 0..3 per SIDES)."""
    idx, pts, side = [], [], []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        polys = shapely.get_parts(g)
        ring = max(polys, key=lambda p: p.area).exterior
        n = int(min(cap, max(8, ring.length // spacing)))
        p = shapely.line_interpolate_point(ring, np.arange(n) * ring.length / n)
        x, y = shapely.get_x(p), shapely.get_y(p)
        minx, miny, maxx, maxy = g.bounds
        nx = (x - (minx + maxx) / 2) / max((maxx - minx) / 2, 1e-9)
        ny = (y - (miny + maxy) / 2) / max((maxy - miny) / 2, 1e-9)
        s = np.where(np.abs(nx) >= np.abs(ny), np.where(nx >= 0, 0, 2), np.where(ny >= 0, 3, 1))
        idx.append(np.full(n, i))
        pts.append(p)
        side.append(s)
    if not idx:
        return np.array([], int), np.array([], object), np.array([], int)
    return np.concatenate(idx), np.concatenate(pts), np.concatenate(side)


def four_sides(units: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame | None, *, names: pd.Series | None = None) -> pd.DataFrame:
    """四至: what bounds each unit to the east, south, west and north (the one rule every deliverable uses).

    The exterior of each unit is sampled every :data:`SIDE_SPACING_M` metres; each sample belongs to the side
    it faces (by its position in the unit's bounding box). From each sample a ray goes :data:`SIDE_REACH_M`
    metres outward (east for the east side, ...); the nearest named barrier (street, river, railway) it
    meets lies beyond that sample. A side is named after the feature beyond most of it, however little of it
    that is (approval documents name all four sides); a second name is added (``'中山路、石鼓路'``) when it
    bounds at least half as much. Only a side no named feature borders at all is named after the
    neighbouring unit beyond most of it (``names``, else its code); a side nothing borders is ``''``.

    Deliverables take 四至 from :func:`unit_sides`, which calls this once per plan and level.

    Parameters
    ----------
    units
        Polygons with a ``code`` column, any CRS.
    barriers
        Lines or polygons with a ``name`` column (``plan.input_barriers``); ``None`` for none.
    names
        The units' names, used for a neighbour; default their codes.

    Returns
    -------
    pandas.DataFrame
        Columns ``east``, ``south``, ``west``, ``north`` (strings, ``''`` when nothing bounds that
        side), indexed like ``units``.
    """
    out = pd.DataFrame({s: [""] * len(units) for s in SIDES}, index=units.index, dtype=object)
    if len(units) == 0:
        return out
    crs = metric_crs(units)
    geoms = np.asarray(units.to_crs(crs).geometry.array, dtype=object)
    labels = (names if names is not None else units["code"]).astype(str).to_numpy()
    unit_i, pts, side = _boundary_samples(geoms, SIDE_SPACING_M, 400)
    if not len(pts):
        return out
    counts: dict[tuple[int, int], dict[str, int]] = {}
    found = np.zeros(len(pts), bool)
    normal = np.array([[1.0, 0.0], [0.0, -1.0], [-1.0, 0.0], [0.0, 1.0]])[side]
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    feats = _named_features(barriers, crs)
    if len(feats):
        # what lies beyond each sample: the nearest named feature met by a ray outward from it
        rays = shapely.linestrings(
            np.stack([np.stack([x, y], 1), np.stack([x, y], 1) + SIDE_REACH_M * normal], 1)
        )
        fgeoms = np.asarray(feats.geometry.array, dtype=object)
        ri, fi = shapely.STRtree(fgeoms).query(rays, predicate="intersects")
        if len(ri):
            hits = pd.DataFrame({"p": ri, "f": fi, "d": shapely.distance(pts[ri], fgeoms[fi])})
            hits = hits.sort_values(["p", "d", "f"], kind="stable").drop_duplicates("p")
            fnames = feats["name"].to_numpy()
            for p, f in zip(hits["p"].to_numpy(), hits["f"].to_numpy()):
                found[p] = True
                key = (int(unit_i[p]), int(side[p]))
                counts.setdefault(key, {}).setdefault(fnames[f], 0)
                counts[key][fnames[f]] += 1
    # the neighbour beyond each sample not bounded by a named feature: step 3 m outward
    moved = shapely.points(x + 3.0 * normal[:, 0], y + 3.0 * normal[:, 1])
    pi, ui = shapely.STRtree(geoms).query(moved, predicate="within")
    neighbour: dict[tuple[int, int], dict[str, int]] = {}
    for p, u in zip(pi, ui):
        if u != unit_i[p] and not found[p]:
            key = (int(unit_i[p]), int(side[p]))
            neighbour.setdefault(key, {}).setdefault(labels[u], 0)
            neighbour[key][labels[u]] += 1
    for key in sorted(set(counts) | set(neighbour)):
        out.iat[key[0], key[1]] = _top_names(counts.get(key) or neighbour[key])
    return out


def _top_names(tally: dict[str, int]) -> str:
    """The name along most of a side, and a runner-up along at least half as much.

    >>> _top_names({"中山路": 4, "石鼓路": 2, "北京路": 1})
    '中山路、石鼓路'
    """
    ranked = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
    keep = [ranked[0][0]] + [n for n, c in ranked[1:2] if c >= 0.5 * ranked[0][1]]
    return "、".join(keep)


#: id(units) → (the units, weakly; the barriers; the neighbour names; their 四至): see :func:`layer_sides`
_SIDES_CACHE: dict[int, tuple[weakref.ref, object, np.ndarray, pd.DataFrame]] = {}


def layer_sides(units: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame | None, names: pd.Series) -> pd.DataFrame:
    """:func:`four_sides` of ``units``, computed once per layer, barriers and names (held while ``units`` lives).

    A layer is not to be edited in place once its 四至 are asked for: replace it (``dataclasses.replace``)."""
    key, labels = id(units), names.astype(str).to_numpy()
    held = _SIDES_CACHE.get(key)
    if held is not None and held[0]() is units and held[1] is barriers and np.array_equal(held[2], labels):
        return held[3]
    sides = four_sides(units, barriers, names=names)
    _SIDES_CACHE[key] = (weakref.ref(units, lambda _: _SIDES_CACHE.pop(key, None)), barriers, labels, sides)
    return sides


def unit_sides(plan: Plan, level: str) -> pd.DataFrame:
    """The 四至 of every unit of ``level``: :func:`four_sides` of its final polygons and the plan's barriers,
    neighbours named by :func:`unit_names`; indexed like ``plan.layer(level)``.

    Computed once per plan and level (:func:`layer_sides`): every deliverable (code tables, sheets,
    shapefile and GeoPackage attributes, ``new_communities.csv``) takes its 四至 from here, so all say the same.

    Examples
    --------
    >>> import gridplan
    >>> from gridplan.sample import make_district
    >>> d = make_district(households=3000, communities=1)
    >>> p = gridplan.plan(d.buildings, d.roads, seed=1, start_date="2026-01-01")
    >>> sides = unit_sides(p, "grid")
    >>> list(sides.columns), unit_sides(p, "grid") is sides, bool((sides != "").all(axis=None))
    (['east', 'south', 'west', 'north'], True, True)
    """
    return layer_sides(plan.layer(level), plan.input_barriers, unit_names(plan)[level])


def code_table(plan: Plan, level: str = "grid", *, names: dict[str, pd.Series] | None = None) -> pd.DataFrame:
    """The code table of ``level`` ('community', 'grid' or 'micro'): one row per unit, codes as text.

    Columns: ``level``, ``code``, ``name``, ``parent_code``, ``parent_name``, ``households``,
    ``population``, ``buildings``, ``area_m2``, ``perimeter_m``, ``east``/``south``/``west``/``north``
    (四至), ``in_range``, ``worker_name`` and ``worker_phone`` (empty, for the street office to fill),
    ``start_date``, ``end_date`` (empty while the unit is in use), ``parts`` (the divided buildings the unit
    holds only part of, by name or id: ``'3号楼 1–2单元; 5号楼 1–15层'``; empty when it holds none).
    """
    units = plan.layer(level)
    names = names or unit_names(plan)
    parent_level = {"grid": "community", "micro": "grid"}.get(level)
    parent_names = dict(zip(plan.layer(parent_level)["code"].astype(str), names[parent_level])) if parent_level else {}
    sides = unit_sides(plan, level)
    start = units["start_date"] if "start_date" in units.columns else plan.report.get("start_date", "")
    table = pd.DataFrame({
        "level": level,
        "code": units["code"].astype(str).to_numpy(),
        "name": names[level].to_numpy(),
        "parent_code": units["parent_code"].astype(str).to_numpy(),
        "parent_name": [parent_names.get(c, "") for c in units["parent_code"].astype(str)],
        "households": units["households"].to_numpy(),
        "population": units["population"].to_numpy(),
        "buildings": units["buildings"].to_numpy(),
        "area_m2": units["area_m2"].to_numpy(),
        "perimeter_m": units["perimeter_m"].to_numpy(),
        **{s: sides[s].to_numpy() for s in SIDES},
        "in_range": units["in_range"].astype(bool).to_numpy(),
        "worker_name": "",
        "worker_phone": "",
        "start_date": np.asarray(start, dtype=object) if not isinstance(start, str) else start,
        "end_date": units["end_date"].fillna("").astype(str).to_numpy() if "end_date" in units.columns else "",
    })
    parts = unit_parts(plan, level)
    table["parts"] = [parts.get(c, "") for c in table["code"]]
    table["start_date"] = table["start_date"].astype(str)
    return table[list(_CODE_TABLE_COLUMNS)].sort_values("code", kind="stable").reset_index(drop=True)


def roster(plan: Plan) -> pd.DataFrame:
    """The building roster: ``building_id``, ``address``, ``households``, ``population``, the three codes,
    ``part`` (0 for a whole building), ``entrances``, ``floors``, ``part_label`` (what a part of a divided
    building holds: ``'1–2单元'``, ``'2单元 1–15层'``, ``'1–15层'``; empty for a whole building), ``compound``,
    ``units_source`` and ``levels_source`` (``given``, ``ledger`` or ``estimate-…``: how the entrance and
    storey counts were found); ids and codes as text. ``population`` is the input's, shared over the parts,
    else households × persons per household.

    ``address`` comes from an ``address``/``addr:full``/``name`` column of the plan's buildings or its
    input buildings, when there is one; ``name``, ``building`` (the type) and ``compound_name`` follow it
    when the input has them.
    """
    b = plan.buildings
    ids = b[plan.id_field].astype(str)
    lookup = column_lookup(plan, ("address", "addr:full", "name"))
    address = pd.Series([lookup.get(i, "") for i in ids], index=b.index, dtype=object)
    pph = float(plan.config.persons_per_household)
    shapes = building_shapes(plan)
    hh = b["households"].astype(float).to_numpy()
    population = np.round(hh * pph)
    ib = plan.input_buildings
    if "population" in ib.columns:  # each part holds its share of the building's persons
        pop_b = pd.Series(pd.to_numeric(ib["population"], errors="coerce").to_numpy(), index=ib[plan.id_field].astype(str))
        pop_b = pop_b[~pop_b.index.duplicated()]
        whole = shapes["households"].reindex(ids).to_numpy(dtype=float)
        given = pop_b.reindex(ids).to_numpy(dtype=float)
        share = np.where(whole > 0, hh / np.where(whole > 0, whole, 1.0), 0.0)
        population = np.where(np.isfinite(given), np.round(given * share), population)
    out = pd.DataFrame({
        "building_id": ids.to_numpy(),
        "address": address.to_numpy(),
        "households": b["households"].to_numpy(),
        "population": population.astype(int),
        "community_code": b["community_code"].astype(str).to_numpy(),
        "grid_code": b["grid_code"].astype(str).to_numpy(),
        "micro_code": b["micro_code"].astype(str).to_numpy(),
        "part": b["part"].to_numpy(),
    })
    for col in ("entrances", "floors", "compound"):
        out[col] = b[col].astype(object).where(b[col].notna(), "").astype(str).to_numpy() if col in b.columns else ""
    at = out.columns.get_loc("address") + 1
    for col in ("name", "building", "compound_name"):  # the input's attributes, when it has them
        if col in b.columns or col in plan.input_buildings.columns:
            found = column_lookup(plan, (col,))
            out.insert(at, col, [found.get(i, "") for i in ids])
            at += 1
    labels = b["part_label"] if "part_label" in b.columns else roster_parts(plan)["label"]
    out.insert(out.columns.get_loc("floors") + 1, "part_label",
               pd.Series(labels, index=b.index, dtype=object).reindex(b.index).fillna("").astype(str).to_numpy())
    # where the entrance and storey counts come from: given, ledger, or an estimate (they decide the parts)
    for col in ("units_source", "levels_source"):
        out[col] = shapes[col].reindex(ids).fillna("").astype(str).to_numpy()
    return out


def ascii_field_names(keys: list[str]) -> dict[str, str]:
    """DBF field names (≤ 10 ASCII characters, unique) for ``keys``: :data:`FIELDS` where listed.

    >>> ascii_field_names(["code", "楼栋 id", "a_very_long_name", "a_very_long_other"])
    {'code': 'code', '楼栋 id': 'id', 'a_very_long_name': 'a_very_lon', 'a_very_long_other': 'a_very_l_1'}
    """
    out: dict[str, str] = {}
    for key in keys:
        base = FIELDS[key][0] if key in FIELDS else (re.sub(r"[^A-Za-z0-9_]", "", key.replace(":", "_")) or "field")[:10]
        name, n = base, 0
        while name.lower() in {v.lower() for v in out.values()}:
            n += 1
            name = f"{base[:10 - len(str(n)) - 1]}_{n}"
        out[key] = name
    return out
