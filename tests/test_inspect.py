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
