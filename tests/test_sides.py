"""One 四至: every deliverable of one plan (code tables, GeoPackage and shapefile attributes, sheets,
``new_communities.csv``) names the same four sides, from one function over the final polygons, computed once
per plan and level; a side is empty only when nothing borders it."""
from __future__ import annotations

import contextlib

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

import gridplan.outputs.sheets as sheets_module
import gridplan.outputs.tables as tables
from gridplan.outputs.deliver import export_plan
from gridplan.outputs.reader import read_plan
from gridplan.outputs.sheets import cjk_font, write_sheets
from gridplan.outputs.tables import SIDES, four_sides, unit_sides
from gridplan.planning.diff import diff, state_from_communities
from gridplan.planning.redistrict import redistrict
from gridplan.sample import make_district

LAYERS = {"community": "communities", "grid": "grids", "micro": "micro_grids"}
CSV = {"community": "community_codes.csv", "grid": "grid_codes.csv", "micro": "micro_grid_codes.csv"}
ZH = dict(zip(SIDES, ("东至", "南至", "西至", "北至")))


def _keyed(df: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """code → (east, south, west, north), missing text as ''."""
    df = df.rename(columns=lambda c: c.split(" ")[-1])  # CSV headers are '东至 east'
    return {str(c): tuple("" if pd.isna(v) else str(v) for v in row) for c, row in zip(df["code"], df[list(SIDES)].to_numpy())}


def _sheet_text(sides: tuple[str, ...]) -> str:
    return "四至  " + "；".join(f"{ZH[s]} {v or '—'}" for s, v in zip(SIDES, sides))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A 7,000-household district of 2 old communities re-districted into 3, with every deliverable written:
    the plan directory and its change list, the delivery (shp, gpkg, csv) and the sheets (their 四至 lines)."""
    d = make_district(households=7000, communities=2)
    r = redistrict(d.buildings, d.roads, d.communities, count=3, seed=0, start_date="2026-01-01")
    root = tmp_path_factory.mktemp("sides")
    r.plan.write(root / "plan", map_html=False)
    r.changes.write(root / "plan")
    back = read_plan(root / "plan")
    delivery = export_plan(back, root / "delivery", formats="shp,gpkg,csv")
    shown: dict[tuple[str, str], str] = {}

    def recording(plan, level, code, **kw):
        fig = figure(plan, level, code, **kw)
        shown[(level, code)] = next(t.get_text() for t in fig.texts if t.get_text().startswith("四至"))
        return fig

    figure = sheets_module.sheet_figure
    warns = contextlib.nullcontext() if cjk_font() else pytest.warns(UserWarning, match="fonts-noto-cjk")
    with pytest.MonkeyPatch.context() as mp, warns:
        mp.setattr(sheets_module, "sheet_figure", recording)
        write_sheets(back, root / "sheets", dpi=20, pdf=False)
    return {"redistricting": r, "plan": back, "dir": root / "plan", "delivery": delivery.path, "sheets": shown}


@pytest.mark.parametrize("level", list(LAYERS))
def test_code_tables_gpkg_and_shapefiles_name_the_same_sides(written, level):
    table = _keyed(pd.read_csv(written["delivery"] / CSV[level], dtype=str, encoding="utf-8-sig"))
    gpkg = _keyed(pyogrio.read_dataframe(written["delivery"] / "gridplan.gpkg", layer=LAYERS[level]))
    name = LAYERS[level]
    shp = _keyed(pyogrio.read_dataframe(f"/vsizip/{written['delivery'] / f'{name}.shp.zip'}/{name}.shp"))
    units = written["redistricting"].plan.layer(level)
    in_memory = _keyed(unit_sides(written["redistricting"].plan, level).assign(code=units["code"].astype(str).to_numpy()))
    assert len(table) == len(units) > 0
    assert gpkg == table and shp == table and in_memory == table  # the plan as made and as read back agree


def test_sheets_show_the_code_tables_sides(written):
    for level in ("community", "grid"):
        table = _keyed(pd.read_csv(written["delivery"] / CSV[level], dtype=str, encoding="utf-8-sig"))
        sheets = {code: text for (lv, code), text in written["sheets"].items() if lv == level}
        assert sheets == {code: _sheet_text(sides) for code, sides in table.items()}


def test_new_communities_csv_names_the_code_tables_sides(written):
    new = pd.read_csv(written["dir"] / "new_communities.csv", dtype=str)
    table = _keyed(pd.read_csv(written["delivery"] / CSV["community"], dtype=str, encoding="utf-8-sig"))
    listed = _keyed(new)
    assert len(listed) == written["redistricting"].changes.summary["units"]["community"]["new"] >= 2
    assert listed == {code: table[code] for code in listed}


def test_no_community_or_grid_side_is_left_empty(written):
    for level in ("community", "grid"):
        table = pd.read_csv(written["delivery"] / CSV[level], dtype=str, encoding="utf-8-sig").fillna("")
        assert (table[[f"{ZH[s]} {s}" for s in SIDES]] != "").all(axis=None), level


def test_a_side_a_grid_names_a_street_on_is_never_empty_on_its_community(written):
    tables_ = {lv: pd.read_csv(written["delivery"] / CSV[lv], dtype=str, encoding="utf-8-sig").fillna("")
               .rename(columns=lambda c: c.split(" ")[-1]).set_index("code") for lv in ("community", "grid")}
    streets = set(written["plan"].input_barriers["name"].dropna().astype(str))
    named = [(g["parent_code"], s) for _, g in tables_["grid"].iterrows() for s in SIDES if set(g[s].split("、")) & streets]
    assert len(named) > 10  # grids do name streets on their sides
    assert [(c, s) for c, s in named if tables_["community"].loc[c, s] == ""] == []


def test_sides_are_computed_once_per_plan_and_level(written, monkeypatch):
    plan = read_plan(written["dir"])
    calls = []
    monkeypatch.setattr(tables, "four_sides", lambda *a, **k: calls.append(1) or four_sides(*a, **k))
    export_plan(plan, written["dir"].parent / "again", formats="gpkg,csv")
    old = state_from_communities(make_district(households=7000, communities=2).communities, plan)
    changes = diff(old, plan)  # new_communities.csv from the cached community sides
    assert len(calls) == 3 and len(changes.new_communities) >= 2


#: A 400 m × 100 m unit: 后标路 runs along 60 m of its north side only (under a quarter of it), a unit lies
#: beyond its west side and nothing beyond its south side; 长江路 runs along all of its east side.
#:
#:        后标路 ──                 (y = 105, x = 0..60)
#:     ┌──────────────────────────────┐
#:  W  │ A (0..400 × 0..100)          │ │ 长江路 (x = 405)
#:     └──────────────────────────────┘
A = shapely.box(0, 0, 400, 100)
WEST = shapely.box(-200, 0, 0, 100)
ROADS = gpd.GeoDataFrame({"name": ["后标路", "长江路"], "tier": [3, 2]},
                         geometry=[shapely.LineString([(0, 105), (60, 105)]), shapely.LineString([(405, -50), (405, 150)])],
                         crs=32650)


def test_a_street_along_a_small_part_of_a_side_names_it():
    units = gpd.GeoDataFrame({"code": ["a", "w"]}, geometry=[A, WEST], crs=32650)
    sides = four_sides(units, ROADS, names=pd.Series(["甲社区", "西社区"])).iloc[0].to_dict()
    assert sides == {"east": "长江路", "south": "", "west": "西社区", "north": "后标路"}


def test_a_street_wins_over_a_neighbour_along_the_same_side():
    north = shapely.box(0, 100, 400, 300)  # a neighbour beyond all of the north side, 后标路 along 60 m of it
    units = gpd.GeoDataFrame({"code": ["a", "n"]}, geometry=[A, north], crs=32650)
    assert four_sides(units, ROADS).iloc[0]["north"] == "后标路"
    assert four_sides(units, ROADS.iloc[:0]).iloc[0]["north"] == "n"  # with no street, the neighbour
