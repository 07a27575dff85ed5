"""Re-districting: oversized communities split, counts, stable codes, the change list, the CLI, the referee."""
from __future__ import annotations

import re
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
from gridplan.core.partition import UnitGraph
from gridplan.planning.split import allocate_counts, split_communities
from gridplan.sample import make_district, sample_path

from conftest import CHECKPLAN, referee

needs_checkplan = pytest.mark.skipif(not CHECKPLAN.exists(), reason="../shared/tools/checkplan.py is absent (a fresh clone)")


def run_checkplan(directory: Path) -> str:
    out = referee(directory)
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
    # 和平 lies in pieces tier-1 lines cut apart, two of them (1,948 and 1,810 households with the small ones
    # bridged) can stand alone: jointly it becomes exactly 2, never a community across the river
    with pytest.raises(InfeasibleError, match=r"`count` was 9: .* feasible totals are 3–3 redrawing the 1 oversized together, "
                                              r"3–3 adding in-range neighbours, 3–4 with mode 'all'"):
        redistrict(district.buildings, district.roads, district.communities, count=9, start_date="2026-01-01")
    with pytest.raises(InfeasibleError, match=r"feasible totals are 3–4 \(1 kept \+"):  # each alone: pieces bridged
        redistrict(district.buildings, district.roads, district.communities, count=2, start_date="2026-01-01", joint=False)


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
    assert bad.exit_code == 2 and "feasible totals are 3–3" in bad.output
    ok = CliRunner().invoke(app, [*args, "--count", "3", "-q"])
    assert ok.exit_code == 0, ok.output
    assert len(pd.read_csv(tmp_path / "out" / "new_communities.csv")) == 2


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


# ---- joint redraw (issue 13) on a district of 24 old communities, 12 of them oversized ---------------------

@pytest.fixture(scope="module")
def big():
    """24 old communities, 78,034 households; 12 above 3,000 (50,782 households) in two clusters."""
    return make_district(households=78000, communities=24, seed=1)


@pytest.fixture(scope="module")
def big_planner(big):
    from gridplan.config import PlanConfig
    from gridplan.inputs.validate import prepare
    from gridplan.planning.planner import Planner

    pl = Planner(prepare(big.buildings, big.roads, big.communities), PlanConfig(seed=0), None)
    pl.build_graph()
    return pl, pl.communities()


def _split(big_planner, big, **kw):
    pl, old = big_planner
    level, _ = split_communities(pl, old, mode="oversized", start_date="2026-01-01", given=big.communities, **kw)
    hh = np.bincount(level.labels[level.labels >= 0], weights=pl.g.households[level.labels >= 0])
    return level, hh, pl.extra_report["redistricting"]


def test_joint_count_35_where_each_alone_is_refused(big_planner, big):
    level, hh, info = _split(big_planner, big, count=35)
    assert len(hh) == 35 and ((hh >= 1000) & (hh <= 3000)).all()
    assert len(info["split"]) == 12 and info["neighbours_added"] == [] and len(info["scopes"]) == 2
    assert sum(s["into"] for s in info["scopes"]) == 35 - 12
    with pytest.raises(InfeasibleError, match=r"`count` was 35: .* feasible totals are 36–58 \(12 kept"):
        _split(big_planner, big, count=35, joint=False)


def test_kept_communities_keep_their_given_polygon(big_planner, big):
    level, _, info = _split(big_planner, big, count=35)
    given = dict(zip(big.communities.code, big.communities.geometry))
    kept = [o for o in level.origin if o is not None]
    assert sorted(kept) == sorted(info["kept"]) and len(kept) == 12
    assert all(f.wkb == given[o].wkb for o, f in zip(level.origin, level.fixed) if o is not None)
    assert all(f is None for o, f in zip(level.origin, level.fixed) if o is None)


def test_core_share_beats_each_alone(big_planner, big):
    joint_core = _split(big_planner, big, count=36)[2]["core"]
    alone_core = _split(big_planner, big, count=36, joint=False)[2]["core"]
    for core in (joint_core, alone_core):
        assert core["households_kept"] + core["households_moved"] == int(big.buildings.households.sum())
        assert core["overall"] == pytest.approx(core["households_kept"] / int(big.buildings.households.sum()), abs=1e-4)
    assert joint_core["overall"] > alone_core["overall"] + 0.01


def test_neighbours_added_only_as_needed(big_planner, big):
    _, hh, info = _split(big_planner, big, count=31)  # the two clusters alone allow 32–59
    assert len(hh) == 31 and ((hh >= 1000) & (hh <= 3000)).all()
    assert len(info["neighbours_added"]) == 1 and set(info["neighbours_added"]) <= set(info["split"])
    assert not set(info["neighbours_added"]) & set(info["kept"]) and len(info["kept"]) == 11
    assert len(_split(big_planner, big, count=29)[2]["neighbours_added"]) > 1


def test_impossible_count_lists_each_mode(big_planner, big):
    with pytest.raises(InfeasibleError) as e:
        _split(big_planner, big, count=200)
    assert re.search(r"`count` was 200: .* feasible totals are 32–59 redrawing the 12 oversized together, 29–74 adding in-range "
                     r"neighbours, 29–74 with mode 'all'", str(e.value)), str(e.value)


def test_regions_keep_apart_pieces_that_can_stand_alone():
    """Three pieces no edge joins (a river between them): 0-1 (2,000 households), 2-3 (1,500), 4 (200)::

        [0]-[1] ~~ [2]-[3] ~~ [4]
    """
    from types import SimpleNamespace

    import shapely

    from gridplan.planning.joint import regions

    g = UnitGraph(np.array([1000, 1000, 700, 800, 200.0]), [[0, 1], [2, 3]], [1, 1], [0, 0])
    land = np.array([shapely.box(x, 0, x + 1, 1) for x in (0, 1, 3, 4, 6)], dtype=object)
    out = regions(SimpleNamespace(g=g, land=land), np.arange(5), SizeRange(1000, 3000))
    assert [r.cells.tolist() for r in out] == [[0, 1], [2, 3, 4]] and out[1].bridges == ((4, 3),)
    (one,) = regions(SimpleNamespace(g=g, land=land), np.arange(5), None)  # each alone: every piece bridged
    assert len(one.bridges) == 2


@pytest.fixture(scope="module")
def big_35(big):
    return redistrict(big.buildings, big.roads, big.communities, count=35, seed=0, start_date="2026-01-01")


def test_joint_plan_reports_core_per_new_community(big_35):
    info, c = big_35.plan.report["redistricting"], big_35.plan.communities
    new = set(c.code) - set(info["kept"])
    assert set(info["core"]["by_community"]) == new and len(new) == 23
    assert all(v["core"] in info["split"] and 0 < v["share"] <= 1 for v in info["core"]["by_community"].values())
    retired = big_35.changes.retired
    assert set(retired.code) == set(info["split"]) and all(set(r.split()) <= new for r in retired.replaced_by)


def test_joint_plan_keeps_given_polygons_byte_for_byte(big_35, big):
    """Kept communities keep their given polygons exactly, unless drawn over water their grids may not hold:
    then the polygon is the given one less that land, and the report says so."""
    c = big_35.plan.communities.set_index("code")
    trimmed = {t["code"]: t for t in big_35.plan.report["trimmed_communities"]}
    kept = [code for code in big.communities.code if code in big_35.plan.report["redistricting"]["kept"]]
    assert len(kept) > len(trimmed)
    for code, geom in zip(big.communities.code, big.communities.geometry):
        if code not in kept:
            continue
        if code in trimmed:
            lost = geom.difference(c.geometry[code])
            assert c.geometry[code].difference(geom).area < 1e-9 and lost.area > 0, code
            water = big_35.plan.input_barriers[big_35.plan.input_barriers.tier == 1].to_crs(big.communities.crs)
            assert lost.intersects(water.union_all()), code
        else:
            assert c.geometry[code].wkb == geom.wkb, code


@needs_checkplan
def test_joint_plan_passes_checkplan(big_35, tmp_path):
    out = big_35.plan.write(tmp_path / "p35", map_html=False)
    big_35.changes.write(out)
    run_checkplan(out)
