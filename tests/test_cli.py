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
    _fails_with(result, "--grid-size was '300-500'")
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
    _fails_with(result, "--balance was 'persons'; expected one of 'households', 'population'")
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


# ---- conventions: --version, one error line for every exception, --debug ------------------------------


def test_version():
    from gridplan._version import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"gridplan {__version__}\n"


def _boom(*args, **kwargs):
    raise ZeroDivisionError("division by zero\n  in a second line")


def test_an_unexpected_exception_is_one_error_line(planned, tmp_path, monkeypatch):
    import gridplan.outputs.reader as reader

    _, plan_dir = planned
    monkeypatch.setattr(reader, "read_plan", _boom)
    result = runner.invoke(app, ["diff", str(plan_dir), str(plan_dir), "--out", str(tmp_path / "d")])
    assert result.exit_code == 1, result.output
    assert result.stderr == ("error: internal error: ZeroDivisionError: division by zero in a second line; "
                             "run again with --debug and report it\n")
    assert isinstance(result.exception, SystemExit)


def test_debug_raises_the_exception_itself(planned, tmp_path, monkeypatch):
    import gridplan.outputs.reader as reader
    from gridplan.errors import InputError

    _, plan_dir = planned
    monkeypatch.setattr(reader, "read_plan", _boom)
    result = runner.invoke(app, ["--debug", "diff", str(plan_dir), str(plan_dir), "--out", str(tmp_path / "d")])
    assert isinstance(result.exception, ZeroDivisionError) and "error:" not in result.stderr
    result = runner.invoke(app, ["--debug", "plan", str(tmp_path / "nowhere.gpkg"), "--out", str(tmp_path / "p")])
    assert isinstance(result.exception, InputError) and "nowhere.gpkg" in str(result.exception)


@pytest.mark.skipif(not SCRIPT.exists(), reason="the gridplan console script is not installed beside this Python")
def test_console_script_debug_shows_the_traceback(tmp_path):
    args = ["plan", str(tmp_path / "nowhere.gpkg"), "--out", str(tmp_path / "p")]
    res = subprocess.run([str(SCRIPT), "--debug", *args], capture_output=True, text=True, timeout=600)
    assert res.returncode == 1 and "Traceback" in res.stderr and "InputError" in res.stderr
    res = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=600)
    assert "Traceback" not in res.stderr and res.stderr.count("\n") == 2  # "error: 1 problem …" and its one item


# ---- CLI errors name CLI options --------------------------------------------------------------------


def test_option_table_comes_from_the_commands():
    from typer.main import get_command

    from gridplan.cli.base import option_names

    plan = get_command(app).commands["plan"]
    names = option_names(plan)
    assert names["grid_size"] == "--grid-size" and names["households_field"] == "--households-field"
    assert names["buildings"] == "BUILDINGS" and names["quiet"] == "--quiet"
    options = [p for p in plan.params if p.param_type_name == "option" and p.name != "help"]
    assert len(options) > 25 and all(names[p.name] == "--" + p.name.replace("_", "-") for p in options if p.name != "accept_large")
    assert names["accept_large"] == "--accept-large-buildings"
    assert option_names(get_command(app).commands["redistrict"])["community_count"] == "--count"


def test_input_errors_name_the_options(inputs, tmp_path):
    result = runner.invoke(app, ["plan", str(inputs["no_households"]), "--out", str(tmp_path / "p"), "--estimate", "never"])
    _fails_with(result, "name the households column with --households-field", "--estimate auto")
    assert "households_field" not in result.stderr and "estimate=" not in result.stderr


# ---- the same input options on every command that reads buildings --------------------------------------

INPUT_OPTIONS = ("--barriers", "--osm", "--place", "--bbox", "--ledger", "--ledger-key", "--compounds", "--id-field",
                 "--households-field", "--units-field", "--levels-field", "--compound-field", "--population-field",
                 "--estimate", "--input-crs", "--fix-geometry")


@pytest.mark.parametrize("command", ["plan", "inspect", "redistrict", "replan"])
def test_commands_reading_buildings_share_the_input_options(command):
    from typer.main import get_command

    cmd = get_command(app).commands[command]
    opts = {o for p in cmd.params if p.param_type_name == "option" and not p.hidden for o in p.opts}
    args = [p.name for p in cmd.params if p.param_type_name == "argument"]
    assert args == (["previous", "buildings"] if command == "replan" else ["buildings"])
    expected = [o for o in INPUT_OPTIONS if not (command == "replan" and o == "--barriers")]  # a replan keeps its barriers
    assert [o for o in expected if o not in opts] == []


@pytest.fixture(scope="module")
def communities_file(inputs, tmp_path_factory) -> Path:
    d = make_district(households=3000, communities=1, seed=5)
    path = tmp_path_factory.mktemp("communities") / "communities.gpkg"
    d.communities.to_file(path)
    return path


def test_redistrict_takes_the_input_options(inputs, communities_file, tmp_path):
    args = ["redistrict", "--communities", str(communities_file), "--out", str(tmp_path / "r")]
    _fails_with(runner.invoke(app, [*args, str(inputs["no_households"]), "--estimate", "never"]), "--households-field")
    _fails_with(runner.invoke(app, [*args, str(inputs["buildings"]), "--id-field", "nope"]), "--id-field was 'nope'")
    _fails_with(runner.invoke(app, [*args, str(inputs["buildings"]), "--input-crs", "utm"]), "--input-crs was 'utm'")
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def replanned(planned, inputs, tmp_path_factory):
    """``gridplan replan PLAN BUILDINGS --out DIR``: (result, DIR)."""
    _, plan_dir = planned
    out = tmp_path_factory.mktemp("replan") / "r"
    return runner.invoke(app, ["replan", str(plan_dir), str(inputs["buildings"]), "--out", str(out), "-q",
                               "--start-date", START]), out


def test_replan_takes_buildings_as_an_argument(replanned):
    result, out = replanned
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""
    assert json.loads((out / "report.json").read_text())["replan"]["households_moved"]["micro"] == 0


def test_replan_buildings_option_is_a_deprecated_alias(planned, replanned, inputs, tmp_path):
    (_, plan_dir), (_, first) = planned, replanned
    result = runner.invoke(app, ["replan", str(plan_dir), "--buildings", str(inputs["buildings"]), "--out", str(tmp_path / "r"),
                                 "-q", "--start-date", START])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: --buildings is deprecated; give the buildings as the second argument")
    assert (tmp_path / "r" / "buildings.csv").read_bytes() == (first / "buildings.csv").read_bytes()
    both = runner.invoke(app, ["replan", str(plan_dir), str(inputs["buildings"]), "--buildings", str(inputs["buildings"]),
                               "--out", str(tmp_path / "x")])
    _fails_with(both, "BUILDINGS was given twice")


def test_replan_id_field_renames_to_the_previous_plans(planned, replanned, tmp_path):
    (_, plan_dir), (_, first) = planned, replanned
    b = gpd.read_file(plan_dir / "input_buildings.gpkg")
    b.rename(columns={"building_id": "楼栋编号"}).to_file(tmp_path / "b.gpkg")
    result = runner.invoke(app, ["replan", str(plan_dir), str(tmp_path / "b.gpkg"), "--id-field", "楼栋编号",
                                 "--out", str(tmp_path / "r"), "-q", "--start-date", START])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "buildings.csv").read_bytes() == (first / "buildings.csv").read_bytes()
    bad = runner.invoke(app, ["replan", str(plan_dir), str(tmp_path / "b.gpkg"), "--id-field", "bid", "--out", str(tmp_path / "x")])
    _fails_with(bad, "BUILDINGS has no column ['bid']", "楼栋编号")


# ---- --out may not be the input plan ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["replan", "diff", "export", "sheets"])
@pytest.mark.parametrize("inside", [False, True])
def test_out_in_the_input_plan_is_refused(planned, inputs, command, inside):
    _, plan_dir = planned
    before = sorted((p.name, p.stat().st_mtime_ns) for p in plan_dir.iterdir())
    out = plan_dir / "sub" if inside else plan_dir
    args = {"replan": [str(plan_dir), str(inputs["buildings"])], "diff": [str(plan_dir), str(plan_dir)]}.get(command, [str(plan_dir)])
    result = runner.invoke(app, [command, *args, "--out", str(out)])
    name = {"replan": "PREVIOUS", "diff": "OLD"}.get(command, "PLAN_DIR")
    _fails_with(result, f"--out {str(out)!r} is {'inside ' if inside else ''}{name}", "the plan this command reads")
    assert sorted((p.name, p.stat().st_mtime_ns) for p in plan_dir.iterdir()) == before


# ---- --quiet and --progress ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "redistrict", "replan", "demo", "export", "sheets", "map"])
def test_long_commands_take_quiet_and_progress(command):
    from typer.main import get_command

    params = {o: p for p in get_command(app).commands[command].params for o in p.opts}
    assert params["--quiet"].help and params["--progress"].help
    assert params["--progress"].secondary_opts == ["--no-progress"]


def test_progress_bar_shows_totals_and_a_time_estimate():
    import io

    from gridplan.cli.progress import Progress

    out = io.StringIO()
    bar = Progress(True, file=out)
    bar.total("grids", 3)
    for _ in range(3):
        bar("grids", 1)
    bar("cells", 5)
    bar.close()
    grids, cells = out.getvalue().splitlines()
    assert grids.startswith("grids") and "3/3" in grids and "eta 0:00:00" in grids
    assert cells.startswith("cells") and "5/?" in cells
    for enabled in (False, None):  # off, and by default off where stderr is not a terminal
        quiet = io.StringIO()
        bar = Progress(enabled, file=quiet)
        bar.total("grids", 3)
        bar("grids", 3)
        bar.close()
        assert quiet.getvalue() == ""


def test_plan_progress_is_on_stderr(inputs, tmp_path, planned):
    result = runner.invoke(app, ["plan", str(inputs["buildings"]), "--out", str(tmp_path / "p"), "-q", "--progress"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    stages = [line.split()[0] for line in result.stderr.splitlines() if "━" in line]
    assert {"cells", "grids", "micro-grids"} <= set(stages) and stages[-1] == "write", result.stderr
    assert "1/1" in result.stderr.splitlines()[-1]
    assert "━" not in planned[0].stderr  # not a terminal, no --progress: no bar


def test_sheets_progress_counts_the_sheets(planned, tmp_path):
    _, plan_dir = planned
    n = json.loads((plan_dir / "report.json").read_text())["levels"]["community"]["count"]
    result = runner.invoke(app, ["sheets", str(plan_dir), "--out", str(tmp_path / "s"), "--dpi", "30", "--no-pdf",
                                 "--level", "community", "--progress", "-q"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stderr.splitlines() if line.startswith("sheets"))
    assert f"{n}/{n}" in line


# ---- gridplan redistrict: grid moves only where the old grids are known, the old boundaries on the map --------

@pytest.fixture(scope="module")
def two_communities(tmp_path_factory) -> dict[str, Path]:
    """Two old communities (one oversized) as files, and their previous plan directory."""
    d = make_district(households=7000, communities=2)
    root = tmp_path_factory.mktemp("two")
    paths = {k: root / f"{k}.gpkg" for k in ("buildings", "roads", "communities")}
    d.buildings.to_file(paths["buildings"])
    d.roads.to_file(paths["roads"])
    d.communities.to_file(paths["communities"])
    paths["previous"] = root / "previous"
    result = runner.invoke(app, ["plan", str(paths["buildings"]), "--barriers", str(paths["roads"]), "--communities",
                                 str(paths["communities"]), "--out", str(paths["previous"]), "-q", "--start-date", "2025-01-01"])
    assert result.exit_code == 0, result.output
    return paths


def _data_of(page: str) -> dict:
    import re

    return json.loads(re.search(r'<script type="application/json" id="gridplan-data">(.*?)</script>', page, re.S).group(1))


def test_redistrict_says_grid_moves_are_unknown_and_maps_the_old_boundaries(two_communities, tmp_path):
    p = two_communities
    args = ["redistrict", str(p["buildings"]), "--barriers", str(p["roads"]), "--communities", str(p["communities"]), "--count", "3",
            "--start-date", START]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "between grids and micro-grids: unknown (the old grids are not known: give --old-plan DIR" in result.output
    summary = json.loads((tmp_path / "r" / "changes.json").read_text(encoding="utf-8"))
    assert summary["households_moved"]["grid"] is None and summary["households_moved"]["community"] > 0
    layers = {lay["key"]: lay for lay in _data_of((tmp_path / "r" / "map.html").read_text(encoding="utf-8"))["layers"]}
    old = gpd.read_file(p["communities"])
    assert sorted(u["c"] for u in layers["old-community"]["units"]) == sorted(old["code"]) and layers["old-community"]["show"]
    assert "changed-community" in layers and "old-grid" not in layers
    # against the previous plan: real grid moves, and the old plan on the map
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o"), "--old-plan", str(p["previous"])])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "changes.json").read_text(encoding="utf-8"))
    moved = summary["households_moved"]
    assert summary["old_grids_known"] and 0 < moved["grid"] <= moved["micro"]
    assert f"{moved['grid']:,} between grids, {moved['micro']:,} between micro-grids" in result.output
    keys = [lay["key"] for lay in _data_of((tmp_path / "o" / "map.html").read_text(encoding="utf-8"))["layers"]]
    assert keys[:3] == ["old-community", "old-grid", "old-micro"] and "changed-grid" in keys
    retired = pd.read_csv(tmp_path / "o" / "retired.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert {"community", "grid"} <= set(retired.level) and (retired.replaced_by != "").all()
    bad = runner.invoke(app, [*args, "--out", str(p["previous"] / "x"), "--old-plan", str(p["previous"])])
    assert bad.exit_code == 2 and "inside OLD_PLAN" in bad.output
