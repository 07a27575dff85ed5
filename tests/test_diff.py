"""The change list between two plans: statuses, moves, retired codes, the `diff` command."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

import gridplan
from gridplan.cli import app
from gridplan.planning.diff import diff, four_to
from gridplan.sample import make_district


@pytest.fixture(scope="module")
def plans():
    d = make_district(households=3000, communities=1)
    a = gridplan.plan(d.buildings, d.roads, seed=1, start_date="2026-01-01")
    b = gridplan.plan(d.buildings, d.roads, seed=2, start_date="2026-02-01")
    return a, b


def test_same_plan_has_no_changes(plans):
    a, _ = plans
    ch = diff(a, a)
    assert ch.summary["units_changed"] == 0 and ch.summary["households_moved"] == {"community": 0, "grid": 0, "micro": 0}
    assert (ch.units.status == "kept").all() and (ch.buildings.status == "unchanged").all()
    assert len(ch.changed_units) == 0 and len(ch.retired) == 0


def test_different_plans(plans):
    a, b = plans
    ch = diff(a, b)
    hh = int(a.buildings.households.sum())
    assert ch.migration.households.sum() == hh
    assert 0 <= ch.summary["households_moved"]["grid"] <= ch.summary["households_moved"]["micro"] <= hh
    retired = set(a.grids.code) - set(b.grids.code)
    assert set(ch.retired.loc[ch.retired.level == "grid", "code"]) == retired
    assert (ch.retired.end_date == "2026-02-01").all()
    changed = ch.units[ch.units.status != "kept"]
    assert len(ch.changed_units) == len(changed)


def test_four_to_names_the_sides():
    sq = shapely.box(0, 0, 100, 100)
    roads = gpd.GeoDataFrame({"name": ["东路", "南路", "西路", "北路"]}, geometry=[
        shapely.LineString([(105, -10), (105, 110)]), shapely.LineString([(-10, -5), (110, -5)]),
        shapely.LineString([(-5, -10), (-5, 110)]), shapely.LineString([(-10, 104), (110, 104)])], crs=32650)
    assert four_to(sq, roads) == {"east": "东路", "south": "南路", "west": "西路", "north": "北路"}
    assert four_to(sq, roads.iloc[:0]) == {"east": "", "south": "", "west": "", "north": ""}


def test_cli_diff(plans, tmp_path):
    a, b = plans
    pa, pb = a.write(tmp_path / "a", map_html=False), b.write(tmp_path / "b", map_html=False)
    res = CliRunner().invoke(app, ["diff", str(pa), str(pb), "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    for name in ("changes.csv", "changes_units.csv", "migration.csv", "retired.csv", "changed_units.geojson", "changes.json"):
        assert (tmp_path / "d" / name).exists()
    assert len(pd.read_csv(tmp_path / "d" / "changes.csv")) == len(a.input_buildings)
    bad = CliRunner().invoke(app, ["diff", str(tmp_path / "nope"), str(pb), "--out", str(tmp_path / "e")])
    assert bad.exit_code == 2 and "not a plan directory" in bad.output
