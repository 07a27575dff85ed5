"""Accounts: every route of the OpenAPI document answers 401 without a live token, 403 to a role too low, 404 for
another organisation's object (the document itself says each route's role); records belong to the caller's
organisation; GRIDPLAN_AUTH=off only on loopback; Host, Origin and CORS; the CLI's token on a real server."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys

import httpx
import pytest
from servicekit import (REPO, TEST_ORG, TestClient, bearer, check, issue_token, make_client, osm_extract,
                        start_server, wait_healthy, a_building)
from test_api_server import stop_server

from api import Settings, create_app
from api import models as m
from api.app import ConfigurationError

OTHER = "other-org"


@pytest.fixture(scope="module")
def tokens(data_dir, client):
    """Tokens of every role of the test organisation and of another one."""
    return {(org, role): issue_token(data_dir, role, org) for org in (TEST_ORG, OTHER)
            for role in ("viewer", "planner", "admin")}


@pytest.fixture(scope="module")
def ids(client, dataset, done_plan, tokens):
    """A real value for every path parameter of the document."""
    building = a_building(client, done_plan.id)
    link = check(client.post(f"/v1/plans/{done_plan.id}/links", json={}), 201, m.LinkCreated)
    token = next(t for t in check(client.get("/v1/tokens"), 200, m.TokenList).tokens if t.org == OTHER)
    return {"plan_id": done_plan.id, "dataset_id": dataset.id, "level": "grids", "building_id": building,
            "link_id": link.id, "token_id": token.id}


def operations(client):
    """(method, path, role) of every operation the document says needs a token."""
    doc = client.get("/openapi.json").json()
    return [(method.upper(), path, op["x-gridplan-role"]) for path, item in doc["paths"].items()
            for method, op in item.items() if "x-gridplan-role" in op]


def _value(name: str, ids: dict) -> str:
    """A real value for a path parameter; an OGC collection is the plan's grids (its id holds the plan id)."""
    if name in ids:
        return ids[name]
    if "collection" in name.lower():
        return f"{ids['plan_id']}-grids"
    return "0" * 32


def fill(path: str, ids: dict) -> str:
    return re.sub(r"\{(\w+)\}", lambda mt: _value(mt.group(1), ids), path)


def call(c, method, path, ids, headers=None):
    body = {"json": {"dataset_id": ids["dataset_id"]}} if method == "POST" and "datasets" not in path else {}
    if path.endswith("/diff"):
        body["params"] = {"against": "e" * 32}  # required; the plan itself is looked up first
    return c.request(method, fill(path, ids), headers=headers, **body)


def test_the_document_says_every_v1_route_needs_a_token_and_which_role(client):
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer",
                                                              "description": "a token from `gridplan token create`"}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            public = path == "/healthz" or path.startswith("/v1/public/")
            assert ("x-gridplan-role" in op) is not public, (method, path)
            if not public:
                assert op["security"] == [{"bearer": []}] and {"401", "403"} <= set(op["responses"]), (method, path)
                want = {"get": "viewer"}.get(method, "planner")
                assert op["x-gridplan-role"] in (want, "admin"), (method, path)
    roles = {(mt, p): r for mt, p, r in operations(client)}
    assert roles[("GET", "/v1/audit")] == roles[("POST", "/v1/tokens")] == roles[("GET", "/v1/links")] == "admin"
    anon = TestClient(client.app)
    assert anon.get("/openapi.json").status_code == 200 and anon.get("/healthz").status_code == 200


def test_every_route_refuses_no_token_a_bad_one_and_a_revoked_one_with_401(client, ids, data_dir):
    anon = TestClient(client.app)
    made = check(client.post("/v1/tokens", json={"org": TEST_ORG, "role": "admin", "label": "revoked"}), 201,
                 m.TokenCreated)
    check(client.get("/v1/audit", headers=bearer(made.token)), 200, m.AuditLog)
    assert client.delete(f"/v1/tokens/{made.id}").status_code == 204
    listed = {t.id: t for t in check(client.get("/v1/tokens"), 200, m.TokenList).tokens}
    assert listed[made.id].revoked_at is not None and listed[made.id].last_used is not None
    assert made.token not in client.get("/v1/tokens").text
    revoked = made.token
    for method, path, _ in operations(client):
        for headers in ({}, bearer("gp_not-a-token"), {"Authorization": "Basic dXNlcjpwYXNz"}, bearer(revoked)):
            resp = call(anon, method, path, ids, headers)
            check(resp, 401)
            assert resp.headers["www-authenticate"].startswith("Bearer"), (method, path)


def test_every_route_refuses_a_role_too_low_with_403(client, ids, tokens):
    order = ("viewer", "planner", "admin")
    checked = 0
    for method, path, role in operations(client):
        for lower in order[:order.index(role)]:
            body = check(call(client, method, path, ids, bearer(tokens[(TEST_ORG, lower)])), 403)
            assert lower in body.detail, body.detail
            checked += 1
    assert checked > 10


def test_another_organisations_objects_are_404_and_stay_as_they_were(client, ids, tokens, done_plan):
    checked = 0
    for method, path, role in operations(client):
        names_one = ("{plan_id}" in path or "{dataset_id}" in path or "{collectionId}" in path
                     or (method, path) == ("POST", "/v1/plans"))
        if role == "admin" or not names_one:
            continue
        resp = call(client, method, path, ids, bearer(tokens[(OTHER, role)]))
        if path.startswith("/ogc"):  # OGC API's own error bodies
            assert resp.status_code == 404, (method, path, resp.text)
        else:
            body = check(resp, 404)
            assert body.errors[0].field in ("plan_id", "dataset_id"), (method, path, body)
        checked += 1
    assert checked >= 8
    # listings leave them out
    viewer = bearer(tokens[(OTHER, "viewer")])
    for path in ("/v1/plans", "/v1/datasets", "/ogc/collections"):
        listed = client.get(path, headers=viewer)
        assert listed.status_code == 200 and done_plan.id not in listed.text and ids["dataset_id"] not in listed.text, path
    assert done_plan.id in client.get("/ogc/collections").text  # the test organisation's own
    # nothing was deleted, and the other organisation's admin sees it
    check(client.get(f"/v1/plans/{done_plan.id}", headers=bearer(tokens[(OTHER, "admin")])), 200, m.Plan)
    check(client.get(f"/v1/datasets/{ids['dataset_id']}"), 200, m.Dataset)


def test_records_belong_to_the_callers_organisation(client, tokens, tmp_path):
    """The org column is set from the caller of the (sync) endpoint: the async dependency's context reaches it."""
    osm = tmp_path / "two.osm"
    osm.write_text(osm_extract(), encoding="utf-8")
    with osm.open("rb") as f:
        ds = check(client.post("/v1/datasets", files={"buildings": ("two.osm", f)},
                               headers=bearer(tokens[(OTHER, "planner")])), 201, m.Dataset)
    check(client.get(f"/v1/datasets/{ds.id}", headers=bearer(tokens[(OTHER, "viewer")])), 200, m.Dataset)
    check(client.get(f"/v1/datasets/{ds.id}", headers=bearer(tokens[(TEST_ORG, "viewer")])), 404)
    check(client.get(f"/v1/datasets/{ds.id}"), 200, m.Dataset)  # the test organisation's admin sees every one
    with client.app.state.service.sessions() as s:
        from api.db import DatasetRecord
        assert s.get(DatasetRecord, ds.id).org == OTHER
    log = check(client.get("/v1/audit", params={"action": "upload", "org": OTHER}), 200, m.AuditLog)
    assert log.entries[0].target == ds.id and log.entries[0].role == "planner"
    assert client.delete(f"/v1/datasets/{ds.id}", headers=bearer(tokens[(OTHER, "planner")])).status_code == 204


def test_auth_off_is_refused_unless_the_server_binds_loopback(tmp_path):
    for host in ("0.0.0.0", "192.168.1.20", None):
        with pytest.raises(ConfigurationError, match="GRIDPLAN_AUTH=off is refused.*--host 127.0.0.1"):
            create_app(Settings(data_dir=tmp_path, auth="off", bind_host=host))
    env = {**os.environ, "GRIDPLAN_AUTH": "off", "GRIDPLAN_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run([sys.executable, "-c", "from gridplan.cli import main; main()", "serve", "--host", "0.0.0.0"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "GRIDPLAN_AUTH=off is refused: the server binds 0.0.0.0" in run.stderr, run.stderr
    with make_client(tmp_path / "off", auth="off", bind_host="127.0.0.1") as c:  # no token: an admin of no organisation
        check(c.get("/v1/tokens"), 200, m.TokenList)
        check(c.get("/v1/plans/0123456789abcdef0123456789abcdef"), 404)


def test_a_foreign_host_is_400_and_a_foreign_origin_403(client, sample_files):
    body = check(client.get("/healthz", headers={"Host": "rebound.example"}), 400)
    assert "rebound.example" in body.detail and "GRIDPLAN_ALLOWED_HOSTS" in body.detail
    with sample_files["buildings"].open("rb") as f:  # the cross-site multipart POST of a web page
        resp = client.post("/v1/datasets", files={"buildings": ("b.gpkg", f)}, headers={"Origin": "https://evil.example"})
    body = check(resp, 403)
    assert "GRIDPLAN_CORS_ORIGINS" in body.detail and "access-control-allow-origin" not in resp.headers
    check(client.get("/v1/plans/nope", headers={"Origin": "http://testserver"}), 404)  # its own pages
    check(client.get("/v1/plans/nope", headers={"Origin": "null"}), 403)


def test_cors_headers_only_for_configured_origins(tmp_path):
    with make_client(tmp_path / "data", cors_origins="https://gis.example.org") as c:
        pre = c.options("/v1/datasets", headers={"Origin": "https://gis.example.org", "Access-Control-Request-Method":
                                                 "POST", "Access-Control-Request-Headers": "authorization"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://gis.example.org"
        assert "authorization" in pre.headers["access-control-allow-headers"].lower()
        resp = c.get("/v1/plans/nope", headers={"Origin": "https://gis.example.org"})
        assert resp.status_code == 404 and resp.headers["access-control-allow-origin"] == "https://gis.example.org"
        other = c.get("/v1/plans/nope", headers={"Origin": "https://elsewhere.example.org"})
        assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
    with make_client(tmp_path / "data2", allowed_hosts="testserver,gis.example.org") as c:
        check(c.get("/healthz", headers={"Host": "gis.example.org:8443"}), 200, m.Health)


def _cli(*args, data):
    env = {**os.environ, "GRIDPLAN_DATA_DIR": str(data)}
    env.pop("GRIDPLAN_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-c", "from gridplan.cli import main; main()", "token", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60)


def test_the_cli_prints_one_token_that_works_on_a_real_server_until_revoked(tmp_path):
    data = tmp_path / "data"
    proc, base = start_server(tmp_path)
    try:
        wait_healthy(proc, base)
        made = _cli("create", "--org", "玄武区", "--role", "viewer", "--label", "door-to-door", data=data)
        assert made.returncode == 0, made.stderr
        lines = made.stdout.splitlines()
        assert len(lines) == 1 and re.fullmatch(r"gp_[A-Za-z0-9_-]{43}", lines[0]), made.stdout
        token = lines[0]
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get("/v1/plans/0123456789abcdef0123456789abcdef").status_code == 401
            assert c.get("/v1/plans/0123456789abcdef0123456789abcdef", headers=bearer(token)).status_code == 404
            assert c.post("/v1/plans", json={"dataset_id": "x"}, headers=bearer(token)).status_code == 403
            listed = _cli("list", data=data)
            assert listed.returncode == 0 and token not in listed.stdout and "玄武区\tviewer" in listed.stdout
            token_id = listed.stdout.splitlines()[1].split("\t")[0]
            revoked = _cli("revoke", token_id, data=data)
            assert revoked.returncode == 0, revoked.stderr
            assert c.get("/v1/plans/0123456789abcdef0123456789abcdef", headers=bearer(token)).status_code == 401
        assert _cli("revoke", "no-such-token", data=data).returncode == 2
        assert _cli("create", "--org", "x", "--role", "boss", data=data).returncode == 2
    finally:
        stop_server(proc)


def test_an_older_data_directory_opens_and_its_records_get_an_org_column(tmp_path):
    """A SQLite file of the schema before accounts (no org columns, no token tables) opens; its records have no
    organisation, so only admins see them."""
    data = tmp_path / "data"
    data.mkdir()
    con = sqlite3.connect(data / "gridplan.db")
    con.executescript("""
        CREATE TABLE datasets (id VARCHAR(32) PRIMARY KEY, created_at DATETIME, files JSON, options JSON, summary JSON);
        CREATE TABLE plans (id VARCHAR(32) PRIMARY KEY, dataset_id VARCHAR(32), created_at DATETIME,
          started_at DATETIME, finished_at DATETIME, status VARCHAR(16), stage VARCHAR(32), steps INTEGER,
          parameters JSON, reason TEXT, figures JSON, warnings JSON);
        INSERT INTO plans VALUES ('0123456789abcdef0123456789abcdef', 'fedcba9876543210fedcba9876543210',
          '2026-01-01 00:00:00', NULL, '2026-01-01 00:01:00', 'failed', NULL, 0, '{}', 'an old failure', NULL, NULL);
    """)
    con.commit()
    con.close()
    viewer = issue_token(data, "viewer", TEST_ORG)
    with make_client(data) as c:
        old = "/v1/plans/0123456789abcdef0123456789abcdef"
        assert check(c.get(old), 200, m.Plan).reason == "an old failure"  # an admin sees it
        check(c.get(old, headers=bearer(viewer)), 404)
    cols = {r[1] for r in sqlite3.connect(data / "gridplan.db").execute("PRAGMA table_info(plans)")}
    assert {"org", "client"} <= cols


def test_an_upload_without_a_live_token_is_refused_before_its_body_is_read(tmp_path, sample_files):
    """401 even for a body above the upload limit (which would be 413): the token is checked first."""
    with make_client(tmp_path / "data", max_upload_bytes=10_000) as c:
        anon = TestClient(c.app)
        for headers in ({}, bearer("gp_not-a-token")):
            with sample_files["buildings"].open("rb") as f:
                resp = anon.post("/v1/datasets", files={"buildings": ("b.gpkg", f)}, headers=headers)
            assert check(resp, 401) and resp.headers["www-authenticate"].startswith("Bearer")
        with sample_files["buildings"].open("rb") as f:
            check(c.post("/v1/datasets", files={"buildings": ("b.gpkg", f)}), 413)  # with a token: the limit
