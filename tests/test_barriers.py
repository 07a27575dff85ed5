"""Barrier tiers: the default table of DOMAIN.md §3, exclusions, per-feature overrides, real OSM data."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, box

from gridplan.inputs.barriers import DEFAULT_TIERS, classify_barriers
from gridplan.errors import InputError
from gridplan.inputs.io import read_osm

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent (a fresh clone)")


def _lines(**cols) -> gpd.GeoDataFrame:
    n = len(next(iter(cols.values())))
    return gpd.GeoDataFrame(cols, geometry=[LineString([(i, 0), (i, 1)]) for i in range(n)], crs=4326)


@pytest.mark.parametrize(
    ("key", "value", "tier"),
    [("highway", "motorway", 1), ("highway", "trunk_link", 1), ("railway", "rail", 1), ("railway", "light_rail", 1),
     ("waterway", "river", 1), ("waterway", "canal", 1), ("highway", "primary", 2), ("highway", "secondary_link", 2),
     ("highway", "tertiary", 3), ("highway", "residential", 3), ("highway", "service", 3), ("barrier", "wall", 3),
     ("barrier", "fence", 3), ("waterway", "stream", 3)],
)
def test_default_tiers(key, value, tier):
    out = classify_barriers(_lines(**{key: [value]}))
    assert out["tier"].tolist() == [tier] and out["kind"].tolist() == [f"{key}={value}"]
    assert DEFAULT_TIERS[key][value] == tier


@pytest.mark.parametrize("value", ["footway", "path", "cycleway", "steps", "pedestrian", "track", "bridleway",
                                   "corridor", "construction", "proposed", "platform"])
def test_paths_are_not_barriers(value):
    assert classify_barriers(_lines(highway=[value])).empty


def test_subway_tram_tunnels_and_underground_layers_are_not_barriers():
    gdf = _lines(highway=["primary", "primary", "motorway", "primary", None, None],
                 railway=[None, None, None, None, "subway", "tram"],
                 tunnel=["yes", "building_passage", None, None, None, None],
                 layer=[None, None, -1, 1, None, None])
    out = classify_barriers(gdf)
    assert out["kind"].tolist() == ["highway=primary"]  # only the bridge-level (layer 1) primary is left


def test_strongest_tag_wins_and_names_are_strings():
    gdf = _lines(highway=["residential", "service"], railway=["rail", None], name=["铁路边", None])
    out = classify_barriers(gdf)
    assert out["tier"].tolist() == [1, 3]
    assert out["kind"].tolist() == ["railway=rail", "highway=service"]
    assert out["name"].tolist() == ["铁路边", ""]


def test_water_areas_stay_polygons_other_areas_become_lines():
    gdf = gpd.GeoDataFrame({"natural": ["water", None], "highway": [None, "primary"]},
                           geometry=[box(0, 0, 1, 1), box(2, 0, 3, 1)], crs=4326)
    out = classify_barriers(gdf)
    assert out.geom_type.tolist() == ["Polygon", "LineString"]
    assert out.crs.to_epsg() == 4326


def test_points_are_dropped():
    gdf = gpd.GeoDataFrame({"barrier": ["wall"]}, geometry=[Point(0, 0)], crs=4326)
    assert classify_barriers(gdf).empty


def test_tier_column_overrides_per_feature():
    gdf = _lines(highway=["footway", "primary", "primary", "residential", "service"],
                 tier=["hard", 0, None, 2, "none"])
    out = classify_barriers(gdf)
    assert out["tier"].tolist() == [1, 2, 2]
    assert out["kind"].tolist() == ["highway=footway", "highway=primary", "highway=residential"]


def test_tier_column_alone_is_enough():
    out = classify_barriers(_lines(tier=[1, 3]))
    assert out["tier"].tolist() == [1, 3] and out["kind"].tolist() == ["tier", "tier"]


def test_bad_tier_values_are_listed():
    gdf = _lines(highway=["primary"] * 3, tier=[1, "very hard", 7], osm_id=["w1", "w2", "w3"])
    with pytest.raises(InputError) as info:
        classify_barriers(gdf)
    msg = str(info.value)
    assert "'very hard'" in msg and "7" in msg and "['w2', 'w3']" in msg and "'hard'/'strong'/'soft'" in msg


def test_custom_tiers_merge_over_defaults():
    gdf = _lines(highway=["service", "pedestrian", "primary"])
    out = classify_barriers(gdf, tiers={"highway": {"service": 0, "pedestrian": 3}})
    assert out["kind"].tolist() == ["highway=pedestrian", "highway=primary"]


def test_layer_without_tag_columns_is_an_error():
    gdf = _lines(fclass=["primary"])
    with pytest.raises(InputError, match=r"none of the columns.*'fclass'.*highway, railway.*`tier` column"):
        classify_barriers(gdf)


def test_input_is_not_mutated(barriers):
    before = barriers.copy()
    classify_barriers(barriers)
    assert barriers.equals(before)


@needs_shared
@pytest.mark.shared
def test_nanjing_real_tiers():
    out = classify_barriers(read_osm(SHARED / "nanjing_xinjiekou.osm").barriers)
    by_name = out.groupby("name")["tier"].min()
    assert by_name["进香河路"] == 2 and by_name["太平北路"] == 2  # secondary roads
    kinds = set(out.loc[out["tier"] == 1, "kind"])
    assert {"highway=trunk", "waterway=river", "natural=water"} <= kinds
    assert (out.loc[out["kind"] == "natural=water"].geom_type.isin(["Polygon", "MultiPolygon"])).all()
    assert out["tier"].value_counts().to_dict().keys() == {1, 2, 3}
    assert 200 < len(out) < 400  # 383 highway ways in the file, minus footways etc., plus water


@needs_shared
@pytest.mark.shared
def test_monaco_railway_runs_in_tunnel_so_is_no_barrier():
    raw = read_osm(SHARED / "monaco_2023.osm.pbf").barriers
    rail = raw[raw["railway"].eq("rail")]
    assert len(rail) > 0 and rail["tunnel"].notna().any()
    out = classify_barriers(raw)
    surface_rail = rail[rail["tunnel"].isna() & ~(rail["layer"] < 0)]
    assert (out["kind"] == "railway=rail").sum() == len(surface_rail)
    assert not out["kind"].str.startswith("highway=footway").any()
    assert (out.loc[out["kind"] == "highway=primary", "tier"] == 2).all()
