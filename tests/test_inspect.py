"""``gridplan inspect`` and :func:`gridplan.planning.inspect.inspect_inputs`: counts, sources, feasibility, CRS."""
from __future__ import annotations

import json

import geopandas as gpd
import pytest
from conftest import SHARED, box_m, line_m, needs_shared
from typer.testing import CliRunner

from gridplan.cli import app
from gridplan.config import PlanConfig, SizeRange
from gridplan.planning.inspect import format_inspection, inspect_inputs


def _river_city():
    """Two pieces fenced by a river (tier 1): west 4 × 40 = 160 households, east 4 × 140 = 560.

    west: 160 < 300 fits no grid; east: 560 — one grid > 500, two < 300. One tower of 140 > micro max 100.
    """
    xs = [(5, 5), (30, 5), (5, 50), (30, 50)]
    geoms = [box_m(x, y) for x, y in xs] + [box_m(x + 80, y) for x, y in xs]
    b = gpd.GeoDataFrame({"building_id": [f"b{i}" for i in range(8)], "households": [40] * 4 + [140] * 4,
                          "building": ["residential"] * 7 + ["apartments"], "levels": [None] * 7 + [20.0]},
                         geometry=geoms, crs=4326)
    r = gpd.GeoDataFrame({"waterway": ["river"], "name": ["秦淮河"]}, geometry=[line_m((65, -50), (65, 150))], crs=4326)
    return b, r


def test_counts_and_feasibility():
    b, r = _river_city()
    ins = inspect_inputs(b, r, config=PlanConfig(community=SizeRange(100, 3000)))
    assert ins.buildings == 8 and ins.households == 720
    assert ins.buildings_by_type == {"residential": 7, "apartments": 1}
    assert ins.households_by_source == {"field": 720} and ins.barriers_by_tier == {1: 1}
    reasons = {p["households"]: p["reasons"] for p in ins.fenced_pieces}
    assert reasons == {560: ["grid: 560 households; 1 grid > 500, 2 grids < 300"],
                       160: ["grid: 160 households; 1 grid < 300"]}
    assert all(p["fenced_by"] == ["秦淮河"] for p in ins.fenced_pieces)
    over = {o["building_id"]: o["outcome"] for o in ins.oversized_buildings}
    # b7's storeys are given (its entrances estimated from its length); b4's storeys come from its type
    assert len(over) == 4 and over["b7"].startswith("divided by entrance/floor (entrances estimated")
    assert over["b4"].startswith("divided by entrance/floor (entrances and storeys estimated")
    assert ins.input_crs == "WGS 84" and ins.work_crs == "WGS 84 / UTM zone 50N"
    text = format_inspection(ins)
    assert "pieces fenced in by tier-1 lines that no count of units fits: 2" in text
    assert "areas and lengths measured in WGS 84 / UTM zone 50N" in text


def test_cli_inspect_an_osm_extract(osm_extract):
    res = CliRunner().invoke(app, ["inspect", str(osm_extract), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{"):])
    assert out["buildings"] == 10 and out["compounds"] == 2 and out["buildings_in_compounds"] == 5
    assert out["buildings_by_type"]["yes"] == 7
    assert out["buildings_by_source"]["non-residential"] == 2 and out["buildings_by_source"]["flats"] == 1
    assert out["barriers_by_tier"] == {"1": 3, "2": 1, "3": 2}
    assert any("left out 1 buildings cut by the extract's edge" in n for n in out["notes"])


def test_cli_inspect_text_with_ledger(buildings, tmp_path):
    buildings.drop(columns="households").to_file(tmp_path / "b.gpkg")
    (tmp_path / "l.csv").write_text("楼栋,households\nb1,30\nzz,5\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["inspect", str(tmp_path / "b.gpkg"), "--ledger", str(tmp_path / "l.csv"),
                                   "--ledger-key", "楼栋", "--no-feasibility"])
    assert res.exit_code == 0, res.output
    assert "ledger 30 (1 buildings)" in res.stdout and "estimate 133 (7 buildings)" in res.stdout
    assert "warning: ledger: 1 key matches no building ['zz']" in res.stderr


def test_cli_input_errors_exit_2(buildings, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["inspect"])
    assert res.exit_code == 2 and "give the buildings one way" in res.stderr
    buildings.to_file(tmp_path / "b.gpkg")
    res = runner.invoke(app, ["inspect", str(tmp_path / "b.gpkg"), "--ledger-key", "x"])
    assert res.exit_code == 2 and "--ledger-key was given without --ledger" in res.stderr
    res = runner.invoke(app, ["plan", "--osm", str(tmp_path / "b.gpkg"), "--out", str(tmp_path / "p")])
    assert res.exit_code == 2 and "not an OSM extract" in res.stderr
    buildings.rename(columns={"building_id": "bid"}).to_file(tmp_path / "nocrs.shp")
    (tmp_path / "nocrs.prj").unlink()
    res = runner.invoke(app, ["inspect", str(tmp_path / "nocrs.shp")])
    assert res.exit_code == 2 and "buildings: no CRS" in res.stderr and "--input-crs EPSG:4326" in res.stderr


@needs_shared
@pytest.mark.shared
def test_inspect_nanjing():
    res = CliRunner().invoke(app, ["inspect", str(SHARED / "nanjing_xinjiekou.osm")])
    assert res.exit_code == 0, res.output
    assert "buildings: 1,277" in res.stdout and "tier 1 (hard)" in res.stdout
    assert "areas and lengths measured in WGS 84 / UTM zone 50N" in res.stdout


# ---- inspect and plan agree; no unexplained empty or out-of-range unit ------------------------------------


def _four_strips():
    """Four strips of land fenced apart by three rivers (tier 1), one fenced piece per level::

        x (m):  0 ... 100 | 200 ... 300 | 400 ... 560 | 650 ........ 900
                A: 2 schools, | B: 1 house of | C: 10 × 55 = | D: 24 × 50 = 1,200
                0 households  | 20 households | 550          | (fits every level)
                          东河 (x=150)    西河 (x=350)   南河 (x=600)

    A (0) fits no community, grid or micro-grid; B (20) none either; C (550) no community and no grid
    (1 grid > 500, 2 < 300); D fits all three.
    """
    rows = [("a0", 0, box_m(10, 10), "school"), ("a1", 0, box_m(60, 10), "school"), ("b0", 20, box_m(220, 10), "house")]
    rows += [(f"c{i}", 55, box_m(410 + 30 * (i % 5), 10 + 30 * (i // 5)), "residential") for i in range(10)]
    rows += [(f"d{i}", 50, box_m(660 + 30 * (i % 8), 10 + 30 * (i // 8)), "residential") for i in range(24)]
    b = gpd.GeoDataFrame({"building_id": [r[0] for r in rows], "households": [r[1] for r in rows],
                          "building": [r[3] for r in rows]}, geometry=[r[2] for r in rows], crs=4326)
    rivers = gpd.GeoDataFrame({"waterway": ["river"] * 3, "name": ["东河", "西河", "南河"]},
                              geometry=[line_m((x, -100), (x, 200)) for x in (150, 350, 600)], crs=4326)
    return b, rivers


def _pieces_as_inspect(report: dict) -> list[dict]:
    return [{k: v for k, v in p.items() if k != "codes"} for p in report["fenced_pieces"]]


def test_inspect_and_plan_agree_on_fenced_pieces_at_every_level(tmp_path):
    from gridplan.planning.plan import plan

    b, rivers = _four_strips()
    ins = inspect_inputs(b, rivers)
    assert [(p["households"], p["buildings"], [r.split(":")[0] for r in p["reasons"]]) for p in ins.fenced_pieces] == [
        (550, 10, ["community", "grid"]), (20, 1, ["community", "grid", "micro"]), (0, 2, ["community", "grid", "micro"])]
    assert ins.fenced_pieces[2]["reasons"][2] == "micro: no households"
    assert ins.fenced_pieces[1]["fenced_by"] == ["东河", "西河"]
    p = plan(b, rivers, seed=0)
    assert _pieces_as_inspect(p.report) == ins.fenced_pieces  # one function decides both
    # every level a piece misses is an infeasible entry of the plan holding that piece's unit
    explained = {(i["level"], c) for i in p.report["infeasible"] for c in i["codes"]}
    for piece in p.report["fenced_pieces"]:
        for reason in piece["reasons"]:
            level = reason.split(":")[0]
            assert piece["codes"][level] and {(level, c) for c in piece["codes"][level]} <= explained, (piece, level)
    assert p.report["out_of_range"] and all(o["explained_in_infeasible"] for o in p.report["out_of_range"])
    # the schools' piece is one unit at each level, with no households: listed with a reason
    empty = p.report["empty_units"]
    assert [(e["level"], e["buildings"]) for e in empty] == [("community", 2), ("grid", 2), ("micro", 2)]
    assert all(e["reason"].startswith("no households: 2 buildings (school: a0, a1) fenced in by 东河") for e in empty)
    listed = {(e["level"], e["code"]) for e in empty}
    for level, table in (("community", p.communities), ("grid", p.grids), ("micro", p.micro_grids)):
        bad = table[(table["households"] == 0) | table.geometry.is_empty]
        assert {(level, c) for c in bad["code"].astype(str)} <= listed


def test_cli_summary_counts_empty_units(tmp_path):
    b, rivers = _four_strips()
    b.to_file(tmp_path / "b.gpkg")
    rivers.to_file(tmp_path / "r.gpkg")
    res = CliRunner().invoke(app, ["plan", str(tmp_path / "b.gpkg"), "--barriers", str(tmp_path / "r.gpkg"), "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    assert "3 units without households" in res.stdout
    report = json.loads((tmp_path / "p" / "report.json").read_text(encoding="utf-8"))
    assert len(report["empty_units"]) == 3


def test_inspect_and_plan_agree_on_the_sample_with_communities():
    from gridplan.planning.plan import plan
    from gridplan.sample import sample_path

    args = (sample_path("buildings"), sample_path("roads"), sample_path("communities"))
    ins = inspect_inputs(*args)
    # the two planted blocks fenced in within their communities; no community level (communities are given)
    assert [(p["households"], p["reasons"]) for p in ins.fenced_pieces] == [
        (160, ["grid: 160 households; 1 grid < 300"]), (120, ["grid: 120 households; 1 grid < 300"])]
    p = plan(*args, seed=0, street_code="320102001")
    assert _pieces_as_inspect(p.report) == ins.fenced_pieces
    assert p.report["empty_units"] == []
    # the oversized given communities are kept as drawn: explained, with the fix
    oor = p.report["out_of_range"]
    assert sum(o["level"] == "community" for o in oor) == 7 and all(o["explained_in_infeasible"] for o in oor)
    given = [i for i in p.report["infeasible"] if i["kind"] == "given"]
    assert len(given) == 7 and all("--redistrict oversized" in i["resolution"] for i in given)


def test_an_undivided_tower_is_explained_at_every_level():
    from gridplan.planning.plan import plan

    # two identical footprints share one cell, so the 5,000-household tower cannot be divided
    geoms = [box_m(0, 0, 40, 40), box_m(0, 0, 40, 40)] + [box_m(60 + 25 * i, 0) for i in range(4)]
    b = gpd.GeoDataFrame({"building_id": [f"b{i}" for i in range(6)], "households": [5000, 10, 40, 40, 40, 40]},
                         geometry=geoms, crs=4326)
    p = plan(b, None, seed=0, accept_large=True)  # 5,000 households in one building is refused unless accepted
    oor = {(o["level"], o["households"]): o["explained_in_infeasible"] for o in p.report["out_of_range"]}
    assert oor[("micro", 5010)] is True and oor[("grid", 5010)] is True and all(oor.values())
    tower = next(i for i in p.report["infeasible"] if i.get("building_id") == "b0")
    assert tower["codes"] and tower["reason"] == "one building of 5,000 households, not divided: it shares its cell with other buildings"
    # the houses beside it are not cut off by any barrier
    assert not any("barriers it may not cross" in i["reason"] for i in p.report["infeasible"])
    assert any(i["reason"].startswith("160 households beside 1 unit(s) above the maximum") for i in p.report["infeasible"])


def test_too_few_households_with_no_barrier_are_not_cut_off():
    from gridplan.planning.plan import plan

    b = gpd.GeoDataFrame({"building_id": ["a", "b", "c"], "households": [40, 40, 40]},
                         geometry=[box_m(25 * i, 0) for i in range(3)], crs=4326)
    p = plan(b, None, seed=0)
    reasons = {i["level"]: i["reason"] for i in p.report["infeasible"]}
    assert reasons == {"community": "120 households, all its parent holds, fewer than the minimum 1000: too few for one unit",
                       "grid": "120 households, all its parent holds, fewer than the minimum 300: too few for one unit"}
    ins = inspect_inputs(b)
    assert "(by no tier-1 line near it)" in format_inspection(ins)


def test_types_and_attributes_are_read_from_a_file_and_from_chinese_columns(tmp_path):
    b, r = _river_city()
    path = tmp_path / "b.gpkg"
    b.to_file(path)
    ins = inspect_inputs(str(path), r, feasibility=False)
    assert ins.buildings_by_type == {"residential": 7, "apartments": 1} and ins.attributes == {"building": "building"}
    zh = b.rename(columns={"building": "建筑类型"}).assign(名称=[f"{i}幢" for i in range(8)])
    ins = inspect_inputs(zh, r, feasibility=False)
    assert ins.buildings_by_type == {"residential": 7, "apartments": 1}
    assert ins.attributes == {"name": "名称", "building": "建筑类型"}
    text = format_inspection(ins)
    assert "attributes carried to the plan: name (from '名称'), building (from '建筑类型')" in text
    assert "(no type column)" not in text


def test_no_type_column_is_said():
    b, r = _river_city()
    ins = inspect_inputs(b.drop(columns="building"), r, feasibility=False)
    assert ins.buildings_by_type == {"(no type column)": 8} and ins.attributes == {}
    assert "attributes carried to the plan: none" in format_inspection(ins)
