"""A bounded property-based run of schemathesis over the OpenAPI schema: no 500, every response as documented."""
from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = 10  # per operation; the whole run stays well under a minute on two cores


@pytest.fixture(scope="module")
def schema_app(client, dataset):
    return client.app  # its lifespan runs (the session's client): schemathesis calls it directly


def _operations(app):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_no_request_gives_a_server_error(schema_app):
    from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                     status_code_conformance)

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    statuses: dict[int, int] = {}
    operations = _operations(schema_app)
    assert len(operations) >= 11
    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                response = case.call()
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=checks)

        run()
    assert sum(statuses.values()) >= len(operations) * 5 and 500 not in statuses
    assert any(200 <= s < 300 for s in statuses) and 404 in statuses and 422 in statuses, statuses
