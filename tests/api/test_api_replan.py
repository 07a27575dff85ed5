"""Re-plans as plan requests (POST /v1/plans with replan_of) and the diff of two done plans (GET .../diff)."""
from __future__ import annotations

import csv
import io
import zipfile

import geopandas as gpd
import pytest

from api import models as m

from servicekit import check, upload, wait_for


def _roster(client, plan_id: str) -> list[dict]:
    """The plan directory's buildings.csv (codes by level, parts), from the zipped plan directory."""
    resp = client.get(f"/v1/plans/{plan_id}/export", params={"format": "zip"})
    assert resp.status_code == 200
    with zipfile.ZipFile(io.BytesIO(resp.content)) as z:
        return list(csv.DictReader(io.StringIO(z.read("buildings.csv").decode("utf-8-sig"))))


def _features(client, plan_id: str, level: str) -> dict[str, dict]:
    fc = check(client.get(f"/v1/plans/{plan_id}/{level}"), 200, m.FeatureCollection)
    return {f.properties["code"]: f.model_dump(mode="json") for f in fc.features}


@pytest.fixture(scope="module")
def changed(client, done_plan, sample_files, tmp_path_factory) -> dict:
    """The sample with its largest grid pushed out of range: households added to its two smallest buildings."""
    grids = _features(client, done_plan.id, "grids")
    big = max(grids, key=lambda c: (grids[c]["properties"]["households"], c))
    hh = grids[big]["properties"]["households"]
    rows = [r for r in _roster(client, done_plan.id) if r["grid_code"] == big and r["part"] in ("0", "")]
    ids = [r["building_id"] for r in sorted(rows, key=lambda r: (float(r["households"]), r["building_id"]))[:2]]
    b = gpd.read_file(sample_files["buildings"])
    add = (560 - hh) // 2 + 1  # the grid then holds > 500 households (the default grid maximum)
    b.loc[b["building_id"].astype(str).isin(ids), "households"] += add
    path = tmp_path_factory.mktemp("replan") / "buildings.gpkg"
    b.to_file(path)
    ds = upload(client, {"buildings": path, "barriers": sample_files["barriers"]})
    return {"dataset": ds, "grid": big, "buildings": ids, "added": add}


@pytest.fixture(scope="module")
def replanned(client, done_plan, changed) -> m.Plan:
    accepted = check(client.post("/v1/plans", json={"dataset_id": changed["dataset"].id, "replan_of": done_plan.id,
                                                    "start_date": "2026-06-01"}), 202, m.PlanAccepted)
    assert accepted.parameters.replan_of == done_plan.id and accepted.parameters.seed == done_plan.parameters.seed
    assert accepted.parameters.grid_size == done_plan.parameters.grid_size and accepted.parameters.lock == []
    assert accepted.links["changes"] == f"/v1/plans/{accepted.id}/changes"
    plan = wait_for(client, accepted.id)
    assert plan.status == "done", plan.reason
    return plan


def test_replan_keeps_the_untouched_grids_and_lists_the_changed(client, done_plan, changed, replanned):
    summary = replanned.figures.changes
    assert summary["units"]["grid"]["kept"] >= 1 and summary["units_changed"] >= 1
    diff = check(client.get(f"/v1/plans/{replanned.id}/diff", params={"against": done_plan.id}), 200, m.PlanDiff)
    assert diff.summary == summary  # the stored change list and a diff of the two plans agree
    status = {(u["level"], u["code"]): u["status"] for u in diff.units}
    assert status[("grid", changed["grid"])] != "kept"
    old, new = _features(client, done_plan.id, "grids"), _features(client, replanned.id, "grids")
    kept = [c for (lvl, c), st in status.items() if lvl == "grid" and st == "kept"]
    assert kept and all(new[c]["geometry"] == old[c]["geometry"] for c in kept)  # polygons as they were
    assert all(new[c]["properties"]["households"] == old[c]["properties"]["households"] for c in kept)
    assert set(new) - set(old) == {c for (lvl, c), st in status.items() if lvl == "grid" and st == "new"}

    rows = {r["building_id"]: r for r in csv.DictReader(io.StringIO(
        client.get(f"/v1/plans/{replanned.id}/changes").content.decode("utf-8-sig")))}
    for bid in changed["buildings"]:
        assert int(rows[bid]["households_after"]) - int(rows[bid]["households_before"]) == changed["added"]
    untouched = [r for r in rows.values() if r["grid_before"] in kept]
    assert untouched and all(r["status"] == "unchanged" and r["grid_after"] == r["grid_before"] for r in untouched)


def test_diff_as_csv_and_geojson(client, done_plan, replanned):
    q = {"against": done_plan.id}
    resp = client.get(f"/v1/plans/{replanned.id}/diff", params={**q, "format": "csv", "table": "units"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    units = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    as_json = check(client.get(f"/v1/plans/{replanned.id}/diff", params=q), 200, m.PlanDiff).units
    assert [(u["code"], u["status"]) for u in units] == [(u["code"], u["status"]) for u in as_json]
    by_accept = client.get(f"/v1/plans/{replanned.id}/diff", params=q, headers={"Accept": "text/csv"})
    assert by_accept.content.decode("utf-8-sig").splitlines()[0].startswith("building_id,status")
    gj = check(client.get(f"/v1/plans/{replanned.id}/diff", params={**q, "format": "geojson"}), 200, m.ChangedUnits)
    assert len(gj.features) == sum(u["status"] != "kept" for u in as_json)
    back = check(client.get(f"/v1/plans/{done_plan.id}/diff", params={"against": replanned.id}), 200, m.PlanDiff)
    assert back.summary["households_added"] == 0 and back.summary["units"]["grid"]["new"] == \
        check(client.get(f"/v1/plans/{replanned.id}/diff", params=q), 200, m.PlanDiff).summary["units"]["grid"]["retired"]


def test_replan_with_nothing_changed_moves_nobody_and_locks(client, done_plan, dataset):
    grids = _features(client, done_plan.id, "grids")
    lock = sorted(grids)[:1]
    accepted = check(client.post("/v1/plans", json={"dataset_id": dataset.id, "replan_of": done_plan.id, "lock": lock,
                                                    "seed": 5}), 202, m.PlanAccepted)
    assert accepted.parameters.lock == lock and accepted.parameters.seed == 5
    plan = wait_for(client, accepted.id)
    assert plan.status == "done", plan.reason
    assert plan.figures.changes["units_changed"] == 0
    assert plan.figures.changes["households_moved"] == {"community": 0, "grid": 0, "micro": 0}
    new = _features(client, plan.id, "grids")
    assert set(new) == set(grids) and all(new[c]["geometry"] == grids[c]["geometry"] for c in grids)


def test_replan_of_an_unknown_plan_is_404(client, dataset):
    body = check(client.post("/v1/plans", json={"dataset_id": dataset.id, "replan_of": "0" * 32}), 404)
    assert [e.field for e in body.errors] == ["replan_of"] and "replan_of" in body.detail


def test_replan_of_a_plan_not_done_is_409(client, dataset):
    queued = check(client.post("/v1/plans", json={"dataset_id": dataset.id, "seed": 9}), 202, m.PlanAccepted)
    try:
        body = check(client.post("/v1/plans", json={"dataset_id": dataset.id, "replan_of": queued.id}), 409)
        assert [e.field for e in body.errors] == ["replan_of"]
        assert "is queued" in body.detail or "is running" in body.detail
        body = check(client.get(f"/v1/plans/{queued.id}/diff", params={"against": queued.id}), 409)
        assert [e.field for e in body.errors] == ["plan_id"]
    finally:
        assert client.delete(f"/v1/plans/{queued.id}").status_code == 204


@pytest.mark.parametrize("extra, field", [
    ({"grid_size": "300:500"}, "grid_size"),
    ({"redistrict": "all", "street_code": "320102001"}, "redistrict"),
    ({"keep_communities": True}, "keep_communities"),
])
def test_replan_with_parameters_it_does_not_take_is_422(client, dataset, done_plan, extra, field):
    body = check(client.post("/v1/plans", json={"dataset_id": dataset.id, "replan_of": done_plan.id, **extra}), 422)
    assert [e.field for e in body.errors] == [field] and "replan_of" in body.detail
    assert all(name in body.detail for name in extra)


@pytest.mark.parametrize("body, field, says", [
    ({"lock": ["320102001001"]}, "lock", "without replan_of"),
    ({"lock": ["12"]}, "lock[0]", "pattern"),
])
def test_lock_refusals_are_422(client, dataset, body, field, says):
    got = check(client.post("/v1/plans", json={"dataset_id": dataset.id, **body}), 422)
    assert [e.field for e in got.errors] == [field] and says in (got.detail + " ".join(e.message for e in got.errors))


def test_lock_of_codes_not_in_the_previous_plan_is_422(client, dataset, done_plan):
    body = check(client.post("/v1/plans", json={"dataset_id": dataset.id, "replan_of": done_plan.id,
                                                "lock": ["999999999999"]}), 422)
    assert [e.field for e in body.errors] == ["lock"] and "999999999999" in body.detail


def test_diff_refusals(client, done_plan):
    body = check(client.get(f"/v1/plans/{done_plan.id}/diff", params={"against": "f" * 32}), 404)
    assert [e.field for e in body.errors] == ["against"]
    body = check(client.get(f"/v1/plans/{done_plan.id}/diff", params={"against": done_plan.id}), 422)
    assert [e.field for e in body.errors] == ["against"]
    body = check(client.get(f"/v1/plans/{done_plan.id}/diff"), 422)
    assert [e.field for e in body.errors] == ["against"]


def test_a_locked_unit_that_must_change_fails_the_replan_in_api_terms(client, done_plan, changed):
    accepted = check(client.post("/v1/plans", json={"dataset_id": changed["dataset"].id, "replan_of": done_plan.id,
                                                    "lock": [changed["grid"]]}), 202, m.PlanAccepted)
    plan = wait_for(client, accepted.id)
    assert plan.status == "failed" and plan.figures is None
    assert "locked" in plan.reason and "from lock" in plan.reason and "--" not in plan.reason
    assert "`" not in plan.reason, plan.reason  # request fields, not the library's `names`
    check(client.get(f"/v1/plans/{plan.id}/changes"), 409)
