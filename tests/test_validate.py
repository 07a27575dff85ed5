"""prepare(): every input problem is found at once and explained; good input comes out in the working CRS."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from shapely.geometry import box

from conftest import box_m
from gridplan.inputs.coords import wgs84_to_gcj02
from gridplan.errors import InputError, OptionError, for_api, for_cli
from gridplan.inputs.validate import PreparedInput, prepare

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent (a fresh clone)")


def _problems(excinfo) -> str:
    return str(excinfo.value)


# --- happy paths ------------------------------------------------------------------------------


def test_valid_input_comes_out_in_utm(buildings, barriers, communities):
    before = buildings.copy()
    p = prepare(buildings, barriers, communities)
    assert isinstance(p, PreparedInput)
    assert p.work_crs == buildings.to_crs(4326).estimate_utm_crs() and p.work_crs.to_epsg() == 32650
    assert p.input_crs == pyproj.CRS(4326)
    b = p.buildings
    assert list(b.columns) == ["building_id", "households", "units", "levels", "compound", "household_source",
                               "units_source", "levels_source", "population", "geometry"]
    assert b.index.tolist() == list(range(8)) and b.crs == p.work_crs
    assert b["households"].dtype == np.int64 and b["households"].tolist() == [40] * 8
    assert b["household_source"].eq("field").all()
    assert b["units"].dtype == np.int64 and b["units"].tolist() == [1] * 8  # 20 m long: one entrance
    assert b["units_source"].eq("estimate-length").all()
    assert b["levels"].dtype == np.int64 and b["levels"].tolist() == [6] * 8 and b["levels_source"].eq("given").all()
    assert b["population"].tolist() == pytest.approx([40 * 2.62] * 8)
    assert b["compound"].tolist() == ["west"] * 4 + ["east"] * 4
    assert abs(b.area.iloc[0] - 300) < 5  # 20 m × 15 m
    assert p.barriers["kind"].tolist() == ["highway=primary", "highway=residential"]  # footway dropped
    assert p.barriers.crs == p.work_crs
    assert p.communities["code"].tolist() == ["320102001001", "320102001002"]
    assert len(p.notes) == 1 and p.notes[0].startswith("building shape: entrances estimated for 8 buildings")
    assert p.id_field == "building_id"
    assert p.division_estimates["units_estimated"] == 8 and p.division_estimates["levels_estimated"] == 0
    assert buildings.equals(before)  # not mutated


def test_awkward_but_valid_geometry(multipolygon_building, island_building, zero_households):
    for gdf in (multipolygon_building, island_building, zero_households):
        p = prepare(gdf)
        assert len(p.buildings) == len(gdf) and p.buildings.is_valid.all()
    assert prepare(zero_households).buildings["households"].iloc[1] == 0
    assert prepare(island_building).buildings.geom_type.iloc[0] == "Polygon"


def test_paths_are_read(buildings, barriers, tmp_path):
    buildings.to_file(tmp_path / "b.gpkg")
    barriers.to_file(tmp_path / "r.geojson")
    p = prepare(tmp_path / "b.gpkg", str(tmp_path / "r.geojson"))
    assert len(p.buildings) == 8 and len(p.barriers) == 2


def test_missing_households_field_is_estimated_with_warning(buildings):
    b = buildings.drop(columns="households")
    with pytest.warns(UserWarning, match="no households field 'households': households estimated for all 8"):
        p = prepare(b)
    assert p.buildings["households"].tolist() == [19] * 8  # 300 m² × 6 × 0.75 / 72 = 18.75
    assert p.buildings["household_source"].eq("estimate").all()
    assert any("estimated for all 8" in n for n in p.notes)


def test_estimate_missing_fills_only_the_gaps(buildings):
    b = buildings.copy()
    b["households"] = [40, None, 40, 40, 40, 40, None, 40]
    p = prepare(b, estimate="missing")
    assert p.buildings["households"].tolist() == [40, 19, 40, 40, 40, 40, 19, 40]
    assert p.buildings["household_source"].tolist().count("estimate") == 2


def test_estimate_all_ignores_the_field(buildings):
    p = prepare(buildings, estimate="all")
    assert p.buildings["households"].tolist() == [19] * 8


def test_non_integer_households_are_rounded_and_noted(buildings):
    b = buildings.copy()
    b["households"] = [40.4, 40.6, 40, 40, 40, 40, 40, 40]
    p = prepare(b)
    assert p.buildings["households"].tolist()[:2] == [40, 41]
    assert "rounded 2 non-integer households values" in p.notes[0]


def test_given_units_and_levels_are_kept_as_whole_numbers(buildings):
    b = buildings.copy()
    b["units"] = [2, "3", None, 1, 1, 1, 1, 1]
    b["levels"] = [6, 6, None, 6, "7", 6, 6, 6]
    p = prepare(b)
    assert p.buildings["units"].tolist() == [2, 3, 1, 1, 1, 1, 1, 1]
    assert p.buildings["units_source"].tolist() == ["given", "given", "estimate-length"] + ["given"] * 5
    assert p.buildings["levels"].tolist() == [6, 6, 13, 6, 7, 6, 6, 6]  # 40 hh × 72 m² ÷ (300 m² × 0.75) = 12.8
    assert p.buildings["levels_source"].tolist()[2] == "estimate-households"


@pytest.mark.parametrize(("field", "values", "what"), [
    ("levels", [6, 400, 6, 6, 6, 6, 6, 6], r"1 value of 'levels' is above 150 \(HouseholdRules.max_levels\), "
                                           r"e.g. 400 \['b2'\]; no building has that many storeys"),
    ("units", [2, 2.5, 2, 2, 2, 2, 2, 2], r"1 value of 'units' is not a whole number, e.g. 2.5 \['b2'\]"),
    ("units", [2, 0, -1, 2, 2, 2, 2, 2], r"2 values of 'units' are 0 or negative, e.g. 0 \['b2', 'b3'\]"),
    ("levels", ["6", "six", 6, 6, 6, 6, 6, 6], r"1 value of 'levels' is not a number, e.g. 'six' \['b2'\]"),
    ("units", [2, 31, 2, 2, 2, 2, 2, 2], r"above 30 \(HouseholdRules.max_units\), e.g. 31 \['b2'\]"),
])
def test_bad_units_and_levels_are_input_errors_naming_the_buildings(buildings, field, values, what):
    b = buildings.copy()
    b[field] = values
    with pytest.raises(InputError, match=what) as err:
        prepare(b)
    assert "or leave them empty to estimate them" in str(err.value)


def test_bad_levels_from_openstreetmap_are_unknown_with_a_note(buildings):
    b = buildings.copy()
    b["levels"] = [6, 0, 2.5, 400, 6, 6, 6, 6]
    b.attrs["gridplan_origin"] = "osm"  # as gridplan.inputs.io.read_osm marks its buildings
    p = prepare(b)
    assert p.buildings["levels"].tolist()[0] == 6 and p.buildings["levels_source"].tolist()[:4] == \
        ["given", "estimate-households", "estimate-households", "estimate-households"]
    notes = [n for n in p.notes if "OpenStreetMap tags" in n]
    assert len(notes) == 3 and "1 value of 'levels' is 0 or negative, e.g. 0 ['b2']" in notes[0]


def test_entrances_are_estimated_from_the_footprint_length():
    b = gpd.GeoDataFrame({"building_id": ["slab", "tower", "short", "shed"], "households": [96, 240, 4, 0],
                          "levels": [6, 30, 2, None], "building": ["residential", "apartments", "house", "shed"]},
                         geometry=[box_m(0, 0, 60, 12), box_m(100, 0, 20, 60), box_m(200, 0, 60, 12),
                                   box_m(300, 0, 8, 5)], crs=4326)
    p = prepare(b)
    got = p.buildings.set_index("building_id")
    assert got.loc["slab", "units"] == 4  # 60 m ÷ 15 m
    assert got.loc["tower", "units"] == 4  # the long side of a 20 × 60 m footprint, whatever its orientation
    assert got.loc["short", "units"] == 2  # 4 entrances by length, but 4 households on 2 floors: at most 2
    assert got.loc["shed", ["units", "levels"]].tolist() == [1, 1]
    assert got.loc["shed", ["units_source", "levels_source"]].tolist() == ["no-households", "no-households"]


def test_storeys_by_type_where_households_are_estimated(buildings):
    b = buildings.drop(columns=["households", "levels"]).assign(building=["apartments"] * 4 + ["house"] * 4)
    with pytest.warns(UserWarning, match="households estimated for all 8"):
        p = prepare(b)
    assert p.buildings["levels"].tolist() == [6] * 4 + [2] * 4
    assert p.buildings["levels_source"].eq("estimate-type").all()
    assert p.division_estimates["levels_sources"] == {"estimate-type": 8}
    assert p.division_estimates["rules"]["entrance_length_m"] == 15.0


def test_population_column_from_the_field_or_households_times_pph(buildings):
    from gridplan.inputs.households import HouseholdRules

    b = buildings.copy()
    b["population"] = [100, None, 0, 90, 90, 90, 90, 90]
    p = prepare(b, rules=HouseholdRules(persons_per_household=3.0))
    assert p.buildings["population"].tolist() == [100.0, 120.0, 0.0] + [90.0] * 5
    assert any(n.startswith("population: 7 buildings from 'population'") for n in p.notes)
    b["population"] = [100, -5, "many", 90, 90, 90, 90, 90]
    with pytest.raises(InputError, match=r"2 values of 'population' are not numbers of persons >= 0, e.g. -5 "
                                         r"\['b2', 'b3'\]"):
        prepare(b)


def test_integer_ids_become_strings_and_custom_id_field(buildings):
    b = buildings.rename(columns={"building_id": "楼栋编号"})
    b["楼栋编号"] = range(100, 108)
    p = prepare(b, id_field="楼栋编号")
    assert p.buildings["building_id"].tolist() == [str(i) for i in range(100, 108)] and p.id_field == "楼栋编号"


def test_fix_geometry_repairs_the_bowtie(bowtie_building):
    p = prepare(bowtie_building, fix_geometry=True)
    assert p.buildings.is_valid.all() and p.buildings.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert "repaired 1 invalid geometry" in p.notes[0] and "'b3'" in p.notes[0]


def test_barriers_in_another_crs_are_reprojected(buildings, barriers):
    p = prepare(buildings, barriers.to_crs(4547))
    assert p.barriers.crs == p.work_crs and len(p.barriers) == 2
    assert "reprojected" in p.notes[0]


def test_gcj02_input_is_converted(buildings, barriers):
    def shift(gdf):
        import shapely
        out = gdf.copy()
        out["geometry"] = shapely.transform(gdf.geometry.values, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
        return out.set_crs(None, allow_override=True)

    p = prepare(shift(buildings), shift(barriers), input_crs="gcj02")
    assert p.input_crs == pyproj.CRS(4326)
    truth = buildings.to_crs(p.work_crs)
    assert p.buildings.geometry.centroid.distance(truth.geometry.centroid).max() < 0.5
    assert "from GCJ-02 to WGS84" in p.notes[0]


@needs_shared
@pytest.mark.shared
def test_real_osm_file_prepares():
    with pytest.warns(UserWarning, match="households estimated for all"):
        p = prepare(SHARED / "nanjing_xinjiekou.osm", SHARED / "nanjing_xinjiekou.osm")
    assert len(p.buildings) == 1277 and p.work_crs.to_epsg() == 32650
    assert p.buildings["households"].sum() > 1000 and (p.buildings["household_source"] == "non-residential").any()
    assert set(p.barriers["tier"]) == {1, 2, 3}


# --- error paths: each names the problem and the fix ------------------------------------------


def test_options_are_checked(buildings):
    with pytest.raises(OptionError, match="`estimate` was 'some'; expected one of 'auto', 'missing', 'all', 'never'"):
        prepare(buildings, estimate="some")
    with pytest.raises(OptionError, match="`input_crs` was 'wgs84'"):
        prepare(buildings, input_crs="wgs84")


def test_empty_layers(empty_buildings, buildings):
    with pytest.raises(InputError, match="buildings: the layer is empty"):
        prepare(empty_buildings)
    with pytest.raises(InputError, match="barriers: the layer is empty .*pass barriers=None"):
        prepare(buildings, empty_buildings)


def test_missing_crs(no_crs_buildings):
    with pytest.raises(InputError) as info:
        prepare(no_crs_buildings)
    (problem,) = info.value.problems
    assert problem == ("buildings: no CRS, so gridplan cannot tell degrees from metres; the coordinates look like "
                       "longitude/latitude degrees: declare them with `input_crs='EPSG:4326'` (WGS 84; 'EPSG:4490' for "
                       "CGCS2000), or `input_crs='gcj02'` / 'bd09' for points picked from Chinese web maps")
    assert "set_crs" not in problem and for_cli(problem).count("--input-crs EPSG:4326") == 1


def test_coordinates_out_of_range(wrong_crs_buildings):
    with pytest.raises(InputError) as info:
        prepare(wrong_crs_buildings)
    (problem,) = info.value.problems
    assert problem.startswith("buildings: the CRS is 'WGS 84' (degrees) but 8 features lie outside longitude/latitude "
                              "range, e.g. x=")
    assert "'b1'" in problem and "EPSG:4326" not in problem and "set_crs" not in problem
    assert "the coordinates look like metres of a transverse Mercator zone" in problem
    assert "declare the CRS they are in, e.g. --input-crs EPSG:32650 (WGS 84 / UTM zone 50N" in for_cli(problem)


def test_declared_gcj_crs_needs_conversion(buildings):
    gcj = pyproj.CRS.from_wkt('GEOGCS["GCJ-02",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
                              'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]')
    with pytest.raises(InputError, match=r"'GCJ-02' is an offset web-map system .*input_crs='gcj02'"):
        prepare(buildings.set_crs(gcj, allow_override=True))


def test_conversion_of_projected_layer_is_refused(buildings):
    with pytest.raises(InputError, match="asks for a gcj02 conversion but the CRS is .* a projected CRS"):
        prepare(buildings.to_crs(32650), input_crs="gcj02")


def test_barriers_that_do_not_overlap(buildings, barriers):
    far = barriers.to_crs(32650).set_crs(4547, allow_override=True)  # metres taken in the wrong zone
    with pytest.raises(InputError, match="barriers do not overlap the buildings; check the CRS of the barriers"):
        prepare(buildings, far)


def test_missing_id_field(buildings):
    with pytest.raises(InputError) as info:
        prepare(buildings, id_field="BID")
    (problem,) = info.value.problems
    assert problem == ("buildings: `id_field` was 'BID', which is not a column; did you mean 'building_id'? (columns: ['building_id', "
                       "'households', 'levels', 'compound']); name the id column with `id_field`")
    assert for_cli(problem).endswith("name the id column with --id-field")


def test_duplicate_and_null_ids(buildings):
    b = buildings.copy()
    b["building_id"] = ["b1", "b1", None, "b4", "b5", "b5", "b7", "b8"]
    with pytest.raises(InputError) as info:
        prepare(b)
    msg = _problems(info)
    assert "1 empty id in 'building_id' ['row 2']" in msg
    assert "2 ids in 'building_id' are used more than once ['b1', 'b5']; make the id field unique" in msg
    assert "2 problems" in msg


def test_invalid_geometry_without_fix(bowtie_building):
    with pytest.raises(InputError, match=r"1 invalid geometry \['b3'\] .*Self-intersection.*`fix_geometry=True`"):
        prepare(bowtie_building)


def test_empty_and_null_geometry(empty_geometry_building):
    with pytest.raises(InputError, match=r"2 features with no geometry \(null or empty\) \['b4', 'b5'\]"):
        prepare(empty_geometry_building)


def test_points_are_not_buildings(point_building):
    with pytest.raises(InputError, match=r"1 feature that is not a polygon \(Point\) \['b6'\]; give footprints"):
        prepare(point_building)


def test_households_field_required_with_never(buildings):
    with pytest.raises(InputError, match=r"no households column 'households' \(columns: .*\) and `estimate='never'`; "
                                         r"name the households column with `households_field`"):
        prepare(buildings.drop(columns="households"), estimate="never")


def test_household_value_problems_are_all_listed(buildings):
    b = buildings.copy()
    b["households"] = pd.Series([40, None, "many", -5, 40, 40, np.inf, 40], dtype=object)
    with pytest.raises(InputError) as info:
        prepare(b)
    msg = _problems(info)
    assert "2 values of 'households' are not numbers, e.g. 'many' ['b3', 'b7']" in msg
    assert "1 negative value of 'households', e.g. -5 ['b4']; households must be >= 0" in msg
    assert "1 building with no 'households' value ['b2']; fill them in, or pass `estimate='missing'`" in msg


def test_all_problems_across_layers_at_once(bowtie_building, barriers, communities):
    b = bowtie_building.copy()
    b.loc[0, "building_id"] = "b2"
    r = barriers.drop(columns="highway")
    c = communities.copy()
    c["code"] = ["3201", "3201"]
    with pytest.raises(InputError) as info:
        prepare(b, r, c)
    assert len(info.value.problems) == 5
    msg = _problems(info)
    assert "used more than once" in msg and "invalid geometry" in msg and "none of the columns" in msg
    assert "not 12 digits ['3201', '3201']" in msg and "codes used more than once ['3201']" in msg


def test_overlapping_communities(buildings, communities):
    c = communities.copy()
    c.loc[1, "geometry"] = box(*c.geometry.iloc[1].buffer(0.0003).bounds)
    with pytest.raises(InputError, match=r"1 pairs overlap \[\('320102001001', '320102001002'\)\]; communities "
                                         "must not overlap"):
        prepare(buildings, communities=c)


def test_buildings_outside_every_community(buildings, communities):
    c = communities.iloc[[0]]
    with pytest.raises(InputError, match=r"4 buildings lie outside every community \['b5', 'b6', 'b7', 'b8'\]; "
                                         "extend the communities"):
        prepare(buildings, communities=c)
    far = communities.to_crs(32650).set_crs(4547, allow_override=True)
    with pytest.raises(InputError, match="none is inside any: check the CRS of the communities"):
        prepare(buildings, communities=far)


def test_unreadable_path_is_reported(buildings, tmp_path):
    with pytest.raises(InputError, match=r"barriers file .*missing.gpkg: no such file"):
        prepare(buildings, tmp_path / "missing.gpkg")


@needs_shared
@pytest.mark.shared
def test_suzhou_floors_through_prepare():
    gdf = gpd.read_file(SHARED / "suzhou_gusu_buildings_floors.geojson")
    with pytest.raises(InputError, match=r"1 id in 'Id' is used more than once \['0'\]"):  # every Id is 0
        prepare(gdf, id_field="Id", levels_field="Floor", estimate="all")
    gdf["bid"] = range(len(gdf))
    p = prepare(gdf, id_field="bid", levels_field="Floor", estimate="all")
    assert p.buildings["levels"].between(1, 28).all()
    assert 10_000 < p.buildings["households"].sum() < 150_000


# --- what earlier steps hand over: sources, residential land, notes -----------------------------


def test_household_source_is_carried_over(buildings):
    b = buildings.copy()
    b["household_source"] = ["ledger"] * 6 + [None, "flats"]
    p = prepare(b)
    assert p.buildings["household_source"].tolist() == ["ledger"] * 6 + ["field", "flats"]


def test_attrs_notes_and_warnings_reach_the_report(buildings):
    b = buildings.copy()
    b.attrs["gridplan_notes"] = ["ledger: 3 rows match no building"]
    b.attrs["gridplan_warnings"] = ["ledger: 3 rows match no building ['x']"]
    with pytest.warns(UserWarning, match=r"3 rows match no building \['x'\]"):
        p = prepare(b)
    assert "ledger: 3 rows match no building" in p.notes


def test_generic_building_rule_uses_residential_land(buildings):
    from conftest import box_m

    b = buildings.drop(columns="households").iloc[:2].copy()
    b["building"] = "yes"
    b["geometry"] = [box_m(0, 0, 60, 60), box_m(100, 0, 60, 60)]  # 3,600 m² each
    b["in_residential"] = [True, False]
    with pytest.warns(UserWarning, match="households estimated"):
        p = prepare(b)
    assert p.buildings["household_source"].tolist() == ["estimate-capped", "non-residential"]
    assert p.buildings["households"].tolist()[1] == 0
    assert any("capped at storeys × 16" in n for n in p.notes)


# --- fields that name the wrong column ----------------------------------------------------------


@pytest.mark.parametrize(("option", "fits"), [
    ("id_field", "['building_id']"), ("households_field", "['households']"), ("units_field", "no column"),
    ("levels_field", "['levels']"), ("compound_field", "['compound']"),
])
def test_a_field_naming_the_geometry_is_refused(buildings, option, fits):
    with pytest.raises(InputError) as info:
        prepare(buildings, **{option: "geometry"})
    (problem,) = info.value.problems
    assert problem.startswith(f"buildings: `{option}` was 'geometry', the geometry column, not a column ")
    assert fits in problem and f"with `{option}`" in problem and "(--" not in problem
    assert f"with --{option.replace('_', '-')}" in for_cli(problem)


def test_fields_naming_columns_of_the_wrong_kind_are_all_listed(buildings):
    b = buildings.copy()
    b["surveyed"] = pd.to_datetime(["2024-05-01"] * 8)
    b["checked"] = [True] * 8
    with pytest.raises(InputError) as info:
        prepare(b, id_field="checked", households_field="compound", units_field="surveyed")
    problems = info.value.problems
    assert len(problems) == 3, problems
    assert problems[0] == ("buildings: `id_field` was 'checked', a column of true/false values, not a column of "
                           "building ids; name one of ['building_id'] with `id_field`")
    assert problems[1].startswith("buildings: `households_field` was 'compound', a text column (e.g. 'west'), not a "
                                  "column of household counts; name one of ['households']")
    assert problems[2].startswith("buildings: `units_field` was 'surveyed', a column of dates")
    assert problems[2].endswith("it is optional: leave it out to plan without it")


def test_an_id_column_may_not_take_a_name_the_plan_uses(buildings):
    with pytest.raises(InputError, match=r"`id_field` was 'part', a name the plan gives a column of its own"):
        prepare(buildings.rename(columns={"building_id": "part"}), id_field="part")


def test_numbers_given_as_text_are_still_numbers(buildings):
    b = buildings.copy()
    b["households"] = ["40"] * 8
    b["levels"] = ["6"] * 8
    p = prepare(b, estimate="never")
    assert p.buildings["households"].tolist() == [40] * 8 and p.buildings["levels"].tolist() == [6.0] * 8


def test_households_field_is_not_read_when_every_count_is_estimated(buildings):
    p = prepare(buildings, households_field="geometry", estimate="all")
    assert "households estimated for all 8 buildings (estimate='all')" in p.notes
    assert (p.buildings["household_source"] != "field").all()


def test_absurd_ids_and_households_are_input_errors_not_crashes():
    from gridplan.inputs.validate import MAX_HOUSEHOLDS_PER_BUILDING, prepare

    geoms = [box(118.78 + i * 0.001, 32.04, 118.7805 + i * 0.001, 32.0405) for i in range(3)]
    big_ids = gpd.GeoDataFrame({"building_id": [1e30 + i for i in range(3)], "households": [40, 50, 60]},
                               geometry=geoms, crs=4326)
    with pytest.raises(InputError, match="used more than once"):  # 1e30 + i are one float: not ids
        prepare(big_ids)
    huge = gpd.GeoDataFrame({"building_id": ["a", "b", "c"], "households": [40, 1e308, 1e30]}, geometry=geoms, crs=4326)
    with pytest.raises(InputError, match=r"2 values of 'households' above 10,000,000.*\['b', 'c'\]"):
        prepare(huge, accept_large=True)  # not a count whatever the flag
    assert MAX_HOUSEHOLDS_PER_BUILDING == 3000


_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand">
{nodes}
 <way id="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
  <tag k="building" v="apartments"/><tag k="building:levels" v="0"/></way>
 <way id="2"><nd ref="5"/><nd ref="6"/><nd ref="7"/><nd ref="8"/><nd ref="5"/>
  <tag k="building" v="apartments"/><tag k="building:levels" v="400"/></way>
</osm>
"""


def test_an_openstreetmap_extract_with_bad_storey_tags_still_plans(tmp_path):
    from gridplan.inputs.io import read_osm

    corners = [(0, 0), (0.0006, 0), (0.0006, 0.0002), (0, 0.0002)]
    nodes = "\n".join(f' <node id="{k + 1 + 4 * w}" lat="{32.04 + y}" lon="{118.78 + x + 0.001 * w}"/>'
                      for w in range(2) for k, (x, y) in enumerate(corners))
    path = tmp_path / "bad_levels.osm"
    path.write_text(_OSM.format(nodes=nodes), encoding="utf-8")
    data = read_osm(path)
    with pytest.warns(UserWarning, match="households estimated for all 2 buildings"):
        p = prepare(data.buildings)
    assert p.buildings["levels"].tolist() == [6, 6]  # apartments by type: the tags 0 and 400 are unknown
    assert p.buildings["levels_source"].eq("estimate-type").all()
    assert any("value of 'levels' is 0 or negative, e.g. 0 ['w1']: OpenStreetMap tags" in n for n in p.notes)
    assert any("1 value of 'levels' is above 150 (HouseholdRules.max_levels), e.g. 400 ['w2']" in n for n in p.notes)
    own = data.buildings.copy()
    own.attrs = {}  # the same values in a file of the user's own
    with pytest.raises(InputError, match=r"e.g. 400 \['w2'\]"):
        prepare(own)


def test_a_file_without_compounds_leaves_every_building_out_of_any_compound():
    """No compound column: every building's compound is missing, not the text 'nan' (which would make the
    whole file one gated compound that the grids try to keep together)."""
    b = gpd.GeoDataFrame({"building_id": ["a", "b"], "households": [10, 20]}, geometry=[box_m(0, 0), box_m(40, 0)], crs=4326)
    c = prepare(b, None).buildings["compound"]
    assert c.isna().all(), c.tolist()
    with_some = b.assign(compound=["C1", None])
    assert prepare(with_some, None).buildings["compound"].tolist()[0] == "C1"
    assert pd.isna(prepare(with_some, None).buildings["compound"].tolist()[1])


# --- mistakes are errors, not guesses (issue 12) ------------------------------------------------


def test_a_named_households_field_that_is_absent_is_an_error_not_an_estimate(buildings):
    with pytest.raises(InputError) as info:
        prepare(buildings, households_field="hh")  # the column is 'households': once warned, then estimated
    (problem,) = info.value.problems
    assert problem == ("buildings: `households_field` was 'hh', which is not a column; did you mean 'households'? "
                       "(columns: ['building_id', 'households', 'levels', 'compound']); name the households column "
                       "with `households_field`, or estimate every building's households with `estimate='all'`")
    assert for_cli(problem).endswith("name the households column with --households-field, or estimate every "
                                     "building's households with --estimate all")
    for mode in ("missing", "auto", "never"):
        with pytest.raises(InputError, match="did you mean 'households'"):
            prepare(buildings, households_field="hh", estimate=mode)
    assert (prepare(buildings, households_field="hh", estimate="all").buildings["household_source"]
            != "field").all()  # estimating is what estimate= asks for


def test_the_default_households_name_absent_still_estimates(buildings):
    with pytest.warns(UserWarning, match="households estimated for all 8 buildings"):
        p = prepare(buildings.drop(columns="households"))
    assert p.buildings["household_source"].eq("estimate").all()


@pytest.mark.parametrize(("option", "named", "near"), [
    ("units_field", "unit", "'units'"), ("levels_field", "Levels", "'levels'"),
    ("compound_field", "compund", "'compound'"), ("population_field", "pop", None),
    ("id_field", "buidling_id", "'building_id'"),
])
def test_every_named_field_that_is_absent_is_an_error_with_did_you_mean(buildings, option, named, near):
    b = buildings.assign(units=2)
    with pytest.raises(InputError) as info:
        prepare(b, **{option: named})
    (problem,) = info.value.problems
    assert problem.startswith(f"buildings: `{option}` was {named!r}, which is not a column")
    assert (f"; did you mean {near}? (columns" in problem) if near else ("did you mean" not in problem)
    assert "(columns: ['building_id', 'households', 'levels', 'compound', 'units'])" in problem
    assert prepare(b.drop(columns="units")).buildings["units_source"].eq("estimate-length").all()  # default: fine


def test_all_households_zero_is_an_error_naming_the_fix(buildings):
    with pytest.raises(InputError) as info:
        prepare(buildings.assign(households=0))
    (problem,) = info.value.problems
    assert problem == ("buildings: all 8 buildings have 0 households (sources: field 8), so there is nothing to "
                       "plan; give the households column with `households_field` (was 'households'), or estimate "
                       "them from the footprints with `estimate='all'`")


def test_a_building_of_5000_households_is_an_error_unless_accepted(buildings):
    b = buildings.copy()
    b.loc[2, "households"] = 5000
    b.loc[5, "households"] = 3001
    with pytest.raises(InputError) as info:
        prepare(b)
    (problem,) = info.value.problems
    assert problem == ("buildings: 2 buildings with more than 3,000 households ['b3 (5,000)', 'b6 (3,001)'], more "
                       "than a building holds; check the counts (a population? a total of several buildings?), or "
                       "plan them as they are with `accept_large=True`")
    assert "--accept-large-buildings" in for_cli(problem, {"accept_large": "--accept-large-buildings"})
    p = prepare(b, accept_large=True)
    assert p.buildings["households"].max() == 5000 and any("2 buildings above 3,000" in n for n in p.notes)
    from gridplan.inputs.households import HouseholdRules

    with pytest.raises(InputError, match=r"1 building with more than 4,000 households \['b3 \(5,000\)'\]"):
        prepare(b, rules=HouseholdRules(max_households_per_building=4000))


def test_input_crs_declares_a_missing_or_wrong_crs(no_crs_buildings, wrong_crs_buildings, buildings):
    p = prepare(no_crs_buildings, input_crs="EPSG:4326")
    assert p.input_crs.to_epsg() == 4326 and "buildings: no CRS replaced by the declared WGS 84 (EPSG:4326)" in p.notes
    utm = buildings.to_crs(32650)
    p = prepare(wrong_crs_buildings, input_crs="epsg:32650")
    assert p.input_crs.to_epsg() == 32650
    assert "buildings: the CRS 'WGS 84' replaced by the declared WGS 84 / UTM zone 50N (EPSG:32650)" in p.notes
    assert p.buildings.geometry.iloc[0].equals_exact(utm.geometry.iloc[0], 1e-6)
    with pytest.raises(OptionError, match=r"`input_crs` was 'EPSG:99999'; expected 'auto', 'gcj02', 'bd09' or a CRS "
                                          r"code such as 'EPSG:32650' \(EPSG:99999 is not a CRS pyproj knows\)"):
        prepare(buildings, input_crs="EPSG:99999")
    with pytest.raises(OptionError, match="expected 'auto', 'gcj02', 'bd09' or a CRS code"):
        prepare(buildings, input_crs="+proj=utm +zone=50")  # codes only, never PROJ strings


def test_degrees_declared_as_metres_are_an_error(buildings):
    with pytest.raises(InputError, match=r"the CRS is 'WGS 84 / UTM zone 50N' \(metres\) but the features span less "
                                         r"than 10 m.*look like longitude/latitude degrees"):
        prepare(buildings, input_crs="EPSG:32650")


def _files(buildings, tmp_path):
    utm = buildings.to_crs(32650).rename(columns={"building_id": "bid"})
    gj = tmp_path / "utm.geojson"  # GeoJSON has no CRS member: GDAL reads it as WGS 84
    utm.to_file(gj)
    text = gj.read_text().replace('"crs": { "type": "name", "properties": { "name": '
                                  '"urn:ogc:def:crs:EPSG::32650" } },', "")
    gj.write_text(text)
    shp = tmp_path / "noprj.shp"
    utm.to_file(shp)
    shp.with_suffix(".prj").unlink()
    return gj, shp


def test_crs_advice_tells_metres_from_degrees(buildings, tmp_path):
    gj, shp = _files(buildings, tmp_path)
    for path in (gj, shp):
        with pytest.raises(InputError) as info:
            prepare(path, id_field="bid")
        (problem,) = info.value.problems
        assert "the coordinates look like metres of a transverse Mercator zone" in problem, problem
        assert "about 32° north" in problem and "EPSG:4326" not in problem and "set_crs" not in problem
        assert "--" not in for_api(problem)
        assert "--input-crs EPSG:32650" in for_cli(problem) and "input_crs=\"EPSG:32650\"" in for_api(problem)
    assert prepare(shp, id_field="bid", input_crs="EPSG:32650").buildings["households"].sum() == 320
    gk = buildings.to_crs(4527)  # CGCS2000 / 3-degree GK zone 39: x with its zone number in front
    with pytest.raises(InputError, match=r"metres of CGCS2000 / 3-degree Gauss-Kruger zone 39 .*`input_crs='EPSG:4527'`"):
        prepare(gk.set_crs(None, allow_override=True))


def test_an_empty_file_says_empty(tmp_path, buildings):
    for name, content in (("b.gpkg", b""), ("b.geojson", b"  \n")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError) as info:
            prepare(tmp_path / name)
        assert info.value.problems[0].startswith(f"buildings file {tmp_path / name}: the file is empty (")
    (tmp_path / "r.geojson").write_bytes(b"")
    with pytest.raises(InputError, match=r"barriers file .*r.geojson: the file is empty \(0 bytes\)"):
        prepare(buildings, tmp_path / "r.geojson")


def test_a_csv_of_points_given_as_buildings_says_what_it_is(tmp_path):
    path = tmp_path / "households.csv"
    path.write_text("编号,lon,lat,户数\nA1,118.7805,32.0405,20\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        prepare(path)
    (problem,) = info.value.problems
    assert problem == (f"buildings file {path}: a table of points (columns 'lon', 'lat'), not buildings with "
                       "footprints; to count households per building give it as the ledger (`ledger`, joined by the "
                       "building each point lies in), and give the footprints as the buildings")
    assert "give it as the ledger (--ledger, joined by" in for_cli(problem)


def test_all_estimates_zero_is_an_error_too(buildings):
    b = buildings.drop(columns="households").assign(building="school")
    with pytest.raises(InputError, match=r"all 8 buildings have 0 households \(sources: non-residential 8\)"):
        prepare(b)  # refused before the estimate's warning is raised


def test_a_compound_drawn_across_a_strong_road_is_warned_about():
    """Issue 12: an estate drawn across a primary road's centreline was accepted without a word."""
    from conftest import line_m

    b = gpd.GeoDataFrame({"building_id": ["a", "b", "c"], "households": [40, 40, 40], "compound": ["C1", "C1", None]},
                         geometry=[box_m(0, 0), box_m(60, 0), box_m(0, 60)], crs=4326)
    road = gpd.GeoDataFrame({"highway": ["primary"], "name": ["中山路"]}, geometry=[line_m((40, -50), (40, 120))], crs=4326)
    with pytest.warns(UserWarning, match=r"1 compound straddles a strong road or a tier-1 line \['C1 \(中山路\)'\]"):
        prepare(b, road)


# ---- descriptive columns: name, address, building type, compound name ----------------------------------------------

def _described(columns: dict) -> gpd.GeoDataFrame:
    geoms = [box(118.780 + i * 0.001, 32.040, 118.78064 + i * 0.001, 32.04011) for i in range(2)]
    return gpd.GeoDataFrame({"building_id": ["a", "b"], "households": [120, 80], **columns}, geometry=geoms, crs=4326)


@pytest.mark.parametrize("columns", [
    {"name": ["1幢", "2幢"], "address": ["中山路1号", None], "building": ["apartments", "residential"],
     "compound_name": ["兰园", "兰园"]},
    {"名称": ["1幢", "2幢"], "地址": ["中山路1号", None], "建筑类型": ["apartments", "residential"], "小区名称": ["兰园", "兰园"]},
    {"Name": ["1幢", "2幢"], "ADDRESS": ["中山路1号", ""], "building type": ["apartments", "residential"],
     "小区": ["兰园", "兰园"]},
])
def test_names_addresses_types_and_compound_names_are_carried_in_english_or_chinese(columns):
    p = prepare(_described(columns))
    b = p.buildings
    assert b["name"].tolist() == ["1幢", "2幢"] and [None if pd.isna(v) else v for v in b["address"]] == ["中山路1号", None]
    assert b["building"].tolist() == ["apartments", "residential"] and b["compound_name"].tolist() == ["兰园", "兰园"]
    assert p.attributes == {k: c for k, c in zip(("name", "address", "building", "compound_name"), columns)}
    aliased = [n for n in p.notes if n.startswith("buildings: took")]
    if "name" in columns:
        assert aliased == []
    else:  # an alias is taken, and said so
        assert len(aliased) == 1 and all(repr(c) in aliased[0] for c in columns)


def test_an_ambiguous_alias_is_a_note_and_not_taken():
    p = prepare(_described({"addr": ["x", "y"], "地址": ["中山路1号", "中山路2号"], "type": ["school", "school"],
                            "类型": ["residential", "residential"]}))
    assert "address" not in p.buildings.columns and "building" not in p.buildings.columns and p.attributes == {}
    assert "buildings: the addresses could be in 'addr' or '地址': neither was taken; rename the one that holds them " \
           "to 'address'" in p.notes
    assert any(n.startswith("buildings: the building types could be in 'type' or '类型'") for n in p.notes)
    # the types were not guessed: no school estimate, the households are as given
    assert p.buildings["households"].tolist() == [120, 80]


def test_the_canonical_column_wins_over_its_aliases_without_a_note():
    p = prepare(_described({"name": ["1幢", "2幢"], "名称": ["x", "y"]}))
    assert p.buildings["name"].tolist() == ["1幢", "2幢"] and not any("names" in n for n in p.notes)


def test_an_aliased_type_decides_estimates_as_building_does():
    given = prepare(_described({"building": ["school", "apartments"], "levels": [3, 3]}), estimate="all")
    aliased = prepare(_described({"建筑类型": ["school", "apartments"], "levels": [3, 3]}), estimate="all")
    assert aliased.buildings["households"].tolist() == given.buildings["households"].tolist()
    assert aliased.buildings["households"].iloc[0] == 0 < aliased.buildings["households"].iloc[1]


def test_a_compound_column_under_another_name_is_suggested_not_used():
    p = prepare(_described({"小区": ["兰园", "兰园"]}))
    assert p.buildings["compound"].isna().all() and p.buildings["compound_name"].tolist() == ["兰园", "兰园"]
    assert ("buildings: no 'compound' column, so no compound is kept in one grid; '小区' may name the compounds: "
            "name it with `compound_field`") in p.notes


def test_the_id_column_is_never_taken_as_an_attribute():
    b = _described({"名称": ["1幢", "2幢"]}).rename(columns={"building_id": "楼栋名称"})
    p = prepare(b, id_field="楼栋名称")
    assert p.attributes == {"name": "名称"} and p.buildings["name"].tolist() == ["1幢", "2幢"]
