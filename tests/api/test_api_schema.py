"""Schemathesis, every check, over the OpenAPI document: no answer the document does not describe.

Each operation is run on its own (coverage and fuzzed cases, positive and negative), the routes that read a
plan with the id of a finished one so that their real answers are checked; then the stateful phase follows
the document's links (upload → dataset → plan → results → delete) with the ids the service gives. Both runs
are bounded and seeded, so CI sends the same cases every time (about 30-40 s on two cores).
"""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from api import Settings, create_app
from api import models as m

from servicekit import auth_headers, check, make_client, service_settings, wait_for

schemathesis = pytest.importorskip("schemathesis")

from schemathesis.config import SchemathesisConfig  # noqa: E402

SEED = 20260917
EXAMPLES = 12  # fuzzed cases per operation (examples and coverage cases come on top)
SCENARIOS = 30  # stateful scenarios, each of up to STEPS calls
STEPS = 10
#: the operations that read a plan: pinned to the finished one in the run of each operation on its own
PLAN_READS = ("get_plan", "get_level", "get_map", "export_plan", "get_changes")

#: per operation: the fields whose rules hang on the uploaded data or on each other, which a schema cannot state
#: (a column the file must have; a CRS code pyproj knows, of a horizontal CRS; a building above 3,000 households
#: needs accept_large; MIN <= MAX; W <= E and S <= N; re-districting needs communities; lock needs replan_of; a
#: listing's cursor is one it gave): only these may turn
#: valid-looking data away with 422
UNSTATABLE = {
    "POST /v1/datasets": {"id_field", "households_field", "units_field", "levels_field", "compound_field", "input",
                          "input_crs", "accept_large", "fix_geometry"},
    "POST /v1/plans": {"community_size", "grid_size", "micro_size", "redistrict", "community_count",
                       "keep_communities", "lock"},
    "GET /v1/plans/{plan_id}/{level}": {"bbox"},
    "GET /v1/datasets": {"cursor", "created_before"},  # a cursor this service made; created_before > created_after
    "GET /v1/plans": {"cursor", "created_before"},
    "GET /v1/plans/{plan_id}/export": {"level", "table", "encoding", "crs"},  # combinations; a CRS for the plan's area
    "GET /v1/audit": {"since"},  # a date the pattern lets through may not exist (2026-02-30)
}
_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis's positive_data_acceptance default


def _tiny_district():
    """A 560-household district (7 buildings) with its one old community, as GeoJSON bytes."""
    from gridplan.sample import make_district

    d = make_district(households=600, communities=1, seed=3)
    b = d.buildings[["building_id", "households", "levels", "geometry"]]
    return b.to_json(drop_id=True).encode(), d.communities[["code", "geometry"]].to_json(drop_id=True).encode()


def refused_only_for_unstatable_rules(ctx, response, case):
    """A valid case (as the document says) may be refused with 422 only for a rule the document cannot state."""
    meta = case.meta
    if response.status_code != 422 or meta is None or not meta.generation.mode.is_positive:
        return None
    fields = {e["field"] for e in response.json()["errors"]}
    allowed = UNSTATABLE.get(case.operation.label, set())
    if not fields or not fields <= allowed:
        wrong = sorted(fields - allowed) or "no field"
        raise AssertionError(f"{case.operation.label}: valid data refused for {wrong}: {response.text[:500]}")
    return None


def _config(headers: dict[str, str], operations=()) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": SEED,
        "headers": headers,
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"max-steps": STEPS}},
        "operations": [
            *({"include-name": label,
               "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPTED, "422"]}}}
              for label in UNSTATABLE),
            # OGC API – Features answers a bad parameter with 400, as the standard asks (not 422), and W <= E, S <= N
            # of a bbox in its CRS's axis order cannot be stated in a schema
            {"include-path-regex": "^/ogc",
             "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPTED, "400"]}}},
            *operations,
        ],
    })


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A fresh service holding one finished re-districting plan: the app, and the ids to pin."""
    buildings, communities = _tiny_district()
    data_dir = tmp_path_factory.mktemp("schema") / "data"
    with make_client(data_dir) as c:  # another app over the same data: it plans, then lets go
        ds = check(c.post("/v1/datasets", files={"buildings": ("b.geojson", buildings),
                                                 "communities": ("c.geojson", communities)}), 201, m.Dataset)
        sizes = {"community_size": "100:600", "grid_size": "50:300", "micro_size": "20:100"}
        accepted = check(c.post("/v1/plans", json={"dataset_id": ds.id, "redistrict": "all", **sizes}), 202,
                         m.PlanAccepted)
        plan = wait_for(c, accepted.id)
        assert plan.status == "done", plan.reason
        building = c.get(f"/v1/plans/{plan.id}/export", params={"table": "roster"}).text.splitlines()[1].split(",")[0]
    # text, not bytes: schemathesis 4.32 cannot tell whether a multipart body with bytes in it was valid as sent
    # (jsonschema_rs refuses bytes), and would report every accepted type-mutated form field as a failure
    schemathesis.openapi.media_type("application/geo+json", st.just(buildings.decode()))
    app = create_app(service_settings(data_dir, feasibility_max_buildings=0))
    return app, {"dataset_id": ds.id, "plan_id": plan.id, "building_id": building, "headers": auth_headers(data_dir)}


def _load(app, config):
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


@pytest.fixture(scope="module")
def api_schema(service):
    """The document, with the result routes pinned to the finished plan so that their real answers are checked."""
    app, ids = service
    pinned = {"plan_id": ids["plan_id"]}
    loaded = _load(app, _config(ids["headers"], [
        {"include-operation-id": list(PLAN_READS), "parameters": pinned},
        {"include-operation-id": "get_building", "parameters": {**pinned, "building_id": ids["building_id"]}},
        {"include-operation-id": "get_dataset", "parameters": {"dataset_id": ids["dataset_id"]}},
        {"include-path-regex": "^/ogc/collections/", "parameters": {"collectionId": f"{ids['plan_id']}-grids"}},
    ]))

    @loaded.hook
    def map_body(context, body):
        # plans of the real dataset (a body cannot be pinned like a parameter); a dataset_id that is itself the
        # invalid part of a negative case stays as it was drawn
        if context.operation.label == "POST /v1/plans" and isinstance(body, dict):
            if isinstance(body.get("dataset_id"), str) and len(body["dataset_id"]) <= 64:
                body = {**body, "dataset_id": ids["dataset_id"]}
        return body

    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    # schemathesis 4.32 renames each operation's subtest through `node._nodeid`, which pytest 9 no longer has
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case):
    case.call_and_validate(additional_checks=[refused_only_for_unstatable_rules])


#: operations the stateful run must reach through a link, with a 2xx: the ids it followed were real
LINKED = {"GET /v1/datasets/{dataset_id}", "POST /v1/plans", "GET /v1/plans/{plan_id}", "DELETE /v1/plans/{plan_id}"}


def test_chains_of_calls_with_real_ids_answer_as_documented(service):
    app, ids = service
    followed: set[str] = set()

    # /ogc has no links (OGC API – Features navigates by `links` in its bodies, not by OpenAPI links), and without the
    # admin routes: the links inferred from GET /v1/tokens would revoke this run's own token, and the public links'
    # routes would take the steps that should follow a plan (each operation's own run covers them); nor the
    # listings: what they answer depends on every earlier step, which hypothesis's replays cannot repeat
    class Chains(_load(app, _config(ids["headers"])).exclude(path_regex="^/ogc").exclude(tag=["accounts", "links"])
                 .exclude(operation_id=["list_datasets", "list_plans"]).as_state_machine()):
        def before_call(self, case):
            # What matters here is what follows an upload or a plan, so a valid upload names the tiny district's
            # own columns and a valid plan leaves out what this dataset cannot have (communities to re-district,
            # a MIN above its MAX): the run of each operation on its own has sent both every which way.
            if case.meta is None or not case.meta.generation.mode.is_positive or not isinstance(case.body, dict):
                return
            keep = {"POST /v1/datasets": ("buildings", "estimate", "input_crs"),
                    "POST /v1/plans": ("dataset_id", "seed", "street_code", "persons_per_household", "start_date")}
            if case.operation.label in keep:
                case.body = {k: v for k, v in case.body.items() if k in keep[case.operation.label]}

        def step(self, input):
            output = super().step(input)
            if input.transition is not None and 200 <= output.response.status_code < 300:
                followed.add(input.case.operation.label)
            return output

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            super().validate_response(response, case, [*(additional_checks or ()), refused_only_for_unstatable_rules],
                                      **kwargs)

    Chains.run(settings=settings(Chains.TestCase.settings, max_examples=SCENARIOS, stateful_step_count=STEPS,
                                 derandomize=True, database=None, deadline=None,
                                 suppress_health_check=list(HealthCheck)))
    assert LINKED <= followed, f"links never followed to a 2xx: {sorted(LINKED - followed)}"


def test_the_document_has_no_fastapi_validation_error_and_links_the_operations(tmp_path):
    doc = create_app(Settings(data_dir=tmp_path)).openapi()  # built without starting the service
    assert "HTTPValidationError" not in json.dumps(doc)
    ops = {op["operationId"]: op for item in doc["paths"].values() for op in item.values()}
    for op in ops.values():
        if op.get("parameters") or op.get("requestBody"):
            assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
        assert op["responses"]["500"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
        if op.get("requestBody"):
            assert {"400", "413"} <= set(op["responses"])
    upload = ops["create_dataset"]["responses"]["201"]["links"]
    assert upload["create_plan"]["requestBody"] == {"dataset_id": "$response.body#/id"}
    assert set(ops["create_plan"]["responses"]["202"]["links"]) >= {"get_plan", "delete_plan", "get_level"}
    level = ops["get_level"]
    assert level["responses"]["200"]["content"]["application/geo+json"]["schema"] == {
        "$ref": "#/components/schemas/FeatureCollection"}
    bbox = next(p for p in level["parameters"] if p["name"] == "bbox")["schema"]["anyOf"][0]
    assert bbox["pattern"] == m.BBOX_PATTERN and bbox["maxLength"] == 200
