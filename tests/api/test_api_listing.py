"""Listing datasets and plans: keyset paging (each record once, newest first, stable under inserts), filters,
bounds of ``limit`` and ``cursor``, and the ``Location`` of what POST creates."""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from servicekit import check, make_client

from api import models as m
from api.db import DatasetRecord, PlanRecord

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
N = 120
SUMMARY = {"buildings": 1, "households": 10, "household_source": {"field": 1}, "barriers": 0, "barriers_by_tier": {},
           "communities": None, "crs": "EPSG:4326", "crs_name": "WGS 84", "bbox": [118.0, 32.0, 118.1, 32.1],
           "notes": [], "warnings": []}
OPTIONS = m.ReadOptions(id_field="building_id", households_field="households", units_field="units",
                        levels_field="levels", compound_field="compound", estimate="auto", input_crs="auto",
                        fix_geometry=False, accept_large=False).model_dump()
PARAMS = m.PlanParameters().model_dump(mode="json")


def at(i: int) -> dt.datetime:
    """Record ``i``'s creation time: three records share each second (ties are ordered by id)."""
    return T0 + dt.timedelta(seconds=i // 3)


@pytest.fixture(scope="module")
def lister(tmp_path_factory):
    """A service of its own whose database holds 120 datasets and 120 plans, written directly."""
    with make_client(tmp_path_factory.mktemp("listing") / "data") as c:
        svc = c.app.state.service
        with svc.sessions() as s:
            for i in range(N):
                s.add(DatasetRecord(id=f"ds{i:03d}x", created_at=at(i), files={}, options=OPTIONS, summary=SUMMARY))
                s.add(PlanRecord(id=f"pl{i:03d}x", dataset_id=f"ds{i % 4:03d}x", created_at=at(i), parameters=PARAMS,
                                 status="done" if i % 2 else "failed", reason=None if i % 2 else "test", steps=0))
            s.commit()
        yield c


def expected(prefix: str, ids=range(N)) -> list[str]:
    """The ids in listing order: newest first, then id descending."""
    return [f"{prefix}{i:03d}x" for i in sorted(ids, key=lambda i: (at(i), f"{i:03d}"), reverse=True)]


def walk(client, url: str, model) -> tuple[list[str], int]:
    """Follow ``next`` from ``url`` to the last page; the ids seen and the number of pages."""
    ids, pages = [], 0
    while url:
        resp = client.get(url)
        page = check(resp, 200, model)
        pages += 1
        assert (resp.headers.get("link") is None) == (page.next is None)
        if page.next:
            assert resp.headers["link"] == f'<{page.next}>; rel="next"'
        ids += [item.id for item in page.items]
        url = page.next
    return ids, pages


@pytest.mark.parametrize(("path", "prefix", "model"), [("/v1/datasets", "ds", m.DatasetList),
                                                        ("/v1/plans", "pl", m.PlanList)])
def test_paging_gives_every_record_once_newest_first(lister, path, prefix, model):
    ids, pages = walk(lister, f"{path}?limit=7", model)
    assert ids == expected(prefix)
    assert pages == -(-N // 7)
    default = check(lister.get(path), 200, model)
    assert [x.id for x in default.items] == expected(prefix)[:50]
    everything = check(lister.get(f"{path}?limit=500"), 200, model)
    assert len(everything.items) == N and everything.next is None


def test_paging_is_stable_under_inserts(lister):
    first = check(lister.get("/v1/datasets?limit=10"), 200, m.DatasetList)
    last = first.items[-1]
    assert last.id == expected("ds")[9] == "ds110x"
    svc = lister.app.state.service
    newer = [f"new{i}" for i in range(4)]  # added while a client pages: newer than every record
    later = "ds110a"  # added with the very time of the last record seen, and an id after it in the order
    with svc.sessions() as s:
        for i, rid in enumerate(newer):
            s.add(DatasetRecord(id=rid, created_at=at(N) + dt.timedelta(seconds=i), files={}, options=OPTIONS,
                                summary=SUMMARY))
        s.add(DatasetRecord(id=later, created_at=last.created_at, files={}, options=OPTIONS, summary=SUMMARY))
        s.commit()
    try:
        rest, _ = walk(lister, first.next, m.DatasetList)
        assert [d.id for d in first.items] + rest == expected("ds")[:10] + [later] + expected("ds")[10:]
        assert [d.id for d in check(lister.get("/v1/datasets?limit=4"), 200, m.DatasetList).items] == newer[::-1]
    finally:
        with svc.sessions() as s:
            s.query(DatasetRecord).filter(DatasetRecord.id.in_([*newer, later])).delete()
            s.commit()


def test_next_keeps_the_filters(lister):
    page = check(lister.get("/v1/plans?limit=5&status=done&dataset_id=ds001x"), 200, m.PlanList)
    query = parse_qs(urlsplit(page.next).query)
    assert query["status"] == ["done"] and query["dataset_id"] == ["ds001x"] and query["limit"] == ["5"]
    assert len(query["cursor"]) == 1


def test_plan_filters(lister):
    done, _ = walk(lister, "/v1/plans?status=done&limit=13", m.PlanList)
    assert done == expected("pl", [i for i in range(N) if i % 2])
    of_two, _ = walk(lister, "/v1/plans?dataset_id=ds002x", m.PlanList)
    assert of_two == expected("pl", [i for i in range(N) if i % 4 == 2])
    both, _ = walk(lister, "/v1/plans?dataset_id=ds001x&status=failed", m.PlanList)
    assert both == []  # the plans of ds001x are the odd ones, all done
    after, before = at(30).isoformat(), at(60).isoformat()  # strictly after / before: seconds 11..19
    window, _ = walk(lister, f"/v1/plans?limit=4&created_after={after}&created_before={before}".replace("+", "%2B"),
                     m.PlanList)
    assert window == expected("pl", [i for i in range(N) if at(30) < at(i) < at(60)])
    assert len(window) == 27
    naive = check(lister.get("/v1/plans?created_after=2026-03-01T08:00:39&limit=500"), 200, m.PlanList)
    assert [p.id for p in naive.items] == expected("pl", [i for i in range(N) if i // 3 > 39])  # naive: UTC


def test_dataset_filters(lister):
    window, _ = walk(lister, "/v1/datasets?created_after=2026-03-01T08:00:09Z&created_before=2026-03-01T08:00:12Z",
                     m.DatasetList)
    assert window == expected("ds", [i for i in range(N) if 9 < i // 3 < 12])
    assert check(lister.get("/v1/datasets?created_after=2027-01-01T00:00:00Z"), 200, m.DatasetList).items == []


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=-1", "limit=ten", "status=finished",
                                   "created_after=yesterday", "created_before=0.5", "created_after=1700000000",
                                   "created_after=2026-02-30", "cursor=" + "A" * 201])
def test_bad_parameters_are_422_naming_the_field(lister, query):
    field = query.split("=")[0]
    path = "/v1/datasets" if field in ("limit", "cursor") else "/v1/plans"
    body = check(lister.get(f"{path}?{query}"), 422)
    assert [e.field for e in body.errors] == [field]


@pytest.mark.parametrize("cursor", ["garbage", "Z2FyYmFnZQ", "WzEsMl0", "WyJub3QgYSB0aW1lIiwiYSJd",
                                    "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIix0cnVlXQ"])
def test_cursor_garbage_is_422(lister, cursor):
    for path in ("/v1/datasets", "/v1/plans"):
        body = check(lister.get(f"{path}?cursor={cursor}"), 422)
        assert [e.field for e in body.errors] == ["cursor"]
        assert cursor in body.detail and "next" in body.detail


def test_an_empty_window_is_422(lister):
    body = check(lister.get("/v1/plans?created_after=2026-03-02T00:00:00Z&created_before=2026-03-01T00:00:00Z"), 422)
    assert [e.field for e in body.errors] == ["created_before"]


def test_location_of_a_new_dataset_and_plan(client, sample_files):
    with sample_files["buildings"].open("rb") as b, sample_files["barriers"].open("rb") as r:
        resp = client.post("/v1/datasets", files={"buildings": (b.name, b), "barriers": (r.name, r)})
    ds = check(resp, 201, m.Dataset)
    assert resp.headers["location"] == f"/v1/datasets/{ds.id}"
    assert check(client.get(resp.headers["location"]), 200, m.Dataset).id == ds.id
    resp = client.post("/v1/plans", json={"dataset_id": ds.id})
    plan = check(resp, 202, m.PlanAccepted)
    assert resp.headers["location"] == f"/v1/plans/{plan.id}"
    assert check(client.get(resp.headers["location"]), 200, m.Plan).id == plan.id
    listed = check(client.get(f"/v1/plans?dataset_id={ds.id}"), 200, m.PlanList)
    assert [p.id for p in listed.items] == [plan.id]
    assert client.delete(f"/v1/plans/{plan.id}").status_code == 204
    assert client.delete(f"/v1/datasets/{ds.id}").status_code == 204


def test_openapi_declares_the_headers(client):
    doc = client.get("/openapi.json").json()
    assert "Location" in doc["paths"]["/v1/datasets"]["post"]["responses"]["201"]["headers"]
    assert "Location" in doc["paths"]["/v1/plans"]["post"]["responses"]["202"]["headers"]
    for path, model in (("/v1/datasets", "DatasetList"), ("/v1/plans", "PlanList")):
        ok = doc["paths"][path]["get"]["responses"]["200"]
        assert "Link" in ok["headers"]
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith(model)
        params = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}
        assert params["limit"]["schema"]["maximum"] == 500 and params["limit"]["schema"]["minimum"] == 1
        assert re.search("cursor", params["cursor"]["description"])
