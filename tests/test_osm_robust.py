"""Real OSM extracts that broke: long prologs, compressed XML, closed ways cut by the clip, buildings on water,
bridges and piers, neighbourhood-size land use taken for gated compounds. Fixtures are hand-made OSM XML."""
from __future__ import annotations

import bz2
import gzip
import json
import subprocess
from pathlib import Path

import pytest
from conftest import OSM_RELATIONS, OSM_WAYS, SHARED, referee, write_osm_xml
from typer.testing import CliRunner

from gridplan.cli import app
from gridplan.errors import InputError
from gridplan.inputs.formats import PROLOG_BYTES, sniff, sniff_bytes
from gridplan.inputs.io import read_layer, read_osm
from gridplan.inputs.osm import load_osm

CHECKPLAN = SHARED.parent / "tools" / "checkplan.py"
needs_referee = pytest.mark.skipif(not CHECKPLAN.exists(), reason="../shared is absent (a fresh clone)")
#: what an export wizard writes before <osm: a licence comment of 1,459 bytes, and a processing instruction
WIZARD = ("<!-- " + "Exported with a map export wizard; data (c) OpenStreetMap contributors, ODbL. " * 19)[:1456] + "-->"
SMALL = ["--grid-size", "10:200", "--micro-size", "5:60", "--community-size", "10:1000"]


def _with_prolog(path: Path, prolog: str) -> str:
    decl, rest = path.read_text(encoding="utf-8").split("\n", 1)
    return f"{decl}\n{prolog}\n{rest}"


def _referee(plan_dir: Path) -> subprocess.CompletedProcess:
    return referee(plan_dir, *[a for pair in zip(("--grid", "--micro", "--community"), SMALL[1::2]) for a in pair])


# ---- 1. a prolog before <osm ----------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, opener", [(".osm", open), (".osm.xml.gz", gzip.open), (".osm.bz2", bz2.open)])
def test_a_comment_and_processing_instruction_before_osm_are_read(tmp_path, suffix, opener, osm_extract):
    text = _with_prolog(osm_extract, WIZARD + '\n<?xml-stylesheet href="osm.xsl"?>')
    path = tmp_path / f"wizard{suffix}"
    with opener(path, "wt", encoding="utf-8") as f:
        f.write(text)
    assert sniff(path) == {".osm": "osm", ".osm.xml.gz": "gzip", ".osm.bz2": "bz2"}[suffix]
    plain = read_osm(osm_extract)
    data = read_osm(path)
    assert sorted(data.buildings["building_id"]) == sorted(plain.buildings["building_id"])
    assert len(data.barriers) == len(plain.barriers) and data.clipped == plain.clipped == ("w18",)
    assert len(read_layer(path, role="barriers")) == len(plain.barriers)


def test_a_prolog_longer_than_the_first_read_is_recognised(tmp_path, osm_extract):
    path = tmp_path / "long.osm"
    path.write_text(_with_prolog(osm_extract, WIZARD * 10), encoding="utf-8")  # 14,590 bytes of comments
    assert sniff(path) == "osm"
    assert len(load_osm(path).buildings) == 10
    endless = tmp_path / "endless.osm"
    endless.write_text("<!-- " + "x" * PROLOG_BYTES + " -->\n<osm version='0.6'></osm>", encoding="utf-8")
    assert sniff(endless) is None
    with pytest.raises(InputError, match="not an OSM extract"):
        read_osm(endless)


@pytest.mark.parametrize("head", [
    b'<?xml version="1.0"?>\n<!DOCTYPE osm [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<osm version="0.6">',
    b'<!-- <osm version="0.6"> -->\n<OGRVRTDataSource>',
    b'<?xml version="1.0"?>\n<!-- a comment -->\n<gpx><osm version="0.6">',
])
def test_markup_that_is_not_an_osm_root_is_refused(head):
    assert sniff_bytes(head) is None


# ---- 2. closed ways the clip cut to one or two nodes ------------------------------------------------------

def _clipped_town(path: Path) -> Path:
    ways = dict(OSM_WAYS)
    ways[40] = ({"building": "yes"}, [(500, 500), None, None, None, (500, 500)])           # 1 node left
    ways[41] = ({"building": "yes"}, [(520, 500), (530, 500), None, None, (520, 500)])     # 2 nodes left
    ways[42] = ({"landuse": "residential"}, [(540, 500), (550, 500), None, (540, 500)])
    ways[43] = ({"barrier": "wall"}, [(560, 500), (570, 500), None, (560, 500)])
    ways[44] = ({"natural": "water"}, [(580, 500), None, (580, 500)])
    ways[56] = ({}, [(800, 600), None, None, None, (800, 600)])
    relations = dict(OSM_RELATIONS)
    relations[55] = ({"type": "multipolygon", "building": "yes"}, [(56, "outer")])  # its only way cut to 1 node
    return write_osm_xml(path, ways, relations)


def test_closed_ways_cut_to_one_or_two_nodes_are_left_out_and_listed(tmp_path):
    osm = load_osm(_clipped_town(tmp_path / "clipped.osm"))
    b = set(osm.buildings["building_id"])
    assert {"r10", "w13", "w19"} <= b and not b & {"w40", "w41", "r55", "w18"}  # the relation with a hole is read
    note = next(n for n in osm.notes if "cut by the extract's edge" in n)
    assert "left out 4 buildings" in note and all(i in note for i in ("w40", "w41", "r55", "w18"))
    assert any("left out 1 other features" in n and "w44" in n for n in osm.notes)
    assert set(osm.compounds["compound_id"]) == {"landuse:w30", "wall:w25"}  # no ring from 2 nodes


# ---- 3. buildings on water, on a bridge, on a pier, astride a railway --------------------------------------

def _sq(x0, y0, w, h):
    return [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h), (x0, y0)]


def _river_town(path: Path) -> Path:
    """Two banks of a 60 m river (natural=water, x 200-260), a primary road bridging it at y 150 and a railway at
    y -50; homes on both banks, and five awkward buildings::

        y 300   [w]                   ~~[w71 pontoon]~~          [e]
        y 250   [w] [w72 pier======]~~~~~~~~~~~~~~~~~           [e]
        y 200   [w]          [w75 jetty=====]~~~~~~~~~~         [e]
        y 150 ==========================[w73 station]===========  (bridge, highway=primary)
        y 0     [w] [w]               ~~~~~~~~~~~~~~~~          [e] [e]
        y -50 --[w74 astride]--------------------------------------  (railway, tier 1)
    """
    ways: dict[int, tuple[dict, list]] = {}
    wid = 100
    for x0 in (0, 60, 120, 290, 350, 410):
        for y0 in (-20, 10, 60, 100, 190, 230, 280, 320):
            ways[wid] = ({"building": "apartments", "building:levels": "4"}, _sq(x0, y0, 24, 14))
            wid += 1
    ways[60] = ({"natural": "water", "name": "清河"}, _sq(200, -120, 60, 560))
    ways[61] = ({"highway": "primary", "name": "长桥路"}, [(-60, 150), (200, 150)])
    ways[62] = ({"highway": "primary", "name": "长桥路", "bridge": "yes", "layer": "1"}, [(200, 150), (260, 150)])
    ways[63] = ({"highway": "primary", "name": "长桥路"}, [(260, 150), (500, 150)])
    ways[64] = ({"railway": "rail"}, [(-60, -50), (500, -50)])
    ways[65] = ({"highway": "residential"}, [(100, -120), (100, 440)])
    ways[71] = ({"building": "houseboat", "name": "浮船坞"}, _sq(215, 300, 30, 10))        # wholly on water
    ways[72] = ({"building": "yes", "name": "码头仓库"}, _sq(170, 250, 40, 12))           # a pier: 30 of 40 m on land
    ways[75] = ({"building": "yes", "name": "栈桥"}, _sq(190, 200, 40, 8))                # a jetty: 10 of 40 m on land
    ways[73] = ({"building": "train_station", "name": "桥站"}, _sq(220, 146, 20, 8))     # on the bridge
    ways[74] = ({"building": "apartments", "building:levels": "3"}, _sq(20, -58, 30, 16))  # astride the railway
    return write_osm_xml(path, ways, {})


def test_a_river_town_plans_and_passes_the_referee(tmp_path):
    out = tmp_path / "plan"
    res = CliRunner().invoke(app, ["plan", "--osm", str(_river_town(tmp_path / "river.osm")), "--out", str(out), "-q",
                                   *SMALL])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    note = next(n for n in report["input"]["notes"] if "standing on water" in n)
    assert "left out 3 buildings" in note
    assert all(f"{w} on natural=water 清河" in note for w in ("w71", "w73", "w75"))
    import pandas as pd

    roster = pd.read_csv(out / "buildings.csv").drop_duplicates("building_id").set_index("building_id")
    assert not roster.index.isin(["w71", "w73", "w75"]).any() and {"w72", "w74"} <= set(roster.index)
    assert len(roster) == 48 + 2
    ref = _referee(out)
    assert ref.returncode == 0, ref.stdout[-3000:] + ref.stderr[-2000:]
    assert "checkplan: PASS" in ref.stdout


# ---- 4. residential neighbourhoods are not gated compounds ------------------------------------------------

def test_a_residential_neighbourhood_is_no_compound_but_a_walled_area_of_any_size_is(tmp_path):
    from gridplan.inputs.compounds import compound_cover

    ways = dict(OSM_WAYS)
    ways[90] = ({"landuse": "residential", "name": "老城片区"}, _sq(-100, -200, 700, 700))   # 49 ha: a neighbourhood
    ways[91] = ({"barrier": "wall", "name": "大院"}, _sq(550, -200, 400, 400))              # 16 ha, walled
    ways[92] = ({"building": "yes"}, _sq(600, -150, 20, 15))
    ways[93] = ({"building": "yes"}, _sq(300, 400, 20, 15))                                 # only in the quarter
    osm = load_osm(write_osm_xml(tmp_path / "quarter.osm", ways, OSM_RELATIONS))
    b = osm.buildings.set_index("building_id")
    assert b.loc["w93", "compound"] is None and b.loc["w93", "in_residential"]  # residential land, no compound
    assert b.loc["w92", "compound"] == "wall:w91"
    assert b.loc[["w16", "w17", "w19"], "compound"].eq("landuse:w30").all()  # the 1.8 ha estate inside the quarter
    assert "landuse:w90" not in set(osm.compounds["compound_id"])
    assert any("1 landuse=residential areas over 10 ha are neighbourhoods" in n for n in osm.notes)
    cover = compound_cover(osm.buildings)
    assert (cover.compounds, cover.buildings, cover.of_buildings) == (3, 6, 12)
    assert str(cover).startswith("3 compounds hold 6 of 12 buildings (50%)")


# ---- 5. every real extract plans and passes the referee (slow) -------------------------------------------

def _plan_real(source: Path, out: Path) -> dict:
    res = CliRunner().invoke(app, ["plan", "--osm", str(source), "--out", str(out), "-q", "--start-date", "2024-01-01"])
    assert res.exit_code == 0, res.output
    ref = referee(out)
    assert ref.returncode == 0 and "checkplan: PASS" in ref.stdout, ref.stdout[-3000:] + ref.stderr[-2000:]
    return json.loads((out / "report.json").read_text())


@pytest.mark.slow
@pytest.mark.shared
@needs_referee
@pytest.mark.parametrize("name", ["porto_2020.osm.pbf"])  # the .bz2 holds the same data; bz2 reading is tested on Monaco (test_io, test_osm_cli)
def test_referee_passes_on_the_large_real_extracts(name, tmp_path):
    report = _plan_real(SHARED / name, tmp_path / "plan")
    assert report["input"]["buildings"] > 11_000


@pytest.mark.slow
@pytest.mark.shared
@needs_referee
def test_a_real_extract_with_a_wizard_comment_gzipped_plans(tmp_path):
    text = (SHARED / "nanjing_xinjiekou.osm").read_text(encoding="utf-8")
    start = text.index("<osm")
    path = tmp_path / "nanjing.osm.xml.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text[:start] + WIZARD + "\n" + text[start:])
    report = _plan_real(path, tmp_path / "plan")
    assert report["input"]["buildings"] == 1_277 and report["input"]["households"] == 27_313  # as the plain file
