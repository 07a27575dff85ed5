"""Writing the plan directory: the files, their CRS and codes, the referee, and all-or-nothing writes."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely import affinity
from shapely.geometry import LineString, box

from gridplan.outputs import export
from gridplan.config import PlanConfig
from gridplan.errors import PlanWriteError
from gridplan.outputs.export import PLAN_FILES, to_geojson_layer, write_plan
from gridplan.model import Plan

CHECKPLAN = Path(__file__).resolve().parents[2] / "shared" / "tools" / "checkplan.py"
CRS = 32650
X0, Y0 = 660_000.0, 3_540_000.0
STREET = "010101001"  # a leading zero, so a code read as a number would show


def make_plan(*, barriers: bool = True, x0: float = X0, y0: float = Y0) -> Plan:
    """A 2 x 2 km plan in EPSG:32650: 2 communities, 5 grids, 5 micro-grids per grid.

    ::

        y=2000 +-----------+-----+-----+
               |   W-001   |     |     |
        y=1000 +-----+-----+E-001|E-002|   W = community ...001, E = community ...002
               |W-002|W-003|     |     |   a river (tier 1) runs along x=1000
        y=0    +-----+-----+-----+-----+
               x=0  500  1000  1500  2000

    Each grid is cut into 5 vertical strips (micro-grids), which makes T-junctions where strips
    meet a neighbour's edge. Every strip holds two 20 m buildings of 40 households (55 in grid W-003,
    so it is over range); the first strip of W-001 also holds one building of 30 households divided
    in two parts between strips 1 and 2.
    """
    cfg = PlanConfig(street_code=STREET)
    comm_boxes = {"001": (0, 0, 1000, 2000), "002": (1000, 0, 2000, 2000)}
    grid_boxes = {
        "001": {"001": (0, 1000, 1000, 2000), "002": (0, 0, 500, 1000), "003": (500, 0, 1000, 1000)},
        "002": {"001": (1000, 0, 1500, 2000), "002": (1500, 0, 2000, 2000)},
    }

    def sq(x, y, half=10.0):
        return box(x0 + x - half, y0 + y - half, x0 + x + half, y0 + y + half)

    comms, grids, micros, rows = [], [], [], []
    n = 0
    for cseq, (cx0, cy0, cx1, cy1) in comm_boxes.items():
        ccode = STREET + cseq
        comms.append({"code": ccode, "parent_code": STREET, "geometry": box(x0 + cx0, y0 + cy0, x0 + cx1, y0 + cy1)})
        for gseq, (gx0, gy0, gx1, gy1) in grid_boxes[cseq].items():
            gcode = ccode + gseq
            grids.append({"code": gcode, "parent_code": ccode, "geometry": box(x0 + gx0, y0 + gy0, x0 + gx1, y0 + gy1)})
            w = (gx1 - gx0) / 5
            hh = 55 if gcode.endswith("001003") else 40
            for k in range(5):
                mcode = gcode + f"{k + 1:03d}"
                mx0 = gx0 + k * w
                micros.append({"code": mcode, "parent_code": gcode, "geometry": box(x0 + mx0, y0 + gy0, x0 + mx0 + w, y0 + gy1)})
                for fy in (0.3, 0.7):
                    n += 1
                    rows.append({"building_id": f"{n:04d}", "households": hh, "community_code": ccode, "grid_code": gcode,
                                 "micro_code": mcode, "part": 0, "geometry": sq(mx0 + w / 2, gy0 + fy * (gy1 - gy0))})
    # one building across the first two strips of W-001 (x=200), divided by entrance
    whole = box(x0 + 180, y0 + 1480, x0 + 220, y0 + 1520)
    gcode = STREET + "001001"
    for part, (bx0, bx1) in enumerate(((180, 200), (200, 220)), start=1):
        rows.append({"building_id": "0999", "households": 15, "community_code": STREET + "001", "grid_code": gcode,
                     "micro_code": gcode + f"{part:03d}", "part": part, "geometry": box(x0 + bx0, y0 + 1480, x0 + bx1, y0 + 1520)})
    buildings = gpd.GeoDataFrame(rows, crs=CRS)

    def finish(units, key, size):
        g = gpd.GeoDataFrame(units, crs=CRS)
        by = buildings.groupby(key)
        g["households"] = g["code"].map(by["households"].sum()).astype(int)
        g["population"] = g["households"] * cfg.persons_per_household
        g["buildings"] = g["code"].map(by["building_id"].nunique()).astype(int)
        g["area_m2"] = g.area
        g["perimeter_m"] = g.length
        g["in_range"] = g["households"].between(size.lo, size.hi)
        return g[["code", "parent_code", "households", "population", "buildings", "area_m2", "perimeter_m", "in_range", "geometry"]]

    inputs = buildings.drop_duplicates("building_id")[["building_id"]].copy()
    inputs["households"] = inputs["building_id"].map(buildings.groupby("building_id")["households"].sum())
    inputs = gpd.GeoDataFrame(inputs, geometry=[whole if i == "0999" else g for i, g in
                                                zip(buildings.drop_duplicates("building_id")["building_id"],
                                                    buildings.drop_duplicates("building_id").geometry)], crs=CRS)
    river = gpd.GeoDataFrame({"tier": [1], "waterway": ["river"]}, geometry=[LineString([(x0 + 1000, y0 - 100), (x0 + 1000, y0 + 2100)])], crs=CRS)
    report = {
        "version": "0.1.0",
        "seed": np.int64(0),
        "levels": {"grid": {"count": np.int64(5), "cv_max": np.float64(0.1), "nan": np.float64("nan")}},
        "note": "新街口 sample",
        "infeasible": [],
    }
    return Plan(
        communities=finish(comms, "community_code", cfg.community),
        grids=finish(grids, "grid_code", cfg.grid),
        micro_grids=finish(micros, "micro_code", cfg.micro),
        buildings=buildings,
        report=report,
        input_buildings=inputs,
        input_barriers=river if barriers else gpd.GeoDataFrame({"tier": []}, geometry=gpd.GeoSeries([], crs=CRS)),
        config=cfg,
    )


@pytest.fixture
def plan() -> Plan:
    return make_plan()


@pytest.fixture
def written(tmp_path, plan) -> Path:
    return write_plan(plan, tmp_path / "out" / "plan")


def run_referee(d: Path, *extra: str) -> subprocess.CompletedProcess:
    if not CHECKPLAN.exists():
        pytest.skip(f"referee not found at {CHECKPLAN}")
    args = [sys.executable, str(CHECKPLAN), "--plan", str(d), "--buildings", str(d / "input_buildings.gpkg"), *extra]
    return subprocess.run(args, capture_output=True, text=True)


# ---- the files ----------------------------------------------------------------------------------


def test_writes_every_file_and_nothing_else(written, tmp_path):
    assert written == (tmp_path / "out" / "plan").absolute()
    from gridplan.planning.diff import CHANGE_FILES  # written by re-districting commands only

    assert sorted(p.name for p in written.iterdir()) == sorted(set(PLAN_FILES) - set(CHANGE_FILES))
    assert [p.name for p in written.parent.iterdir()] == ["plan"]  # no temp or backup left beside it


def test_plan_write_delegates(tmp_path, plan):
    out = plan.write(tmp_path / "p", map_html=False)
    assert (out / "report.json").exists()
    assert not (out / "map.html").exists()


@pytest.mark.parametrize("name", ["communities", "grids", "micro_grids"])
def test_geojson_layers_are_rfc7946_with_text_codes(written, plan, name):
    raw = json.loads((written / f"{name}.geojson").read_text(encoding="utf-8"))
    assert "crs" not in raw
    props = [f["properties"] for f in raw["features"]]
    assert all(isinstance(p["code"], str) and isinstance(p["parent_code"], str) for p in props)
    assert all(set(("households", "population", "buildings", "area_m2", "perimeter_m", "in_range")) <= set(p) for p in props)
    assert {p["code"] for p in props} == set(getattr(plan, name)["code"])
    assert all(p["code"].startswith("0") for p in props)

    g = gpd.read_file(written / f"{name}.geojson")
    assert g.crs.to_epsg() == 4326
    assert set(g.geom_type) == {"Polygon"}
    assert all(shapely.is_ccw(p.exterior) for p in g.geometry)
    assert g["code"].tolist() == getattr(plan, name)["code"].tolist()


@pytest.mark.parametrize("name", ["communities", "grids", "micro_grids"])
def test_shared_edges_stay_valid_and_disjoint_after_round_trip(written, plan, name):
    g = gpd.read_file(written / f"{name}.geojson").to_crs(CRS)
    geoms = g.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    overlap = shapely.area(shapely.intersection(geoms[i[i < j]], geoms[j[i < j]]))
    assert overlap.sum() < 0.01  # m², over all sibling pairs (T-junctions included)
    np.testing.assert_allclose(g.area, getattr(plan, name).area, rtol=1e-6)


def test_to_geojson_layer_orients_and_needs_a_crs():
    cw = shapely.Polygon([(0, 0), (0, 10), (10, 10), (10, 0)], holes=[[(2, 2), (4, 2), (4, 4), (2, 4)]])
    out = to_geojson_layer(gpd.GeoDataFrame(geometry=[affinity.translate(cw, X0, Y0)], crs=CRS))
    poly = out.geometry.iloc[0]
    assert out.crs.to_epsg() == 4326
    assert poly.exterior.is_ccw and not poly.interiors[0].is_ccw
    with pytest.raises(PlanWriteError, match="no CRS"):
        to_geojson_layer(gpd.GeoDataFrame(geometry=[cw]))


def test_buildings_csv(written, plan):
    r = pd.read_csv(written / "buildings.csv", dtype=str, keep_default_na=False)
    assert list(r.columns[:6]) == ["building_id", "households", "community_code", "grid_code", "micro_code", "part"]
    assert "geometry" not in r.columns
    assert len(r) == len(plan.buildings)
    assert r["building_id"].iloc[0] == "0001"
    assert r.loc[r["building_id"] == "0999", "part"].tolist() == ["1", "2"]
    assert r["micro_code"].str.len().eq(18).all() and r["community_code"].str.startswith("0").all()


def test_gpkg_layers_keep_the_plan_crs(written, plan):
    assert sorted(pyogrio.list_layers(written / "plan.gpkg")[:, 0]) == ["buildings", "communities", "grids", "micro_grids"]
    for name in ("communities", "grids", "micro_grids", "buildings"):
        g = gpd.read_file(written / "plan.gpkg", layer=name)
        assert g.crs.to_epsg() == CRS and len(g) == len(getattr(plan, name))
    b = gpd.read_file(written / "plan.gpkg", layer="buildings")
    assert b["building_id"].iloc[0] == "0001" and b["grid_code"].iloc[0].startswith("0")


def test_gpkg_dates_are_dates_booleans_booleans_and_read_back_as_text(tmp_path):
    import gridplan
    from gridplan.outputs.reader import read_plan
    from gridplan.sample import make_district

    d = make_district(households=3000, communities=1)
    p = gridplan.plan(d.buildings, d.roads, seed=1, start_date="2026-01-01")
    out = p.write(tmp_path / "p", map_html=False)
    info = pyogrio.read_info(out / "plan.gpkg", layer="grids")
    types = dict(zip(info["fields"], zip(info["ogr_types"], info["ogr_subtypes"])))
    assert types["start_date"] == ("OFTDate", "OFSTNone") and types["in_range"] == ("OFTInteger", "OFSTBoolean")
    back = read_plan(out)
    assert back.grids["start_date"].tolist() == ["2026-01-01"] * len(p.grids)


def test_report_json_round_trip(written):
    text = (written / "report.json").read_text(encoding="utf-8")
    assert "新街口" in text  # not \u-escaped
    assert json.loads(text) == {
        "version": "0.1.0",
        "seed": 0,
        "levels": {"grid": {"count": 5, "cv_max": 0.1, "nan": None}},
        "note": "新街口 sample",
        "infeasible": [],
    }


def test_inputs_written(written, plan):
    b = gpd.read_file(written / "input_buildings.gpkg")
    assert len(b) == len(plan.input_buildings) and {"building_id", "households"} <= set(b.columns)
    r = gpd.read_file(written / "input_barriers.gpkg")
    assert r.crs.to_epsg() == CRS and r["tier"].tolist() == [1]


def test_empty_barriers_give_an_empty_line_layer(tmp_path):
    d = write_plan(make_plan(barriers=False), tmp_path / "p", map_html=False)
    info = pyogrio.read_info(d / "input_barriers.gpkg")
    assert info["features"] == 0 and info["geometry_type"] == "LineString" and "tier" in info["fields"]
    assert gpd.read_file(d / "input_barriers.gpkg").crs.to_epsg() == CRS
    res = run_referee(d, "--barriers", str(d / "input_barriers.gpkg"))
    assert res.returncode == 0, res.stdout + res.stderr


def test_referee_passes(written):
    res = run_referee(written, "--barriers", str(written / "input_barriers.gpkg"), "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    figs = json.loads(res.stdout.splitlines()[0])
    assert figs["buildings"] == len(make_plan().input_buildings) and figs["buildings_divided"] == 1
    assert figs["tier1_barriers"] == 1 and figs["grids_tier1_crossings"] == 0


def test_missing_columns_are_listed(tmp_path, plan):
    broken = dataclasses.replace(plan, grids=plan.grids.drop(columns=["in_range", "area_m2"]))
    with pytest.raises(PlanWriteError, match=r"plan.grids lacks columns \['area_m2', 'in_range'\]"):
        write_plan(broken, tmp_path / "p")
    assert not (tmp_path / "p").exists()


# ---- all or nothing -----------------------------------------------------------------------------


def test_replaces_a_previous_plan(tmp_path, plan):
    d = write_plan(plan, tmp_path / "p", map_html=True)
    again = dataclasses.replace(plan, report={"run": 2})
    write_plan(again, d, map_html=False)
    assert json.loads((d / "report.json").read_text(encoding="utf-8")) == {"run": 2}
    assert not (d / "map.html").exists()  # the old directory went as a whole
    assert [p.name for p in tmp_path.iterdir()] == ["p"]


def test_writes_into_an_empty_directory(tmp_path, plan):
    (tmp_path / "p").mkdir()
    assert (write_plan(plan, tmp_path / "p", map_html=False) / "grids.geojson").exists()


def test_refuses_a_directory_that_is_not_a_plan(tmp_path, plan):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(PlanWriteError, match=r"(?s)mine.*not a gridplan plan directory.*notes\.txt.*--out"):
        write_plan(plan, d)
    assert [p.name for p in d.iterdir()] == ["notes.txt"] and (d / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_refuses_a_plan_directory_holding_user_files(tmp_path, plan):
    d = write_plan(plan, tmp_path / "p", map_html=False)
    (d / "my_edits.xlsx").write_bytes(b"x")
    with pytest.raises(PlanWriteError, match=r"my_edits\.xlsx.*--out"):
        write_plan(plan, d)
    assert (d / "my_edits.xlsx").exists() and (d / "report.json").exists()


def test_refuses_a_file(tmp_path, plan):
    f = tmp_path / "plan"
    f.write_text("x", encoding="utf-8")
    with pytest.raises(PlanWriteError, match="not a directory"):
        write_plan(plan, f)
    assert f.read_text(encoding="utf-8") == "x"


def _boom(*args, **kwargs):
    raise OSError("disk full")


def test_failure_mid_write_leaves_no_directory(tmp_path, plan, monkeypatch):
    monkeypatch.setattr(export, "_write_inputs", _boom)
    with pytest.raises(PlanWriteError, match="disk full") as info:
        write_plan(plan, tmp_path / "p")
    assert isinstance(info.value.__cause__, OSError)
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_write_keeps_the_previous_plan(tmp_path, plan, monkeypatch):
    d = write_plan(plan, tmp_path / "p", map_html=False)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    monkeypatch.setattr(export, "_write_map", _boom)
    with pytest.raises(PlanWriteError, match="disk full"):
        write_plan(dataclasses.replace(plan, report={"run": 2}), d)
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["p"]


# ---- descriptive columns reach every file -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def described_plan_dir(tmp_path_factory) -> Path:
    """A plan of a 3,000-household district whose buildings give name, address, type and compound name in Chinese."""
    import gridplan
    from gridplan.sample import make_district

    d = make_district(households=3000, communities=1)
    b = d.buildings.rename(columns={"name": "名称", "building": "建筑类型", "compound_name": "小区名称"})
    b["地址"] = [f"中山路{i + 1}号" for i in range(len(b))]
    p = gridplan.plan(b, d.roads, seed=1, start_date="2026-01-01")
    return p.write(tmp_path_factory.mktemp("described") / "plan", map_html=False)


def test_names_addresses_types_and_compound_names_reach_the_plan_files(described_plan_dir):
    from gridplan.outputs.parts import building_names
    from gridplan.outputs.reader import read_plan
    from gridplan.outputs.tables import roster

    d = described_plan_dir
    inputs = gpd.read_file(d / "input_buildings.gpkg")
    attrs = ["name", "address", "building", "compound_name"]
    assert set(attrs) <= set(inputs.columns)
    assert inputs["address"].notna().all() and inputs["name"].notna().all() and inputs["compound_name"].notna().any()
    by_id = inputs.set_index("building_id")
    for table in (pd.read_csv(d / "buildings.csv", dtype=str, keep_default_na=False),
                  gpd.read_file(d / "plan.gpkg", layer="buildings")):
        assert set(attrs) <= set(table.columns)
        assert table["address"].tolist() == by_id.loc[table["building_id"], "address"].tolist()  # parts too
        assert table["building"].tolist() == by_id.loc[table["building_id"], "building"].tolist()
    plan = read_plan(d)
    people = roster(plan)  # the delivered roster: the address column is filled
    assert (people["address"] != "").all() and people["address"].iloc[0].startswith("中山路")
    names = building_names(plan)  # the sheets' building labels
    assert names == dict(zip(inputs["building_id"], inputs["name"]))
    report = json.loads((d / "report.json").read_text(encoding="utf-8"))
    assert any(n.startswith("buildings: took the names from column '名称'") for n in report["input"]["notes"])


def test_every_unit_of_every_geojson_layer_has_its_name(tmp_path):
    """Kept communities keep their given name (their `name` column is set, not added twice); the others, and every
    grid and micro-grid, are named as the code tables name them."""
    from gridplan.outputs.tables import unit_names

    plan = make_plan()
    named = plan.communities.assign(name=["玄武社区", None])
    plan = dataclasses.replace(plan, communities=named)
    d = write_plan(plan, tmp_path / "p", map_html=False)
    expected = unit_names(plan)
    for level, layer in (("community", "communities"), ("grid", "grids"), ("micro", "micro_grids")):
        pairs = []  # every JSON object's keys, duplicates included
        features = json.loads((d / f"{layer}.geojson").read_text(encoding="utf-8"),
                              object_pairs_hook=lambda kv: pairs.append([k for k, _ in kv]) or dict(kv))["features"]
        assert len(features) == len(getattr(plan, layer))
        assert all(len(keys) == len(set(keys)) for keys in pairs)
        assert all("name" in f["properties"] for f in features)
        by_code = dict(zip(getattr(plan, layer)["code"], expected[level]))
        assert {f["properties"]["code"]: f["properties"]["name"] for f in features} == by_code
        assert list(pyogrio.read_info(d / f"{layer}.geojson")["fields"]).count("name") == 1
    communities = {f["properties"]["code"]: f["properties"]["name"]
                   for f in json.loads((d / "communities.geojson").read_text(encoding="utf-8"))["features"]}
    assert communities == {STREET + "001": "玄武社区", STREET + "002": "第2社区"}
    grids = json.loads((d / "grids.geojson").read_text(encoding="utf-8"))["features"]
    assert {f["properties"]["code"]: f["properties"]["name"] for f in grids}[STREET + "002001"] == "第2社区第1网格"
    micro = json.loads((d / "micro_grids.geojson").read_text(encoding="utf-8"))["features"]
    assert {f["properties"]["code"]: f["properties"]["name"] for f in micro}[STREET + "001001002"] == "玄武社区第1网格第2微网格"
