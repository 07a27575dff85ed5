"""The post roster (posts.csv) and how divided buildings show in the roster and the code tables."""
from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from gridplan.errors import OptionError
from gridplan.outputs.export import write_plan
from gridplan.outputs.posts import POST_COLUMNS, posts
from gridplan.outputs.reader import read_plan
from gridplan.outputs.parts import part_label
from gridplan.outputs.tables import FIELDS, code_table, roster
from test_deliver import plan_dir
from test_export import CRS, STREET, X0, Y0, make_plan

W001 = STREET + "001001"  # the grid holding the tower
M1, M2 = W001 + "001", W001 + "002"


def tower_plan():
    """``make_plan``'s plan, with building 0999 a 2-entrance, 30-storey tower named 3号楼, divided three ways.

    ::

        entrance 1 (floors 1-30)  -> micro-grid ...001  (the left slice of the footprint)
        entrance 2, floors 1-15   -> micro-grid ...002  (the right slice)
        entrance 2, floors 16-30  -> micro-grid ...001  (upper floors, sharing the right slice)

    Every other building has 2 entrances and 6 storeys, except 0001 (no entrance count, 5 storeys),
    0002 (neither known) and 0003 (no households: not residential).
    """
    p = make_plan()
    b = p.buildings[p.buildings["building_id"] != "0999"].copy()
    b["entrances"], b["floors"] = "", ""
    b.loc[b["building_id"] == "0003", "households"] = 0
    left, right = box(X0 + 180, Y0 + 1480, X0 + 200, Y0 + 1520), box(X0 + 200, Y0 + 1480, X0 + 220, Y0 + 1520)
    tower = gpd.GeoDataFrame({
        "building_id": "0999", "households": 10, "community_code": STREET + "001", "grid_code": W001,
        "micro_code": [M1, M2, M1], "part": [1, 2, 3], "entrances": ["1-1", "2-2", "2-2"], "floors": ["", "1-15", "16-30"],
    }, geometry=[left, right, right], crs=CRS)
    b = gpd.GeoDataFrame(pd.concat([b, tower], ignore_index=True), crs=CRS)
    inputs = p.input_buildings.copy()
    ids = inputs["building_id"]
    inputs["households"] = np.where(ids == "0003", 0, np.where(ids == "0999", 30, inputs["households"]))
    inputs["units"] = np.where(ids.isin(["0001", "0002"]), np.nan, 2.0)
    inputs["levels"] = np.where(ids == "0002", np.nan, np.where(ids == "0001", 5.0, np.where(ids == "0999", 30.0, 6.0)))
    inputs["name"] = np.where(ids == "0999", "3号楼", None)
    return dataclasses.replace(p, buildings=b, input_buildings=inputs)


@pytest.fixture(scope="module")
def plan():
    return tower_plan()


@pytest.fixture(scope="module")
def table(plan):
    return posts(plan)


def test_counts_of_each_post(table):
    # 51 buildings, 0003 not residential; 47 of 2 x 6, 0001 one entrance x 5, 0002 none, the tower 2 x 30
    assert table["post"].value_counts().to_dict() == {
        "floor_head": 47 * 12 + 5 + 60, "entrance_head": 47 * 2 + 1 + 2, "building_head": 50, "grid_worker": 5}
    assert list(table.columns) == list(POST_COLUMNS)
    assert set(zip(table["post"], table["post_zh"])) == {
        ("grid_worker", "网格员"), ("building_head", "楼栋长"), ("entrance_head", "单元长"), ("floor_head", "楼层长")}
    assert (table["holder_name"] == "").all() and (table["holder_phone"] == "").all()
    assert "0003" not in set(table["building_id"])


def test_sources_say_where_entrances_and_floors_come_from(table):
    src = table.drop_duplicates("building_id").set_index("building_id")["source"]
    assert src["0999"] == "roster" and src["0001"] == "levels-only" and src["0002"] == "building-only"
    assert src["0004"] == "input" and (table.loc[table["post"] == "grid_worker", "source"] == "plan").all()
    assert table.loc[table["building_id"] == "0002", "post"].tolist() == ["building_head"]
    assert table.loc[(table["building_id"] == "0001") & (table["post"] == "floor_head"), "floor"].tolist() == [1, 2, 3, 4, 5]


def test_tower_posts_carry_the_codes_of_their_parts(table):
    t = table[table["building_id"] == "0999"]
    head = t[t["post"] == "building_head"].iloc[0]
    assert (head["micro_code"], head["grid_code"], head["building_name"], head["scope"]) == (f"{M1};{M2}", W001, "3号楼", "3号楼")
    e1, e2 = (t[(t["post"] == "entrance_head") & (t["entrance"] == e)].iloc[0] for e in (1, 2))
    assert e1["micro_code"] == M1 and e2["micro_code"] == f"{M1};{M2}" and e2["scope"] == "3号楼 2单元"
    floors = t[t["post"] == "floor_head"]
    assert floors.groupby("entrance").size().to_dict() == {1: 30, 2: 30}
    assert set(floors.loc[floors["entrance"] == 1, "micro_code"]) == {M1}
    by_floor = floors[floors["entrance"] == 2].set_index("floor")["micro_code"]
    assert (by_floor.loc[1:15] == M2).all() and (by_floor.loc[16:30] == M1).all()
    assert floors.loc[(floors["entrance"] == 2) & (floors["floor"] == 16), "scope"].item() == "3号楼 2单元 16层"
    assert not floors["micro_code"].str.contains(";").any()  # a floor lies in exactly one micro-grid


def test_every_post_is_held_by_units_of_its_grid(plan, table):
    grids = dict(zip(plan.grids["code"], plan.grids["parent_code"]))
    workers = table[table["post"] == "grid_worker"]
    assert sorted(workers["grid_code"]) == sorted(grids) and (workers["community_code"] == workers["grid_code"].map(grids)).all()
    below = table[table["post"] != "grid_worker"]
    assert all(m.startswith(g) for ms, g in zip(below["micro_code"], below["grid_code"]) for m in ms.split(";"))


def test_down_to_caps_the_roster(plan, table):
    assert set(posts(plan, down_to="entrance")["post"]) == {"grid_worker", "building_head", "entrance_head"}
    short = posts(plan, down_to="building")
    assert short["post"].value_counts().to_dict() == {"building_head": 50, "grid_worker": 5}
    assert short.equals(table[table["post"].isin(["grid_worker", "building_head"])].reset_index(drop=True))
    with pytest.raises(OptionError, match="`down_to` was 'unit'; expected one of 'floor', 'entrance', 'building'"):
        posts(plan, down_to="unit")


def test_posts_csv_is_written_with_a_bom_and_labelled_headers(tmp_path, plan, table):
    d = write_plan(plan, tmp_path / "p", map_html=False)
    raw = (d / "posts.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(d / "posts.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back.columns) == [f"{FIELDS[c][1]} {c}" for c in POST_COLUMNS]
    assert back.columns[0] == "岗位 post" and len(back) == len(table)
    assert back["网格编码 grid_code"].str.startswith("0").all()  # codes stay text
    again = posts(read_plan(d))  # a plan read back gives the same roster
    pd.testing.assert_frame_equal(again, table)


def test_part_labels():
    assert part_label([((1, 2), None)], units=4) == "1–2单元"
    assert part_label([((2, 2), (1, 15))], units=2, levels=30) == "2单元 1–15层"
    assert part_label([(None, (1, 15))], units=1, levels=30) == "1–15层"
    assert part_label([((1, 1), None), ((2, 2), (1, 15))], units=2, levels=30) == "1单元、2单元 1–15层"
    assert part_label([((1, 1), None), ((2, 2), (1, 15)), ((2, 2), (16, 30))], units=2, levels=30) == ""


def test_roster_and_code_tables_show_the_parts(plan):
    r = roster(plan)
    assert r.loc[r["building_id"] == "0999", "part_label"].tolist() == ["1单元", "2单元 1–15层", "2单元 16–30层"]
    assert (r.loc[r["building_id"] != "0999", "part_label"] == "").all()
    micro = code_table(plan, "micro").set_index("code")["parts"]
    assert micro[M1] == "3号楼 1单元、2单元 16–30层" and micro[M2] == "3号楼 2单元 1–15层"
    assert (micro.drop([M1, M2]) == "").all()
    assert (code_table(plan, "grid")["parts"] == "").all()  # one grid holds the whole tower


def test_code_tables_name_a_building_by_id_without_a_name(plan):
    unnamed = dataclasses.replace(plan, input_buildings=plan.input_buildings.drop(columns="name"))
    assert code_table(unnamed, "micro").set_index("code").loc[M2, "parts"] == "0999 2单元 1–15层"


def test_a_written_plan_of_the_sample(tmp_path):
    """The sample district: one grid worker per grid, a head per residential building, entrance and floor."""
    d = plan_dir()
    p = read_plan(d)
    t = pd.read_csv(d / "posts.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    t.columns = list(POST_COLUMNS)
    counts = t["post"].value_counts()
    workers = t[t["post"] == "grid_worker"]
    assert counts["grid_worker"] == len(p.grids) and workers["grid_code"].is_unique
    assert set(workers["grid_code"]) == set(p.grids["code"])
    b = p.input_buildings[p.input_buildings["households"] > 0]
    assert counts["building_head"] == len(b) and counts["entrance_head"] == int(b["units"].sum())
    assert counts["floor_head"] == int((b["units"] * b["levels"]).sum())  # the sample's runs stay within its storeys
    divided = set(p.buildings.loc[p.buildings["part"] > 0, "building_id"])
    assert divided and set(t.loc[t["source"] == "roster", "building_id"]) == divided
    floors = t[t["post"] == "floor_head"]
    roster_micro = set(zip(p.buildings["building_id"], p.buildings["micro_code"]))
    assert all((i, m) in roster_micro for i, m in zip(floors["building_id"], floors["micro_code"]))
