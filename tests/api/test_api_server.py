"""End to end: the real server (``gridplan serve``: uvicorn on 127.0.0.1), a sample upload, a plan, the grids,
and the plan it serves checked by the independent referee ``../shared/tools/checkplan.py``; and no process of
the server outlives it, killed or stopped.

The server runs in a session of its own (``start_new_session``), so every process it starts (the forkserver,
plan workers, parse children, multiprocessing's resource tracker) carries that session id in ``/proc``, even
after it has been re-parented to init.
"""
from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from api import models as m
from servicekit import auth_headers, free_port, start_server, wait_healthy  # noqa: F401 (free_port: test_api_postgres)

REPO = Path(__file__).resolve().parents[2]
CHECKPLAN = REPO.parent / "shared" / "tools" / "checkplan.py"
SAMPLE = REPO / "sample_geo"


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
        proc.kill()
        proc.wait()
    proc.stdout.close()
    for pid in session_processes(proc.pid):  # pragma: no cover - only when a test above failed to prove it
        os.kill(pid, signal.SIGKILL)


def session_processes(sid: int) -> list[int]:
    """The live processes (not zombies) of session ``sid``, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:  # state, ppid, pgrp, session
            found.append(int(entry))
    return sorted(found)


def wait_gone(sid: int, timeout: float = 20) -> list[int]:
    """The processes of session ``sid`` still alive after ``timeout`` s (empty once they are all gone)."""
    end = time.monotonic() + timeout
    while (left := session_processes(sid)) and time.monotonic() < end:
        time.sleep(0.1)
    return left


@pytest.fixture
def server(tmp_path):
    proc, base = start_server(tmp_path)
    try:
        wait_healthy(proc, base)
        yield base, tmp_path / "data"
    finally:
        stop_server(proc)
        assert wait_gone(proc.pid, timeout=3) == [], "processes of the server outlived it"


def test_serve_upload_plan_fetch_and_referee(server, sample_files, tmp_path):
    base, data = server
    with httpx.Client(base_url=base, timeout=60, headers=auth_headers(data)) as c:
        with sample_files["buildings"].open("rb") as b, sample_files["barriers"].open("rb") as r:
            resp = c.post("/v1/datasets", files={"buildings": ("buildings.gpkg", b), "barriers": ("roads.gpkg", r)})
        assert resp.status_code == 201, resp.text
        ds = m.Dataset.model_validate(resp.json())
        resp = c.post("/v1/plans", json={"dataset_id": ds.id, "seed": 3})
        assert resp.status_code == 202, resp.text
        plan_id = m.PlanAccepted.model_validate(resp.json()).id
        end = time.monotonic() + 120
        while (plan := m.Plan.model_validate(c.get(f"/v1/plans/{plan_id}").json())).status in ("queued", "running"):
            assert time.monotonic() < end, "the plan did not finish within 120 s"
            time.sleep(0.3)
        assert plan.status == "done", plan.reason
        grids = c.get(f"/v1/plans/{plan_id}/grids")
        assert grids.status_code == 200 and grids.headers["content-type"].startswith("application/geo+json")
        fc = m.FeatureCollection.model_validate(grids.json())
        assert len(fc.features) == plan.figures.levels["grid"].count
        exported = c.get(f"/v1/plans/{plan_id}/export", params={"format": "zip"})
        assert exported.status_code == 200
    if not CHECKPLAN.is_file():
        pytest.skip("../shared/tools/checkplan.py is absent (a fresh clone without shared/)")
    plan_dir = tmp_path / "served"
    zipfile.ZipFile(io.BytesIO(exported.content)).extractall(plan_dir)
    assert (plan_dir / "grids.geojson").read_bytes() == grids.content
    ref = subprocess.run(
        [sys.executable, str(CHECKPLAN), "--plan", str(plan_dir), "--buildings", str(plan_dir / "input_buildings.gpkg"),
         "--barriers", str(plan_dir / "input_barriers.gpkg")], capture_output=True, text=True, timeout=300,
    )
    assert ref.returncode == 0, ref.stdout[-3000:] + ref.stderr[-3000:]


def test_kill_9_of_the_server_leaves_no_process_behind(tmp_path):
    """Killed while two plans of the 60,000-household sample run (about 5 s each): everything goes at once, not when
    the plans would have finished."""
    proc, base = start_server(tmp_path, workers=2)
    try:
        wait_healthy(proc, base)
        with httpx.Client(base_url=base, timeout=60, headers=auth_headers(tmp_path / "data")) as c:
            with (SAMPLE / "buildings.gpkg").open("rb") as b, (SAMPLE / "roads.gpkg").open("rb") as r:
                resp = c.post("/v1/datasets", files={"buildings": ("b.gpkg", b), "barriers": ("r.gpkg", r)})
            assert resp.status_code == 201, resp.text
            ids = [c.post("/v1/plans", json={"dataset_id": resp.json()["id"], "seed": s}).json()["id"] for s in (1, 2, 3)]
            end = time.monotonic() + 60
            while not any(c.get(f"/v1/plans/{i}").json()["status"] == "running" for i in ids):
                assert time.monotonic() < end, "no plan started within 60 s"
                time.sleep(0.05)
        before = session_processes(proc.pid)
        assert len(before) >= 3, before  # the server, its forkserver, a plan worker (and the resource tracker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
        assert wait_gone(proc.pid, timeout=3) == [], "processes of the killed server are still alive"
    finally:
        stop_server(proc)


def test_sigterm_right_after_start_leaves_no_process_behind(tmp_path):
    proc, base = start_server(tmp_path)
    try:
        end = time.monotonic() + 60
        while len(session_processes(proc.pid)) < 2:  # the server has started its first child (the forkserver)
            assert proc.poll() is None and time.monotonic() < end, "the server started no child within 60 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        assert wait_gone(proc.pid, timeout=3) == [], "processes of the stopped server are still alive"
    finally:
        stop_server(proc)
