"""Jobs and persistence: restarts, interrupted and crashed plans, several plans at once, reads while they run."""
from __future__ import annotations

import doctest
import errno
import importlib
import logging
import os
import signal
import time
import uuid

import pytest
from servicekit import check, district_files, make_client, upload, wait_for
from test_api_postgres import postgres_url  # noqa: F401 - the fixture: a PostgreSQL server for this module

import api
import api.db
import api.jobs
from api import models as m
from api.db import PlanRecord, make_engine, session_factory, utcnow
from api.jobs import JobSpec, run_plan


def test_everything_survives_a_restart_running_plans_fail_and_queued_ones_run(tmp_path, sample_files):
    data = tmp_path / "data"
    with make_client(data) as c:
        ds = upload(c, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})
        plan = wait_for(c, check(c.post("/v1/plans", json={"dataset_id": ds.id}), 202, m.PlanAccepted).id)
        assert plan.status == "done"
        grids = c.get(f"/v1/plans/{plan.id}/grids").content
    # a plan left running and one left queued, as after a crash
    sessions = session_factory(make_engine(f"sqlite:///{data / 'gridplan.db'}"))
    with sessions() as s:
        for pid, status in (("a" * 32, "running"), ("b" * 32, "queued")):
            s.add(PlanRecord(id=pid, dataset_id=ds.id, status=status, parameters=plan.parameters.model_dump(mode="json"),
                             created_at=utcnow(), stage="cells" if status == "running" else None, steps=3))
        s.commit()
    (data / "plans" / ("a" * 32) / "plan").mkdir(parents=True)  # half-written results are removed
    with make_client(data) as c:
        assert check(c.get(f"/v1/datasets/{ds.id}"), 200, m.Dataset) == ds
        again = check(c.get(f"/v1/plans/{plan.id}"), 200, m.Plan)
        assert again.status == "done" and again.figures == plan.figures
        assert c.get(f"/v1/plans/{plan.id}/grids").content == grids
        lost = check(c.get(f"/v1/plans/{'a' * 32}"), 200, m.Plan)
        assert lost.status == "failed" and "restart" in lost.reason and lost.progress is None
        assert not (data / "plans" / ("a" * 32)).exists()
        requeued = wait_for(c, "b" * 32)
        assert requeued.status == "done", requeued.reason
        assert c.get(f"/v1/plans/{'b' * 32}/grids").content == grids  # the same parameters, the same plan
        assert check(c.get("/healthz"), 200, m.Health).plans_running == 0


@pytest.fixture(scope="module")
def slow_files(tmp_path_factory):
    """A 20,000-household district: a plan of it runs about 2 s, long enough to kill it while it runs."""
    return district_files(tmp_path_factory.mktemp("slow"), households=20000, communities=1)


def _running(client, ids: list[str], timeout: float = 60) -> list[m.Plan]:
    end = time.monotonic() + timeout
    while True:
        plans = [check(client.get(f"/v1/plans/{i}"), 200, m.Plan) for i in ids]
        if all(p.status == "running" for p in plans) or time.monotonic() > end:
            return plans
        if any(p.status in ("done", "failed") for p in plans):
            return plans
        time.sleep(0.05)


def test_a_killed_worker_fails_only_its_plan_and_queued_plans_run(client, data_dir, slow_files, dataset, caplog):
    caplog.set_level(logging.ERROR, logger="api.jobs")
    slow = upload(client, {"buildings": slow_files["buildings"], "barriers": slow_files["barriers"]})
    a, b = (check(client.post("/v1/plans", json={"dataset_id": slow.id, "seed": s}), 202, m.PlanAccepted).id for s in (1, 2))
    queued = check(client.post("/v1/plans", json={"dataset_id": dataset.id}), 202, m.PlanAccepted).id
    plans = _running(client, [a, b])
    assert [p.status for p in plans] == ["running", "running"], [(p.status, p.reason) for p in plans]
    assert check(client.get(f"/v1/plans/{queued}"), 200, m.Plan).status == "queued"  # two workers: two running
    victim = client.app.state.service.jobs.pids()[a]
    os.kill(victim, signal.SIGKILL)
    dead, other, last = (wait_for(client, i) for i in (a, b, queued))
    assert dead.status == "failed" and "killed (SIGKILL)" in dead.reason and "memory" in dead.reason
    assert other.status == "done" and last.status == "done", (other.reason, last.reason)
    assert not (data_dir / "plans" / a).exists()  # a failed plan leaves no folder
    assert _alive(victim) is False
    assert any("ended without an outcome" in r.getMessage() for r in caplog.records)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_plan_past_its_memory_limit_fails_saying_so(tmp_path, sample_files):
    with make_client(tmp_path / "data", plan_memory_bytes=1024**2) as c:
        ds = upload(c, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})
        plan = wait_for(c, check(c.post("/v1/plans", json={"dataset_id": ds.id}), 202, m.PlanAccepted).id)
        assert plan.status == "failed" and "GRIDPLAN_PLAN_MEMORY_BYTES" in plan.reason and "memory" in plan.reason
        assert not (tmp_path / "data" / "plans" / plan.id).exists()


def test_a_plan_past_its_time_limit_is_stopped_and_fails_saying_so(tmp_path, sample_files):
    with make_client(tmp_path / "data", plan_timeout_s=0.2) as c:
        ds = upload(c, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})
        plan = wait_for(c, check(c.post("/v1/plans", json={"dataset_id": ds.id}), 202, m.PlanAccepted).id)
        assert plan.status == "failed" and "GRIDPLAN_PLAN_TIMEOUT_S (0.2 s)" in plan.reason, plan.reason
        assert not (tmp_path / "data" / "plans" / plan.id).exists()
        assert c.app.state.service.jobs.pids() == {}


def test_plans_queue_up_to_the_workers_and_reads_keep_answering(client, dataset, done_plan):
    ids = [check(client.post("/v1/plans", json={"dataset_id": dataset.id, "seed": s}), 202, m.PlanAccepted).id
           for s in (11, 12, 13)]
    seen_running, reads = 0, 0
    end = time.monotonic() + 120
    while time.monotonic() < end:
        states = [check(client.get(f"/v1/plans/{i}"), 200, m.Plan).status for i in ids]
        assert states.count("running") <= 2  # never more than the workers
        seen_running = max(seen_running, states.count("running"))
        if "running" in states:  # a read of another plan's grids while these run
            check(client.get(f"/v1/plans/{done_plan.id}/grids"), 200, m.FeatureCollection)
            reads += 1
        if all(s in ("done", "failed") for s in states):
            break
        time.sleep(0.1)
    assert states == ["done"] * 3 and seen_running >= 1 and reads >= 1


def test_library_errors_map_to_statuses():
    from gridplan.errors import GridplanError, InfeasibleError, InputError, OptionError, PlanWriteError

    from api.errors import status_for

    assert [status_for(e("x")) for e in (InputError, OptionError, InfeasibleError, PlanWriteError, GridplanError)] == \
        [422, 422, 422, 500, 500]
    assert status_for(KeyError("x")) == 500


def test_unexpected_errors_are_a_generic_500_logged_with_details(tmp_path, monkeypatch, caplog):
    import api.routers.exports

    def boom(*args):
        raise RuntimeError(f"secret detail {tmp_path}")

    monkeypatch.setattr(api.routers.exports, "_choose", boom)
    caplog.set_level(logging.ERROR, logger="api.errors")
    with make_client(tmp_path / "data") as c:
        c_raise = type(c)(c.app, raise_server_exceptions=False, headers=c.headers)
        resp = c_raise.get(f"/v1/plans/{'d' * 32}/export")
    body = check(resp, 500)
    assert "secret" not in resp.text and "reference" in body.detail
    ref = body.detail.split("reference ")[1].split(")")[0]
    assert any(ref in r.getMessage() and "secret detail" in (r.exc_text or "") for r in caplog.records)


def _queue_plan(svc, dataset_id: str, plan_id: str, **params) -> None:
    """A queued plan straight in the database, as POST /v1/plans records it; the dispatcher starts it when woken."""
    parameters = m.PlanParameters(keep_communities=False, **params).model_dump(mode="json")
    with svc.sessions() as s:
        s.add(PlanRecord(id=plan_id, dataset_id=dataset_id, status="queued", created_at=utcnow(), steps=0,
                         parameters=parameters))
        s.commit()
    svc.jobs.wake()


def test_plan_write_errors_fail_with_a_generic_reason(client, dataset, data_dir):
    """A PlanWriteError is the server's problem: the reason says so and shows no path."""
    svc = client.app.state.service
    pid = "e" * 32
    blocker = data_dir / "plans" / pid
    blocker.write_text("a file where the plan's directory should be")
    _queue_plan(svc, dataset.id, pid)
    plan = wait_for(client, pid)
    assert plan.status == "failed" and "internal error while writing" in plan.reason and "/" not in plan.reason
    blocker.unlink()
    assert client.delete(f"/v1/plans/{pid}").status_code == 204


def test_a_full_disk_while_writing_fails_the_plan_saying_so_and_leaves_nothing(client, dataset, data_dir, tmp_path,
                                                                              monkeypatch):
    """run_plan, as a worker runs it, here and over a database of its own (no dispatcher), the disk full at the end."""
    import gridplan.outputs.export

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gridplan.outputs.export, "_move_into_place", full)
    svc = client.app.state.service
    with svc.sessions() as s:
        ds = s.get(api.db.DatasetRecord, dataset.id)
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    sessions = session_factory(make_engine(url))
    api.db.create_schema(sessions.kw["bind"])
    pid, params = "f" * 32, m.PlanParameters(keep_communities=False).model_dump(mode="json")
    with sessions() as s:
        s.add(PlanRecord(id=pid, dataset_id=ds.id, status="queued", created_at=utcnow(), steps=0, parameters=params))
        s.commit()
    out = tmp_path / "plans" / pid / "plan"
    spec = JobSpec(plan_id=pid, database_url=url, data_dir=str(tmp_path), dataset_dir=str(svc.layout.dataset(ds.id)),
                   files=ds.files, options=ds.options, parameters=params, out_dir=str(out), max_uncompressed=1 << 30)
    assert run_plan(spec) == "failed"
    with sessions() as s:
        rec = s.get(PlanRecord, pid)
    assert rec.status == "failed" and "disk is full" in rec.reason and "GRIDPLAN_DATA_DIR" in rec.reason
    assert not out.parent.exists()  # no empty plans/<id>/
    sessions.kw["bind"].dispose()
    api.jobs._ENGINES.pop(url).kw["bind"].dispose()  # the worker's engine, made by run_plan in this process


def test_an_upload_on_a_full_disk_is_507_and_leaves_nothing(client, sample_files, data_dir, monkeypatch):
    import api.routers.datasets

    def save_then_fail(role, filename, src, directory, limit):
        (directory / f"{role}.part").write_bytes(src.read(1000))  # half-written
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(api.routers.datasets, "save_upload", save_then_fail)
    resp = client.post("/v1/datasets", files={"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())})
    body = check(resp, 507)
    assert "disk is full" in body.detail and "GRIDPLAN_DATA_DIR" in body.detail
    assert not list((data_dir / "datasets").glob(".incoming-*"))


def test_healthz_reports_low_disk_space_and_uploads_and_plans_are_refused(client, dataset, sample_files, monkeypatch):
    import api.limits

    ok = check(client.get("/healthz"), 200, m.Health)
    assert ok.status == "ok" and ok.disk_free_bytes > 0 and ok.problems == []
    monkeypatch.setattr(api.limits, "free_bytes", lambda path: 1000)
    low = check(client.get("/healthz"), 200, m.Health)
    assert low.status == "degraded" and low.disk_free_bytes == 1000 and "GRIDPLAN_MIN_FREE_BYTES" in low.problems[0]
    body = check(client.post("/v1/datasets", files={"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())}), 507)
    assert "1,000 bytes free" in body.detail
    check(client.post("/v1/plans", json={"dataset_id": dataset.id}), 507)


def test_queued_plans_are_limited_per_client_address(client, dataset, monkeypatch):
    monkeypatch.setattr(client.app.state.service.settings, "max_queued_plans", 2)
    # a plan runs about a second, five requests take a few milliseconds: whatever the two workers have started,
    # at least two plans are still queued at the fifth
    resps = [client.post("/v1/plans", json={"dataset_id": dataset.id, "seed": s}) for s in range(5)]
    refused = [r for r in resps if r.status_code == 429]
    assert refused and all(r.status_code in (202, 429) for r in resps), [r.status_code for r in resps]
    body = check(refused[0], 429)
    assert "GRIDPLAN_MAX_QUEUED_PLANS" in body.detail and refused[0].headers["Retry-After"].isdigit()
    other = type(client)(client.app, client=("10.1.2.3", 40000), headers=client.headers)  # another address: its own count
    mine = check(other.post("/v1/plans", json={"dataset_id": dataset.id}), 202, m.PlanAccepted)
    accepted = [r.json()["id"] for r in resps if r.status_code == 202] + [mine.id]
    assert [wait_for(client, i).status for i in accepted] == ["done"] * len(accepted)
    check(client.post("/v1/plans", json={"dataset_id": dataset.id}), 202, m.PlanAccepted)  # the queue drained


def _copy_dataset(svc, source_id: str) -> str:
    """A new dataset record with a copy of ``source_id``'s files (no upload, no inspection)."""
    import shutil

    ds_id = uuid.uuid4().hex
    shutil.copytree(svc.layout.dataset(source_id), svc.layout.dataset(ds_id))
    with svc.sessions() as s:
        src = s.get(api.db.DatasetRecord, source_id)
        s.add(api.db.DatasetRecord(id=ds_id, files=src.files, options=src.options, summary=src.summary))
        s.commit()
    return ds_id


def _a_delete_waits_for_the_lock_of_a_plan_request(client, source_id: str) -> None:
    """The row is locked (as POST /v1/plans locks it) while a DELETE arrives; a plan is recorded before the lock is
    let go, so the DELETE, which waited, must refuse."""
    import threading

    svc = client.app.state.service
    ds_id = _copy_dataset(svc, source_id)
    answers: dict[str, int] = {}
    plan_id = uuid.uuid4().hex
    with svc.sessions() as s:
        assert api.db.lock_dataset(s, ds_id)
        t = threading.Thread(target=lambda: answers.update(delete=client.delete(f"/v1/datasets/{ds_id}").status_code))
        t.start()
        time.sleep(0.3)
        assert t.is_alive()  # waiting for the lock
        s.add(PlanRecord(id=plan_id, dataset_id=ds_id, status="queued", created_at=utcnow(), steps=0,
                         parameters=m.PlanParameters(keep_communities=False).model_dump(mode="json")))
        s.commit()
    svc.jobs.wake()
    t.join(timeout=60)
    assert answers == {"delete": 409}
    assert wait_for(client, plan_id).status == "done"


def test_a_plan_request_and_a_delete_of_its_dataset_do_not_both_succeed(client, dataset, data_dir):
    """Both transactions start by locking the dataset's row: whichever comes second sees what the first did."""
    import threading

    _a_delete_waits_for_the_lock_of_a_plan_request(client, dataset.id)
    svc = client.app.state.service
    outcomes, accepted = [], []
    for _ in range(8):  # at the same moment, eight times: never both
        ds_id = _copy_dataset(svc, dataset.id)
        barrier = threading.Barrier(2)
        got: dict[str, object] = {}

        def plan(ds_id=ds_id, barrier=barrier, got=got):
            barrier.wait()
            got["plan"] = client.post("/v1/plans", json={"dataset_id": ds_id})

        def drop(ds_id=ds_id, barrier=barrier, got=got):
            barrier.wait()
            got["delete"] = client.delete(f"/v1/datasets/{ds_id}")

        threads = [threading.Thread(target=plan), threading.Thread(target=drop)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
        pair = (got["plan"].status_code, got["delete"].status_code)
        assert pair in ((202, 409), (404, 204)), pair
        outcomes.append(pair)
        if pair[0] == 202:
            accepted.append(got["plan"].json()["id"])
        else:
            assert not (data_dir / "datasets" / ds_id).exists()
    for plan_id in accepted:
        done = wait_for(client, plan_id)
        assert done.status == "done", done.reason  # never "no such file"


def test_the_dataset_lock_holds_on_postgresql(postgres_url, tmp_path, sample_files):
    with make_client(tmp_path / "data", database_url=postgres_url) as c:
        ds = upload(c, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})
        _a_delete_waits_for_the_lock_of_a_plan_request(c, ds.id)


def test_a_database_of_an_older_version_gets_the_new_columns(tmp_path):
    from sqlalchemy import inspect, text

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:  # the plans table as the first version created it
        conn.execute(text("CREATE TABLE plans (id VARCHAR(32) PRIMARY KEY, dataset_id VARCHAR(32), created_at DATETIME, "
                          "started_at DATETIME, finished_at DATETIME, status VARCHAR(16), stage VARCHAR(32), steps INTEGER, "
                          "parameters JSON, reason TEXT, figures JSON, warnings JSON)"))
        conn.execute(text("INSERT INTO plans (id, dataset_id, status, steps, parameters) VALUES ('p1', 'd1', 'done', 0, '{}')"))
    api.db.create_schema(engine)
    api.db.create_schema(engine)  # idempotent
    assert "client" in {c["name"] for c in inspect(engine).get_columns("plans")}
    with session_factory(engine)() as s:
        assert s.get(PlanRecord, "p1").client is None
    engine.dispose()


@pytest.mark.parametrize("module", ["api.settings", "api.db", "api.storage", "api.uploads", "api.errors", "api.results",
                                    "api.procs", "api.parsing", "api.limits", "api.jobs"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


def test_create_app_does_no_work_at_import(tmp_path):
    app = api.create_app(api.Settings(data_dir=tmp_path / "nowhere"))
    assert app.title == "gridplan" and not (tmp_path / "nowhere").exists()
