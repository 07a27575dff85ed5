"""GET /v1/plans/{id}/export: every format, level and table opens in GDAL and holds every unit; encoding, crs, 422s."""
from __future__ import annotations

import dataclasses
import io
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from servicekit import check

import api.routers.exports as exports
from gridplan.model import LAYER_NAMES
from gridplan.outputs.reader import read_plan

UNITS = {name: lv for lv, name in LAYER_NAMES.items()}  # communities -> community, …
LEVELS = [*UNITS, "buildings"]


@pytest.fixture(scope="module")
def plan(client, done_plan):
    """The finished plan as the library reads it from the service's plan directory."""
    return read_plan(client.app.state.service.layout.plan_dir(done_plan.id))


def expected(plan, level: str) -> set[str]:
    if level == "buildings":
        return set(plan.buildings[plan.id_field].astype(str))
    return set(plan.layer(UNITS[level])["code"].astype(str))


def get(client, plan_id: str, **params):
    resp = client.get(f"/v1/plans/{plan_id}/export", params=params)
    assert resp.status_code == 200, resp.text[:1000]
    return resp


def filename(resp) -> str:
    return resp.headers["content-disposition"].split("filename=")[1].strip('"')


def saved(resp, tmp_path: Path) -> Path:
    path = tmp_path / filename(resp)
    path.write_bytes(resp.content)
    return path


def keys(df: pd.DataFrame, level: str) -> set[str]:
    """The codes (building ids) of a layer read back, whatever its field names: full (gpkg, fgb) or DBF (shp)."""
    for col in (("building_id", "bldg_id") if level == "buildings" else ("code",)):
        if col in df.columns:
            return set(df[col].astype(str))
    raise AssertionError(f"no code column in {list(df.columns)}")


def test_gpkg_holds_every_level_in_cgcs2000(client, done_plan, plan, tmp_path):
    resp = get(client, done_plan.id)
    assert filename(resp) == f"plan-{done_plan.id}.gpkg"
    assert resp.headers["content-type"] == "application/geopackage+sqlite3"
    path = saved(resp, tmp_path)
    assert sorted(name for name, _ in pyogrio.list_layers(path)) == sorted(LEVELS)
    for level in LEVELS:
        df = pyogrio.read_dataframe(path, layer=level)
        assert keys(df, level) == expected(plan, level) and df.crs.to_epsg() == 4490


@pytest.mark.parametrize("level", LEVELS)
def test_one_level_as_fgb_and_as_one_shapefile_zip(client, done_plan, plan, tmp_path, level):
    fgb = saved(get(client, done_plan.id, format="fgb", level=level), tmp_path)
    assert fgb.name == f"plan-{done_plan.id}-{level}.fgb"
    assert keys(pyogrio.read_dataframe(fgb), level) == expected(plan, level)

    resp = get(client, done_plan.id, format="shp", level=level)
    assert resp.headers["content-type"] == "application/zip"
    shp = saved(resp, tmp_path)
    assert shp.name == f"plan-{done_plan.id}-{level}.shp.zip"
    names = zipfile.ZipFile(shp).namelist()
    assert {f"{level}.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg")} <= set(names)
    assert not any(n.endswith(".zip") for n in names), names  # not a zip of zips
    info = subprocess.run(["ogrinfo", "-ro", "-so", "-al", f"/vsizip/{shp}"], capture_output=True, text=True, check=True)
    assert f"Feature Count: {len(pyogrio.read_dataframe(fgb))}" in info.stdout
    assert keys(pyogrio.read_dataframe(f"/vsizip/{shp}/{level}.shp"), level) == expected(plan, level)


def test_shp_and_fgb_without_level_are_one_zip_of_every_level(client, done_plan, plan, tmp_path):
    shp = saved(get(client, done_plan.id, format="shp"), tmp_path)
    assert shp.name == f"plan-{done_plan.id}.shp.zip"
    names = set(zipfile.ZipFile(shp).namelist())
    assert names == {f"{lv}.{ext}" for lv in LEVELS for ext in ("shp", "shx", "dbf", "prj", "cpg")} | {"shapefile_fields.csv"}
    for level in LEVELS:
        info = subprocess.run(["ogrinfo", "-ro", "-so", f"/vsizip/{shp}/{level}.shp", level], capture_output=True,
                              text=True, check=True)
        assert f"Feature Count: {len(pyogrio.read_dataframe(f'/vsizip/{shp}/{level}.shp'))}" in info.stdout
        assert keys(pyogrio.read_dataframe(f"/vsizip/{shp}/{level}.shp"), level) == expected(plan, level)
    fgb = saved(get(client, done_plan.id, format="fgb"), tmp_path)
    assert fgb.name == f"plan-{done_plan.id}.fgb.zip"
    assert sorted(zipfile.ZipFile(fgb).namelist()) == sorted(f"{lv}.fgb" for lv in LEVELS)
    for level in LEVELS:
        assert keys(pyogrio.read_dataframe(f"/vsizip/{fgb}/{level}.fgb"), level) == expected(plan, level)


def read_csv(data: bytes) -> pd.DataFrame:
    assert data.startswith("\ufeff".encode()), data[:20]  # a byte-order mark, for spreadsheet programs
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str)


@pytest.mark.parametrize("level", list(UNITS))
def test_code_tables_have_every_unit_and_the_four_sides(client, done_plan, plan, level):
    resp = get(client, done_plan.id, table="codes", level=level)
    assert filename(resp) == f"plan-{done_plan.id}-{level}-codes.csv" and resp.headers["content-type"].startswith("text/csv")
    df = read_csv(resp.content)
    assert {"东至 east", "南至 south", "西至 west", "北至 north", "名称 name"} <= set(df.columns)
    assert set(df["编码 code"]) == expected(plan, level)
    assert get(client, done_plan.id, format="csv", level=level).content == resp.content  # level alone: the same table


def test_csv_tables_and_the_zip_of_them(client, done_plan, plan):
    roster = read_csv(get(client, done_plan.id, table="roster").content)
    assert set(roster["楼栋编号 building_id"]) == expected(plan, "buildings")
    assert get(client, done_plan.id, format="csv", level="buildings").content == get(client, done_plan.id, table="roster").content
    posts = read_csv(get(client, done_plan.id, table="posts").content)
    assert set(expected(plan, "grids")) <= set(posts.stack())  # every grid has its 网格员 post
    validation = read_csv(get(client, done_plan.id, table="validation").content)
    assert set(validation["结果 status"]) <= {"pass", "warn", "fail"} and len(validation) >= len(expected(plan, "grids"))
    codes = get(client, done_plan.id, table="codes")
    assert filename(codes) == f"plan-{done_plan.id}-codes.csv.zip"
    assert sorted(zipfile.ZipFile(io.BytesIO(codes.content)).namelist()) == \
        ["community_codes.csv", "grid_codes.csv", "micro_grid_codes.csv"]
    every = zipfile.ZipFile(io.BytesIO(get(client, done_plan.id, format="csv").content))
    assert sorted(every.namelist()) == sorted(["community_codes.csv", "grid_codes.csv", "micro_grid_codes.csv",
                                               "buildings.csv", "posts.csv", "validation.csv"])
    assert set(read_csv(every.read("grid_codes.csv"))["编码 code"]) == expected(plan, "grids")


def test_gbk_shapefile_reads_back_its_chinese_names(client, done_plan, tmp_path):
    (tmp_path / "u").mkdir()
    (tmp_path / "g").mkdir()
    utf8 = saved(get(client, done_plan.id, format="shp", level="grids"), tmp_path / "u")
    gbk = saved(get(client, done_plan.id, format="shp", level="grids", encoding="gbk"), tmp_path / "g")
    assert zipfile.ZipFile(gbk).read("grids.cpg") == b"936" and zipfile.ZipFile(utf8).read("grids.cpg") == b"UTF-8"
    names = pyogrio.read_dataframe(f"/vsizip/{utf8}/grids.shp")["name"].tolist()
    assert all("网格" in n for n in names), names
    assert pyogrio.read_dataframe(f"/vsizip/{gbk}/grids.shp")["name"].tolist() == names
    dbf = zipfile.ZipFile(gbk).read("grids.dbf")
    assert names[0].encode("gbk") in dbf and names[0].encode("utf-8") not in dbf


def test_crs_4326_4490_and_a_projected_one(client, done_plan, plan, tmp_path):
    truth = plan.layer("grid").to_crs(4326).total_bounds
    for crs, epsg in (("4326", 4326), ("4490", 4490), ("EPSG:4549", 4549)):
        (tmp_path / str(epsg)).mkdir()
        path = saved(get(client, done_plan.id, format="fgb", level="grids", crs=crs), tmp_path / str(epsg))
        df = pyogrio.read_dataframe(path)
        assert df.crs.to_epsg() == epsg
        if epsg == 4549:  # metres of a Gauss-Krüger zone: far from degrees, and back at the same place
            assert df.total_bounds[0] > 1000
            assert df.to_crs(4326).total_bounds == pytest.approx(truth, abs=1e-6)
        else:  # CGCS2000 and WGS84 agree within centimetres
            assert df.total_bounds == pytest.approx(truth, abs=1e-6)


@pytest.mark.parametrize(("params", "field", "hint"), [
    ({"format": "dwg"}, "format", "gpkg"),
    ({"format": "shp", "level": "blocks"}, "level", "grids"),
    ({"table": "people"}, "table", "roster"),
    ({"format": "shp", "encoding": "latin1"}, "encoding", "gbk"),
    ({"crs": "WGS84"}, "crs", "EPSG"),
    ({"crs": "EPSG:999999"}, "crs", "4490"),  # not a code pyproj knows
    ({"crs": "5703"}, "crs", "horizontal"),  # a height system
    ({"crs": "EPSG:2000"}, "crs", "Anguilla"),  # a projected CRS for the other side of the world
    ({"format": "gpkg", "table": "codes"}, "table", "format=csv"),
    ({"format": "gpkg", "encoding": "gbk"}, "encoding", "format=shp"),
    ({"format": "csv", "encoding": "gbk"}, "encoding", "byte-order mark"),
    ({"format": "fgb", "encoding": "gbk"}, "encoding", "format=shp"),
    ({"format": "gpkg", "level": "grids"}, "level", "format=fgb"),
    ({"format": "csv", "crs": "4326"}, "crs", "no geometry"),
    ({"format": "zip", "crs": "4326"}, "crs", "plan directory"),
    ({"format": "zip", "level": "grids"}, "level", "plan directory"),
    ({"table": "codes", "level": "buildings"}, "level", "table=roster"),
    ({"table": "roster", "level": "grids"}, "level", "table=codes"),
])
def test_bad_values_and_combinations_are_422_in_api_terms(client, done_plan, params, field, hint):
    body = check(client.get(f"/v1/plans/{done_plan.id}/export", params=params), 422)
    assert [e.field for e in body.errors] == [field]
    assert hint in body.detail + body.errors[0].message and "--" not in body.detail, body.detail


def test_gbk_refused_for_text_it_cannot_encode(client, done_plan, plan, monkeypatch):
    grids = plan.grids.copy()
    grids["name"] = "𠮷" + grids["code"]  # outside GBK
    monkeypatch.setattr(exports, "read_plan", lambda d: dataclasses.replace(plan, grids=grids))
    body = check(client.get(f"/v1/plans/{done_plan.id}/export", params={"format": "shp", "encoding": "gbk"}), 422)
    assert body.errors[0].field == "encoding" and 'encoding="utf-8"' in body.detail and "--" not in body.detail


def test_nothing_left_in_the_temp_dir_and_the_export_is_recorded(client, done_plan, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    actions = []
    monkeypatch.setattr(exports, "record_action", lambda *args: actions.append(args))
    get(client, done_plan.id, format="shp")
    get(client, done_plan.id, format="fgb", level="grids", crs="4326")
    get(client, done_plan.id, format="zip")
    assert list(tmp_path.iterdir()) == []

    def broken(plan, out, **kw):
        Path(out).mkdir(parents=True)
        (Path(out) / "half.gpkg").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(exports, "deliver_plan", broken)
    c = type(client)(client.app, raise_server_exceptions=False, headers=client.headers)
    check(c.get(f"/v1/plans/{done_plan.id}/export"), 500)
    assert list(tmp_path.iterdir()) == []
    assert actions == [
        ("export", done_plan.id, {"format": "shp", "crs": "EPSG:4490", "encoding": "utf-8"}),
        ("export", done_plan.id, {"format": "fgb", "level": "grids", "crs": "EPSG:4326", "encoding": "utf-8"}),
        ("export", done_plan.id, {"format": "zip"}),
    ]
