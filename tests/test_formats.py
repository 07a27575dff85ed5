"""The allow-list of input formats: every attack of issue 9 on the library and the CLI, and broken files.

Each attack file is a GDAL VRT (which reads the file or URL it names) dressed as a format gridplan reads. The
suite runs with GDAL restricted (``tests/conftest.py`` calls :func:`gridplan.inputs.formats.restrict_gdal`, as the CLI
and every process of the service do); the CLI tests run in fresh processes, restricted or not by the flag.
"""
from __future__ import annotations

import bz2
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import box

from gridplan.errors import InputError
from gridplan.inputs.formats import ALLOWED_DRIVERS, gdal_restricted, restrict_gdal, sniff, sniff_bytes
from gridplan.inputs.io import read_layer, read_osm

GRIDPLAN = Path(sys.executable).with_name("gridplan")


def _vrt(source: str) -> str:
    """A VRT that maps every line of ``source`` (read as CSV) to a 'building' (the issue's attack)."""
    return (f"<OGRVRTDataSource><OGRVRTLayer name='b'><SrcDataSource>{source}</SrcDataSource>"
            "<SrcSQL dialect='sqlite'>SELECT rowid AS building_id, 40 AS households, "
            "MakePoint(118.78, 32.04) AS geom FROM passwd</SrcSQL>"
            "<GeometryField encoding='shape' field='geom'/></OGRVRTLayer></OGRVRTDataSource>")


@pytest.fixture
def buildings_file(tmp_path: Path) -> Path:
    path = tmp_path / "real.geojson"
    gpd.GeoDataFrame({"building_id": ["a", "b"], "households": [40, 50]},
                     geometry=[box(118.78, 32.04, 118.7802, 32.0402), box(118.781, 32.04, 118.7812, 32.0402)],
                     crs=4326).to_file(path)
    return path


def test_the_suite_runs_with_gdal_restricted():
    assert gdal_restricted()
    assert set(pyogrio.list_drivers()) <= set(ALLOWED_DRIVERS)
    assert "OGR_VRT" not in pyogrio.list_drivers() and "WFS" not in pyogrio.list_drivers()
    assert restrict_gdal() == restrict_gdal()  # idempotent


def test_a_vrt_cannot_be_opened_even_past_the_sniff(tmp_path):
    path = tmp_path / "b.vrt"
    path.write_text(_vrt("CSV:/etc/passwd"))
    with pytest.raises(pyogrio.errors.DataSourceError):
        pyogrio.read_dataframe(path)


@pytest.mark.parametrize("name, content", [
    ("b.gml", _vrt("CSV:/etc/passwd")),
    ("b.geojson", _vrt("CSV:/etc/passwd")),
    ("b.osm", "<OGRVRTDataSource><!-- <osm version=\"0.6\"> -->" + _vrt("CSV:/etc/passwd")[19:]),
    ("b.geojson", '{"type": "FeatureCollection", "x": "' + _vrt("/vsicurl/http://127.0.0.1:9/x.csv") + '"}'),
    ("b.geojson", _vrt("gridplan.db")),
])
def test_vrts_dressed_as_allowed_formats_are_unsupported(tmp_path, name, content):
    plain = tmp_path / name
    plain.write_text(content)
    with pytest.raises(InputError, match="unsupported file type"):
        read_layer(plain)
    zipped = tmp_path / "upload.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr(name, content)
    with pytest.raises(InputError, match="unsupported file type|holds no vector file"):
        read_layer(zipped)


def test_a_zip_member_is_judged_by_its_content(tmp_path, buildings_file):
    zipped = tmp_path / "upload.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("b.geojson", _vrt("CSV:/etc/passwd"))
    with pytest.raises(InputError, match=r"unsupported file type"):
        read_layer(zipped)
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.write(buildings_file, "b.geojson")
    assert list(read_layer(good)["building_id"]) == ["a", "b"]


def test_a_compressed_non_osm_file_is_unsupported(tmp_path):
    path = tmp_path / "b.osm.bz2"
    path.write_bytes(bz2.compress(_vrt("CSV:/etc/passwd").encode()))
    with pytest.raises(InputError, match="unsupported file type"):
        read_layer(path)
    with pytest.raises(InputError, match="a compressed file that is not OSM XML"):
        read_osm(tmp_path / "b.osm.bz2")


def test_a_geopackage_whose_layer_is_a_view_is_refused(tmp_path, buildings_file):
    path = tmp_path / "b.gpkg"
    gpd.read_file(buildings_file).to_file(path, layer="real")
    con = sqlite3.connect(path)
    con.execute("CREATE VIEW slow AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                "SELECT fid, geom, x AS households FROM real, c")
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES ('slow', 'features', 'slow', 4326)")
    con.execute("INSERT INTO gpkg_geometry_columns VALUES ('slow', 'geom', 'POLYGON', 4326, 0, 0)")
    con.commit()
    con.close()
    with pytest.raises(InputError, match=r"SQL views or virtual tables \['slow'\]"):
        read_layer(path, layer="slow")


@pytest.mark.parametrize("name, content, message", [
    ("b.osm.bz2", b"BZh91AY&SYgarbage", "cannot be decompressed"),
    ("b.fgb", b"fgb\x03\x00\x00\x00\x00garbage", "cannot be read|not a vector file"),
    ("b.osm.pbf", b"\x0a\x0d\x0a\x09OSMHeader garbage", "unsupported file type"),
    ("b.osm.pbf", b"\x00\x00\x00\x0e\x0a\x09OSMHeader garbage", "cannot be read"),
    ("b.geojson", b'{"type": "FeatureCollection", "features": [', "cannot be read|not a vector file"),
    ("b.gpkg", b"SQLite format 3\x00" + bytes(52) + b"GPKG" + bytes(200), "cannot be read|not a vector file"),
])
def test_broken_files_are_input_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_layer(path)


def test_allowed_formats_still_read(tmp_path, buildings_file):
    gdf = gpd.read_file(buildings_file).rename(columns={"building_id": "bid", "households": "hh"})  # DBF: 10 letters
    for name in ("b.gpkg", "b.fgb", "b.shp"):
        gdf.to_file(tmp_path / name)
        assert sorted(read_layer(tmp_path / name)["bid"]) == ["a", "b"], name  # FlatGeobuf reorders
    assert sniff(tmp_path / "b.shp") == "shp" and sniff(tmp_path / "b.fgb") == "fgb"
    assert sniff_bytes(b"\xef\xbb\xbf  {\"type\": 1}") == "geojson"


def test_network_access_is_closed_after_restricting(counting_http_server):
    base, hits = counting_http_server
    url = f"/vsicurl/{base}/b.geojson"
    with pytest.raises(Exception):  # noqa: B017 - GDAL's own error type for a refused open
        pyogrio.read_info(url)
    assert hits == []
    with pytest.raises(InputError, match="no such file"):
        read_layer(url)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(GRIDPLAN), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not GRIDPLAN.exists(), reason="the gridplan console script is not installed beside python")
def test_the_cli_refuses_a_vrt_unless_the_user_opts_in(tmp_path, buildings_file):
    own = tmp_path / "own.vrt"
    own.write_text(f"<OGRVRTDataSource><OGRVRTLayer name='own'><SrcDataSource>{buildings_file}</SrcDataSource>"
                   "<SrcLayer>real</SrcLayer></OGRVRTLayer></OGRVRTDataSource>")
    refused = _cli("inspect", str(own))
    assert refused.returncode == 2, refused.stderr
    assert "unsupported file type" in refused.stderr and "--allow-any-format" in refused.stderr
    assert "Traceback" not in refused.stderr
    accepted = _cli("--allow-any-format", "inspect", str(own))
    assert accepted.returncode == 0, accepted.stderr
    assert "2 buildings" in accepted.stdout


def test_a_plan_directory_and_a_ledger_are_opened_by_the_allow_list_too(tmp_path, buildings_file):
    from gridplan.inputs.ledger import read_ledger
    from gridplan.outputs.reader import read_plan

    plan_dir = tmp_path / "plan"
    plan_dir.mkdir()
    (plan_dir / "report.json").write_text("{}")
    (plan_dir / "plan.gpkg").write_text(_vrt("CSV:/etc/passwd"))
    with pytest.raises(InputError, match="plan.gpkg: not a GeoPackage"):
        read_plan(plan_dir)
    ledger = tmp_path / "ledger.geojson"
    ledger.write_bytes(buildings_file.read_bytes())
    ledger = ledger.rename(tmp_path / "ledger.dbf")  # a GeoJSON under a DBF name: read by GDAL, not a ledger driver
    with pytest.raises(InputError, match="is not a ledger gridplan reads"):
        read_ledger(ledger)


def _gpkg_with(tmp_path, buildings_file, name: str, *sql: str) -> Path:
    path = tmp_path / name
    gpd.read_file(buildings_file).to_file(path, layer="real")
    con = sqlite3.connect(path)
    for statement in sql:
        con.execute(statement)
    con.commit()
    con.close()
    return path


_SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT fid, geom, x AS households FROM real, c"


@pytest.mark.parametrize("sql", [
    # a view registered under another case than its name (SQLite names ignore case)
    (f"CREATE VIEW v AS {_SLOW}",
     "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES ('V', 'features', 'V', 4326)"),
    # gpkg_contents itself replaced by a view
    ("ALTER TABLE gpkg_contents RENAME TO c2", "CREATE VIEW gpkg_contents AS SELECT * FROM c2"),
    # a virtual table backed by a module that is not an R-tree index
    ("CREATE VIRTUAL TABLE t USING fts5(x)",),
])
def test_views_and_virtual_tables_are_refused_however_registered(tmp_path, buildings_file, sql):
    path = _gpkg_with(tmp_path, buildings_file, "b.gpkg", *sql)
    with pytest.raises(InputError, match="SQL views or virtual tables"):
        read_layer(path, layer="real")
    zipped = tmp_path / "b.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.write(path, "b.gpkg")
    with pytest.raises(InputError, match="SQL views or virtual tables"):
        read_layer(zipped, layer="real")


def test_a_zipped_geopackage_is_read(tmp_path, buildings_file):
    path = _gpkg_with(tmp_path, buildings_file, "b.gpkg")
    zipped = tmp_path / "b.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.write(path, "b.gpkg")
    assert sorted(read_layer(zipped)["building_id"]) == ["a", "b"]  # its R-tree index is a virtual table: allowed


def test_a_decompression_past_the_limit_says_so_once(tmp_path):
    path = tmp_path / "b.osm.bz2"
    path.write_bytes(bz2.compress(b"<osm version='0.6'>" + b" " * 100_000 + b"</osm>"))
    with pytest.raises(InputError) as caught:
        read_layer(path, max_uncompressed=1000)
    assert len(caught.value.problems) == 1 and "decompresses to more than 1,000 bytes" in caught.value.problems[0]
    assert "problem with the input" not in caught.value.problems[0]
