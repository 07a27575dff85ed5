"""The first review map: three toggleable levels, grids coloured by range, tooltips, bounds, divided buildings' parts."""
from __future__ import annotations

import dataclasses
import json

import folium
import pytest

from gridplan.config import SizeRange
from gridplan.errors import OptionError
from gridplan.outputs.maps import LAYER_TITLES, STATUS_COLOURS, plan_map, range_status
from gridplan.outputs.review_map import PARTS_TITLE
from test_export import make_plan  # the hand-drawn plan (move to conftest.py when one exists)
from test_rules import W002, W003, tower_plan


@pytest.fixture(scope="module")
def plan():
    return make_plan()


def groups(m: folium.Map) -> dict[str, folium.FeatureGroup]:
    return {c.layer_name: c for c in m._children.values() if isinstance(c, folium.FeatureGroup)}


def test_three_toggleable_layers_micro_off(plan):
    m = plan_map(plan, basemap="none")
    g = groups(m)
    assert list(g) == [*LAYER_TITLES.values(), PARTS_TITLE]  # building 0999 is divided between two micro-grids
    assert [fg.show for fg in g.values()] == [True, True, False, True]
    assert any(isinstance(c, folium.LayerControl) for c in m._children.values())


def test_html_names_layers_and_every_unit(plan, tmp_path):
    plan_map(plan, basemap="none").save(str(tmp_path / "map.html"))
    html = (tmp_path / "map.html").read_text(encoding="utf-8")
    for title in LAYER_TITLES.values():
        assert json.dumps(title)[1:-1] in html
    for layer in (plan.communities, plan.grids, plan.micro_grids):
        for code in layer["code"]:
            assert f'"{code}"' in html
    assert "tile.openstreetmap.org" not in html


def test_osm_basemap_adds_tiles(plan):
    html = plan_map(plan).get_root().render()
    assert "tile.openstreetmap.org" in html


def test_bad_basemap_lists_the_choices(plan):
    with pytest.raises(OptionError, match="`basemap` was 'tiles'; expected one of 'none', 'osm'"):
        plan_map(plan, basemap="tiles")


def test_grids_coloured_by_range(plan):
    gj = next(c for c in groups(plan_map(plan, basemap="none"))[LAYER_TITLES["grid"]]._children.values())
    fill = {f["properties"]["code"]: gj.style_function(f)["fillColor"] for f in gj.data["features"]}
    over = plan.grids.loc[plan.grids["households"] > plan.config.grid.hi, "code"]
    assert set(over) == {c for c, col in fill.items() if col == STATUS_COLOURS["over"]} and len(over) == 1
    assert sum(col == STATUS_COLOURS["in range"] for col in fill.values()) == len(plan.grids) - 1
    props = gj.data["features"][0]["properties"]
    assert set(props) >= {"code", "households", "status", "range", "buildings", "parts"} and props["range"] == "300–500"


def test_range_status_bounds_are_inclusive():
    assert range_status([29, 30, 100, 101], SizeRange(30, 100)).tolist() == ["under", "in range", "in range", "over"]


def test_fits_the_plan_and_accepts_a_geographic_plan(plan):
    ll = dataclasses.replace(
        plan,
        communities=plan.communities.to_crs(4326),
        grids=plan.grids.to_crs(4326),
        micro_grids=plan.micro_grids.to_crs(4326),
    )
    for p in (plan, ll):
        m = plan_map(p, basemap="none")
        (s, w), (n, e) = next(c for c in m._children.values() if type(c).__name__ == "FitBounds").bounds
        minx, miny, maxx, maxy = plan.communities.to_crs(4326).total_bounds
        assert (s, w, n, e) == pytest.approx((miny, minx, maxy, maxx), abs=1e-9)


def test_parts_layer_and_tooltips_of_a_tower_divided_between_grids():
    g = groups(plan_map(tower_plan(), basemap="none"))
    grid = next(iter(g[LAYER_TITLES["grid"]]._children.values()))
    held = {f["properties"]["code"]: f["properties"]["parts"] for f in grid.data["features"]}
    assert held[W002] == "3号楼 1单元、2单元 16–30层" and held[W003] == "3号楼 2单元 1–15层"
    parts = next(iter(g[PARTS_TITLE]._children.values()))
    features = [f for f in parts.data["features"] if f["properties"]["building_id"] == "0900"]
    assert [(f["properties"]["label"], f["properties"]["grid_code"]) for f in features] == [
        ("3号楼 1单元", W002), ("3号楼 2单元 1–15层", W003), ("3号楼 2单元 16–30层", W002)]
    assert parts.data["features"][-1]["properties"]["upper"]  # drawn last, on top
    styles = [parts.style_function(f) for f in features]
    assert [s["dashArray"] for s in styles] == [None, None, "4 3"]
