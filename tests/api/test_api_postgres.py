"""The PostgreSQL path, against a real server this fixture starts (initdb into a temporary directory, pg_ctl
on a free port of 127.0.0.1, as a non-root user when run as root); skipped with a message where none is
available (Debian: apt-get install postgresql, as .ci/run does)."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from servicekit import check, make_client, upload, wait_for
from servicekit import free_port

from api import models as m
from api.db import PlanRecord, utcnow


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL is not installed (initdb/pg_ctl not found); on Debian: apt-get install postgresql")
    prefix: list[str] = []
    # in /tmp (where an unprivileged user may enter), whatever TMPDIR says
    root = tempfile.mkdtemp(prefix="gridplan-pg-", dir="/tmp" if os.path.isdir("/tmp") else None)
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as an unprivileged user
        runuser = shutil.which("runuser")
        user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        if not (runuser and user):
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip("running as root with no runuser or unprivileged user to run PostgreSQL as")
        pw = pwd.getpwnam(user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = [runuser, "-u", user, "--"]
    db, port = str(Path(root) / "db"), free_port()
    try:
        subprocess.run([*prefix, initdb, "-D", db, "-U", "gridplan", "--auth=trust", "-E", "UTF8", "--no-locale"],
                       check=True, capture_output=True, timeout=120, cwd=root)
        subprocess.run([*prefix, pg_ctl, "-D", db, "-l", str(Path(root) / "log"), "-w", "-t", "60", "-o",
                        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True, timeout=120, cwd=root)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = Path(root) / "log"
        detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")[-500:]
        detail += log.read_text(errors="replace")[-500:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {detail}")
    try:
        yield f"postgresql+psycopg://gridplan@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", db, "-m", "immediate", "stop"], capture_output=True, timeout=60, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_postgresql_plans_and_restarts(postgres_url, tmp_path, sample_files):
    data = tmp_path / "data"
    with make_client(data, database_url=postgres_url) as c:
        assert check(c.get("/healthz"), 200, m.Health).database == "postgresql"
        ds = upload(c, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"],
                        "communities": sample_files["communities"]})
        plan = wait_for(c, check(c.post("/v1/plans", json={"dataset_id": ds.id}), 202, m.PlanAccepted).id)
        assert plan.status == "done" and plan.parameters.keep_communities is True
        assert plan.figures.levels["community"].count == 1
        grids = check(c.get(f"/v1/plans/{plan.id}/grids"), 200, m.FeatureCollection)
        with c.app.state.service.sessions() as s:
            s.add(PlanRecord(id="a" * 32, dataset_id=ds.id, status="running", parameters={}, created_at=utcnow(), steps=0))
            s.commit()
    assert not (data / "gridplan.db").exists()  # nothing went to SQLite
    with make_client(data, database_url=postgres_url) as c:
        again = check(c.get(f"/v1/plans/{plan.id}"), 200, m.Plan)
        assert again.status == "done" and again.created_at == plan.created_at
        assert check(c.get(f"/v1/plans/{plan.id}/grids"), 200, m.FeatureCollection) == grids
        lost = check(c.get(f"/v1/plans/{'a' * 32}"), 200, m.Plan)
        assert lost.status == "failed" and "restart" in lost.reason
        assert c.delete(f"/v1/datasets/{ds.id}").status_code == 204
