"""Deliverables: zipped shapefiles (.prj/.cpg, ASCII fields, alias table), GeoPackage, FlatGeobuf, CSV tables.

Chinese names and codes must survive a round trip in UTF-8 and GBK, read back with pyogrio and with
GDAL's own ``ogrinfo`` (Debian's gdal-bin; skipped with a message when absent). Codes stay text.
"""
from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

import gridplan
from gridplan.cli import app
from gridplan.outputs.deliver import FORMATS, export_plan, parse_crs, parse_encoding, parse_formats
from gridplan.errors import InputError, OptionError, PlanWriteError
from gridplan.outputs.reader import read_plan
from gridplan.sample import make_district

OGRINFO = shutil.which("ogrinfo")
needs_ogrinfo = pytest.mark.skipif(OGRINFO is None, reason="GDAL's ogrinfo is absent: apt-get install gdal-bin")
LEVEL_FILES = ("communities", "grids", "micro_grids", "buildings")


@functools.lru_cache(maxsize=None)
def plan_dir(seed: int = 1) -> Path:
    """A plan directory of a 3,000-household district (one per seed and test process)."""
    d = make_district(households=3000, communities=1)
    p = gridplan.plan(d.buildings, d.roads, seed=seed, start_date="2026-01-01")
    return p.write(Path(tempfile.mkdtemp(prefix="gridplan-deliver-")) / f"plan{seed}", map_html=False)


@pytest.fixture(scope="module")
def plan():
    return read_plan(plan_dir())


@pytest.fixture(scope="module")
def delivered(plan, tmp_path_factory):
    out = {}
    out["utf-8"] = export_plan(plan, tmp_path_factory.mktemp("utf8") / "out")
    out["gbk"] = export_plan(plan, tmp_path_factory.mktemp("gbk") / "out", formats="shp", encoding="gbk")
    return out


def test_every_format_is_written_with_a_manifest(delivered):
    d = delivered["utf-8"]
    names = set(d.files)
    assert {f"{n}.shp.zip" for n in LEVEL_FILES} | {f"{n}.fgb" for n in LEVEL_FILES} <= names
    assert {"gridplan.gpkg", "grid_codes.csv", "community_codes.csv", "micro_grid_codes.csv", "buildings.csv",
            "posts.csv", "validation.csv", "shapefile_fields.csv"} <= names
    meta = json.loads((d.path / "manifest.json").read_text(encoding="utf-8"))
    assert meta["kind"] == "delivery" and meta["crs"] == "EPSG:4490" and set(meta["files"]) == names


@pytest.mark.parametrize("enc,cpg", [("utf-8", "UTF-8"), ("gbk", "936")])
def test_shapefile_zips_hold_prj_cpg_and_ascii_fields(delivered, enc, cpg):
    for name in LEVEL_FILES:
        with zipfile.ZipFile(delivered[enc].path / f"{name}.shp.zip") as zf:
            members = set(zf.namelist())
            assert {f"{name}.{e}" for e in ("shp", "shx", "dbf", "prj", "cpg")} | {"fields.csv"} <= members
            assert zf.read(f"{name}.cpg").decode("ascii") == cpg
            assert "China_Geodetic_Coordinate_System_2000" in zf.read(f"{name}.prj").decode("ascii")
        fields = pyogrio.read_info(f"/vsizip/{delivered[enc].path / f'{name}.shp.zip'}/{name}.shp")["fields"]
        assert all(f.isascii() and len(f) <= 10 for f in fields)


def test_gbk_dbf_is_really_gbk(delivered):
    with zipfile.ZipFile(delivered["gbk"].path / "grids.shp.zip") as zf:
        dbf = zf.read("grids.dbf")
    assert "网格".encode("gbk") in dbf and "网格".encode("utf-8") not in dbf


@pytest.mark.parametrize("enc", ["utf-8", "gbk"])
def test_round_trip_with_pyogrio_keeps_chinese_and_text_codes(plan, delivered, enc):
    back = pyogrio.read_dataframe(f"/vsizip/{delivered[enc].path / 'grids.shp.zip'}/grids.shp")
    assert back["code"].map(type).eq(str).all()
    assert sorted(back["code"]) == sorted(plan.grids["code"].astype(str))
    assert back["code"].str.len().eq(15).all() and back["code"].str.startswith("000000000").all()
    assert back["name"].str.contains("网格").all()
    sides = set(back[["east", "south", "west", "north"]].stack()) - {None, ""}
    assert sides & {"宁芜铁路", "应天大街", "秦淮河"}  # named streets and rivers of the sample
    assert back.crs.to_epsg() == 4490


@needs_ogrinfo
@pytest.mark.parametrize("enc", ["utf-8", "gbk"])
def test_round_trip_with_ogrinfo(plan, delivered, enc):
    path = f"/vsizip/{delivered[enc].path / 'grids.shp.zip'}/grids.shp"
    out = subprocess.run([OGRINFO, "-ro", "-al", "-q", "-nogeomtype", path], capture_output=True, check=True, timeout=60)
    text = out.stdout.decode("utf-8")
    assert "name (String) = 第1社区第1网格" in text
    for code in plan.grids["code"].astype(str):
        assert f"code (String) = {code}" in text


@needs_ogrinfo
def test_ogrinfo_reads_gpkg_and_fgb_layers(delivered):
    out = subprocess.run([OGRINFO, "-ro", "-so", str(delivered["utf-8"].path / "gridplan.gpkg")], capture_output=True, check=True, timeout=60)
    assert all(name in out.stdout.decode() for name in LEVEL_FILES)
    out = subprocess.run([OGRINFO, "-ro", "-al", "-so", str(delivered["utf-8"].path / "grids.fgb")], capture_output=True, check=True, timeout=60)
    assert "code: String" in out.stdout.decode()


def test_gpkg_and_fgb_hold_all_levels_with_text_codes(plan, delivered):
    path = delivered["utf-8"].path
    assert {name for name, _ in pyogrio.list_layers(path / "gridplan.gpkg")} == set(LEVEL_FILES)
    for name in LEVEL_FILES:
        for df in (pyogrio.read_dataframe(path / "gridplan.gpkg", layer=name), pyogrio.read_dataframe(path / f"{name}.fgb")):
            col = "code" if name != "buildings" else "micro_code"
            assert df[col].map(type).eq(str).all() and df.crs.to_epsg() == 4490
    b = pyogrio.read_dataframe(path / "buildings.fgb")
    assert len(b) == len(plan.buildings) and set(b["building_id"]) == set(plan.buildings["building_id"])


def test_alias_table_names_every_field(delivered):
    table = pd.read_csv(delivered["utf-8"].path / "shapefile_fields.csv", encoding="utf-8-sig", dtype=str)
    assert list(table.columns) == ["layer", "field", "full_name", "name_zh"]
    grids = table[table.layer == "grids"].set_index("field")
    assert grids.loc["hh", "full_name"] == "households" and grids.loc["hh", "name_zh"] == "户数"
    assert grids.loc["east", "name_zh"] == "东至" and grids.loc["worker", "full_name"] == "worker_name"


def test_csv_tables_have_a_bom_text_codes_and_the_issue_columns(plan, delivered):
    path = delivered["utf-8"].path
    raw = (path / "grid_codes.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(path / "grid_codes.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for col in ("编码 code", "名称 name", "上级编码 parent_code", "户数 households", "人口 population", "楼栋数 buildings",
                "面积(平方米) area_m2", "周长(米) perimeter_m", "东至 east", "南至 south", "西至 west", "北至 north",
                "网格员姓名 worker_name", "网格员电话 worker_phone", "启用日期 start_date"):
        assert col in table.columns
    assert table["编码 code"].tolist() == sorted(plan.grids["code"].astype(str))
    assert (table["网格员姓名 worker_name"] == "").all() and (table["启用日期 start_date"] == "2026-01-01").all()
    roster = pd.read_csv(path / "buildings.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(roster) == len(plan.buildings) and roster["微网格编码 micro_code"].str.len().eq(18).all()
    divided = roster["分部(0=整栋) part"] != "0"
    assert divided.any() and (roster.loc[divided, "分部 part_label"] != "").all() and (roster.loc[~divided, "分部 part_label"] == "").all()
    micro = pd.read_csv(path / "micro_grid_codes.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    held = set(micro.loc[micro["分部楼栋 parts"] != "", "编码 code"])
    assert held == set(roster.loc[divided, "微网格编码 micro_code"])  # every micro-grid holding a part says so


def test_csv_delivery_holds_the_post_roster(plan, delivered):
    raw = (delivered["utf-8"].path / "posts.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    posts = pd.read_csv(delivered["utf-8"].path / "posts.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(posts.columns[:3]) == ["岗位 post", "岗位名称 post_zh", "负责范围 scope"]
    workers = posts[posts["岗位 post"] == "grid_worker"]
    assert sorted(workers["网格编码 grid_code"]) == sorted(plan.grids["code"].astype(str))
    assert (posts["姓名 holder_name"] == "").all() and posts["网格编码 grid_code"].str.len().eq(15).all()


def test_validation_report_covers_every_rule_for_every_unit(plan, delivered):
    from gridplan.outputs.rules import RULES

    report = pd.read_csv(delivered["utf-8"].path / "validation.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert set(report["规则 rule"]) == set(RULES)
    assert set(report["结果 status"]) <= {"pass", "warn", "fail"}
    grid_rules = report[report["层级 level"] == "grid"].groupby("编码 code")["规则 rule"].nunique()
    assert len(grid_rules) == len(plan.grids) and grid_rules.eq(grid_rules.max()).all()
    # the planted shortfalls of this small district are failures, explained by the report
    under = report[(report["规则 rule"] == "size_in_range") & (report["结果 status"] == "fail")]
    assert len(under) == sum(o["level"] in ("community", "grid", "micro") for o in plan.report["out_of_range"])
    assert (report.loc[report["规则 rule"] == "tier1_not_crossed", "结果 status"] == "pass").all()


def test_crs_4326_and_projected(plan, tmp_path):
    d = export_plan(plan, tmp_path / "a", formats="fgb", crs="EPSG:4549")
    assert pyogrio.read_info(d.path / "grids.fgb")["crs"] == "EPSG:4549"
    d = export_plan(plan, tmp_path / "b", formats=["gpkg"], crs=4326)
    assert d.files == ("gridplan.gpkg",) and d.crs == "EPSG:4326"


def test_an_earlier_delivery_is_replaced(plan, tmp_path):
    export_plan(plan, tmp_path / "d", formats="gpkg")
    d = export_plan(plan, tmp_path / "d", formats="fgb")
    assert not (d.path / "gridplan.gpkg").exists() and (d.path / "grids.fgb").exists()


# ---- errors for bad input: each names the problem and the fix -----------------------------------


def test_unknown_format_lists_the_choices():
    with pytest.raises(OptionError, match=r"`format` was 'kml'; expected one of 'shp', 'gpkg', 'fgb', 'csv'"):
        parse_formats("shp,kml")
    assert parse_formats("all") == FORMATS


@pytest.mark.parametrize("bad", ["WGS84", "99999", "EPSG:abc", "5703"])
def test_bad_crs_says_what_to_give(bad):
    with pytest.raises(OptionError, match=r"`crs` was .*give an EPSG code: 4490 \(CGCS2000"):
        parse_crs(bad)


def test_unknown_encoding_says_utf8_or_gbk():
    with pytest.raises(OptionError, match=r"`encoding` was 'latin1'; expected 'utf-8' .* or 'gbk'"):
        parse_encoding("latin1")
    assert parse_encoding("CP936") == "gbk" and parse_encoding("UTF8") == "utf-8"


def test_text_gbk_cannot_encode_is_listed(plan, tmp_path):
    import dataclasses

    grids = plan.grids.copy()
    grids["name"] = "𠮷" + grids["code"]  # outside GBK
    with pytest.raises(OptionError, match=r"GBK cannot encode: \['𠮷.*`encoding='utf-8'`"):
        export_plan(dataclasses.replace(plan, grids=grids), tmp_path / "x", formats="shp", encoding="gbk")
    assert not (tmp_path / "x").exists()


def test_output_that_is_not_ours_is_refused_and_untouched(plan, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(PlanWriteError, match=r"is not empty and is not an earlier gridplan delivery .*choose another --out"):
        export_plan(plan, tmp_path, formats="fgb")
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    d = export_plan(plan, tmp_path / "d", formats="fgb")
    (d.path / "notes.txt").write_text("mine")
    with pytest.raises(PlanWriteError, match=r"also holds files gridplan did not write: \['notes.txt'\]"):
        export_plan(plan, d.path, formats="fgb")


def test_cli_export_and_its_errors(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["export", str(plan_dir()), "--out", str(tmp_path / "d"), "-f", "fgb", "--crs", "4326"])
    assert ok.exit_code == 0, ok.output
    assert "wrote 4 files in EPSG:4326" in ok.output
    cases = [
        (["--format", "kml"], "--format was 'kml'"),
        (["--crs", "WGS84"], "--crs was 'WGS84'"),
        (["--encoding", "latin1"], "--encoding was 'latin1'"),
    ]
    for extra, message in cases:
        res = runner.invoke(app, ["export", str(plan_dir()), "--out", str(tmp_path / "e"), *extra])
        assert res.exit_code == 2 and message in res.output
    (tmp_path / "not_a_plan").mkdir()
    res = runner.invoke(app, ["export", str(tmp_path / "not_a_plan"), "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and "is not a plan directory" in res.output and "gridplan plan --out" in res.output


def test_read_plan_refuses_a_directory_that_is_not_a_plan(tmp_path):
    with pytest.raises(InputError, match="is not a plan directory"):
        read_plan(tmp_path)


# ---- modes a colleague can read; fields a GIS desk can use ------------------------------------------------------

def _dbf_fields(data: bytes) -> dict[str, tuple[str, int]]:
    """DBF field name -> (type letter, width), from the header (32-byte field descriptors after 32 bytes)."""
    out = {}
    for off in range(32, int.from_bytes(data[8:10], "little") - 1, 32):
        if data[off] == 0x0D:
            break
        out[data[off:off + 11].split(b"\0")[0].decode("ascii")] = (chr(data[off + 11]), data[off + 16])
    return out


@pytest.mark.parametrize("umask, dirs, files", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_folders_and_files_take_the_umask(plan, tmp_path, monkeypatch, umask, dirs, files):
    import os
    import stat

    from gridplan.outputs import export
    from gridplan.outputs.deliver import replace_dir

    monkeypatch.setattr(export, "UMASK", umask)
    old = os.umask(umask)
    try:
        written = [plan.write(tmp_path / "plan", map_html=False), export_plan(plan, tmp_path / "out").path,
                   replace_dir(tmp_path / "sheets", "sheets", lambda d: [(d / "a.pdf").write_bytes(b"%PDF") and "a.pdf"])[0]]
    finally:
        os.umask(old)
    for root in written:
        assert stat.S_IMODE(root.stat().st_mode) == dirs, root
        for p in root.rglob("*"):
            assert stat.S_IMODE(p.stat().st_mode) == (dirs if p.is_dir() else files), p
    with zipfile.ZipFile(written[1] / "buildings.shp.zip") as zf:
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    assert set(modes) >= {"fields.csv", "buildings.dbf"}
    assert all(stat.S_ISREG(m) and stat.S_IMODE(m) == files for m in modes.values()), {k: oct(v) for k, v in modes.items()}


@pytest.mark.parametrize("enc", ["utf-8", "gbk"])
def test_dbf_integers_are_sized_booleans_logical_and_dates_dates(plan, delivered, enc):
    with zipfile.ZipFile(delivered[enc].path / "communities.shp.zip") as zf:
        fields = _dbf_fields(zf.read("communities.dbf"))
    hh = int(plan.communities["households"].max())
    assert fields["hh"] == ("N", len(str(hh))) and fields["bldgs"][0] == "N" and fields["bldgs"][1] <= 5
    assert fields["in_range"] == ("L", 1) and fields["start"] == ("D", 8) and fields["end"] == ("D", 8)
    assert fields["worker"] == fields["phone"] == ("C", 80)  # empty, to be filled in: text keeps GDAL's width
    back = pyogrio.read_dataframe(f"/vsizip/{delivered[enc].path / 'communities.shp.zip'}/communities.shp")
    given = dict(zip(plan.communities["code"].astype(str), plan.communities["in_range"].astype(bool)))
    assert back["in_range"].dtype == bool and dict(zip(back["code"], back["in_range"])) == given and len(set(given.values())) == 2
    assert back["start"].dt.strftime("%Y-%m-%d").eq("2026-01-01").all() and back["end"].isna().all()


@pytest.mark.parametrize("layer", ["communities", "grids", "micro_grids"])
def test_gpkg_has_boolean_and_date_fields(delivered, layer):
    info = pyogrio.read_info(delivered["utf-8"].path / "gridplan.gpkg", layer=layer)
    kind = {f: (t, s) for f, t, s in zip(info["fields"], info["ogr_types"], info["ogr_subtypes"])}
    assert kind["in_range"] == ("OFTInteger", "OFSTBoolean")
    assert kind["start_date"] == ("OFTDate", "OFSTNone") and kind["end_date"] == ("OFTDate", "OFSTNone")
    assert kind["households"][0].startswith("OFTInteger") and kind["code"] == ("OFTString", "OFSTNone")
    back = pyogrio.read_dataframe(delivered["utf-8"].path / "gridplan.gpkg", layer=layer)
    assert back["start_date"].dt.strftime("%Y-%m-%d").eq("2026-01-01").all() and back["code"].str.isdigit().all()


def test_dates_that_are_not_iso_stay_text(tmp_path):
    import geopandas as gpd
    import shapely

    from gridplan.outputs.deliver import write_layer

    g = gpd.GeoDataFrame({"start_date": ["2026年1月", ""]}, geometry=[shapely.box(0, 0, 1, 1)] * 2, crs=4326)
    write_layer(g, tmp_path / "a.gpkg", driver="GPKG")
    assert list(pyogrio.read_info(tmp_path / "a.gpkg")["ogr_types"]) == ["OFTString"]
    assert pyogrio.read_dataframe(tmp_path / "a.gpkg")["start_date"].tolist()[0] == "2026年1月"


def test_the_delivered_roster_has_addresses(delivered, plan):
    people = pd.read_csv(delivered["utf-8"].path / "buildings.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    address = people[[c for c in people.columns if c.endswith(" address")][0]]
    assert len(people) == len(plan.buildings) and (address != "").all()


def test_the_roster_carries_the_inputs_names_types_and_compound_names(plan):
    from gridplan.outputs.tables import roster

    r = roster(plan)
    assert list(r.columns[:5]) == ["building_id", "address", "name", "building", "compound_name"]
    b = plan.input_buildings.set_index(plan.id_field)[["name", "compound_name"]].fillna("").astype(str)
    for _, row in r.head(50).iterrows():
        assert (row["name"], row["compound_name"]) == tuple(b.loc[row["building_id"]]), row["building_id"]
    assert (r["compound_name"] != "").any()
    assert (r["building"] != "").all()
