"""OGC API – Features at /ogc: every endpoint with the test client, then GDAL's own OAPIF driver on a real server.

What is checked against what: the units of a collection against the plan's own layer (GET /v1/plans/{id}/{level}),
bbox answers against shapely over that layer, the axis order of EPSG:4490 against pyproj's definition of it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import httpx
import pytest
import shapely
from pyproj import CRS
from shapely.geometry import shape
from test_api_server import stop_server
from servicekit import auth_headers, check, start_server, wait_healthy

from api import ogc_models as o
from api.db import PlanRecord, utcnow
from api.routers.ogc import CRS84, EPSG_4326, EPSG_4490, MAX_LIMIT

OGC_TIMEOUT = 120  # seconds for one ogrinfo/ogr2ogr run


def level(client, plan_id: str, name: str) -> dict[str, dict]:
    """The plan's own units of one level, by code."""
    fc = client.get(f"/v1/plans/{plan_id}/{name}").json()
    return {f["properties"]["code"]: f for f in fc["features"]}


def items(client, url: str, model=o.OgcFeatureCollection, **params) -> tuple[o.OgcFeatureCollection, httpx.Response]:
    resp = client.get(url, params=params) if params else client.get(url)
    return check(resp, 200, model), resp


def link(doc, rel: str) -> str | None:
    hrefs = [x.href for x in doc.links if x.rel == rel]
    assert len(hrefs) <= 1, (rel, hrefs)
    return hrefs[0] if hrefs else None


def ogc_error(resp, status: int, field: str) -> o.OgcException:
    body = check(resp, status, o.OgcException)
    assert body.code == ("InvalidParameterValue" if status == 400 else "NotFound")
    assert [e.field for e in body.errors] == [field], body
    assert body.description == body.detail
    return body


# ---- the test client -----------------------------------------------------------------------------------


def test_landing_page_conformance_and_api_links_lead_where_they_say(client, done_plan):
    landing = check(client.get("/ogc"), 200, o.LandingPage)
    rels = {x.rel: x for x in landing.links}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert all(x.href.startswith("http://testserver/") for x in landing.links)  # absolute: GDAL and QGIS follow them
    conf = check(client.get(rels["conformance"].href), 200, o.Conformance)
    assert {"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
            "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"} <= set(conf.conformsTo)
    api = client.get(rels["service-desc"].href)
    assert api.status_code == 200 and api.headers["content-type"].startswith("application/json")
    paths = api.json()["paths"]
    assert {"/ogc", "/ogc/collections/{collectionId}/items", "/ogc/collections/{collectionId}/items/{featureId}"} <= set(paths)
    data = check(client.get(rels["data"].href), 200, o.Collections)
    assert f"{done_plan.id}-grids" in {c.id for c in data.collections}
    assert client.get(rels["service-doc"].href).status_code == 200


def test_collections_are_the_three_layers_of_each_done_plan_with_their_extent(client, done_plan):
    data = check(client.get("/ogc/collections"), 200, o.Collections)
    mine = {c.id: c for c in data.collections if c.id.startswith(done_plan.id)}
    assert set(mine) == {f"{done_plan.id}-{layer}" for layer in ("communities", "grids", "micro_grids")}
    grids = level(client, done_plan.id, "grids")
    w, s, e, n = shapely.total_bounds([shape(f["geometry"]) for f in grids.values()])
    for cid, coll in mine.items():
        assert coll.crs[0] == CRS84 and EPSG_4490 in coll.crs and coll.storageCrs == CRS84
        [[bw, bs, be, bn]] = coll.extent.spatial.bbox
        assert bw <= w + 1e-9 and bs <= s + 1e-9 and be >= e - 1e-9 and bn >= n - 1e-9, (cid, coll.extent)
        assert check(client.get(link(coll, "self")), 200, o.Collection) == coll
        page, _ = items(client, link(coll, "items"))
        assert page.numberMatched == len(level(client, done_plan.id, cid.rpartition("-")[2]))


def test_plans_not_done_have_no_collections(client, dataset):
    svc = client.app.state.service
    with svc.sessions() as s:
        rec = PlanRecord(id="f" * 32, dataset_id=dataset.id, status="running", parameters={}, created_at=utcnow(),
                         steps=0)
        s.add(rec)
        s.commit()
    try:
        data = check(client.get("/ogc/collections"), 200, o.Collections)
        assert not any(c.id.startswith("f" * 32) for c in data.collections)
        body = ogc_error(client.get(f"/ogc/collections/{'f' * 32}-grids"), 404, "collectionId")
        assert "running" in body.detail
        ogc_error(client.get(f"/ogc/collections/{'f' * 32}-grids/items"), 404, "collectionId")
    finally:
        with svc.sessions() as s:
            s.delete(s.get(PlanRecord, "f" * 32))
            s.commit()


def test_next_links_followed_to_the_end_give_every_unit_once(client, done_plan):
    units = level(client, done_plan.id, "micro_grids")
    assert len(units) > 20  # several pages of 7
    url, seen, pages = f"/ogc/collections/{done_plan.id}-micro_grids/items?limit=7", [], []
    while url:
        page, resp = items(client, url)
        assert resp.headers["content-type"].startswith("application/geo+json")
        assert resp.headers["content-crs"] == f"<{CRS84}>"
        assert page.numberMatched == len(units) and page.numberReturned == len(page.features) <= 7
        seen += [f.id for f in page.features]
        pages.append(page)
        url = link(page, "next")
        assert url is None or url.startswith("http://testserver/ogc/collections/")
    assert sorted(seen) == sorted(units) and len(seen) == len(set(seen))
    assert link(pages[0], "prev") is None and link(pages[-1], "next") is None
    back, _ = items(client, link(pages[2], "prev"))
    assert [f.id for f in back.features] == [f.id for f in pages[1].features]
    for f in pages[1].features:  # the unit as the plan has it
        assert f.properties == units[f.id]["properties"] and f.geometry == units[f.id]["geometry"]


def test_limit_default_and_above_the_maximum(client, done_plan):
    total = len(level(client, done_plan.id, "micro_grids"))
    page, _ = items(client, f"/ogc/collections/{done_plan.id}-micro_grids/items")
    assert page.numberReturned == min(10, total)
    page, _ = items(client, f"/ogc/collections/{done_plan.id}-micro_grids/items", limit=MAX_LIMIT * 3)
    assert page.numberReturned == total and link(page, "next") is None  # the maximum is used, not an error
    page, _ = items(client, f"/ogc/collections/{done_plan.id}-micro_grids/items", offset=total + 5)
    assert page.numberReturned == 0 and page.numberMatched == total and link(page, "prev")


def test_bbox_in_crs84_and_in_epsg4490_axis_order(client, done_plan):
    grids = level(client, done_plan.id, "grids")
    shapes = {c: shape(f["geometry"]) for c, f in grids.items()}
    first = next(iter(shapes.values()))
    x, y = first.representative_point().coords[0]
    box = (x - 0.002, y - 0.001, x + 0.002, y + 0.001)
    expected = sorted(c for c, g in shapes.items() if g.intersects(shapely.box(*box)))
    assert 0 < len(expected) < len(grids)
    url = f"/ogc/collections/{done_plan.id}-grids/items"
    page, _ = items(client, url, bbox=",".join(map(str, box)), limit=100)
    assert sorted(f.id for f in page.features) == expected and page.numberMatched == len(expected)
    lat_first = ",".join(map(str, (box[1], box[0], box[3], box[2])))
    for crs in (EPSG_4490, "EPSG:4490", EPSG_4326):
        page, _ = items(client, url, bbox=lat_first, **{"bbox-crs": crs}, limit=100)
        assert sorted(f.id for f in page.features) == expected, crs
    nxt = link(items(client, url, bbox=",".join(map(str, box)), limit=1)[0], "next")
    assert ("bbox=" in nxt) == (len(expected) > 1)  # the filter carries over to the next page


@pytest.mark.parametrize(("when", "until"), [("2025-12-31", "2025-12-31"), ("2026-01-01", "2026-01-01"),
                                           ("2026-01-01T08:30:00Z", "2026-01-01"), ("2025-01-01/2025-06-30", "2025-06-30"),
                                           ("../2026-06-01", "2026-06-01"), ("2026-02-01/..", None)])
def test_datetime_keeps_the_units_in_force(client, done_plan, when, until):
    grids = level(client, done_plan.id, "grids")
    expected = sorted(c for c, f in grids.items() if until is None or f["properties"]["start_date"] <= until)
    page, _ = items(client, f"/ogc/collections/{done_plan.id}-grids/items", datetime=when, limit=100)
    assert sorted(f.id for f in page.features) == expected and page.numberMatched == len(expected)


def test_crs_epsg4490_answers_in_its_own_axis_order(client, done_plan):
    assert CRS.from_epsg(4490).axis_info[0].direction == "north"  # latitude first, by the CRS's definition
    assert CRS.from_user_input("OGC:CRS84").axis_info[0].direction == "east"
    url = f"/ogc/collections/{done_plan.id}-grids/items"
    plain, resp = items(client, url, limit=3)
    assert resp.headers["content-crs"] == f"<{CRS84}>"
    cgcs, resp = items(client, url, limit=3, crs=EPSG_4490)
    assert resp.headers["content-crs"] == f"<{EPSG_4490}>"
    for a, b in zip(plain.features, cgcs.features, strict=True):
        assert a.id == b.id
        ring_a, ring_b = a.geometry["coordinates"][0], b.geometry["coordinates"][0]
        assert ring_b == [[lat, lon] for lon, lat in ring_a]
        assert 3 < ring_a[0][1] < 54 < 73 < ring_a[0][0] < 136  # China: lon/lat in CRS84 ...
    one = client.get(f"{url}/{plain.features[0].id}", params={"crs": "EPSG:4490"})
    assert one.headers["content-crs"] == f"<{EPSG_4490}>"
    assert check(one, 200, o.OgcFeature).geometry == cgcs.features[0].geometry


def test_a_single_unit_by_its_code(client, done_plan):
    communities = level(client, done_plan.id, "communities")
    code, feat = next(iter(communities.items()))
    resp = client.get(f"/ogc/collections/{done_plan.id}-communities/items/{code}")
    one = check(resp, 200, o.OgcFeature)
    assert resp.headers["content-crs"] == f"<{CRS84}>"
    assert one.id == code and one.properties == feat["properties"] and one.geometry == feat["geometry"]
    assert {x.rel for x in one.links} == {"self", "collection"}
    body = ogc_error(client.get(f"/ogc/collections/{done_plan.id}-grids/items/{code}"), 404, "featureId")
    assert "15 digits" in body.detail  # a community code asked of the grids
    ogc_error(client.get(f"/ogc/collections/{done_plan.id}-grids/items/{code}999"), 404, "featureId")


@pytest.mark.parametrize("path", ["/ogc/collections/{p}-buildings", "/ogc/collections/{p}", "/ogc/collections/grids",
                                  "/ogc/collections/{z}-grids/items", "/ogc/collections/{z}-grids/items/000000000001"])
def test_unknown_collections_are_404(client, done_plan, path):
    body = ogc_error(client.get(path.format(p=done_plan.id, z="0" * 32)), 404, "collectionId")
    assert "/tmp" not in body.detail


@pytest.mark.parametrize(("params", "field", "says"), [
    ({"limit": "0"}, "limit", "greater than or equal to 1"),
    ({"limit": "ten"}, "limit", "limit was 'ten'"),
    ({"offset": "-1"}, "offset", "greater than or equal to 0"),
    ({"bbox": "1,2,3"}, "bbox", "send four numbers W,S,E,N"),
    ({"bbox": "a,b,c,d", "bbox-crs": EPSG_4490}, "bbox", "send four numbers S,W,N,E"),
    ({"bbox": "119,32,118,33"}, "bbox", "W <= E"),
    ({"bbox": "118,32,119,33", "bbox-crs": EPSG_4490}, "bbox", "S <= N within -90..90"),  # lon/lat sent where lat/lon is expected
    ({"bbox-crs": EPSG_4490}, "bbox-crs", "without bbox"),
    ({"crs": "http://www.opengis.net/def/crs/EPSG/0/3857"}, "crs", EPSG_4490),
    ({"bbox": "118,32,119,33", "bbox-crs": "EPSG:4547"}, "bbox-crs", CRS84),
    ({"f": "html"}, "f", "f was 'html'"),
    ({"datetime": "yesterday"}, "datetime", "RFC 3339"),
    ({"datetime": "2026-02-01/2026-01-01"}, "datetime", "ends before it starts"),
    ({"limits": "5"}, "limits", "has no parameter 'limits'"),
    ({"code": "000000000001001"}, "code", "it takes bbox, bbox-crs, crs, datetime, f, limit, offset"),
])
def test_bad_parameters_are_400_with_the_standards_exception(client, done_plan, params, field, says):
    resp = client.get(f"/ogc/collections/{done_plan.id}-grids/items", params=params)
    assert resp.headers["content-type"].startswith("application/json")
    body = ogc_error(resp, 400, field)
    assert says in body.detail, body.detail


def test_unknown_parameters_are_400_everywhere(client, done_plan):
    for path in ("/ogc", "/ogc/conformance", "/ogc/collections", f"/ogc/collections/{done_plan.id}-grids"):
        ogc_error(client.get(path, params={"bbox": "1,2,3,4"}), 400, "bbox")
        assert client.get(path, params={"f": "json"}).status_code == 200


# ---- GDAL's OAPIF driver on a real server --------------------------------------------------------------


@pytest.fixture
def server_plan(tmp_path, sample_files):
    """A real ``gridplan serve`` holding one finished plan of the sample: (base URL, plan id, its grids, headers)."""
    if shutil.which("ogrinfo") is None or shutil.which("ogr2ogr") is None:
        pytest.skip("GDAL's command line tools (gdal-bin) are not installed")
    proc, base = start_server(tmp_path)
    try:
        wait_healthy(proc, base)
        headers = auth_headers(tmp_path / "data")
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            handles = {r: (sample_files[r].name, sample_files[r].open("rb")) for r in ("buildings", "barriers")}
            try:
                ds = http.post("/v1/datasets", files=handles)
            finally:
                for _, f in handles.values():
                    f.close()
            assert ds.status_code == 201, ds.text
            plan = http.post("/v1/plans", json={"dataset_id": ds.json()["id"], "seed": 1})
            assert plan.status_code == 202, plan.text
            plan_id, end = plan.json()["id"], time.monotonic() + 180
            while (status := http.get(f"/v1/plans/{plan_id}").json()["status"]) not in ("done", "failed"):
                assert time.monotonic() < end, "the plan did not finish within 180 s"
                time.sleep(0.3)
            assert status == "done"
            grids = {f["properties"]["code"]: f for f in http.get(f"/v1/plans/{plan_id}/grids").json()["features"]}
        yield base, plan_id, grids, headers
    finally:
        stop_server(proc)


def gdal(*args: str, headers: dict[str, str]) -> subprocess.CompletedProcess:
    # a GIS user's environment, not this process's: the service restricts GDAL in the process that runs it
    # (no network, a dead proxy), and the test client's service ran here
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GDAL_", "CPL_", "OGR_", "AWS_"))
           and "PROXY" not in k.upper()}
    env["GDAL_HTTP_TIMEOUT"] = "60"
    if headers:
        env["GDAL_HTTP_HEADERS"] = "\r\n".join(f"{k}: {v}" for k, v in headers.items())
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=OGC_TIMEOUT)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done


def test_gdal_oapif_lists_the_layers_and_reads_every_grid_through_the_pages(server_plan, tmp_path):
    base, plan_id, grids, headers = server_plan
    listing = gdal("ogrinfo", "-ro", "-q", f"OAPIF:{base}/ogc", headers=headers).stdout
    for layer in ("communities", "grids", "micro_grids"):
        assert f"{plan_id}-{layer}" in listing, listing
    summary = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{base}/ogc", f"{plan_id}-grids", headers=headers).stdout
    assert f"Feature Count: {len(grids)}" in summary, summary  # numberMatched
    out = tmp_path / "grids.geojson"
    assert len(grids) > 3
    # pages of 3: GDAL follows the `next` links to the end
    gdal("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{base}/ogc", f"{plan_id}-grids", "-oo", "PAGE_SIZE=3",
         headers=headers)
    got = json.loads(out.read_text(encoding="utf-8"))["features"]
    codes = [f["properties"]["code"] for f in got]
    assert sorted(codes) == sorted(grids) and len(codes) == len(set(codes))
    for f in got:
        want = grids[f["properties"]["code"]]
        assert f["properties"]["households"] == want["properties"]["households"]
        assert shape(f["geometry"]).equals_exact(shape(want["geometry"]), 1e-9)
    # a spatial filter goes to the server as bbox
    g = shape(next(iter(grids.values()))["geometry"]).representative_point()
    box = (g.x - 0.002, g.y - 0.001, g.x + 0.002, g.y + 0.001)
    expected = sorted(c for c, f in grids.items() if shape(f["geometry"]).intersects(shapely.box(*box)))
    part = tmp_path / "part.geojson"
    gdal("ogr2ogr", "-f", "GeoJSON", str(part), f"OAPIF:{base}/ogc", f"{plan_id}-grids", "-spat", *map(str, box),
         headers=headers)
    assert sorted(f["properties"]["code"] for f in json.loads(part.read_text(encoding="utf-8"))["features"]) == expected
