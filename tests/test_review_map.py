"""The review map: self-contained HTML (no CDN), three levels, deviation colours, tooltips, labels,
legend, report panel, basemaps (Tianditu key never written), --compare, divided buildings' parts, and its errors."""
from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from gridplan.cli import app
from gridplan.config import SizeRange
from gridplan.errors import OptionError, PlanWriteError
from gridplan.outputs.reader import read_plan
from gridplan.outputs.review_map import (CLASS_COLOURS, PARTS_TITLE, TIANDITU_KEY_ENV, changed_units, deviation_class, review_map,
                                         write_review_map)
from gridplan.outputs.parts import part_rows
from test_deliver import plan_dir
from test_rules import M1, M5, TOWER, W, W002, W003, tower_plan


@pytest.fixture(scope="module")
def plan():
    return read_plan(plan_dir())


@pytest.fixture(scope="module")
def page(plan):
    return review_map(plan)


def data_of(page: str) -> dict:
    blob = re.search(r'<script type="application/json" id="gridplan-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(blob)


def test_nothing_is_fetched_from_the_network(page):
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)\s*=""", page)  # nothing loaded by a tag
    assert not re.search(r"""url\(\s*["']?(https?:)?//""", page) and "@import" not in page
    assert "unpkg.com" not in page and "jsdelivr" not in page and data_of(page)["basemap"] == "none"
    assert "Leaflet 1.9.4" in page and "url(images/" not in page  # JS, CSS and icons inlined


def test_three_levels_every_unit_with_tooltip_fields(plan, page):
    data = data_of(page)
    layers = {lay["key"]: lay for lay in data["layers"]}
    assert list(layers) == ["community", "grid", "micro", "parts", "buildings"]  # the sample divides buildings between micro-grids
    assert [lay["show"] for lay in layers.values()] == [True, True, False, True, True]
    for key, attr in (("community", "communities"), ("grid", "grids"), ("micro", "micro_grids")):
        units = layers[key]["units"]
        assert sorted(u["c"] for u in units) == sorted(getattr(plan, attr)["code"].astype(str))
        assert all({"c", "n", "h", "b", "k", "g", "l"} <= set(u) for u in units)
        assert layers[key]["labelZoom"] is not None and 10 <= layers[key]["labelZoom"] <= 20
    assert layers["community"]["labelZoom"] <= layers["grid"]["labelZoom"] <= layers["micro"]["labelZoom"]


def test_units_coloured_by_deviation_from_target(plan, page):
    data = data_of(page)
    grid = next(lay for lay in data["layers"] if lay["key"] == "grid")
    expected = dict(zip(plan.grids["code"].astype(str), deviation_class(plan.grids["households"], plan.config.grid)))
    assert {u["c"]: u["k"] for u in grid["units"]} == expected
    assert set(data["classes"]) == set(CLASS_COLOURS)
    assert deviation_class([299, 300, 359, 400, 441, 500, 501], SizeRange(300, 500, 400)).tolist() == [
        "under", "below", "below", "near", "above", "above", "over"]


def test_panel_shows_the_report_figures(plan, page):
    panel = data_of(page)["panel"]
    assert "Plan figures" in panel and f"{plan.report['input']['households']:,}" in panel
    assert f"tier-2 crossings 跨主干路: {len(plan.report['crossings'])}" in panel


def test_geometry_is_simplified_and_compact(plan, page):
    units = next(lay for lay in data_of(page)["layers"] if lay["key"] == "micro")["units"]
    vertices = sum(len(ring) // 2 for u in units for poly in u["g"] for ring in poly)
    import shapely

    original = int(shapely.get_num_coordinates(plan.micro_grids.geometry.to_numpy()).sum())
    assert 0 < vertices < original


def test_osm_and_tianditu_basemaps_and_the_key_is_never_written(plan, monkeypatch):
    assert data_of(review_map(plan, basemap="osm"))["basemap"] == "osm"
    monkeypatch.setenv(TIANDITU_KEY_ENV, "0123456789abcdef0123456789abcdef")
    page = review_map(plan, basemap="tianditu")
    assert data_of(page)["basemap"] == "tianditu" and 'id="gp-tdt"' in data_of(page)["panel"]
    assert "tianditu.gov.cn" in page and "vec_w" in page and "cva_w" in page
    assert "0123456789abcdef0123456789abcdef" not in page


def test_tianditu_without_a_key_says_how_to_configure_it(plan, monkeypatch):
    monkeypatch.delenv(TIANDITU_KEY_ENV, raising=False)
    with pytest.raises(OptionError, match=rf"no Tianditu key is configured; set {TIANDITU_KEY_ENV}"):
        review_map(plan, basemap="tianditu")


def test_unknown_basemap_lists_the_choices(plan):
    with pytest.raises(OptionError, match="`basemap` was 'google'; expected one of 'none', 'osm', 'tianditu'"):
        review_map(plan, basemap="google")


def test_compare_adds_old_layers_and_marks_changed_units(plan):
    old = read_plan(plan_dir(2))
    data = data_of(review_map(plan, compare=old))
    keys = [lay["key"] for lay in data["layers"]]
    assert keys[:3] == ["old-community", "old-grid", "old-micro"] and "changed-grid" in keys
    changed = changed_units(plan.grids, old.grids)
    grid = next(lay for lay in data["layers"] if lay["key"] == "grid")
    assert {u["c"] for u in grid["units"] if "x" in u} == set(changed)
    marked = next(lay for lay in data["layers"] if lay["key"] == "changed-grid")
    assert {u["c"] for u in marked["units"]} == set(changed) and marked["changed"]
    assert changed_units(plan.grids, plan.grids) == {}


def test_write_replaces_only_our_own_maps(plan, tmp_path):
    path = write_review_map(plan, tmp_path / "map.html")
    assert write_review_map(plan, path) == path  # an earlier review map is replaced
    other = tmp_path / "notes.html"
    other.write_text("<html>mine</html>")
    with pytest.raises(PlanWriteError, match="exists and is not a gridplan review map; choose another --out"):
        write_review_map(plan, other)
    assert other.read_text() == "<html>mine</html>"
    with pytest.raises(PlanWriteError, match="is a directory; give the HTML file to write"):
        write_review_map(plan, tmp_path)


def test_cli_map(tmp_path, monkeypatch):
    runner = CliRunner()
    res = runner.invoke(app, ["map", str(plan_dir()), "--out", str(tmp_path / "m.html"), "--compare", str(plan_dir(2))])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.html").stat().st_size > 150_000
    monkeypatch.delenv(TIANDITU_KEY_ENV, raising=False)
    res = runner.invoke(app, ["map", str(plan_dir()), "--out", str(tmp_path / "t.html"), "--basemap", "tianditu"])
    assert res.exit_code == 2 and TIANDITU_KEY_ENV in res.output
    monkeypatch.setenv(TIANDITU_KEY_ENV, "k" * 32)
    res = runner.invoke(app, ["map", str(plan_dir()), "--out", str(tmp_path / "t.html"), "--basemap", "tianditu"])
    assert res.exit_code == 0 and "#tk=$GRIDPLAN_TIANDITU_KEY" in res.output and "k" * 32 not in res.output
    assert "k" * 32 not in (tmp_path / "t.html").read_text(encoding="utf-8")
    res = runner.invoke(app, ["map", str(tmp_path), "--out", str(tmp_path / "x.html")])
    assert res.exit_code == 2 and "is not a plan directory" in res.output


@pytest.fixture(scope="module")
def tower():
    return {lay["key"]: lay for lay in data_of(review_map(tower_plan()))["layers"]}


def test_divided_buildings_are_a_layer_of_parts_labelled_by_what_they_hold(tower):
    assert list(tower) == ["community", "grid", "micro", "parts", "buildings"]
    parts = tower["parts"]
    assert parts["title"] == PARTS_TITLE and parts["parts"] and parts["show"] and parts["fill"] > 0
    rows = [(u["t"], u["u"], u["codes"][1], u["codes"][2]) for u in parts["units"] if u["c"] == TOWER]
    assert rows == [("3号楼 1单元", 0, W002, M5), ("3号楼 2单元 1–15层", 0, W003, M1), ("3号楼 2单元 16–30层", 1, W002, M5)]
    assert [u["u"] for u in parts["units"]] == [0, 0, 0, 0, 1]  # the upper-floor-only part last: drawn on top
    shared = [u["g"] for u in parts["units"] if u["c"] == TOWER and u["t"].startswith("3号楼 2单元")]
    assert shared[0] == shared[1]  # floors 16-30 share the slice of entrance 2
    assert "3号楼 1单元 · 005\n3号楼 2单元 1–15层 · 001\n3号楼 2单元 16–30层 · 005" in [lab[2] for lab in parts["labels"]]
    assert 17 <= parts["labelZoom"] <= 20


def test_unit_tooltips_list_the_parts_they_hold(tower):
    grids = {u["c"]: u.get("p") for u in tower["grid"]["units"]}
    assert grids[W002] == "3号楼 1单元、2单元 16–30层" and grids[W003] == "3号楼 2单元 1–15层"
    assert sum(p is not None for p in grids.values()) == 2  # 0999 is divided only between micro-grids of one grid
    micro = {u["c"]: u.get("p") for u in tower["micro"]["units"]}
    assert micro[M5] == "3号楼 1单元、2单元 16–30层" and micro[M1] == "3号楼 2单元 1–15层"
    assert micro[W + "001001"] == "0999 1单元"


def test_a_plan_without_divided_buildings_has_no_parts_layer(plan):
    import dataclasses

    whole = plan.buildings[plan.buildings["part"] == 0]
    page = review_map(dataclasses.replace(plan, buildings=whole))
    assert [lay["key"] for lay in data_of(page)["layers"]] == ["community", "grid", "micro", "buildings"]
    assert len(part_rows(plan)) == (plan.buildings["part"] > 0).sum()


def test_compare_with_old_communities_draws_their_boundaries(plan):
    import geopandas as gpd

    from gridplan.outputs.review_map import OLD_COMMUNITIES_TITLE
    from gridplan.planning.diff import state_from_communities
    from gridplan.sample import make_district

    old = state_from_communities(make_district(households=3000, communities=1).communities, plan).layers["community"]
    data = data_of(review_map(plan, compare=old))
    layers = {lay["key"]: lay for lay in data["layers"]}
    assert list(layers) == ["old-community", "community", "grid", "micro", "parts", "buildings", "changed-community"]  # no old grids to compare
    shown = layers["old-community"]
    assert shown["title"] == OLD_COMMUNITIES_TITLE and shown["show"] and shown["fill"] == 0.0 and shown["dash"] == "6 4"
    assert [u["c"] for u in shown["units"]] == list(old["code"].astype(str)) and [u["n"] for u in shown["units"]] == list(old["name"])
    changed = changed_units(plan.communities, old)
    assert {u["c"] for u in layers["changed-community"]["units"]} == set(changed) and changed
    assert "compared with the old communities 与原社区比较: 1 old" in data["panel"]
    bare = gpd.GeoDataFrame({"code": ["320102001001"]}, geometry=old.geometry.to_numpy()[:1], crs=old.crs)
    with pytest.raises(OptionError, match="has no column 'households', 'buildings'; give the old communities with"):
        review_map(plan, compare=bare)


def test_cli_map_compares_with_an_old_communities_file(tmp_path):
    from gridplan.sample import make_district

    d = make_district(households=3000, communities=1)
    for name in ("old.gpkg", "old.geojson"):
        d.communities.to_file(tmp_path / name)
        res = runner_invoke(["map", str(plan_dir()), "--out", str(tmp_path / f"{name}.html"), "--compare", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        keys = [lay["key"] for lay in data_of((tmp_path / f"{name}.html").read_text(encoding="utf-8"))["layers"]]
        assert keys[0] == "old-community" and "old-grid" not in keys
    (tmp_path / "notes.txt").write_text("code,name\n1,a\n")
    res = runner_invoke(["map", str(plan_dir()), "--out", str(tmp_path / "bad.html"), "--compare", str(tmp_path / "notes.txt")])
    assert res.exit_code == 2 and "notes.txt" in res.output and not (tmp_path / "bad.html").exists()
    res = runner_invoke(["map", str(plan_dir()), "--out", str(tmp_path / "bad.html"), "--compare", str(tmp_path)])
    assert res.exit_code == 2 and "is not a plan directory" in res.output


def runner_invoke(args):
    return CliRunner().invoke(app, args)


def test_shares_below_one_never_print_as_100_percent():
    from gridplan.outputs.review_map import share_text

    assert [share_text(x) for x in (0.9996, 0.995, 1.0, 0.0, 0.5)] == ["99.9%", "99.5%", "100%", "0.0%", "50.0%"]


def test_buildings_layer_from_zoom_16_and_changed_layers_carry_no_second_label(plan):
    from gridplan.outputs.review_map import BUILDINGS_ZOOM

    data = data_of(review_map(plan, compare=read_plan(plan_dir(2))))
    layers = {lay["key"]: lay for lay in data["layers"]}
    b = layers["buildings"]
    assert b["minZoom"] == BUILDINGS_ZOOM == 16 and b["fill"] == 0.0
    assert sorted(u["c"] for u in b["units"]) == sorted(plan.buildings["building_id"].astype(str).unique())
    assert all(layers[k]["labelZoom"] is None for k in layers if k.startswith("changed-"))
    filled = [lay for lay in data["layers"] if lay["fill"] > 0 and not lay.get("parts") and not lay["changed"]]
    assert {lay["fill"] for lay in filled} == {0.35} and all(lay["level"] for lay in filled)
