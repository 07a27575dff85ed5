"""Door codes (以房找人): with a look-up URL, every building on a sheet carries a QR code of its look-up, and
every grid gets door-code pages of labels. The written PNGs are decoded with zxing-cpp and must give back
exactly the buildings' URLs (an id holding Chinese characters and ``/`` included); the PDFs keep the codes as
vector paths; bad templates are refused naming the option; without one the sheets are as before."""
from __future__ import annotations

import dataclasses
import json
import re
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
import shapely
import zxingcpp
from matplotlib.figure import Figure
from PIL import Image
from typer.testing import CliRunner

from gridplan.cli import app
from gridplan.errors import OptionError
from gridplan.outputs.doorcodes import LABELS_PER_PAGE, grid_buildings, lookup_link, lookup_template, page_count, place_codes
from gridplan.outputs.reader import read_plan
from gridplan.outputs.sheets import write_sheets
from test_deliver import plan_dir
from test_rules import tower_plan
from gridplan.outputs.sheets import cjk_font
from test_sheets import no_font_warning

TEMPLATE = "https://gridplan.example.org/v1/public/k3yAbCdEfGh1234567890/buildings/{building_id}"
ODD_ID = "北安路2号/甲"  # Chinese characters and a slash


def renamed(plan, old: str, new: str):
    """``plan`` with building ``old`` called ``new`` (in the roster and the input)."""
    def swap(gdf):
        gdf = gdf.copy()
        gdf[plan.id_field] = gdf[plan.id_field].astype(str).replace(old, new)
        return gdf

    return dataclasses.replace(plan, buildings=swap(plan.buildings), input_buildings=swap(plan.input_buildings))


@pytest.fixture(scope="module")
def plan():
    p = read_plan(plan_dir())
    return renamed(p, "B000001", ODD_ID)


@pytest.fixture(scope="module")
def written(plan, tmp_path_factory):
    with no_font_warning():
        return write_sheets(plan, tmp_path_factory.mktemp("doors") / "s", levels=("grid",), dpi=150, lookup_url=TEMPLATE)


def decoded(path) -> list[zxingcpp.Barcode]:
    with Image.open(path) as img:
        return list(zxingcpp.read_barcodes(img.convert("L")))


def expected_urls(plan, code: str) -> list[str]:
    ids = plan.buildings.loc[plan.buildings["grid_code"].astype(str) == code, plan.id_field].astype(str).unique()
    return sorted(lookup_link(TEMPLATE, i) for i in ids)


def test_the_codes_on_each_grid_sheet_scan_back_to_its_buildings_urls(plan, written):
    assert ODD_ID in set(plan.buildings[plan.id_field])
    for code in plan.grids["code"].astype(str):
        codes = decoded(written.path / f"grid_{code}.png")
        assert sorted(c.text for c in codes) == expected_urls(plan, code), code  # every building once, nothing else
        assert {c.format for c in codes} == {zxingcpp.BarcodeFormat.QRCode} and {c.ec_level for c in codes} == {"M"}
    odd = next(c for c in plan.grids["code"].astype(str) if lookup_link(TEMPLATE, ODD_ID) in expected_urls(plan, c))
    url = next(c.text for c in decoded(written.path / f"grid_{odd}.png") if "%2F" in c.text)
    assert unquote(url.rsplit("/", 1)[1]) == ODD_ID and url.startswith(TEMPLATE.split("{")[0])


def test_door_code_pages_hold_a_label_per_building_of_each_grid(plan, written):
    assert sum(f.startswith("doorcodes_") and f.endswith(".png") for f in written) == page_count(plan) == len(plan.grids)
    for code in plan.grids["code"].astype(str):
        codes = decoded(written.path / f"doorcodes_{code}.png")
        assert sorted(c.text for c in codes) == expected_urls(plan, code), code
        assert {c.ec_level for c in codes} == {"Q"}  # labels on doors: the higher error correction
    manifest = json.loads((written.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["lookup_url"] == TEMPLATE and "doorcodes.pdf" in manifest["files"]


def test_pdfs_keep_the_codes_as_vector_paths(plan, written):
    for name, pages in (("sheets.pdf", len(plan.grids)), ("doorcodes.pdf", page_count(plan))):
        pdf = (written.path / name).read_bytes()
        assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type /Page[\s/>]", pdf)) == pages
        assert b"/Subtype /Image" not in pdf  # no raster: the modules are filled paths, sharp at any print size


def test_a_grid_of_more_buildings_than_a_page_gets_more_pages(plan, tmp_path):
    from gridplan.outputs.doorcodes import door_pages
    from gridplan.outputs.tables import code_table

    code = str(plan.grids["code"].iloc[0])
    b = plan.buildings
    here = b[b["grid_code"].astype(str) == code]
    extra = pd.concat([here.iloc[[0]]] * (LABELS_PER_PAGE + 1), ignore_index=True)
    extra[plan.id_field] = [f"X{i:03d}" for i in range(len(extra))]
    big = dataclasses.replace(plan, buildings=pd.concat([b, extra], ignore_index=True).set_geometry("geometry", crs=b.crs))
    row = code_table(plan, "grid").set_index("code", drop=False).loc[code]
    pages = door_pages(big, code, row=row, template=TEMPLATE, font=cjk_font())
    held = grid_buildings(big, "grid", code)
    assert len(pages) == -(-len(held) // LABELS_PER_PAGE) >= 2
    urls = []
    for i, fig in enumerate(pages):
        fig.savefig(tmp_path / f"{i}.png", dpi=120)
        urls += [c.text for c in decoded(tmp_path / f"{i}.png")]
    assert sorted(urls) == sorted(lookup_link(TEMPLATE, i) for i in held["building_id"])


def test_a_divided_building_has_one_code_per_sheet_and_its_parts_on_the_label():
    p = tower_plan()
    held = {code: grid_buildings(p, "grid", code) for code in p.grids["code"].astype(str)}
    tower = [(code, t) for code, t in held.items() if (t["parts"] != "").any()]
    assert len(tower) >= 2  # the tower is divided between grids
    for _, t in tower:
        assert t["building_id"].is_unique  # one code per building, however many parts the grid holds
    labels = {lab for _, t in tower for lab in t.loc[t["parts"] != "", "parts"]}
    assert any("1单元" in lab for lab in labels) and any("层" in lab for lab in labels)


def test_codes_never_overlap_and_those_without_room_are_named():
    fig = Figure(figsize=(8.27, 11.69))
    ax = fig.add_axes([0.06, 0.14, 0.88, 0.77])
    ids = [f"b{i:02d}" for i in range(60)]
    crowd = pd.DataFrame({"building_id": ids, "geometry": [shapely.Point(50 + i % 3, 50).buffer(1) for i in range(60)]})
    missed = place_codes(ax, crowd, TEMPLATE, (0, 0, 100, 100), mm=100 / 185)
    squares = [q for q in ax.patches if q.get_facecolor()[:3] == (1.0, 1.0, 1.0)]
    assert 0 < len(missed) < 60 and len(squares) == 60 - len(missed)
    assert set(missed) <= set(ids) and missed == sorted(missed)  # deterministic order
    boxes = [shapely.box(*q.get_bbox().extents) for q in squares]
    assert all(not a.intersects(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(0 <= c and c <= 100 for bx in boxes for c in bx.bounds)


@pytest.mark.parametrize("bad, why", [
    ("https://gp.example.org/v1/public/KEY/buildings/", "must hold {building_id} once"),
    ("https://gp.example.org/{building_id}/{building_id}", "must hold {building_id} once"),
    ("https://gp.example.org/v1/{plan_id}/buildings/{building_id}", "only placeholder"),
    ("ftp://gp.example.org/b/{building_id}", "only http:// and https://"),
    ("javascript:alert(1)//{building_id}", "only http:// and https://"),
    ("/v1/public/KEY/buildings/{building_id}", "only http:// and https://"),
    ("https://{building_id}.example.org/b", "not the host"),
    ("https://gp.example.org/b/#{building_id}", "path or query"),
    ("https://gp.example.org/b c/{building_id}", "no spaces"),
    ("https://admin:secret@gp.example.org/b/{building_id}", "no user name or password"),
    ("https://gp.example.org:99999/b/{building_id}", "not a URL"),
])
def test_a_bad_template_is_an_error_naming_the_option(bad, why):
    with pytest.raises(OptionError, match=re.escape(why)) as err:
        lookup_template(bad)
    assert err.value.params[0] == "lookup_url" and "e.g. https://" in str(err.value)


def test_ids_are_quoted_into_the_url():
    t = lookup_template("http://10.0.0.5:8000/v1/plans/p1/buildings/{building_id}?src=door")
    url = lookup_link(t, "3号楼/2 单元#1")
    assert url.startswith("http://10.0.0.5:8000/v1/plans/p1/buildings/") and url.endswith("?src=door")
    seg = url.split("/buildings/")[1].split("?")[0]
    assert re.fullmatch(r"[A-Za-z0-9%._~-]+", seg) and unquote(seg) == "3号楼/2 单元#1"


def test_cli_refuses_a_bad_template_before_writing(tmp_path):
    res = CliRunner().invoke(app, ["sheets", str(plan_dir()), "--out", str(tmp_path / "s"), "--lookup-url", "https://gp.example.org/b"])
    assert res.exit_code == 2 and "--lookup-url was 'https://gp.example.org/b'" in res.output
    assert "{building_id}" in res.output and "e.g. https://" in res.output and "`" not in res.output
    assert not (tmp_path / "s").exists()


def test_cli_sheets_with_door_codes(tmp_path):
    res = CliRunner().invoke(app, ["sheets", str(plan_dir()), "--out", str(tmp_path / "s"), "--dpi", "100", "--no-pdf",
                                   "--level", "community", "--lookup-url", TEMPLATE])
    assert res.exit_code == 0, res.output
    p = read_plan(plan_dir())
    assert f"wrote {len(p.communities)} sheets and {len(p.grids)} door-code pages to" in res.output
    code = str(p.communities["code"].iloc[0])
    ids = p.buildings.loc[p.buildings["community_code"].astype(str) == code, "building_id"].astype(str).unique()
    assert sorted(c.text for c in decoded(tmp_path / "s" / f"community_{code}.png")) == sorted(lookup_link(TEMPLATE, i) for i in ids)


def test_without_the_option_the_sheets_are_as_before(tmp_path):
    p = read_plan(plan_dir())
    with no_font_warning():
        plain = write_sheets(p, tmp_path / "plain", levels=("grid",), dpi=60)
    assert set(plain) == {f"grid_{c}.png" for c in p.grids["code"]} | {"sheets.pdf"}
    assert "lookup_url" not in json.loads((plain.path / "manifest.json").read_text(encoding="utf-8"))
    with Image.open(plain.path / sorted(plain)[0]) as img:
        assert not zxingcpp.read_barcodes(img) and np.asarray(img.convert("L")).min() < 128  # drawn, no codes
