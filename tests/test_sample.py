"""The bundled sample and its generator (gridplan.sample)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from gridplan import sample
from gridplan.errors import OptionError
from gridplan.sample import LAYERS, make_city, make_district, sample_path, write_sample

METRIC = 32650


@pytest.fixture(scope="module")
def district():
    return make_district()


@pytest.fixture(scope="module")
def metric(district):
    """The default district in UTM 50N (metres)."""
    return {name: getattr(district, name).to_crs(METRIC) for name in LAYERS}


def _households_in(polys: gpd.GeoSeries, buildings: gpd.GeoDataFrame) -> pd.Series:
    """Households per polygon (by the buildings' representative points)."""
    pts = gpd.GeoDataFrame(buildings[["households"]], geometry=buildings.representative_point(), crs=buildings.crs)
    j = gpd.sjoin(pts, gpd.GeoDataFrame(geometry=polys, crs=buildings.crs), predicate="within")
    return j.groupby("index_right")["households"].sum().reindex(range(len(polys)), fill_value=0)


def _faces(lines, study) -> gpd.GeoSeries:
    """Pieces of the study area cut by ``lines`` and its edge."""
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all([*lines, study.exterior]))))
    return gpd.GeoSeries([f for f in faces if study.contains(f.representative_point())], crs=METRIC)


def test_layers_columns_and_crs(district):
    b, r, c = district.buildings, district.roads, district.communities
    assert list(b.columns) == ["building_id", "households", "units", "levels", "building", "compound",
                               "compound_name", "name", "geometry"]
    assert {"osm_id", "highway", "waterway", "railway", "natural", "barrier", "name"} <= set(r.columns)
    assert list(c.columns) == ["code", "name", "geometry"]
    assert all(x.crs.to_epsg() == 4326 for x in (b, r, c))
    assert set(b.geom_type) == {"Polygon"} and b.is_valid.all() and c.is_valid.all() and r.is_valid.all()
    assert b["households"].dtype == np.int64 and b["units"].dtype == np.int64 and b["levels"].dtype == np.int64
    lon, lat = c.union_all().centroid.coords[0]
    assert abs(lon - 118.78) < 0.01 and abs(lat - 32.04) < 0.01


def test_totals_and_extent(district, metric):
    assert abs(int(district.buildings["households"].sum()) - 60_000) <= 0.03 * 60_000
    x0, y0, x1, y1 = metric["communities"].total_bounds
    assert 2_800 < x1 - x0 < 4_500 and 2_800 < y1 - y0 < 4_500
    assert 8e6 < metric["communities"].area.sum() < 16e6


def test_building_kinds(district):
    b = district.buildings
    res = b[b["households"] > 0]
    assert set(res["building"]) <= {"residential", "apartments"}
    per_floor = res["households"] / (res["levels"] * res["units"])
    assert per_floor.isin([2, 3, 4]).all()
    walkups, towers = res[res["levels"] <= 7], res[res["levels"] >= 18]
    assert walkups["levels"].between(5, 7).all() and walkups["households"].between(20, 56).all()
    assert towers["households"].between(72, 300).all() and towers["units"].between(1, 4).all()
    assert (b["households"] > 100).sum() >= 10  # some towers must be divided by entrance/floor
    nonres = b[b["households"] == 0]
    assert {"school", "retail"} <= set(nonres["building"]) and len(nonres) < 0.1 * len(b)
    assert b["name"].str.match(r"^\w+?\d+号(\d+幢)?$").all()


def _estates(b: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The towers of the high-rise estates: gated compounds of 8 or more buildings, all of 26 storeys or more."""
    gated = b[b["compound"].notna()]
    per = gated.groupby("compound")["levels"]
    estate = per.size().ge(8) & per.min().ge(26)
    return gated[gated["compound"].map(estate)]


def test_high_rise_estates_near_the_centre(district, metric):
    b = district.buildings
    est = _estates(b)
    per = est.groupby("compound")
    assert per.ngroups == 2 and per.size().between(8, 12).all()
    assert est["levels"].between(26, 33).all() and est["units"].between(2, 4).all()
    assert est["households"].between(200, 300).all() and est["units"].nunique() >= 2
    assert (est["households"] == est["levels"] * est["units"] * est["units"].map({2: 4, 3: 3, 4: 2})).all()
    assert est["units"].dtype == np.int64 and est["levels"].dtype == np.int64
    m = metric["buildings"].loc[est.index]
    centre = metric["communities"].union_all().centroid
    assert m.distance(centre).max() < 1_200  # the district is ~3.2 km across


def test_ids_are_unique(district):
    b, r, c = district.buildings, district.roads, district.communities
    assert b["building_id"].is_unique and b["building_id"].str.fullmatch(r"B\d{6}").all()
    assert r["osm_id"].is_unique
    assert c["code"].is_unique and c["code"].str.fullmatch(r"320102\d{6}").all() and c["name"].is_unique
    gated = b.dropna(subset=["compound"])
    assert gated.groupby("compound")["compound_name"].nunique().eq(1).all()
    assert gated.groupby("compound_name")["compound"].nunique().eq(1).all()
    assert gated["compound"].nunique() >= 50 and b["compound"].isna().any()


def test_every_building_in_exactly_one_community(metric):
    b, c = metric["buildings"], metric["communities"]
    pts = gpd.GeoDataFrame(geometry=b.representative_point(), crs=METRIC)
    hits = gpd.sjoin(pts, c, predicate="within").groupby(level=0).size()
    assert len(hits) == len(b) and (hits == 1).all()


def test_communities_tile_the_district(metric):
    c = metric["communities"]
    union = c.union_all()
    assert union.geom_type == "Polygon" and not union.interiors
    assert union.area == pytest.approx(c.area.sum(), rel=1e-9)
    left, right = c.sindex.query(c.geometry, predicate="intersects")
    overlap = sum(c.geometry.iloc[i].intersection(c.geometry.iloc[j]).area for i, j in zip(left, right) if i < j)
    assert overlap < 1.0
    assert (c.geom_type == "Polygon").all()


def test_communities_are_mostly_oversized(district, metric):
    c = metric["communities"]
    totals = _households_in(c.geometry.reset_index(drop=True), metric["buildings"])
    assert len(c) == 24
    assert 1_400 <= totals.min() and totals.max() <= 4_600
    assert (totals > 3_000).sum() >= 5
    assert 1_000 <= totals.sum() / 35 <= 3_000  # re-splittable into 35 communities of 1,000–3,000


def test_no_building_touches_a_barrier(metric):
    b, r = metric["buildings"], metric["roads"]
    assert len(gpd.sjoin(b, r, predicate="intersects")) == 0
    water = r[r["natural"] == "water"]
    assert b.distance(water.union_all()).min() > 5.0
    hard = r[r["highway"].isin(["trunk", "primary", "secondary"])]
    assert b.distance(hard.union_all()).min() > 10.0


def test_barrier_tags(district):
    r = district.roads
    hw = set(r["highway"].dropna())
    assert {"trunk", "primary", "secondary", "tertiary", "residential", "service"} <= hw
    assert (r["waterway"] == "river").sum() == 1 and (r["natural"] == "water").sum() == 1
    assert (r["railway"] == "rail").sum() == 1 and (r["barrier"] == "wall").sum() >= 20
    assert r.loc[r["waterway"] == "river", "name"].item() == "秦淮河"
    assert set(r.loc[r["natural"] == "water"].geom_type) <= {"Polygon", "MultiPolygon"}
    assert r.loc[r["highway"].isin(["trunk", "primary", "secondary", "tertiary"]), "name"].notna().all()


def test_planted_awkward_pieces(metric):
    """A piece fenced by hard lines with 501–599 households, and a ~120-household superblock."""
    b, r, study = metric["buildings"], metric["roads"], metric["communities"].union_all()
    hard = r[(r["highway"] == "trunk") | (r["waterway"] == "river") | (r["railway"] == "rail")].geometry
    pieces = _households_in(_faces(hard, study), b)
    assert pieces.between(501, 599).sum() == 1
    assert not pieces[pieces < 300].gt(0).any()  # no other infeasible hard piece
    strong = r[r["highway"].isin(["trunk", "primary", "secondary"]) | (r["waterway"] == "river") |
               (r["railway"] == "rail")].geometry
    blocks = _households_in(_faces(strong, study), b)
    assert blocks[blocks > 0].between(90, 150).any()


def test_same_seed_same_files(tmp_path):
    one, two = write_sample(tmp_path / "a"), write_sample(tmp_path / "b")
    for name in LAYERS:
        assert one[name].read_bytes() == two[name].read_bytes()
        _assert_same(pyogrio.read_dataframe(one[name]), pyogrio.read_dataframe(two[name]), exact=True)


def test_other_seed_other_district():
    a, b = make_district(households=3000, communities=4, seed=1), make_district(households=3000, communities=4, seed=2)
    assert not a.buildings.geometry.geom_equals(b.buildings.geometry.reindex(a.buildings.index)).all()


def _assert_same(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, *, exact: bool) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    attrs = [k for k in a.columns if k != "geometry"]
    pd.testing.assert_frame_equal(pd.DataFrame(a[attrs]).astype(object), pd.DataFrame(b[attrs]).astype(object))
    ga, gb = np.asarray(a.geometry.values), np.asarray(b.geometry.values)
    if exact:
        assert (shapely.to_wkb(ga) == shapely.to_wkb(gb)).all()
    else:
        assert shapely.equals_exact(ga, gb, tolerance=1e-7).all()


@pytest.mark.parametrize("name", LAYERS)
def test_bundled_files_match_the_generator(district, name):
    path = sample_path(name)
    assert path.parent.name == "sample_geo", "the bundled sample_geo/ files are missing; run sample_geo/generate.py"
    on_disk = pyogrio.read_dataframe(path)
    made = getattr(district, name)
    _assert_same(on_disk, made.set_geometry(made.geometry.values), exact=False)


def test_sample_path_falls_back_to_a_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(sample, "_BUNDLED", tmp_path / "not-here")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = sample_path("communities")
    assert path.exists() and tmp_path / "cache" in path.parents
    assert sample_path("roads").parent == path.parent


def test_bad_options_say_what_to_give():
    with pytest.raises(OptionError, match="`households` was 10"):
        make_district(households=10)
    with pytest.raises(OptionError, match="give at most"):
        make_district(households=3000, communities=24)
    with pytest.raises(OptionError, match="expected one of 'buildings', 'roads', 'communities'"):
        sample_path("streets")


def test_city_is_the_same_generator_at_scale():
    c = make_city(200_000, seed=7)
    b = c.buildings
    est = _estates(b)
    assert est["households"].sum() >= 0.40 * b["households"].sum()  # high-rise, like a Chinese city
    assert est["levels"].between(26, 33).all() and est.groupby("compound").size().between(8, 12).all()
    assert abs(int(b["households"].sum()) - 200_000) <= 0.03 * 200_000
    assert b["building_id"].is_unique and c.roads["osm_id"].is_unique and len(c.communities) == 80
    m = c.communities.to_crs(METRIC)
    assert m.union_all().area == pytest.approx(m.area.sum(), rel=1e-9)
    assert (c.roads["highway"] == "trunk").any() and (c.roads["waterway"] == "river").any()
