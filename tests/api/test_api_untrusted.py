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
