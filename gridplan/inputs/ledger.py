"""Household ledgers (台账): counts kept by the community, joined to buildings by a key.

A ledger is a table (CSV in UTF-8 or GBK, XLSX/ODS, or any table GDAL reads) with one of:

- a households column: households per row, summed over rows with the same key (one row per unit or
  entrance is common);
- a population column only: households = population ÷ persons per household (``"ledger-population"``);
- neither: every row is one household (a ledger of 户), counted per key.

It may also give each building's entrances (单元) and storeys (层): a column of counts, or the entrance and
floor number of each row (a ledger of 户 lists 单元 and 楼层); the largest value per key is taken, and
written to the buildings' ``units``/``levels`` with ``units_source``/``levels_source`` ``"ledger"``
(checked by :func:`gridplan.inputs.validate.prepare` like the buildings' own values).

A ledger without the key column but with coordinates (``lon``/``lat``, ``longitude``/``latitude``, ``经度``/``纬度``:
WGS84 degrees; ``x``/``y``: the buildings' CRS) is a table of points: each row joins the building its point
lies in (:func:`point_columns`); a point in no building is listed as an unmatched row.

The ledger is the most trusted source (see :mod:`gridplan.inputs.households`). Rows whose key matches no building
and buildings with no row are listed, never dropped: the unmatched rows in a note and a warning, the
buildings kept with their next best count.

Examples
--------
>>> import geopandas as gpd, pandas as pd
>>> from shapely.geometry import box
>>> b = gpd.GeoDataFrame({"building_id": ["A1", "A2", "A3"], "building": ["residential"] * 3},
...                      geometry=[box(0, 0, 20, 15), box(30, 0, 50, 15), box(60, 0, 80, 15)], crs=32650)
>>> ledger = pd.DataFrame({"楼栋编号": ["A1", "A1", "A2", "Z9"], "户数": [24, 12, 30, 8]})
>>> j = join_ledger(b, ledger, key="楼栋编号", households_field="户数")
>>> j.buildings[["building_id", "households", "household_source"]]
  building_id  households household_source
0          A1          36           ledger
1          A2          30           ledger
2          A3          19         estimate
>>> j.unmatched_rows, j.unledgered
(('Z9',), ('A3',))

A ledger of points, in degrees here, joins the building each point lies in:

>>> deg = gpd.GeoDataFrame({"building_id": ["A1", "A2"]}, crs=4326,
...                        geometry=[box(118.780, 32.040, 118.781, 32.041), box(118.782, 32.040, 118.783, 32.041)])
>>> pts = pd.DataFrame({"lon": ["118.7805", "118.7825", "118.79"], "lat": ["32.0405", "32.0405", "32.05"],
...                     "户数": ["20", "30", "9"]})
>>> j = join_ledger(deg, pts)
>>> j.buildings["households"].tolist(), j.unmatched_rows
([20, 30], ('row 4 at (118.79, 32.05)',))
"""
from __future__ import annotations

import csv
import io as _io
import logging
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from ..errors import InputError, first_ids, plural
from .columns import HOUSEHOLD_COLUMNS, LEVELS_COLUMNS, POPULATION_COLUMNS, UNITS_COLUMNS, did_you_mean
from .households import HouseholdRules, estimate_households

__all__ = ["LedgerJoin", "read_ledger", "join_ledger", "point_columns", "point_table", "HOUSEHOLD_COLUMNS",
           "POPULATION_COLUMNS", "UNITS_COLUMNS", "LEVELS_COLUMNS", "POINT_COLUMNS"]

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class LedgerJoin:
    """Buildings with households from the ledger (and their next best count elsewhere), and what did not match.

    ``buildings`` carries ``households`` (int64) and ``household_source`` for every building, and in
    ``attrs`` the notes and warnings :func:`gridplan.inputs.validate.prepare` puts in the report.
    """

    buildings: gpd.GeoDataFrame
    matched: int
    unmatched_rows: tuple[str, ...]
    unledgered: tuple[str, ...]
    notes: tuple[str, ...]


#: Coordinate columns of a table of points (case-insensitive), and whether they are WGS84 degrees
POINT_COLUMNS = ((("lon", "lat"), True), (("lng", "lat"), True), (("long", "lat"), True),
                 (("longitude", "latitude"), True), (("经度", "纬度"), True), (("x", "y"), False),
                 (("point_x", "point_y"), False))


def point_columns(columns: list[str]) -> tuple[str, str, bool] | None:
    """The columns of x and y in ``columns``, and whether they are WGS84 degrees; None when there are none.

    >>> point_columns(["编号", "Lon", "Lat"]), point_columns(["id", "x", "y"]), point_columns(["id"])
    (('Lon', 'Lat', True), ('x', 'y', False), None)
    """
    lower = {str(c).strip().lower(): str(c) for c in columns}
    for (x, y), degrees in POINT_COLUMNS:
        if x in lower and y in lower:
            return lower[x], lower[y], degrees
    return None


def point_table(path: str | PathLike) -> tuple[str, str, bool] | None:
    """The coordinate columns when ``path`` is a CSV text table of points (:func:`point_columns`), else None.

    Only the first line is read; a file that is not comma/semicolon/tab separated text gives None.
    """
    with open(path, "rb") as f:
        head = f.read(4096)
    if b"\x00" in head or head.lstrip().startswith((b"{", b"<", b"PK")):
        return None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            line = head.decode(encoding).splitlines()[0] if head.strip() else ""
            break
        except UnicodeDecodeError:
            line = ""
    sep = max(",;\t", key=line.count)
    return point_columns([c.strip().strip('"') for c in line.split(sep)]) if line.count(sep) else None


def _point_keys(table: pd.DataFrame, xy: tuple[str, str, bool], buildings: gpd.GeoDataFrame, building_key: str,
                problems: list[str]) -> pd.Series:
    """The key of the building each row's point lies in; ``"row N at (x, y)"`` for a point in none."""
    x_col, y_col, degrees = xy
    x, y = (pd.to_numeric(table[c].map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")
            for c in (x_col, y_col))
    bad = x.isna() | y.isna()
    if bad.any():
        problems.append(f"ledger: {plural(int(bad.sum()), 'row')} without a number in {x_col!r} or {y_col!r} (rows "
                        f"{first_ids([int(i) + 2 for i in np.flatnonzero(bad.to_numpy())])} of the file); give every "
                        "row its coordinates")
        return pd.Series(None, index=table.index, dtype=object)
    crs = 4326 if degrees or buildings.crs is None else buildings.crs
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), index=table.index, crs=crs)
    if buildings.crs is not None:
        points = points.to_crs(buildings.crs)
    hits = gpd.sjoin(points, buildings[[building_key, buildings.geometry.name]], predicate="within", how="left")
    hits = hits[~hits.index.duplicated(keep="first")]
    labels = pd.Series([f"row {i + 2} at ({a:g}, {b:g})" for i, (a, b) in enumerate(zip(x, y))], index=table.index)
    return _keys(hits[building_key]).where(hits[building_key].notna(), labels)


#: The GDAL drivers a ledger table is read with (CSV text itself is read by pandas)
_LEDGER_DRIVERS = ("XLSX", "ODS", "GPKG", "ESRI Shapefile", "CSV")


def _csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
            sep = dialect.delimiter
        except csv.Error:
            sep = ","
        return pd.read_csv(_io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    raise InputError(f"ledger {path}: not UTF-8 or GBK text; save the ledger as CSV (UTF-8) or XLSX")


def read_ledger(source: str | PathLike | pd.DataFrame, *, layer: str | None = None) -> pd.DataFrame:
    """Read a ledger table: CSV (UTF-8 or GBK; comma, semicolon or tab), XLSX/ODS, or any GDAL table.

    Every column is read as text, so keys such as ``"0012"`` keep their zeros.
    """
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.is_file():
        raise InputError(f"ledger {path}: no such file; check the path")
    with open(path, "rb") as f:
        head = f.read(8)
    if not head.startswith(b"PK") and b"\x00" not in head and not path.suffix.lower() in (".gpkg", ".dbf", ".sqlite"):
        return _csv(path)
    try:
        driver = pyogrio.read_info(path, layer=layer)["driver"]
        if driver not in _LEDGER_DRIVERS:
            raise InputError(f"ledger {path}: a {driver} file is not a ledger gridplan reads; give a CSV (UTF-8 or "
                             "GBK), XLSX, ODS, GeoPackage or DBF table")
        df = pyogrio.read_dataframe(path, layer=layer, read_geometry=False)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - GDAL raises several types for an unreadable file
        raise InputError(f"ledger {path}: not a table gridplan can read ({exc}); give a CSV (UTF-8 or GBK) or "
                         "XLSX file") from exc
    return pd.DataFrame(df).astype(object).where(pd.DataFrame(df).notna(), None).map(
        lambda v: v if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))


def _find(columns: list[str], named: str | None, candidates: tuple[str, ...]) -> str | None:
    if named is not None:
        return named if named in columns else None
    lower = {c.strip().lower(): c for c in columns}
    return next((lower[c] for c in candidates if c in lower), None)


def _keys(values: pd.Series) -> pd.Series:
    """Keys compared as text: stripped, and ``12.0`` read as ``12``."""
    text = values.astype(object).where(values.notna(), None).map(lambda v: None if v is None else str(v).strip())
    return text.map(lambda v: v[:-2] if isinstance(v, str) and v.endswith(".0") and v[:-2].lstrip("-").isdigit() else v)


def _numeric(values: pd.Series) -> bool:
    text = values.dropna().astype(str).str.replace(",", "").str.strip()
    text = text[text != ""]
    return bool(pd.to_numeric(text, errors="coerce").notna().all())


def _first_text(values: pd.Series) -> str:
    text = values.dropna().astype(str).str.replace(",", "").str.strip()
    bad = text[pd.to_numeric(text, errors="coerce").isna() & (text != "")]
    return str(bad.iloc[0]) if len(bad) else ""


def join_ledger(
    buildings: gpd.GeoDataFrame,
    ledger: str | PathLike | pd.DataFrame,
    *,
    key: str = "building_id",
    building_key: str = "building_id",
    households_field: str | None = None,
    population_field: str | None = None,
    units_field: str | None = None,
    levels_field: str | None = None,
    buildings_households_field: str = "households",
    buildings_units_field: str = "units",
    buildings_levels_field: str = "levels",
    rules: HouseholdRules | None = None,
) -> LedgerJoin:
    """Give each building the households of its ledger rows; estimate the others and list both misses.

    Parameters
    ----------
    buildings
        Footprints with ``building_key`` and a CRS.
    ledger
        A table or its file (see :func:`read_ledger`).
    key
        The ledger column holding the building key (``--ledger-key``).
    building_key
        The buildings' column it matches (the id field).
    households_field, population_field
        The ledger's columns; by default the first of :data:`HOUSEHOLD_COLUMNS` /
        :data:`POPULATION_COLUMNS` present. With neither, each row is one household.
    units_field, levels_field
        The ledger's entrances and storeys (counts, or each row's entrance / floor number); by default the
        first of :data:`UNITS_COLUMNS` / :data:`LEVELS_COLUMNS` present. The largest value per key is taken.
    buildings_households_field
        Where the buildings' own counts are (used, as ``"field"``, for buildings with no ledger row), and
        where the result is written.
    buildings_units_field, buildings_levels_field
        Where the ledger's entrances and storeys are written (the buildings' own values stay where the
        ledger gives none).
    rules
        Persons per household and the estimate for buildings with neither a row nor a count.

    Returns
    -------
    LedgerJoin

    Raises
    ------
    InputError
        A missing key column, named columns that are absent, non-numeric or negative counts.
    """
    rules = rules or HouseholdRules()
    table = read_ledger(ledger)
    cols = [str(c) for c in table.columns]
    problems = []
    xy = point_columns(cols) if key not in cols else None
    if key not in cols and xy is None:
        near = did_you_mean(key, cols)
        guess = f"; did you mean {' or '.join(repr(c) for c in near)}?" if near else ""
        problems.append(f"ledger: no key column {key!r}{guess} (columns: {first_ids(cols)}); name the column that "
                        "holds the building id with `key`, or give each row's point in lon/lat (or x/y) columns")
    if building_key not in buildings.columns:
        problems.append(f"buildings: no id field {building_key!r} to join the ledger on (columns: "
                        f"{first_ids([c for c in buildings.columns if c != buildings.geometry.name])}); name it "
                        "with `building_key`")
    hh_col = _find(cols, households_field, HOUSEHOLD_COLUMNS)
    pop_col = _find(cols, population_field, POPULATION_COLUMNS)
    units_col = _find(cols, units_field, UNITS_COLUMNS)
    levels_col = _find(cols, levels_field, LEVELS_COLUMNS)
    for named, found, what in ((households_field, hh_col, "households"), (population_field, pop_col, "population"),
                               (units_field, units_col, "entrances"), (levels_field, levels_col, "storeys")):
        if named is not None and found is None:
            near = did_you_mean(named, cols)
            guess = f"; did you mean {' or '.join(repr(c) for c in near)}?" if near else ""
            problems.append(f"ledger: no {what} column {named!r}{guess} (columns: {first_ids(cols)})")
    if problems:
        raise InputError(problems)

    notes: list[str] = []
    if xy is not None:
        keys = _point_keys(table, xy, buildings, building_key, problems)
        if problems:
            raise InputError(problems)
        notes.append(f"ledger: no key column {key!r}; each row joins the building its point ({xy[0]!r}, {xy[1]!r}"
                     f"{', WGS84 degrees' if xy[2] else ', in the buildings CRS'}) lies in")
        key = f"{xy[0]}/{xy[1]}"
    else:
        keys = _keys(table[key])
    empty = keys.isna() | (keys == "")
    if empty.any():
        notes.append(f"ledger: {plural(int(empty.sum()), 'row')} with no {key!r}, not joined (rows "
                     f"{first_ids([int(i) + 2 for i in np.flatnonzero(empty.to_numpy())])} of the file)")
    table, keys = table[~empty], keys[~empty]

    def numbers(col: str) -> pd.Series:
        raw = table[col]
        num = pd.to_numeric(raw.map(lambda v: v.replace(",", "").strip() if isinstance(v, str) else v), errors="coerce")
        bad = raw.notna() & (raw.astype(str).str.strip() != "") & (num.isna() | (num < 0))
        if bad.any():
            problems.append(f"ledger: {plural(int(bad.sum()), 'value')} of {col!r} {'is' if int(bad.sum()) == 1 else 'are'} not whole numbers >= 0, e.g. "
                            f"{raw[bad].iloc[0]!r} (keys {first_ids(keys[bad])}); correct them in the ledger")
        return num

    if hh_col is not None:
        values, source, how = numbers(hh_col), "ledger", f"households from {hh_col!r}"
    elif pop_col is not None:
        values = numbers(pop_col) / rules.persons_per_household
        source, how = "ledger-population", f"population {pop_col!r} ÷ {rules.persons_per_household:g}"
    else:
        values, source, how = pd.Series(1.0, index=table.index), "ledger", "one household per row"
    shape = {}
    for out, col, named, what in ((buildings_units_field, units_col, units_field, "entrances"),
                                  (buildings_levels_field, levels_col, levels_field, "storeys")):
        if col is None:
            continue
        if named is None and not _numeric(table[col]):  # found by its name only: used if it holds numbers
            notes.append(f"ledger: column {col!r} does not hold numbers (e.g. {_first_text(table[col])!r}); not used "
                         f"for {what} (name a column of numbers to use one)")
            continue
        shape[out] = numbers(col)
    if problems:
        raise InputError(problems)
    per_key = values.groupby(keys.to_numpy()).sum(min_count=1)
    repeated = int(keys.duplicated().sum())

    b = buildings.copy()
    bkeys = _keys(b[building_key])
    matched = bkeys.isin(per_key.index) & bkeys.map(lambda k: pd.notna(per_key.get(k, np.nan)))
    unmatched_rows = tuple(sorted(set(per_key.index) - set(bkeys.dropna())))
    unledgered = tuple(bkeys[~matched].astype(str))

    households = pd.Series(np.nan, index=b.index)
    src = pd.Series(None, index=b.index, dtype=object)
    households[matched] = bkeys[matched].map(per_key).round().to_numpy()
    src[matched] = source
    rest = ~matched
    if buildings_households_field in b.columns:
        own = pd.to_numeric(b[buildings_households_field], errors="coerce")
        use = rest & own.notna()
        households[use] = own[use].round()
        src[use] = b["household_source"][use] if "household_source" in b.columns else "field"
        rest &= ~use
    if rest.any():
        est = estimate_households(b[rest], rules=rules)
        households[rest] = est.households
        src[rest] = est.source
    b[buildings_households_field] = households.astype("int64")
    b["household_source"] = src.astype(object)
    for column, kind in ((buildings_units_field, "units"), (buildings_levels_field, "levels")):
        if column not in shape:
            continue
        largest = shape[column].groupby(keys.to_numpy()).max()
        given = bkeys.map(largest).where(matched).astype(float)
        own = b[column].astype(object) if column in b.columns else pd.Series(None, index=b.index, dtype=object)
        source_col = b[f"{kind}_source"] if f"{kind}_source" in b.columns else pd.Series(None, index=b.index, dtype=object)
        b[column] = own.where(given.isna(), given)  # the buildings' own values (checked later) where the ledger has none
        b[f"{kind}_source"] = source_col.astype(object).where(given.isna(), "ledger")
        col = units_col if kind == "units" else levels_col
        notes.append(f"ledger: {plural(int(given.notna().sum()), 'building')} take their {kind} from {col!r} (the largest "
                     "value per key)")

    summed = f"; {plural(repeated, 'repeated key')} summed" if repeated else ""
    notes.append(f"ledger: {int(matched.sum()):,} of {plural(len(b), 'building')} take their households from the ledger "
                 f"({how}{summed})")
    warns = []
    if unmatched_rows:
        msg = (f"ledger: {plural(len(unmatched_rows), 'key')} {'matches' if len(unmatched_rows) == 1 else 'match'} no building {first_ids(unmatched_rows)}; check the key "
               f"column {key!r} against the id field {building_key!r}")
        notes.append(msg)
        warns.append(msg)
    if unledgered:
        msg = (f"ledger: {plural(len(unledgered), 'building')} {'has' if len(unledgered) == 1 else 'have'} no ledger row {first_ids(unledgered)}; their households "
               "are their own count or the estimate")
        notes.append(msg)
        warns.append(msg)
    b.attrs["gridplan_notes"] = [*b.attrs.get("gridplan_notes", ()), *notes]
    b.attrs["gridplan_warnings"] = [*b.attrs.get("gridplan_warnings", ()), *warns]
    logger.info(notes[-1 - len(warns)] if warns else notes[-1])
    return LedgerJoin(b, int(matched.sum()), unmatched_rows, unledgered, tuple(notes))
