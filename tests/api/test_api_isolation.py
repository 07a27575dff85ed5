"""Uploads are parsed in child processes with limits; every child is restricted and dies with the server."""
from __future__ import annotations

import io
import os
import shutil
import signal
import zipfile

import geopandas as gpd
import pytest
from servicekit import check, child_probe, upload, wait_for

import api.uploads
from api import models as m
from api import procs
from gridplan.inputs.formats import gdal_restricted


@pytest.fixture
def svc(client):
    return client.app.state.service


def test_a_child_is_restricted_limited_and_dies_with_its_parent(client, svc, data_dir):
    tmp = data_dir / "datasets" / ".incoming-probe" / ".tmp"
    limits = procs.Limits(memory_bytes=256 * 1024**2, file_bytes=1 << 20, cpu_s=30, tmpdir=str(tmp))
    ctx = procs.context()
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=child_probe, args=(send, limits), daemon=True)
    svc.launcher.start(proc)
    send.close()
    assert recv.poll(60), "the probe did not answer"
    got = recv.recv()
    proc.join(timeout=30)
    assert got["tempdir"] == got["TMPDIR"] == got["CPL_TMPDIR"] == str(tmp)  # decompression stays in the upload's folder
    assert got["write"] == "EFBIG"  # a file past the limit cannot be written (RLIMIT_FSIZE), SIGXFSZ does not kill
    assert got["pdeathsig"] == signal.SIGKILL and got["cpu"] == 30 and got["fsize"] == 1 << 20
    assert 256 * 1024**2 < got["as"] < 64 * 1024**3  # its start plus the allowance
    assert got["vrt"] is False and got["gpkg"] is True  # GDAL restricted in the child
    assert got["ppid"] != os.getpid()  # forked by the forkserver, not by the server
    assert gdal_restricted()  # and in the server itself
    shutil.rmtree(data_dir / "datasets" / ".incoming-probe")


def test_uploads_are_read_in_a_child_not_in_the_server(client, sample_files, monkeypatch):
    def not_here(*args, **kwargs):
        raise AssertionError("an upload was read in the server process")

    monkeypatch.setattr(api.uploads, "read_and_inspect", not_here)
    monkeypatch.setattr(api.uploads, "load_layers", not_here)
    ds = upload(client, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})
    assert ds.summary.buildings == 44


def test_a_parse_past_the_time_limit_is_422_and_its_process_ends(client, svc, sample_files, data_dir, monkeypatch):
    monkeypatch.setattr(svc.settings, "parse_timeout_s", 0.01)
    body = check(client.post("/v1/datasets", files={"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())}), 422)
    assert "longer than 0.01 s" in body.detail and "GRIDPLAN_PARSE_TIMEOUT_S" in body.detail
    assert not svc.parser._active and not list((data_dir / "datasets").glob(".incoming-*"))


def test_a_parse_past_the_memory_limit_is_413(client, svc, sample_files, monkeypatch):
    monkeypatch.setattr(svc.settings, "parse_memory_bytes", 1024**2)
    body = check(client.post("/v1/datasets", files={"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())}), 413)
    assert "memory" in body.detail and "GRIDPLAN_PARSE_MEMORY_BYTES" in body.detail


def test_layers_past_the_feature_and_vertex_limits_are_413_naming_the_setting(client, svc, sample_files, tmp_path,
                                                                             monkeypatch):
    gj = tmp_path / "b.geojson"
    gpd.read_file(sample_files["buildings"]).to_file(gj, driver="GeoJSON")
    monkeypatch.setattr(svc.settings, "max_features", 10)
    for path in (sample_files["buildings"], gj):  # counted before reading (GeoPackage), and after (GeoJSON)
        body = check(client.post("/v1/datasets", files={"buildings": (path.name, path.read_bytes())}), 413)
        assert "44 features" in body.detail and "GRIDPLAN_MAX_FEATURES" in body.detail
        assert body.errors[0].field == "buildings"
    monkeypatch.setattr(svc.settings, "max_features", 1000)
    monkeypatch.setattr(svc.settings, "max_vertices", 100)
    body = check(client.post("/v1/datasets", files={"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())}), 413)
    assert "vertices" in body.detail and "GRIDPLAN_MAX_VERTICES" in body.detail


def test_busy_parse_slots_answer_429_and_one_busy_slot_does_not_stall_another(client, svc, sample_files, monkeypatch):
    monkeypatch.setattr(svc.settings, "parse_wait_s", 0.1)
    files = {"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())}
    slots = svc.parser._slots
    assert slots.acquire(timeout=10)  # a long upload holds one of the two slots
    try:
        check(client.post("/v1/datasets", files=files), 201, m.Dataset)  # no global lock: the other slot reads it
        assert slots.acquire(timeout=10)  # now both are held
        try:
            resp = client.post("/v1/datasets", files=files)
            body = check(resp, 429)
            assert "GRIDPLAN_PARSE_SLOTS" in body.detail and int(resp.headers["Retry-After"]) >= 1
        finally:
            slots.release()
    finally:
        slots.release()
    check(client.post("/v1/datasets", files=files), 201, m.Dataset)


def _vrt(source: str) -> bytes:
    """A VRT that makes one building of every row of the service's ``datasets`` table (what an unrestricted GDAL reads)."""
    return (f'<OGRVRTDataSource><OGRVRTLayer name="b"><SrcDataSource>{source}</SrcDataSource>'
            "<SrcSQL>SELECT id AS building_id, 100 AS households, 'POLYGON((118.78 32.04,118.781 32.04,118.781 "
            "32.041,118.78 32.04))' AS wkt FROM datasets</SrcSQL><GeometryField encoding=\"WKT\" field=\"wkt\"/>"
            "<LayerSRS>EPSG:4326</LayerSRS></OGRVRTLayer></OGRVRTDataSource>").encode()


def test_an_upload_naming_the_service_database_cannot_open_it(client, dataset, data_dir):
    """The VRT attack on gridplan.db (issue 9): refused, and the database keeps its WAL and goes on working."""
    db = data_dir / "gridplan.db"
    wal, shm = db.with_name("gridplan.db-wal"), db.with_name("gridplan.db-shm")
    assert wal.exists() and shm.exists()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("b.gml", _vrt(str(db)))
    attacks = {"b.zip": buf.getvalue(), "b.osm": b'<OGRVRTDataSource><!-- <osm version="0.6"> -->'
               + _vrt(str(db))[len(b"<OGRVRTDataSource>"):]}
    for name, content in attacks.items():
        resp = client.post("/v1/datasets", files={"buildings": (name, content)})
        assert resp.status_code in (415, 422), (name, resp.status_code, resp.text[:500])
        check(resp, resp.status_code)  # an ErrorBody naming no internal path
        assert "gridplan.db" not in resp.text
    assert wal.exists() and shm.exists()
    plan = wait_for(client, check(client.post("/v1/plans", json={"dataset_id": dataset.id}), 202, m.PlanAccepted).id)
    assert plan.status == "done", plan.reason
