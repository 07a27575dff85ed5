"""Helpers of the service tests: a client over a new app, response checks against the models, polling."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
from pydantic import BaseModel

with warnings.catch_warnings():
    # Starlette asks for `httpx2` instead of `httpx`; the test client works the same with either
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from fastapi.testclient import TestClient

from api import Settings, create_app
from api import models as m

WAIT_S = 120
REPO = Path(__file__).resolve().parents[2]
#: the organisation of the tests' clients
TEST_ORG = "test-org"
#: the Host the TestClient sends
TEST_HOST = "testserver"
_ADMIN: dict[tuple[str, str | None], dict[str, str]] = {}


def issue_token(data_dir: Path, role: str = "admin", org: str = TEST_ORG, database_url: str | None = None) -> str:
    """A new token of ``org`` with ``role`` in the database of the service over ``data_dir`` (as `gridplan token
    create` makes one)."""
    from api.auth import issue_token as issue
    from api.db import create_schema, make_engine, session_factory

    settings = Settings(data_dir=data_dir, database_url=database_url)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url_or_default())
    try:
        create_schema(engine)
        return issue(session_factory(engine), org, role)[1]
    finally:
        engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth_headers(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """Headers that authenticate as an admin of the test organisation on the service over ``data_dir`` (for clients
    other than :func:`make_client`'s: a real server, GDAL, a browser); one token per data directory."""
    key = (str(Path(data_dir).absolute()), database_url)
    if key not in _ADMIN:
        _ADMIN[key] = bearer(issue_token(data_dir, "admin", TEST_ORG, database_url))
    return dict(_ADMIN[key])


def service_settings(data_dir: Path, **settings) -> Settings:
    """Settings of a test service: one worker unless told, answering the TestClient's Host."""
    settings.setdefault("workers", 1)
    settings.setdefault("allowed_hosts", TEST_HOST)
    return Settings(data_dir=data_dir, **settings)


def make_client(data_dir: Path, *, headers: dict[str, str] | None = None, **settings) -> TestClient:
    """A TestClient over a new app (enter it with ``with`` to run the lifespan), sending an admin token of
    :data:`TEST_ORG` unless ``headers`` say otherwise."""
    s = service_settings(data_dir, **settings)
    if headers is None:
        headers = auth_headers(data_dir, s.database_url) if s.auth == "on" else {}
    return TestClient(create_app(s), headers=headers)


def check(resp, status: int, model: type[BaseModel] | None = None):
    """Assert the status, validate the JSON body against ``model`` (ErrorBody for errors), return it."""
    assert resp.status_code == status, (resp.status_code, resp.text[:2000])
    if model is None and status >= 400:
        model = m.ErrorBody
    if model is None:
        return resp
    body = model.model_validate(resp.json())
    if isinstance(body, m.ErrorBody):
        assert "/tmp" not in resp.text and "/work" not in resp.text, resp.text  # no internal paths
    return body


def wait_for(client, plan_id: str, timeout: float = WAIT_S) -> m.Plan:
    """Poll a plan until it is done or failed (every poll validated against the model)."""
    end = time.monotonic() + timeout
    while True:
        plan = check(client.get(f"/v1/plans/{plan_id}"), 200, m.Plan)
        if plan.status in ("done", "failed") or time.monotonic() > end:
            return plan
        time.sleep(0.2)


def upload(client, files: dict[str, Path], **form) -> m.Dataset:
    handles = {role: (path.name, path.open("rb")) for role, path in files.items()}
    try:
        return check(client.post("/v1/datasets", files=handles, data=form), 201, m.Dataset)
    finally:
        for _, f in handles.values():
            f.close()


def district_files(root: Path, *, households: int, communities: int) -> dict[str, Path]:
    """A generated district written as GeoPackages: buildings, barriers and its (old) communities."""
    from gridplan.sample import make_district

    d = make_district(households=households, communities=communities)
    out = {"buildings": root / "buildings.gpkg", "barriers": root / "roads.gpkg", "communities": root / "communities.gpkg"}
    d.buildings.to_file(out["buildings"])
    d.roads.to_file(out["barriers"])
    d.communities.to_file(out["communities"])
    return out


def child_probe(conn, limits) -> None:
    """In a child of the service's forkserver: take ``limits`` as every child does, then tell what it got."""
    import ctypes
    import ctypes.util
    import errno
    import os
    import resource
    import tempfile

    import pyogrio

    from api import procs

    procs.enter_child(limits)
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    sig = ctypes.c_int(0)
    libc.prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG
    big = os.path.join(tempfile.gettempdir(), "big")
    try:
        with open(big, "wb") as f:
            f.write(b"\0" * (limits.file_bytes + 4096))
        wrote = "wrote past the limit"
    except OSError as exc:
        wrote = errno.errorcode.get(exc.errno, str(exc.errno))
    conn.send({
        "tempdir": tempfile.gettempdir(), "TMPDIR": os.environ.get("TMPDIR"), "CPL_TMPDIR": os.environ.get("CPL_TMPDIR"),
        "pdeathsig": sig.value, "as": resource.getrlimit(resource.RLIMIT_AS)[0],
        "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0], "cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
        "vrt": "OGR_VRT" in pyogrio.list_drivers(), "gpkg": "GPKG" in pyogrio.list_drivers(), "write": wrote,
        "ppid": os.getppid(),
    })
    conn.close()


_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
{nodes}
 <way id="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/><tag k="building" v="apartments"/>
  <tag k="building:levels" v="6"/></way>
 <way id="2"><nd ref="5"/><nd ref="6"/><nd ref="7"/><nd ref="8"/><nd ref="5"/><tag k="building" v="apartments"/>
  <tag k="building:levels" v="6"/></way>
 <way id="3"><nd ref="9"/><nd ref="10"/><tag k="highway" v="residential"/><tag k="name" v="石鼓路"/></way>
</osm>
"""


def osm_extract() -> str:
    """A small OSM XML extract: two 6-storey apartment blocks and a residential street."""
    pts = [(0, 0), (0.0004, 0), (0.0004, 0.0003), (0, 0.0003), (0.001, 0), (0.0014, 0), (0.0014, 0.0003),
           (0.001, 0.0003), (0.0007, -0.001), (0.0007, 0.001)]
    nodes = "\n".join(f' <node id="{i + 1}" lat="{32.04 + y:.7f}" lon="{118.78 + x:.7f}"/>' for i, (x, y) in enumerate(pts))
    return _OSM.format(nodes=nodes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp_path, workers: int = 1, **env_settings: str) -> tuple[subprocess.Popen, str]:
    """``gridplan serve`` on a free port, in a session of its own, over ``tmp_path / "data"`` (authenticate with
    ``auth_headers(tmp_path / "data")``); ``env_settings``: more GRIDPLAN_* variables (``auth="off"``); (process,
    base URL)."""
    port = free_port()
    env = {**os.environ, "GRIDPLAN_DATA_DIR": str(tmp_path / "data"), "GRIDPLAN_WORKERS": str(workers),
           **{f"GRIDPLAN_{k.upper()}": v for k, v in env_settings.items()}}
    env.pop("GRIDPLAN_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gridplan.cli import main; main()", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(proc: subprocess.Popen, base: str) -> None:
    end = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
        assert time.monotonic() < end, "the server did not answer /healthz within 60 s"
        time.sleep(0.2)


def a_building(client, plan_id: str) -> str:
    """The id of the first building of a done plan's roster (GET .../export?table=roster)."""
    import csv
    import io

    resp = client.get(f"/v1/plans/{plan_id}/export", params={"table": "roster"})
    assert resp.status_code == 200, resp.text[:500]
    header, first = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))[:2]
    return first[next(i for i, name in enumerate(header) if name.split()[-1] == "building_id")]
