"""``gridplan plan --osm/--place/--ledger/--compounds`` end to end; the referee on every real extract (slow)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import SHARED, referee
from typer.testing import CliRunner

from gridplan.cli import app

CHECKPLAN = SHARED.parent / "tools" / "checkplan.py"
needs_referee = pytest.mark.skipif(not CHECKPLAN.exists() or not SHARED.exists(),
                                   reason="../shared is absent (a fresh clone)")


def _referee(plan_dir: Path) -> subprocess.CompletedProcess:
    return referee(plan_dir)


def test_plan_osm_with_ledger_reports_sources(osm_extract, tmp_path):
    (tmp_path / "ledger.csv").write_text("楼栋,households\nw1,12\nw19,30\nnowhere,4\n", encoding="utf-8")
    out = tmp_path / "plan"
    res = CliRunner().invoke(app, ["plan", "--osm", str(osm_extract), "--ledger", str(tmp_path / "ledger.csv"),
                                   "--ledger-key", "楼栋", "--out", str(out), "--grid-size", "10:200",
                                   "--micro-size", "5:60", "--community-size", "10:1000", "-q"])
    assert res.exit_code == 0, res.output
    assert "warning: ledger: 1 key matches no building ['nowhere']" in res.stderr
    report = json.loads((out / "report.json").read_text())
    src = report["input"]["household_source"]
    assert src["ledger"] == 2 and src["non-residential"] == 2 and src["flats"] == 1
    notes = " ".join(report["input"]["notes"])
    assert "left out 1 buildings cut by the extract's edge" in notes and "1 key matches no building" in notes


def test_plan_input_crs_is_refused_for_osm(osm_extract, tmp_path):
    res = CliRunner().invoke(app, ["plan", "--osm", str(osm_extract), "--input-crs", "gcj02", "--out", str(tmp_path / "p")])
    assert res.exit_code == 2 and "OpenStreetMap data, which is always WGS84" in res.stderr


def test_plan_compounds_file_groups_buildings(buildings, tmp_path):
    from conftest import box_m
    import geopandas as gpd

    b = buildings.drop(columns="compound")
    b.to_file(tmp_path / "b.gpkg")
    gpd.GeoDataFrame({"name": ["西苑"]}, geometry=[box_m(0, 0, 55, 75)], crs=4326).to_file(tmp_path / "c.gpkg")
    out = tmp_path / "plan"
    res = CliRunner().invoke(app, ["plan", str(tmp_path / "b.gpkg"), "--compounds", str(tmp_path / "c.gpkg"),
                                   "--out", str(out), "--grid-size", "100:200", "--micro-size", "20:100",
                                   "--community-size", "100:400", "-q"])
    assert res.exit_code == 0, res.output
    import pandas as pd

    roster = pd.read_csv(out / "buildings.csv")
    west = roster[roster["building_id"].isin(["b1", "b2", "b3", "b4"])]
    assert west["grid_code"].nunique() == 1  # the compound is kept in one grid
    assert "4 buildings lie in 1 compounds of c.gpkg" in " ".join(json.loads((out / "report.json").read_text())["input"]["notes"])


REAL = ["nanjing_xinjiekou.osm", "beijing_wudaokou_2017.osm", "monaco_2023.osm.pbf", "monaco_2023.osm.bz2"]


@pytest.mark.slow
@pytest.mark.shared
@needs_referee
@pytest.mark.parametrize("name", REAL)
def test_referee_passes_on_real_extracts(name, tmp_path):
    out = tmp_path / "plan"
    res = CliRunner().invoke(app, ["plan", "--osm", str(SHARED / name), "--out", str(out), "-q",
                                   "--start-date", "2024-01-01"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["households"] > 5_000
    assert set(report["input"]["household_source"]) <= {"estimate", "estimate-capped", "flats", "non-residential", "too-small"}
    ref = _referee(out)
    assert ref.returncode == 0, ref.stdout[-3000:] + ref.stderr[-2000:]
    assert "checkplan: PASS" in ref.stdout
