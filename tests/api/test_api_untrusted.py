"""The attacks of issue 9 through the API: uploads that would make the server read its files or fetch a URL.

Each upload is a GDAL VRT dressed as a format the service takes (in a zip as ``b.gml`` or ``b.geojson``, or as a
top-level ``.osm`` whose first bytes pass an OSM sniff). All are refused with a 4xx naming the problem; nothing
is stored; the service's own database is untouched and plans still run.
"""
from __future__ import annotations

import io
import zipfile

import pytest

from api import models as m

from servicekit import check, upload, wait_for


def _vrt(source: str) -> str:
    return (f"<OGRVRTDataSource><OGRVRTLayer name='b'><SrcDataSource>{source}</SrcDataSource>"
            "<SrcSQL dialect='sqlite'>SELECT rowid AS building_id, 1 AS households, MakePoint(118.78, 32.04) AS g "
            "FROM passwd</SrcSQL><GeometryField encoding='shape' field='g'/></OGRVRTLayer></OGRVRTDataSource>")


def _zip(name: str, content: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, content)
    return buf.getvalue()


def _datasets_on_disk(data_dir) -> set[str]:
    return {p.name for p in (data_dir / "datasets").iterdir()}


@pytest.mark.parametrize("filename, body", [
    ("upload.zip", _zip("b.gml", _vrt("CSV:/etc/passwd"))),
    ("upload.zip", _zip("b.geojson", _vrt("CSV:/etc/passwd"))),
    ("b.osm", ("<OGRVRTDataSource><!-- <osm version=\"0.6\"> -->" + _vrt("CSV:/etc/passwd")[19:]).encode()),
    ("b.geojson", _vrt("/etc/passwd").encode()),
])
def test_a_vrt_upload_is_refused_and_nothing_is_stored(client, data_dir, filename, body):
    before = _datasets_on_disk(data_dir)
    resp = client.post("/v1/datasets", files={"buildings": (filename, body)})
    err = check(resp, resp.status_code)
    assert resp.status_code in (415, 422), resp.text
    assert "root:" not in resp.text and "/etc/passwd" not in resp.text
    assert "unsupported file type" in err.detail or "not a format gridplan reads" in err.detail or \
        "holds no vector file" in err.detail
    assert _datasets_on_disk(data_dir) == before


def test_a_vrt_over_the_service_database_leaves_it_whole(client, data_dir, dataset):
    db = data_dir / "gridplan.db"
    resp = client.post("/v1/datasets", files={"buildings": ("upload.zip", _zip("b.geojson", _vrt(str(db))))})
    assert resp.status_code in (415, 422), resp.text
    resp = client.post("/v1/datasets", files={"buildings": ("b.osm", ("<OGRVRTDataSource><!-- <osm version=\"0.6\"> -->"
                                                                      + _vrt(str(db))[19:]).encode())})
    assert resp.status_code in (415, 422), resp.text
    # every dataset recorded before is still there, and new plans run (the attack unlinked the SQLite journal:
    # plans stayed queued, and after a crash the datasets since were gone)
    check(client.get(f"/v1/datasets/{dataset.id}"), 200, m.Dataset)
    accepted = check(client.post("/v1/plans", json={"dataset_id": dataset.id, "seed": 3, "grid_size": "300:500"}),
                     202, m.PlanAccepted)
    assert wait_for(client, accepted.id).status == "done"


def test_a_vrt_naming_a_url_is_refused_without_a_request(client, counting_http_server):
    base, hits = counting_http_server
    url = f"/vsicurl/{base}/b.csv"
    for body in (_zip("b.geojson", _vrt(url)), _zip("b.gml", _vrt(url))):
        resp = client.post("/v1/datasets", files={"buildings": ("upload.zip", body)})
        assert resp.status_code in (415, 422), resp.text
    assert hits == []


@pytest.mark.parametrize("filename, body", [
    ("b.osm.bz2", b"BZh91AY&SYgarbage"),
    ("b.fgb", b"fgb\x03\x00\x00\x00\x00garbage"),
    ("b.osm.pbf", b"\x0a\x0d\x0a\x09OSMHeader garbage"),
    ("b.osm.pbf", b"\x00\x00\x00\x0e\x0a\x09OSMHeader garbage"),
    ("b.geojson", b'{"type": "FeatureCollection", "features": ['),
])
def test_broken_files_are_a_4xx_naming_the_problem(client, filename, body):
    resp = client.post("/v1/datasets", files={"buildings": (filename, body)})
    err = check(resp, resp.status_code)
    assert resp.status_code in (415, 422), resp.text
    assert "cannot be" in err.detail or "not a format gridplan reads" in err.detail or "not a vector file" in err.detail


def test_a_good_upload_still_plans(client, sample_files):
    ds = upload(client, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})
    assert ds.summary.buildings == 44


def test_a_geopackage_with_a_view_is_refused_before_gdal_runs_it(client, tmp_path, sample_files):
    import sqlite3
    import time

    path = tmp_path / "view.gpkg"
    path.write_bytes(sample_files["buildings"].read_bytes())
    con = sqlite3.connect(path)
    layer = con.execute("SELECT table_name FROM gpkg_contents").fetchone()[0]
    con.execute(f"CREATE VIEW v AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                f"SELECT * FROM {layer}, c")
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES ('V', 'features', 'V', 4326)")
    con.commit()
    con.close()
    start = time.monotonic()
    resp = client.post("/v1/datasets", files={"buildings": ("view.gpkg", path.read_bytes())})
    err = check(resp, 422)
    assert "SQL views or virtual tables" in err.detail
    assert time.monotonic() - start < 30  # refused by the check, not by the parse time limit (60 s)


def test_too_many_uploads_streaming_at_once_is_429_and_a_low_disk_is_507(tmp_path):
    import asyncio

    from api.limits import BodyLimit

    async def app(scope, receive, send):  # the app behind the middleware: 200 to everything
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def status_of(mw) -> int:
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"x", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/datasets", "headers": []}
        asyncio.run(mw(scope, receive, send))
        return sent[0]["status"]

    mw = BodyLimit(app, limit=100, uploads=1, min_free=1, root=tmp_path)
    assert status_of(mw) == 200 and mw.streaming == 0
    mw.streaming = 1  # one upload is streaming in
    assert status_of(mw) == 429
    mw.streaming = 0
    assert status_of(BodyLimit(app, limit=100, uploads=1, min_free=2**62, root=tmp_path)) == 507


def test_serve_does_not_trust_forwarded_headers_unless_told(monkeypatch):
    from typer.testing import CliRunner

    import uvicorn

    from gridplan.cli import app

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setenv("GRIDPLAN_DATA_DIR", "/nonexistent-gridplan-test")
    assert CliRunner().invoke(app, ["serve"]).exit_code == 0
    assert seen["proxy_headers"] is False
    monkeypatch.setenv("GRIDPLAN_TRUSTED_PROXIES", "10.0.0.5")
    assert CliRunner().invoke(app, ["serve"]).exit_code == 0
    assert seen["proxy_headers"] is True and seen["forwarded_allow_ips"] == "10.0.0.5"
