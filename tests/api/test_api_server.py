"""End to end: the real server (``gridplan serve``: uvicorn on 127.0.0.1), a sample upload, a plan, the grids,
and the plan it serves checked by the independent referee ``../shared/tools/checkplan.py``."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from api import models as m

REPO = Path(__file__).resolve().parents[2]
CHECKPLAN = REPO.parent / "shared" / "tools" / "checkplan.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {**os.environ, "GRIDPLAN_DATA_DIR": str(tmp_path / "data"), "GRIDPLAN_WORKERS": "1"}
    env.pop("GRIDPLAN_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gridplan.cli import main; main()", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
            assert time.monotonic() < end, "the server did not answer /healthz within 60 s"
            time.sleep(0.2)
        yield base, tmp_path / "data"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_serve_upload_plan_fetch_and_referee(server, sample_files, tmp_path):
    base, data = server
    with httpx.Client(base_url=base, timeout=60) as c:
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
