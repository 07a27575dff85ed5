"""Public read-only links: an admin creates one for a plan; with its key and no token, a building's look-up (the
same answer as the authenticated route; a small escaped page for a phone's browser) and the plan's map; a revoked or
unknown key, or a deleted plan's, is 404; keys are stored hashed."""
from __future__ import annotations

import hashlib

from servicekit import TestClient, a_building, bearer, check, issue_token

from api import models as m
from api.db import LinkRecord
from api.routers.links import building_page

PHONE = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _building(client, plan_id: str) -> str:
    return a_building(client, plan_id)


def test_a_link_answers_the_look_up_and_the_map_without_a_token(client, done_plan):
    link = check(client.post(f"/v1/plans/{done_plan.id}/links", json={"label": "door codes, block 3"}), 201,
                 m.LinkCreated)
    assert link.plan_id == done_plan.id and link.label == "door codes, block 3" and link.revoked_at is None
    building = _building(client, done_plan.id)
    anon = TestClient(client.app)
    url = link.links["building"].replace("{building_id}", building)
    assert url == f"/v1/public/{link.key}/buildings/{building}"
    public = check(anon.get(url), 200, m.BuildingLookup)
    assert public == check(client.get(f"/v1/plans/{done_plan.id}/buildings/{building}"), 200, m.BuildingLookup)
    assert public.building_id == building and public.households > 0
    page = anon.get(url, headers={"Accept": PHONE})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert public.grid.code in page.text and public.community.code in page.text and building in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    the_map = anon.get(link.links["map"])
    assert the_map.status_code == 200 and the_map.content == client.get(f"/v1/plans/{done_plan.id}/map.html").content
    check(anon.get(f"/v1/public/{link.key}/buildings/no-such-building"), 404)
    # the key is stored hashed, never as it is
    with client.app.state.service.sessions() as s:
        rec = s.get(LinkRecord, link.id)
        assert rec.key_sha256 == hashlib.sha256(link.key.encode()).hexdigest()
    assert link.key not in client.get("/v1/links").text
    of_plan = check(client.get(f"/v1/plans/{done_plan.id}/links"), 200, m.LinkList).links
    assert link.id in {x.id for x in of_plan} and all(x.plan_id == done_plan.id for x in of_plan)


def test_unknown_and_revoked_keys_are_404(client, done_plan):
    anon = TestClient(client.app)
    building = _building(client, done_plan.id)
    check(anon.get(f"/v1/public/gp_unknown/buildings/{building}"), 404)
    link = check(client.post(f"/v1/plans/{done_plan.id}/links"), 201, m.LinkCreated)
    check(anon.get(link.links["map"]), 200, None)
    assert client.delete(f"/v1/links/{link.id}").status_code == 204
    body = check(anon.get(link.links["map"]), 404)
    assert "revoked" in body.detail
    check(anon.get(link.links["building"].replace("{building_id}", building)), 404)
    listed = {x.id: x for x in check(client.get("/v1/links"), 200, m.LinkList).links}
    assert listed[link.id].revoked_at is not None
    check(client.delete("/v1/links/no-such-link"), 404)


def test_deleting_a_plan_revokes_its_links(client, dataset):
    accepted = check(client.post("/v1/plans", json={"dataset_id": dataset.id, "seed": 7}), 202, m.PlanAccepted)
    link = check(client.post(f"/v1/plans/{accepted.id}/links"), 201, m.LinkCreated)
    assert client.delete(f"/v1/plans/{accepted.id}").status_code == 204
    listed = {x.id: x for x in check(client.get("/v1/links"), 200, m.LinkList).links}
    assert listed[link.id].revoked_at is not None
    check(TestClient(client.app).get(link.links["map"]), 404)


def test_only_an_admin_manages_links_and_only_for_plans_it_sees(client, data_dir, done_plan):
    planner = bearer(issue_token(data_dir, "planner"))
    check(client.post(f"/v1/plans/{done_plan.id}/links", headers=planner), 403)
    check(client.get("/v1/links", headers=planner), 403)
    check(client.post("/v1/plans/0123456789abcdef0123456789abcdef/links"), 404)


def test_the_phone_page_escapes_what_it_shows():
    unit = m.UnitRef(code="<b>320102001001</b>", households=3)
    page = building_page(m.BuildingLookup(building_id="<script>alert(1)</script>", households=3, community=unit,
                                          grid=unit, micro_grids=[unit], parts=[]))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<b>" not in page
