"""Jobs and persistence: restarts, interrupted and crashed plans, several plans at once, reads while they run."""
from __future__ import annotations

import doctest
import importlib
import logging
import time

import pytest
from servicekit import check, make_client, upload, wait_for

import api
import api.db
from api import models as m
from api.db import PlanRecord, make_engine, session_factory, utcnow
from api.jobs import JobSpec


def test_everything_survives_a_restart_and_interrupted_plans_fail(tmp_path, sample_files):
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
                             created_at=utcnow(), stage="cells", steps=3))
        s.commit()
    (data / "plans" / ("a" * 32) / "plan").mkdir(parents=True)  # half-written results are removed
    with make_client(data) as c:
        assert check(c.get(f"/v1/datasets/{ds.id}"), 200, m.Dataset) == ds
        again = check(c.get(f"/v1/plans/{plan.id}"), 200, m.Plan)
        assert again.status == "done" and again.figures == plan.figures
        assert c.get(f"/v1/plans/{plan.id}/grids").content == grids
        for pid in ("a" * 32, "b" * 32):
            lost = check(c.get(f"/v1/plans/{pid}"), 200, m.Plan)
            assert lost.status == "failed" and "restart" in lost.reason and lost.progress is None
        assert not (data / "plans" / ("a" * 32)).exists()
        assert check(c.get("/healthz"), 200, m.Health).plans_running == 0


def test_a_worker_that_dies_fails_its_plan_and_the_pool_recovers(tmp_path, sample_files, caplog):
    caplog.set_level(logging.ERROR, logger="api.jobs")
    data = tmp_path / "data"
    with make_client(data) as c:
        ds = upload(c, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})
        svc = c.app.state.service
        pid = "c" * 32
        with svc.sessions() as s:
            s.add(PlanRecord(id=pid, dataset_id=ds.id, status="queued", parameters={}, created_at=utcnow(), steps=0))
            s.commit()
        svc.jobs.submit(JobSpec(plan_id=pid, database_url=svc.url, data_dir=str(data), dataset_dir="", files={},
                                options={}, parameters={}, out_dir=str(data / "plans" / pid / "plan"),
                                max_uncompressed=1, crash=True))
        dead = wait_for(c, pid)
        assert dead.status == "failed" and "stopped unexpectedly" in dead.reason
        after = wait_for(c, check(c.post("/v1/plans", json={"dataset_id": ds.id}), 202, m.PlanAccepted).id)
        assert after.status == "done"


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
    import api.app

    def boom():
        raise RuntimeError(f"secret detail {tmp_path}")

    monkeypatch.setattr(api.app, "_export_formats", boom)
    caplog.set_level(logging.ERROR, logger="api.errors")
    with make_client(tmp_path / "data") as c:
        c_raise = type(c)(c.app, raise_server_exceptions=False)
        resp = c_raise.get(f"/v1/plans/{'d' * 32}/export")
    body = check(resp, 500)
    assert "secret" not in resp.text and "reference" in body.detail
    ref = body.detail.split("reference ")[1].split(")")[0]
    assert any(ref in r.getMessage() and "secret detail" in (r.exc_text or "") for r in caplog.records)


def test_plan_write_errors_fail_with_a_generic_reason(client, dataset, data_dir):
    """A PlanWriteError is the server's problem: the reason says so and shows no path."""
    svc = client.app.state.service
    pid = "e" * 32
    params = m.PlanParameters(keep_communities=False).model_dump(mode="json")
    with svc.sessions() as s:
        rec = s.get(api.db.DatasetRecord, dataset.id)
        s.add(PlanRecord(id=pid, dataset_id=dataset.id, status="queued", created_at=utcnow(), steps=0, parameters=params))
        s.commit()
    blocker = data_dir / "plans" / pid
    blocker.write_text("a file where the plan's directory should be")
    svc.jobs.submit(JobSpec(plan_id=pid, database_url=svc.url, data_dir=str(data_dir), dataset_dir=str(svc.layout.dataset(dataset.id)),
                            files=rec.files, options=rec.options, parameters=params, out_dir=str(blocker / "plan"),
                            max_uncompressed=1 << 30))
    plan = wait_for(client, pid)
    assert plan.status == "failed" and "internal error while writing" in plan.reason and "/" not in plan.reason
    blocker.unlink()
    assert client.delete(f"/v1/plans/{pid}").status_code == 204


@pytest.mark.parametrize("module", ["api.settings", "api.db", "api.storage", "api.uploads", "api.errors", "api.results"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


def test_create_app_does_no_work_at_import(tmp_path):
    app = api.create_app(api.Settings(data_dir=tmp_path / "nowhere"))
    assert app.title == "gridplan" and not (tmp_path / "nowhere").exists()
