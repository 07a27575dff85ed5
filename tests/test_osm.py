"""OSM input: offline extracts and online fetching (tested offline with recorded responses)."""
from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from conftest import SHARED, box_m, deg, needs_shared

from gridplan.inputs.barriers import classify_barriers
from gridplan.errors import InputError, OptionError
from gridplan.inputs.osm import OSM_TAGS, fetch_osm, load_osm, osm_from_features, parse_bbox
from gridplan.inputs.validate import prepare


def test_offline_extract_buildings(osm_extract):
    osm = load_osm(osm_extract)
    b = osm.buildings.set_index("building_id")
    # the relation r10 (building with a courtyard) is kept once, with its hole; its old-style outer way w11 goes
    assert "r10" in b.index and "w11" not in b.index and "w12" not in b.index
    courtyard = b.loc["r10", "geometry"]
    assert len(shapely.get_parts(courtyard)) == 1 and len(shapely.get_parts(courtyard)[0].interiors) == 1
    # the building standing in the courtyard is its own building
    assert "w13" in b.index
    # the clipped building (a node outside the file) is left out and said so; whole ones stay
    assert "w18" not in b.index and "w19" in b.index
    assert any("left out 1 buildings cut by the extract's edge" in n and "w18" in n for n in osm.notes)
    assert b.loc["w17", "flats"] == 24 and b.loc["w19", "levels"] == 6


def test_offline_extract_barriers_only_from_tags(osm_extract):
    osm = load_osm(osm_extract)
    r = classify_barriers(osm.barriers)
    kinds = dict(zip(r["kind"], r["tier"]))
    assert kinds == {"highway=primary": 2, "highway=service": 3, "railway=rail": 1, "waterway=river": 1,
                     "natural=water": 1, "barrier=wall": 3}
    # no building outline became a road, and the footway is no barrier
    assert osm.barriers["highway"].dropna().tolist() == ["primary", "service", "footway"]
    assert not osm.barriers["osm_id"].isin(osm.buildings["building_id"]).any()


def test_offline_extract_compounds(osm_extract):
    osm = load_osm(osm_extract)
    b = osm.buildings.set_index("building_id")
    assert b.loc[["w16", "w17", "w19"], "compound"].eq("landuse:w30").all()
    assert b.loc[["w26", "w27"], "compound"].eq("wall:w25").all()
    assert b.loc[["w1", "w14", "w15"], "compound"].isna().all()
    assert b["in_residential"].sum() == 3  # the landuse polygon, not the wall


def test_compounds_file_adds_groups(osm_extract, tmp_path):
    given = gpd.GeoDataFrame({"compound_id": ["学校大院"]}, geometry=[box_m(190, -10, 70, 70)], crs=4326)
    given.to_file(tmp_path / "compounds.gpkg")
    osm = load_osm(osm_extract, compounds=tmp_path / "compounds.gpkg", osm_compounds=False)
    b = osm.buildings.set_index("building_id")
    assert b.loc["w14", "compound"] == "学校大院"
    assert b["compound"].notna().sum() == 1


def test_households_from_the_extract(osm_extract):
    osm = load_osm(osm_extract)
    with pytest.warns(UserWarning, match="households estimated for all 10 buildings"):
        p = prepare(osm.buildings, osm.barriers)
    src = p.buildings.set_index("building_id")["household_source"]
    hh = p.buildings.set_index("building_id")["households"]
    assert src["w14"] == "non-residential" and hh["w14"] == 0  # a school
    assert src["w15"] == "non-residential" and hh["w15"] == 0  # a 3,600 m² building=yes outside housing
    assert src["w16"] == "estimate-capped" and hh["w16"] == 48  # the same size inside landuse=residential: 3 × 16
    assert src["w17"] == "flats" and hh["w17"] == 24
    assert src["w1"] == "estimate" and hh["w1"] > 0
    assert p.buildings["compound"].notna().sum() == 5


# ---- online, served offline ----------------------------------------------------------------------

_NOMINATIM = {  # a recorded Nominatim search result, cut down to what osmnx reads
    "place_id": 1, "licence": "Data © OpenStreetMap contributors, ODbL 1.0", "osm_type": "relation",
    "osm_id": 1, "lat": "32.041", "lon": "118.781", "class": "boundary", "type": "administrative",
    "place_rank": 16, "importance": 0.6, "addresstype": "suburb", "name": "测试街道",
    "display_name": "测试街道, 玄武区, 南京市", "boundingbox": None, "geojson": None,
}


@pytest.fixture
def offline_osmnx(monkeypatch):
    """Serve osmnx's Nominatim and Overpass calls from a local extract; any real request fails the test."""
    import osmnx._http
    import osmnx._nominatim
    import osmnx._overpass
    from osmnx._osm_xml import _overpass_json_from_xml

    served: dict = {"requests": 0}

    def serve(path: Path, area: shapely.Polygon) -> None:
        served["overpass"] = _overpass_json_from_xml(path, "utf-8")
        w, s, e, n = area.bounds
        served["nominatim"] = [{**_NOMINATIM, "boundingbox": [str(s), str(n), str(w), str(e)],
                                "geojson": json.loads(shapely.to_geojson(area))}]

    def overpass(data):
        served["requests"] += 1
        assert "way" in data["data"]
        return served["overpass"]

    def nominatim(query, **kwargs):
        served["query"] = query
        return served["nominatim"]

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to reach the internet")

    monkeypatch.setattr(osmnx._overpass, "_overpass_request", overpass)
    monkeypatch.setattr(osmnx._nominatim, "_download_nominatim_element", nominatim)
    monkeypatch.setattr(osmnx._http.requests, "get", no_network)
    monkeypatch.setattr(osmnx._http.requests, "post", no_network)
    served["serve"] = serve
    return served


def _area(x0, y0, x1, y1) -> shapely.Polygon:
    return shapely.box(*deg(x0, y0), *deg(x1, y1))


def test_fetch_by_place_matches_the_file(osm_extract, offline_osmnx):
    offline_osmnx["serve"](osm_extract, _area(-100, -150, 500, 450))
    online = fetch_osm(place="测试街道, 玄武区, 南京市")
    offline = load_osm(osm_extract)
    assert offline_osmnx["query"] == "测试街道, 玄武区, 南京市" and offline_osmnx["requests"] >= 1
    # the same buildings, except the clipped one: Overpass never clips, the recorded file did
    assert set(online.buildings["building_id"]) == set(offline.buildings["building_id"])
    on, off = (x.buildings.set_index("building_id").sort_index() for x in (online, offline))
    assert on["compound"].equals(off["compound"]) and on["in_residential"].equals(off["in_residential"])
    assert sorted(classify_barriers(online.barriers)["kind"]) == sorted(classify_barriers(offline.barriers)["kind"])
    assert online.source == "OpenStreetMap place '测试街道, 玄武区, 南京市'"


def test_fetch_by_bbox_keeps_what_lies_inside(osm_extract, offline_osmnx):
    offline_osmnx["serve"](osm_extract, _area(-100, -150, 500, 450))
    w, s = deg(-5, -5)
    e, n = deg(160, 80)
    got = fetch_osm(bbox=f"{w},{s},{e},{n}")
    assert {"w1", "r10", "w13"} <= set(got.buildings["building_id"])
    assert "w16" not in set(got.buildings["building_id"])  # outside the box


def test_fetch_options_are_checked():
    with pytest.raises(OptionError, match="give a place name .* or a bounding box"):
        fetch_osm()
    with pytest.raises(OptionError, match="give a place name .* or a bounding box"):
        fetch_osm(place="x", bbox="1,2,3,4")
    with pytest.raises(OptionError, match=r"`bbox` was '1,2,3'; expected W,S,E,N"):
        parse_bbox("1,2,3")


def test_fetch_nothing_found(osm_extract, offline_osmnx):
    offline_osmnx["serve"](osm_extract, _area(0, 0, 10, 10))
    offline_osmnx["overpass"] = {"version": 0.6, "elements": []}
    with pytest.raises(InputError, match="OpenStreetMap place 'nowhere': nothing found"):
        fetch_osm(place="nowhere")


def test_osm_tags_cover_every_barrier_key():
    from gridplan.inputs.barriers import TAG_KEYS

    assert set(TAG_KEYS) <= set(OSM_TAGS)


@needs_shared
@pytest.mark.shared
def test_fetch_serves_nanjing_like_the_file(offline_osmnx):
    path = SHARED / "nanjing_xinjiekou.osm"
    offline = load_osm(path)
    w, s, e, n = offline.buildings.total_bounds
    offline_osmnx["serve"](path, shapely.box(w - 0.01, s - 0.01, e + 0.01, n + 0.01))
    online = fetch_osm(place="新街口, 南京市")
    assert abs(len(online.buildings) - len(offline.buildings)) <= 0.02 * len(offline.buildings)
    assert online.barriers["highway"].notna().sum() == offline.barriers["highway"].notna().sum() == 383
    assert online.buildings["compound"].nunique() == offline.buildings["compound"].nunique()


def test_osm_from_features_ignores_non_building_polygons():
    f = gpd.GeoDataFrame({"building": [None, "yes"], "landuse": ["residential", None]},
                         geometry=[box_m(0, 0, 100, 100), box_m(10, 10)], crs=4326)
    f.index = __import__("pandas").MultiIndex.from_tuples([("way", 1), ("way", 2)], names=["element", "id"])
    data = osm_from_features(f)
    assert data.buildings["building_id"].tolist() == ["w2"] and data.compounds["osm_id"].tolist() == ["w1"]
    assert data.barriers.empty
