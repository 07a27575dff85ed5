"""The change list between two plans: statuses, moves, retired codes, the `diff` command."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

import gridplan
from gridplan.cli import app
from gridplan.errors import InputError
from gridplan.planning.diff import diff, four_to, state_from_communities
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


# ---- change lists a planner can trust (issue 13, item 5) ---------------------------------------------------

@pytest.fixture(scope="module")
def street():
    """One district planned twice, the same seed, two street codes: only the code prefixes differ."""
    d = make_district(households=3000, communities=1)
    a = gridplan.plan(d.buildings, d.roads, seed=1, street_code="320102001", start_date="2026-01-01")
    b = gridplan.plan(d.buildings, d.roads, seed=1, street_code="320102002", start_date="2026-02-01")
    return a, b


def test_a_new_street_code_is_a_recode_not_a_move(street):
    a, b = street
    ch = diff(a, b)
    assert ch.summary["households_moved"] == {"community": 0, "grid": 0, "micro": 0}
    assert ch.summary["units_changed"] == 0 and ch.summary["units_recoded"] == len(a.communities) + len(a.grids) + len(a.micro_grids)
    assert (ch.units.status == "recoded").all() and set(ch.buildings.status) == {"recoded"}
    pairs = dict(zip(ch.units.old_code, ch.units.code))
    assert all(old.replace("320102001", "320102002", 1) == new for old, new in pairs.items())
    # the old codes are retired (never reused), each replaced by its new code
    assert dict(zip(ch.retired.code, ch.retired.replaced_by)) == pairs and (ch.retired.end_date == "2026-02-01").all()
    assert set(ch.changed_units.status) == {"recoded"}


def test_replaced_by_on_every_level_names_the_units_holding_most_households():
    d = make_district(households=3000, communities=1)
    a = gridplan.plan(d.buildings, d.roads, seed=1, start_date="2026-01-01")
    b = gridplan.plan(d.buildings, d.roads, seed=1, grid_size="450:800", micro_size="60:150", start_date="2026-02-01")
    ch = diff(a, b)
    rt = ch.retired
    assert {"grid", "micro"} <= set(rt.level) and (rt.replaced_by.str.len() > 0).all()
    for lvl, col, layer in (("grid", "grid_code", b.grids), ("micro", "micro_code", b.micro_grids)):
        rows = rt[rt.level == lvl]
        assert set(" ".join(rows.replaced_by).split()) <= set(layer.code)
        for code, repl in zip(rows.code, rows.replaced_by):  # the first is where most of its households went
            ids = a.buildings.loc[a.buildings[col] == code, "building_id"]
            got = b.buildings[b.buildings.building_id.isin(ids)].groupby(col)["households"].sum()
            assert repl.split()[0] in set(got[got == got.max()].index), (code, repl, got.to_dict())


def test_change_list_csvs_have_a_bom(plans, tmp_path):
    a, b = plans
    diff(a, b).write(tmp_path)
    for name in ("changes.csv", "changes_units.csv", "migration.csv", "new_communities.csv", "retired.csv"):
        assert (tmp_path / name).read_bytes()[:3] == b"\xef\xbb\xbf", name
    assert pd.read_csv(tmp_path / "changes.csv", encoding="utf-8-sig").columns[0] == "building_id"


def test_changes_carry_the_buildings_name_address_type_and_compound(plans):
    import dataclasses

    a, b = plans
    ids = b.buildings["building_id"].astype(str)
    named = dataclasses.replace(b, buildings=b.buildings.assign(name="楼" + ids, compound_name="南湖苑", building="住宅"),
                                input_buildings=b.input_buildings.assign(address="南京市" + b.input_buildings["building_id"].astype(str)))
    t = diff(a, named).buildings
    assert list(t.columns[:6]) == ["building_id", "status", "name", "address", "building", "compound_name"]
    assert (t.name == "楼" + t.building_id).all() and (t.address == "南京市" + t.building_id).all()
    assert (t.compound_name == "南湖苑").all() and (t.building == "住宅").all()
    attrs = ["name", "address", "building", "compound_name"]
    def bare(p):
        return dataclasses.replace(p, buildings=p.buildings.drop(columns=attrs, errors="ignore"),
                                   input_buildings=p.input_buildings.drop(columns=attrs, errors="ignore"))
    assert not set(attrs) & set(diff(bare(a), bare(b)).buildings.columns)  # only the columns the plans have


@pytest.fixture(scope="module")
def districts():
    """Two old communities planned as they are (the previous plan), then re-districted into three."""
    from gridplan.planning.redistrict import redistrict

    d = make_district(households=7000, communities=2)
    before = gridplan.plan(d.buildings, d.roads, d.communities, seed=0, start_date="2025-01-01")
    return d, before, redistrict(d.buildings, d.roads, d.communities, count=3, seed=0, start_date="2026-01-01")


def test_after_a_redistrict_grid_moves_are_unknown_not_counted(districts):
    _, _, r = districts
    s = r.changes.summary
    assert s["households_moved"]["community"] > 0 and s["households_moved"]["grid"] is None and s["households_moved"]["micro"] is None
    assert s["old_grids_known"] is False
    assert not r.changes.buildings.status.isin(["moved grid", "moved micro-grid", "recoded"]).any()


def test_against_the_old_plan_grid_moves_are_real(districts):
    d, before, r = districts
    ch = diff(state_from_communities(d.communities, r.plan, old_plan=before), r.plan)
    moved = ch.summary["households_moved"]
    assert ch.summary["old_grids_known"] and 0 < moved["grid"] <= moved["micro"]
    assert moved["community"] == r.changes.summary["households_moved"]["community"]
    # a grid carried whole into a new community is recoded: its households changed community, not grid
    rec = ch.units[(ch.units.level == "grid") & (ch.units.status == "recoded")]
    assert len(rec) and (rec.households_before == rec.households_after).all()
    t = ch.buildings.set_index("building_id")
    for old_code, code in zip(rec.old_code, rec.code):
        ids = before.buildings.loc[before.buildings.grid_code == old_code, "building_id"]
        assert (t.loc[ids, "grid_after"] == code).all()
    in_recoded = t.grid_after.isin(rec.code)
    assert moved["grid"] <= int(t.loc[~in_recoded, "households_after"].sum())


def test_an_old_plan_of_other_buildings_is_refused(districts, plans):
    import dataclasses

    d, _, r = districts
    other = dataclasses.replace(plans[0], buildings=plans[0].buildings.assign(building_id="X" + plans[0].buildings.building_id.astype(str)))
    with pytest.raises(InputError, match="`old_plan` shares no building id with the new plan"):
        state_from_communities(d.communities, r.plan, old_plan=other)
