"""POST/GET/DELETE /v1/plans and the result endpoints of a finished plan."""
from __future__ import annotations

import io
import sqlite3
import zipfile

import pytest

from api import models as m

from servicekit import check, upload, wait_for


def test_plan_done_with_figures(done_plan, dataset):
    assert done_plan.dataset_id == dataset.id and done_plan.progress is None and done_plan.reason is None
    assert done_plan.parameters.seed == 1 and done_plan.parameters.keep_communities is False
    f = done_plan.figures
    assert f.households == 2988 and f.levels["grid"].count >= 5 and f.levels["micro"].count > f.levels["grid"].count
    assert done_plan.started_at <= done_plan.finished_at


def test_post_plan_202_with_location(client, dataset):
    resp = client.post("/v1/plans", json={"dataset_id": dataset.id, "grid_size": "300:500"})
    accepted = check(resp, 202, m.PlanAccepted)
    assert resp.headers["location"] == f"/v1/plans/{accepted.id}" and accepted.status in ("queued", "running")
    assert client.delete(f"/v1/plans/{accepted.id}").status_code == 204  # queued or running: dropped either way
    check(client.get(f"/v1/plans/{accepted.id}"), 404)


@pytest.mark.parametrize("params, field", [
    ({"grid_size": "500:300"}, "grid_size"),
    ({"micro_size": "lots"}, "micro_size"),
    ({"community_size": "1000:3000:5000"}, "community_size"),
    ({"seed": -1}, "seed"),
    ({"street_code": "32010200"}, "street_code"),
    ({"persons_per_household": 0}, "persons_per_household"),
    ({"start_date": "yesterday"}, "start_date"),
    ({"colour": "red"}, "colour"),
])
def test_bad_parameters_are_422_naming_the_field(client, dataset, params, field):
    body = check(client.post("/v1/plans", json={"dataset_id": dataset.id, **params}), 422)
    assert [e.field for e in body.errors] == [field]


def test_plan_refusals(client, dataset):
    check(client.post("/v1/plans", json={"seed": 1}), 422)
    body = check(client.post("/v1/plans", json={"dataset_id": "0" * 32}), 404)
    assert body.errors[0].field == "dataset_id"
    body = check(client.post("/v1/plans", json={"dataset_id": dataset.id, "keep_communities": True}), 422)
    assert body.errors[0].field == "keep_communities"
    # a body that is not JSON at all is 400 (as a broken multipart upload is); JSON of the wrong shape is 422
    body = check(client.post("/v1/plans", content=b"not json", headers={"content-type": "application/json"}), 400)
    assert "not valid JSON" in body.detail
    body = check(client.post("/v1/plans", json=[1]), 422)
    assert body.errors[0].field == "body"


@pytest.mark.parametrize("level, length", [("communities", 12), ("grids", 15), ("micro_grids", 18)])
def test_levels_are_geojson(client, done_plan, level, length):
    resp = client.get(f"/v1/plans/{done_plan.id}/{level}")
    fc = check(resp, 200, m.FeatureCollection)
    assert resp.headers["content-type"].startswith("application/geo+json")
    assert fc.features and all(len(f.properties["code"]) == length for f in fc.features)
    count = done_plan.figures.levels[{"communities": "community", "grids": "grid", "micro_grids": "micro"}[level]].count
    assert len(fc.features) == count


def test_bbox_and_code_filters(client, done_plan):
    grids = check(client.get(f"/v1/plans/{done_plan.id}/grids"), 200, m.FeatureCollection).features
    code = grids[0].properties["code"]
    resp = client.get(f"/v1/plans/{done_plan.id}/grids", params={"code": code})
    one = check(resp, 200, m.FeatureCollection).features
    assert resp.headers["content-type"].startswith("application/geo+json")
    assert [f.properties["code"] for f in one] == [code]
    xs = [x for f in grids for ring in f.geometry["coordinates"] for x, _ in ring]
    ys = [y for f in grids for ring in f.geometry["coordinates"] for _, y in ring]
    everything = f"{min(xs) - 0.01},{min(ys) - 0.01},{max(xs) + 0.01},{max(ys) + 0.01}"
    assert len(check(client.get(f"/v1/plans/{done_plan.id}/grids", params={"bbox": everything}), 200,
                     m.FeatureCollection).features) == len(grids)
    x0, y0 = grids[0].geometry["coordinates"][0][0]
    corner = f"{x0 - 0.0001},{y0 - 0.0001},{x0 + 0.0001},{y0 + 0.0001}"
    some = check(client.get(f"/v1/plans/{done_plan.id}/grids", params={"bbox": corner}), 200, m.FeatureCollection).features
    assert 0 < len(some) < len(grids)
    nowhere = "0,0,1,1"
    assert check(client.get(f"/v1/plans/{done_plan.id}/grids", params={"bbox": nowhere, "code": code}), 200,
                 m.FeatureCollection).features == []


@pytest.mark.parametrize("query, field, status", [
    ({"bbox": "1,2,3"}, "bbox", 422), ({"bbox": "a,b,c,d"}, "bbox", 422), ({"bbox": "10,0,5,1"}, "bbox", 422),
    ({"bbox": "0,0,200,1"}, "bbox", 422), ({"bbox": "nan,0,1,1"}, "bbox", 422),
    ({"code": "123"}, "code", 422), ({"code": "999999999999999"}, "code", 404),
])
def test_bad_filters(client, done_plan, query, field, status):
    body = check(client.get(f"/v1/plans/{done_plan.id}/grids", params=query), status)
    assert body.errors[0].field == field


def test_unknown_level_and_plan(client, done_plan):
    body = check(client.get(f"/v1/plans/{done_plan.id}/blocks"), 422)
    assert body.errors[0].field == "level"
    for path in ("", "/grids", "/map.html", "/export", "/changes", "/buildings/B000001"):
        check(client.get(f"/v1/plans/{'f' * 32}{path}"), 404)
    check(client.delete(f"/v1/plans/{'f' * 32}"), 404)


def test_building_lookup(client, done_plan):
    found = check(client.get(f"/v1/plans/{done_plan.id}/buildings/B000001"), 200, m.BuildingLookup)
    assert found.grid.code.startswith(found.community.code) and len(found.grid.code) == 15
    assert all(u.code.startswith(found.grid.code) for u in found.micro_grids)
    assert found.households == sum(p.households for p in found.parts) > 0
    grid = check(client.get(f"/v1/plans/{done_plan.id}/grids", params={"code": found.grid.code}), 200, m.FeatureCollection)
    assert grid.features[0].properties["households"] == found.grid.households
    body = check(client.get(f"/v1/plans/{done_plan.id}/buildings/NOPE"), 404)
    assert body.errors[0].field == "building_id"


def test_map_and_exports(client, done_plan):
    resp = client.get(f"/v1/plans/{done_plan.id}/map.html")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html") and "<html" in resp.text.lower()
    gpkg = client.get(f"/v1/plans/{done_plan.id}/export", params={"format": "gpkg"})
    assert gpkg.status_code == 200 and gpkg.content.startswith(b"SQLite format 3\x00")
    csv = client.get(f"/v1/plans/{done_plan.id}/export", params={"table": "roster"})
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("\ufeff楼栋编号 building_id,")
    z = client.get(f"/v1/plans/{done_plan.id}/export", params={"format": "zip"})
    assert z.status_code == 200 and "report.json" in zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    body = check(client.get(f"/v1/plans/{done_plan.id}/export", params={"format": "dwg"}), 422)
    assert body.errors[0].field == "format" and "'gpkg'" in body.detail


def test_shapefile_export(client, done_plan):
    pytest.importorskip("gridplan.outputs.deliver", reason="this gridplan has no delivery formats (gridplan.outputs.deliver)")
    resp = client.get(f"/v1/plans/{done_plan.id}/export", params={"format": "shp"})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(resp.content)).namelist()
    assert "grids.shp" in names and not any(n.endswith(".zip") for n in names), names  # not a zip of zips


def test_changes_of_a_plain_plan_is_404(client, done_plan):
    body = check(client.get(f"/v1/plans/{done_plan.id}/changes"), 404)
    assert "re-districting" in body.detail


def test_results_of_an_unfinished_plan_are_409(client, dataset, data_dir):
    accepted = check(client.post("/v1/plans", json={"dataset_id": dataset.id}), 202, m.PlanAccepted)
    # make it look queued whatever the pool did meanwhile, straight in the database
    with sqlite3.connect(data_dir / "gridplan.db") as db:
        db.execute("UPDATE plans SET status='queued' WHERE id=?", (accepted.id,))
    body = check(client.get(f"/v1/plans/{accepted.id}/grids"), 409)
    # the worker may have picked it up meanwhile: either way it is unfinished
    assert "queued" in body.detail or "running" in body.detail
    check(client.get(f"/v1/plans/{accepted.id}/map.html"), 409)
    body = check(client.delete(f"/v1/datasets/{dataset.id}"), 409)  # a plan still needs it
    assert body.errors[0].field == "dataset_id"
    assert client.delete(f"/v1/plans/{accepted.id}").status_code == 204


def test_failed_plan_says_why_without_paths(client, sample_files, data_dir):
    ds = upload(client, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})
    (data_dir / "datasets" / ds.id / "barriers.gpkg").unlink()  # the file went missing on the server
    plan = wait_for(client, check(client.post("/v1/plans", json={"dataset_id": ds.id}), 202, m.PlanAccepted).id)
    assert plan.status == "failed" and "no such file" in plan.reason
    assert str(data_dir) not in plan.reason and "/" not in plan.reason.split("no such file")[0]
    body = check(client.get(f"/v1/plans/{plan.id}/grids"), 409)
    assert "no such file" in body.detail


def test_delete_plan_removes_its_files(client, dataset, data_dir):
    plan = wait_for(client, check(client.post("/v1/plans", json={"dataset_id": dataset.id, "seed": 2}), 202, m.PlanAccepted).id)
    assert plan.status == "done" and (data_dir / "plans" / plan.id / "plan" / "report.json").is_file()
    assert client.delete(f"/v1/plans/{plan.id}").status_code == 204
    assert not (data_dir / "plans" / plan.id).exists()
    check(client.get(f"/v1/plans/{plan.id}/grids"), 404)


def test_healthz(client):
    h = check(client.get("/healthz"), 200, m.Health)
    assert h.status == "ok" and h.database == "sqlite" and h.workers == 2


def test_openapi_is_versioned_and_documents_geojson(client):
    schema = client.get("/openapi.json").json()
    assert all(p.startswith(("/v1/", "/ogc")) or p == "/healthz" for p in schema["paths"])  # /ogc: OGC API – Features
    level = schema["paths"]["/v1/plans/{plan_id}/{level}"]["get"]["responses"]
    assert "application/geo+json" in level["200"]["content"] and "422" in level
    fc = schema["components"]["schemas"]["FeatureCollection"]
    assert fc["properties"]["type"]["const"] == "FeatureCollection"


@pytest.mark.parametrize("method, path, allow", [
    ("OPTIONS", "/v1/datasets/{dataset}", "GET, DELETE"), ("PATCH", "/v1/plans/{plan}", "GET, DELETE"),
    ("PUT", "/v1/plans/{plan}/grids", "GET"), ("DELETE", "/v1/plans", "GET, POST"), ("PUT", "/v1/datasets", "GET, POST"),
    ("POST", "/healthz", "GET"),
])
def test_a_method_a_path_does_not_answer_is_405_listing_every_one_it_does(client, done_plan, method, path, allow):
    resp = client.request(method, path.format(dataset=done_plan.dataset_id, plan=done_plan.id))
    body = check(resp, 405)
    assert resp.headers["allow"] == allow and body.detail.endswith(f"it answers {allow}")


def test_a_code_of_another_level_is_not_found_saying_how_long_codes_are(client, done_plan):
    grids = check(client.get(f"/v1/plans/{done_plan.id}/grids"), 200, m.FeatureCollection).features
    community_code = grids[0].properties["code"][:12]
    body = check(client.get(f"/v1/plans/{done_plan.id}/grids", params={"code": community_code}), 404)
    assert body.errors[0].field == "code" and "(a grid code has 15 digits)" in body.detail
    assert check(client.get(f"/v1/plans/{done_plan.id}/communities", params={"code": community_code}), 200,
                 m.FeatureCollection).features[0].properties["code"] == community_code


@pytest.mark.parametrize("bbox", ["118.7,32,118.8", "118.7, 32,118.8,32.1", "1e2,0,1,1", "181,0,182,1", "0,-91,1,0"])
def test_a_bbox_the_documented_pattern_refuses_is_422(client, done_plan, bbox):
    body = check(client.get(f"/v1/plans/{done_plan.id}/grids", params={"bbox": bbox}), 422)
    assert body.errors[0].field == "bbox"
