"""Re-districting plans: POST /v1/plans with `redistrict` / `community_count`, the change list, and refusals."""
from __future__ import annotations

import csv
import io

import pytest

from api import models as m

from servicekit import check, district_files, upload, wait_for

CHANGES_HEADER = ["building_id", "status", "name", "building", "compound_name", "households_before", "households_after", "community_before",
                  "community_after", "grid_before", "grid_after", "micro_before", "micro_after"]


@pytest.fixture(scope="module")
def old_district(client, tmp_path_factory) -> m.Dataset:
    """6,000 households in 2 old communities, one of them oversized (3,796 households > 3,000)."""
    return upload(client, district_files(tmp_path_factory.mktemp("redistrict"), households=6000, communities=2))


def test_redistrict_plan_serves_its_change_list(client, old_district):
    accepted = check(client.post("/v1/plans", json={"dataset_id": old_district.id, "redistrict": "oversized",
                                                    "seed": 0, "start_date": "2026-01-01"}), 202, m.PlanAccepted)
    assert accepted.parameters.redistrict == "oversized" and accepted.parameters.keep_communities is True
    assert accepted.links["changes"] == f"/v1/plans/{accepted.id}/changes"
    plan = wait_for(client, accepted.id)
    assert plan.status == "done", plan.reason
    assert plan.figures.levels["community"].count == 3  # 1 kept + the oversized one split in 2
    moved = plan.figures.changes["households_moved"]
    assert moved["community"] > 0 and plan.figures.changes["units"]["community"]["retired"] == 1

    resp = client.get(f"/v1/plans/{plan.id}/changes")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[0] == CHANGES_HEADER
    assert len(rows) - 1 == plan.figures.buildings
    moved_rows = [r for r in rows[1:] if r[1] == "moved community"]
    assert moved_rows and all(r[4] != r[5] for r in moved_rows)
    communities = check(client.get(f"/v1/plans/{plan.id}/communities"), 200, m.FeatureCollection)
    assert len(communities.features) == 3


def test_infeasible_count_fails_listing_the_feasible_ones(client, old_district):
    accepted = check(client.post("/v1/plans", json={"dataset_id": old_district.id, "community_count": 99}),
                     202, m.PlanAccepted)
    assert accepted.parameters.redistrict == "oversized"  # a count alone splits the oversized ones
    plan = wait_for(client, accepted.id)
    assert plan.status == "failed" and plan.figures is None
    assert "community_count was 99" in plan.reason and "`" not in plan.reason and "3–4 with mode 'all'" in plan.reason, plan.reason
    body = check(client.get(f"/v1/plans/{plan.id}/changes"), 409)
    assert "feasible" in body.detail


def test_redistrict_all_with_a_feasible_count(client, old_district):
    accepted = check(client.post("/v1/plans", json={"dataset_id": old_district.id, "redistrict": "all",
                                                    "community_count": 3, "seed": 2}), 202, m.PlanAccepted)
    plan = wait_for(client, accepted.id)
    assert plan.status == "done", plan.reason
    assert plan.figures.levels["community"].count == 3 and plan.figures.changes["units"]["community"]["retired"] >= 1
    assert client.get(f"/v1/plans/{plan.id}/changes").content.decode("utf-8-sig").splitlines()[0] == ",".join(CHANGES_HEADER)


@pytest.mark.parametrize("params, field", [
    ({"redistrict": "oversized"}, "redistrict"),
    ({"redistrict": "all", "community_count": 3}, "redistrict"),
    ({"community_count": 3}, "community_count"),
])
def test_redistrict_without_communities_is_422_naming_the_field(client, dataset, params, field):
    body = check(client.post("/v1/plans", json={"dataset_id": dataset.id, **params}), 422)
    assert [e.field for e in body.errors] == [field] and "no communities" in body.detail


@pytest.mark.parametrize("params, field", [
    ({"redistrict": "some"}, "redistrict"),
    ({"community_count": 0}, "community_count"),
    ({"community_count": "many"}, "community_count"),
])
def test_bad_redistrict_parameters_are_422(client, old_district, params, field):
    body = check(client.post("/v1/plans", json={"dataset_id": old_district.id, **params}), 422)
    assert [e.field for e in body.errors] == [field]


def test_redistrict_with_keep_communities_false_is_422(client, old_district):
    body = check(client.post("/v1/plans", json={"dataset_id": old_district.id, "redistrict": "all",
                                                "keep_communities": False}), 422)
    assert [e.field for e in body.errors] == ["keep_communities"]


def test_plain_plan_has_no_changes_link(done_plan):
    assert "changes" not in done_plan.links and done_plan.parameters.redistrict == "none"
    assert done_plan.figures.changes is None
