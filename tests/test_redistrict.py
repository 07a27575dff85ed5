"""Re-districting: oversized communities split, counts, stable codes, the change list, the CLI, the referee."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gridplan
from gridplan.cli import app
from gridplan.config import SizeRange
from gridplan.errors import InfeasibleError, OptionError
from gridplan.planning.redistrict import redistrict
from gridplan.planning.split import allocate_counts
from gridplan.sample import make_district, sample_path

CHECKPLAN = Path(__file__).resolve().parents[2] / "shared" / "tools" / "checkplan.py"
needs_checkplan = pytest.mark.skipif(not CHECKPLAN.exists(), reason="../shared/tools/checkplan.py is absent (a fresh clone)")


def run_checkplan(directory: Path) -> str:
    out = subprocess.run([sys.executable, str(CHECKPLAN), "--plan", str(directory), "--buildings", str(directory / "input_buildings.gpkg"),
                          "--barriers", str(directory / "input_barriers.gpkg")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def district():
    """Two old communities: 新华 (~2,060 households, in range) and 和平 (~3,800, oversized)."""
    return make_district(households=6000, communities=2)


@pytest.fixture(scope="module")
def split(district):
    return redistrict(district.buildings, district.roads, district.communities, count=3, seed=0, start_date="2026-01-01")


def test_allocate_counts_hands_out_to_the_largest():
    size = SizeRange(1000, 3000, 2000)
    assert allocate_counts({"a": 4400, "b": 3200}, size, kept=10, total=15) == {"a": 3, "b": 2}
    assert allocate_counts({"a": 4400, "b": 3200}, size, kept=0, total=None) == {"a": 2, "b": 2}


def test_infeasible_count_lists_the_feasible_ones(district):
    with pytest.raises(InfeasibleError, match=r"`count` was 9: .* feasible totals are 3–4"):
        redistrict(district.buildings, district.roads, district.communities, count=9, start_date="2026-01-01")
    with pytest.raises(InfeasibleError, match="feasible totals"):
        redistrict(district.buildings, district.roads, district.communities, count=2, start_date="2026-01-01")


def test_options_are_checked(district):
    with pytest.raises(OptionError, match="expected one of"):
        gridplan.plan(district.buildings, district.roads, district.communities, redistrict="some")
    with pytest.raises(OptionError, match="no `communities`"):
        gridplan.plan(district.buildings, district.roads, redistrict="oversized")
    with pytest.raises(OptionError, match="community_count"):
        gridplan.plan(district.buildings, district.roads, district.communities, community_count=3)


def test_oversized_split_in_range_and_codes_stable(district, split):
    p, old = split.plan, district.communities
    assert len(p.communities) == 3
    assert p.communities["in_range"].all()
    assert int(p.communities.households.sum()) == int(district.buildings.households.sum())
    big = old.code[1] if "和平" in old.name[1] else old.code[0]
    kept = sorted(set(old.code) - {big})
    codes = set(p.communities.code)
    assert set(kept) <= codes and big not in codes  # the kept one keeps its code, the split one is retired
    new = sorted(codes - set(kept))
    assert all(c[:9] == big[:9] and int(c[9:]) > int(max(old.code)[9:]) for c in new)  # next free sequence
    assert (p.communities.start_date == "2026-01-01").all()
    r = split.changes.retired
    assert r.code.tolist() == [big] and r.end_date.tolist() == ["2026-01-01"] and set(r.replaced_by[0].split()) == set(new)


def test_change_list(split, district):
    ch = split.changes
    moved = ch.buildings[ch.buildings.status == "moved community"]
    assert moved.households_after.sum() == ch.summary["households_moved"]["community"] > 0
    assert set(ch.buildings.status) <= {"moved community", "unchanged"}
    mig = ch.migration
    assert mig.households.sum() == district.buildings.households.sum()
    assert set(ch.units.status) == {"kept", "new", "retired"}
    nc = ch.new_communities
    assert len(nc) == 2 and (nc[["east", "south", "west", "north"]] != "").all().all()
    assert nc.compounds.str.len().gt(0).all()
    assert set(ch.changed_units.status) == {"new", "retired"} and ch.changed_units.crs.to_epsg() == 4326


def test_deterministic(district, split):
    again = redistrict(district.buildings, district.roads, district.communities, count=3, seed=0, start_date="2026-01-01")
    pd.testing.assert_frame_equal(pd.DataFrame(again.plan.buildings.drop(columns="geometry")), pd.DataFrame(split.plan.buildings.drop(columns="geometry")))


@needs_checkplan
def test_written_plan_passes_checkplan(split, tmp_path):
    out = split.plan.write(tmp_path / "plan", map_html=False)
    split.changes.write(out)
    assert (out / "changes.csv").exists() and (out / "retired.csv").exists()
    run_checkplan(out)
    split.plan.write(out, map_html=False)  # re-writing into the directory is not refused


def test_cli_redistrict_and_infeasible_count(district, tmp_path):
    for name, gdf in (("b", district.buildings), ("r", district.roads), ("c", district.communities)):
        gdf.to_file(tmp_path / f"{name}.gpkg")
    args = ["redistrict", str(tmp_path / "b.gpkg"), "--communities", str(tmp_path / "c.gpkg"), "--barriers", str(tmp_path / "r.gpkg"),
            "--out", str(tmp_path / "out"), "--start-date", "2026-01-01"]
    bad = CliRunner().invoke(app, [*args, "--count", "40"])
    assert bad.exit_code == 2 and "feasible totals are 3–4" in bad.output
    ok = CliRunner().invoke(app, [*args, "--count", "4", "-q"])
    assert ok.exit_code == 0, ok.output
    assert len(pd.read_csv(tmp_path / "out" / "new_communities.csv")) == 3


@pytest.mark.slow
@needs_checkplan
def test_sample_24_to_35(tmp_path):
    r = redistrict(sample_path("buildings"), sample_path("roads"), sample_path("communities"), count=35, seed=0, start_date="2026-01-01")
    c = r.plan.communities
    assert len(c) == 35 and c["in_range"].all()
    info = r.plan.report["redistricting"]
    assert len(info["kept"]) == 17 and len(info["split"]) == 7
    assert np.all(r.changes.new_communities[["east", "west"]] != "")
    out = r.plan.write(tmp_path / "p35", map_html=False)
    r.changes.write(out)
    run_checkplan(out)
