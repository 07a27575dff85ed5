"""The ``gridplan`` command line: ``gridplan plan`` and ``gridplan demo``, through typer's CliRunner and
once through the installed console script."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from gridplan.cli import app
from gridplan.sample import make_district

PLAN_FILES = (
    "communities.geojson", "grids.geojson", "micro_grids.geojson", "buildings.csv", "posts.csv", "plan.gpkg",
    "report.json", "input_buildings.gpkg", "input_barriers.gpkg", "map.html",
)
START = "2024-01-01"
SCRIPT = Path(sys.executable).with_name("gridplan")
runner = CliRunner()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A small district written as GeoPackage files: buildings, roads, and buildings lacking households."""
    d = make_district(households=3000, communities=1, seed=5)
    root = tmp_path_factory.mktemp("inputs")
    paths = {"buildings": root / "buildings.gpkg", "roads": root / "roads.gpkg", "no_households": root / "no_hh.gpkg"}
    d.buildings.to_file(paths["buildings"])
    d.roads.to_file(paths["roads"])
    d.buildings.drop(columns=["households"]).to_file(paths["no_households"])
    return paths


@pytest.fixture(scope="module")
def planned(inputs, tmp_path_factory):
    """``gridplan plan BUILDINGS --barriers ROADS --out DIR`` run once: (result, DIR)."""
    out = tmp_path_factory.mktemp("cli") / "plan"
    result = runner.invoke(app, ["plan", str(inputs["buildings"]), "--barriers", str(inputs["roads"]), "--out", str(out),
                                 "--start-date", START, "--street-code", "320102001"])
    return result, out


def _fails_with(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr, result.output
    for w in words:
        assert w in result.stderr, (w, result.stderr)
    assert "Traceback" not in result.output


# ---- gridplan plan ---------------------------------------------------------------------------------


def test_plan_writes_every_file_of_the_contract(planned):
    result, out = planned
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(PLAN_FILES)
    for name in PLAN_FILES:
        assert (out / name).stat().st_size > 0, name
    assert set(pyogrio.list_layers(out / "plan.gpkg")[:, 0]) >= {"communities", "grids", "micro_grids"}


def test_plan_files_agree(planned, inputs):
    _, out = planned
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    roster = pd.read_csv(out / "buildings.csv", dtype=str)
    grids = gpd.read_file(out / "grids.geojson")
    given = gpd.read_file(inputs["buildings"])
    assert report["start_date"] == START
    assert report["parameters"]["street_code"] == "320102001"
    assert set(roster["building_id"]) == set(given["building_id"].astype(str))
    assert roster["grid_code"].str.startswith("320102001").all()
    assert len(grids) == report["levels"]["grid"]["count"]
    assert grids.crs.to_epsg() == 4326
    assert int(grids["households"].sum()) == int(given["households"].sum())


def test_plan_prints_a_summary(planned):
    result, out = planned
    assert result.stdout.startswith("planned "), result.stdout
    assert "communities" in result.stdout and "grids" in result.stdout and "micro-grids" in result.stdout
    assert f"wrote {out}" in result.stdout


def test_plan_quiet_prints_nothing(inputs, tmp_path):
    result = runner.invoke(app, ["plan", str(inputs["buildings"]), "--out", str(tmp_path / "p"), "--quiet",
                                 "--grid-size", "200:400"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert json.loads((tmp_path / "p" / "report.json").read_text())["parameters"]["grid_size"] == "200:400"


def test_estimated_households_are_a_warning_not_an_error(inputs, tmp_path):
    result = runner.invoke(app, ["plan", str(inputs["no_households"]), "--barriers", str(inputs["roads"]),
                                 "--out", str(tmp_path / "p"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "households estimated" in result.stderr
    assert (tmp_path / "p" / "report.json").exists()


# ---- bad input: exit code 2 and an `error:` naming the problem ---------------------------------------


def test_missing_file(tmp_path):
    missing = tmp_path / "nowhere.gpkg"
    result = runner.invoke(app, ["plan", str(missing), "--out", str(tmp_path / "p")])
    _fails_with(result, "nowhere.gpkg", "no such file")
    assert not (tmp_path / "p").exists()


def test_bad_grid_size(inputs, tmp_path):
    result = runner.invoke(app, ["plan", str(inputs["buildings"]), "--out", str(tmp_path / "p"), "--grid-size", "300-500"])
    _fails_with(result, "`--grid-size` was '300-500'")
    assert "grid_size" not in result.stderr
    assert not (tmp_path / "p").exists()


def test_no_households_field_with_estimate_never(inputs, tmp_path):
    result = runner.invoke(app, ["plan", str(inputs["no_households"]), "--out", str(tmp_path / "p"), "--estimate", "never"])
    _fails_with(result, "households")
    assert not (tmp_path / "p").exists()


def test_bad_estimate_choice(inputs, tmp_path):
    result = runner.invoke(app, ["plan", str(inputs["buildings"]), "--out", str(tmp_path / "p"), "--estimate", "guess"])
    _fails_with(result, "estimate", "guess", "never")


def test_bad_balance_lists_the_choices(inputs, tmp_path):
    result = runner.invoke(app, ["plan", str(inputs["buildings"]), "--out", str(tmp_path / "p"), "--balance", "persons"])
    _fails_with(result, "`--balance` was 'persons'; expected one of 'households', 'population'")
    assert not (tmp_path / "p").exists()


def test_balance_population_counts_persons_in_the_default_ranges(inputs, tmp_path):
    out = tmp_path / "p"
    result = runner.invoke(app, ["plan", str(inputs["buildings"]), "--barriers", str(inputs["roads"]), "--out", str(out),
                                 "--balance", "population", "--persons-per-household", "3", "--micro-size", "90:300",
                                 "--quiet", "--start-date", START])
    assert result.exit_code == 0, result.output
    params = json.loads((out / "report.json").read_text(encoding="utf-8"))["parameters"]
    assert (params["community_size"], params["grid_size"], params["micro_size"]) == ("3000:9000", "900:1500", "90:300")
    assert params["persons_per_household"] == 3


def test_out_is_a_foreign_directory(inputs, tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["plan", str(inputs["buildings"]), "--out", str(tmp_path / "p"), "--quiet"])
    _fails_with(result, "not a gridplan plan directory")
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["notes.txt"]


# ---- help --------------------------------------------------------------------------------------------


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "plan" in result.stdout and "demo" in result.stdout


def test_plan_help_lists_the_options():
    result = runner.invoke(app, ["plan", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for opt in ("--out", "--barriers", "--communities", "--id-field", "--households-field", "--community-size",
                "--grid-size", "--micro-size", "--seed", "--street-code", "--estimate", "--input-crs",
                "--fix-geometry", "--start-date", "--quiet", "--balance", "--persons-per-household"):
        assert opt in result.stdout, opt


def test_demo_help_lists_the_options():
    result = runner.invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for opt in ("--out", "--seed", "--quiet", "--balance", "--persons-per-household"):
        assert opt in result.stdout, opt


# ---- gridplan demo -----------------------------------------------------------------------------------


def test_demo_plans_the_bundled_sample(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("planned 1,390 buildings"), result.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(PLAN_FILES)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["parameters"]["street_code"] == "320102001"
    assert report["parameters"]["communities_given"] is False
    assert report["levels"]["grid"]["count"] > 100


# ---- the installed console script --------------------------------------------------------------------


@pytest.mark.skipif(not SCRIPT.exists(), reason="the gridplan console script is not installed beside this Python")
def test_console_script_writes_the_same_plan(planned, inputs, tmp_path):
    _, first = planned
    out = tmp_path / "plan"
    res = subprocess.run(
        [str(SCRIPT), "plan", str(inputs["buildings"]), "--barriers", str(inputs["roads"]), "--out", str(out),
         "--start-date", START, "--street-code", "320102001", "--quiet"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    for name in ("grids.geojson", "micro_grids.geojson", "buildings.csv", "report.json"):
        assert (out / name).read_bytes() == (first / name).read_bytes(), name


@pytest.mark.skipif(not SCRIPT.exists(), reason="the gridplan console script is not installed beside this Python")
def test_console_script_exit_code_on_bad_input(tmp_path):
    res = subprocess.run([str(SCRIPT), "plan", str(tmp_path / "nowhere.gpkg"), "--out", str(tmp_path / "p")],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 2
    assert res.stderr.startswith("error:") and "nowhere.gpkg" in res.stderr
