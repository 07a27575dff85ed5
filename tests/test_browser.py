"""The review map in a real browser: headless Chromium (Debian: chromium), with every host unresolvable.

Checks: the page loads and finishes drawing with no network, the layer control and canvas are in the
DOM, no console message or uncaught error is logged, the only requests are Chromium's own, and the
screenshot is not blank (many pixels differ from the map's background). Skips when Chromium is absent.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gridplan.outputs.reader import read_plan
from gridplan.outputs.review_map import PARTS_TITLE, write_review_map
from test_deliver import plan_dir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is absent: apt-get install chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=5000", "--window-size=1200,900"]
BROWSER_OWN = re.compile(r"^https?://([a-z0-9-]+\.)*(google\.com|googleapis\.com|gstatic\.com|gvt1\.com)(/|:|$)")
# the page records uncaught errors on <html data-errors>, so --dump-dom shows them
ERROR_HOOK = ("<script>addEventListener('error',function(e){var h=document.documentElement;"
              "h.setAttribute('data-errors',(h.getAttribute('data-errors')||'')+e.message+'|')});</script>")


def run_chromium(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The map with --compare (a superset of the plain map's layers), loaded twice: DOM and screenshot."""
    tmp = tmp_path_factory.mktemp("browser")
    old = read_plan(plan_dir(2))
    page = write_review_map(read_plan(plan_dir()), tmp / "map.html", compare=old)
    html = page.read_text(encoding="utf-8")
    hooked = tmp / "hooked.html"
    hooked.write_text(html.replace("<head>", "<head>" + ERROR_HOOK, 1), encoding="utf-8")
    dom = run_chromium(hooked, tmp, f"--log-net-log={tmp / 'net.json'}", "--dump-dom")
    shot = run_chromium(page, tmp, f"--screenshot={tmp / 'shot.png'}")
    return {"dom": dom, "shot": shot, "png": tmp / "shot.png", "net": tmp / "net.json"}


def test_map_draws_with_the_layer_control(loaded):
    dom = loaded["dom"].stdout
    assert 'data-gridplan-ready="1"' in dom, loaded["dom"].stderr[-2000:]
    assert "leaflet-control-layers" in dom and "<canvas" in dom
    for title in ("Communities 社区", "Grids 网格", "Micro-grids 微网格", PARTS_TITLE):  # the sample divides buildings
        assert title in dom
    assert "gp-legend" in dom and "Plan figures" in dom and "part of a divided building" in dom


def test_no_console_messages_or_uncaught_errors(loaded):
    assert not re.search(r"<html[^>]*data-errors=", loaded["dom"].stdout)
    for run in (loaded["dom"], loaded["shot"]):
        console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
        assert console == []


def test_no_request_leaves_the_machine(loaded):
    urls = set(re.findall(r'"url":"([^"]+)"', loaded["net"].read_text(encoding="utf-8", errors="replace")))
    assert [u for u in urls if u.startswith("http") and not BROWSER_OWN.match(u)] == []


def test_screenshot_is_not_blank(loaded):
    from PIL import Image

    assert loaded["png"].exists(), loaded["shot"].stderr[-2000:]
    with Image.open(loaded["png"]) as img:
        rgb = np.asarray(img.convert("RGB")).reshape(-1, 3)
    background = np.all(rgb == (244, 244, 240), axis=1) | np.all(rgb == (255, 255, 255), axis=1)
    assert (~background).mean() > 0.15  # polygons cover much of the fitted view
    assert len(np.unique(rgb[~background], axis=0)) > 20  # fills, outlines and text, not one flat colour


# after the page is ready: search a building, then measure what is drawn (visible labels' boxes, zoom, buildings shown)
PROBE = """<script>setTimeout(function(){var h=document.documentElement;
h.setAttribute('data-hits', String(window.gridplanSearch(%s)));
setTimeout(function(){var m=window.gridplanMap, boxes=[], bad=0;
document.querySelectorAll('.gp-label').forEach(function(el){if(getComputedStyle(el).display==='none')return;
var r=el.getBoundingClientRect(); if(r.width>0&&r.height>0)boxes.push(r);});
for(var i=0;i<boxes.length;i++)for(var j=i+1;j<boxes.length;j++){var a=boxes[i],b=boxes[j];
if(a.left<b.right-1&&b.left<a.right-1&&a.top<b.bottom-1&&b.top<a.bottom-1)bad++;}
h.setAttribute('data-labels', String(boxes.length)); h.setAttribute('data-overlaps', String(bad));
h.setAttribute('data-zoom', String(m.getZoom()));},1500);},500);</script>"""


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    plan = read_plan(plan_dir())
    first = str(plan.buildings["building_id"].iloc[0])
    html = write_review_map(plan, tmp / "map.html").read_text(encoding="utf-8")
    probed = tmp / "probed.html"
    probed.write_text(html.replace("</body>", PROBE % repr(first) + "</body>", 1), encoding="utf-8")
    return first, run_chromium(probed, tmp, "--dump-dom").stdout


def test_search_finds_a_building_and_zooms_to_the_buildings_layer(searched):
    first, dom = searched
    assert 'data-hits="1"' in dom
    assert f'data-gridplan-found="{first}"' in dom
    zoom = int(re.search(r'data-zoom="(\d+)"', dom).group(1))
    assert zoom >= 16  # the buildings layer is shown from zoom 16


def test_no_two_visible_labels_overlap(searched):
    _, dom = searched
    assert int(re.search(r'data-labels="(\d+)"', dom).group(1)) > 0
    assert 'data-overlaps="0"' in dom
