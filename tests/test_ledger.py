"""Household ledgers (台账): joined by key, the most trusted source; misses on either side are listed."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import deg
from gridplan.errors import InputError, for_cli
from gridplan.inputs.ledger import join_ledger, read_ledger
from gridplan.inputs.validate import prepare


def _no_hh(buildings):
    return buildings.drop(columns="households")


def test_join_sums_rows_and_lists_both_misses(buildings):
    ledger = pd.DataFrame({"bid": ["b1", "b1", "b2", "x9", "x8"], "households": ["30", "12", "55", "8", "1"]})
    j = join_ledger(_no_hh(buildings), ledger, key="bid")
    hh = j.buildings.set_index("building_id")["households"]
    src = j.buildings.set_index("building_id")["household_source"]
    assert hh["b1"] == 42 and hh["b2"] == 55 and src["b1"] == "ledger"
    assert src["b3"] == "estimate" and hh["b3"] == 19  # no ledger row: estimated, kept
    assert j.matched == 2 and j.unmatched_rows == ("x8", "x9")
    assert j.unledgered == ("b3", "b4", "b5", "b6", "b7", "b8")
    assert any("1 repeated key summed" in n for n in j.notes)
    with pytest.warns(UserWarning) as caught:
        p = prepare(j.buildings)
    messages = [str(w.message) for w in caught]
    assert any("2 keys match no building ['x8', 'x9']" in m for m in messages)
    assert any("6 buildings have no ledger row" in m for m in messages)
    assert p.buildings["household_source"].value_counts().to_dict() == {"estimate": 6, "ledger": 2}
    assert any("2 keys match no building" in n for n in p.notes)


def test_ledger_beats_the_buildings_own_count(buildings):
    ledger = pd.DataFrame({"building_id": ["b1"], "户数": [7]})
    j = join_ledger(buildings, ledger)
    assert j.buildings["households"].tolist() == [7] + [40] * 7
    assert j.buildings["household_source"].tolist() == ["ledger"] + ["field"] * 7


def test_population_only_and_one_row_per_household(buildings):
    pop = pd.DataFrame({"building_id": ["b1", "b2"], "人口": ["262", "131"]})
    j = join_ledger(_no_hh(buildings), pop)
    assert j.buildings["households"].tolist()[:2] == [100, 50]
    assert j.buildings["household_source"].tolist()[:2] == ["ledger-population"] * 2
    roster = pd.DataFrame({"building_id": ["b1"] * 3 + ["b2"], "户主": ["张", "李", "王", "赵"]})
    j = join_ledger(_no_hh(buildings), roster)
    assert j.buildings["households"].tolist()[:2] == [3, 1]
    assert any("one household per row" in n for n in j.notes)


def test_csv_in_gbk_with_numeric_keys(buildings, tmp_path):
    b = _no_hh(buildings)
    b["building_id"] = [str(i + 1) for i in range(8)]  # ids "1".."8"
    path = tmp_path / "台账.csv"
    path.write_bytes("楼栋号;户数;备注\n1.0;20;东单元\n2;\"1,200\";\n".encode("gbk"))
    j = join_ledger(b, path, key="楼栋号")
    assert j.buildings["households"].tolist()[:2] == [20, 1200] and j.unmatched_rows == ()


def test_xlsx_through_gdal(buildings, tmp_path):
    import pyogrio

    path = tmp_path / "ledger.xlsx"
    pyogrio.write_dataframe(pd.DataFrame({"building_id": ["b1", "b2"], "households": [11, 12]}), path, driver="XLSX")
    assert read_ledger(path)["building_id"].tolist() == ["b1", "b2"]
    assert join_ledger(_no_hh(buildings), path).buildings["households"].tolist()[:2] == [11, 12]


def test_ledger_errors_are_listed_together(buildings, tmp_path):
    bad = pd.DataFrame({"building_id": ["b1", "b2", "b3"], "households": ["12", "many", "-3"]})
    with pytest.raises(InputError, match=r"2 values of 'households' are not whole numbers >= 0, e.g. 'many'"):
        join_ledger(buildings, bad)
    with pytest.raises(InputError) as exc:
        join_ledger(buildings, bad, key="楼号", households_field="户数")
    assert len(exc.value.problems) == 2
    assert "no key column '楼号'; did you mean 'building_id'? (columns: ['building_id', 'households'])" in str(exc.value)
    assert "holds the building id with --ledger-key" in for_cli(str(exc.value), {"key": "--ledger-key"})
    with pytest.raises(InputError, match="ledger .*nope.csv: no such file"):
        join_ledger(buildings, tmp_path / "nope.csv")


def test_ledger_gives_entrances_and_storeys_as_the_largest_value_per_building(buildings):
    ledger = pd.DataFrame({"building_id": ["b1", "b1", "b1", "b2"], "单元": ["1", "2", "2", "1"],
                           "楼层": ["1", "5", "11", "6"]})
    j = join_ledger(buildings, ledger)  # a ledger of 户: one row per household, with its entrance and floor
    with pytest.warns(UserWarning, match="6 buildings have no ledger row"):
        p = prepare(j.buildings)
    got = p.buildings.set_index("building_id")
    assert got.loc["b1", ["households", "units", "levels"]].tolist() == [3, 2, 11]
    assert got.loc["b1", ["units_source", "levels_source"]].tolist() == ["ledger", "ledger"]
    assert got.loc["b3", ["levels", "levels_source"]].tolist() == [6, "given"]  # no row: its own levels
    assert any("2 buildings take their levels from '楼层'" in n for n in j.notes)


def test_a_ledger_column_that_only_looks_like_entrances_is_not_used(buildings):
    ledger = pd.DataFrame({"building_id": ["b1", "b1"], "单元": ["1单元", "2单元"]})
    j = join_ledger(buildings, ledger)
    assert "units" not in j.buildings.columns
    assert any("column '单元' does not hold numbers (e.g. '1单元'); not used for entrances" in n for n in j.notes)
    with pytest.raises(InputError, match=r"values of '单元' are not whole numbers >= 0, e.g. '1单元'"):
        join_ledger(buildings, ledger, units_field="单元")


def test_bad_ledger_storeys_are_errors_naming_the_buildings(buildings):
    j = join_ledger(buildings, pd.DataFrame({"building_id": ["b2"], "households": [10], "levels": ["400"]}))
    with pytest.raises(InputError, match=r"1 value of 'levels' is above 150 .*\['b2'\]"):
        prepare(j.buildings)


def test_a_csv_ledger_of_lon_lat_points_joins_the_building_each_point_lies_in(buildings, tmp_path):
    (x1, y1), (x2, y2), (x3, y3) = deg(15, 12), deg(12, 10), deg(40, 57)  # b1, b1, b4
    path = tmp_path / "台账.csv"
    path.write_text(f"户主,经度,纬度,户数\n张,{x1},{y1},20\n李,{x2},{y2},5\n王,{x3},{y3},30\n赵,118.9,32.1,7\n",
                    encoding="gb18030")
    j = join_ledger(_no_hh(buildings), path)
    hh = j.buildings.set_index("building_id")["households"]
    assert hh["b1"] == 25 and hh["b4"] == 30 and j.matched == 2
    assert j.unmatched_rows == ("row 5 at (118.9, 32.1)",)
    assert any("no key column 'building_id'; each row joins the building its point ('经度', '纬度', WGS84 degrees)"
               in n for n in j.notes)
    assert any("1 key matches no building ['row 5 at (118.9, 32.1)']" in n for n in j.notes)


def test_a_ledger_of_x_y_points_is_in_the_buildings_crs(buildings):
    utm = _no_hh(buildings).to_crs(32650)
    c = utm.geometry.iloc[2].centroid
    j = join_ledger(utm, pd.DataFrame({"x": [str(c.x)], "y": [str(c.y)], "households": ["12"]}))
    assert j.buildings.set_index("building_id").loc["b3", "households"] == 12 and j.matched == 1
    with pytest.raises(InputError, match=r"ledger: 1 row without a number in 'x' or 'y' \(rows \[3\] of the file\)"):
        join_ledger(utm, pd.DataFrame({"x": [str(c.x), ""], "y": [str(c.y), "1"], "households": ["12", "3"]}))
    with pytest.raises(InputError, match=r"no key column 'bid'; did you mean 'building_id'\? \(columns"):
        join_ledger(utm, pd.DataFrame({"building_id": ["b1"], "households": ["3"]}), key="bid")
