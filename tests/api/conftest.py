"""Fixtures of the service tests: sample uploads, an app over a temporary data directory, a finished plan.

One app (and so one worker process pool) serves most tests of a pytest process; tests that need a
restart, a tiny upload limit or another database build their own with :func:`servicekit.make_client`.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servicekit import TestClient, check, district_files, make_client, upload, wait_for

from api import models as m


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory) -> dict[str, Path]:
    """A 3,000-household district with one community: buildings, barriers and communities as GeoPackages."""
    return district_files(tmp_path_factory.mktemp("sample"), households=3000, communities=1)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("service") / "data"


@pytest.fixture(scope="session")
def client(data_dir) -> Iterator[TestClient]:
    with make_client(data_dir, workers=2) as c:
        yield c


@pytest.fixture(scope="session")
def dataset(client, sample_files) -> m.Dataset:
    return upload(client, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})


@pytest.fixture(scope="session")
def done_plan(client, dataset) -> m.Plan:
    accepted = check(client.post("/v1/plans", json={"dataset_id": dataset.id, "seed": 1, "start_date": "2026-01-01"}),
                     202, m.PlanAccepted)
    plan = wait_for(client, accepted.id)
    assert plan.status == "done", plan.reason
    return plan
