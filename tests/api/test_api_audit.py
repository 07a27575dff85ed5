"""The audit log: who (organisation, token, role) uploaded, planned, exported, deleted, and changed tokens and
links, when; GET /v1/audit for admins, newest first, with filters and paging."""
from __future__ import annotations

import datetime as dt

from servicekit import bearer, check, osm_extract

from api import models as m

ORG = "audit-org"


def test_actions_are_recorded_with_who_did_them(client, done_plan, tmp_path):
    planner = check(client.post("/v1/tokens", json={"org": ORG, "role": "planner", "label": "audit"}), 201,
                    m.TokenCreated)
    start = dt.datetime.now(dt.timezone.utc)
    osm = tmp_path / "two.osm"
    osm.write_text(osm_extract(), encoding="utf-8")
    with osm.open("rb") as f:
        ds = check(client.post("/v1/datasets", files={"buildings": ("two.osm", f)}, headers=bearer(planner.token)),
                   201, m.Dataset)
    plan = check(client.post("/v1/plans", json={"dataset_id": ds.id}, headers=bearer(planner.token)), 202,
                 m.PlanAccepted)
    assert client.delete(f"/v1/plans/{plan.id}", headers=bearer(planner.token)).status_code == 204
    assert client.delete(f"/v1/datasets/{ds.id}", headers=bearer(planner.token)).status_code == 204
    log = check(client.get("/v1/audit", params={"org": ORG}), 200, m.AuditLog)
    got = [(e.action, e.target) for e in log.entries]
    assert got == [("delete", ds.id), ("delete", plan.id), ("plan", plan.id), ("upload", ds.id)], got
    assert all(e.token_id == planner.id and e.role == "planner" and e.org == ORG and e.at >= start
               for e in log.entries)
    assert log.entries[2].detail == {"kind": "plan", "dataset_id": ds.id}
    # the token's creation, by the test organisation's admin
    made = check(client.get("/v1/audit", params={"action": "create_token"}), 200, m.AuditLog).entries
    assert any(e.target == planner.id and e.detail["org"] == ORG for e in made)
    # an export of the test organisation's plan
    assert client.get(f"/v1/plans/{done_plan.id}/export", params={"format": "csv"}).status_code == 200
    exports = check(client.get("/v1/audit", params={"action": "export", "limit": 1}), 200, m.AuditLog).entries
    assert exports[0].target == done_plan.id and exports[0].detail["format"] == "csv"


def test_the_log_pages_newest_first_and_filters_by_time(client, dataset):
    for _ in range(3):
        assert client.get(f"/v1/plans/{'0' * 32}").status_code == 404  # reads are not recorded
        plan_id = check(client.post("/v1/plans", json={"dataset_id": dataset.id}), 202, m.PlanAccepted).id
        link_id = check(client.post(f"/v1/plans/{plan_id}/links"), 201, m.LinkCreated).id
        assert client.delete(f"/v1/links/{link_id}").status_code == 204
        assert client.delete(f"/v1/plans/{plan_id}").status_code == 204
    first = check(client.get("/v1/audit", params={"limit": 2}), 200, m.AuditLog)
    assert len(first.entries) == 2 and first.next is not None
    second = check(client.get(first.next), 200, m.AuditLog)
    assert len(second.entries) == 2
    ids = [e.id for e in first.entries + second.entries]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert [e.action for e in first.entries + second.entries] == ["delete", "revoke_link", "create_link", "plan"]
    assert first.entries[0].target == plan_id and first.entries[1].target == link_id
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()
    assert check(client.get("/v1/audit", params={"since": future}), 200, m.AuditLog).entries == []
    check(client.get("/v1/audit", params={"action": "sneeze"}), 422)
