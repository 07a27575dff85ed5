"""Real OSM extracts that broke: long prologs, compressed XML, closed ways cut by the clip, buildings on water,
bridges and piers, neighbourhood-size land use taken for gated compounds. Fixtures are hand-made OSM XML."""
from __future__ import annotations

import bz2
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OSM_RELATIONS, OSM_WAYS, SHARED, write_osm_xml
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
    return subprocess.run([sys.executable, str(CHECKPLAN), "--plan", str(plan_dir), "--buildings",
                           str(plan_dir / "input_buildings.gpkg"), "--barriers", str(plan_dir / "input_barriers.gpkg"),
                           *[a for pair in zip(("--grid", "--micro", "--community"), SMALL[1::2]) for a in pair]],
                          capture_output=True, text=True, check=False)


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
