"""Minimal-change re-plans: nothing moves without a change, an estate stays inside its community, locks."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

import gridplan
from gridplan.cli import app
from gridplan.errors import InfeasibleError, OptionError
from gridplan.planning.replan import replan
from gridplan.sample import make_district

from test_redistrict import needs_checkplan, run_checkplan


@pytest.fixture(scope="module")
def district():
    return make_district(households=6000, communities=2)


@pytest.fixture(scope="module")
def old(district):
    return gridplan.plan(district.buildings, district.roads, district.communities, seed=0, start_date="2026-01-01")


def add_estate(d, community: gpd.GeoSeries, households: int = 500) -> gpd.GeoDataFrame:
    """Four 125-household towers (10 m × 10 m) on the emptiest spot inside ``community`` (one polygon)."""
    utm = d.buildings.estimate_utm_crs()
    poly = community.to_crs(utm).iloc[0]
    fp = np.asarray(d.buildings.to_crs(utm).geometry.values, dtype=object)
    lines = np.asarray(d.roads.to_crs(utm).geometry.values, dtype=object)
    x0, y0, x1, y1 = poly.bounds
    xs, ys = np.meshgrid(np.arange(x0, x1, 5.0), np.arange(y0, y1, 5.0))
    pts = shapely.points(xs.ravel(), ys.ravel())
    pts = pts[shapely.contains(poly.buffer(-30), pts)]
    free = np.minimum(shapely.distance(pts[:, None], fp[None, :]).min(1), shapely.distance(pts[:, None], lines[None, :]).min(1))
    p = pts[int(np.argmax(free))]
    boxes = [shapely.box(p.x + dx - 5, p.y + dy - 5, p.x + dx + 5, p.y + dy + 5) for dx in (-8, 8) for dy in (-8, 8)]
    est = gpd.GeoDataFrame({"building_id": [f"E{i}" for i in range(4)], "households": [households // 4] * 4, "units": [2.0] * 4,
                            "levels": [18.0] * 4, "building": ["apartments"] * 4, "compound": ["NEW"] * 4}, geometry=boxes, crs=utm)
    return pd.concat([d.buildings, est.to_crs(d.buildings.crs)], ignore_index=True)


def test_no_change_moves_nothing_and_keeps_codes(old, district):
    r = replan(old, district.buildings, start_date="2026-06-01")
    assert r.changes.summary["units_changed"] == 0
    assert r.changes.summary["households_moved"] == {"community": 0, "grid": 0, "micro": 0}
    for lvl in ("communities", "grids", "micro_grids"):
        assert getattr(r.plan, lvl).code.tolist() == getattr(old, lvl).code.tolist()
        assert (getattr(r.plan, lvl).start_date == "2026-01-01").all()  # kept units keep their start date


@pytest.fixture(scope="module")
def estate(old, district):
    small = old.communities.sort_values("households").iloc[[0]]  # ~2,060 households: absorbs 500
    return small.code.iloc[0], replan(old, add_estate(district, small.geometry), start_date="2026-06-01")


def test_estate_changes_nothing_outside_its_community(old, estate):
    code, r = estate
    u = r.changes.units
    changed = u[u.status != "kept"]
    assert len(changed) and changed.code.str.startswith(code).all()
    assert r.changes.summary["households_added"] == 500
    assert r.changes.summary["households_moved"]["grid"] == 0  # the estate becomes units of its own
    assert set(old.grids.code) <= set(r.plan.grids.code)
    assert r.plan.report["replan"]["units_changed"] == r.changes.summary["units_changed"]


@needs_checkplan
def test_replanned_plan_passes_checkplan(estate, tmp_path):
    _, r = estate
    out = r.plan.write(tmp_path / "p", map_html=False)
    r.changes.write(out)
    run_checkplan(out)


def test_lock_that_makes_balance_impossible(old, district):
    small = old.communities.sort_values("households").iloc[[0]]
    bigger = add_estate(district, small.geometry, households=2000)  # the community goes above 3,000
    with pytest.raises(InfeasibleError, match=f"locked community {small.code.iloc[0]} now holds"):
        replan(old, bigger, lock=[small.code.iloc[0]], start_date="2026-06-01")


def test_lock_of_unknown_code(old, district):
    with pytest.raises(OptionError, match="not in the previous plan"):
        replan(old, district.buildings, lock=["123"])


def test_removed_buildings_are_rebalanced(old, district):
    grid = old.grids.sort_values("households").iloc[-1]
    gone = set(old.buildings.loc[old.buildings.grid_code == grid.code, "building_id"])
    keep = district.buildings[~district.buildings.building_id.isin(list(gone)[: len(gone) // 2])]
    r = replan(old, keep, start_date="2026-06-01")
    assert r.changes.summary["households_removed"] > 0
    outside = r.changes.units[(r.changes.units.status != "kept") & (r.changes.units.level != "community")]
    assert outside.code.str.startswith(grid.code[:12]).all()


def test_cli_replan_from_a_plan_directory(old, district, tmp_path):
    prev = old.write(tmp_path / "old", map_html=False)
    district.buildings.to_file(tmp_path / "b.gpkg")
    res = CliRunner().invoke(app, ["replan", str(prev), "--buildings", str(tmp_path / "b.gpkg"), "--out", str(tmp_path / "new")])
    assert res.exit_code == 0, res.output
    assert "households moved: 0 between communities, 0 between grids, 0 between micro-grids" in res.output
    bad = CliRunner().invoke(app, ["replan", str(prev), "--buildings", str(tmp_path / "b.gpkg"), "--out", str(tmp_path / "x"), "--lock", "999"])
    assert bad.exit_code == 2 and "not in the previous plan" in bad.output
