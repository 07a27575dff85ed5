"""Check every input layer in one place and bring them into one working CRS.

:func:`prepare` collects every problem it finds in the buildings, barriers and communities, then raises
one :class:`~gridplan.errors.InputError` listing them all, each with the field, the bad value, the fix
and the first ids. What it estimated, converted or repaired is recorded in ``notes`` for the report.
A problem with an option names it first, in backticks (``"buildings: `id_field` was 'geometry', …"``), and
every parameter it names is in backticks, so the CLI and the service word them as their options and fields
(:mod:`gridplan.errors`). Mistakes are errors, not guesses: a field named by the user that is not a column, all
households 0, or a building of more than ``rules.max_households_per_building`` households (unless
``accept_large``) stop with the columns or the building ids.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> b = gpd.GeoDataFrame({"building_id": ["a", "b"], "households": [120, 80.4]},
...                      geometry=[box(118.780, 32.040, 118.78064, 32.04011), box(118.782, 32.040, 118.78264, 32.04011)],
...                      crs=4326)
>>> p = prepare(b)
>>> p.buildings[["building_id", "households", "household_source"]]
  building_id  households household_source
0           a         120            field
1           b          80            field
>>> p.work_crs.to_epsg(), p.notes[0]
(32650, 'rounded 1 non-integer households value to whole households')

Entrances and storeys are always known after ``prepare``: given, or estimated (and said so):

>>> p.buildings[["units", "levels", "units_source", "levels_source", "population"]]
   units  levels     units_source        levels_source  population
0      4      16  estimate-length  estimate-households       314.4
1      4      10  estimate-length  estimate-households       209.6
>>> p.division_estimates["units_estimated"], p.division_estimates["levels_estimated"]
(2, 2)

A field that names the wrong kind of column is refused before anything is planned:

>>> try:
...     prepare(b, id_field="geometry")
... except InputError as exc:
...     print(exc.problems[0])
buildings: `id_field` was 'geometry', the geometry column, not a column of building ids; name one of
['building_id'] with `id_field`

So is a field that is not a column, unless it is the default name (then the buildings simply lack it):

>>> try:
...     prepare(b, households_field="hh")
... except InputError as exc:
...     print(exc.problems[0])
buildings: `households_field` was 'hh', which is not a column; did you mean 'households'? (columns:
['building_id', 'households']); name the households column with `households_field`, or estimate every
building's households with `estimate='all'`
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .barriers import classify_barriers
from ..config import check_choice
from .coords import check_crs, convert_gdf, declare_crs, parse_input_crs
from ..core.tessellate import off_land
from ..errors import Findings, InputError, first_ids, plural
from .columns import DEFAULT_FIELDS, building_attributes, check_fields, data_columns, did_you_mean, missing_field
from .ledger import point_table
from .communities import check_communities, community_codes
from .compounds import compounds_across_roads
from .households import HouseholdRules, check_counts, estimate_households, given_households, given_population
from .io import read_layer
from .shape import ORIGIN_ATTR, OSM_ORIGIN, building_shape, check_shape, division_estimates, shape_note

__all__ = ["PreparedInput", "prepare", "ESTIMATE_MODES", "INPUT_CRS_CHOICES"]

logger = logging.getLogger(__name__)

ESTIMATE_MODES = ("auto", "missing", "all", "never")
#: The named values of ``input_crs``; a CRS code (``'EPSG:32650'``) declares the layers' CRS.
INPUT_CRS_CHOICES = ("auto", "gcj02", "bd09")
_POLYGONAL = ("Polygon", "MultiPolygon")
Layer = gpd.GeoDataFrame | str | PathLike


@dataclass(frozen=True)
class PreparedInput:
    """The validated inputs, in the working CRS (see :func:`prepare`).

    ``division_estimates`` says how many buildings' entrances and storeys were estimated, per source, and
    the rules used (:func:`gridplan.inputs.shape.division_estimates`; JSON-ready, for ``report.json``).
    ``attributes`` names the input column each descriptive column (``name``, ``address``, ``building``,
    ``compound_name``: :data:`gridplan.inputs.columns.ATTRIBUTE_COLUMNS`) of ``buildings`` was taken from.
    """

    buildings: gpd.GeoDataFrame
    barriers: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame | None
    input_crs: pyproj.CRS
    work_crs: pyproj.CRS
    notes: tuple[str, ...]
    id_field: str
    division_estimates: dict = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)


def _load(value: Layer | None, name: str, role: str, out: Findings) -> gpd.GeoDataFrame | None:
    if value is None:
        return None
    if not isinstance(value, gpd.GeoDataFrame):
        if not isinstance(value, (str, PathLike)):
            out.problems.append(f"`{name}` was a {type(value).__name__}; give a GeoDataFrame or a file path")
            return None
        path = Path(value)
        if path.is_file() and path.stat().st_size < 64 and not path.read_bytes().strip():
            out.problems.append(f"{role} file {path}: the file is empty ({plural(path.stat().st_size, 'byte')}); "
                                "give the file with the features in it (export it again?)")
            return None
        points = point_table(path) if path.is_file() else None
        if points is not None:
            out.problems.append(f"{role} file {path}: a table of points (columns {points[0]!r}, {points[1]!r}), "
                                f"not {role} with footprints; to count households per building give it as the "
                                "ledger (`ledger`, joined by the building each point lies in), and give the "
                                "footprints as the buildings")
            return None
        try:
            value = read_layer(value, role=role)
        except InputError as exc:
            out.problems.extend(exc.problems)
            return None
    if len(value) == 0:
        hint = "" if name == "buildings" else f", or pass {name}=None if there are none"
        out.problems.append(f"{name}: the layer is empty (0 features); give a layer with features{hint}")
        return None
    return value.copy()


#: The default of ``HouseholdRules.max_households_per_building``: more households than a building holds (the
#: largest towers hold 1,000–2,000), a mistake in the data unless ``accept_large=True`` says it is not.
MAX_HOUSEHOLDS_PER_BUILDING = HouseholdRules().max_households_per_building


def _ids(gdf: gpd.GeoDataFrame, id_field: str | None) -> pd.Series:
    if id_field and id_field in gdf.columns:
        return gdf[id_field].where(gdf[id_field].notna(), [f"row {i}" for i in range(len(gdf))])
    return pd.Series([f"row {i}" for i in range(len(gdf))], index=gdf.index)


def _check_polygons(gdf: gpd.GeoDataFrame, name: str, ids: pd.Series, fix: bool, out: Findings) -> None:
    geom = gdf.geometry
    missing = geom.isna() | geom.is_empty
    if missing.any():
        out.problems.append(f"{name}: {plural(int(missing.sum()), 'feature')} with no geometry (null or empty) "
                            f"{first_ids(ids[missing])}; drop them or give their footprints")
    types = geom.geom_type
    wrong = ~missing & ~types.isin(_POLYGONAL)
    if wrong.any():
        out.problems.append(f"{name}: {plural(int(wrong.sum()), 'feature')} that {'is not a polygon' if wrong.sum() == 1 else 'are not polygons'} "
                            f"({', '.join(sorted(set(types[wrong])))}) {first_ids(ids[wrong])}; "
                            "give footprints as Polygon/MultiPolygon (buffer points, or drop them)")
    invalid = ~missing & ~wrong & ~geom.is_valid
    if not invalid.any():
        return
    if not fix:
        reason = shapely.is_valid_reason(geom[invalid].iloc[0])
        out.problems.append(f"{name}: {plural(int(invalid.sum()), 'invalid geometry')} {first_ids(ids[invalid])} (first: "
                            f"{reason}); repair them or pass `fix_geometry=True`")
        return
    repaired = [_polygonal_part(g) for g in shapely.make_valid(np.asarray(geom[invalid].values))]
    gdf.loc[invalid, gdf.geometry.name] = gpd.GeoSeries(repaired, index=geom[invalid].index, crs=gdf.crs)
    lost = invalid & (gdf.geometry.isna() | gdf.geometry.is_empty)
    if lost.any():
        out.problems.append(f"{name}: {plural(int(lost.sum()), 'invalid geometry')} with no area left after repair "
                            f"{first_ids(ids[lost])}; drop them or draw their footprints again")
    out.notes.append(f"{name}: repaired {plural(int(invalid.sum()), 'invalid geometry')} with make_valid "
                     f"{first_ids(ids[invalid])}")


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry | None:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL and not p.is_empty]
    if not parts:
        return None
    merged = shapely.union_all(parts)
    return merged if merged.geom_type in _POLYGONAL else None


def _building_ids(b: gpd.GeoDataFrame, id_field: str, out: Findings) -> pd.Series | None:
    if id_field not in b.columns:
        out.problems.append(missing_field(b, "id_field", id_field))
        return None
    raw = b[id_field]
    null = raw.isna()
    if null.any():
        rows = [f"row {i}" for i in np.flatnonzero(null.to_numpy())]
        out.problems.append(f"buildings: {plural(int(null.sum()), 'empty id')} in {id_field!r} {first_ids(rows)}; "
                            "give every building an id")
    if pd.api.types.is_float_dtype(raw) and (raw.dropna() % 1 == 0).all() and (raw.dropna().abs() < 2**53).all():
        raw = raw.astype("Int64")  # whole numbers that a float holds exactly
    ids = raw.astype(object).where(raw.isna(), raw.astype(str))
    dup = ids.notna() & ids.duplicated(keep=False)
    if dup.any():
        out.problems.append(f"buildings: {plural(int(ids[dup].nunique()), 'id')} in {id_field!r} {'is' if ids[dup].nunique() == 1 else 'are'} used more than once "
                            f"{first_ids(pd.unique(ids[dup]))}; make the id field unique")
    return ids


def _shape_field(b: gpd.GeoDataFrame, field: str, kind: str, ids: pd.Series, rules: HouseholdRules,
                 out: Findings) -> pd.Series:
    """Checked entrances or storeys (NaN: unknown); bad values are problems, or notes for OpenStreetMap data."""
    if field not in b.columns:
        return pd.Series(np.nan, index=b.index)
    values, problems, notes = check_shape(b[field], field, kind, ids, rules,
                                          from_osm=b.attrs.get(ORIGIN_ATTR) == OSM_ORIGIN)
    out.problems.extend(problems)
    out.notes.extend(notes)
    return values


def _carried(b: gpd.GeoDataFrame, column: str, default: str) -> pd.Series:
    """A source column an earlier step wrote (e.g. ``"ledger"``), ``default`` where it is empty."""
    if column not in b.columns:
        return pd.Series(default, index=b.index, dtype=object)
    carried = b[column].astype(object)
    return carried.where(carried.notna() & (carried.astype(str).str.strip() != ""), default)


def _to_work(gdf: gpd.GeoDataFrame, name: str, ref: pyproj.CRS, work: pyproj.CRS, out: Findings) -> gpd.GeoDataFrame:
    if not gdf.crs.equals(ref):
        out.notes.append(f"{name}: reprojected from {gdf.crs.name} to the buildings' CRS")
    return gdf.to_crs(work)


def _leave_out_on_water(b: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame, out) -> gpd.GeoDataFrame:
    """The buildings without those standing on water (:func:`gridplan.core.tessellate.off_land`: no unit may
    cross the water to hold them), listed in a note; the same rule as for OpenStreetMap extracts."""
    wet = off_land(b.geometry, barriers) >= 0
    if not wet.any():
        return b
    out.notes.append(f"buildings: left out {int(wet.sum()):,} standing on water (a houseboat, a pier, a station on a river "
                     f"bridge: no unit may cross the water to hold them) {first_ids(b['building_id'][wet])}; give their "
                     "households to a unit by hand, or correct the water outline if they stand on land")
    return b[~wet].reset_index(drop=True)


def prepare(
    buildings: Layer,
    barriers: Layer | None = None,
    communities: Layer | None = None,
    *,
    id_field: str = "building_id",
    households_field: str = "households",
    units_field: str = "units",
    levels_field: str = "levels",
    compound_field: str = "compound",
    population_field: str = "population",
    estimate: Literal["auto", "missing", "all", "never"] = "auto",
    input_crs: Literal["auto", "gcj02", "bd09"] | str = "auto",
    fix_geometry: bool = False,
    accept_large: bool = False,
    rules: HouseholdRules | None = None,
) -> PreparedInput:
    """Validate the inputs, collect every problem, and return them in one working CRS.

    Parameters
    ----------
    buildings
        Footprints (GeoDataFrame or a file :func:`gridplan.io.read_layer` reads).
    barriers
        Roads, railways, rivers (OSM tag columns or a ``tier`` column); see
        :func:`gridplan.barriers.classify_barriers`.
    communities
        Existing community polygons, with optional ``code`` (12 digits) and ``name`` columns.
    id_field, households_field, units_field, levels_field, compound_field, population_field
        The buildings' columns; only ``id_field`` is required, and a name other than the default
        (:data:`gridplan.inputs.columns.DEFAULT_FIELDS`) must be a column. Each must name a column of its kind (ids;
        numbers for households, units, levels and population; labels for compounds), never the geometry; the id
        column may not have a name the plan gives its own columns (``households``, ``part``, ``grid_code``…).
        Entrances (``units``) and storeys (``levels``) must be whole numbers from 1 to ``rules.max_units`` /
        ``rules.max_levels`` where given (OpenStreetMap tags that are not are treated as unknown, with a note);
        the unknown ones are estimated (:mod:`gridplan.inputs.shape`). Population (persons) must be >= 0;
        where it is not given it is households × ``rules.persons_per_household``.
    estimate
        Households: ``"auto"`` estimates when the buildings have no column of the default name
        (``households``; with a warning); ``"missing"`` also fills empty values; ``"all"`` ignores the field;
        ``"never"`` requires it. A ``households_field`` named otherwise must be a column.
    input_crs
        ``"gcj02"`` or ``"bd09"`` converts offset web-map coordinates to WGS84 first. A CRS code
        (``"EPSG:32650"``, any ``AUTHORITY:CODE`` pyproj knows) declares the CRS the coordinates are in: the
        buildings take it whatever their file says (a note says what it replaced), the barriers and communities
        where they have none.
    fix_geometry
        Repair invalid footprints with ``make_valid`` (keeping the polygonal part).
    accept_large
        Plan buildings of more than ``rules.max_households_per_building`` households (default 3,000,
        :data:`MAX_HOUSEHOLDS_PER_BUILDING`) instead of refusing them as a mistake in the data.
    rules
        The household and shape estimates' rules (:class:`~gridplan.inputs.households.HouseholdRules`), persons
        per household included.

    Notes
    -----
    A buildings frame may carry what earlier steps found: a ``household_source`` column (kept where the
    households field is used, e.g. ``"ledger"`` from :func:`gridplan.ledger.join_ledger`), ``units_source`` /
    ``levels_source`` (kept where the units/levels fields give a value), an
    ``in_residential`` column (used by the ``building=yes`` rule), and ``attrs["gridplan_notes"]`` /
    ``attrs["gridplan_warnings"]`` (added to the notes; warnings also raised as ``UserWarning``).

    Returns
    -------
    PreparedInput
        Buildings, barriers and communities in the working CRS (the local UTM zone), with notes. The
        buildings' columns: ``building_id``, ``households`` (int64), ``units``, ``levels`` (int64 ≥ 1),
        ``compound``, ``household_source``, ``units_source``, ``levels_source``, ``population`` (float persons),
        and those of ``name``, ``address``, ``building`` (type) and ``compound_name`` the input gives (as text; by
        their own name or an alias such as ``名称``, ``地址``, ``type``, ``小区``, with a note:
        :func:`gridplan.inputs.columns.building_attributes`).

    Raises
    ------
    InputError
        Listing every problem found: also a named field that is not a column, households that are all 0,
        and buildings above ``rules.max_households_per_building`` (unless ``accept_large``).
    """
    check_choice("estimate", estimate, ESTIMATE_MODES)
    crs_or_system = parse_input_crs(input_crs)
    declared = crs_or_system if isinstance(crs_or_system, pyproj.CRS) else None
    system = crs_or_system if crs_or_system in ("gcj02", "bd09") else None
    rules = rules or HouseholdRules()
    out = Findings()
    b = _load(buildings, "buildings", "buildings", out)
    if b is not None:
        out.notes.extend(b.attrs.get("gridplan_notes", ()))
        out.warnings.extend(b.attrs.get("gridplan_warnings", ()))
    r = _load(barriers, "barriers", "barriers", out)
    c = _load(communities, "communities", "communities", out)
    if declared is not None:
        b, r, c = (declare_crs(g, name, declared, name == "buildings", out)
                   for g, name in ((b, "buildings"), (r, "barriers"), (c, "communities")))
    ids = bid = given = to_estimate = None
    if b is not None:
        fields = {"id_field": id_field, "households_field": households_field, "units_field": units_field,
                  "levels_field": levels_field, "compound_field": compound_field, "population_field": population_field}
        if estimate == "all":
            del fields["households_field"]  # not read
        problems, bad = check_fields(b, fields)
        out.problems.extend(problems)
        for option in ("units_field", "levels_field", "compound_field", "population_field"):
            if fields[option] not in b.columns and fields[option] != DEFAULT_FIELDS[option]:
                out.problems.append(missing_field(b, option, fields[option]) + "; it is optional: leave it out to "
                                    "plan without it")
                bad.add(option)
        bid = None if "id_field" in bad else _building_ids(b, id_field, out)
        ids = _ids(b, id_field if bid is not None else None)
        check_crs(b, "buildings", system, ids, out)
        _check_polygons(b, "buildings", ids, fix_geometry, out)
        unknown = pd.Series(np.nan, index=b.index)
        given, to_estimate = ((unknown, unknown.isna()) if "households_field" in bad
                              else given_households(b, households_field, estimate, ids, out, rules))
        units = unknown if "units_field" in bad else _shape_field(b, units_field, "units", ids, rules, out)
        levels = unknown if "levels_field" in bad else _shape_field(b, levels_field, "levels", ids, rules, out)
        population = unknown if "population_field" in bad else given_population(b, population_field, ids, out)
    if r is not None:
        check_crs(r, "barriers", system, _ids(r, "osm_id"), out)
        gone = r.geometry.isna() | r.geometry.is_empty
        if gone.any():
            out.notes.append(f"barriers: dropped {plural(int(gone.sum()), 'feature')} with no geometry")
            r = r[~gone]
        try:
            r = classify_barriers(r)
        except InputError as exc:
            out.problems.extend(exc.problems)
    codes = None
    if c is not None:
        check_crs(c, "communities", system, _ids(c, None), out)
        _check_polygons(c, "communities", _ids(c, "code"), fix_geometry, out)
        codes = community_codes(c, out.problems)
    if out.problems:
        raise InputError(out.problems)

    if system is not None:
        label = {"gcj02": "GCJ-02", "bd09": "BD-09"}[system]
        b = convert_gdf(b, system)
        r = None if r is None else convert_gdf(r, system)
        c = None if c is None else convert_gdf(c, system)
        out.notes.append(f"converted every layer from {label} to WGS84 (EPSG:4326)")
    crs_in = pyproj.CRS.from_user_input(b.crs)
    work = b.to_crs(4326).estimate_utm_crs()
    bw = b.to_crs(work)
    if r is None:
        rw = gpd.GeoDataFrame({"tier": pd.Series(dtype="int64"), "kind": pd.Series(dtype=object),
                               "name": pd.Series(dtype=object)}, geometry=gpd.GeoSeries([], crs=work))
    else:
        rw = _to_work(r, "barriers", crs_in, work, out)
        if len(rw) and not shapely.box(*rw.total_bounds).intersects(shapely.box(*bw.total_bounds)):
            out.problems.append(f"barriers do not overlap the buildings; check the CRS of the barriers "
                                f"({r.crs.name}) and of the buildings ({crs_in.name})")
        rw = rw.reset_index(drop=True)
    cw = None
    if c is not None:
        cw = _to_work(c, "communities", crs_in, work, out)
        names = c["name"].astype(object).where(c["name"].notna(), None) if "name" in c.columns else None
        cw = gpd.GeoDataFrame({"code": codes.to_numpy(), "name": None if names is None else names.to_numpy()},
                              geometry=gpd.GeoSeries(cw.geometry.to_numpy(), crs=work))
        labels = pd.Series([code if code is not None else f"row {i}" for i, code in enumerate(cw["code"])])
        check_communities(cw, bw, labels, ids, out.problems)
    if out.problems:
        raise InputError(out.problems)

    # descriptive columns under their canonical names (an alias is taken with a note, an ambiguous one not at all)
    named = (id_field, households_field, units_field, levels_field, population_field)
    attrs, attr_columns, attr_notes = building_attributes(b, exclude=tuple(f for f in named if f in b.columns))
    out.notes.extend(attr_notes)
    if compound_field == DEFAULT_FIELDS["compound_field"] and compound_field not in b.columns:
        near = did_you_mean(compound_field, [c for c in data_columns(b) if c not in named])
        if near:
            out.notes.append(f"buildings: no {compound_field!r} column, so no compound is kept in one grid; "
                             f"{' or '.join(repr(c) for c in near)} may name the compounds: name it with `compound_field`")
    types = attrs.get("building", pd.Series(None, index=b.index, dtype=object))
    households = given.copy()
    source = (_carried(b, "household_source", "field") if households_field in b.columns
              else pd.Series("field", index=b.index, dtype=object))
    if to_estimate.any():
        frame = gpd.GeoDataFrame({"levels": levels}, geometry=bw.geometry, crs=work)
        if "building" in attrs:
            frame["building"] = types
        for col in ("flats", "population", "in_residential"):
            if col in b.columns:
                frame[col] = b[col]
        est = estimate_households(frame[to_estimate], rules=rules, levels_field="levels")
        households[to_estimate] = est.households
        source[to_estimate] = est.source
        capped = int((est.source == "estimate-capped").sum())
        if capped:
            out.notes.append(f"households: {capped} estimates capped at storeys × {rules.max_dwellings_per_floor:g} "
                             "dwellings per floor")
    compound = (b[compound_field].astype(object).where(b[compound_field].notna(), None)
                if compound_field in b.columns else pd.Series(None, index=b.index, dtype=object))
    households = households.astype("int64")
    check_counts(households, source, ids, households_field, rules, accept_large, out)
    if out.problems:
        raise InputError(out.problems)
    shape = building_shape(np.asarray(bw.geometry.values), households, source, types, units, levels,
                           _carried(b, "units_source", "given"), _carried(b, "levels_source", "given"), rules)
    estimates = division_estimates(shape, rules)
    note = shape_note(estimates)
    if note:
        out.notes.append(note)
    persons = population.fillna(households * rules.persons_per_household)
    if population.notna().any():
        out.notes.append(f"population: {int(population.notna().sum()):,} buildings from {population_field!r}, the "
                         f"others households × {rules.persons_per_household:g}")
    result = gpd.GeoDataFrame(
        {
            "building_id": bid.to_numpy(),
            "households": households.to_numpy(),
            "units": shape["units"].to_numpy(),
            "levels": shape["levels"].to_numpy(),
            "compound": [None if pd.isna(v) else str(v) for v in compound],
            "household_source": source.to_numpy(),
            "units_source": shape["units_source"].to_numpy(),
            "levels_source": shape["levels_source"].to_numpy(),
            "population": persons.astype(float).to_numpy(),
            **{k: v.to_numpy() for k, v in attrs.items()},
        },
        geometry=gpd.GeoSeries(bw.geometry.to_numpy(), crs=work),
    )
    result = _leave_out_on_water(result, rw, out)
    across = compounds_across_roads(result, rw)
    if across:
        out.warnings.append(f"compounds: {plural(len(across), 'compound')} {'straddles' if len(across) == 1 else 'straddle'} a strong road or a tier-1 line "
                            f"{first_ids(across)}; a compound is kept in one grid, which then crosses the road: check "
                            "the compound outlines (or the compound column) of these buildings")
    for msg in out.warnings:
        warnings.warn(msg, UserWarning, stacklevel=2)
    logger.info("prepared input: %d buildings, %d households, %d barriers, %s communities; work CRS %s",
                len(result), int(result["households"].sum()), len(rw), "no" if cw is None else len(cw), work.name)
    return PreparedInput(result, rw, cw, crs_in, work, tuple(out.notes), id_field, estimates, attr_columns)
