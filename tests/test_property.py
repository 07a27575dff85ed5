"""Property test: awkward districts either plan, and the plan passes the referee, or are refused with an InputError.

Hypothesis draws small districts from a catalogue of awkward geometry: slivers, duplicate and overlapping
footprints, buildings on a river line or inside a water polygon, tiny and huge buildings, blocks with no
households, an island in a lake. The referee (``../shared/tools/checkplan.py``) judges each plan without
gridplan code; the test skips when it is absent (a fresh clone). Deterministic (``derandomize``) and small
(``max_examples``), so CI sees the same examples every run in well under a minute.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
from conftest import box_m, deg, line_m, referee_plan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon

from gridplan.errors import InputError
from gridplan.planning.plan import plan

CHECKPLAN = Path(__file__).resolve().parents[2] / "shared" / "tools" / "checkplan.py"
pytestmark = pytest.mark.skipif(not CHECKPLAN.exists(), reason="../shared/tools/checkplan.py is absent (a fresh clone)")

#: Once known: a building of 0.5 m × 0.5 m with 600 households was divided between two grids and its parts lay
#: outside their grid polygon; such a footprint is no longer divided (atoms.MIN_SLICE_AREA). True caps tiny
#: buildings at 130 households again, should it come back.
TOLERATE_TINY_DIVIDED = False

#: What a building can be: (width m, height m) and how it is placed.
KINDS = ("house", "sliver", "tiny", "huge", "duplicate", "overlap", "on_river", "in_lake", "island")


def _ring_m(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [deg(x0, y0), deg(x1, y0), deg(x1, y1), deg(x0, y1)]


@st.composite
def districts(draw) -> tuple:
    """A district as plain values (so a failing example prints readably): the kind and households of each
    plot, whether the lake and the primary road are there. See :func:`build` for the geometry."""
    n = draw(st.integers(3, 12))
    kinds = tuple(draw(st.lists(st.sampled_from(KINDS), min_size=n, max_size=n)))
    households = tuple(draw(st.sampled_from([0, 0, 1, 25, 60, 130, 600, 5000])) for _ in range(n))
    return kinds, households, draw(st.booleans()), draw(st.booleans())


def build(kinds, households, lake, road) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Buildings and barriers of a district about 400 m × 300 m: a grid of plots 55 m × 60 m apart, a river
    at x = 200 m, optionally a lake (290–360 × 190–260 m, with an island) and a primary road at y = 65 m."""
    geoms = []
    for i, kind in enumerate(kinds):
        x, y = 10 + 55 * (i % 7), 10 + 60 * (i // 7)
        if kind == "sliver":
            g = box_m(x, y, 40, 0.3)
        elif kind == "tiny":
            g = box_m(x, y, 0.5, 0.5)
        elif kind == "huge":
            g = box_m(x, y, 45, 50)
        elif kind == "duplicate" and geoms:
            g = geoms[-1]
        elif kind == "overlap" and geoms:
            dx = deg(8, 0)[0] - deg(0, 0)[0]
            g = Polygon([(a + dx, b) for a, b in geoms[-1].exterior.coords])
        elif kind == "on_river":
            g = box_m(195, y, 20, 15)  # astride the river
        elif kind == "in_lake":
            g = box_m(295 + (i % 3) * 15, 245, 10, 10)  # in the lake (on the water when the lake is there)
        elif kind == "island":
            g = box_m(320, 215, 12, 12)  # on the island
        else:
            g = box_m(x, y, 20, 15)
        geoms.append(g)
    if TOLERATE_TINY_DIVIDED:  # a tiny building divided between grids: known, see the test below
        households = [min(h, 130) if k == "tiny" else h for k, h in zip(kinds, households)]
    b = gpd.GeoDataFrame({"building_id": [f"b{i}" for i in range(len(kinds))], "households": list(households)},
                         geometry=geoms, crs=4326)
    rows = [({"waterway": "river", "name": "东河"}, line_m((200, -50), (200, 350)))]
    if lake:
        rows.append(({"natural": "water", "name": "湖"}, Polygon(_ring_m(290, 190, 360, 260), [_ring_m(315, 210, 340, 235)])))
    if road:
        rows.append(({"highway": "primary", "name": "中山路"}, line_m((-20, 65), (420, 65))))
    return b, gpd.GeoDataFrame([r[0] for r in rows], geometry=[r[1] for r in rows], crs=4326)


def _referee(p, directory: Path) -> subprocess.CompletedProcess:
    return referee_plan(p, directory, timeout=300)


def _on_water(b: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame) -> set[str]:
    water = barriers[barriers.get("natural", "") == "water"] if "natural" in barriers.columns else barriers.iloc[:0]
    return set(b.loc[b.intersects(water.union_all()), "building_id"]) if len(water) else set()


def _outside_ids(stdout: str) -> set[str] | None:
    """The ids of 'N buildings lie outside their grid polygon, e.g. [...]' when that is the only hard failure."""
    fails = [line for line in stdout.splitlines() if line.startswith("FAIL")]
    if len(fails) != 1 or "lie outside their grid polygon" not in fails[0] or "N/A" in fails[0]:
        return None
    return set(re.findall(r"'([^']+)'", fails[0]))


#: Once known: a building inside a water polygon got no land of its own and lay outside its grid; such a
#: building is now left out and listed (validate.prepare, as for OSM). True tolerates that failure again.
TOLERATE_BUILDINGS_ON_WATER = False


@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(district=districts())
def test_awkward_districts_plan_and_pass_the_referee_or_are_refused(district, tmp_path_factory):
    b, barriers = build(*district)
    try:
        p = plan(b, barriers, seed=0, start_date="2024-01-01")
    except InputError:
        return  # refused with a message naming the problem: allowed
    res = _referee(p, tmp_path_factory.mktemp("plan"))
    if res.returncode != 0 and TOLERATE_BUILDINGS_ON_WATER:
        outside = _outside_ids(res.stdout)
        assert outside is not None and outside <= _on_water(b, barriers), repr(district) + res.stdout[-3000:] + res.stderr[-2000:]
    else:
        assert res.returncode == 0, repr(district) + res.stdout[-3000:] + res.stderr[-2000:]
    # no unit without households or land goes unexplained, and every unit out of range is explained
    listed = {(e["level"], e["code"]) for e in p.report["empty_units"]}
    for level, table in (("community", p.communities), ("grid", p.grids), ("micro", p.micro_grids)):
        bad = table[(table["households"] == 0) | table.geometry.is_empty]
        assert {(level, c) for c in bad["code"].astype(str)} <= listed, level
    assert all(o["explained_in_infeasible"] for o in p.report["out_of_range"])


def test_a_building_on_the_water_is_left_out_and_listed(tmp_path):
    """The minimal example the property test found: one house, one building of 130 households in a lake."""
    b, barriers = build(("house", "in_lake"), (130, 130), True, False)
    p = plan(b, barriers, seed=0, start_date="2024-01-01")
    res = _referee(p, tmp_path)
    assert res.returncode == 0, res.stdout[-2000:]
    assert set(p.buildings["building_id"].astype(str)) == {"b0"} and any("standing on water" in n for n in p.report["input"]["notes"])


def test_a_tiny_building_is_not_divided_and_its_shortfall_is_explained(tmp_path):
    """The minimal example the property test found: four tiny buildings, one of them with 600 households."""
    b, _ = build(("tiny",) * 4, (0, 0, 0, 0), False, False)
    b["households"] = [600, 0, 0, 0]  # past build()'s cap
    p = plan(b, None, seed=0, start_date="2024-01-01")
    res = _referee(p, tmp_path)
    assert res.returncode == 0, res.stdout[-2000:]
    assert not p.report["divided_buildings"] and all(o["explained_in_infeasible"] for o in p.report["out_of_range"])
