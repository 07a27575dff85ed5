"""Whether the columns the options name can serve: ids, numbers, labels, never the geometry.

Part of :func:`gridplan.validate.prepare`: a field that names the geometry, or a column of the wrong kind, is
refused before anything is planned, naming the option, its value and the columns that would do. A field named
by the user (any name but its default, :data:`DEFAULT_FIELDS`) that is not a column is refused too, with the
columns there are and the nearest ones (:func:`missing_field`); a default name that is absent only means the
buildings do not give that value.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> b = gpd.GeoDataFrame({"building_id": ["a", "b"], "households": [12, 8], "name": ["x", "y"]},
...                      geometry=[box(0, 0, 1, 1), box(2, 0, 3, 1)])
>>> column_kind(b["households"]), column_kind(b["name"]), column_kind(b.geometry)
('number', 'text', 'geometry')
>>> problems, bad = check_fields(b, {"id_field": "building_id", "households_field": "name"})
>>> bad, problems[0][:71]
({'households_field'}, "buildings: `households_field` was 'name', a text column (e.g. 'x'), not")
>>> print(missing_field(b, "households_field", "hh"))
buildings: `households_field` was 'hh', which is not a column; did you mean 'households'? (columns: ['building_id', 'households', 'name']); name the households column with `households_field`
"""
from __future__ import annotations

import difflib

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import first_ids

__all__ = ["check_fields", "column_kind", "data_columns", "did_you_mean", "missing_field", "building_attributes",
           "DEFAULT_FIELDS", "SYNONYMS", "ATTRIBUTE_COLUMNS", "HOUSEHOLD_COLUMNS", "POPULATION_COLUMNS", "UNITS_COLUMNS",
           "LEVELS_COLUMNS"]

#: The column each option names when the user names none (:func:`gridplan.inputs.validate.prepare`'s defaults).
DEFAULT_FIELDS = {"id_field": "building_id", "households_field": "households", "units_field": "units",
                  "levels_field": "levels", "compound_field": "compound", "population_field": "population"}
#: Column names recognised as households / population (case-insensitive), e.g. in a ledger with none named.
HOUSEHOLD_COLUMNS = ("households", "household", "hh", "户数", "住户数", "户")
POPULATION_COLUMNS = ("population", "pop", "persons", "人口", "人数", "常住人口")
#: Column names recognised as entrances / storeys: counts, or each row's entrance / floor.
UNITS_COLUMNS = ("units", "entrances", "单元数", "单元", "单元号")
LEVELS_COLUMNS = ("levels", "storeys", "floors", "floor", "层数", "总层数", "楼层", "层")
#: The buildings' descriptive columns a plan carries through to its roster, its copy of the input, the sheets and
#: the change lists: canonical name -> the names taken for it (case, spaces and hyphens aside), canonical first.
#: They only describe: apart from ``building`` (the type, which also decides estimated storeys and households),
#: none changes the plan. See :func:`building_attributes`.
ATTRIBUTE_COLUMNS = {
    "name": ("name", "名称", "楼栋名称", "楼名", "建筑名称", "building_name", "bldg_name"),
    "address": ("address", "addr:full", "addr", "full_address", "地址", "详细地址", "门牌地址", "楼栋地址"),
    "building": ("building", "building_type", "type", "bldg_type", "建筑类型", "楼栋类型", "房屋类型", "建筑性质", "类型"),
    "compound_name": ("compound_name", "estate_name", "小区名称", "小区名", "小区"),
}
#: Names that mean the same thing: a column of one group is suggested for a name of the group.
SYNONYMS = (HOUSEHOLD_COLUMNS, POPULATION_COLUMNS, UNITS_COLUMNS, LEVELS_COLUMNS,
            ("building_id", "id", "bid", "osm_id", "bldg_id", "fid", "编号", "楼号", "楼栋号", "楼栋编号", "建筑编号"),
            ("compound", "estate", "小区", "小区名称"))


def data_columns(gdf: gpd.GeoDataFrame) -> list[str]:
    """The columns other than the geometry."""
    return [c for c in gdf.columns if c != gdf.geometry.name]


def column_kind(col: pd.Series) -> str:
    """What a column holds: geometry, boolean, date, number, numeric text, mixed, text or empty."""
    if isinstance(col.dtype, gpd.array.GeometryDtype):
        return "geometry"
    if pd.api.types.is_bool_dtype(col):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
        return "date"
    if pd.api.types.is_numeric_dtype(col):
        return "number"
    given = col.dropna()
    if not len(given):
        return "empty"
    if given.map(lambda v: isinstance(v, shapely.Geometry)).any():
        return "geometry"
    if given.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        return "boolean"
    try:
        numeric = pd.to_numeric(given, errors="coerce").notna()
    except (TypeError, ValueError):
        return "text"
    return "numeric text" if numeric.all() else "mixed" if numeric.any() else "text"


_NUMBERS = ("number", "numeric text", "mixed", "empty")
_LABELS = (*_NUMBERS, "text")
#: option -> (the column kinds it can use, what it must name, whether it may name no column)
_FIELD_KINDS = {
    "id_field": (_LABELS, "a column of building ids", False),
    "households_field": (_NUMBERS, "a column of household counts", False),
    "units_field": (_NUMBERS, "a column of entrance (单元) counts", True),
    "levels_field": (_NUMBERS, "a column of storey counts", True),
    "compound_field": (_LABELS, "a column naming each building's compound", True),
    "population_field": (_NUMBERS, "a column of residents (persons) per building", True),
}
#: columns a plan writes next to the building ids (its roster, its copy of the input): no id column may be called so
_PLAN_COLUMNS = ("households", "units", "levels", "compound", "compound_name", "household_source", "building", "name", "address",
                 "community_code", "grid_code", "micro_code", "part", "entrances", "floors", "units_source",
                 "levels_source", "population")
_KIND_NAMES = {"geometry": "a geometry column", "boolean": "a column of true/false values", "date": "a column of dates"}


def did_you_mean(name: str, columns: list[str], n: int = 3) -> list[str]:
    """The columns nearest to ``name``: the same name in another case, a synonym (:data:`SYNONYMS`), or a
    close spelling (:func:`difflib.get_close_matches`).

    Examples
    --------
    >>> did_you_mean("Households", ["households", "name"]), did_you_mean("hh", ["HOUSEHOLDS", "name"])
    (['households'], ['HOUSEHOLDS'])
    >>> did_you_mean("housholds", ["households", "name"]), did_you_mean("zzz", ["households"])
    (['households'], [])
    """
    key = name.strip().lower()
    lower = {str(c).strip().lower(): str(c) for c in columns}
    found = [lower[key]] if key in lower else []
    for group in SYNONYMS:
        if key in (g.lower() for g in group):
            found += [lower[g.lower()] for g in group if g.lower() in lower]
    found += [lower[c] for c in difflib.get_close_matches(key, list(lower), n=n, cutoff=0.6)]
    return list(dict.fromkeys(found))[:n]


def missing_field(b: gpd.GeoDataFrame, option: str, column: str, *, layer: str = "buildings") -> str:
    """The problem of an option that names no column: the columns there are, the nearest, and the fix."""
    columns = data_columns(b)
    near = did_you_mean(column, columns)
    guess = f"; did you mean {' or '.join(repr(c) for c in near)}?" if near else ""
    what = option.removesuffix("_field").replace("_", " ")
    return (f"{layer}: `{option}` was {column!r}, which is not a column{guess} (columns: {first_ids(columns)}); "
            f"name the {what} column with `{option}`")


def check_fields(b: gpd.GeoDataFrame, fields: dict[str, str]) -> tuple[list[str], set[str]]:
    """The problems with the options in ``fields`` (option -> column), and the options that have one.

    Only a column of the wrong kind is a problem here (a column that is missing is the caller's to judge).
    """
    problems: list[str] = []
    bad = set()
    for option, column in fields.items():
        if column not in b.columns:
            continue
        accepted, need, optional = _FIELD_KINDS[option]
        kind = "geometry" if column == b.geometry.name else column_kind(b[column])
        if kind in accepted and not (option == "id_field" and column in _PLAN_COLUMNS):
            continue
        bad.add(option)
        if kind in accepted:
            problems.append(f"buildings: `id_field` was {column!r}, a name the plan gives a column of its own next "
                            "to the ids; rename the id column in the file (e.g. to 'building_id') and name it "
                            "with `id_field`")
            continue
        what = ("the geometry column" if column == b.geometry.name else
                f"a text column (e.g. {b[column].dropna().iloc[0]!r})" if kind == "text" else _KIND_NAMES[kind])
        fit = [c for c in data_columns(b) if c not in fields.values() and column_kind(b[c]) in accepted
               and (option != "id_field" or (b[c].notna().all() and not b[c].duplicated().any()))]
        hint = (f"name one of {first_ids(fit)} with `{option}`" if fit else
                f"no column of these buildings would do: add {need} and name it with `{option}`")
        tail = "; it is optional: leave it out to plan without it" if optional else ""
        problems.append(f"buildings: `{option}` was {column!r}, {what}, not {need}; {hint}{tail}")
    return problems, bad


def _key(name: object) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def _as_label(value: object) -> str | None:
    """A cell as text: ``None`` when empty, whole numbers without ``.0``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def building_attributes(b: gpd.GeoDataFrame, *, exclude: tuple[str, ...] = ()) -> tuple[dict[str, pd.Series], dict[str, str], list[str]]:
    """The descriptive columns of ``b`` under their canonical names (:data:`ATTRIBUTE_COLUMNS`), as text.

    A column of the canonical name is taken as it is. Otherwise one column of an alias (``名称``, ``地址``,
    ``type``, ``小区``…, case aside) is taken and a note says so; two or more are ambiguous: none is taken and
    the note names them and the fix. Columns in ``exclude`` (those other options name), and columns of
    geometry, dates or true/false values, are never taken.

    Returns
    -------
    tuple
        Canonical name -> the values (text or ``None``, ``b``'s index); canonical name -> the column taken;
        the notes.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> b = gpd.GeoDataFrame({"id": ["a"], "名称": ["1幢"], "地址": ["中山路1号"], "Type": ["residential"],
    ...                       "addr": ["x"]}, geometry=[box(0, 0, 1, 1)])
    >>> values, taken, notes = building_attributes(b, exclude=("id",))
    >>> taken
    {'name': '名称', 'building': 'Type'}
    >>> values["name"].tolist()
    ['1幢']
    >>> print(notes[0])
    buildings: took the names from column '名称' and the building types from column 'Type'
    >>> print(notes[1])
    buildings: the addresses could be in 'addr' or '地址': neither was taken; rename the one that holds them to 'address'
    """
    columns = [c for c in data_columns(b) if c not in exclude]
    values: dict[str, pd.Series] = {}
    taken: dict[str, str] = {}
    ambiguous: list[str] = []
    for canon, aliases in ATTRIBUTE_COLUMNS.items():
        if canon in columns:
            found = [canon]
        else:
            keys = {_key(a) for a in aliases}
            found = [c for c in columns if _key(c) in keys]
        found = [c for c in found if column_kind(b[c]) in _LABELS]
        if len(found) > 1:
            names = " or ".join(repr(c) for c in sorted(found, key=str))
            ambiguous.append(f"buildings: the {_WHAT[canon]} could be in {names}: {'neither' if len(found) == 2 else 'none'} was taken; rename the one "
                             f"that holds them to {canon!r}")
        elif found:
            values[canon] = pd.Series([_as_label(v) for v in b[found[0]]], index=b.index, dtype=object)
            taken[canon] = found[0]
    aliased = [f"the {_WHAT[k]} from column {c!r}" for k, c in taken.items() if c != k]
    listed = ", ".join(aliased[:-1]) + " and " + aliased[-1] if len(aliased) > 1 else "".join(aliased)
    notes = ([f"buildings: took {listed}"] if aliased else []) + ambiguous
    return values, taken, notes


_WHAT = {"name": "names", "address": "addresses", "building": "building types", "compound_name": "compound names"}
